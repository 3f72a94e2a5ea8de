"""A run history (SQLite) whose file is damaged: garbage written in its middle, or a file
that is no database at all. Real commands and a real worker open it."""

from __future__ import annotations

import shutil

import pytest

from helpers import trayjobs


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

