"""Writing one file's batches into its table, inside the file's transaction.

Per batch: set aside rows the table cannot take (an empty key, a value that
does not fit a type the job set), work out which columns need a wider type,
change the table if needed (create it, add columns, widen types by a rebuild),
then ``executemany`` one prepared INSERT. CSV cells go in as text and SQLite's
column affinity turns them into numbers; ``CASE ? WHEN '' THEN NULL ELSE ? END``
makes empty cells NULL; the import id is a literal in the statement. So a clean batch costs no
Python work per value.

A column whose values were all empty so far is not created yet: it is added
(``ALTER TABLE ADD COLUMN``, no rebuild) once a value shows its type, or as
TEXT at the end of the file. Widening a column from real to text after this
file wrote numbers into it would respell them ("1.50" -> "1.5"), so the file
is read again instead (:class:`Restart`), knowing the type from the start.

A column that turns to text because of a few cells among numbers ("n/a" in an
amount column) is imported all the same, but said in :attr:`TableWriter.widened`:
the run then ends with a warning instead of silently storing numbers as text.
Counting costs nothing while a batch's values are all numbers (the type scan
already says so); only a batch with text in such a column is looked at cell by
cell, and a column is no longer counted once it clearly holds text.
"""

from __future__ import annotations

import sqlite3
from operator import itemgetter
from typing import Any, Callable

from .bigints import first_big, table_has_big
from .columns import (EXAMPLES, FEW_CELLS, CellCount, Column, no_key, no_rebuild,
                      rounding_warning, too_wide)
from .inserts import Inserting, flat_values
from .problems import BadRow, FileProblem, Restart, printable
from .readers import Batch, Reader
from .schema import (IMPORT_ID, Namer, classify_text, classify_value, fold, misfits_text,
                     misfits_values, scan_text, scan_values, sql_type, type_of_declared,
                     wider)
from .store import Store

__all__ = ["TableWriter"]

_TYPE_WORDS = {"integer": "an integer", "real": "a number"}


class TableWriter(Inserting):
    def __init__(self, store: Store, reader: Reader, *, table: str, mode: str, pk: list[str],
                 types: dict[str, str], hints: dict[str, str], import_id: int,
                 on_bad: str, reject: Callable[[list[BadRow]], None],
                 log: Callable[[str], None]) -> None:
        self.store, self.reader, self.table, self.mode = store, reader, table, mode
        self.import_id, self.on_bad, self._reject_to, self.log = import_id, on_bad, reject, log
        self.text = reader.values == "text"
        self.pk = [fold(p) for p in pk]
        self._pk_given = list(pk)
        self.types = {fold(k): v for k, v in types.items()}
        self.hints = {fold(k): v for k, v in hints.items()}
        self.namer = Namer()
        self.columns: list[Column] = []
        self.pk_index: list[int] = []
        self.convert: set[int] = set()
        self.sql: str | None = None
        self.sql_many = ""
        self.per = 1
        self.rows = 0
        self.rejected = 0
        self.written: set[int] = set()  # columns this file stored a value in
        self._filled: set[int] = set()  # ... and those the current batch fills
        self._sql_width = -1
        self._counts: dict[int, CellCount] = {}  # columns whose turn to text is watched
        self._uncounted: dict[int, CellCount] = {}  # ... no longer counted, still said
        #: Columns that became text because of a few cells: what to warn about (see finish).
        self.widened: list[str] = []
        #: Other things to warn about: a type set for a column there is not (see finish).
        self.warnings: list[str] = []
        self._types_set = list(types)
        #: Column -> type -> [line, value] where it first held a wider type (see absorb);
        #: noted only by the writer of a later part of a file (``note_firsts``).
        self.firsts: dict[int, dict[str, list]] = {}
        self.note_firsts = False
        #: Columns made text, not real, for a whole number a REAL would round: an example.
        self._rounding: dict[int, str] = {}
        self.existing = self._table_columns()
        self._check_is_table()
        #: Generated columns: a file's column may not fill one, nor a rebuild drop them.
        self.generated = self.store.generated_columns(table)

    # -- the table as it is -------------------------------------------------------------
    def _table_columns(self) -> dict[str, tuple[str, str]]:
        info = self.store.conn.execute("SELECT name, type FROM pragma_table_info(?)",
                                       (self.table,)).fetchall()
        return {fold(n): (n, type_of_declared(t or "")) for n, t in info}

    def _check_is_table(self) -> None:
        row = self.store.conn.execute(
            "SELECT type FROM sqlite_master WHERE name = ? COLLATE NOCASE AND type != 'table' "
            "AND type != 'trigger'", (self.table,)).fetchone()
        if row:
            raise FileProblem(f"{self.table!r} in the database is a {row[0]}, not a table")
        module = self.store.virtual_module(self.table)
        if module:
            raise FileProblem(f"{self.table!r} in the database is a virtual table (USING "
                              f"{module}), which cannot take the {IMPORT_ID} column every "
                              f"imported table has; import into another table (set table) "
                              f"and copy the rows over with SQL")

    def _bind(self, fields: list[str]) -> None:
        self._check_width(len(fields))
        for pos in range(len(self.columns), len(fields)):
            name = self.namer.name(fields[pos], pos + 1)
            key = fold(name)
            explicit = self.types.get(key)
            if key in map(fold, self.generated):
                raise FileProblem(
                    f"column {fields[pos]!r} (column {pos + 1} of the file) is a generated "
                    f"column of table {self.table}, computed by the database from others: "
                    f"no file can fill it; leave it out of the file, or import into another "
                    f"table (set table)")
            if key in self.existing:
                name, level = self.existing[key]
                column = Column(name, explicit, level, True)
                if explicit and wider(explicit, level) != explicit:
                    self.log(f"column {name} is {level} in table {self.table}; values are "
                             f"checked against types.{name} = {explicit} all the same")
            else:
                column = Column(name, explicit, explicit or "empty", False)
            if not explicit and column.level != "text":
                self._counts[pos] = CellCount(column.level if column.in_table else "empty")
            column.hint = self.hints.get(key, "empty")
            if key in self.pk:
                self.pk_index.append(pos)
            self.columns.append(column)
        for note in self.namer.notes:
            if note not in self.namer.damaged:  # said as a warning at the end
                self.log(note)
        self.warnings.extend(self.namer.damaged)
        self.namer.notes.clear()
        self.namer.damaged.clear()
        self._check_width()
        if fields and not self.reader.fields_grow:
            self._check_pk()

    def _missing_pk(self) -> list[str]:
        names = {fold(c.name) for c in self.columns}
        return [p for p in self._pk_given if fold(p) not in names]

    def _check_pk(self) -> None:
        missing = self._missing_pk()
        if missing:
            raise FileProblem(no_key(missing[0], [c.name for c in self.columns[:20]],
                                     records=self.reader.fields_grow))

    def _check_width(self, fields: int | None = None) -> None:
        """Refuse a file wider than a table can be, before SQLite does in its own words.
        Given the file's field count, before naming them: a header of millions of fields
        then fails at once, without naming (and logging) each of them first."""
        limit = self.store.conn.getlimit(sqlite3.SQLITE_LIMIT_COLUMN)
        if fields is not None:
            # Each field is a column of its own beside _import_id (one named so is renamed).
            if fields + 1 > limit:
                note = f" ({self.reader.wider_note})" if self.reader.wider_note else ""
                raise FileProblem(too_wide(f"{fields:,} columns{note}", limit))
            return
        new = sum(not c.in_table for c in self.columns)
        total = len(self.existing) + new + (fold(IMPORT_ID) not in self.existing)
        if total <= limit:
            return
        have = f"{len(self.columns):,} columns"
        if self.existing:
            have += f" ({new:,} of them new to table {self.table}, which has {len(self.existing):,})"
        raise FileProblem(too_wide(have, limit))

    def start(self) -> None:
        """Name the columns known up front (a CSV header): logs renames, checks the pk."""
        if self.reader.fields:
            self._bind(self.reader.fields)

    # -- one batch ----------------------------------------------------------------------
    def write(self, batch: Batch) -> None:
        if batch.bad:
            self._reject(batch.bad)
        if len(self.columns) < batch.width:
            self._bind(self.reader.fields[:batch.width])
        rows = batch.rows
        if not rows:
            return
        lines: list[int] | None = None
        drop = self._unfit(rows)
        if drop:
            lines = self.reader.line_numbers(batch)
            self._reject([BadRow(lines[j], why, self.reader.raw(rows[j]))
                          for j, why in sorted(drop.items())])
            keep = [j for j in range(len(rows)) if j not in drop]
            rows, lines = [rows[j] for j in keep], [lines[j] for j in keep]
            if not rows:
                return

        def line_numbers() -> list[int]:
            return lines if lines is not None else self.reader.line_numbers(batch)

        flat = flat_values(rows)
        changes = self._scan(rows, flat, line_numbers)
        if changes or self.sql is None:
            self._apply(changes, rows, line_numbers)
        elif self._sql_width != len(self.columns):
            self._prepare()  # new keys, all empty so far
        self._insert(rows, flat, line_numbers)
        self.written |= self._filled

    def _unfit(self, rows: list[Any]) -> dict[int, str]:
        """Rows to set aside, with why: an empty key, a value that does not fit a set type."""
        drop: dict[int, str] = {}
        if len(self.pk_index) < len(self.pk):
            # A JSON key not seen yet: these records have no key, as if it were null (a
            # file where no record has it fails at the end, see _check_pk).
            why = f"the primary key {self._missing_pk()[0]} is empty"
            return dict.fromkeys(range(len(rows)), why)
        empty = "" if self.text else None
        for i in self.pk_index:
            values = list(map(itemgetter(i), rows))
            if empty in values:
                name = self.columns[i].name
                for j, v in enumerate(values):
                    if v == empty or v is None:
                        drop.setdefault(j, f"the primary key {name} is empty")
        for i, c in enumerate(self.columns):
            if c.explicit and c.explicit != "text":
                values = list(map(itemgetter(i), rows))
                misfits = misfits_text if self.text else misfits_values
                for j in misfits(values, c.explicit):
                    shown = printable(repr(values[j]), limit=60)
                    drop.setdefault(j, f"{c.name}: {shown} is not {_TYPE_WORDS[c.explicit]} "
                                       f"(types.{c.name} = {c.explicit})")
        return drop

    def _scan(self, rows: list[Any], flat: list[Any],
              line_numbers: Callable[[], list[int]]) -> dict[int, str]:
        """Columns whose type must widen for these rows: index -> new type. ``flat`` is
        the rows' values in one list (see :func:`.inserts.flat_values`)."""
        width = len(rows[0])
        changes: dict[int, str] = {}
        self._filled = set()
        todo = []  # (index, column, settled): the columns whose values must be looked at
        for i, c in enumerate(self.columns):
            if c.explicit and c.in_table and wider(c.explicit, c.level) != c.level:
                changes[i] = c.explicit  # the job asks for a wider type than the table has
            settled = bool(c.explicit) or (c.level == "text" and c.hint == "empty")
            if settled and (self.text or i in self.convert):
                if i in self._counts:  # text already, because of a few cells so far
                    values = flat[i::width]
                    self._count(i, values, scan_text(values, "empty") if self.text
                                else scan_values(values, "empty")[0], line_numbers)
                continue
            todo.append((i, c, settled))
        for i, c, settled in todo:
            values = flat[i::width]
            if self.text:
                new = scan_text(values, c.level)
            else:
                new, convert = scan_values(values, "text" if settled else wider(c.level, c.hint))
                if convert:
                    self.convert.add(i)
            if i in self._counts:
                self._count(i, values, new, line_numbers)
            if settled:
                continue
            if i not in self.written and (any(values) if self.text else
                                          values.count(None) < len(values)):
                self._filled.add(i)
            new = wider(new, c.hint)
            if new == "real" and self._rounds(i, c, values, line_numbers):
                new = "text"
                if not self.text:  # its floats as Python writes them, not SQLite's 15 digits
                    self.convert.add(i)
            if new != c.level:
                changes[i] = new
        return changes

    def _rounds(self, i: int, c: Column, values: list[Any],
                line_numbers: Callable[[], list[int]]) -> bool:
        """Whether column ``i``, about to be (or being) real, holds a whole number that a
        REAL would round (see :mod:`.bigints`): in this batch, or in the table's rows
        (this file's earlier batches, earlier files) when it turns from integer now."""
        j = first_big(values, text=self.text)
        if j is not None:
            example = f"line {line_numbers()[j]:,}: {values[j]}"
        elif c.level == "integer" and c.in_table:
            big = table_has_big(self.store.conn, self.table, c.name)
            if big is None:
                return False
            example = f"{big} in table {self.table}"
        else:
            return False
        self._rounding.setdefault(i, example)
        return True

    def _count(self, i: int, values: list[Any], scanned: str,
               line_numbers: Callable[[], list[int]]) -> None:
        """Count column ``i``'s numbers and text cells in a batch the type scan found
        ``scanned``: cell by cell only if it found text."""
        count = self._counts[i]
        empty = "" if self.text else None
        if scanned != "text":
            count.numbers += len(values) - values.count(empty)
            count.level = wider(count.level, scanned)
            return
        classify = classify_text if self.text else classify_value
        for j, value in enumerate(values):
            kind = classify(value)
            if kind == "text":
                count.texts += 1
                if len(count.examples) < EXAMPLES:
                    count.examples.append(f"line {line_numbers()[j]:,}: {str(value)[:40]!r}")
                if count.texts > FEW_CELLS:
                    # Plainly text: stop counting. A number column of the table still
                    # changes type, which is said all the same.
                    del self._counts[i]
                    if count.was != "empty":
                        self._uncounted[i] = count
                    return
            elif kind != "empty":
                count.numbers += 1
                count.level = wider(count.level, kind)

    # -- schema changes -----------------------------------------------------------------
    def _apply(self, changes: dict[int, str], rows: list[Any],
               line_numbers: Callable[[], list[int]], *,
               firsts: dict[int, dict[str, list]] | None = None,
               order: list[str] | None = None) -> None:
        """Change the table for ``changes`` (index -> new type). ``firsts`` and ``order``
        come from another part of the file (see :meth:`absorb`): where a column first
        held each type, and the order in which new columns showed their first value."""
        self._note_firsts(changes, rows, line_numbers)
        widen: dict[str, str] = {}
        for i, new in changes.items():
            c = self.columns[i]
            if c.in_table:
                # Numbers this file wrote would come back respelled: CSV's ("1.50" -> "1.5"),
                # and JSON's too, as SQLite writes a REAL as text with 15 digits only.
                if c.level == "real" and new == "text" and i in self.written:
                    learned = {x.name: wider(x.level, changes.get(j, x.level))
                               for j, x in enumerate(self.columns) if not x.explicit}
                    raise Restart(f"column {c.name} turns out to hold text "
                                  f"({self._example(i, c.level, rows, line_numbers, firsts)})",
                                  types=learned)
                self._check_rebuild(c.name, c.level, new)
                widen[c.name] = new
                why = (f"types.{c.name} = {c.explicit}" if c.explicit
                       else self._example(i, c.level, rows, line_numbers, firsts))
                self.log(f"column {c.name}: {c.level} -> {new} ({why})")
            c.level, c.hint = new, "empty"
        wanted = [c for c in self.columns if not c.in_table and (c.level != "empty" or
                                                                 fold(c.name) in self.pk)]
        if order:  # as the other part's table has them: the order they first held a value
            rank = {name: n for n, name in enumerate(order)}
            wanted.sort(key=lambda c: rank.get(c.name, len(rank)))
        if not self.existing:
            spec = {c.name: sql_type(c.level) for c in wanted}
            spec[IMPORT_ID] = "INTEGER"
            pk_names = [self.columns[i].name for i in self.pk_index]
            pk = None if not pk_names else pk_names[0] if len(pk_names) == 1 else tuple(pk_names)
            self.store.create_table(self.table, spec, pk=pk)
        else:
            if fold(IMPORT_ID) not in self.existing:
                self.store.add_column(self.table, IMPORT_ID, "INTEGER")
            for c in wanted:
                self.store.add_column(self.table, c.name, sql_type(c.level))
            if widen:
                self.store.change_types(self.table, {n: sql_type(t) for n, t in widen.items()})
        if self.mode == "upsert" and self.sql is None:
            self._ensure_conflict_target()
        self.existing = self._table_columns()
        for c in self.columns:
            c.in_table = fold(c.name) in self.existing
        self._prepare()
        if self.mode == "upsert":
            self.store.keep_replaced(self.table, [n for n, _ in self.existing.values()])

    def _check_rebuild(self, name: str, old: str, new: str) -> None:
        """Refuse to change a column's type where the rebuild (sqlite-utils' transform)
        would break the table: it copies rows by rowid, which a WITHOUT ROWID table has not,
        and would not make the table WITHOUT ROWID again; it drops generated columns."""
        if self.store.without_rowid(self.table):
            raise FileProblem(no_rebuild(name, self.table, old, new))
        if self.generated:
            raise FileProblem(no_rebuild(name, self.table, old, new, what=(
                f"a table with generated columns ({', '.join(self.generated)})")))

    def _example(self, i: int, level: str, rows: list[Any],
                 line_numbers: Callable[[], list[int]],
                 firsts: dict[int, dict[str, list]] | None = None) -> str:
        if firsts:
            found = [(line, value) for kind, (line, value) in firsts.get(i, {}).items()
                     if wider(kind, level) != level]
            if found:
                line, value = min(found)
                return f"line {line:,} has {value!r}"
        classify = classify_text if self.text else classify_value
        for j, row in enumerate(rows):
            if wider(classify(row[i]), level) != level:
                return f"line {line_numbers()[j]:,} has {str(row[i])[:40]!r}"
        if i in self._rounding:
            return f"{self._rounding[i]}, a whole number a REAL column would round"
        return "learned from an earlier pass"

    def _note_firsts(self, changes: dict[int, str], rows: list[Any],
                     line_numbers: Callable[[], list[int]]) -> None:
        """Where each column first held a value of a type wider than it had (for the log of
        a file read in parts, see :meth:`absorb`): looked for only when a type changes."""
        if not rows or not self.note_firsts:
            return
        classify = classify_text if self.text else classify_value
        for i in changes:
            level, seen = self.columns[i].level, self.firsts.setdefault(i, {})
            for j, row in enumerate(rows):
                kind = classify(row[i])
                if kind not in seen and wider(kind, level) != level:
                    seen[kind] = [line_numbers()[j], str(row[i])[:40]]

    # -- a file read in two parts at once (see split.py) --------------------------------
    def summary(self) -> dict[str, Any]:
        """What :meth:`absorb` needs of the writer of a later part, as JSON values."""
        counts = {**self._counts, **self._uncounted}
        return {"rows": self.rows, "rejected": self.rejected, "written": sorted(self.written),
                "levels": [c.level for c in self.columns],
                "firsts": {str(i): f for i, f in self.firsts.items()},
                "counts": {str(i): {"level": c.level, "numbers": c.numbers, "texts": c.texts,
                                    "examples": c.examples} for i, c in counts.items()}}

    def absorb(self, part: dict[str, Any], part_columns: list[tuple[str, str]]) -> None:
        """Take in a later part of the file, written by another writer into a table of
        another database with ``part_columns`` (name, declared type), as if this writer had
        read it: the column types (the table changes as it would have), the cell counts
        behind warnings, the row counts. Raises :class:`Restart` where the part's table
        holds numbers that the whole file makes text (they would lose their spelling)."""
        levels = part["levels"]
        declared = {fold(n): type_of_declared(t or "") for n, t in part_columns}
        finals = [wider(c.level, levels[i]) for i, c in enumerate(self.columns)]
        for i, c in enumerate(self.columns):
            if finals[i] == "text" and declared.get(fold(c.name)) == "real":
                learned = {x.name: finals[j] for j, x in enumerate(self.columns)
                           if not x.explicit}
                raise Restart(f"column {c.name} holds text in one part of the file and "
                              f"numbers in another", types=learned)
        for key, theirs in part["counts"].items():
            mine = self._counts.get(int(key))
            if mine is None:
                continue  # not counted here, or no longer
            mine.numbers += theirs["numbers"]
            mine.texts += theirs["texts"]
            mine.level = wider(mine.level, theirs["level"])
            mine.examples = (mine.examples + theirs["examples"])[:EXAMPLES]
            if mine.texts > FEW_CELLS:
                del self._counts[int(key)]
                if mine.was != "empty":
                    self._uncounted[int(key)] = mine
        self.written |= set(part["written"])
        self.rows += part["rows"]
        self.rejected += part["rejected"]
        if not part["rows"]:
            return
        changes = {i: new for i, new in enumerate(finals) if new != self.columns[i].level}
        if changes or self.sql is None:
            firsts = {int(k): v for k, v in part["firsts"].items()}
            self._apply(changes, [], list, firsts=firsts, order=[n for n, _ in part_columns])

    def _reject(self, rows: list[BadRow]) -> None:
        if self.on_bad == "fail":
            first = rows[0]
            raise FileProblem(f"{first.reason} (on_bad_rows = \"fail\")", line=first.line)
        self._reject_to(rows)
        self.rejected += len(rows)

    def finish(self) -> None:
        """Columns that never held a value still belong to the table: add them as text.
        Say which columns a few cells turned to text."""
        if self.columns:  # no record at all: nothing lacked a key
            self._check_pk()
        counts = {**self._counts, **self._uncounted}
        for i in sorted(counts):
            if self.columns[i].level == "text":
                message = counts[i].message(self.columns[i].name, self.table)
                if message:
                    self.widened.append(message)
        for i, example in sorted(self._rounding.items()):
            self.widened.append(rounding_warning(self.columns[i].name, example))
        names = {fold(c.name) for c in self.columns} | set(self.existing)
        for key in self._types_set:
            if fold(key) not in names:
                listed = ", ".join(c.name for c in self.columns[:20])
                self.warnings.append(f"types.{key} names no column of the file or of table "
                                     f"{self.table} (its columns: {listed}); the setting had "
                                     f"no effect")
        if not self.existing:
            return
        missing = [c for c in self.columns if fold(c.name) not in self.existing]
        for c in missing:
            self.store.add_column(self.table, c.name, "TEXT")
        if missing:
            self.existing = self._table_columns()
