"""A run history (SQLite) whose file is damaged: garbage written in its middle, or a file
that is no database at all. Real commands and a real worker open it."""

from __future__ import annotations

import shutil

import pytest

from helpers import start_worker, trayjobs


def _history(home) -> None:
    """A history with a few runs in it, written by real foreground runs."""
    home.config_file.write_text('[jobs.hello]\nkind = "command"\ncommand = "echo hi"\n')
    for _ in range(3):
        assert trayjobs(home, "run", "hello", "--wait").returncode == 0
    assert home.runs_db.stat().st_size > 8192


def _garbage_in_the_middle(db) -> None:
    with open(db, "r+b") as f:
        f.seek(4096)
        f.write(b"garbage" * 2000)


def _not_a_database(db) -> None:
    db.write_bytes(b"this is not what trayjobs wrote here " * 100)


@pytest.mark.parametrize("damage", [_garbage_in_the_middle, _not_a_database])
def test_a_damaged_history_is_named_with_what_to_do(home, damage, test_database):
    """Every command, and the worker, ended in a traceback ("database disk image is
    malformed", "file is not a database"). Now each says which file is damaged and how to
    go on, and leaves the file as it was; done as said, trayjobs starts afresh."""
    if test_database:
        pytest.skip("the history is on a server")
    _history(home)
    for side in ("-wal", "-shm"):
        (home.runs_db.parent / (home.runs_db.name + side)).unlink(missing_ok=True)
    damage(home.runs_db)
    before = home.runs_db.read_bytes()
    for args in (("runs",), ("run", "hello"), ("show", "1"), ("worker",)):
        done = trayjobs(home, *args, timeout=60)
        assert done.returncode == 2, (args, done.stderr)
        assert "Traceback" not in done.stderr, (args, done.stderr)
        assert f"The run history database {home.runs_db} is damaged" in done.stderr, args
        assert "move it" in done.stderr and "empty history" in done.stderr, done.stderr
    assert home.runs_db.read_bytes() == before  # left as it was, to recover from
    aside = home.root / "damaged"
    aside.mkdir()
    for f in home.runs_db.parent.glob(home.runs_db.name + "*"):
        shutil.move(f, aside / f.name)
    assert trayjobs(home, "run", "hello", "--wait").returncode == 0
    runs = trayjobs(home, "runs")
    assert runs.returncode == 0 and "hello" in runs.stdout



def _a_folder(db) -> None:
    db.unlink()
    db.mkdir()
    (db / "something").write_text("kept")


def _schema_garbled(db) -> None:
    """SQLite's header kept, the list of tables after it garbage."""
    with open(db, "r+b") as f:
        f.seek(100)
        f.write(b"garbage" * 500)


@pytest.mark.parametrize("damage", [_schema_garbled, _not_a_database, _a_folder])
def test_a_damaged_queue_file_is_set_aside_and_the_worker_goes_on(home, damage, tmp_path):
    """The worker ended in a traceback at its start. The queue holds only which runs were
    handed over (the history has them all, and sends again what it does not find there):
    its file is moved aside, said so, and a new one started."""
    home.config_file.write_text('[jobs.hello]\nkind = "command"\ncommand = "echo hi"\n')
    worker = start_worker(home)
    try:
        assert trayjobs(home, "run", "hello", "--wait").returncode == 0
    finally:
        worker.terminate()
        worker.wait(30)
    for side in ("-wal", "-shm"):
        (home.data_dir / (home.queue_db.name + side)).unlink(missing_ok=True)
    damage(home.queue_db)
    before = home.queue_db.read_bytes() if home.queue_db.is_file() else None
    worker = start_worker(home)
    try:
        done = trayjobs(home, "run", "hello", "--wait")
        assert done.returncode == 0, done.stderr
    finally:
        worker.terminate()
        worker.wait(30)
    log = (home.log_dir / "worker-test.log").read_text()
    assert "Traceback" not in log, log
    assert f"the queue's file {home.queue_db} could not be used" in log, log
    aside = [p for p in home.data_dir.iterdir() if p.name.startswith("queue.db.damaged-")
             and not p.name.endswith(("-wal", "-shm"))]
    assert [p.read_bytes() if p.is_file() else (p / "something").read_text()
            for p in aside] == [before or "kept"], aside


def test_a_folder_in_the_historys_place_is_named_with_what_to_do(home, test_database):
    """A folder named runs.db (a mistaken copy, a restore gone wrong): every command ended
    in a traceback ("unable to open database file")."""
    if test_database:
        pytest.skip("the history is on a server")
    home.config_file.write_text('[jobs.hello]\nkind = "command"\ncommand = "echo hi"\n')
    home.runs_db.mkdir()
    for args in (("runs",), ("run", "hello"), ("worker",)):
        done = trayjobs(home, *args)
        assert done.returncode == 2 and "Traceback" not in done.stderr, (args, done.stderr)
        assert f"The run history {home.runs_db} is a folder, not a file" in done.stderr
        assert "Move it out of the way" in done.stderr, done.stderr
