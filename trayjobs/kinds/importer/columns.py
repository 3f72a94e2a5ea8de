"""A column as an import sees it, and what the user is told about its type.

:class:`Column` is a column of the table being written, with the type this file has
shown so far; :class:`CellCount` counts the numbers and text cells of a column that
may turn to text because of a few cells; the functions below say, in words, why a
file's column or key cannot be what the file asks for.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .schema import IMPORT_ID, sql_type, wider

__all__ = ["Column", "CellCount", "FEW_CELLS", "EXAMPLES", "no_key", "no_rebuild",
           "rounding_warning", "too_wide"]

#: At most this many text cells among numbers make a column's turn to text a warning;
#: more, and the column simply holds text.
FEW_CELLS = 10
#: Cells shown as examples of the text a number column holds.
EXAMPLES = 3


@dataclass
class Column:
    name: str  # as spelled in the table
    explicit: str | None  # type set by the job
    level: str  # current type: the table's, or what this file showed so far
    in_table: bool
    hint: str = "empty"  # type learned by an earlier pass over the file


@dataclass
class CellCount:
    """Numbers and text cells seen in a column that was not text when this file began."""

    was: str  # the column's type in the table before this file, or "empty" if new
    level: str = "empty"  # the widest number type among its cells
    numbers: int = 0
    texts: int = 0
    examples: list[str] = field(default_factory=list)

    def message(self, name: str, table: str) -> str | None:
        """A warning if the column ended as text because of a few cells among numbers, or
        if an existing number column of the table changed to text; else None."""
        new = self.was == "empty"
        if not self.texts or (new and (self.texts > FEW_CELLS or self.numbers <= self.texts)):
            return None
        number = self.level if new else wider(self.level, self.was)
        if self.texts > FEW_CELLS:
            cells = f"more than {FEW_CELLS} cells ({'; '.join(self.examples)})"
        else:
            # (An existing column's file may hold no number of its own: "among 0 numbers".)
            among = (f" among {self.numbers:,} number{'s' * (self.numbers != 1)}"
                     if self.numbers else "")
            cells = (f"{self.texts} cell{'s' * (self.texts != 1)} "
                     f"({'; '.join(self.examples)}){among}")
        what = (f"column {name} is text, not {number}," if new else
                f"column {name} of table {table} changed from {self.was} to text")
        return (f"{what} because of {cells}; set types.{name} = \"{number}\" to set such rows "
                f"aside, or \"text\" to keep them as text without this warning")


def no_key(name: str, columns: list[str], *, records: bool) -> str:
    """The primary key ``name`` is not among ``columns`` (the keys of JSON ``records``)."""
    listed = ", ".join(columns)
    if records:
        return f"no record has the key {name!r} for the primary key (pk); the keys are: {listed}"
    return f"there is no column {name!r} for the primary key (pk); the columns are: {listed}"


def too_wide(have: str, limit: int) -> str:
    """A file with ``have`` (its columns, in words) is wider than a table ``limit`` wide."""
    return (f"the file has {have}: more than the {limit:,} a SQLite table can hold, "
            f"{IMPORT_ID} included; split the file into parts of at most {limit - 1:,} "
            f"columns, each into its own table, or leave out the columns you do not need")


def no_rebuild(name: str, table: str, old: str, new: str,
               what: str = "a WITHOUT ROWID table") -> str:
    """Why a column of ``what`` cannot change type: the rebuild (sqlite-utils' transform)
    copies rows by rowid, which a WITHOUT ROWID table has not, and would not make the
    table WITHOUT ROWID again; it would drop a table's generated columns."""
    return (f"column {name} of table {table} would have to change from {old} to {new}, "
            f"which means rebuilding the table, and {what} cannot be rebuilt "
            f"by the import; set types.{name} = \"{old}\" to set the rows that do not fit "
            f"aside, or change the column's type yourself (make the table again with "
            f"{name} {sql_type(new)} and copy its rows over)")


def rounding_warning(name: str, example: str) -> str:
    return (f"column {name} is text, not real: it holds whole numbers too large for a REAL "
            f"to keep exactly ({example}) beside numbers with a fraction; set "
            f"types.{name} = \"real\" to store them rounded, or \"text\" to keep them as "
            f"text without this warning")
