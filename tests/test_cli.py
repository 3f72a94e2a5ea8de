"""The CLI as a user runs it: real processes on a real home."""

from __future__ import annotations

import json
import signal
from textwrap import dedent

from helpers import start_worker, trayjobs, wait_run

CONFIG = dedent("""
    [jobs.count]
    kind = "demo"
    steps = 5
    step_time = 0.01
    every = "1h"

    [jobs.fails]
    kind = "demo"
    steps = 2
    step_time = 0
    fail_times = 9
    retry = { attempts = 2, backoff = "0.2s", jitter = false }

    [jobs.broken]
    kind = "demo"
    cron = "0 25 * * *"
""")


def test_run_wait_without_an_app_runs_in_the_foreground(home):
    home.config_file.write_text(CONFIG)
    ok = trayjobs(home, "run", "count", "--wait")
    assert ok.returncode == 0, ok.stderr
    run_id = int(ok.stdout)
    assert "run happens here" in ok.stderr
    assert f"run {run_id} succeeded: 5 steps done" in ok.stderr
    bad = trayjobs(home, "run", "fails", "--wait")
    assert bad.returncode == 1
    assert "attempt 1/2 failed" in bad.stderr
    assert f"details: trayjobs show {int(bad.stdout)}" in bad.stderr


def test_runs_show_and_json(home):
    home.config_file.write_text(CONFIG)
    rid = int(trayjobs(home, "run", "fails", "--wait").stdout)
    listing = trayjobs(home, "runs", "--state", "failed").stdout
    assert "fails" in listing and "told to fail 9 times" in listing
    shown = trayjobs(home, "show", str(rid)).stdout
    assert "attempt:  2 of 2" in shown
    assert "1. " in shown and "retrying: failing on purpose" in shown
    data = json.loads(trayjobs(home, "show", str(rid), "--json").stdout)
    assert data["run"]["state"] == "failed" and len(data["attempts"]) == 2
    lines = trayjobs(home, "runs", "--json").stdout.splitlines()
    assert json.loads(lines[0])["id"] == rid


def test_check_and_jobs_show_errors_but_list_good_jobs(home):
    home.config_file.write_text(CONFIG)
    check = trayjobs(home, "check")
    assert check.returncode == 1
    assert "job 'broken', key 'cron': cron '0 25 * * *': hour 25 is out of range 0-23" in check.stderr
    assert "2 jobs OK, 1 error" in check.stdout
    jobs = trayjobs(home, "jobs")
    assert jobs.returncode == 0
    assert "count  demo  Every hour" in jobs.stdout
    assert "hour 25" in jobs.stderr


def test_unknown_job_and_run_are_clear_errors(home):
    home.config_file.write_text(CONFIG)
    r = trayjobs(home, "run", "nope")
    assert r.returncode == 2
    assert "there is no job called 'nope' (jobs: count, fails)" in r.stderr
    r = trayjobs(home, "show", "999")
    assert r.returncode == 2 and "there is no run 999" in r.stderr


def test_commands_reach_a_running_worker(home):
    # A long job that checks for cancel: stopping code that never checks (the grace
    # period waited out, then a kill) is test_engine's, not what reaches the worker.
    home.config_file.write_text(CONFIG + dedent("""
        [jobs.spin]
        kind = "demo"
        steps = 100000
        step_time = 0.05
    """))
    worker = start_worker(home)
    try:
        waited = trayjobs(home, "run", "count", "--wait")
        assert waited.returncode == 0 and "run happens here" not in waited.stderr
        assert wait_run(home, int(waited.stdout))["pid"] == worker.pid
        spin = int(trayjobs(home, "run", "spin").stdout)
        wait_run(home, spin, "running")
        assert "asked to stop" in trayjobs(home, "cancel", str(spin)).stdout
        assert wait_run(home, spin)["state"] == "cancelled"
        again = int(trayjobs(home, "retry", str(spin)).stdout)
        assert again != spin
        wait_run(home, again, "running")
        trayjobs(home, "cancel", str(again))
        assert wait_run(home, again)["state"] == "cancelled"
        assert "paused all jobs" in trayjobs(home, "pause").stdout
        assert "paused" in trayjobs(home, "jobs").stdout
        assert "resumed all jobs" in trayjobs(home, "resume").stdout
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(20)


def test_run_of_a_job_that_works_on_files_asks_for_them(home, write_config):
    write_config("""
        [jobs.inbox]
        kind = "import"
        database = "~/x.db"
    """)
    out = trayjobs(home, "run", "inbox", "--wait")
    assert out.returncode != 0 and "works on files: give them with --file PATH" in out.stderr
    assert "Traceback" not in out.stderr


def test_show_gives_progress_while_it_means_something(home):
    home.config_file.write_text(dedent("""
        [jobs.quiet]
        kind = "command"
        command = "sleep 1.5"
    """))
    rid = int(trayjobs(home, "run", "quiet", "--wait").stdout)
    shown = trayjobs(home, "show", str(rid)).stdout
    assert "succeeded" in shown
    assert "running for" not in shown and "progress:" not in shown  # it went all the way
