"""A foreground ``trayjobs run``: kinds that allow it run on a thread of the command's own
process (no job process to start), and still stop on Ctrl-C and on their timeout; a thread
that does not stop cannot hold the command up. Commands that need no queue, no watcher and
no kind's work modules do not import them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from textwrap import dedent

from helpers import trayjobs, wait_run, wait_until

from trayjobs.engine.executor import Executor, RunHandle
from trayjobs.store import RunStore

PY = sys.executable


def _config(home, text: str) -> None:
    home.config_file.write_text(dedent(text))


def _start(home, *args: str) -> subprocess.Popen:
    env = dict(os.environ, TRAYJOBS_HOME=str(home.root))
    return subprocess.Popen([PY, "-m", "trayjobs", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _show(home, run_id: int) -> dict:
    out = trayjobs(home, "show", str(run_id), "--json", check=True)
    return json.loads(out.stdout)


def test_a_foreground_command_run_starts_no_job_process(home, tmp_path):
    # The program's parent is the `trayjobs run` process itself, not a job process.
    _config(home, f"""
        [jobs.parent]
        kind = "command"
        command = ["{PY}", "-c", "import os; print('parent', os.getppid())"]
    """)
    proc = _start(home, "run", "parent", "--wait")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    logs = [line["message"] for line in _show(home, int(out))["log"]]
    assert f"parent {proc.pid}" in logs, logs


def test_the_wait_before_a_next_attempt_is_told_as_set(home):
    # A backoff of 1 s said "next attempt now", and one of 2 s "in 1 s": the time left,
    # read a moment after it was set, was cut down to whole seconds.
    _config(home, """
        [jobs.flaky]
        kind = "command"
        command = "exit 3"
        retry = { attempts = 3, backoff = "1s", jitter = false }
    """)
    proc = _start(home, "run", "flaky", "--wait")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    waits = [line.split("; ")[-1] for line in err.splitlines() if "next attempt" in line]
    assert waits == ["next attempt in 1 s", "next attempt in 2 s"], err


def test_a_foreground_runs_next_attempt_runs_the_job_as_edited_meanwhile(home):
    # As the app and `trayjobs worker` do: a command fixed after its first attempt failed
    # is what the next attempt runs. The foreground run kept the job as it first read it.
    job = """
        [jobs.flaky]
        kind = "command"
        command = "echo {version}; exit {code}"
        retry = {{ attempts = 2, backoff = "5s", jitter = false }}
    """
    _config(home, job.format(version="first", code=3))
    proc = _start(home, "run", "flaky", "--wait")
    run_id = int(proc.stdout.readline())
    wait_run(home, run_id, "retrying")
    _config(home, job.format(version="fixed", code=0))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert [line["message"] for line in _show(home, run_id)["log"]] == [
        "first", "exit code 3", "fixed"]


def test_a_foreground_import_runs_in_the_command_process(home, tmp_path):
    data = tmp_path / "tiny.csv"
    data.write_text("id,name\n1,a\n2,b\n")
    _config(home, """
        [jobs.tiny]
        kind = "import"
        table = "t"
        processed_dir = "leave"
    """)
    done = trayjobs(home, "run", "tiny", "--file", str(data), "--wait")
    assert done.returncode == 0, done.stderr
    run = _show(home, int(done.stdout))["run"]
    assert run["state"] == "succeeded" and run["result"]["rows"] == 2
    assert not (home.log_dir / "job-process-1.stderr").exists()  # no job process was made


def test_ctrl_c_cancels_a_foreground_run_in_process(home, tmp_path):
    started = tmp_path / "started"
    _config(home, f"""
        [jobs.slow]
        kind = "command"
        command = ["{PY}", "-c", "import pathlib, time; pathlib.Path({str(started)!r}).touch(); time.sleep(60)"]
    """)
    proc = _start(home, "run", "slow", "--wait")
    wait_until(started.exists, timeout=60)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1, err
    run = _show(home, int(out))["run"]
    assert run["state"] == "cancelled", run


def test_trayjobs_cancel_from_another_terminal_stops_a_foreground_run(home, tmp_path):
    # `trayjobs cancel` said "asked to stop" and the report's query ran on: its message
    # goes to the app's or a worker's listener, and a foreground run has none.
    import hashlib
    import sqlite3
    db = tmp_path / "sales.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE t (n)")
    conn.commit()
    conn.close()
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    _config(home, f"""
        [jobs.endless]
        kind = "report"
        database = "{db}"
        [[jobs.endless.sections]]
        title = "Never"
        query = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n"
    """)
    proc = _start(home, "run", "endless", "--wait")
    try:
        run_id = int(proc.stdout.readline())
        wait_until(lambda: _show(home, run_id)["run"]["state"] == "running", timeout=60)
        asked = trayjobs(home, "cancel", str(run_id), check=True)
        assert "asked to stop" in asked.stdout
        out, err = proc.communicate(timeout=60)  # a heartbeat or two, not the query's end
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1, err
    assert _show(home, run_id)["run"]["state"] == "cancelled"
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    assert not list(home.reports_dir.glob("endless/endless-*"))


def test_trayjobs_cancel_between_attempts_ends_the_foreground_wait_at_once(home):
    # The run was cancelled at once, but `trayjobs run --wait` slept out the pause before
    # its next attempt (a minute or more) before it noticed and said so.
    _config(home, """
        [jobs.flaky]
        kind = "demo"
        steps = 1
        step_time = 0
        fail_times = 5
        retry = { attempts = 3, backoff = "5m", jitter = false }
    """)
    proc = _start(home, "run", "flaky", "--wait")
    try:
        run_id = int(proc.stdout.readline())
        wait_until(lambda: _show(home, run_id)["run"]["state"] == "retrying", timeout=60)
        assert "cancelled" in trayjobs(home, "cancel", str(run_id), check=True).stdout
        out, err = proc.communicate(timeout=30)  # not the five minutes of the pause
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1, err
    assert _show(home, run_id)["run"]["state"] == "cancelled"


def test_a_timeout_stops_a_foreground_run_in_process(home, tmp_path):
    _config(home, f"""
        [jobs.slow]
        kind = "command"
        command = ["{PY}", "-c", "import time; time.sleep(60)"]
        timeout = "1s"
        retry = {{ attempts = 1 }}
    """)
    done = trayjobs(home, "run", "slow", "--wait", timeout=60)
    assert done.returncode == 1, done.stderr
    run = _show(home, int(done.stdout))["run"]
    assert run["state"] == "failed" and "timed out after 1" in run["error"], run


def test_a_thread_that_does_not_stop_ends_its_attempt_without_a_retry(home, tmp_path):
    # A demo step of 8 s does not check for cancel: on a thread it cannot be killed, so
    # the attempt ends after the grace period, marked not to be retried beside it (the
    # 2 s timeout leaves the thread ample time to reach that step on a busy machine).
    home.ensure()
    executor = Executor(home, grace=0.2)
    handle = RunHandle()
    request = {"op": "run", "run_id": 1, "job": "hang", "kind": "demo",
               "params": {"steps": 1, "step_time": 8}, "attempt": 1, "max_attempts": 3,
               "trigger": "cli", "files": [], "dry_run": False, "home": home.to_dict()}
    messages = []
    try:
        outcome = executor.run(request, handle=handle, on_message=messages.append,
                               on_tick=lambda: None, timeout=2, in_thread=True)
    finally:
        handle.close()
        executor.close()
    assert outcome.state == "timeout" and outcome.retry is False and not outcome.died
    assert "when this command exits" in outcome.message
    assert any(t.name == "run-1" and t.daemon for t in threading.enumerate())


def test_commands_without_a_queue_import_neither_huey_nor_the_kinds_work(home, tmp_path):
    data = tmp_path / "tiny.csv"
    data.write_text("id\n1\n")
    _config(home, f"""
        [jobs.tiny]
        kind = "import"
        table = "t"

        [jobs.echo]
        kind = "command"
        command = ["{PY}", "-c", "pass"]

        [jobs.activity]
        kind = "report"
        builtin = "job-activity"

        [jobs.tidy]
        kind = "cleanup"
        locations = ["{tmp_path}"]
        filters = [{{ name = "*.nothing" }}]
        action = "trash"
    """)
    code = dedent("""
        import sys
        from trayjobs.cli import main
        status = main(sys.argv[1:])
        heavy = sorted(m for m in ("huey", "sqlite_utils", "watchdog", "PySide6", "jinja2",
                                   "fpdf", "python_calamine", "charset_normalizer",
                                   "keyring", "regex", "trayjobs.kinds.importer.runner",
                                   "trayjobs.kinds.cleanup.runner",
                                   "trayjobs.kinds.report.query") if m in sys.modules)
        print("HEAVY", heavy, file=sys.stderr)
        sys.exit(status)
    """)
    assert trayjobs(home, "check").returncode == 0
    trayjobs(home, "jobs", check=True)  # a new home's store is made (sqlite-utils) once
    env = dict(os.environ, TRAYJOBS_HOME=str(home.root))
    for args in (["jobs"], ["run", "echo", "--wait"]):
        done = subprocess.run([PY, "-c", code, *args], env=env, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stderr
        assert "HEAVY []" in done.stderr, (args, done.stderr)
    # An import of a small CSV file needs its own code, and nothing else heavy: making its
    # table and adding a column are plain SQL (sqlite-utils only changes a column's type).
    for name in ("tiny.csv", "more.csv"):
        data = tmp_path / name
        data.write_text(f"id,{name[:4]}\n1,x\n")
        done = subprocess.run([PY, "-c", code, "run", "tiny", "--file", str(data), "--wait"],
                              env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert "HEAVY ['trayjobs.kinds.importer.runner']" in done.stderr, done.stderr


def test_a_terminated_foreground_run_stops_its_program_and_what_it_started(home, tmp_path):
    # TERM to `trayjobs run` cancels the run like Ctrl-C: the program's whole process group
    # is stopped before the command exits, background children included, and what it
    # daemonized out of the group.
    pid_file, daemon_file = tmp_path / "bg.pid", tmp_path / "daemon.pid"
    _config(home, f"""
        [jobs.bg]
        kind = "command"
        command = "setsid sleep 60 & echo $! > {daemon_file}; sleep 60 & echo $! > {pid_file}; wait"
    """)
    proc = _start(home, "run", "bg", "--wait")
    wait_until(lambda: pid_file.exists() and pid_file.read_text().strip(), timeout=60)
    background, daemon = int(pid_file.read_text()), int(daemon_file.read_text())
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1, err
    assert _show(home, int(out))["run"]["state"] == "cancelled"

    def gone(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"

    wait_until(lambda: gone(background), timeout=10)
    wait_until(lambda: gone(daemon), timeout=10)


def test_a_stop_while_waiting_for_a_retry_ends_the_run_without_another_attempt(home, tmp_path):
    # TERM between attempts cancels the run at once: the program, which may not be safe to
    # run twice, is not started again once the wait is over.
    starts = tmp_path / "starts"
    _config(home, f"""
        [jobs.flaky]
        kind = "command"
        command = "echo x >> '{starts}'; exit 1"
        retry = {{ attempts = 3, backoff = "1m" }}
    """)
    proc = _start(home, "run", "flaky", "--wait")
    rid = int(proc.stdout.readline())
    wait_run(home, rid, "retrying", timeout=60)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 1, err
    run = _show(home, rid)["run"]
    assert run["state"] == "cancelled" and run["attempt"] == 1, run
    assert run["error"] == "cancelled while waiting for its next attempt"
    assert starts.read_text() == "x\n"
