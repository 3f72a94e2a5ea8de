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
