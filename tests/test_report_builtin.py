"""The built-in reports over real data: a run history made through the store, and an
import database with the importer's side tables (or odd versions of them)."""

from __future__ import annotations

import csv
import sqlite3
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from pg_support import ON_POSTGRES
from trayjobs.context import JobContext
from trayjobs.kinds.registry import get_kind
from trayjobs.store.open import open_store

ReportKind = get_kind("report")


def run_report(home, job, **raw):
    ctx = JobContext(run_id=1, job=job, home=home, sink=[].append)
    return ReportKind().run(ctx, ReportKind.parse_params(raw))


def csv_of(result, part: str) -> list[dict]:
    path = next(p for p in result["outputs"] if p.endswith(f"-{part}.csv"))
    with open(path, newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def local_noon(days_back: int) -> float:
    d = date.today() - timedelta(days=days_back)
    return datetime(d.year, d.month, d.day, 12).timestamp()


def add_run(store, job, *, state, days_back, took, attempts=1, error=None):
    run_id = store.create_run(job, kind="demo", trigger="schedule", max_attempts=3)
    for attempt in range(attempts):
        store.claim(run_id)
        final = attempt == attempts - 1
        store.end_attempt(run_id, state=state if final else "retrying",
                          error=error if final else "first try failed")
        if not final:
            store.update_run(run_id, state="queued")
    start = local_noon(days_back)
    store.update_run(run_id, created_at=start, started_at=start + 1,
                     finished_at=start + 1 + took)
    return run_id


@pytest.fixture
def history(home):
    store = open_store(home)
    add_run(store, "backup", state="succeeded", days_back=0, took=30)
    add_run(store, "backup", state="succeeded", days_back=1, took=90, attempts=2)
    add_run(store, "backup", state="failed", days_back=2, took=5, attempts=3,
            error="disk full: <no space>\nTraceback ...")
    add_run(store, "import-bank", state="succeeded", days_back=2, took=12)
    add_run(store, "import-bank", state="cancelled", days_back=6, took=1)
    add_run(store, "backup", state="failed", days_back=9, took=7, error="too old to count")
    store.close()
    return home.runs_db


def test_job_activity_counts_runs_failures_retries_and_durations(home, history):
    result = run_report(home, "activity", builtin="job-activity")
    assert result["summary"].startswith("Job activity: 4 sections")

    overview = csv_of(result, "overview")
    assert overview == [{"Runs": "5", "Succeeded": "3", "Failed": "1", "Retried": "2",
                         "Time spent": str(30.0 + 90 + 5 + 12 + 1)}]

    per_job = {r["Job"]: r for r in csv_of(result, "per-job")}
    assert set(per_job) == {"backup", "import-bank"}  # the 9-day-old run is outside the period
    backup = per_job["backup"]
    assert (backup["Runs"], backup["Succeeded"], backup["Failed"], backup["Retried"],
            backup["Retries"]) == ("3", "2", "1", "2", "3")
    assert float(backup["Average"]) == pytest.approx((30 + 90 + 5) / 3)
    assert float(backup["Longest"]) == 90
    assert per_job["import-bank"]["Stopped"] == "1"

    per_day = csv_of(result, "runs-per-day")
    days = [(date.today() - timedelta(days=b)).isoformat() for b in range(6, -1, -1)]
    assert [r["Day"] for r in per_day] == days  # every day of the period, empty ones too
    counts = {r["Day"]: (int(r["Succeeded"]), int(r["Failed"]), int(r["Other"])) for r in per_day}
    assert counts[days[-1]] == (1, 0, 0) and counts[days[-3]] == (1, 1, 0)
    assert counts[days[0]] == (0, 0, 1) and counts[days[1]] == (0, 0, 0)

    failures = csv_of(result, "recent-failures")
    assert [(f["Job"], f["Attempts"], f["Error"]) for f in failures] == [
        ("backup", "3", "disk full: <no space>")]

    html = Path(result["outputs"][0]).read_text(encoding="utf-8")
    assert "disk full: &lt;no space&gt;" in html and "<no space>" not in html
    assert "1 min 30 s" in html  # the longest backup, as a duration
    assert html.count("<svg") == 1 and html.count('fill="#e15759"') >= 2  # failed bars


def test_job_activity_groups_days_in_local_time(home, monkeypatch):
    monkeypatch.setenv("TZ", "Pacific/Auckland")
    time.tzset()
    try:
        store = open_store(home)
        today = date.today()
        # 00:30 in Auckland (UTC+13 in November) is still yesterday in UTC.
        early = datetime(today.year, today.month, today.day, 0, 30).timestamp()
        run_id = store.create_run("night", kind="demo", trigger="schedule")
        store.update_run(run_id, created_at=early, state="succeeded")
        store.close()
        per_day = csv_of(run_report(home, "activity", builtin="job-activity"), "runs-per-day")
        by_day = {r["Day"]: r["Succeeded"] for r in per_day}
        assert by_day[today.isoformat()] == "1"
        assert by_day[(today - timedelta(days=1)).isoformat()] == "0"
    finally:
        monkeypatch.undo()
        time.tzset()


def test_a_report_reads_a_history_kept_on_postgresql(home, monkeypatch):
    # [cluster] database on a server: the report's SQL is still SQLite's, over runs_v1
    # read through the store into a file of the run's own (removed after it).
    from pg_support import session_server
    from trayjobs.config import load_config
    monkeypatch.delenv("TRAYJOBS_TEST_DATABASE", raising=False)
    server = session_server()
    url = server.new_database()
    try:
        home.config_file.write_text(f'[cluster]\ndatabase = "{url}"\n')
        store = open_store(home, load_config(home.config_file).cluster)
        assert type(store).__name__ == "PgRunStore"
        add_run(store, "backup", state="succeeded", days_back=0, took=30)
        add_run(store, "backup", state="failed", days_back=1, took=5, attempts=2, error="x")
        store.close()
        result = run_report(home, "activity", builtin="job-activity", period="last_7_days",
                            formats=["csv"])
        (overview,) = csv_of(result, "overview")
        assert (overview["Runs"], overview["Succeeded"], overview["Failed"]) == ("2", "1", "1")
        rows = csv_of(run_report(home, "mine", database="runs", period="last_7_days",
                                 formats=["csv"], sections=[{"title": "Slow", "query":
                                     "SELECT job, outcome, duration FROM runs_v1"
                                     " ORDER BY duration DESC LIMIT 1"}]), "slow")
        assert rows == [{"job": "backup", "outcome": "succeeded", "duration": "30.0"}]
        assert not home.runs_db.exists()
    finally:
        server.drop_database(url)


def make_data(path, *, ledger_columns: str | None, rejected_columns: str | None):
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE transactions (day TEXT, amount REAL)")
    conn.executemany("INSERT INTO transactions VALUES (?, ?)", [("2026-01-01", 1.5)] * 120)
    conn.execute('CREATE TABLE "odd ""name""" (x)')
    conn.execute("INSERT INTO \"odd \"\"name\"\"\" VALUES ('<i>x</i>')")
    conn.execute("CREATE TABLE _private_state (k, v)")
    conn.execute("CREATE VIEW recent AS SELECT * FROM transactions")
    if ledger_columns:
        conn.execute(f"CREATE TABLE _imports ({ledger_columns})")
    if rejected_columns:
        conn.execute(f"CREATE TABLE _rejected ({rejected_columns})")
    conn.commit()
    return conn


def test_imported_data_lists_tables_imports_and_rejected_rows(home):
    conn = make_data(home.default_data_db,
                     ledger_columns='file, sha256, "table", rows, imported_at',
                     rejected_columns='file, line, reason, raw, "table", rejected_at')
    now = time.time()
    conn.executemany("INSERT INTO _imports VALUES (?, ?, ?, ?, ?)", [
        ("bank-1.csv", "ab12", "transactions", 100, now - 86400 * 30),
        ("bank-2.csv", "cd34", "transactions", 20, now - 3600)])
    conn.execute("INSERT INTO _rejected VALUES ('bank-2.csv', 7, 'amount: not a number', "
                 "'2026-01-02,<b>abc</b>', 'transactions', ?)", (now - 3600,))
    conn.commit()
    conn.close()

    result = run_report(home, "imported", builtin="imported-data", period="last_7_days")
    assert result["summary"].startswith("Imported data: 4 sections")
    tables = {r["Table"]: r for r in csv_of(result, "tables")}
    assert set(tables) == {"transactions", 'odd "name"'}  # no _side tables, no views
    assert tables["transactions"]["Rows"] == "120" and tables["transactions"]["Columns"] == "2"
    assert tables["transactions"]["Rejected"] == "1"
    assert tables["transactions"]["Last import"] == datetime.fromtimestamp(
        now - 3600).strftime("%Y-%m-%d %H:%M:%S")
    assert csv_of(result, "overview") == [
        {"Tables": "2", "Rows": "121", "Imports": "1", "Rejected rows": "1"}]
    imports = csv_of(result, "imports")
    assert [r["File"] for r in imports] == ["bank-2.csv"]  # in the period
    assert list(imports[0]) == ["When", "File", "Table", "Rows"]  # no hashes: readable columns
    rejected = csv_of(result, "rejected-rows")
    assert rejected[0]["Line"] == "7" and rejected[0]["Reason"] == "amount: not a number"
    html = Path(result["outputs"][0]).read_text(encoding="utf-8")
    assert "2026-01-02,&lt;b&gt;abc&lt;/b&gt;" in html and "<b>abc" not in html


def test_imported_data_tolerates_other_ledger_shapes(home):
    conn = make_data(home.default_data_db, ledger_columns="path, note",
                     rejected_columns="message")
    conn.execute("INSERT INTO _imports VALUES ('a.json', 'old style')")
    conn.execute("INSERT INTO _rejected VALUES ('bad row')")
    conn.commit()
    conn.close()
    result = run_report(home, "imported", builtin="imported-data")
    assert [r["Path"] for r in csv_of(result, "imports")] == ["a.json"]
    assert csv_of(result, "rejected-rows") == [{"Message": "bad row"}]
    assert "Last import" not in csv_of(result, "tables")[0]
    html = Path(result["outputs"][0]).read_text(encoding="utf-8")
    assert "no time column" in html


def test_imported_data_without_side_tables(home):
    make_data(home.default_data_db, ledger_columns=None, rejected_columns=None).close()
    result = run_report(home, "imported", builtin="imported-data", formats=["csv"])
    assert csv_of(result, "overview") == [{"Tables": "2", "Rows": "121"}]
    assert len(result["outputs"]) == 2


def test_imported_data_leaves_out_the_tables_a_full_text_index_keeps_itself(home):
    # A full-text search table keeps its index in five tables of its own: they were
    # listed as the person's, and "Rows" added them up (7 tables, 12 rows for 2 and 3).
    conn = make_data(home.default_data_db, ledger_columns=None, rejected_columns=None)
    conn.execute("CREATE VIRTUAL TABLE notes USING fts5(body)")
    conn.executemany("INSERT INTO notes VALUES (?)", [("hello world",), ("second note",)])
    conn.commit()
    conn.close()
    result = run_report(home, "imported", builtin="imported-data", formats=["csv"])
    assert csv_of(result, "overview") == [{"Tables": "3", "Rows": "123"}]
    assert [r["Table"] for r in csv_of(result, "tables")] == ["notes", "odd \"name\"", "transactions"]


def test_imported_data_counts_the_rows_of_every_table_past_those_it_lists(home):
    # 450 tables: "Tables" listed the first 400 and said so, but "Rows" was the total of
    # those 400 beside a count of all 450, a number no table adds up to.
    conn = sqlite3.connect(home.default_data_db)
    for i in range(450):
        conn.execute(f"CREATE TABLE t{i:03} (x)")
        conn.executemany(f"INSERT INTO t{i:03} VALUES (?)", [(k,) for k in range(i % 3 + 1)])
    conn.commit()
    truth = sum(conn.execute(f"SELECT count(*) FROM t{i:03}").fetchone()[0] for i in range(450))
    conn.close()
    result = run_report(home, "imported", builtin="imported-data", formats=["csv"])
    assert csv_of(result, "overview") == [{"Tables": "450", "Rows": str(truth)}]
    assert len(csv_of(result, "tables")) == 400


def test_imported_data_with_builtin_and_own_sections(home):
    make_data(home.default_data_db, ledger_columns=None, rejected_columns=None).close()
    result = run_report(home, "imported", builtin="imported-data", title="My data",
                        sections=[{"title": "Total", "show": "figure",
                                   "query": "SELECT sum(amount) AS total FROM transactions"}],
                        formats=["csv", "html"])
    assert result["summary"].startswith("My data: 3 sections")
    assert csv_of(result, "total") == [{"total": "180.0"}]


#: Tests that open the history's SQLite file themselves.
sqlite_file = pytest.mark.skipif(ON_POSTGRES, reason="reads the SQLite file of the history")


@sqlite_file
def test_reports_read_the_run_history_through_the_versioned_view(home, history):
    from trayjobs.store.migrations import RUNS_V1_COLUMNS
    store = open_store(home)
    warned = add_run(store, "import-bank", state="succeeded", days_back=0, took=4)
    store.end_attempt(warned, state="succeeded", result={"warnings": ["3 rows rejected"]})
    store.update_run(warned, started_at=local_noon(0), finished_at=local_noon(0) + 4)
    store.close()
    conn = sqlite3.connect(history)
    assert [r[1] for r in conn.execute("PRAGMA table_info(runs_v1)")] == list(RUNS_V1_COLUMNS)
    # The window on created_at still finds its rows by the index, through the view.
    plan = " ".join(r[3] for r in conn.execute(
        "EXPLAIN QUERY PLAN SELECT count(*) FROM runs_v1 WHERE created_at >= 0 AND created_at < 1"))
    assert "runs_created_at" in plan
    conn.close()

    result = run_report(home, "slow", database="runs", period="last_7_days", formats=["csv"],
                        sections=[{"title": "Outcomes", "query":
                                   "SELECT job, outcome, count(*) AS n, max(duration) AS longest"
                                   " FROM runs_v1 WHERE created_at >= :start_ts AND"
                                   " created_at < :end_ts GROUP BY 1, 2 ORDER BY 1, 2"}])
    rows = {(r["job"], r["outcome"]): r for r in csv_of(result, "outcomes")}
    assert set(rows) == {("backup", "failed"), ("backup", "succeeded"),
                         ("import-bank", "cancelled"), ("import-bank", "succeeded"),
                         ("import-bank", "warning")}
    assert float(rows[("backup", "succeeded")]["longest"]) == 90
    assert rows[("import-bank", "warning")]["n"] == "1"


@sqlite_file
def test_job_activity_reads_the_view_not_the_table(home, history):
    # A history whose table was changed under it (as an upgrade may) still reports, as
    # long as the view keeps its columns: the built-in report names no column of runs.
    conn = sqlite3.connect(history)
    conn.execute("ALTER TABLE runs RENAME COLUMN trigger TO started_by")
    conn.execute("DROP VIEW runs_v1")
    conn.execute("CREATE VIEW runs_v1 AS SELECT id, job, kind, state, attempt, created_at,"
                 " started_at, finished_at, updated_at, error FROM runs")
    conn.execute("ALTER TABLE runs RENAME TO runs_renamed")
    conn.commit()
    conn.close()
    result = run_report(home, "activity", builtin="job-activity", period="last_7_days",
                        formats=["csv"])
    assert {r["Job"] for r in csv_of(result, "per-job")} == {"backup", "import-bank"}
