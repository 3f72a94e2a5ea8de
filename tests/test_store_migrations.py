"""The run store's migrations on a history file from an older version: its data kept,
each step recorded, a backup taken first, and a failing step leaving nothing half done."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlite_utils

import trayjobs.store as store_module
from trayjobs.store import RunStore
from trayjobs.store.migrations import MIGRATIONS

ALL = [name for name, _ in MIGRATIONS]


def write_first_release_db(path: Path) -> None:
    """A runs.db as the first release left it: only 001_initial, with one run and its log."""
    conn = sqlite3.connect(path)
    db = sqlite_utils.Database(conn)
    conn.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at REAL)")
    name, first = MIGRATIONS[0]
    first(db)
    conn.execute("INSERT INTO _migrations VALUES (?, 1700000000.0)", (name,))
    conn.execute("INSERT INTO runs (id, job, kind, trigger, state, attempt, max_attempts,"
                 " created_at, finished_at, result, error) VALUES (7, 'bank', 'import',"
                 " 'schedule', 'failed', 2, 2, 1700000100.0, 1700000160.0, NULL, 'bad row 3')")
    conn.execute("INSERT INTO run_log (run_id, ts, level, message)"
                 " VALUES (7, 1700000150.0, 'error', 'bad row 3')")
    conn.execute("INSERT INTO job_state (job, next_run_at, paused) VALUES ('bank', 1.5, 1)")
    conn.commit()
    conn.close()


def recorded(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [r[0] for r in conn.execute("SELECT name FROM _migrations ORDER BY name")]
    finally:
        conn.close()


def test_an_old_history_is_migrated_with_its_data_and_a_backup(tmp_path):
    path = tmp_path / "runs.db"
    write_first_release_db(path)
    store = RunStore(path)
    try:
        assert recorded(path) == ALL  # every step recorded
        run = store.get_run(7)
        assert (run["job"], run["state"], run["attempt"], run["error"]) == (
            "bank", "failed", 2, "bad row 3")
        assert [l["message"] for l in store.logs(7)] == ["bad row 3"]
        assert store.job_states()["bank"]["paused"] == 1
        # The newer steps' tables and indexes are there and work.
        tables = set(store.db.table_names())
        assert {"watch_files", "watch_status"} <= tables
        indexes = {r["name"] for r in store._query("SELECT name FROM sqlite_master"
                                                   " WHERE type = 'index'")}
        assert {"runs_inflight", "runs_waiting"} <= indexes
        new = store.create_run("bank", kind="import", trigger="manual")
        assert new > 7
        assert store.migrate() == []  # nothing left to do
    finally:
        store.close()
    # The backup is the file as it was before the first new step.
    backup = path.with_name(f"runs.db.before-{ALL[1]}")
    assert backup.exists()
    assert recorded(backup) == ALL[:1]
    old = sqlite3.connect(backup)
    try:
        assert old.execute("SELECT job, error FROM runs").fetchall() == [("bank", "bad row 3")]
        assert "watch_files" not in {r[0] for r in old.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        old.close()
    # Opening again migrates nothing and takes no new backup.
    before = sorted(p.name for p in tmp_path.iterdir())
    RunStore(path).close()
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_new_history_needs_no_backup(tmp_path):
    path = tmp_path / "runs.db"
    RunStore(path).close()
    assert recorded(path) == ALL
    assert not list(tmp_path.glob("*.before-*"))


def test_a_failing_step_leaves_neither_its_changes_nor_its_record(tmp_path, monkeypatch):
    path = tmp_path / "runs.db"
    RunStore(path).close()

    def broken(db) -> None:
        db["half_done"].create({"id": int}, pk="id")
        raise RuntimeError("disk said no")

    monkeypatch.setattr(store_module, "MIGRATIONS", [*MIGRATIONS, ("900_broken", broken)])
    with pytest.raises(RuntimeError, match="disk said no"):
        RunStore(path)
    conn = sqlite3.connect(path)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        conn.close()
    assert "half_done" not in tables
    assert recorded(path) == ALL
    assert path.with_name("runs.db.before-900_broken").exists()


def test_old_failures_do_not_all_need_attention_at_once(tmp_path):
    # 008_run_seen: runs from before it are taken as seen; new ones need a look.
    path = tmp_path / "runs.db"
    write_first_release_db(path)
    store = RunStore(path)
    try:
        assert store.get_run(7)["seen"] == 1
        assert store.list_runs(state="attention") == []
        rid = store.create_run("bank", kind="import", trigger="manual", state="failed")
        warned = store.create_run("bank", kind="import", trigger="manual", state="succeeded")
        store.update_run(warned, warnings=2)
        store.create_run("bank", kind="import", trigger="manual", state="succeeded")
        assert [r["id"] for r in store.list_runs(state="attention")] == [warned, rid]
        assert store.attention_counts() == {"failed": 1, "warning": 1}
        assert store.mark_seen([rid, 7]) == 1
        assert store.attention_counts() == {"failed": 0, "warning": 1}
    finally:
        store.close()


def test_a_look_at_a_run_still_going_does_not_hide_how_it_ends(tmp_path):
    # Opening a running run's details marks it seen; if it then fails, that failure must
    # still need attention.
    store = RunStore(tmp_path / "runs.db")
    try:
        rid = store.create_run("backup", kind="command", trigger="manual", state="running")
        assert store.mark_seen([rid]) == 0
        store.update_run(rid, state="failed")
        assert store.attention_counts()["failed"] == 1
        assert store.mark_seen([rid]) == 1
        assert store.attention_counts()["failed"] == 0
    finally:
        store.close()


def write_018_db(path: Path) -> None:
    """A runs.db as 018_worker_problem left it, with runs 1-5 of which the newest two were
    deleted while a log line and an alert of run 6 outlived it."""
    conn = sqlite3.connect(path)
    db = sqlite_utils.Database(conn)
    conn.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at REAL)")
    for name, step in MIGRATIONS[:ALL.index("018_worker_problem") + 1]:
        step(db)
        conn.execute("INSERT INTO _migrations VALUES (?, 1700000000.0)", (name,))
    for rid in range(1, 7):
        conn.execute("INSERT INTO runs (job, kind, trigger, state, created_at, started_at,"
                      " finished_at, warnings) VALUES ('bank', 'import', 'manual', ?, ?, ?, ?, ?)",
                      ("succeeded" if rid % 2 else "failed", 1700000000.0 + rid,
                       1700000001.0 + rid, 1700000003.0 + rid, rid % 3))
    conn.execute("INSERT INTO run_log (run_id, ts, level, message) VALUES (6, 1.0, 'info', 'x')")
    conn.execute("INSERT INTO alert_outbox (channel, event, run_id, created_at, due_at)"
                 " VALUES ('me', 'failed', 6, 1.0, 1.0)")
    conn.execute("DELETE FROM runs WHERE id >= 4")
    conn.commit()
    conn.close()


def schema(path: Path, *, exclude: str = "runs") -> set[tuple]:
    conn = sqlite3.connect(path)
    try:
        return set(conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master"
                                " WHERE name != ?", (exclude,)))
    finally:
        conn.close()


def test_run_numbers_are_never_reused_in_a_history_from_before(tmp_path):
    # 019_run_ids_not_reused rebuilds runs with AUTOINCREMENT: every row, index, trigger
    # and the view over it kept, and the next number above every run anything still names.
    path = tmp_path / "runs.db"
    write_018_db(path)
    before = schema(path, exclude="sqlite_sequence")
    old_rows = sqlite3.connect(path).execute("SELECT * FROM runs ORDER BY id").fetchall()
    store = RunStore(path)
    try:
        assert recorded(path) == ALL
        assert [tuple(r) for r in store.conn.execute("SELECT * FROM runs ORDER BY id")
                ] == old_rows
        assert store._query("SELECT id, outcome FROM runs_v1 ORDER BY id") == [
            {"id": 1, "outcome": "warning"}, {"id": 2, "outcome": "failed"},
            {"id": 3, "outcome": "succeeded"}]
        table_sql = store.conn.execute("SELECT sql FROM sqlite_master WHERE name = 'runs'"
                                       ).fetchone()[0]
        assert "AUTOINCREMENT" in table_sql and "runs_rebuilt" not in table_sql
        # Its indexes, triggers and views, and every other table, are as they were (and
        # the later migrations' new tables are there besides).
        after = schema(path, exclude="sqlite_sequence")
        assert {r for r in after if r[1] != "runs" and r[2] != "alert_lanes"} == {
            r for r in before if r[1] != "runs"}
        assert len([r for r in after if r[2] == "runs"]) > 10  # they were there to keep
        # Run 6 is gone but its log line and alert name it: the next run is 7.
        assert store.conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'runs'"
                                  ).fetchone()[0] == 6
        new = store.create_run("bank", kind="import", trigger="manual")
        assert new == 7
        # The triggers work on the new table: run_hours counts the new run.
        assert store.conn.execute("SELECT sum(runs) FROM run_hours").fetchone()[0] == 4
        store.conn.execute("DELETE FROM runs WHERE id = 7")
        assert store.create_run("bank", kind="import", trigger="manual") == 8
    finally:
        store.close()
    assert path.with_name("runs.db.before-019_run_ids_not_reused").exists()
