"""The target database and the importer's side tables in it.

``_imports`` is the ledger: one row per imported file (path, size, mtime,
SHA-256, table, rows, run), written in the same transaction as the file's rows,
so a row there means the file's data is there. Every data row carries the
ledger id in ``_import_id``. ``_rejected`` holds quarantined rows, and
``_import_replaced`` the earlier version of rows an upsert overwrote, so that
undoing the upsert can put them back.

Connections run in autocommit mode and open each file's transaction with
``BEGIN IMMEDIATE``: the write lock is taken up front, so a busy database makes
the file wait (or fail with "locked") before any work is done.
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from ...textfmt import escape_undecodable
from .problems import BadRow, FileProblem
from .schema import IMPORT_ID, fold

if TYPE_CHECKING:
    import sqlite_utils

__all__ = ["Store", "store_problem", "q", "made_without_rowid"]


_WITHOUT_ROWID = re.compile(r"\bWITHOUT\s+ROWID\b", re.IGNORECASE)


# The tokens of a CREATE TABLE statement: blanks, comments, strings and quoted names,
# parentheses and commas, words.
_SQL_TOKEN = re.compile(r"""\s+|--[^\n]*|/\*.*?(?:\*/|$)|'(?:[^']|'')*'|"(?:[^"]|"")*"|`(?:[^`]|``)*`"""
                        r"""|\[[^\]]*\]|[(),]|[^\s(),'"`\[]+""", re.S)
_TABLE_CONSTRAINTS = {"CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN"}


def _collations(create_sql: str) -> dict[str, str]:
    """Each column's ``COLLATE`` clause in ``create_sql``, by its folded name."""
    tokens = [t for t in _SQL_TOKEN.findall(create_sql)
              if not t.isspace() and not t.startswith(("--", "/*"))]
    if "(" not in tokens:
        return {}
    items: list[list[str]] = [[]]  # each column's or constraint's words outside parentheses
    depth = 0
    for token in tokens[tokens.index("(") + 1:]:
        if token == "(":
            depth += 1
        elif token == ")":
            if not depth:
                break
            depth -= 1
        elif token == "," and not depth:
            items.append([])
        elif not depth:
            items[-1].append(token)
    found = {}
    for words in items:
        if not words or words[0].upper() in _TABLE_CONSTRAINTS:
            continue
        for k, word in enumerate(words[1:-1], start=1):
            if word.upper() == "COLLATE":
                found[fold(_unquoted(words[0]))] = f"COLLATE {words[k + 1]}"
    return found


def _unquoted(name: str) -> str:
    if name[:1] in "\"`'" and len(name) > 1:
        return name[1:-1].replace(name[0] * 2, name[0])
    return name[1:-1] if name[:1] == "[" else name


def q(identifier: str) -> str:
    """A table or column name quoted for SQL (as sqlite-utils quotes it)."""
    return '"' + identifier.replace('"', '""') + '"'


_VIRTUAL = re.compile(r"\s*CREATE\s+VIRTUAL\s+TABLE\s.*?\sUSING\s+(\w+)", re.I | re.S)


def made_without_rowid(create_sql: str | None) -> bool:
    """Whether a ``CREATE TABLE`` statement makes the table ``WITHOUT ROWID``: said after
    its columns' closing parenthesis (pragma table_list, which tells, needs SQLite 3.37)."""
    return bool(_WITHOUT_ROWID.search((create_sql or "").rpartition(")")[2]))

_SIDE_TABLES = [
    """CREATE TABLE IF NOT EXISTS _imports (
        id INTEGER PRIMARY KEY,
        run_id INTEGER, job TEXT, file TEXT, path TEXT, size INTEGER, mtime REAL,
        sha256 TEXT, "table" TEXT, mode TEXT, format TEXT, encoding TEXT,
        rows INTEGER, rejected INTEGER, imported_at REAL, superseded_by INTEGER)""",
    "CREATE INDEX IF NOT EXISTS _imports_by_sha256 ON _imports (sha256)",
    # With the path: a run looks up each of its files (was it done by an earlier attempt?),
    # which was a scan of the run's imports so far, each file, for 50,000 files hours.
    "CREATE INDEX IF NOT EXISTS _imports_by_run_path ON _imports (run_id, job, path)",
    "DROP INDEX IF EXISTS _imports_by_run",  # (run_id, job): the index above begins so
    """CREATE TABLE IF NOT EXISTS _rejected (
        id INTEGER PRIMARY KEY, import_id INTEGER, run_id INTEGER, file TEXT,
        line INTEGER, reason TEXT, raw TEXT, "table" TEXT, rejected_at REAL)""",
    "CREATE INDEX IF NOT EXISTS _rejected_by_import ON _rejected (import_id)",
    """CREATE TABLE IF NOT EXISTS _import_replaced (
        id INTEGER PRIMARY KEY, import_id INTEGER, "table" TEXT, old_import_id INTEGER,
        row TEXT)""",
    "CREATE INDEX IF NOT EXISTS _import_replaced_by_import ON _import_replaced (import_id)",
]


def store_problem(exc: sqlite3.Error) -> FileProblem:
    """A database error that is not about one row, as something the user can act on."""
    text = str(exc)
    if "locked" in text or "busy" in text:
        return FileProblem("the database is locked by another program; try again later",
                           retry=True)
    if "full" in text:
        return FileProblem("the disk is full: no room to write the database", retry=True)
    if "not a database" in text or "malformed" in text:
        return FileProblem(f"the database file is damaged or not an SQLite database ({text}); "
                           f"it is left as it is: set database to another file, or restore "
                           f"this one from a backup")
    if "readonly" in text or "read-only" in text:
        return FileProblem("the database cannot be written (read-only)")
    return FileProblem(f"the database refused the import: {text}")


#: Bytes of memory SQLite should keep under (a soft limit), page cache included.
SQLITE_HEAP_LIMIT = 64_000_000


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise FileProblem(f"its folder cannot be made ({exc.strerror or exc})") from None
        if path.is_dir():  # SQLite only says "unable to open database file"
            raise FileProblem("this is a folder, not a database file; set database to a file")
        if path.exists() and not path.is_file():  # SQLite only says "disk I/O error"
            what = "a named pipe" if path.is_fifo() else "not a regular file"
            raise FileProblem(f"this is {what}, not a database file; set database to a file")
        existed = path.exists()
        try:
            self.conn = sqlite3.connect(path, isolation_level=None, timeout=30)
        except sqlite3.Error as exc:
            raise self._problem(exc, existed) from None
        try:
            # A larger page cache keeps index pages of big tables hot; still well
            # under the memory budget. Journal mode and fsync stay as the user has them.
            self.conn.execute("PRAGMA cache_size = -32000")
            # SQLite copies a value it binds and again into the record it writes: a row of
            # 30 MB costs 60 MB there, and the pages it fills would then hold on to the
            # whole page cache too. Past this (process-wide, never failing) limit, SQLite
            # reuses cache pages instead; an ordinary import stays below it.
            limit = self.conn.execute("PRAGMA soft_heap_limit").fetchone()[0]
            if not limit or limit > SQLITE_HEAP_LIMIT:
                self.conn.execute(f"PRAGMA soft_heap_limit = {SQLITE_HEAP_LIMIT}")
            self._db: sqlite_utils.Database | None = None
            self.begin()
            for sql in _SIDE_TABLES:
                self.conn.execute(sql)
            self.commit()
        except sqlite3.Error as exc:
            self.close()
            raise self._problem(exc, existed) from None

    def _problem(self, exc: sqlite3.Error, existed: bool) -> FileProblem:
        # SQLite says only "unable to open database file" where it cannot make one.
        if not existed and not os.access(self.path.parent, os.W_OK):
            return FileProblem("the database cannot be made: its folder cannot be written "
                               "(read-only, or not yours); set database to a file in a "
                               "folder you can write to")
        return store_problem(exc)

    @property
    def db(self) -> "sqlite_utils.Database":
        """sqlite-utils on this connection, for changes of a table's columns' types (see
        ``TableWriter``). Imported on first use: most imports add rows to a table that is
        there already, and creating or widening a table is plain SQL (:meth:`create_table`,
        :meth:`add_column`)."""
        if self._db is None:
            import sqlite_utils
            self._db = sqlite_utils.Database(self.conn, recursive_triggers=False,
                                             execute_plugins=False)
        return self._db

    # -- tables -----------------------------------------------------------------------
    def table_exists(self, table: str) -> bool:
        """Whether a table of exactly this name is in the database."""
        return self.conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                                 (table,)).fetchone() is not None

    def create_table(self, table: str, columns: dict[str, str],
                     pk: str | tuple[str, ...] | None = None) -> None:
        """``CREATE TABLE`` with ``columns`` (name: SQL type) in order and the primary key
        ``pk`` (one column's name, or several), written as sqlite-utils writes it."""
        lines = [f"   {q(name)} {sql_type}" + (" PRIMARY KEY" if name == pk else "")
                 for name, sql_type in columns.items()]
        if isinstance(pk, tuple):
            lines.append(f"   PRIMARY KEY ({', '.join(q(p) for p in pk)})")
        self.conn.execute(f"CREATE TABLE {q(table)} (\n" + ",\n".join(lines) + "\n)")

    def add_column(self, table: str, column: str, sql_type: str) -> None:
        self.conn.execute(f"ALTER TABLE {q(table)} ADD COLUMN {q(column)} {sql_type};")

    def without_rowid(self, table: str) -> bool:
        """Whether the table was made ``WITHOUT ROWID``."""
        row = self.conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND "
                                "name = ? COLLATE NOCASE", (table,)).fetchone()
        return made_without_rowid(row[0] if row else None)

    def virtual_module(self, table: str) -> str | None:
        """The module (``fts5``, ``rtree``...) of a table made with ``CREATE VIRTUAL TABLE``,
        None for an ordinary table: such a table cannot take an added column."""
        row = self.conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND "
                                "name = ? COLLATE NOCASE", (table,)).fetchone()
        found = _VIRTUAL.match(row[0] or "") if row else None
        return found[1] if found else None

    def generated_columns(self, table: str) -> list[str]:
        """The table's generated columns, which no INSERT may name and a rebuild would
        drop; pragma table_info leaves them out, table_xinfo marks them hidden 2 or 3."""
        return [n for n, hidden in self.conn.execute(
            "SELECT name, hidden FROM pragma_table_xinfo(?)", (table,)) if hidden in (2, 3)]

    def change_types(self, table: str, types: dict[str, str]) -> None:
        """Give columns other types (name: SQL type) by rebuilding the table (sqlite-utils'
        transform). Its indexes come along; its triggers would be dropped with the old
        table, so they are made again as they were."""
        triggers = [sql for (sql,) in self.conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ? "
            "COLLATE NOCASE ORDER BY rowid", (table,))]
        # The copy into a TEXT column has SQLite write each REAL with 15 digits only
        # (70304.07620656314 as 70304.0762065631): their exact text is kept aside (by
        # rowid, which the rebuild keeps) and written back.
        texts = [name for name, sql_type in types.items() if sql_type == "TEXT"]
        if texts:
            self.conn.create_function("_trayjobs_exact", 1, repr, deterministic=True)
        for n, name in enumerate(texts):
            self.conn.execute(f"CREATE TEMP TABLE _trayjobs_exact_{n} "
                              f"(r INTEGER PRIMARY KEY, v TEXT)")
            self.conn.execute(f"INSERT INTO _trayjobs_exact_{n} SELECT rowid, "
                              f"_trayjobs_exact({q(name)}) FROM main.{q(table)} "
                              f"WHERE typeof({q(name)}) = 'real'")
        self.db.table(table).transform(types=self._declared_types(table, types))
        for n, name in enumerate(texts):
            self.conn.execute(f"UPDATE main.{q(table)} SET {q(name)} = (SELECT v FROM "
                              f"_trayjobs_exact_{n} WHERE r = {q(table)}.rowid) WHERE rowid IN "
                              f"(SELECT r FROM _trayjobs_exact_{n})")
            self.conn.execute(f"DROP TABLE temp._trayjobs_exact_{n}")
        for sql in triggers:
            self.conn.execute(sql)

    def _declared_types(self, table: str, types: dict[str, str]) -> dict[str, str]:
        """``types`` for the rebuild, with the other columns' types as declared and every
        column's collation: sqlite-utils makes each column anew from its affinity, so a
        DATE, DECIMAL or BOOLEAN column became REAL (storing '007' as 7.0, and the next
        text in it rebuilt the table again, saying it changed from real), one declared
        with no type TEXT, and ``COLLATE NOCASE`` was dropped (``= 'a'`` no longer found
        'A'). The rebuild looks each type up in sqlite-utils' table of types, where these
        are added as themselves (a column without one as " ", written as nothing)."""
        from sqlite_utils.db import COLUMN_TYPE_MAPPING

        sql = self.conn.execute("SELECT sql FROM main.sqlite_master WHERE type = 'table' "
                                "AND name = ?", (table,)).fetchone()
        collations = _collations(sql[0] or "") if sql else {}
        wanted = {fold(name): (name, t) for name, t in types.items()}
        out = {}
        for _, name, declared, *_ in self.conn.execute(f"PRAGMA main.table_info({q(table)})"):
            given = wanted.get(fold(name))
            spelled = " ".join(filter(None, (given[1] if given else declared,
                                             collations.get(fold(name)))))
            if not given and spelled.upper() in ("INTEGER", "TEXT", "REAL", "BLOB", "FLOAT"):
                continue
            key = spelled or " "
            COLUMN_TYPE_MAPPING.setdefault(key, spelled)
            out[given[0] if given else name] = key
        return out

    # -- transactions -----------------------------------------------------------------
    def begin(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.conn.execute("COMMIT")

    def rollback(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")
        self.conn.execute("DROP TRIGGER IF EXISTS temp._trayjobs_keep")
        self.conn.execute("DROP TRIGGER IF EXISTS temp._trayjobs_repeat")

    def close(self) -> None:
        self.conn.close()

    # -- ledger -----------------------------------------------------------------------
    def _one(self, sql: str, args: Iterable[Any]) -> dict[str, Any] | None:
        cur = self.conn.execute(sql, tuple(args))
        row = cur.fetchone()
        return dict(zip([d[0] for d in cur.description], row)) if row else None

    def imported_by_run(self, run_id: int, job: str, path: str,
                        table: str | None = None) -> dict[str, Any] | None:
        """The run's latest import of ``path`` (into ``table``: a workbook's sheet)."""
        path = escape_undecodable(path)  # as start_import stored it
        if table is not None:
            return self._one('SELECT * FROM _imports WHERE run_id = ? AND job = ? AND path = ? '
                             'AND "table" = ? ORDER BY id DESC LIMIT 1',
                             (run_id, job, path, table))
        return self._one('SELECT * FROM _imports WHERE run_id = ? AND job = ? AND path = ? '
                         'ORDER BY id DESC LIMIT 1', (run_id, job, path))

    def rejecting_imports(self, run_id: int, job: str) -> list[dict[str, Any]]:
        """The run's imports that set rows aside: what a fix file of the run may come from."""
        cur = self.conn.execute('SELECT * FROM _imports WHERE run_id = ? AND job = ? AND '
                                'rejected > 0 ORDER BY id', (run_id, job))
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]

    def same_content(self, sha256: str, table: str) -> dict[str, Any] | None:
        """The import still in effect that brought exactly these bytes into ``table``: not
        one whose rows are gone with the whole table (dropped or emptied to start afresh)."""
        found = self._one('SELECT * FROM _imports WHERE sha256 = ? AND "table" = ? AND '
                          'superseded_by IS NULL ORDER BY id DESC LIMIT 1', (sha256, table))
        if found and found["rows"]:
            try:
                left = self.conn.execute(f"SELECT 1 FROM {q(table)} LIMIT 1").fetchone()
            except sqlite3.OperationalError:  # no such table
                left = None
            if left is None:
                return None
        return found

    def grown_from(self, file: str, table: str, size: int) -> dict[str, Any] | None:
        """The latest import still in effect of a smaller file of this name into ``table``:
        the same file before it grew, if it starts with those bytes."""
        return self._one('SELECT * FROM _imports WHERE file = ? AND "table" = ? AND size < ? '
                         'AND rows > 0 AND superseded_by IS NULL ORDER BY id DESC LIMIT 1',
                         (escape_undecodable(file), table, size))

    def run_touched(self, run_id: int, job: str, table: str) -> bool:
        return self._one('SELECT id FROM _imports WHERE run_id = ? AND job = ? AND "table" = ? '
                         'LIMIT 1', (run_id, job, table)) is not None

    def start_import(self, **fields: Any) -> int:
        fields.setdefault("imported_at", time.time())
        # A file name that is not UTF-8 has lone surrogates, which SQLite refuses.
        for key in ("file", "path"):
            fields[key] = escape_undecodable(fields[key])
        cols = ", ".join(q(k) for k in fields)
        marks = ", ".join("?" for _ in fields)
        cur = self.conn.execute(f"INSERT INTO _imports ({cols}) VALUES ({marks})",
                                tuple(fields.values()))
        return int(cur.lastrowid)

    def finish_import(self, import_id: int, *, rows: int, rejected: int) -> None:
        self.conn.execute("UPDATE _imports SET rows = ?, rejected = ?, imported_at = ? "
                          "WHERE id = ?", (rows, rejected, time.time(), import_id))

    def empty_table(self, table: str, import_id: int, *, keep: set[int] = frozenset()) -> int:
        """For ``replace``: drop the table's rows, except those of imports in ``keep`` (files
        of this run that were already there); the other imports no longer count."""
        removed = 0
        if self.table_exists(table):
            if keep:
                marks = ", ".join("?" for _ in keep)
                removed = self.conn.execute(
                    f"DELETE FROM {q(table)} WHERE {IMPORT_ID} IS NULL OR {IMPORT_ID} NOT IN "
                    f"({marks})", tuple(keep)).rowcount
            else:
                removed = self.conn.execute(f"DELETE FROM {q(table)}").rowcount
        marks = ", ".join("?" for _ in keep)
        self.conn.execute(f'UPDATE _imports SET superseded_by = ? WHERE "table" = ? AND id != ? '
                          f'AND superseded_by IS NULL AND id NOT IN ({marks})',
                          (import_id, table, import_id, *keep))
        self.conn.execute('DELETE FROM _import_replaced WHERE "table" = ?', (table,))
        return removed

    def reject(self, rows: list[BadRow], *, import_id: int, run_id: int, file: str,
               table: str) -> None:
        now, file = time.time(), escape_undecodable(file)
        self.conn.executemany(
            'INSERT INTO _rejected (import_id, run_id, file, line, reason, raw, "table", '
            'rejected_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
            [(import_id, run_id, file, r.line, r.reason, r.raw, table, now) for r in rows])

    def keep_replaced(self, table: str, columns: list[str]) -> None:
        """Save each row an upsert is about to overwrite (by a temporary trigger), and count
        those and the rows that overwrite one of the same file (see :meth:`upserted`)."""
        pairs = ", ".join(f"{_lit(c)}, quote(OLD.{q(c)})" for c in columns)
        self.conn.execute("DROP TRIGGER IF EXISTS temp._trayjobs_keep")
        self.conn.execute("DROP TRIGGER IF EXISTS temp._trayjobs_repeat")
        self.conn.execute("CREATE TEMP TABLE IF NOT EXISTS _trayjobs_upserted "
                          "(replaced INTEGER, repeated INTEGER)")
        self.conn.execute("DELETE FROM temp._trayjobs_upserted")
        self.conn.execute("INSERT INTO temp._trayjobs_upserted VALUES (0, 0)")
        self.conn.execute(
            f"CREATE TEMP TRIGGER _trayjobs_keep BEFORE UPDATE ON main.{q(table)} "
            f"WHEN OLD.{IMPORT_ID} IS NOT NEW.{IMPORT_ID} BEGIN "
            f'INSERT INTO _import_replaced (import_id, "table", old_import_id, row) '
            f"VALUES (NEW.{IMPORT_ID}, {_lit(table)}, OLD.{IMPORT_ID}, json_object({pairs})); "
            f"UPDATE _trayjobs_upserted SET replaced = replaced + 1; END")
        self.conn.execute(
            f"CREATE TEMP TRIGGER _trayjobs_repeat BEFORE UPDATE ON main.{q(table)} "
            f"WHEN OLD.{IMPORT_ID} IS NEW.{IMPORT_ID} BEGIN "
            f"UPDATE _trayjobs_upserted SET repeated = repeated + 1; END")

    def upserted(self) -> tuple[int, int]:
        """Of the rows an upsert wrote so far: those that updated a row already in the table
        before, and those that updated a row written earlier from the same file."""
        row = self.conn.execute("SELECT replaced, repeated FROM temp._trayjobs_upserted").fetchone()
        return (row[0], row[1]) if row else (0, 0)


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
