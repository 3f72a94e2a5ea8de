"""Schedules in plain words, cron across DST, and missed runs with an injected clock."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from trayjobs.config import parse_config
from trayjobs.engine.scheduler import Plan, plan
from trayjobs.schedule import Cron, Interval

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize("expr, words", [
    ("0 9 * * mon-fri", "Weekdays at 09:00"),
    ("0 9 * * 1-5", "Weekdays at 09:00"),
    ("30 8 * * 1", "Mondays at 08:30"),
    ("0 18 * * sat,sun", "Weekends at 18:00"),
    ("15 7 * * *", "Daily at 07:15"),
    ("*/15 * * * *", "Every 15 minutes"),
    ("5 * * * *", "Every hour at :05"),
    ("0 9 1 * *", "Monthly on day 1 at 09:00"),
])
def test_cron_in_plain_words(expr, words):
    assert Cron(expr).describe() == words



def test_a_question_mark_in_a_day_field_means_any_day():
    # Quartz, Spring and AWS write "?" for the day field the other one decides; it was
    # refused ("'?' is not a number"), so such a line could not be pasted as it is.
    weekdays = Cron("0 9 ? * mon-fri")
    assert weekdays.describe() == "Weekdays at 09:00"
    t = datetime(2026, 12, 4, 12, 0, tzinfo=BERLIN)  # a Friday
    assert weekdays.next_after(t, tz=BERLIN) == datetime(2026, 12, 7, 9, 0, tzinfo=BERLIN)
    assert Cron("0 9 1 * ?").next_after(t, tz=BERLIN) == datetime(2027, 1, 1, 9, 0,
                                                                    tzinfo=BERLIN)
    cfg = parse_config('[jobs.j]\nkind = "demo"\ncron = "30 6 ? * *"\n')
    assert cfg.jobs["j"].schedule.next_after(t, tz=BERLIN) == datetime(2026, 12, 5, 6, 30,
                                                                        tzinfo=BERLIN)
    with pytest.raises(ValueError, match="not a number"):
        Cron("? 9 * * *")  # not a day field: no meaning there

def test_intervals_in_plain_words():
    assert Interval(900).describe() == "Every 15 minutes"
    assert Interval(3600).describe() == "Every hour"
    assert Interval(86400 * 2).describe() == "Every 2 days"


def test_cron_across_spring_forward():
    # 02:30 does not exist on 2026-03-29 in Berlin: the run happens at 03:00 (as cron does).
    c = Cron("30 2 * * *")
    t = datetime(2026, 3, 28, 12, 0, tzinfo=BERLIN)
    runs = []
    for _ in range(3):
        t = c.next_after(t, tz=BERLIN)
        runs.append(t)
    assert [r.strftime("%m-%d %H:%M %z") for r in runs] == [
        "03-29 03:00 +0200", "03-30 02:30 +0200", "03-31 02:30 +0200"]


def test_cron_across_fall_back_runs_once_a_day():
    c = Cron("30 2 * * *")
    t = datetime(2026, 10, 24, 12, 0, tzinfo=BERLIN)
    a = c.next_after(t, tz=BERLIN)
    b = c.next_after(a, tz=BERLIN)
    assert a.strftime("%m-%d %H:%M") == "10-25 02:30"
    assert b.strftime("%m-%d %H:%M %z") == "10-26 02:30 +0100"
    assert b.timestamp() - a.timestamp() == 25 * 3600  # the day with an extra hour


@pytest.mark.parametrize("zone, second_pass, expr, expected", [
    ("Europe/Berlin", datetime(2026, 10, 25, 2, 10, fold=1), "30 2 * * *", "10-26 02:30"),
    ("America/New_York", datetime(2026, 11, 1, 1, 5, fold=1), "45 1 * * *", "11-02 01:45"),
    ("Australia/Lord_Howe", datetime(2026, 4, 5, 1, 35, fold=1), "45 1 * * *", "04-06 01:45"),
])
def test_cron_from_the_repeated_hours_second_pass_is_next_day_not_past(zone, second_pass,
                                                                         expr, expected):
    tz = ZoneInfo(zone)
    now = second_pass.replace(tzinfo=tz)
    nxt = Cron(expr).next_after(now, tz=tz)
    assert nxt.timestamp() > now.timestamp() and nxt.astimezone(tz).strftime("%m-%d %H:%M") == expected


def test_a_job_first_seen_in_the_repeated_hour_gets_no_catch_up_run(make_engine):
    # Set up (or its schedule changed) at 02:10 in the second pass of the hour the clocks
    # repeat: its first run is tomorrow's 02:30, not the first pass's 02:30, an hour ago.
    now = datetime(2026, 10, 25, 2, 10, fold=1, tzinfo=BERLIN).timestamp()
    eng = make_engine("""
        [jobs.nightly]
        kind = "demo"
        cron = "30 2 * * *"
        steps = 1
        step_time = 0
    """, tz=BERLIN, scheduler=False)
    assert eng.tick(now) == datetime(2026, 10, 26, 2, 30, tzinfo=BERLIN).timestamp()
    eng.tick(now + 120)
    assert eng.store.list_runs(job="nightly") == []


def test_interval_counts_real_time_across_dst():
    i = Interval(3600)
    start = datetime(2026, 10, 25, 1, 30, tzinfo=BERLIN)
    nxt = i.next_after(start, anchor=start, tz=BERLIN)
    assert (nxt - start).total_seconds() == 3600


JOBS = parse_config("""
[jobs.once]
kind = "demo"
cron = "0 9 * * *"
missed = "once"
[jobs.all]
kind = "demo"
every = "1h"
missed = "all"
[jobs.skip]
kind = "demo"
every = "1h"
missed = "skip"
""").jobs


def _state(job, at):
    return {"next_run_at": at.timestamp(), "schedule_spec": job.schedule_spec}


def test_first_sight_schedules_without_catch_up():
    now = datetime(2026, 11, 23, 8, 0, tzinfo=BERLIN)
    p = plan(JOBS["once"], None, now, tz=BERLIN)
    assert p.runs == []
    assert datetime.fromtimestamp(p.next_run_at, BERLIN) == now.replace(hour=9)


def test_on_time_run_is_a_normal_schedule_run():
    due = datetime(2026, 11, 23, 9, 0, tzinfo=BERLIN)
    p = plan(JOBS["once"], _state(JOBS["once"], due), due + timedelta(seconds=3), tz=BERLIN)
    assert [r.trigger for r in p.runs] == ["schedule"]
    assert p.missed == 0


@pytest.mark.parametrize("name, triggers, missed", [
    ("once", ["catch-up"], 3),
    ("all", ["catch-up"] * 72, 72),
    ("skip", ["skipped"], 72),
])
def test_missed_runs_follow_the_policy(name, triggers, missed):
    job = JOBS[name]
    due = datetime(2026, 11, 23, 9, 0, tzinfo=BERLIN)
    now = due + timedelta(days=2, hours=23, minutes=30)  # laptop was closed
    p = plan(job, _state(job, due), now, tz=BERLIN)
    assert [r.trigger for r in p.runs] == triggers
    assert p.missed == missed
    assert p.runs[0].note.startswith(f"missed {missed} runs since 2026-11-23 09:00")
    assert p.next_run_at > now.timestamp()


def test_a_missed_once_catch_up_stands_for_the_newest_slot_missed():
    # Three days away: the one run is for the last morning missed (a daily report run
    # so is yesterday's), not the first; TRAYJOBS_SCHEDULED_FOR says its due time.
    job = JOBS["once"]
    due = datetime(2026, 11, 23, 9, 0, tzinfo=BERLIN)
    p = plan(job, _state(job, due), due + timedelta(days=2, hours=23, minutes=30), tz=BERLIN)
    [run] = p.runs
    assert datetime.fromtimestamp(run.due_at, BERLIN) == datetime(2026, 11, 25, 9, 0,
                                                                  tzinfo=BERLIN)


def test_changed_schedule_starts_afresh():
    job = JOBS["once"]
    old = {"next_run_at": 0.0, "schedule_spec": "cron:0 8 * * *"}
    p = plan(job, old, datetime(2026, 11, 23, 10, 0, tzinfo=BERLIN), tz=BERLIN)
    assert p.runs == [] and p.missed == 0


def test_engine_records_missed_runs_with_injected_clock(make_engine):
    t0 = datetime(2026, 11, 23, 8, 0, tzinfo=BERLIN).timestamp()
    eng = make_engine("""
        [jobs.daily]
        kind = "demo"
        cron = "0 9 * * *"
        steps = 1
        step_time = 0
    """, tz=BERLIN, scheduler=False)
    assert eng.tick(t0) == t0 + 3600  # next due 09:00
    # The machine slept from 08:00 until three days later at 10:00.
    eng.tick(t0 + 3 * 86400 + 7200)
    [run] = eng.store.list_runs(job="daily")
    assert run["trigger"] == "catch-up"
    assert run["note"] == "missed 4 runs since 2026-11-23 09:00; running once"
    assert eng.watcher.wait(run["id"])["state"] == "succeeded"
    st = eng.store.job_states()["daily"]
    assert datetime.fromtimestamp(st["next_run_at"], BERLIN).strftime("%d %H:%M") == "27 09:00"


def test_paused_job_catches_up_on_resume(make_engine):
    t0 = datetime(2026, 11, 23, 8, 0, tzinfo=BERLIN).timestamp()
    eng = make_engine("""
        [jobs.hourly]
        kind = "demo"
        every = "1h"
        missed = "once"
        steps = 1
        step_time = 0
    """, tz=BERLIN, scheduler=False)
    eng.tick(t0)
    eng.set_paused(True, "hourly")
    eng.tick(t0 + 5 * 3600 + 600)
    assert eng.store.list_runs(job="hourly") == []
    eng.set_paused(False, "hourly")
    eng.tick(t0 + 5 * 3600 + 700)
    [run] = eng.store.list_runs(job="hourly")
    assert run["trigger"] == "catch-up" and run["note"].startswith("missed 5 runs")


def test_a_job_enabled_again_catches_up_nothing_of_the_days_it_was_off(make_engine,
                                                                        write_config):
    t0 = datetime(2026, 11, 23, 8, 0, tzinfo=BERLIN).timestamp()
    jobs = """
        [jobs.hourly]
        kind = "demo"
        every = "1h"
        missed = "all"
        steps = 1
        step_time = 0
        enabled = %s
    """
    eng = make_engine(jobs % "true", tz=BERLIN, scheduler=False)
    eng.tick(t0)
    write_config(jobs % "false")
    eng.reload_config()
    eng.tick(t0 + 5 * 86400)  # five days off: its slots were not missed, it was off
    write_config(jobs % "true")
    eng.reload_config()
    eng.tick(t0 + 5 * 86400 + 60)
    assert eng.store.list_runs(job="hourly") == []  # were 100 catch-up runs
    st = eng.store.job_states()["hourly"]
    assert st["next_run_at"] == t0 + 5 * 86400 + 3600


@pytest.mark.parametrize("name", ["once", "all"])
def test_a_clock_set_back_by_days_does_not_hold_the_schedule_back(name):
    # Planned while the clock was a week ahead; now it is right again.
    job = JOBS[name]
    now = datetime(2026, 11, 23, 8, 0, tzinfo=BERLIN)
    fresh = job.schedule.next_after(now, tz=BERLIN).timestamp()
    state = _state(job, now + timedelta(days=7, hours=1))
    assert plan(job, state, now, tz=BERLIN) == Plan([], fresh)
    state["last_due_at"] = (now + timedelta(days=7)).timestamp()  # and a slot ran then
    assert plan(job, state, now, tz=BERLIN) == Plan([], fresh)


def test_a_clock_set_back_a_little_waits_rather_than_run_a_slot_twice():
    # 09:00 ran, then the clock went back ten minutes: 09:00 is not run again, as cron.
    job = JOBS["once"]
    tomorrow = datetime(2026, 11, 24, 9, 0, tzinfo=BERLIN)
    state = dict(_state(job, tomorrow), last_due_at=(tomorrow - timedelta(days=1)).timestamp())
    p = plan(job, state, datetime(2026, 11, 23, 8, 50, tzinfo=BERLIN), tz=BERLIN)
    assert p == Plan([], tomorrow.timestamp())


def _walk(expr, zone, start, n):
    tz = ZoneInfo(zone)
    t, out = start.replace(tzinfo=tz), []
    for _ in range(n):
        t = Cron(expr).next_after(t, tz=tz)
        out.append(t.astimezone(tz).strftime("%m-%d %H:%M%z"))
    return out


def test_a_half_hour_clock_change_passes_over_no_slot_and_runs_none_twice():
    # Lord Howe Island: on 2026-04-05 the clocks go back from 02:00 (+11) to 01:30 (+10:30).
    night = datetime(2026, 4, 5, 0, 51)
    assert _walk("*/15 2 * * *", "Australia/Lord_Howe", night, 3) == [
        "04-05 02:00+1030", "04-05 02:15+1030", "04-05 02:30+1030"]
    # A fixed time in the repeated half hour runs in its first pass only, as cron.
    assert _walk("45 1 * * *", "Australia/Lord_Howe", night, 2) == [
        "04-05 01:45+1100", "04-06 01:45+1030"]
    # A wildcard minute runs in both passes, as for a whole hour repeated.
    assert _walk("*/15 1 * * *", "Australia/Lord_Howe", datetime(2026, 4, 5, 1, 20), 4) == [
        "04-05 01:30+1100", "04-05 01:45+1100", "04-05 01:30+1030", "04-05 01:45+1030"]
    # Forward on 2026-10-04, 02:00 to 02:30: the skipped slots run as the clocks change.
    assert _walk("10 2 * * *", "Australia/Lord_Howe", datetime(2026, 10, 3, 12), 2) == [
        "10-04 02:30+1100", "10-05 02:10+1100"]


def test_a_long_sleep_counts_every_missed_second_not_where_the_count_stopped():
    job = parse_config('[jobs.s]\nkind = "demo"\nevery = "1s"\n').jobs["s"]
    now = datetime(2026, 11, 23, 8, 0, tzinfo=BERLIN)
    p = plan(job, _state(job, now - timedelta(days=3, seconds=-1)), now, tz=BERLIN)
    # the slot at now is on time: the one before it, every second of three days, missed
    assert [r.trigger for r in p.runs] == ["skipped", "schedule"]
    assert p.missed == 3 * 86400 - 1
    assert p.runs[0].note.startswith(f"missed {3 * 86400 - 1} runs since 2026-11-20 08:00")


@pytest.mark.parametrize("expr, missed", [("* * * * *", "once"), ("*/5 * * * *", "all"),
                                          ("0 9 * * *", "skip")])
def test_a_cron_a_year_behind_is_planned_at_once_with_every_slot_counted(expr, missed):
    """Each missed slot was walked one by one: a minute's cron whose app was closed for a
    year took seconds at each scheduler tick (each one, while the job was paused), and
    stopped counting at 100000."""
    import time
    job = parse_config(f'[jobs.c]\nkind = "demo"\ncron = "{expr}"\n'
                       f'missed = "{missed}"\n').jobs["c"]
    now = datetime(2026, 11, 23, 8, 0, 30, tzinfo=BERLIN)
    since = job.schedule.next_after(now - timedelta(days=365), tz=BERLIN)
    started = time.perf_counter()
    p = plan(job, _state(job, since), now, tz=BERLIN)
    assert time.perf_counter() - started < 1.5  # about 0.1 s; it took 3 s, at each tick
    per_day = {"* * * * *": 1440, "*/5 * * * *": 288, "0 9 * * *": 1}[expr]
    on_time = expr != "0 9 * * *"  # 08:00 is a slot of the first two, 30 s ago
    assert p.missed == 365 * per_day - on_time
    assert p.runs[0].note.startswith(f"missed {p.missed} runs since")
    assert (p.runs[-1].trigger == "schedule") is on_time
    if missed == "all":  # the first hundred, from the first missed on, five minutes apart
        each = [r.due_at for r in p.runs if r.trigger == "catch-up"]
        assert len(each) == 100 and each[0] == since.timestamp()
        assert {b - a for a, b in zip(each, each[1:])} == {300.0}
    assert p.next_run_at == job.schedule.next_after(now, tz=BERLIN).timestamp()


@pytest.mark.parametrize("zone, day", [
    ("Europe/Berlin", datetime(2026, 3, 29)), ("Europe/Berlin", datetime(2026, 10, 25)),
    ("Australia/Lord_Howe", datetime(2026, 4, 5)), ("Australia/Lord_Howe", datetime(2026, 10, 4)),
    ("America/Santiago", datetime(2026, 4, 5)), ("America/Havana", datetime(2026, 3, 8)),
    # 23:00 to 24:00 skipped: a 23:59 slot of the 28th runs as the 29th begins
    ("America/Nuuk", datetime(2026, 3, 28)),
])
@pytest.mark.parametrize("expr", ["*/15 * * * *", "30 2 * * *", "45 1 * * *", "*/10 0-2 * * *",
                                  "0 0 * * *", "59 23 * * *"])
def test_the_slots_counted_across_a_clock_change_are_those_walked_one_by_one(zone, day, expr):
    from datetime import timezone
    tz, cron = ZoneInfo(zone), Cron(expr)
    for start_hour, hours in ((-30, 60), (1, 2), (-3, 5)):
        first = cron.next_after((day + timedelta(hours=start_hour)).replace(tzinfo=tz), tz=tz)
        now = first + timedelta(hours=hours)
        walked, t = [first], first
        while (t := cron.next_after(t, tz=tz)).timestamp() <= now.timestamp():
            walked.append(t)
        last = cron.last_by(now, first.astimezone(timezone.utc), tz=tz)
        assert last.timestamp() == walked[-1].timestamp()
        assert cron.count(first.astimezone(timezone.utc), last, tz=tz) == len(walked)


def _zone_in(tz: str) -> tuple[str, str]:
    """In a process whose TZ is ``tz``: a 09:00 cron's next run after 2026-07-01 00:00 UTC,
    and what ``trayjobs check`` would say of the zone."""
    import os
    import subprocess
    import sys
    code = ("from datetime import datetime, timezone\n"
            "from trayjobs.schedule import Cron, local_zone, zone_problem\n"
            "t = Cron('0 9 * * *').next_after(datetime(2026, 7, 1, tzinfo=timezone.utc))\n"
            "print(t.astimezone(timezone.utc).isoformat()); print(zone_problem())\n")
    out = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, TZ=tz),
                         capture_output=True, text=True, timeout=60, check=True).stdout
    due, problem = out.splitlines()
    return due, problem


@pytest.mark.parametrize("tz, due", [
    ("CET-1CEST,M3.5.0,M10.5.0/3", "2026-07-01T07:00:00+00:00"),  # 09:00 in summer time
    ("JST-9", "2026-07-02T00:00:00+00:00"),  # 09:00 on the 1st was that very moment
    ("Europe/Paris", "2026-07-01T07:00:00+00:00"),
])
def test_a_tz_given_as_posix_rules_is_the_zone_schedules_follow(tz, due):
    """TZ as POSIX rules sets the machine's clocks (the C library reads it), but was read
    as no zone at all: every schedule ran in UTC, an hour or more from the time written."""
    assert _zone_in(tz) == (due, "None")


def test_a_tz_that_names_no_zone_is_said_with_what_to_set():
    due, problem = _zone_in("Mars/Olympus")
    assert due == "2026-07-01T09:00:00+00:00"  # UTC, as the C library takes it too
    assert problem.startswith("TZ=Mars/Olympus is not a time zone this computer knows: "
                              "schedules follow UTC") and "Europe/Paris" in problem


def test_check_warns_of_a_tz_that_names_no_zone(home):
    from helpers import trayjobs
    home.config_file.write_text('[jobs.a]\nkind = "demo"\ncron = "0 9 * * *"\n')
    out = trayjobs(home, "check", env={"TZ": "Mars/Olympus"})
    assert out.returncode == 0, out.stderr
    assert "warning: TZ=Mars/Olympus is not a time zone this computer knows" in out.stderr
    assert "warning" not in trayjobs(home, "check", env={"TZ": "Europe/Paris"}).stderr


def test_a_stored_time_planned_in_another_zone_still_counts_as_one_slot():
    """A laptop taken from Berlin to New York keeps the 09:00 Berlin time planned before it
    left: that time and each slot after it in the new zone are due, as they were walked."""
    ny = ZoneInfo("America/New_York")
    job = parse_config('[jobs.c]\nkind = "demo"\ncron = "0 9 * * *"\nmissed = "all"\n'
                       ).jobs["c"]
    planned = datetime(2026, 11, 23, 9, 0, tzinfo=BERLIN)  # 03:00 in New York
    now = datetime(2026, 11, 25, 12, 0, tzinfo=ny)
    p = plan(job, _state(job, planned), now, tz=ny)
    assert [datetime.fromtimestamp(r.due_at, ny).strftime("%d %H:%M") for r in p.runs] == [
        "23 03:00", "23 09:00", "24 09:00", "25 09:00"]
    assert p.missed == 4


def test_a_time_zone_that_cannot_be_read_is_said_with_what_to_do(monkeypatch):
    from datetime import timezone

    import tzlocal

    from trayjobs import schedule
    monkeypatch.delenv("TZ", raising=False)

    def unreadable():
        raise OSError("/etc/localtime: not a time zone file")
    monkeypatch.setattr(tzlocal, "get_localzone", unreadable)
    assert schedule.local_zone() is timezone.utc
    assert schedule.zone_problem() == (
        "this computer's time zone cannot be read (/etc/localtime: not a time zone file): "
        "schedules follow UTC until it can; set it (`timedatectl set-timezone "
        "Europe/Paris`), or set TZ to a name such as Europe/Paris")


def test_a_running_scheduler_follows_the_computer_taken_to_another_time_zone(
        make_engine, monkeypatch):
    """The laptop flown from Berlin to New York, its zone set there while trayjobs runs:
    the slot planned in Berlin runs as planned, the next at 09:00 in New York, not at
    09:00 in Berlin (03:00 there) until trayjobs is started again."""
    import tzlocal
    monkeypatch.setenv("TZ", "Europe/Berlin")
    tzlocal.reload_localzone()
    eng = make_engine("""
        [jobs.morning]
        kind = "demo"
        cron = "0 9 * * *"
        steps = 1
        step_time = 0
    """, scheduler=False)
    now = datetime(2026, 6, 1, 8, 0, tzinfo=BERLIN).timestamp()
    slot = datetime(2026, 6, 1, 9, 0, tzinfo=BERLIN).timestamp()
    assert eng.tick(now) == slot
    monkeypatch.setenv("TZ", "America/New_York")
    try:
        # 03:00 there: the next slot is 09:00 that day, not 09:00 in Berlin tomorrow
        assert eng.tick(slot + 1) == datetime(2026, 6, 1, 9, 0,
                                              tzinfo=ZoneInfo("America/New_York")).timestamp()
    finally:
        monkeypatch.undo()
        tzlocal.reload_localzone()
