"""A big CSV file read in two parts at once, the second part by a helper process.

Reading, checking and writing rows is Python work on one core; a second process
takes the second half of the file: it reads it with the same reader, checks it
with the same :class:`~.load.TableWriter` and writes its rows into a table of a
temporary database. When both are done, the import appends those rows to its
table with one ``INSERT ... SELECT`` (SQLite copies the records as they are when
both tables have the same columns), inside the file's transaction, and takes in
what the helper learned: column types (the table widens as if one process had
read it all), cell counts behind warnings, rejected rows with the file's line
numbers. The result is the same table, row for row and byte for byte.

Where the file is cut: the first line end past :data:`FIRST_SHARE` of it with an
even number of quote characters before it (in RFC 4180 quoting that is outside
any quoted field), found by the helper while the importer hashes the file; the
importer starts reading at once and stops there once told (:meth:`Helper.poll`).
Stray quotes inside unquoted fields can make that wrong, so the first part
checks it: its reader must end exactly there with no quote open
(:class:`~.readers.NotABoundary` otherwise), after as many lines as counted.
Anything the split cannot promise to do exactly as a single read would (a gzip
file, an encoding whose bytes are not ASCII-compatible, upsert or a key, a table
with constraints, a helper that fails for any reason other than the file) makes
the file be read as a whole instead (:class:`Unsplit`).

The temporary database lives in ``<data dir>/.import-parts``, named after the
importing process and its machine; the helper deletes it if it fails or the importer
dies (SIGTERM by ``PR_SET_PDEATHSIG``), the importer once it copied the rows, and any
import removes those left by processes of its machine that are gone (a ``kill -9`` of
both). Another machine's, where the data folder is shared, are that machine's to remove.
"""

from __future__ import annotations

import codecs
import gc
import hashlib
import json
import os
import secrets
import select
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

from ...engine.lease import pid_alive, this_machine
from ...textfmt import escape_undecodable
from .plan import Part, Plan, open_reader
from .problems import FileProblem, Restart
from .readers import NotABoundary
from .store import Store, q

__all__ = ["Helper", "Unsplit", "may_split", "spawn", "stop_helper", "clean_parts", "PARTS_DIR"]

#: Files smaller than this are read as a whole: starting a helper costs ~0.3 s of CPU.
MIN_SIZE = 16 << 20
#: How far past the middle a record boundary is looked for.
SEARCH = 4 << 20
#: The share of the file the importer reads itself. It also hashes the file first and
#: copies the helper's rows at the end, but the helper starts later (its interpreter,
#: finding the cut) and is a little slower per row: measured, both end together at 50 %.
FIRST_SHARE = 0.5
PARTS_DIR = ".import-parts"
#: Tests: wait for the helper to say where to cut (else a small file is read to its end
#: before the helper has started).
WAIT = False
_CHUNK = 8 << 20
_PART_TABLE = "_trayjobs_part"


class Unsplit(Restart):
    """Read the file again, as a whole."""

    def __init__(self, why: str) -> None:
        super().__init__(f"{why}; reading it as a whole")


def _single_byte_compatible(codec: str, quote: str | None) -> bool:
    """Whether line ends and quotes are the same single bytes as in ASCII, and no byte is
    part of a longer character: then cutting at a b"\\n" cuts between characters."""
    if quote is not None and not quote.isascii():
        return False
    name = codecs.lookup(codec).name
    if name in ("utf-8", "utf-8-sig", "ascii"):
        return True  # in UTF-8 no byte of a multibyte character is below 0x80
    try:
        every = bytes(range(256)).decode(name, "replace")
        return (len(every) == 256 and "\n\r".encode(name) == b"\n\r"
                and (quote is None or quote.encode(name) == quote.encode("ascii")))
    except (UnicodeError, LookupError):
        return False


def _table_takes_any_row(conn: sqlite3.Connection, table: str) -> bool:
    """A table (if any) where ``INSERT ... SELECT`` of rows takes them exactly as one by one
    would: no key, constraint, trigger or generated column could refuse or change a row."""
    row = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
                       (table,)).fetchone()
    if row is None:
        return True
    sql = (row[0] or "").lower()
    if any(word in sql for word in ("check", "without rowid", "references", "default")):
        return False
    if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?",
                    (table,)).fetchone():
        return False
    if any(r[2] for r in conn.execute("SELECT * FROM pragma_index_list(?)", (table,))):
        return False  # a unique index
    return not any(notnull or pk or hidden for _, _, _, notnull, _, pk, hidden in
                   conn.execute("SELECT * FROM pragma_table_xinfo(?)", (table,)))


def _boundary(path: Path, size: int, quote: str | None) -> tuple[int, int] | None:
    """``(offset, lines before it)`` of the first line end after the middle with an even
    number of quotes before it, or None."""
    q_byte = quote.encode("ascii") if quote else None
    middle = int(size * FIRST_SHARE)
    quotes = newlines = returns = pairs = 0
    last = b""
    with open(path, "rb") as f:
        done = 0
        while done < middle:
            chunk = f.read(min(_CHUNK, middle - done))
            if not chunk:
                return None
            done += len(chunk)
            if q_byte:
                quotes += chunk.count(q_byte)
            newlines += chunk.count(b"\n")
            crs = chunk.count(b"\r")
            if crs:  # counting b"\r\n" costs as much as the rest: only if there is a \r
                returns += crs
                pairs += chunk.count(b"\r\n")
            pairs += last == b"\r" and chunk[:1] == b"\n"
            last = chunk[-1:]
        window = f.read(SEARCH)
    at = 0
    while True:
        end = window.find(b"\n", at)
        if end < 0:
            return None
        piece = window[at:end + 1]
        if q_byte:
            quotes += piece.count(q_byte)
        newlines += piece.count(b"\n")
        returns += piece.count(b"\r")
        pairs += piece.count(b"\r\n") + (last == b"\r" and piece[:1] == b"\n")
        last = piece[-1:]
        at = end + 1
        if quotes % 2 == 0:
            offset = middle + at
            # Lines as the csv module counts them: \n, \r and \r\n each end one.
            return (offset, newlines + returns - pairs) if offset < size else None


def may_split(path: Path, params: Any) -> bool:
    """Whether ``path`` might be read in two parts, judged before it is looked at closely
    (a helper is then started early: its interpreter starts while the file is hashed)."""
    if (getattr(sys, "frozen", False) or os.name != "posix" or params.mode == "upsert"
            or params.pk or os.environ.get("TRAYJOBS_IMPORT_SPLIT") == "0"):
        return False
    try:
        if path.stat().st_size < MIN_SIZE:
            return False
        with open(path, "rb") as f:
            return f.read(2) != b"\x1f\x8b"  # gzip: no way to start in the middle
    except OSError:
        return False


def spawn(path: Path, params: Any) -> subprocess.Popen | None:
    """A helper process for ``path``: it looks at the file as the importer will and finds
    where to cut it, then waits for what to read (see :meth:`Helper.start`). None if no
    process can be started (the file is then read as a whole)."""
    early = {"path": str(path), "format": params.format, "encoding": params.encoding,
             "delimiter": params.delimiter, "quotechar": params.quotechar}
    try:
        proc = subprocess.Popen([sys.executable, "-m", __name__], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except OSError:
        return None
    try:
        proc.stdin.write(json.dumps(early).encode() + b"\n")
        proc.stdin.flush()
    except OSError:
        pass  # it died at once: no boundary, read as a whole
    return proc


class Helper:
    """The helper process reading the second part, and its temporary database.

    It first finds where the second part starts and says so (:meth:`poll`); the
    importer reads from the start of the file meanwhile, and stops at that point
    once it knows it (:meth:`~.streams.ByteTap.stop_at`)."""

    def __init__(self, proc: subprocess.Popen, db: Path) -> None:
        self.proc, self.db = proc, db
        self.attached = False
        self._out = b""
        self.expect: list = []  # the quote and size the boundary must have been found with
        #: (offset, lines before it), None until known, False if there is none.
        self.boundary: tuple[int, int] | None | bool = None

    @classmethod
    def start(cls, proc: subprocess.Popen | None, store: Store, plan: Plan, *, table: str,
              import_id: int, params: Any, hints: dict[str, str],
              parts_dir: Path) -> "Helper | None":
        """Give ``proc`` (or a new helper) the second part of ``plan``'s file, or stop it and
        return None if the file is not one to read in parts."""
        dialect = plan.dialect
        if (dialect is None or plan.sheet is not None or not may_split(plan.path, params)
                or not _single_byte_compatible(plan.encoding.codec, dialect.quotechar)
                or not _table_takes_any_row(store.conn, table)):
            if proc is not None:
                stop_helper(proc)
            return None
        parts_dir.mkdir(parents=True, exist_ok=True)
        clean_parts(parts_dir)
        db = parts_dir / f"part-{os.getpid()}-{machine_tag()}-{secrets.token_hex(6)}.db"
        row = store.conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND "
                                 "name = ?", (table,)).fetchone()
        spec = {"db": str(db), "path": str(plan.path), "size": plan.path.stat().st_size,
                "format": plan.format, "table": table, "table_sql": row[0] if row else None,
                "encoding": [plan.encoding.codec, plan.encoding.label,
                             plan.encoding.ascii_start],
                "dialect": [dialect.delimiter, dialect.quotechar, dialect.fields,
                            dialect.sep_line, dialect.blank_start],
                "header": params.header, "batch_size": params.batch_size,
                "types": params.types, "on_bad_rows": params.on_bad_rows,
                "mode": params.mode, "import_id": import_id, "hints": hints,
                "parent": os.getpid()}
        if proc is None or proc.poll() is not None:
            if proc is not None:
                stop_helper(proc)
            proc = spawn(plan.path, params)
            if proc is None:
                return None
        helper = cls(proc, db)
        helper.expect = [dialect.quotechar, spec["size"]]
        try:
            proc.stdin.write(json.dumps(spec).encode())
            proc.stdin.close()
        except OSError:
            pass  # it died at once: wait() says so
        proc.stdin = None  # closed: communicate() must not flush it
        return helper

    def poll(self) -> tuple[int, int] | None | bool:
        """The boundary, once the helper said it (without waiting for it)."""
        if self.boundary is None and b"\n" not in self._out:
            fd = self.proc.stdout.fileno()
            while select.select([fd], [], [], 30 if WAIT else 0)[0]:
                data = os.read(fd, 1 << 16)
                self._out += data
                if not data or b"\n" in data:
                    break
        if self.boundary is None and (b"\n" in self._out or self.proc.poll() is not None):
            line, _, self._out = self._out.partition(b"\n")
            try:
                said = json.loads(line)
            except ValueError:
                said = {}
            found = said.get("boundary")
            # Found by the helper's own look at the file: for the same quote and size only.
            same = [said.get("quote"), said.get("size")] == self.expect
            self.boundary = tuple(found) if found and same else False
        return self.boundary

    def wait(self, check: Callable[[], None]) -> dict[str, Any]:
        """The helper's summary once it is done; its FileProblem as the file's; Unsplit if
        it failed in any other way."""
        # The answer is a line of JSON: taken as soon as it is there, while the helper exits.
        fd, err = self.proc.stdout.fileno(), b""
        while self._out.count(b"\n") < 1:
            if select.select([fd], [], [], 0.1)[0]:
                data = os.read(fd, 1 << 16)
                if not data:
                    break
                self._out += data
            else:
                check()
        if not self._out.endswith(b"\n"):  # it died: why, if it said so
            self.proc.wait()
            err = self.proc.stderr.read()
        try:
            answer = json.loads(self._out.strip() or b"{}")
        except ValueError:
            answer = {}
        if "problem" in answer:
            p = answer["problem"]
            raise FileProblem(p["reason"], line=p["line"], column=p["column"],
                              offset=p["offset"], retry=p["retry"])
        if "summary" not in answer:
            why = answer.get("fallback") or (err or b"").decode(errors="replace")[-300:].strip()
            raise Unsplit(f"the second part could not be read apart "
                          f"({why or f'exit {self.proc.returncode}'})")
        return answer["summary"]

    def attach(self, store: Store, table: str) -> list[tuple[str, str]]:
        store.conn.execute(f"ATTACH ? AS {_PART_TABLE}", (str(self.db),))
        self.attached = True
        return _columns(store, table, _PART_TABLE)

    def copy_into(self, store: Store, table: str, *, run_id: int, file: str,
                  import_id: int) -> None:
        """The helper's rows after the table's (in their order), and its rejected rows."""
        conn = store.conn
        mine, theirs = _columns(store, table, "main"), _columns(store, table, _PART_TABLE)
        if theirs:
            if mine == theirs:  # the same columns: SQLite copies the records as they are
                conn.execute(f"INSERT INTO main.{q(table)} SELECT * FROM "
                             f"{_PART_TABLE}.{q(table)}")
            else:
                names = ", ".join(q(n) for n, _ in theirs)
                conn.execute(f"INSERT INTO main.{q(table)} ({names}) SELECT {names} FROM "
                             f"{_PART_TABLE}.{q(table)} ORDER BY rowid")
        conn.execute(
            'INSERT INTO main._rejected (import_id, run_id, file, line, reason, raw, "table", '
            f"rejected_at) SELECT ?, ?, ?, line, reason, raw, ?, at FROM "
            f"{_PART_TABLE}._part_rejected ORDER BY rowid",
            (import_id, run_id, escape_undecodable(file), table))

    def close(self, store: Store | None) -> None:
        """Stop the helper if it still runs; detach and delete its database."""
        stop_helper(self.proc)
        if self.attached and store is not None:
            try:
                store.conn.execute(f"DETACH {_PART_TABLE}")
                self.attached = False
            except sqlite3.Error:
                pass  # in the transaction still: detached by close_after
        if not self.attached:
            _unlink(self.db)

    def close_after(self, store: Store) -> None:
        """Once the file's transaction is over: stop the helper, detach and delete its
        database, whatever close could not."""
        stop_helper(self.proc)
        if self.attached:
            try:
                store.conn.execute(f"DETACH {_PART_TABLE}")
            except sqlite3.Error:
                pass
            self.attached = False
        _unlink(self.db)


def _columns(store: Store, table: str, schema: str) -> list[tuple[str, str]]:
    """``table``'s columns in database ``schema``: (name, declared type), in order."""
    return [(n, t) for n, t in store.conn.execute(
        "SELECT name, type FROM pragma_table_info(?, ?)", (table, schema))]


def stop_helper(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            try:
                pipe.close()
            except OSError:
                pass


def _unlink(db: Path) -> None:
    for name in (db, Path(f"{db}-journal")):
        try:
            name.unlink()
        except OSError:
            pass


def machine_tag() -> str:
    """This machine (and pid namespace) in a file name: a pid means nothing elsewhere."""
    return hashlib.sha1(this_machine(boot=False).encode()).hexdigest()[:10]


def clean_parts(parts_dir: Path) -> None:
    """Delete the temporary databases of this machine's importing processes that are gone."""
    try:
        names = list(parts_dir.glob("part-*"))
    except OSError:
        return
    mine = machine_tag()
    for name in names:
        fields = name.name.split("-")  # part, pid, machine, token.db
        try:
            pid = int(fields[1])
        except (IndexError, ValueError):
            continue
        if len(fields) == 4 and fields[2] != mine:
            continue
        if pid != os.getpid() and not pid_alive(pid):
            try:
                name.unlink()
            except OSError:
                pass


# ---- the helper process ------------------------------------------------------------------

def _die_with_parent(parent: int) -> None:
    """SIGTERM when the importing process ends, however it ends (Linux)."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:
        raise SystemExit(1)


def _early_boundary(early: dict[str, Any]) -> tuple[tuple[int, int] | None, str | None, int]:
    """Where to cut the file, found as soon as the helper starts (while the importer hashes
    the file): the file planned as the importer will (its quote), the boundary for it."""
    from .plan import plan_file

    path = Path(early["path"])
    try:
        size = path.stat().st_size
        plan = plan_file(path, SimpleNamespace(table="t", sheet=None, **early))
        if plan.dialect is None:
            return None, None, size
        quote = plan.dialect.quotechar
        return _boundary(path, size, quote), quote, size
    except Exception:  # noqa: BLE001 - the importer says what is wrong with the file
        return None, None, -1


def _run_part(spec: dict[str, Any], found: tuple[int, int] | None, quote: str | None,
              size: int) -> dict[str, Any]:
    from .load import TableWriter
    from .plan import Plan as PlanOf
    from .sniff import CsvDialect, Encoding, guess_legacy

    codec, label, ascii_start = spec["encoding"]
    plan = PlanOf(Path(spec["path"]), spec["format"], Encoding(codec, label, ascii_start),
                  CsvDialect(*spec["dialect"]), spec["table"])
    params = SimpleNamespace(header=spec["header"], batch_size=spec["batch_size"],
                             json_key=None)
    parent, table = spec["parent"], spec["table"]
    if found is None or [quote, size] != [plan.dialect.quotechar, spec["size"]]:
        raise _NoBoundary  # the importer reads it all
    offset, lines_before = found
    with open_reader(plan, params, part=Part(0, offset, ends_early=True)) as (r, _):
        fields = r.fields  # the header, as the first part reads it
    part = Part(offset, spec["size"], lines_before, fields)
    store = Store(Path(spec["db"]))
    conn = store.conn
    # Only this process uses the database, and it is thrown away if anything goes wrong:
    # no fsync, and a journal in memory (new pages at the end of the file need none).
    conn.execute("PRAGMA journal_mode = MEMORY")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("CREATE TABLE _part_rejected (line INTEGER, reason TEXT, raw TEXT, at REAL)")
    hints = dict(spec["hints"])

    def reject(rows: list) -> None:
        import time
        now = time.time()
        conn.executemany("INSERT INTO _part_rejected VALUES (?, ?, ?, ?)",
                         [(b.line, b.reason, b.raw, now) for b in rows])

    for _ in range(20):
        store.begin()
        try:
            if spec["table_sql"]:
                conn.execute(spec["table_sql"])
            redetect = guess_legacy if ascii_start else None
            with open_reader(plan, params, redetect=redetect, part=part) as (reader, _):
                writer = TableWriter(store, reader, table=table, mode=spec["mode"], pk=[],
                                     types=spec["types"], hints=hints,
                                     import_id=spec["import_id"], on_bad=spec["on_bad_rows"],
                                     reject=reject, log=lambda m: None)
                writer.note_firsts = True
                writer.start()
                for batch in reader.batches():
                    if os.getppid() != parent:
                        raise SystemExit(1)
                    writer.write(batch)
            store.commit()
            return writer.summary()
        except Restart as again:
            store.rollback()
            if again.encoding:
                raise
            hints.update(again.types)
        except BaseException:
            store.rollback()
            raise
    raise Restart("the column types kept changing")


class _NoBoundary(Exception):
    """No place to cut the file was found: the importer reads it all."""


def _main() -> None:
    try:
        early = json.loads(sys.stdin.buffer.readline() or b"{}")
    except (ValueError, OSError):
        early = {}
    if not early:
        return  # not needed after all
    found, quote, size = _early_boundary(early)
    try:
        sys.stdout.write(json.dumps({"boundary": found, "quote": quote, "size": size}) + "\n")
        sys.stdout.flush()
        spec = json.loads(sys.stdin.buffer.read() or b"{}")
    except (ValueError, OSError):
        spec = {}
    if not spec:
        return  # not needed after all
    gc.disable()  # rows make no reference cycles (see runner._collector_paused)
    db = Path(spec["db"])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    answer: dict[str, Any]
    try:
        _die_with_parent(spec["parent"])
        answer = {"summary": _run_part(spec, found, quote, size)}
    except FileProblem as exc:
        answer = {"problem": {"reason": exc.reason, "line": exc.line, "column": exc.column,
                              "offset": exc.offset, "retry": exc.retry}}
    except _NoBoundary:
        _unlink(db)
        return
    except (Restart, NotABoundary) as exc:
        answer = {"fallback": f"{type(exc).__name__}: {exc}"}
    except BaseException as exc:  # noqa: BLE001 - said to the importer, which reads it whole
        _unlink(db)
        if isinstance(exc, SystemExit):
            raise
        answer = {"fallback": f"{type(exc).__name__}: {exc}"}
    if "summary" not in answer:
        _unlink(db)
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()
    os._exit(0)  # nothing left to tidy up: the importer goes on at once


if __name__ == "__main__":
    _main()
