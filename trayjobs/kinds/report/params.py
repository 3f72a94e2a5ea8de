"""What a report job is made of: a title, a period, sections, output formats.

Everything that can be checked without opening a database is checked here, at
load time: each query is one SELECT, the period is known, the formats are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from ..base import KindParams, empty_dict, empty_list
from .periods import PERIOD_NAMES, check_period
from .readonly import QueryRefused, check_select

__all__ = ["SectionParams", "ReportParams", "BUILTINS", "resolve_database"]

BUILTINS = {"job-activity": "Job activity", "imported-data": "Imported data"}
ColumnFormat = Literal["number", "duration", "size", "percent", "text"]
Show = Literal["table", "bar", "line", "figure"]


class SectionParams(KindParams):
    title: str = Field(min_length=1, max_length=200,
                       description="Heading of the section; also names its CSV file.")
    query: str = Field(
        description="One SELECT (or WITH ... SELECT) statement. It may use the period as "
                    ":start and :end (ISO dates, both included) or :start_ts and :end_ts "
                    "(epoch seconds, end excluded), and :days.")
    show: Show = Field(
        "table", description="How to present the rows: table; bar or line chart (first column "
                             "along the axis, each further column a series); figure (the "
                             "first row's values, large).")
    note: str = Field("", max_length=2000, description="A sentence shown under the heading.")
    database: str | None = Field(
        None, description="Read this section from another database than the report's: a file "
                          "path, \"imports\" or \"runs\" (trayjobs' run history: query "
                          "the view runs_v1).")
    stack: bool = Field(False, description="Bar charts: stack the series instead of placing "
                                           "them side by side.")
    max_rows: int = Field(200, ge=1, le=100_000,
                          description="Rows shown in the HTML and PDF table (the PDF prints "
                                      "1,000 at most); the CSV holds every row, up to "
                                      "csv_max_rows.")
    csv_max_rows: int = Field(
        1_000_000, ge=1, le=1_000_000_000,
        description="Rows read from the query at most, for the CSV file and the counts: a query "
                    "that gives more (one that never ends, say) stops there, and the report "
                    "and the run say so, instead of filling the disk.")
    format: dict[str, ColumnFormat] = Field(
        default_factory=empty_dict,
        description="How to show columns, by name: number, duration (seconds), size (bytes), "
                    "percent (0-1) or text, e.g. { took = \"duration\" }. Names are the "
                    "query's, exactly; one that names no column is a warning of the run.")

    @model_validator(mode="after")
    def _query_reads_only(self) -> "SectionParams":
        try:
            check_select(self.query)
        except QueryRefused as exc:
            raise ValueError(f"section {self.title!r}: {exc}") from None
        return self


class ReportParams(KindParams):
    builtin: Literal["job-activity", "imported-data"] | None = Field(
        None, description="A ready-made report: job-activity (runs, failures, retries and "
                          "durations per job) or imported-data (tables, row counts, imports, "
                          "rejected rows). Sections you add come after its own.")
    title: str | None = Field(None, max_length=200,
                              description="The report's title; default: the built-in report's "
                                          "name or the job's name.")
    database: str = Field(
        "imports", description="The database the sections read, opened read-only: a file path "
                               "(relative paths are under trayjobs' data folder), \"imports\" "
                               "(the import database) or \"runs\" (trayjobs' run history: "
                               "query the view runs_v1, whose columns stay across upgrades).")
    period: str = Field("last_7_days",
                        description="The period the queries see: " + ", ".join(PERIOD_NAMES) + ".")
    formats: list[Literal["html", "csv", "pdf"]] = Field(
        default_factory=lambda: ["html", "csv", "pdf"], min_length=1,
        description="Files to write: html (charts embedded), csv (one per section), pdf.")
    keep: int = Field(10, ge=1, le=10_000,
                      description="How many past reports of this job to keep; older files are "
                                  "deleted. A *-latest copy of the newest always exists.")
    csv_formula_guard: bool = Field(
        True, description="Put a ' before CSV text cells that start with =, +, -, @, a tab or "
                          "a carriage return, so a spreadsheet shows them instead of running "
                          "them as formulas. Numbers, and text that is just a number, are "
                          "left as they are.")
    csv_bom: bool = Field(True, description="Start CSV files with a UTF-8 byte order mark, so "
                                            "Excel reads accented and non-Latin text right.")
    template: str | None = Field(
        None, description="A Jinja2 HTML template of your own (sandboxed, HTML-escaped), "
                          "relative to the config folder; it may extend \"default.html.j2\".")
    sections: list[SectionParams] = Field(
        default_factory=empty_list, description="The report's parts, in order: each a query and how "
                                          "to show it.")

    @field_validator("period")
    @classmethod
    def _period_known(cls, v: str) -> str:
        return check_period(v)

    @field_validator("formats")
    @classmethod
    def _formats_unique(cls, v: list[str]) -> list[str]:
        return list(dict.fromkeys(v))

    @model_validator(mode="after")
    def _has_content(self) -> "ReportParams":
        if not self.builtin and not self.sections:
            raise ValueError("a report needs sections ([[jobs.NAME.sections]] with a title and "
                             "a query) or a built-in report: builtin = \"job-activity\" or "
                             "\"imported-data\"")
        return self

    def display_title(self, job: str) -> str:
        return self.title or BUILTINS.get(self.builtin or "", "") or job


def resolve_database(spec: str, home) -> Path:
    """The file a ``database`` value names: "imports", "runs", or a path."""
    key = spec.strip()
    if key.lower() in ("imports", "data"):
        return home.default_data_db
    if key.lower() == "runs":
        return home.runs_db
    path = Path(key).expanduser()
    return path if path.is_absolute() else home.data_dir / path
