"""A run history on a disk that is full: the data folder is a small tmpfs of its own (needs
root), filled to the last byte by another file."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time

import pytest

from helpers import trayjobs, wait_until

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.fixture
def full_data(home, test_database):
    """``home`` with its data folder on an 8 MB tmpfs; yields a function that fills it."""
    if test_database:
        pytest.skip("the history is on a server")
    point = home.data_dir
    if not IS_ROOT or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "none",
                                      str(point)], capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")

    def fill() -> None:
        fd = os.open(point / "filler", os.O_WRONLY | os.O_CREAT)
        try:
            while os.write(fd, b"\0" * 4096):
                pass
        except OSError:
            pass
        finally:
            os.close(fd)

    try:
        yield fill
    finally:
        subprocess.run(["umount", "-l", str(point)], check=False)


def test_a_full_disk_is_said_in_one_sentence_and_the_run_goes_on_later(home, full_data):
    """`trayjobs run` ended in a traceback ("database or disk is full") as it took its run.
    Now it says the disk is full, where, and what to do (and of a run it made but could
    not start, that it waits); with room made, runs go on, and the history lost nothing."""
    home.config_file.write_text('[jobs.hello]\nkind = "command"\ncommand = "echo hi"\n')
    assert trayjobs(home, "run", "hello", "--wait").returncode == 0
    # A program reading the history (the window, say) keeps SQLite's files beside it.
    reader = sqlite3.connect(home.runs_db)
    reader.execute("SELECT count(*) FROM runs").fetchone()
    full_data()
    said = []
    for _ in range(3):
        done = trayjobs(home, "run", "hello", "--wait")
        assert "Traceback" not in done.stderr, done.stderr
        if done.returncode:
            said.append(done.stderr)
    reader.close()
    assert said, "the disk was never found full"
    for text in said:
        assert f"no room left on the disk that holds the run history {home.runs_db}" in text
        assert "Free some space on that disk" in text
    (home.data_dir / "filler").unlink()
    assert trayjobs(home, "run", "hello", "--wait").returncode == 0
    runs = trayjobs(home, "runs", "--json")
    assert runs.returncode == 0
    assert '"id": 1' in runs.stdout


def test_a_run_that_cannot_go_on_for_a_full_disk_is_said_to_wait(home, full_data, tmp_path):
    """A foreground run whose next attempt could not be taken (the disk filled while it
    waited for it) ended in a traceback, and the run was left waiting, unsaid. Now the
    command says the disk is full, that the run waits, and how to drop it."""
    home.config_file.write_text('[jobs.flaky]\nkind = "command"\ncommand = "exit 3"\n'
                                'retry = { attempts = 2, backoff = "2s" }\n')
    err = tmp_path / "run.err"
    with open(err, "w") as f:
        waits = subprocess.Popen([sys.executable, "-m", "trayjobs", "run", "flaky", "--wait"],
                                 stdout=subprocess.PIPE, stderr=f, text=True,
                                 env=dict(os.environ, TRAYJOBS_HOME=str(home.root)))
    try:
        wait_until(lambda: "attempt 1/2 failed" in err.read_text(), 30)
        full_data()
        waits.communicate(timeout=60)
    finally:
        if waits.poll() is None:
            waits.kill()
    said = err.read_text()
    assert waits.returncode == 2 and "Traceback" not in said, said
    assert f"no room left on the disk that holds the run history {home.runs_db}" in said
    assert "Run 1 did not start here: it waits" in said and "trayjobs cancel 1" in said
    (home.data_dir / "filler").unlink()
    assert trayjobs(home, "cancel", "1").returncode == 0


def test_a_worker_rides_out_a_full_disk_and_goes_on_once_there_is_room(home, full_data):
    """The worker logged a traceback ("heartbeat failed") every beat while the disk was
    full, and the window said nothing. Now it says once that there is no room, as for a
    history that cannot be reached (the window's banner), and goes on once there is."""
    from helpers import start_worker
    home.config_file.write_text('[cluster]\nlease = "3s"\n'
                                '[jobs.q]\nkind = "command"\ncommand = "seq 1 2000"\n')
    worker = start_worker(home)
    log = home.log_dir / "worker-test.log"
    try:
        assert trayjobs(home, "run", "q", "--wait").returncode == 0
        full_data()
        for _ in range(100):  # until the history's files can grow no more
            if trayjobs(home, "run", "q").returncode:
                break
        wait_until(lambda: "no room left on the disk" in log.read_text(), 30,
                   what="the worker saying the disk is full")
        time.sleep(3)  # several beats
        text = log.read_text()
        assert "Traceback" not in text and "heartbeat failed" not in text, text
        assert text.count("no room left on the disk") == 1, text
        (home.data_dir / "filler").unlink()
        wait_until(lambda: "the run history answers again" in log.read_text(), 30,
                   what="the worker going on")
        assert trayjobs(home, "run", "q", "--wait").returncode == 0
    finally:
        worker.terminate()
        worker.wait(30)


def test_a_full_disk_under_the_queue_file_is_said_as_a_full_disk_not_a_traceback(home, full_data):
    """A worker whose history still had room for a run's row, but whose queue file (beside
    it) had none for the run's message, logged "control message failed" with SQLite's
    traceback. The queue now says it as the history does (a full disk, where, what to do),
    which the engine rides out: the run stays handed over and is sent again later."""
    from trayjobs.errors import StoreFull
    from trayjobs.queue import Queue
    queue = Queue(home)
    queue.enqueue(1)  # the file is made while there is room
    full_data()
    with pytest.raises(StoreFull) as said:
        for run_id in range(2, 5000):  # until its pages are full too
            queue.enqueue(run_id)
    assert str(home.queue_db) in str(said.value) and "no room left" in str(said.value)
    assert "Free some space" in str(said.value)
