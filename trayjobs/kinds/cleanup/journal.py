"""The per-run record of every action, kept by the job itself.

The job runs in a child process that may be killed at any moment, so each
batch of actions is written as ``pending`` (with its exact destination) and
committed *before* anything is touched, then marked ``done`` or ``failed``.
After a crash, :meth:`Journal.reconcile` looks at the disk to settle what a
pending row really did, so both a second attempt and ``undo`` work from the
truth.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from typing import Iterable, Iterator

__all__ = ["Journal", "Row", "KEEP_DAYS"]

_MIGRATIONS = [
    # 1: the actions table
    """
    CREATE TABLE actions (
        run_id   INTEGER NOT NULL,
        seq      INTEGER NOT NULL,
        job      TEXT NOT NULL,
        action   TEXT NOT NULL,   -- trash move copy rename delete archive zip mkdir rmdir
        src      TEXT NOT NULL,
        dest     TEXT,            -- where it went (trash: the file in Trash/files)
        info     TEXT,            -- trash: the .trashinfo file
        is_dir   INTEGER NOT NULL DEFAULT 0,
        size     INTEGER,
        mtime_ns INTEGER,
        status   TEXT NOT NULL,   -- pending done failed undone
        note     TEXT,
        ts       REAL NOT NULL,
        PRIMARY KEY (run_id, seq)
    );
    """,
    # 2: pruning by age
    "CREATE INDEX actions_ts ON actions (ts);",
]

#: Rows older than this are dropped: by then the desktop has usually emptied the trash anyway.
KEEP_DAYS = 180


@dataclass
class Row:
    run_id: int
    seq: int
    job: str
    action: str
    src: str
    dest: str | None = None
    info: str | None = None
    is_dir: bool = False
    size: int | None = None
    mtime_ns: int | None = None
    status: str = "pending"
    note: str | None = None


_COLS = "run_id, seq, job, action, src, dest, info, is_dir, size, mtime_ns, status, note"


class Journal:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        os.makedirs(os.path.dirname(os.fspath(path)), exist_ok=True)
        self.db = sqlite3.connect(os.fspath(path), isolation_level=None, timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        # a killed process loses nothing committed; only a power cut could cost the last rows
        self.db.execute("PRAGMA synchronous=NORMAL")
        self._migrate()

    def _migrate(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            for n, sql in enumerate(_MIGRATIONS[version:], start=version + 1):
                self.db.execute(sql)
                self.db.execute(f"PRAGMA user_version = {n}")
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self.db.close()

    def prune(self, *, keep_days: float = KEEP_DAYS) -> int:
        """Forget runs whose newest action is older than ``keep_days``; returns the rows dropped."""
        cutoff = time.time() - keep_days * 86400
        with self.db:
            self.db.execute("BEGIN")
            cur = self.db.execute("DELETE FROM actions WHERE run_id IN (SELECT run_id FROM actions "
                                  "GROUP BY run_id HAVING max(ts) < ?)", (cutoff,))
        return cur.rowcount

    def next_seq(self, run_id: int) -> int:
        (seq,) = self.db.execute("SELECT coalesce(max(seq), 0) FROM actions WHERE run_id = ?",
                                 (run_id,)).fetchone()
        return seq + 1

    def write(self, rows: Iterable[Row]) -> None:
        """Insert or update ``rows`` in one transaction."""
        rows = [(r.run_id, r.seq, r.job, r.action, _store(r.src), _store(r.dest), _store(r.info), int(r.is_dir),
                 r.size, r.mtime_ns, r.status, _store(r.note), time.time()) for r in rows]
        if not rows:
            return
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany(f"INSERT OR REPLACE INTO actions ({_COLS}, ts) "
                                f"VALUES ({', '.join('?' * 13)})", rows)

    def forget(self, rows: Iterable[Row]) -> None:
        """Drop pending rows whose action never happened."""
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany("DELETE FROM actions WHERE run_id = ? AND seq = ?",
                                [(r.run_id, r.seq) for r in rows])

    def rows(self, run_id: int, *, status: str | None = None, newest_first: bool = False) -> Iterator[Row]:
        sql = f"SELECT {_COLS} FROM actions WHERE run_id = ?"
        args: list = [run_id]
        if status:
            sql += " AND status = ?"
            args.append(status)
        sql += " ORDER BY seq DESC" if newest_first else " ORDER BY seq"
        for r in self.db.execute(sql, args).fetchall():
            yield Row(r[0], r[1], r[2], r[3], _load(r[4]), _load(r[5]), _load(r[6]), bool(r[7]), r[8], r[9],
                      r[10], _load(r[11]))

    def reconcile(self, run_id: int) -> int:
        """Settle the pending rows a killed attempt left behind; returns how many there were."""
        pending = list(self.rows(run_id, status="pending"))
        happened, never = [], []
        for row in pending:
            if _happened(row):
                happened.append(row)
                continue
            never.append(row)
            if row.dest:
                _remove_partials(row.dest)
            if row.action == "trash" and row.info:
                try:
                    os.unlink(row.info)  # the slot was reserved but never filled
                except FileNotFoundError:
                    pass
        for row in happened:
            row.status = "done"
        self.write(happened)
        self.forget(never)
        return len(pending)


def _store(text: str | None) -> str | bytes | None:
    """A path as SQLite can keep it losslessly: text when it is valid UTF-8, else its bytes.

    File names are bytes on POSIX; Python shows an undecodable byte as a lone surrogate,
    which no UTF-8 text column accepts. The bytes go in as a BLOB and come back exact.
    """
    if text is None:
        return None
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return os.fsencode(text)


def _load(value: str | bytes | None) -> str | None:
    return os.fsdecode(value) if isinstance(value, bytes) else value


def _remove_partials(dest: str) -> None:
    """Remove what a killed attempt left half-written for ``dest``: the temporary file or
    folder beside it (see :func:`~.fsops.temp_name`) of a process that is gone."""
    from .fsops import PARTIAL_PREFIX, remove_at
    folder, name = os.path.split(dest)
    try:
        names = os.listdir(folder or ".")
    except OSError:
        return
    for other in names:
        pid, _, rest = other[len(PARTIAL_PREFIX):].partition("-")
        if not other.startswith(PARTIAL_PREFIX) or rest != name or not pid.isdigit():
            continue
        if _running(int(pid)):
            continue  # its process still writes it: not a leftover
        try:
            fd = os.open(folder or ".", os.O_RDONLY | os.O_DIRECTORY)
            try:
                remove_at(fd, other, missing_ok=True)
            finally:
                os.close(fd)
        except OSError:
            pass


def _running(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie does not: it is dead, not yet reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def _happened(row: Row) -> bool:
    src, dest = os.path.lexists(row.src), bool(row.dest) and os.path.lexists(row.dest)
    if row.action in ("trash", "move", "rename"):
        return dest and not src
    if row.action in ("copy", "archive", "zip", "mkdir"):
        return dest
    if row.action in ("delete", "rmdir"):
        return not src
    return False
