"""A run history (SQLite) that another program keeps locked: a real `sqlite3` shell holds
it in an exclusive transaction while a real worker runs."""

from __future__ import annotations

import os
import subprocess
import sys

from helpers import run_state, start_worker, trayjobs, wait_until


def _lock(db) -> subprocess.Popen:
    """An `sqlite3` shell holding ``db`` in an exclusive transaction until its input ends."""
    shell = subprocess.Popen(["sqlite3", str(db)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    shell.stdin.write("BEGIN EXCLUSIVE;\nSELECT 'locked';\n")
    shell.stdin.flush()
    assert shell.stdout.readline().strip() == "locked"
    return shell


def test_a_worker_keeps_a_run_that_ends_while_the_history_is_locked(home, monkeypatch,
                                                                      tmp_path):
    """The worker logged tracebacks ("heartbeat failed"), and the end of a run that ended
    while the file was locked was not kept. Now it
    says what holds it and what to do, keeps the end on this machine and writes it once
    the lock goes; a command says the same and asks to try again."""
    monkeypatch.setenv("TRAYJOBS_STORE_TIMEOUT", "0.5")
    gate = tmp_path / "gate"
    home.config_file.write_text(f'[jobs.gated]\nkind = "command"\n'
                                f'command = "while [ ! -e {gate} ]; do sleep 0.05; done"\n')
    log = home.log_dir / "worker-test.log"
    worker = start_worker(home)
    shell = None
    try:
        said = tmp_path / "wait.err"
        with open(said, "w") as err:
            waits = subprocess.Popen([sys.executable, "-m", "trayjobs", "run", "gated",
                                      "--wait"], stdout=subprocess.PIPE, stderr=err,
                                     env=dict(os.environ, TRAYJOBS_HOME=str(home.root)))
        rid = 1
        wait_until(lambda: (run_state(home, rid) or {}).get("state") == "running", 30,
                   what="running")
        shell = _lock(home.runs_db)
        gate.touch()  # it ends while the history is locked
        wait_until(lambda: "kept on this machine" in log.read_text(), 30,
                   what="the worker keeping the run's end")
        text = log.read_text()
        assert "locked by another program" in text and "Close any program" in text
        wait_until(lambda: "its end is kept" in said.read_text(), 30,
                   what="`run --wait` saying why it still waits")
        refused = trayjobs(home, "run", "gated")
        assert refused.returncode != 0 and "locked by another program" in refused.stderr
        assert "Traceback" not in refused.stderr
        shell.stdin.write("COMMIT;\n")
        shell.stdin.close()
        shell.wait(10)
        wait_until(lambda: run_state(home, rid)["state"] == "succeeded", 30,
                   what="the kept end written once the lock went")
        wait_until(lambda: "answers again" in log.read_text(), 30, what="the worker says so")
        assert waits.wait(30) == 0 and f"run {rid} succeeded" in said.read_text()
        waits.stdout.close()
        assert worker.poll() is None
        again = int(trayjobs(home, "run", "gated", check=True).stdout)
        wait_until(lambda: run_state(home, again)["state"] == "succeeded", 30, what="a new run")
        assert "Traceback" not in log.read_text()
    finally:
        if shell is not None:
            if shell.poll() is None:
                shell.kill()
                shell.wait()
            shell.stdout.close()
            if not shell.stdin.closed:
                shell.stdin.close()
        worker.terminate()
        worker.wait(30)


def test_a_command_says_how_long_it_waited_for_the_lock(home, monkeypatch):
    """It said "stayed locked ... for 15 s" after 10 s (three times the wait SQLite is
    given, where the command gives up after two). Now the time it says is the time it
    waited."""
    import re
    import time
    monkeypatch.setenv("TRAYJOBS_STORE_TIMEOUT", "2")
    home.config_file.write_text('[jobs.hello]\nkind = "command"\ncommand = "true"\n')
    assert trayjobs(home, "run", "hello", "--wait").returncode == 0
    shell = _lock(home.runs_db)
    try:
        began = time.monotonic()
        refused = trayjobs(home, "run", "hello")
        took = time.monotonic() - began
    finally:
        shell.kill()
        shell.wait()
        shell.stdout.close()
        shell.stdin.close()
    said = re.search(r"stayed locked by another program for (\d+) s", refused.stderr)
    assert said, refused.stderr
    assert int(said.group(1)) <= took + 0.5 and took - int(said.group(1)) < 2, (took, said[0])


def test_an_end_the_disk_has_no_room_to_keep_either_is_written_once_the_lock_goes(
        home, monkeypatch, tmp_path):
    """A run that ended while the history was locked and its end could not be kept on
    disk either (a full disk; here a file in the way of the spool folder) stayed
    `running` for good: the worker's lease, which it renews, never ran out for anyone to
    recover it, and its job's next runs waited behind it. Now the worker holds the end
    and writes it once the lock goes."""
    monkeypatch.setenv("TRAYJOBS_STORE_TIMEOUT", "0.5")
    gate = tmp_path / "gate"
    home.config_file.write_text(f'[jobs.gated]\nkind = "command"\n'
                                f'command = "while [ ! -e {gate} ]; do sleep 0.05; done"\n')
    (home.data_dir / "spool").write_text("in the way")
    log = home.log_dir / "worker-test.log"
    worker = start_worker(home)
    shell = None
    try:
        rid = int(trayjobs(home, "run", "gated", check=True).stdout)
        wait_until(lambda: (run_state(home, rid) or {}).get("state") == "running", 30)
        shell = _lock(home.runs_db)
        gate.touch()
        wait_until(lambda: "could not be kept on this machine" in
                   log.read_text(), 30, what="the worker holding the end")
        shell.stdin.write("COMMIT;\n")
        shell.stdin.close()
        shell.wait(10)
        wait_until(lambda: run_state(home, rid)["state"] == "succeeded", 30,
                   what="the held end written once the lock went")
        gate.unlink()
        again = int(trayjobs(home, "run", "gated", check=True).stdout)
        wait_until(lambda: run_state(home, again)["state"] == "running", 30,
                   what="the job's next run starting")
        gate.touch()
        wait_until(lambda: run_state(home, again)["state"] == "succeeded", 30)
        assert "Traceback" not in log.read_text()
    finally:
        if shell is not None:
            if shell.poll() is None:
                shell.kill()
                shell.wait()
            shell.stdout.close()
            if not shell.stdin.closed:
                shell.stdin.close()
        gate.touch()
        worker.terminate()
        worker.wait(30)


def test_a_run_that_ended_while_the_history_was_locked_took_what_it_took(home, monkeypatch,
                                                                       tmp_path):
    """The engine's thread that follows a run waited for the locked history (writing the
    run's progress) while the job ended, and took the end for when it heard of it: a run
    of a second was kept as having taken that wait too."""
    import time
    monkeypatch.setenv("TRAYJOBS_STORE_TIMEOUT", "2")
    gate = tmp_path / "gate"
    home.config_file.write_text(f'[jobs.gated]\nkind = "command"\n'
                                f'command = "while [ ! -e {gate} ]; do sleep 0.05; done; '
                                f'echo done"\n')
    log = home.log_dir / "worker-test.log"
    worker = start_worker(home)
    shell = None
    try:
        rid = int(trayjobs(home, "run", "gated", check=True).stdout)
        wait_until(lambda: (run_state(home, rid) or {}).get("state") == "running", 30,
                   what="running")
        shell = _lock(home.runs_db)
        time.sleep(1.5)  # the engine's thread waits for the locked file, writing progress
        ended = time.time()
        gate.touch()  # it prints a line and ends while the history is locked
        wait_until(lambda: "kept on this machine" in log.read_text(), 60,
                   what="the worker keeping the run's end")
        shell.stdin.write("COMMIT;\n")
        shell.stdin.close()
        shell.wait(10)
        wait_until(lambda: run_state(home, rid)["state"] == "succeeded", 30,
                   what="the kept end written once the lock went")
        run = run_state(home, rid)
        assert run["finished_at"] - ended < 1.5, (run["finished_at"] - ended, log.read_text())
    finally:
        if shell is not None:
            if shell.poll() is None:
                shell.kill()
                shell.wait()
            shell.stdout.close()
            if not shell.stdin.closed:
                shell.stdin.close()
        worker.terminate()
        worker.wait(30)
