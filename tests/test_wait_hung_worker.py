"""`trayjobs run --wait` and `show --follow` while the worker that would move the run on
is there but does not answer: stopped (SIGSTOP, as Ctrl-Z or a debugger does), or hung."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from helpers import run_state, start_worker, trayjobs, wait_until

JOBS = '[cluster]\nlease = "2s"\n[jobs.hello]\nkind = "command"\ncommand = "echo hi"\n'


def started_worker(home):
    """A worker that has started all the way (registered, beating): stopped before that,
    it has no heartbeat to miss."""
    worker = start_worker(home)
    log = home.log_dir / "worker-test.log"
    wait_until(lambda: "worker started for" in log.read_text(), 30, what="the worker started")
    return worker


def test_run_wait_says_the_worker_does_not_answer_and_goes_on_once_it_does(home, tmp_path):
    """It waited without a word for as long as the worker stayed stopped. Now, once the
    worker's lease is up, it says which process does not answer and how to resume it;
    resumed, the run goes on to its end and the command says so."""
    home.config_file.write_text(JOBS)
    worker = started_worker(home)
    waits = None
    try:
        os.kill(worker.pid, signal.SIGSTOP)
        err = tmp_path / "wait.err"
        with open(err, "w") as f:
            waits = subprocess.Popen([sys.executable, "-m", "trayjobs", "run", "hello",
                                      "--wait"], stdout=subprocess.PIPE, stderr=f, text=True,
                                     env=dict(os.environ, TRAYJOBS_HOME=str(home.root)))
        wait_until(lambda: "does not answer" in err.read_text(), 30,
                   what="`run --wait` saying the worker does not answer")
        said = err.read_text()
        assert f"`trayjobs worker` (pid {worker.pid})" in said, said
        assert f"kill -CONT {worker.pid}" in said, said
        assert waits.poll() is None  # it still waits for the run
        os.kill(worker.pid, signal.SIGCONT)
        out, _ = waits.communicate(timeout=30)
        said = err.read_text()
        assert waits.returncode == 0, said
        assert "run 1 succeeded" in said, said
        assert said.count("does not answer") == 1, said
    finally:
        os.kill(worker.pid, signal.SIGCONT)
        if waits is not None and waits.poll() is None:
            waits.kill()
        worker.terminate()
        worker.wait(30)


def test_show_follow_says_the_worker_does_not_answer(home, tmp_path):
    home.config_file.write_text(JOBS)
    worker = started_worker(home)
    follows = None
    try:
        os.kill(worker.pid, signal.SIGSTOP)
        run = trayjobs(home, "run", "hello")
        assert run.returncode == 0, run.stderr
        rid = run.stdout.split()[-1]
        err = tmp_path / "follow.err"
        with open(err, "w") as f:
            follows = subprocess.Popen([sys.executable, "-m", "trayjobs", "show", rid,
                                        "--follow"], stdout=subprocess.PIPE, stderr=f,
                                       env=dict(os.environ, TRAYJOBS_HOME=str(home.root)))
        wait_until(lambda: "does not answer" in err.read_text(), 30,
                   what="`show --follow` saying the worker does not answer")
        assert f"kill -CONT {worker.pid}" in err.read_text()
        os.kill(worker.pid, signal.SIGCONT)
        follows.communicate(timeout=30)
        assert follows.returncode == 0, err.read_text()
    finally:
        os.kill(worker.pid, signal.SIGCONT)
        if follows is not None and follows.poll() is None:
            follows.kill()
        worker.terminate()
        worker.wait(30)


def test_a_run_whose_worker_was_killed_is_said_to_wait_for_the_next_start(home, tmp_path):
    """With the worker killed (kill -9) and none started since, its run read "running" in
    `show`, `cancel` said "asked to stop" (no one was there to), and `show --follow` waited
    without a word, then said the run went on. Now each says its worker is gone and what
    ends the run: the next start of the app or a worker, which marks it interrupted."""
    home.config_file.write_text('[jobs.spin]\nkind = "command"\ncommand = "sleep 600"\n')
    worker = start_worker(home)
    try:
        assert trayjobs(home, "run", "spin").stdout.strip() == "1"
        wait_until(lambda: run_state(home, 1)["state"] == "running", 30)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(10)
    gone = f"`trayjobs worker` (pid {worker.pid}) that ran it is gone (killed or crashed)"
    shown = trayjobs(home, "show", "1")
    assert gone in shown.stdout, shown.stdout
    err = tmp_path / "follow.err"
    with open(err, "w") as f:
        follows = subprocess.Popen([sys.executable, "-m", "trayjobs", "show", "1", "--follow"],
                                   stdout=subprocess.DEVNULL, stderr=f,
                                   env=dict(os.environ, TRAYJOBS_HOME=str(home.root)))
    try:
        wait_until(lambda: gone in err.read_text(), 20, what="`show --follow` saying so")
    finally:
        follows.terminate()
        follows.wait(10)
    assert "it goes on" not in err.read_text()
    cancel = trayjobs(home, "cancel", "1")
    assert cancel.returncode == 0 and "asked to stop" not in cancel.stdout, cancel.stdout
    assert gone in cancel.stdout + cancel.stderr
    worker = start_worker(home)
    try:
        wait_until(lambda: run_state(home, 1)["state"] == "interrupted", 30)
    finally:
        worker.terminate()
        worker.wait(30)


def test_run_wait_says_when_the_worker_that_would_start_its_run_is_gone(home, tmp_path):
    """The worker killed while the run waited behind another of its job: `run --wait`
    waited without a word, then said the run went on. Now it says no one is there to
    start it, and what will."""
    home.config_file.write_text('[jobs.spin]\nkind = "command"\ncommand = "sleep 600"\n')
    worker = start_worker(home)
    waits = None
    try:
        assert trayjobs(home, "run", "spin").stdout.strip() == "1"
        wait_until(lambda: run_state(home, 1)["state"] == "running", 30)
        err = tmp_path / "wait.err"
        with open(err, "w") as f:
            waits = subprocess.Popen([sys.executable, "-m", "trayjobs", "run", "spin",
                                      "--wait"], stdout=subprocess.DEVNULL, stderr=f,
                                     env=dict(os.environ, TRAYJOBS_HOME=str(home.root)))
        wait_until(lambda: (run_state(home, 2) or {}).get("state") == "queued", 30)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)
        wait_until(lambda: "no trayjobs app or worker is running for this home now"
                   in err.read_text(), 20, what="`run --wait` saying so")
        assert "run 2 starts when one does" in err.read_text()
        waits.terminate()
        waits.wait(10)
        assert "it goes on" not in err.read_text(), err.read_text()
    finally:
        if waits is not None and waits.poll() is None:
            waits.kill()
        if worker.poll() is None:
            worker.kill()
            worker.wait(10)
