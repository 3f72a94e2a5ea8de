"""Run parameters: a job's ``params`` with ``--param`` overrides for one run, validated,
stored with the run, shown by ``trayjobs show`` and given to the job as ``ctx.params``."""

from __future__ import annotations

from textwrap import dedent

import pytest

from helpers import trayjobs
from trayjobs.config import parse_config, parse_param_value
from trayjobs.errors import UserError


@pytest.mark.parametrize("text, value", [
    ("false", False), ("true", True), ("3", 3), ("2.5", 2.5), ('"quoted"', "quoted"),
    ("2026-10", "2026-10"), ("2026-10-01", "2026-10-01"), ("last month", "last month"),
    ("", ""), ("[1, 2]", "[1, 2]"),
])
def test_command_line_values_are_toml_scalars_when_they_can_be(text, value):
    assert parse_param_value(text) == value
    assert type(parse_param_value(text)) is type(value)


def test_params_is_a_job_key_of_scalars():
    cfg = parse_config(dedent("""
        [jobs.a]
        kind = "demo"
        params = { month = "last_month", dry = false, limit = 3 }

        [jobs.b]
        kind = "demo"
        params = { nested = [1, 2] }
    """))
    assert cfg.jobs["a"].common.params == {"month": "last_month", "dry": False, "limit": 3}
    [err] = cfg.errors
    assert (err.job, err.key) == ("b", "params")
    assert "parameter 'nested': give its default as text, a number, true or false" in str(err)


JOB = """
    [jobs.sync]
    kind = "python"
    file = '{script}'
    retry = {{ attempts = 1 }}
    params = {{ month = "last_month", dry = false, limit = 3 }}
"""


@pytest.fixture
def sync(tmp_path):
    script = tmp_path / "sync.py"
    script.write_text("def main(ctx):\n    return {'summary': 'ok', 'seen': ctx.params}\n")
    return JOB.format(script=script)


def test_overrides_reach_the_job_and_are_stored_with_the_run(make_engine, sync):
    eng = make_engine(sync)
    run = eng.watcher.wait(eng.submit("sync", params={"month": "2026-10", "dry": "true"}))
    expected = {"month": "2026-10", "dry": True, "limit": 3}
    assert run["result"]["seen"] == expected
    assert run["inputs"] == {"params": expected}
    default = eng.watcher.wait(eng.submit("sync"))
    assert default["result"]["seen"] == {"month": "last_month", "dry": False, "limit": 3}
    again = eng.watcher.wait(eng.retry(run["id"]))  # a retry runs with the same params
    assert again["result"]["seen"] == expected


def test_an_undeclared_key_or_a_wrong_type_is_refused_before_a_run_exists(make_engine, sync):
    eng = make_engine(sync, start=False)
    with pytest.raises(UserError, match=r"job 'sync' has no parameter 'mnth' "
                                        r"\(its parameters: dry, limit, month\)"):
        eng.submit("sync", params={"mnth": "2026-10"})
    with pytest.raises(UserError, match="parameter 'dry' must be true or false"):
        eng.submit("sync", params={"dry": "maybe"})
    with pytest.raises(UserError, match="parameter 'limit' must be a whole number"):
        eng.submit("sync", params={"limit": "2.5"})
    assert eng.store.list_runs() == []


def test_run_param_and_show_on_the_command_line(home, sync):
    home.config_file.write_text(dedent(sync))
    out = trayjobs(home, "run", "sync", "--param", "month=2026-10", "--param", "limit=7", "--wait")
    assert out.returncode == 0, out.stderr
    shown = trayjobs(home, "show", out.stdout.strip()).stdout
    assert '  params:   month = "2026-10", dry = false, limit = 7' in shown
    bad = trayjobs(home, "run", "sync", "--param", "period=last_month")
    assert bad.returncode == 2
    assert "job 'sync' has no parameter 'period' (its parameters: dry, limit, month)" in bad.stderr
    bad = trayjobs(home, "run", "sync", "--param", "month")
    assert bad.returncode == 2 and "write it as KEY=VALUE" in bad.stderr


def test_a_report_takes_its_period_as_a_run_parameter(make_engine):
    eng = make_engine("""
        [jobs.activity]
        kind = "report"
        builtin = "job-activity"
        formats = ["html"]
        period = "last_7_days"
    """)
    run = eng.watcher.wait(eng.submit("activity", params={"period": "last_month"}))
    assert run["state"] == "succeeded", run
    assert run["result"]["period"]["name"] == "last_month"
    assert run["inputs"] == {"params": {"period": "last_month"}}
    plain = eng.watcher.wait(eng.submit("activity"))
    assert plain["result"]["period"]["name"] == "last_7_days"
    with pytest.raises(UserError, match="unknown period 'next_year'"):
        eng.submit("activity", params={"period": "next_year"})


def test_nan_and_inf_are_no_numbers_for_a_run(home, sync):
    home.config_file.write_text(dedent(sync).replace("limit = 3", "limit = 3, ratio = 2.5"))
    for text in ("nan", "inf", "-inf", "1e400"):
        bad = trayjobs(home, "run", "sync", "--param", f"ratio={text}")
        assert bad.returncode == 2, bad.stdout
        assert "job 'sync': parameter 'ratio' must be a finite number" in bad.stderr
    ok = trayjobs(home, "run", "sync", "--param", "ratio=3", "--wait")
    assert ok.returncode == 0, ok.stderr


def test_params_setting_a_kinds_own_key_are_checked_with_the_file():
    # params = { period = 5 } passed `trayjobs check` and failed every run with "write text
    # in quotes (got 5)", naming neither the job's key nor the parameter.
    cfg = parse_config(dedent("""
        [jobs.typed]
        kind = "report"
        builtin = "job-activity"
        params = { period = 5 }

        [jobs.unknown]
        kind = "report"
        builtin = "job-activity"
        params = { period = "last_fortnight" }

        [jobs.fine]
        kind = "report"
        builtin = "job-activity"
        params = { period = "last_month" }
    """))
    got = {(e.job, e.key): e.message for e in cfg.errors}
    assert set(got) == {("typed", "params.period"), ("unknown", "params.period")}, got
    assert got[("typed", "params.period")] == "write text in quotes (got 5)"
    assert "unknown period 'last_fortnight'" in got[("unknown", "params.period")]
    with pytest.raises(UserError, match="job 'fine': parameter 'period': unknown period 'x'"):
        cfg.jobs["fine"].run_params({"period": "x"})


@pytest.mark.parametrize("key", ["", " ", "x=y"])
def test_a_parameter_that_param_could_not_set_is_refused(key):
    [err] = parse_config(f'[jobs.a]\nkind = "demo"\nparams = {{ "{key}" = 1 }}\n').errors
    assert err.key == "params" and "so that --param month=2026-10 can set it" in err.message


def test_a_wrong_value_is_shown_as_typed(home, sync):
    home.config_file.write_text(dedent(sync))
    bad = trayjobs(home, "run", "sync", "--param", "limit=1e400")
    assert "parameter 'limit' must be a whole number (got '1e400')" in bad.stderr, bad.stderr
