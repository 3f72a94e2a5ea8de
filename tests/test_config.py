"""Config validation: every problem names the file, line, job and key."""

from __future__ import annotations

from trayjobs.config import load_config, parse_config


def errors_of(text: str) -> list[str]:
    return [str(e) for e in parse_config(text).errors]


def test_valid_jobs_load_with_defaults(tmp_path):
    path = tmp_path / "trayjobs.toml"
    path.write_text('[settings]\nworkers = 3\n\n[jobs.hello]\nkind = "demo"\nevery = "15m"\n'
                    'retry = { attempts = 4, backoff = "10s" }\ntimeout = "30m"\n')
    cfg = load_config(path)
    assert cfg.errors == []
    job = cfg.jobs["hello"]
    assert cfg.settings.workers == 3
    assert job.every == 900 and job.timeout == 1800
    assert job.retry.attempts == 4 and job.retry.backoff == 10 and job.retry.jitter is True
    assert job.overlap == "queue" and job.missed == "once" and job.enabled
    assert job.trigger_text() == "Every 15 minutes"


def test_one_broken_job_does_not_stop_the_others():
    cfg = parse_config('[jobs.good]\nkind = "demo"\n\n[jobs.bad]\nkind = "demo"\nsteps = "lots"\n')
    assert list(cfg.jobs) == ["good"]
    assert len(cfg.errors) == 1
    err = cfg.errors[0]
    assert (err.job, err.key, err.line) == ("bad", "steps", 6)


def test_cron_errors_are_explained():
    [msg] = errors_of('[jobs.x]\nkind = "demo"\ncron = "0 25 * * *"\n')
    assert msg == "<config>:3, job 'x', key 'cron': cron '0 25 * * *': hour 25 is out of range 0-23"
    [msg] = errors_of('[jobs.x]\nkind = "demo"\ncron = "*/61 * * * *"\n')
    assert "step '/61' in the minute field must be 1-59" in msg
    [msg] = errors_of('[jobs.x]\nkind = "demo"\ncron = "0 9 * *"\n')
    assert "expected 5 fields" in msg
    [msg] = errors_of('[jobs.x]\nkind = "demo"\ncron = "0 9 * * funday"\n')
    assert "day of week 'funday'" in msg


def test_unknown_keys_are_named_with_a_suggestion():
    msgs = errors_of('[jobs.x]\nkind = "demo"\nstepz = 3\nretry = { attempts = 2, backof = "1s" }\n')
    assert "<config>:3, job 'x', key 'stepz': unknown key; did you mean 'steps'?" in msgs
    assert any("key 'retry.backof'" in m and "did you mean 'backoff'" in m for m in msgs)


def test_bad_values_and_kinds():
    msgs = errors_of('[jobs.a]\nkind = "nope"\n[jobs.b]\nevery = "banana"\n'
                     '[jobs.c]\nkind = "demo"\noverlap = "sometimes"\n[jobs.d]\nkind = "demo"\n'
                     'every = "1h"\ncron = "0 9 * * *"\n')
    text = "\n".join(msgs)
    assert "job 'a', key 'kind': unknown kind 'nope'; known kinds:" in text
    assert "job 'b', key 'kind': missing" in text
    assert "'banana' is not a duration" in text
    assert "'sometimes' is not one of the choices" in text
    assert "give either 'every' or 'cron', not both" in text


def test_toml_syntax_error_has_its_line(tmp_path):
    path = tmp_path / "trayjobs.toml"
    path.write_text('[jobs.a]\nkind = "demo"\nevery = \n')
    cfg = load_config(path)
    assert cfg.jobs == {}
    [err] = cfg.errors
    assert err.line == 3 and str(path) in str(err) and "not valid TOML" in str(err)


def test_then_must_name_a_job():
    [msg] = errors_of('[jobs.a]\nkind = "demo"\nthen = ["ghost"]\n')
    assert "'then' names 'ghost', which is not a job" in msg


def test_missing_file_is_an_empty_config(tmp_path):
    cfg = load_config(tmp_path / "none.toml")
    assert cfg.jobs == {} and cfg.errors == []


def test_a_watch_with_no_pattern_is_refused_rather_than_never_starting(tmp_path):
    for patterns in ("[]", '[""]', '[" "]'):
        cfg = parse_config(f'[jobs.a]\nkind = "demo"\nwatch = {{ folder = "{tmp_path}", '
                           f'patterns = {patterns} }}\n')
        [err] = cfg.errors
        assert (err.job, err.key) == ("a", "watch.patterns")
        assert "leave patterns out to watch every file" in err.message
    ok = parse_config(f'[jobs.a]\nkind = "demo"\nwatch = {{ folder = "{tmp_path}" }}\n')
    assert not ok.errors and ok.jobs["a"].common.watch.patterns == ["*"]
