"""Health and metrics on a known history: exact figures from the store, the one overview
that the CLI and the window share, and ``trayjobs stats`` as a user runs it."""

from __future__ import annotations

import json
import math
from textwrap import dedent

import pytest

from helpers import trayjobs
from trayjobs.config import parse_config
from trayjobs.overview import Health, job_health, job_overview, rate_text
from trayjobs.store import RunStore
from trayjobs.store.open import open_store

NOW = 1_800_000_000.0
H = 3600.0

CONFIG = dedent("""
    [jobs.bank]
    kind = "demo"
    tags = ["money", "home"]

    [jobs.tidy]
    kind = "demo"
    tags = ["home"]
    every = "1h"

    [jobs.idle]
    kind = "demo"
""")


def put(store: RunStore, job: str, state: str, *, created: float, took: float | None = 1.0,
        wait: float = 0.0, warnings: int = 0) -> None:
    started = None if took is None else created + wait
    finished = None if took is None else started + took
    store._execute(
        "INSERT INTO runs (job, kind, trigger, state, created_at, queued_at, started_at,"
        " finished_at, updated_at, warnings) VALUES (?, 'demo', 'schedule', ?, ?, ?, ?, ?, ?, ?)",
        (job, state, created, created, started, finished, created, warnings))


@pytest.fixture
def history(tmp_path, make_store) -> RunStore:
    """bank, in the last 7 days: successes of 1..10 s, one of 20 s with warnings, two
    failures, one cancelled, one waiting; and a 100 s success 8 days ago."""
    store = make_store(tmp_path / "runs.db")
    put(store, "bank", "succeeded", created=NOW - 8 * 86400, took=100)
    for i, took in enumerate([3, 1, 4, 10, 5, 9, 2, 6, 8, 7]):
        put(store, "bank", "succeeded", created=NOW - 50 * H + i * H, took=took, wait=2.0)
    put(store, "bank", "failed", created=NOW - 30 * H, took=0.5)
    put(store, "bank", "succeeded", created=NOW - 20 * H, took=20, warnings=3)
    put(store, "bank", "cancelled", created=NOW - 10 * H, took=None)
    put(store, "bank", "failed", created=NOW - 5 * H, took=0.5, wait=4.0)
    put(store, "bank", "queued", created=NOW - 1, took=None)
    put(store, "tidy", "succeeded", created=NOW - 2 * H, took=2)
    yield store
    store.close()


def test_health_figures_are_exact_on_a_known_history(history):
    h = job_health(history, ["bank", "tidy", "idle"], now=NOW)
    bank = h["bank"]
    assert (bank.runs, bank.succeeded, bank.warned, bank.failed) == (14, 11, 1, 2)
    assert bank.success_rate == pytest.approx(11 / 13)
    # nearest rank over the 11 successes in the window: 1..10 s and 20 s
    assert (bank.p50, bank.p95) == (6.0, 20.0)
    assert bank.waiting == 1
    assert bank.last_success_at == NOW - 20 * H + 20
    assert bank.recent[-4:] == ("failed", "warning", "cancelled", "failed")
    assert len(bank.recent) == 15  # every ended run: the queued one is not
    assert rate_text(bank) == "85 % · 1 warned"
    assert h["idle"] == Health()
    assert rate_text(h["idle"]) == ""
    # The older run counts once the window reaches it.
    older = job_health(history, ["bank"], since=NOW - 9 * 86400, now=NOW)["bank"]
    assert (older.succeeded, older.p95) == (12, 100.0)


def test_metrics_buckets_runs_failures_durations_and_wait(history):
    buckets = history.metrics(since=NOW - 6 * H, until=NOW, bucket=H)
    assert len(buckets) == 6
    assert [b["runs"] for b in buckets] == [0, 1, 0, 0, 1, 1]
    assert [b["failed"] for b in buckets] == [0, 1, 0, 0, 0, 0]
    assert buckets[1]["wait_avg"] == 4.0
    assert buckets[4]["duration_avg"] == 2.0
    assert buckets[0] == {"start": NOW - 6 * H, "runs": 0, "ended": 0, "failed": 0,
                          "warned": 0, "duration_avg": None, "wait_avg": None}
    only_tidy = history.metrics(since=NOW - 6 * H, until=NOW, bucket=H, jobs=["tidy"])
    assert [b["runs"] for b in only_tidy] == [0, 0, 0, 0, 1, 0]


def test_metrics_buckets_count_back_from_the_end_and_hold_what_job_health_counts(history):
    # A window not a whole number of buckets long: the newest bucket is whole and ends at
    # `until`, the oldest starts at the hour `since` is in and is cut short; together they
    # hold the runs job_health counts from the same `since` (the CLI's `stats --since`).
    since = NOW - 7 * 86400 - 0.5 * H
    days = history.metrics(since=since, until=NOW + 3 * H, bucket=86400)
    assert len(days) == 8
    assert days[0]["start"] == since and days[1]["start"] == NOW + 3 * H - 7 * 86400
    health = history.job_health(since=since)
    assert sum(b["ended"] for b in days) == sum(h["runs"] for h in health.values())
    assert sum(b["failed"] for b in days) == sum(h["failed"] for h in health.values())
    assert sum(b["runs"] for b in days) == sum(h["runs"] for h in health.values()) + 1  # queued


def test_the_hourly_sums_follow_every_change_to_the_runs(history):
    """run_hours, kept by triggers, always equals a count of the runs themselves: after
    inserts, a run that starts and ends, a success that gains warnings, and a prune."""
    def recount():  # counted here, by the runs' rows, in SQL every store reads alike
        counts: dict[tuple, dict] = {}
        for r in history._query("SELECT created_at, job, state, warnings FROM runs"):
            key = (math.floor(r["created_at"] / 3600), r["job"])
            c = counts.setdefault(key, {"hour": key[0], "job": key[1], "runs": 0,
                                        "failed": 0, "warned": 0, "succeeded": 0})
            c["runs"] += 1
            c["failed"] += r["state"] == "failed"
            c["warned"] += r["state"] == "succeeded" and r["warnings"] > 0
            c["succeeded"] += r["state"] == "succeeded"
        return [counts[k] for k in sorted(counts)]

    def sums():
        return history._query("SELECT hour, job, runs, failed, warned, succeeded"
                              " FROM run_hours WHERE runs != 0 ORDER BY hour, job")

    assert sums() == recount()
    waiting = history.list_runs(state="queued")[0]["id"]
    history.update_run(waiting, state="running", started_at=NOW)
    history.set_progress(waiting, 1, 2, "files", "half")
    history.update_run(waiting, state="succeeded", finished_at=NOW + 4, warnings=2)
    assert sums() == recount()
    assert history.metrics(since=NOW - H, until=NOW, bucket=H)[0]["duration_avg"] == 4.0
    history.prune(keep_days=1, keep_runs=100, keep_failed_days=1, now=NOW)
    assert sums() == recount()
    assert history.job_health(since=NOW - 30 * 86400)["bank"]["runs"] == 4  # of the last day


def test_one_overview_feeds_the_cli_and_the_window(history, monkeypatch):
    """trayjobs jobs, trayjobs stats and the window's job list all read job_overview /
    job_health: the same rows, computed once."""
    import trayjobs.cli as cli
    import trayjobs.overview as overview
    import trayjobs.ui.app as ui_app
    cfg = parse_config(CONFIG)
    rows = job_overview(cfg, history, paused_all=False, now=NOW)
    assert [r["name"] for r in rows] == ["bank", "tidy", "idle"]
    assert rows[0]["tags"] == ["money", "home"]
    assert rows[0]["health"].failed == 2
    assert rows[1]["next_run_at"] is not None and rows[0]["next_run_at"] is None
    calls = []
    real = overview.job_overview

    def counting(*a, **kw):
        calls.append(kw.get("paused_all"))
        return real(*a, **kw)

    monkeypatch.setattr(overview, "job_overview", counting)

    class Eng:
        config, store = cfg, history

        def paused(self):
            return False

    data = ui_app.load_jobs(Eng())
    assert [r["name"] for r in data["rows"]] == ["bank", "tidy", "idle"]
    assert [r["health"] for r in data["rows"]] == [
        r["health"] for r in real(cfg, history, paused_all=False)]
    assert calls == [False]
    assert "job_overview" in cli.cmd_jobs.__code__.co_names


def test_a_one_off_run_is_the_jobs_next_run(history):
    """"Run with…" at a time (or ``trayjobs run --at``): the Jobs page's Next run says
    when, for a job without a schedule and for one whose schedule comes later."""
    import time
    cfg = parse_config(CONFIG)
    soon, later = time.time() + 600, time.time() + 5400
    history.insert_run("bank", kind="demo", trigger="manual", state="scheduled", due_at=later)
    history.insert_run("bank", kind="demo", trigger="manual", state="scheduled", due_at=soon)
    history.insert_run("tidy", kind="demo", trigger="manual", state="scheduled", due_at=later)
    rows = {r["name"]: r for r in job_overview(cfg, history, paused_all=False)}
    assert rows["bank"]["next_run_at"] == soon and rows["bank"]["next_is_one_off"]
    # tidy runs every hour: its schedule comes before the one-off in 90 minutes.
    assert rows["tidy"]["next_run_at"] < later and not rows["tidy"]["next_is_one_off"]
    assert rows["idle"]["next_run_at"] is None and not rows["idle"]["next_is_one_off"]


def test_tags_are_a_common_key_and_must_be_words():
    cfg = parse_config('[jobs.a]\nkind = "demo"\ntags = ["home", "money"]\n')
    assert not cfg.errors and cfg.jobs["a"].common.tags == ["home", "money"]
    bad = parse_config('[jobs.a]\nkind = "demo"\ntags = "home"\n')
    assert bad.errors and "tags" in str(bad.errors[0])


def test_trayjobs_stats_prints_the_figures_and_json(home):
    home.config_file.write_text(CONFIG)
    import time
    now = time.time()
    store = open_store(home)
    for took in (1, 2, 3, 4):
        put(store, "bank", "succeeded", created=now - 3 * H, took=took)
    put(store, "bank", "failed", created=now - 2 * H)
    put(store, "tidy", "succeeded", created=now - 40 * 86400, took=5)
    store.close()

    out = trayjobs(home, "stats")
    assert out.returncode == 0, out.stderr
    lines = {l.split()[0]: l for l in out.stdout.splitlines()[3:] if l.strip()}
    assert "80 %" in lines["bank"] and "2.0 s / 4.0 s" in lines["bank"]
    assert lines["bank"].rstrip().endswith("++++x")
    assert "TOOK: TYPICAL / SLOWEST 5 %" in out.stdout and "one success in 20" in out.stdout
    idle = trayjobs(home, "stats", "--job", "idle")  # no figures: nothing to explain
    assert "idle" in idle.stdout and "one success in 20" not in idle.stdout
    assert "never" in lines["idle"]

    js = json.loads(trayjobs(home, "stats", "--json", "--tag", "home", "--since", "30d").stdout)
    assert set(js["jobs"]) == {"bank", "tidy"}
    bank = js["jobs"]["bank"]
    assert (bank["succeeded"], bank["failed"], bank["p50"], bank["p95"]) == (4, 1, 2.0, 4.0)
    assert bank["success_rate"] == 0.8 and bank["recent"][-1] == "failed"
    assert js["jobs"]["tidy"]["runs"] == 0  # 40 days ago: outside the window
    assert js["window_seconds"] == 30 * 86400

    one = json.loads(trayjobs(home, "stats", "--json", "--job", "tidy", "--since", "60d").stdout)
    assert list(one["jobs"]) == ["tidy"] and one["jobs"]["tidy"]["p50"] == 5.0

    bad = trayjobs(home, "stats", "--since", "soon")
    assert bad.returncode == 2 and "--since" in bad.stderr

    jobs = trayjobs(home, "jobs", "--tag", "money")
    assert jobs.returncode == 0, jobs.stderr
    assert "bank" in jobs.stdout and "tidy" not in jobs.stdout
    assert "80 %" in jobs.stdout and "TOOK: TYPICAL / SLOWEST 5 %" in jobs.stdout
    assert "P50" not in jobs.stdout + out.stdout


def test_the_two_durations_are_told_in_words():
    from trayjobs.overview import durations_tip
    assert durations_tip(Health()) == ""
    few = Health(runs=3, succeeded=3, p50=2.0, p95=4.0)
    assert durations_tip(few).endswith("; its slowest success took 4.0 s")
    many = Health(runs=40, succeeded=40, p50=2.0, p95=9.0)
    assert durations_tip(many) == ("Typically 2.0 s (half of its successes over the last 7 days "
                                   "took less, half more); the slowest 5 % (1 in 20) took 9.0 s "
                                   "or longer")


def _steps(store: RunStore, fn) -> int:
    """SQLite's work for ``fn``, in thousands of virtual machine steps."""
    calls = []
    store.conn.set_progress_handler(lambda: calls.append(1) and 0, 1000)
    try:
        fn()
    finally:
        store.conn.set_progress_handler(None, 0)
    return len(calls)


def _years_of_runs(store: RunStore, n: int, *, jobs: int) -> None:
    with store.transaction() as conn:
        conn.executemany(
            "INSERT INTO runs (job, kind, trigger, state, created_at, queued_at, started_at,"
            " finished_at, updated_at) VALUES (?, 'demo', 'schedule', ?, ?, ?, ?, ?, ?)",
            [(f"job-{i % jobs}", "failed" if i % 9 == 0 else "succeeded", t, t, t, t + 2, t)
             for i in range(n) for t in [NOW - 700 * 86400 + i * 600]])


def test_the_health_of_a_week_costs_the_same_after_years_of_runs(tmp_path):
    # Each job's durations were read walking back through all its successes, two years of
    # them, to find the week's: `trayjobs stats` and the Jobs page took 2.3 s over a million
    # runs of 200 jobs, the window's other reads queued behind it.
    store = RunStore(tmp_path / "runs.db")
    _years_of_runs(store, 20_000, jobs=4)
    for i in range(20):
        put(store, f"job-{i % 4}", "succeeded", created=NOW - 3 * H + i * 60, took=i + 1)
    health = {}
    work = _steps(store, lambda: health.update(store.job_health(since=NOW - 86400)))
    assert {j: h["runs"] for j, h in health.items()} == {f"job-{i}": 5 for i in range(4)}
    assert health["job-0"]["p50"] == 9 and health["job-0"]["p95"] == 17
    assert work < 20, work
    store.close()


def test_the_last_run_of_each_job_costs_the_same_after_years_of_runs(tmp_path):
    # Found by a GROUP BY over every run's state: 2.9 s over a million runs, at each load of
    # the Jobs page and of `trayjobs jobs`.
    store = RunStore(tmp_path / "runs.db")
    _years_of_runs(store, 20_000, jobs=5)
    put(store, "job-1", "queued", created=NOW, took=None)
    last = {}
    work = _steps(store, lambda: last.update(store.last_runs()))
    assert {j: r["id"] for j, r in last.items()} == {f"job-{i}": 19_996 + i for i in range(5)}
    assert work < 20, work
    store.close()


def test_counting_the_runs_that_need_attention_reads_only_those(tmp_path):
    # Counted by one query over failed or warned runs, every success was read for its
    # warnings: 0.3 s over a million runs, at each load of the jobs and the tray.
    store = RunStore(tmp_path / "runs.db")
    _years_of_runs(store, 20_000, jobs=3)
    store.mark_seen(r["id"] for r in store.list_runs(state="failed", limit=10_000))
    for state, warnings in [("failed", 0), ("failed", 0), ("succeeded", 2), ("succeeded", 0)]:
        put(store, "job-1", state, created=NOW, warnings=warnings)
    counts = {}
    work = _steps(store, lambda: counts.update(store.attention_counts()))
    assert counts == {"failed": 2, "warning": 1}
    assert work < 20, work
    store.close()


def test_a_job_name_nobody_knows_is_answered_with_the_one_meant(home):
    """`stats --job` and `runs --job` of a mistyped name said "never" and "no runs": as if
    the job had not run, when it does not exist. A job removed from the file whose runs the
    history keeps, or one left out for a mistake, is still asked about as before."""
    home.config_file.write_text(CONFIG + '\n[jobs.broken]\nkind = "demo"\nevery = "soon"\n')
    import time
    store = open_store(home)
    put(store, "bank", "succeeded", created=time.time() - H)
    put(store, "gone", "succeeded", created=time.time() - H)  # removed from the file
    store.close()

    for command in ("stats", "runs"):
        typo = trayjobs(home, command, "--job", "bnak")
        assert typo.returncode == 2, typo.stdout
        assert "there is no job called 'bnak'; did you mean 'bank'?" in typo.stderr
        assert typo.stdout == ""
        gone = trayjobs(home, command, "--job", "gone")
        assert gone.returncode == 0 and "gone" in gone.stdout, gone.stderr
        idle = trayjobs(home, command, "--job", "idle")  # in the file, never run
        assert idle.returncode == 0 and "idle" in idle.stdout, idle.stderr
        broken = trayjobs(home, command, "--job", "broken")
        assert broken.returncode == 0 and "broken" in broken.stdout, broken.stderr


def test_a_tag_no_job_has_is_answered_with_the_tags_there_are(home):
    """`jobs --tag` of a mistyped tag printed nothing at all, `stats --tag` a heading alone."""
    home.config_file.write_text(CONFIG)
    for command in ("jobs", "stats"):
        typo = trayjobs(home, command, "--tag", "mony")
        assert typo.returncode == 2, typo.stdout
        assert "no job has the tag 'mony'; did you mean 'money'?" in typo.stderr
        other = trayjobs(home, command, "--tag", "work")
        assert other.returncode == 2
        assert "no job has the tag 'work' (tags: home, money)" in other.stderr
        money = trayjobs(home, command, "--tag", "money")
        assert money.returncode == 0 and "bank" in money.stdout, money.stderr
