"""The built-in reports, which work on a fresh install without configuration.

Their sections are ordinary sections (the same read-only path, the same
rendering). "Imported data" is built from what the database holds: the user
tables, and the import ledger (``_imports``) and quarantine (``_rejected``)
when they exist, with whatever columns they have.
"""

from __future__ import annotations

from .params import SectionParams
from .readonly import NoDatabase, ReadOnlyDatabase, quote_ident

__all__ = ["job_activity", "imported_data", "RUNS_WINDOW"]

RUNS_WINDOW = "created_at >= :start_ts AND created_at < :end_ts"

_FIRST_LINE = "CASE WHEN instr(error, char(10)) > 0 THEN substr(error, 1, instr(error, char(10)) - 1) ELSE error END"

JOB_ACTIVITY = [
    SectionParams(
        title="Overview", show="figure", database="runs",
        query=f"""
SELECT count(*) AS "Runs",
       sum(state = 'succeeded') AS "Succeeded",
       sum(state = 'failed') AS "Failed",
       sum(attempt > 1) AS "Retried",
       sum(CASE WHEN finished_at >= started_at THEN finished_at - started_at END) AS "Time spent"
FROM runs_v1 WHERE {RUNS_WINDOW}
HAVING count(*) > 0""",
        format={"Time spent": "duration"}),
    SectionParams(
        title="Runs per day", show="bar", stack=True, database="runs",
        note="Runs started each day, by how they ended.",
        query=f"""
WITH RECURSIVE
  per_day AS (
    SELECT date(created_at, 'unixepoch', 'localtime') AS day,
           count(*) AS n, sum(state = 'succeeded') AS ok, sum(state = 'failed') AS failed
    FROM runs_v1 WHERE {RUNS_WINDOW} GROUP BY 1),
  span(lo, hi) AS (
    SELECT CASE WHEN :days <= 400 THEN :start ELSE (SELECT min(day) FROM per_day) END,
           CASE WHEN :days <= 400 THEN min(:end, date('now', 'localtime'))
                ELSE (SELECT max(day) FROM per_day) END),
  days(day) AS (
    SELECT lo FROM span WHERE EXISTS (SELECT 1 FROM per_day)
    UNION ALL SELECT date(day, '+1 day') FROM days, span WHERE day < hi)
SELECT days.day AS "Day", coalesce(ok, 0) AS "Succeeded", coalesce(failed, 0) AS "Failed",
       coalesce(n - ok - failed, 0) AS "Other"
FROM days LEFT JOIN per_day USING (day) ORDER BY 1"""),
    SectionParams(
        title="Per job", database="runs", max_rows=500,
        note="Retried: runs that needed more than one attempt; durations of finished runs.",
        query=f"""
SELECT job AS "Job", max(kind) AS "Kind", count(*) AS "Runs",
       sum(state = 'succeeded') AS "Succeeded", sum(state = 'failed') AS "Failed",
       sum(state IN ('cancelled', 'interrupted')) AS "Stopped",
       sum(attempt > 1) AS "Retried", sum(max(attempt - 1, 0)) AS "Retries",
       avg(CASE WHEN finished_at >= started_at THEN finished_at - started_at END) AS "Average",
       max(CASE WHEN finished_at >= started_at THEN finished_at - started_at END) AS "Longest",
       datetime(max(created_at), 'unixepoch', 'localtime') AS "Last run"
FROM runs_v1 WHERE {RUNS_WINDOW}
GROUP BY job ORDER BY count(*) DESC, job""",
        format={"Average": "duration", "Longest": "duration"}),
    SectionParams(
        title="Recent failures", database="runs", max_rows=25,
        query=f"""
SELECT datetime(coalesce(finished_at, updated_at, created_at), 'unixepoch', 'localtime') AS "When",
       job AS "Job", id AS "Run", attempt AS "Attempts", {_FIRST_LINE} AS "Error"
FROM runs_v1 WHERE state = 'failed' AND {RUNS_WINDOW}
ORDER BY coalesce(finished_at, updated_at, created_at) DESC LIMIT 25"""),
]


def job_activity(db: ReadOnlyDatabase | NoDatabase) -> tuple[list[SectionParams], str | None]:
    """The sections of "Job activity", or a note when there is no history to read yet."""
    if (isinstance(db, NoDatabase) or not db.has_table("runs_v1")
            or db.execute("SELECT 1 FROM runs_v1 LIMIT 1").fetchone() is None):
        return [], "No data yet: trayjobs has not recorded any runs."
    return list(JOB_ACTIVITY), None


_TABLE_COLS = ("table", "table_name", "target", "target_table", "dest_table")
_TIME_COLS = ("imported_at", "finished_at", "created_at", "started_at", "rejected_at", "ts",
              "at", "time", "timestamp", "date")
_MAX_TABLES = 400  # SQLite allows 500 terms in one compound SELECT


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _pick(columns: list[str], names: tuple[str, ...]) -> str | None:
    lower = {c.lower(): c for c in columns}
    return next((lower[n] for n in names if n in lower), None)


def _when(col: str) -> str:
    """A time column shown as local time, whether it holds epoch seconds or text."""
    c = quote_ident(col)
    return (f"CASE WHEN typeof({c}) IN ('integer', 'real') "
            f"THEN datetime({c}, 'unixepoch', 'localtime') ELSE {c} END")


def _in_period(col: str) -> str:
    c = quote_ident(col)
    return (f"(CASE WHEN typeof({c}) IN ('integer', 'real') THEN {c} >= :start_ts AND "
            f"{c} < :end_ts ELSE date({c}) BETWEEN :start AND :end END)")


_READABLE = ("file", "table", "table_name", "rows", "rejected", "line", "reason", "raw", "job",
             "run_id")


def _label(col: str, time: str | None) -> str:
    if col == time:
        return "When"
    return {"run_id": "Run", "raw": "Raw text"}.get(col, col.replace("_", " ").capitalize())


def _side_table(db: ReadOnlyDatabase, name: str, title: str, note: str, max_rows: int,
                database: str) -> tuple[SectionParams, str | None, str | None]:
    """A section listing a ledger table as it is; its table and time columns, if any."""
    cols = db.columns(name)
    tcol, time = _pick(cols, _TABLE_COLS), _pick(cols, _TIME_COLS)
    # A person wants when, which file, where to and how many, not hashes and inode times:
    # show the familiar columns when the ledger has them, else everything it has.
    shown = [c for c in _READABLE if c in cols and c != time]
    shown = ([time] if time else []) + (shown or [c for c in cols if c != time])
    select = ", ".join(f"{_when(c)} AS {quote_ident(_label(c, time))}" if c == time
                       else f"{quote_ident(c)} AS {quote_ident(_label(c, time))}" for c in shown)
    where = f" WHERE {_in_period(time)}" if time else ""
    order = f" ORDER BY {quote_ident(time)} DESC" if time else ""
    if not time:
        note += " The table has no time column, so this lists all of it."
    section = SectionParams(title=title, note=note, max_rows=max_rows, database=database,
                            query=f"SELECT {select} FROM {quote_ident(name)}{where}{order}")
    return section, tcol, time


#: The importer's own tables beside the imported ones.
_SIDE_TABLES = ("_imports", "_rejected", "_import_replaced")


def imported_data(db: ReadOnlyDatabase | NoDatabase,
                  database: str) -> tuple[list[SectionParams], str | None]:
    """The sections of "Imported data" for the database ``db``."""
    if isinstance(db, NoDatabase):
        return [], f"No data yet: nothing has been imported ({db.path} does not exist yet)."
    everything = db.tables()
    q_ledger, q_rejected = quote_ident("_imports"), quote_ident("_rejected")
    tables = [t for t in everything if not t.startswith("_")]
    ledger = "_imports" if "_imports" in everything else None
    rejected = "_rejected" if "_rejected" in everything else None
    if not tables and not ledger and not rejected:
        return [], f"No data yet: the database {db.path} holds no tables."

    extra: list[SectionParams] = []
    imports_t = imports_time = rej_t = None
    if ledger:
        sec, imports_t, imports_time = _side_table(
            db, ledger, "Imports", "Files imported during the period.", 50, database)
        extra.append(sec)
        if imports_t:
            # A table whose name starts with "_" is left out as private, unless an import
            # job filled it (`table = "_staging"`): it was counted nowhere.
            named = {r[0] for r in db.execute(
                f"SELECT DISTINCT {quote_ident(imports_t)} FROM {q_ledger}")}
            tables = [t for t in everything
                      if t in tables or (t in named and t not in _SIDE_TABLES)]
    if rejected:
        sec, rej_t, _ = _side_table(
            db, rejected, "Rejected rows",
            "Rows set aside during the period, with where they came from and why.", 100,
            database)
        extra.append(sec)

    counted = tables[:_MAX_TABLES]
    terms = []
    for t in counted:
        cells = [f"{_lit(t)} AS \"Table\"", f"(SELECT count(*) FROM {quote_ident(t)}) AS \"Rows\"",
                 f"{len(db.columns(t))} AS \"Columns\""]
        if imports_t and imports_time:
            cells.append(f"(SELECT {_when('last')} FROM (SELECT max({quote_ident(imports_time)}) "
                         f"AS last FROM {q_ledger} WHERE {quote_ident(imports_t)} = {_lit(t)})) "
                         f"AS \"Last import\"")
        if rej_t:
            cells.append(f"(SELECT count(*) FROM {q_rejected} WHERE {quote_ident(rej_t)} = {_lit(t)})"
                         f" AS \"Rejected\"")
        terms.append("SELECT " + ", ".join(cells))
    sections: list[SectionParams] = []
    figures = [f"{len(tables)} AS \"Tables\""]
    if terms:
        # Every table's rows, not only those listed: past _MAX_TABLES the total read as
        # that of the first 400 beside a count of them all. A compound SELECT holds at most
        # 500 terms, so the counts are added up in groups.
        counts = [f"SELECT count(*) AS n FROM {quote_ident(t)}" for t in tables]
        groups = [" UNION ALL ".join(counts[i:i + _MAX_TABLES])
                  for i in range(0, len(counts), _MAX_TABLES)]
        total = " + ".join(f"(SELECT sum(n) FROM ({g}))" for g in groups)
        figures.append(f"{total} AS \"Rows\"")
    if ledger:
        where = f" WHERE {_in_period(imports_time)}" if imports_time else ""
        figures.append(f"(SELECT count(*) FROM {q_ledger}{where}) AS \"Imports\"")
    if rejected:
        rej_time = _pick(db.columns(rejected), _TIME_COLS)
        where = f" WHERE {_in_period(rej_time)}" if rej_time else ""
        figures.append(f"(SELECT count(*) FROM {q_rejected}{where}) AS \"Rejected rows\"")
    sections.append(SectionParams(title="Overview", show="figure",
                                  query="SELECT " + ", ".join(figures), database=database))
    if terms:
        more = (f" Only the first {_MAX_TABLES} of {len(tables)} tables are listed."
                if len(tables) > _MAX_TABLES else "")
        sections.append(SectionParams(
            title="Tables", max_rows=_MAX_TABLES, database=database,
            note="Every table with its size now." + more,
            query=" UNION ALL ".join(terms) + " ORDER BY 1"))
    sections += extra
    return sections, None
