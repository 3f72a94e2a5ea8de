"""One-off runs: ``trayjobs run JOB --at 18:00`` / ``--in 2h`` wait as ``scheduled`` in the
run store, are started by the scheduler when due, survive a restart and can be cancelled.
Real worker processes, real SQLite."""

from __future__ import annotations

import os
import signal
import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from helpers import run_state, start_worker, trayjobs, wait_run, wait_until
from trayjobs.schedule import one_off_time
from trayjobs.store.open import open_store

CONFIG = """
[jobs.once]
kind = "demo"
steps = 1
step_time = 0
"""

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 3, 28, 15, 30, tzinfo=BERLIN)  # the day before clocks go forward


@pytest.mark.parametrize("at, due", [
    ("18:00", datetime(2026, 3, 28, 18, 0, tzinfo=BERLIN)),
    ("7:05", datetime(2026, 3, 29, 7, 5, tzinfo=BERLIN)),        # past today: tomorrow
    ("15:30", datetime(2026, 3, 29, 15, 30, tzinfo=BERLIN)),     # now itself is past too
    ("tomorrow 18:00", datetime(2026, 3, 29, 18, 0, tzinfo=BERLIN)),  # not today's 18:00
    ("Tomorrow 9:00", datetime(2026, 3, 29, 9, 0, tzinfo=BERLIN)),
    ("2026-12-24 18:00", datetime(2026, 12, 24, 18, 0, tzinfo=BERLIN)),
    ("2026-12-24T18:00:30", datetime(2026, 12, 24, 18, 0, 30, tzinfo=BERLIN)),
    ("2026-04-01T10:00:00+00:00", datetime(2026, 4, 1, 10, 0, tzinfo=timezone.utc)),
])
def test_at_takes_a_time_of_day_a_date_and_time_or_iso(at, due):
    got = one_off_time(at=at, now=NOW)
    assert got == due and got.tzinfo is not None
    assert got.utcoffset() == due.utcoffset()


def test_tomorrows_time_of_day_keeps_tomorrows_offset():
    # 07:05 tomorrow is in summer time (+02:00) although now is winter time (+01:00).
    got = one_off_time(at="07:05", now=NOW)
    assert got.utcoffset() == timedelta(hours=2)


def test_in_takes_a_duration():
    assert one_off_time(within="2h", now=NOW) == NOW + timedelta(hours=2)
    assert one_off_time(within="1h30m", now=NOW) == NOW + timedelta(minutes=90)


@pytest.mark.parametrize("at, within, words", [
    ("2026-03-01 12:00", None, "that time has passed"),
    ("25:00", None, "not a time of day"),
    ("2026-12-24", None, "give a time too"),
    ("tomorrow", None, "--at tomorrow: give a time too, e.g. 'tomorrow 9:00'"),
    ("18:00 tomorrow", None, "--at 18:00 tomorrow: write the day first: 'tomorrow 18:00'"),
    ("teatime", None, "write e.g. 18:00"),
    ("2026-02-30 10:00", None, r"--at 2026-02-30 10:00: February 2026 has no day 30 \(it has 28\)"),
    ("2026-13-01 10:00", None, "there is no month 13"),
    ("2099-01-01 00:00", None, "at most 3660 days ahead"),
    (None, "soon", "not a duration"),
    (None, "3000000d", "at most 3660 days ahead"),
])
def test_bad_times_say_what_to_write(at, within, words):
    with pytest.raises(ValueError, match=words):
        one_off_time(at=at, within=within, now=NOW)


def test_cli_refuses_a_bad_time_and_both_options(home):
    home.config_file.write_text(CONFIG)
    out = trayjobs(home, "run", "once", "--at", "2020-01-01 10:00")
    assert out.returncode == 2 and "that time has passed" in out.stderr
    out = trayjobs(home, "run", "once", "--at", "18:00", "--in", "2h")
    assert out.returncode == 2 and "not allowed with argument" in out.stderr


def test_cli_names_in_and_says_what_to_write_for_a_bad_duration(home):
    home.config_file.write_text(CONFIG)
    out = trayjobs(home, "run", "once", "--in", "")
    assert out.returncode == 2
    assert "--in: give a duration, e.g. 2h, 90s or 1h30m" in out.stderr
    out = trayjobs(home, "run", "once", "--in", "10y")
    assert out.returncode == 2
    assert "--in: '10y' is not a duration; write e.g. '90s'" in out.stderr


@pytest.mark.parametrize("within", ["0s", "0", "0m0s", "0ms", "-5", "-5m", " -1h"])
def test_no_time_or_a_negative_one_from_now_is_refused(within):
    # "--in 0s" is a run now put a different way: refused, so that a mistyped duration
    # ("-5m" for "5m") does not run the job at once.
    from trayjobs.schedule import NotLater
    with pytest.raises(NotLater, match="(now|before now), not later"):
        one_off_time(within=within, now=NOW)


@pytest.mark.parametrize("at", ["now", "NOW", " now "])
def test_at_now_is_refused_as_a_run_now(at):
    # Was "not a time; write e.g. 18:00": the run now it asks for is `trayjobs run JOB`.
    from trayjobs.schedule import NotLater
    with pytest.raises(NotLater, match="that is now, not later"):
        one_off_time(at=at, now=NOW)


def test_cli_refuses_in_0s_and_says_how_to_run_now(home):
    home.config_file.write_text(CONFIG)
    for args in (["--in", "0s"], ["--in=-5m"], ["--in", "-5"], ["--in", "-5m"]):
        out = trayjobs(home, "run", "once", *args)
        assert out.returncode == 2, (args, out.stderr)
        assert ("now, not later; to run the job now: trayjobs run once"
                in out.stderr), (args, out.stderr)
    out = trayjobs(home, "run", "my job", "--at", "2020-01-01 10:00")
    assert ("that time has passed; to run the job now: trayjobs run 'my job'"
            in out.stderr), out.stderr
    assert trayjobs(home, "runs", check=True).stdout.strip() == "no runs yet"


def test_in_1s_runs_on_time_in_the_worker(home):
    home.config_file.write_text(CONFIG)
    worker = start_worker(home)
    try:
        typed = time.time()
        out = trayjobs(home, "run", "once", "--in", "1s", check=True)
        rid = int(out.stdout)
        assert "waits until" in out.stderr
        row = run_state(home, rid)
        assert row["state"] in ("scheduled", "queued", "running", "succeeded")
        # Counted from when it was typed, not from when the run was stored (a slow start
        # of the command must not push it back).
        assert typed + 1 <= row["due_at"] <= row["created_at"] + 1
        done = wait_run(home, rid, timeout=20)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(20)
    assert done["state"] == "succeeded", done
    # Started at its time: not before, and not a scheduler's sleep (up to a minute) later.
    assert done["due_at"] <= done["started_at"] < done["due_at"] + 1.5
    assert done["pid"] == worker.pid


def test_a_one_off_is_listed_shown_and_cancelled(home):
    home.config_file.write_text(CONFIG)
    rid = int(trayjobs(home, "run", "once", "--in", "2h", check=True).stdout)
    runs = trayjobs(home, "runs", check=True).stdout
    assert "waiting until" in runs and ("(in 1 h 59 min)" in runs or "(in 2 h 00 min)" in runs)
    # It has not started: the STARTED column is empty, not the time it was made.
    head, _, row = runs.splitlines()[:3]
    start, end = head.index("STARTED"), head.index("TOOK")
    assert row.startswith(f"{rid} ") and row[start:end].strip() == "", runs
    show = trayjobs(home, "show", str(rid), check=True).stdout
    assert "waiting until" in show and "due:" in show
    # Not started: no empty start and end times, no "attempt 0 of 3".
    assert "started:" not in show and "finished:" not in show
    assert "attempt:  none yet (at most 3)" in show
    assert trayjobs(home, "runs", "--state", "scheduled", "--json", check=True).stdout.count(
        '"state": "scheduled"') == 1
    out = trayjobs(home, "cancel", str(rid), check=True)
    assert f"run {rid}: cancelled" in out.stdout
    row = run_state(home, rid)
    assert row["state"] == "cancelled" and row["attempt"] == 0
    # Cancelled before it started: it ended, but took no time at all, not "()".
    show = trayjobs(home, "show", str(rid), check=True).stdout
    assert "finished:" in show and "()" not in show, show


def test_the_engine_tells_its_window_of_a_one_off_another_process_schedules_or_cancels(
        make_engine, home):
    # The window shows what its engine's bus tells: a run the CLI schedules (or cancels)
    # is there at once, not first when it starts.
    from trayjobs.engine.control import Control
    eng = make_engine(CONFIG)
    cli = Control(home)  # what `trayjobs run` and `trayjobs cancel` use
    try:
        rid = cli.submit("once", trigger="cli", due_at=time.time() + 7200)
        told = lambda state: [r for r in eng.watcher.seen  # noqa: E731
                              if r["id"] == rid and r["state"] == state]
        wait_until(lambda: told("scheduled"), 10, what="the scheduled run told")
        assert cli.cancel(rid) == "cancelled"
        wait_until(lambda: told("cancelled"), 10, what="the cancel told")
    finally:
        cli.close()


def test_the_engine_tells_its_window_of_a_run_another_process_queues(make_engine, home):
    # A run `trayjobs run` queued while others went on was missing from the window until
    # it started: the engine was told to dispatch, not which run had come.
    from trayjobs.engine.control import Control
    eng = make_engine(CONFIG)
    cli = Control(home)
    try:
        rid = cli.submit("once", trigger="cli")
        wait_until(lambda: [r for r in eng.watcher.seen
                            if r["id"] == rid and r["state"] == "queued"], 10,
                   what="the queued run told")
    finally:
        cli.close()


def test_a_cancelled_one_off_is_never_started(make_engine):
    eng = make_engine(CONFIG)
    rid = eng.submit("once", trigger="cli", due_at=time.time() + 0.5)
    assert eng.store.get_run(rid)["state"] == "scheduled"
    assert eng.cancel(rid) == "cancelled"
    eng.tick(time.time() + 60)  # well past its time
    row = eng.store.get_run(rid)
    assert row["state"] == "cancelled" and eng.store.attempts(rid) == []


def test_a_one_off_survives_a_killed_worker_and_runs_once(home):
    home.config_file.write_text(CONFIG)
    worker = start_worker(home)
    try:
        rid = int(trayjobs(home, "run", "once", "--in", "4s", check=True).stdout)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)
    finally:
        if worker.poll() is None:
            worker.kill()
    row = run_state(home, rid)
    assert row["state"] == "scheduled" and time.time() < row["due_at"]
    worker = start_worker(home)
    try:
        done = wait_run(home, rid, timeout=30)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(20)
    assert done["state"] == "succeeded" and done["attempt"] == 1
    assert done["started_at"] >= done["due_at"]
    store = open_store(home)
    try:
        assert [r["id"] for r in store.list_runs(job="once")] == [rid]  # once, not twice
        assert len(store.attempts(rid)) == 1
    finally:
        store.close()


def test_a_one_off_due_while_nothing_ran_starts_at_the_next_start_with_a_note(make_engine):
    eng = make_engine(CONFIG, start=False)
    due = time.time() - 600  # its time came while no app or worker was running
    rid = eng.submit("once", trigger="cli", due_at=due)
    eng.start()
    done = eng.watcher.wait(rid)
    assert done["state"] == "succeeded"
    assert "while trayjobs was not running" in done["note"]
    assert any("was due at" in l["message"] for l in eng.store.logs(rid))


def test_wait_with_in_and_no_worker_runs_it_here_at_its_time(home):
    home.config_file.write_text(CONFIG)
    t0 = time.time()
    out = trayjobs(home, "run", "once", "--in", "1s", "--wait")
    assert out.returncode == 0, out.stderr
    rid = int(out.stdout)
    row = run_state(home, rid)
    assert row["state"] == "succeeded" and row["started_at"] >= row["due_at"] >= t0 + 1
    assert "so the run happens here at" in out.stderr


def _start_run(home, *args: str):
    import subprocess
    import sys
    env = dict(os.environ, TRAYJOBS_HOME=str(home.root))
    return subprocess.Popen([sys.executable, "-m", "trayjobs", "run", *args], env=env,
                            text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.parametrize("sig, worker_too", [(signal.SIGTERM, True), (signal.SIGHUP, False)])
def test_term_or_hup_while_waiting_for_a_one_offs_time_leaves_it_scheduled_and_says_so(
        home, sig, worker_too):
    # Ctrl-C, typed, cancels the run; TERM and HUP (a closed terminal, a logout, `timeout`)
    # leave it to run at its time, and the command says who runs it and how to cancel it.
    home.config_file.write_text(CONFIG)
    proc = _start_run(home, "once", "--in", "2h", "--wait")
    rid = int(proc.stdout.readline())
    assert "Ctrl-C cancels it" in proc.stderr.readline()  # waiting for its time now
    worker = start_worker(home) if worker_too else None
    try:
        if worker is not None:
            from trayjobs.cli_views import consumer_running
            wait_until(lambda: consumer_running(home), timeout=30, what="the worker")
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=20)
    finally:
        if worker is not None:
            worker.send_signal(signal.SIGTERM)
            worker.wait(20)
    assert proc.returncode == 128 + sig, (proc.returncode, err)
    row = run_state(home, rid)
    assert row["state"] == "scheduled", row
    assert f"run {rid} stays scheduled for" in err, err
    who = ("the trayjobs app or worker running for this home starts it then" if worker_too
           else "no trayjobs app or worker is running for this home: it starts when one does")
    assert who in err, err
    assert f"trayjobs cancel {rid} drops it" in err, err


def test_ctrl_c_while_waiting_for_a_one_offs_time_cancels_it(home):
    home.config_file.write_text(CONFIG)
    proc = _start_run(home, "once", "--in", "2h", "--wait")
    rid = int(proc.stdout.readline())
    assert "Ctrl-C cancels it" in proc.stderr.readline()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130 and f"run {rid} cancelled" in err, err
    assert run_state(home, rid)["state"] == "cancelled"


def test_in_counts_real_time_across_a_clock_change():
    # 01:30 the night clocks go forward: two hours later it is 04:30, not 03:30.
    spring = datetime(2026, 3, 29, 1, 30, tzinfo=BERLIN)
    got = one_off_time(within="2h", now=spring)
    assert got.timestamp() - spring.timestamp() == 7200
    # The second pass of 02:30 the night clocks go back: ten minutes on is ahead, not past.
    autumn = datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=BERLIN)
    assert one_off_time(within="10m", now=autumn).timestamp() - autumn.timestamp() == 600


@pytest.mark.parametrize("at", ["02:45", "2026-10-25 02:45"])
def test_at_in_the_repeated_hour_takes_the_pass_still_ahead(at):
    autumn = datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=BERLIN)  # the second 02:30
    got = one_off_time(at=at, now=autumn)
    assert got.timestamp() - autumn.timestamp() == 15 * 60


@pytest.mark.parametrize("zone, now, at, due", [
    ("Europe/Berlin", datetime(2026, 3, 28, 23, 0), "02:30", datetime(2026, 3, 29, 3, 0)),
    ("Europe/Berlin", datetime(2026, 3, 28, 12, 0), "2026-03-29 02:30",
     datetime(2026, 3, 29, 3, 0)),
    ("America/New_York", datetime(2026, 3, 8, 0, 0), "02:10", datetime(2026, 3, 8, 3, 0)),
    # Lord Howe Island goes forward by half an hour, 02:00 to 02:30.
    ("Australia/Lord_Howe", datetime(2026, 10, 3, 23, 0), "02:10", datetime(2026, 10, 4, 2, 30)),
])
def test_at_a_time_the_clocks_skip_runs_when_the_gap_ends_as_cron_does(zone, now, at, due):
    tz = ZoneInfo(zone)
    got = one_off_time(at=at, now=now.replace(tzinfo=tz))
    assert got.timestamp() == due.replace(tzinfo=tz).timestamp()
