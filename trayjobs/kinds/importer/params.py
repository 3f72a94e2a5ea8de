"""The ``import`` job's settings, checked when the config is loaded.

Everything has a default that works for a plain CSV export: detect format,
encoding, delimiter and column types, append to a table named after the file,
set bad rows aside, then move the file to ``processed/`` beside it.
"""

from __future__ import annotations

import codecs
import os
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails

from ...places import danger, problem, refusal
from ..base import KindParams, empty_dict, empty_list

__all__ = ["ImportParams", "LEAVE", "RESERVED_TABLES"]

#: Value of ``processed_dir`` / ``failed_dir`` that keeps files where they are.
LEAVE = "leave"
#: Side tables the importer keeps in the target database.
RESERVED_TABLES = frozenset({"_imports", "_rejected", "_import_replaced"})


class ImportParams(KindParams):
    database: str | None = Field(
        None, description="SQLite database file to import into; a relative path is taken "
                          "in the data folder, `~` is expanded; default: data.db in the data "
                          "folder.")
    table: str | None = Field(
        None, description="Table to import into; default: derived from each file's name "
                          "(`Bank Export-2024.csv` -> `bank_export_2024`).")
    format: Literal["auto", "csv", "tsv", "json", "ndjson", "xlsx", "xls", "ods"] = Field(
        "auto", description="File format; `auto` goes by the extension (.csv, .tsv, .json, "
                            ".ndjson, .jsonl, each optionally .gz; .xlsx, .xlsm, .xls, .ods) "
                            "and then the content.")
    encoding: str = Field(
        "auto", description="Text encoding, e.g. `utf-8` or `cp1252`; `auto` reads byte order "
                            "marks, checks UTF-8 and otherwise detects a legacy code page.")
    delimiter: str | None = Field(
        None, description="CSV field delimiter (one character, `\\t` for tab); default: sniffed "
                          "from the file.")
    quotechar: str | None = Field(
        None, description="CSV quote character; default: sniffed (`\"` almost always); "
                          "an empty string turns quoting off.")
    header: bool = Field(
        True, description="The first CSV/TSV row holds the column names; if false the columns "
                          "are called column_1, column_2, ...")
    sheet: int | str | None = Field(
        None, description="Spreadsheets: the sheet to import, by name (`\"Sales\"`) or number "
                          "(`2` is the second); `\"*\"` imports every non-empty sheet, each "
                          "into its own table named `TABLE_SHEET` (`book_sales`); default: "
                          "the first visible worksheet (hidden and chart sheets are passed over).")
    header_row: int | None = Field(
        None, ge=1, description="Spreadsheets: the row number (as the sheet shows it) that "
                                "holds the column names; rows above it are skipped; default: "
                                "the first row filling more than half as many cells as the "
                                "fullest of the first 20 rows (a title line above the table "
                                "is skipped).")
    mode: Literal["insert", "upsert", "replace"] = Field(
        "insert", description="`insert` appends rows; `upsert` inserts or updates rows by `pk`; "
                              "`replace` empties the table and fills it with this run's files.")
    pk: list[str] = Field(
        default_factory=empty_list, description="Primary key column(s), e.g. \"id\" or [\"year\", \"id\"]: "
                                          "required for `upsert`, and used when the table is "
                                          "created.")
    types: dict[str, Literal["integer", "real", "text"]] = Field(
        default_factory=empty_dict, description="Column types to use instead of detected ones, e.g. "
                                          "`{ zip = \"text\" }`; rows whose value does not fit "
                                          "are rejected; a name that is no column of the file or "
                                          "table is warned about.")
    json_key: str | None = Field(
        None, description="For a JSON object that holds the records in an array, the key of "
                          "that array, or its path through the objects around it "
                          "(`response.data`); default: the object's only array.")
    on_bad_rows: Literal["quarantine", "fail"] = Field(
        "quarantine", description="`quarantine` sets bad rows aside in the `_rejected` table and "
                                  "imports the rest; `fail` fails the file at the first bad row.")
    processed_dir: str = Field(
        "processed", description="Folder imported files are moved to, relative to the file's "
                                 "folder or absolute; `leave` keeps them in place.")
    failed_dir: str = Field(
        "failed", description="Folder failed files are moved to (with a NAME.error.txt beside "
                              "them), relative or absolute; `leave` keeps them in place.")
    allow_dangerous_location: bool = Field(
        False, description="Allow `processed_dir` / `failed_dir` to be /, the home folder "
                           "itself, a folder holding it, or a system folder.")
    reimport: bool = Field(
        False, description="Import a file even if the same content was imported into the "
                           "table before (normally it is skipped as already imported).")
    batch_size: int = Field(
        2000, ge=1, le=100_000, description="Rows written per batch; cancel and progress are "
                                            "checked between batches.")
    preview_rows: int = Field(
        20, ge=1, le=1000, description="Rows a preview (dry run) shows per file.")

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        value = value.strip()
        if value.lower() == "auto":
            return "auto"
        try:
            info = codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown encoding {value!r}; write e.g. 'utf-8', 'cp1252', "
                             f"'latin-1' or 'auto'") from None
        if not getattr(info, "_is_text_encoding", True):
            raise ValueError(f"{value!r} is not a text encoding")
        return info.name

    @field_validator("delimiter")
    @classmethod
    def _one_char_delimiter(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if value in ("\\t", "tab", "TAB"):
            value = "\t"
        if len(value) != 1 or value in "\r\n\"":
            raise ValueError("delimiter must be a single character other than a quote or line "
                             "break, e.g. ',', ';', '|' or '\\t'")
        return value

    @field_validator("quotechar")
    @classmethod
    def _one_char_quote(cls, value: str | None) -> str | None:
        if value is not None and (len(value) > 1 or value in ("\r", "\n")):
            raise ValueError("quotechar must be one character other than a line break, or "
                             "empty for no quoting")
        return value

    @field_validator("sheet", mode="before")
    @classmethod
    def _usable_sheet(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError('sheet is a name, a number from 1, or "*" for every sheet')
        if isinstance(value, int) and value < 1:
            raise ValueError(f"sheets are numbered from 1 (got {value}); or give the name")
        if isinstance(value, str) and not value.strip():
            raise ValueError('sheet must not be empty; give a name, a number or "*"')
        return value

    @field_validator("table")
    @classmethod
    def _usable_table(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if not value:
            raise ValueError("table must not be empty; leave it out to name tables after files")
        if "\0" in value:  # SQLite refuses it in a name: each import of the job would fail
            raise ValueError("a table name cannot hold a NUL character (\\u0000); remove it")
        if value.lower().startswith("sqlite_"):
            raise ValueError("table names starting with 'sqlite_' are reserved by SQLite")
        if value in RESERVED_TABLES:
            raise ValueError(f"{value!r} is one of the importer's own tables")
        return value

    @field_validator("pk", mode="before")
    @classmethod
    def _one_pk(cls, value: Any) -> Any:
        """``pk = "id"``, as a person writes one column (and sqlite-utils takes it)."""
        return [value] if isinstance(value, str) else value

    @field_validator("pk")
    @classmethod
    def _distinct_pk(cls, value: list[str]) -> list[str]:
        cleaned = [v.strip() for v in value]
        if any(not v for v in cleaned):
            raise ValueError("pk column names must not be empty")
        if len({v.lower() for v in cleaned}) != len(cleaned):
            raise ValueError("pk lists a column twice")
        return cleaned

    @field_validator("processed_dir", "failed_dir")
    @classmethod
    def _dir_or_leave(cls, value: str) -> str:
        value = value.strip()
        if value in ("", LEAVE):
            return LEAVE
        if "\0" in value:
            raise ValueError("a folder name cannot hold a NUL character")
        if os.path.isabs(os.path.expandvars(os.path.expanduser(value))):
            why = problem(value)  # a relative one is checked where the files are
            if why:
                raise ValueError(f"{value!r} {why}")
        return value

    @model_validator(mode="after")
    def _safe_dirs(self) -> "ImportParams":
        for key in ("processed_dir", "failed_dir"):
            value = getattr(self, key)
            if self.allow_dangerous_location or value == LEAVE or not os.path.isabs(
                    os.path.expandvars(os.path.expanduser(value))):
                continue
            why = danger(value)
            if why:
                raise refusal(type(self).__name__, key, value, why)
        return self

    @model_validator(mode="after")
    def _consistent(self) -> "ImportParams":
        # Each told as the error of the key to change, so that the message names its line
        # (not the job's header) and the editor shows it under that field.
        problems = []

        def wrong(key: str, message: str) -> None:
            problems.append(InitErrorDetails(type="value_error", loc=(key,),
                                             input=getattr(self, key),
                                             ctx={"error": ValueError(message)}))

        if self.mode == "upsert" and not self.pk:
            wrong("mode", "mode 'upsert' needs pk: the column(s) that identify a row, "
                          "e.g. pk = [\"id\"]")
        lowered: dict[str, str] = {}
        for name in self.types:
            if name.lower() in lowered:
                wrong("types", f"types names a column twice ({lowered[name.lower()]!r} and "
                               f"{name!r}: column names are the same whatever their case); "
                               f"keep one of them")
                break
            lowered[name.lower()] = name
        if self.format in ("json", "ndjson"):
            for key in ("delimiter", "quotechar"):
                if getattr(self, key) is not None:
                    wrong(key, f"{key} applies to CSV/TSV, not to {self.format}: remove it")
        delimiter = self.delimiter or ("\t" if self.format == "tsv" else None)
        if self.quotechar and self.quotechar == delimiter:
            wrong("quotechar", f"quotechar {self.quotechar!r} is also the delimiter: records "
                               f"would run together; set another quotechar, or \"\" for none")
        if self.format in ("csv", "tsv", "json", "ndjson"):
            for key in ("sheet", "header_row"):
                if getattr(self, key) is not None:
                    wrong(key, f"{key} applies to spreadsheets, not to {self.format}: remove "
                               f"it, or set format to \"xlsx\", \"xls\" or \"ods\"")
        if self.header_row is not None and not self.header and self.format not in (
                "csv", "tsv", "json", "ndjson"):
            wrong("header_row", "header_row names the row of column names; with header = "
                                "false there is none: remove one of them")
        if self.json_key is not None and self.format in ("csv", "tsv", "ndjson"):
            wrong("json_key", f"json_key applies to JSON files, not to {self.format}: remove it")
        if problems:
            raise ValidationError.from_exception_data(type(self).__name__, problems)
        return self
