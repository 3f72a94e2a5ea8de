"""Config files that are wrong in every way a person (or a fuzzer) can make them: each gets
a message naming the file, line and key, in words that say what to write."""

from __future__ import annotations

import os
import time

import pytest

from trayjobs.config import MAX_FILE_BYTES, MAX_NESTING, check_jobs, load_config, parse_config
from trayjobs.durations import MAX_DURATION, parse_duration
from trayjobs.errors import ConfigError
from trayjobs.schedule import one_off_time

from helpers import trayjobs


def errors_of(text: str) -> list[str]:
    return [str(e) for e in parse_config(text).errors]


def job(body: str) -> str:
    return f'[jobs.x]\nkind = "demo"\n{body}\n'


# -- durations: bounded, never NaN ------------------------------------------------------------

@pytest.mark.parametrize("key, value", [
    ("every", '"3000000d"'), ("timeout", '"99999999w"'), ("every", str(10**30)),
    ("retry", '{ backoff = "4000d" }'), ("retry", '{ max_backoff = 1e300 }'),
])
def test_every_duration_has_a_limit(key, value):
    [msg] = errors_of(job(f"{key} = {value}"))
    assert "too long: at most 3660 days (about 10 years)" in msg, msg
    assert len(msg) < 200  # a huge number is shown cut short


def test_duration_limits_cover_settings_cleanup_and_the_command_line():
    [msg] = errors_of('[settings]\ncatchup_delay = "20000d"\n')
    assert "key 'settings.catchup_delay'" in msg and "too long" in msg
    [msg] = errors_of('[jobs.c]\nkind = "cleanup"\nskip_recent = "9999999d"\n'
                      'locations = ["/tmp/x"]\nfilters = [{ age = "older than 1d" }]\n')
    assert "key 'skip_recent'" in msg and "too long" in msg
    with pytest.raises(ValueError, match="at most 3660 days"):
        one_off_time(within="3000000d")
    assert parse_duration("3660d") == MAX_DURATION


@pytest.mark.parametrize("value", ['"1ms"', '"0.5s"', "1e-300", "0.999"])
def test_an_interval_under_a_second_is_refused(value):
    # It was accepted ("Every 0 ms"), and the worker started runs as fast as it could.
    [msg] = errors_of(job(f"every = {value}"))
    assert "key 'every'" in msg and "the shortest interval is '1s'" in msg, msg
    assert errors_of(job('every = "1s"')) == errors_of(job("every = 1")) == []


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", '"nan"', '"inf"'])
def test_nan_and_infinity_are_not_numbers(value):
    [msg] = errors_of(job(f"step_time = {value}"))
    # Quoted, it is text, which a number key never takes: "write a number (got 'nan')".
    assert "key 'step_time'" in msg and ("not a number" in msg or "write a number" in msg), msg
    [msg] = errors_of(job(f"every = {value}"))
    assert "not a number" in msg or "is negative" in msg, msg


def test_nan_anywhere_in_a_job_or_in_settings_is_refused():
    [msg] = errors_of(job("params = { ratio = nan }"))
    assert "key 'params.ratio': not a number (got nan)" in msg
    [msg] = errors_of("[settings]\nworkers = inf\n")
    assert "key 'settings.workers': not a number" in msg


def test_a_file_with_old_mac_line_ends_says_so():
    [msg] = errors_of('[jobs.a]\rkind = "demo"\r')
    assert msg.endswith("lines here end with a carriage return alone (old Mac style): save "
                        "the file with LF (Unix) or CRLF (Windows) line ends"), msg
    [msg] = errors_of('[jobs.a]\r\nkind = "demo\r\n')  # CRLF: only the TOML's own error
    assert "carriage return" not in msg, msg


# -- nesting -----------------------------------------------------------------------------------

@pytest.mark.parametrize("depth", [MAX_NESTING + 5, 150])
def test_deep_values_are_refused_not_recursed_into(depth):
    [msg] = errors_of(job("params = { x = " + "[" * depth + "1" + "]" * depth + " }"))
    assert f"key 'params': nested more than {MAX_NESTING} levels deep" in msg


@pytest.mark.parametrize("open_, close", [("[", "]"), ("{a=", "}")])
def test_nesting_too_deep_for_the_parser_is_a_config_error(open_, close):
    cfg = parse_config(job("params = { x = " + open_ * 2000 + "1" + close * 2000 + " }"))
    [err] = cfg.errors
    assert "nested too deeply to read" in str(err) and cfg.unreadable


# -- cron ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("cron, words", [
    ("@daily", "write the 5 fields, e.g. '0 0 * * *' for @daily"),   # was "Wrong number of fields"
    ("@reboot", "for a run each time trayjobs starts write at_login = true instead of cron"),
    ("@boot", "write the 5 fields (minute hour day-of-month month day-of-week)"),
    ("@every 5m", "for an interval write every = \"5m\" instead of cron"),
    ("0 ? * * *", "hour '?' is not a number"),  # "?" means any day in a day field only
    ("0 0 * * mon#6", "'mon#6' asks for week 6 of the month; write #1 to #5"),  # "Bad day-of-week"
    ("-1 * * * *", "minute '-1' is not a number"),  # was "minute ''"
    ("² * * * *", "minute '²' is not a number"),  # was "invalid literal for int()"
    ("*/³ * * * *", "step '/³' in the minute field must be 1-59"),
    ("0,,5 * * * *", "the minute field has an empty item"),
    # was "expected 5 fields ..., found 6"
    ("0 9 * * * Europe/Paris", "'Europe/Paris' is a time zone, which cron here does not take"),
    ("CRON_TZ=UTC 0 9 * * *", "'CRON_TZ=UTC' is a time zone, which cron here does not take: "
                              "it runs in the computer's local time"),
    ("0 9 * * * UTC", "'UTC' is a time zone"),
    ("0 9 * * sat-sun", "range 'sat-sun' in the day of week field runs backwards; Sunday "
                        "is 7 too, so write 'sat-7' for it at the end"),
    ("0 9 * * * *", "expected 5 fields (minute hour day-of-month month day-of-week), found 6"),
    # Quartz's and Spring's seconds first, or a year last: which one cannot be told.
    ("*/30 * * * * *", "found 6: no field of seconds (for runs seconds apart write every = "
                       "\"30s\") and none of years here"),
    # A crontab line whole: its command was taken for a sixth field, of seconds or years.
    ("0 9 * * 1-5 /usr/bin/backup --all", "the time fields are followed by a command "
                                          "('/usr/bin/backup'): write the 5 fields alone, "
                                          "cron = \"0 9 * * 1-5\", and the command as "
                                          "the job's own (a command job's command = "
                                          "\"/usr/bin/backup --all\")"),
    ("@daily ~/bin/backup", "write the 5 fields, e.g. '0 0 * * *' for @daily; the command "
                            "('~/bin/backup') goes in the job's own key (a command job's "
                            "command)"),
    ("@reboot ~/bin/start", "write at_login = true instead of cron; the command "
                            "('~/bin/start') goes in the job's own key"),
    # were "'L' is not a number" and "'1W' is not a number"
    ("0 9 L-3 * *", "day of month 'L-3' (days before the month's last) is not supported here; "
                    "'L' is the month's last day and 'LW' its last weekday"),
    ("0 9 15W * *", "day of month '15W' (the weekday nearest a day) is not supported here"),
])
def test_cron_mistakes_are_explained_in_words(cron, words):
    [msg] = errors_of(job(f'cron = "{cron}"'))
    assert f"key 'cron': cron '{cron}'" in msg and words in msg, msg


def test_the_last_weekday_of_the_month_is_a_cron_day():
    # cronsim reads 'LW'; the check before it refused it as "not a number".
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from trayjobs.schedule import Cron
    assert errors_of(job('cron = "0 9 LW * *"')) == []
    after = datetime(2026, 1, 1, tzinfo=ZoneInfo("Europe/Berlin"))
    assert Cron("0 9 LW * *").next_after(after, tz=after.tzinfo) == datetime(
        2026, 1, 30, 9, 0, tzinfo=after.tzinfo)  # the 31st is a Saturday


# -- job names ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name, shown", [
    (r"esc\u001b[31mred", r"esc\x1b[31mred"), (r"a\tb", r"a\tb"), (r"nul\u0000", r"nul\x00"),
    (r"rtl\u202eabc", r"rtl\u202eabc"),
])
def test_a_job_name_with_control_characters_is_refused_and_shown_escaped(name, shown):
    # `trayjobs runs` printed the name as it is: a terminal obeyed the escape sequence.
    cfg = parse_config(f'[jobs.ok]\nkind = "demo"\n[jobs."{name}"]\nkind = "demo"\n')
    assert list(cfg.jobs) == ["ok"]
    [msg] = [str(e) for e in cfg.errors]
    assert f"job '{shown}': a job name cannot hold control characters" in msg, msg
    assert msg.isprintable()


@pytest.mark.parametrize("name, said", [
    (" ", "job ' ': a job name cannot be only spaces; give it a name you can see and type"),
    ("\u3000", "a job name cannot be only spaces"),
    ("", "a job name must be 1-100 characters (this one has 0)"),
    ("x" * 101, "a job name must be 1-100 characters (this one has 101)"),
])
def test_a_blank_or_long_name_is_told_what_is_wrong_with_it(name, said):
    # [jobs." "] was told it "must be 1-100 characters": it has one.
    [msg] = errors_of(f'[jobs."{name}"]\nkind = "demo"\n')
    assert said in msg, msg


def test_a_name_with_spaces_around_it_is_told_by_check(home):
    # "nightly " was a job of its own beside "nightly", shown the same everywhere; the
    # window's editor trimmed it on save, making a rename or a clash of it.
    home.config_file.write_text('[jobs."nightly "]\nkind = "demo"\n\n[jobs." two words"]\n'
                                'kind = "demo"\n\n[jobs.fine]\nkind = "demo"\n')
    done = trayjobs(home, "check")
    assert done.returncode != 0
    assert "a job name cannot begin or end with a space; rename the job [jobs.nightly]" \
        in done.stdout + done.stderr
    assert 'rename the job [jobs."two words"]' in done.stdout + done.stderr
    assert sorted(parse_config(home.config_file.read_text()).jobs) == ["fine"]


def test_names_that_differ_only_in_unicode_form_are_not_two_jobs():
    cfg = parse_config('[jobs."caf\u00e9"]\nkind = "demo"\n[jobs."cafe\u0301"]\nkind = "demo"\n'
                       '[jobs.Backup]\nkind = "demo"\n[jobs.backup]\nkind = "demo"\n'
                       '[jobs."\U0001F468\u200d\U0001F469 family"]\nkind = "demo"\n')
    assert list(cfg.jobs) == ["caf\u00e9", "Backup", "backup", "\U0001F468\u200d\U0001F469 family"]
    [msg] = [str(e) for e in cfg.errors]
    assert "looks the same as job 'café', only written with other Unicode characters" in msg


@pytest.mark.parametrize("key", ["then", "on_failure", "always"])
def test_a_hook_naming_a_job_in_another_unicode_form_starts_that_job(key):
    # "'then' names 'café', which is not a job" beside the job 'café', typed with "e" and
    # an accent (as macOS writes it), when the README says the two are one name.
    cfg = parse_config(f'[jobs.a]\nkind = "demo"\n{key} = ["cafe\u0301"]\n'
                       f'[jobs."caf\u00e9"]\nkind = "demo"\n')
    assert cfg.errors == []
    assert cfg.jobs["a"].common.hooks() == [(key, "caf\u00e9")]


def test_an_alert_channel_naming_a_job_in_another_unicode_form_covers_it():
    # "'café' is neither a job nor a tag of one; did you mean 'café'?", and no alert sent.
    from trayjobs.alerts.spec import job_matches
    cfg = parse_config('[jobs."caf\u00e9"]\nkind = "demo"\ntags = ["r\u00e9sum\u00e9"]\n'
                       '[alerts.m]\nurl = "json://localhost/x"\njobs = ["cafe\u0301"]\n'
                       'urgent = ["re\u0301sume\u0301"]\n')
    assert cfg.errors == []
    spec = cfg.alerts["m"]
    assert job_matches(spec.jobs, "caf\u00e9", [])
    assert job_matches(spec.urgent, "x", ["r\u00e9sum\u00e9"])


def test_a_job_name_typed_in_another_unicode_form_finds_the_job(home):
    # macOS and some terminals type "é" as "e" and an accent: `trayjobs run café` said
    # "there is no job called 'café' (jobs: café)".
    home.config_file.write_text('[jobs."caf\u00e9"]\nkind = "command"\ncommand = "true"\n'
                                '[jobs."r\u00e9sum\u00e9"]\nkind = "nope"\n',
                                encoding="utf-8")
    out = trayjobs(home, "run", "cafe\u0301", "--wait")
    assert out.returncode == 0, out.stderr
    assert trayjobs(home, "runs", "--job", "caf\u00e9").stdout.count("succeeded") == 1
    assert trayjobs(home, "runs", "--job", "cafe\u0301").stdout.count("succeeded") == 1
    assert '"runs": 1' in trayjobs(home, "stats", "--job", "cafe\u0301", "--json").stdout
    assert trayjobs(home, "pause", "cafe\u0301").returncode == 0
    assert "paused" in trayjobs(home, "jobs").stdout
    out = trayjobs(home, "run", "re\u0301sume\u0301")  # left out: says why
    assert "left out until its mistake is fixed: unknown kind 'nope'" in out.stderr


def test_a_job_that_is_not_there_is_told_with_the_one_meant_not_all_the_others():
    many = "".join(f'[jobs.job{i}]\nkind = "demo"\n' for i in range(1, 200))
    cfg = parse_config(many + '[jobs.Backup]\nkind = "demo"\n')
    for typed, said in [("backup", "did you mean 'Backup'?"), ("JOB5", "did you mean 'job5'?"),
                        ("jb17", "did you mean 'job17'"), ("nightly", "(200 jobs; `trayjobs jobs` lists them)")]:
        with pytest.raises(ConfigError) as err:
            cfg.job(typed)
        assert said in str(err.value), str(err.value)
        assert len(str(err.value)) < 200
    with pytest.raises(ConfigError, match=r"there is no job called 'x' \(no jobs are defined\)"):
        parse_config("").job("x")


# -- the file itself ---------------------------------------------------------------------------

def test_a_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "trayjobs.toml"
    path.write_bytes(b"\xef\xbb\xbf" + job('every = "1h"').encode())
    cfg = load_config(path)
    assert cfg.errors == [] and list(cfg.jobs) == ["x"]


def test_text_that_is_not_utf8_is_located_by_line_and_column(tmp_path):
    path = tmp_path / "trayjobs.toml"
    path.write_bytes(b'[jobs.x]\nkind = "demo"\ndescription = "caf\xe9"\n')
    [err] = load_config(path).errors
    assert err.line == 3
    assert "not UTF-8 text: byte 0xe9 at line 3, column 19" in str(err)
    assert "position" not in str(err)


def test_a_broken_link_is_an_error_not_a_missing_file(home):
    home.config_file.symlink_to(home.root / "nowhere.toml")
    [err] = load_config(home.config_file).errors
    assert "a broken link" in str(err) and "nowhere.toml" in str(err)
    done = trayjobs(home, "check")
    assert done.returncode != 0, done.stdout
    assert "broken link" in done.stderr and "no config file yet" not in done.stdout


def _load_in_time(path, seconds: float = 5.0):
    """load_config(path) on a thread, with the result; a read that blocks (a named pipe
    opened for reading waits for a writer) fails the test instead of hanging it."""
    import threading
    out = []
    reader = threading.Thread(target=lambda: out.append(load_config(path)), daemon=True)
    reader.start()
    reader.join(seconds)
    if reader.is_alive():
        with open(path, "wb"):  # let the blocked open return, then read an empty pipe
            pass
        pytest.fail(f"reading {path} blocked")
    return out[0]


@pytest.mark.parametrize("make, why", [
    (lambda p: os.mkfifo(p), "it is a named pipe"),
    (lambda p: p.symlink_to("/dev/zero"), "it is a device"),
    (lambda p: p.mkdir(), "it is a folder"),
    (lambda p: os.truncate(p, MAX_FILE_BYTES + 1), "larger than 10 MB"),
])
def test_a_jobs_file_that_is_no_plain_file_is_refused_without_blocking(tmp_path, make, why):
    path = tmp_path / "trayjobs.toml"
    path.touch() if "larger" in why else None
    make(path)
    cfg = _load_in_time(path)
    [err] = cfg.errors
    assert cfg.unreadable and why in str(err) and str(path) in str(err), str(err)


# -- values that were accepted -----------------------------------------------------------------

@pytest.mark.parametrize("span, why", [
    ("25:00-07:00", "25:00 is not a time of day"), ("22:00-07:60", "07:60 is not a time"),
    ("22-07", "write a span of two times"),
    # Read as never quiet, when all day may be what was meant.
    ("22:00-22:00", "it starts and ends at the same time, so it is no span"),
])
def test_quiet_hours_must_be_real_times(span, why):
    [msg] = errors_of(f'[settings]\nquiet_hours = "{span}"\n')
    assert why in msg, msg
    assert parse_config('[settings]\nquiet_hours = "22:00-07:00"\n').errors == []


@pytest.mark.parametrize("text", [
    '[jobs.w]\nkind = "demo"\n[jobs.w.watch]\nfolder = ""\n',
    '[jobs.i]\nkind = "import"\nprocessed_dir = ""\n',
    '[jobs.c]\nkind = "command"\ncommand = ["true"]\ncwd = " "\n',
    '[jobs.p]\nkind = "python"\nfile = ""\n',
])
def test_an_empty_folder_or_file_is_refused(text):
    [msg] = errors_of(text)
    assert "folder" in msg or "empty" in msg, msg


@pytest.mark.parametrize("folder, words", [
    ("$TRAYJOBS_NOT_SET_ANYWHERE/in", "the variable TRAYJOBS_NOT_SET_ANYWHERE is not set"),
    ("${TRAYJOBS_NOT_SET_ANYWHERE}", "the variable TRAYJOBS_NOT_SET_ANYWHERE is not set"),
    ("~no-such-user-here/in", "there is no user 'no-such-user-here'; write ~/…"),
])
def test_a_folder_that_does_not_expand_says_why(folder, words):
    # Both were "a relative path; write it in full, starting with / or ~".
    [msg] = errors_of(job(f'watch = {{ folder = "{folder}" }}'))
    assert "key 'watch.folder'" in msg and words in msg and "relative" not in msg, msg


# -- messages ----------------------------------------------------------------------------------

def test_unknown_keys_suggest_only_close_spellings_and_list_the_kinds_keys():
    [msg] = errors_of(job("table = 1"))
    assert "did you mean" not in msg
    assert "a demo job's own keys are" in msg and "steps" in msg and "every" in msg
    [msg] = errors_of(job('evry = "1h"'))
    assert msg.endswith("unknown key; did you mean 'every'?")
    [msg] = errors_of(job("retry = { attempts = 2, tries = 3 }"))
    assert "key 'retry.tries'" in msg and "retry takes attempts, backoff, jitter, max_backoff" in msg


@pytest.mark.parametrize("text, key, words", [
    (job('schedule = "every 5m"'), "schedule", 'write every = "15m" for an interval, or cron'),
    (job('interval = "5m"'), "interval", 'write every = "15m"'),
    (job('cron = "0 9 * * *"\ntimezone = "Europe/Paris"'), "timezone",
     "schedules follow this computer's time zone"),
    (job('TZ = "Mars/Olympus"'), "TZ", "schedules follow this computer's time zone"),
    (job("retries = 5"), "retries", "write retry = { attempts = 3 }"),
    (job("disabled = true"), "disabled", "write enabled = false"),
    ('[settings]\ntimezone = "UTC"\n', "settings.timezone",
     "schedules follow this computer's time zone"),
])
def test_keys_other_schedulers_use_say_what_to_write_here(text, key, words):
    """Keys from crontabs, systemd timers or CI files had no spelling close to one here:
    the message listed thirty keys and left the reader to find the one meant."""
    [msg] = errors_of(text)
    assert f"key '{key}': unknown key; {words}" in msg, msg


@pytest.mark.parametrize("kind, expected", [
    ('["demo"]', "key 'kind': write the kind's name in quotes, e.g. kind = \"demo\" (got ['demo']; "
                 "kinds: cleanup, command, demo"),
    ("5", "key 'kind': write the kind's name in quotes, e.g. kind = \"demo\" (got 5;"),
    ('"it\'s"', "key 'kind': unknown kind \"it's\"; known kinds: cleanup"),
])
def test_a_kind_that_is_not_a_name_is_told_plainly(kind, expected):
    # kind = ["demo"] read 'unknown kind "[\'demo\']"; ...' inside quotes of its own.
    [msg] = errors_of(f"[jobs.x]\nkind = {kind}\n")
    assert msg.endswith(expected) or expected in msg, msg
    assert "\\'" not in msg


@pytest.mark.parametrize("text, expected", [
    ('[jobs.x]\nkind = "comand"\n', "unknown kind 'comand'; did you mean 'command'? known kinds:"),
    ('[jobs.x]\nkind = "Python"\n', "unknown kind 'Python'; did you mean 'python'? known kinds:"),
    ('[setings]\nworkers = 2\n', "key 'setings': unknown top-level table; did you mean [settings]?"),
    ('[job.x]\nkind = "demo"\n', "key 'job': unknown top-level table; did you mean [jobs]?"),
    ('[Alerts.me]\nurl = "ntfy://t"\n', "unknown top-level table; did you mean [alerts]?"),
])
def test_a_misspelt_kind_or_table_is_answered_with_the_one_meant(text, expected):
    [msg] = errors_of(text)
    assert expected in msg, msg


@pytest.mark.parametrize("text, expected", [
    (job("ping = 5"), "key 'ping': write text in quotes, or a table such as { secret = \"…\" } (got 5)"),
    (job('inhibit_sleep = "maybe"'),
     "key 'inhibit_sleep': write true or false, or one of 'block' or 'delay' (got 'maybe')"),
    (job('ping = { secret = "x", y = 1 }'), "key 'ping.y': unknown key; ping takes secret"),
    ('[cluster]\nredis = 5\n', "key 'cluster.redis': write text in quotes, or a table such as"),
    ('[alerts.a]\nurl = { secret = "" }\n', "key 'alerts.a.url.secret': empty; write some text"),
    ('[jobs.e]\nkind = "command"\ncommand = ["true"]\nenv = { A = 5 }\n',
     "key 'env.A': write text in quotes, or a table such as { secret = \"…\" } (got 5)"),
    ('[cluster]\nhost = ""\n', "key 'cluster.host': empty; write some text"),
    ('[jobs.c]\nkind = "cleanup"\nlocations = []\nfilters = []\n', "key 'locations': add at least one"),
])
def test_a_value_of_several_types_is_told_at_its_own_key_in_words(text, expected):
    # The keys were 'ping.str' and 'ping.SecretRef', one error for each type, and
    # pydantic's "String should have at least 1 character".
    [msg] = errors_of(text)
    assert expected in msg, msg
    assert "should" not in msg and ".str" not in msg and "SecretRef" not in msg


@pytest.mark.parametrize("body, expected", [
    ("retry = 3", "key 'retry': write a table such as { attempts = 3 } (got 3)"),
    ("watch = true", "key 'watch': write a table such as { folder = \"…\" } (got true)"),
    ("steps = \"lots\"", "key 'steps': write a whole number (got 'lots')"),
    ("enabled = 2", "key 'enabled': write true or false (got 2)"),
    ("description = 5", "key 'description': write text in quotes (got 5)"),
    ("step_time = 5000", "key 'step_time': at most 3600 (got 5000)"),
    ("priority = -1000", "key 'priority': at least -100 (got -1000)"),
    # Values as the file writes them, not as Python prints them (True, datetime.date(...)).
    ("notify = false", "key 'notify': false is not one of the choices: 'failure', 'always' or 'never'"),
    ("every = true", "key 'every': true is not a duration; write e.g. '90s', '15m', '1h30m' or '2d'"),
    ("params = { day = 1979-05-27 }", "parameter 'day': give its default as text, a number, true "
                                      "or false (got 1979-05-27)"),
    ("params = { a = [true, 1] }", "(got [true, 1])"),
])
def test_type_errors_say_what_to_write_without_class_names(body, expected):
    [msg] = errors_of(job(body))
    assert msg.endswith(expected), msg
    assert "Input should" not in msg and "RetryPolicy" not in msg and "WatchSpec" not in msg


# -- the last good version ---------------------------------------------------------------------

def test_an_unreadable_file_falls_back_to_its_last_good_copy(tmp_path):
    path, good = tmp_path / "trayjobs.toml", tmp_path / "last-good.toml"
    good.write_text(job('every = "1h"'))
    path.write_text(job('every = "1h"') + "[jobs.y\n")
    cfg = load_config(path, last_good=good)
    assert list(cfg.jobs) == ["x"] and cfg.unreadable
    assert cfg.kept_from == good.stat().st_mtime
    assert "not valid TOML" in str(cfg.errors[0]) and str(path) in str(cfg.errors[0])
    # A file that reads but has a broken job is used as it is: the others keep working.
    path.write_text(job('every = "1h"') + '[jobs.y]\nkind = "demo"\nsteps = "x"\n')
    cfg = load_config(path, last_good=good)
    assert cfg.kept_from is None and list(cfg.jobs) == ["x"] and len(cfg.errors) == 1


@pytest.mark.parametrize("body, key", [
    ('kind = "command"\ncommand = "true"\ncwd = "~nosuchuser/x"', "cwd"),
    ('kind = "python"\nfile = "~nosuchuser/job.py"', "file"),
    ('kind = "python"\ncall = "m:f"\npath = ["/tmp", "~nosuchuser/lib"]', "path"),
    ('kind = "import"\ndatabase = "~nosuchuser/data.db"', "database"),
])
def test_a_path_in_the_home_of_a_user_there_is_not_is_a_config_error(home, body, key):
    # Path.expanduser() raised "RuntimeError: Could not determine home directory": a
    # traceback from `trayjobs check`, and a run failing, and retried, with it.
    home.config_file.write_text(f"[jobs.x]\n{body}\n", encoding="utf-8")
    out = trayjobs(home, "check")
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert (f"job 'x', key '{key}': '~nosuchuser/") in out.stderr
    assert "there is no user 'nosuchuser'; write ~/… for a path in your own home" in out.stderr


def test_a_file_given_in_the_home_of_a_user_there_is_not_is_refused(home):
    home.config_file.write_text('[jobs.x]\nkind = "command"\ncommand = ["echo", "{files}"]\n',
                                encoding="utf-8")
    out = trayjobs(home, "run", "x", "--file", "~nosuchuser/a.txt")
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert "job 'x': --file '~nosuchuser/a.txt': there is no user 'nosuchuser'" in out.stderr


def test_a_retry_cap_below_the_backoff_written_with_it_is_refused():
    # backoff = "2h" with max_backoff = "1m" waited 1 min each time, in silence.
    [msg] = errors_of(job('retry = { backoff = "2h", max_backoff = "1m" }'))
    assert ("key 'retry.max_backoff': 1 min is shorter than backoff (2 h 00 min), so every "
            "wait would be 1 min") in msg, msg
    for alone in ('retry = { backoff = "2h" }', 'retry = { max_backoff = "10s" }',
                  'retry = { backoff = "1m", max_backoff = "1m" }'):
        assert errors_of(job(alone)) == [], alone  # one alone meets the other's default


def test_a_backoff_written_alone_above_the_default_cap_raises_the_cap_with_it():
    # backoff = "2h" alone was cut to the default cap's 1 h, without a word.
    from trayjobs.config import RetryPolicy
    assert RetryPolicy(backoff="2h").max_backoff == 7200
    assert RetryPolicy(backoff="2m").max_backoff == 3600  # the default cap, above it
    assert RetryPolicy(backoff="2h", max_backoff="3h").max_backoff == 3 * 3600
    assert RetryPolicy(max_backoff="10s").max_backoff == 10


# -- TOML types, not text that looks like them -------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    (job('enabled = "no"'), "key 'enabled': write true or false without quotes, e.g. "
                            "enabled = false (got 'no')"),
    (job('at_login = "true"'), "key 'at_login': write true or false without quotes, e.g. "
                               "at_login = true (got 'true')"),
    (job('enabled = 1'), "key 'enabled': write true or false (got 1)"),
    (job('priority = "5"'), "key 'priority': write a whole number without quotes, e.g. "
                            "priority = 5 (got '5')"),
    (job('priority = 5.0'), "key 'priority': write a whole number (got 5.0)"),
    (job('retry = { attempts = "4" }'), "key 'retry.attempts': write a whole number without "
                                        "quotes, e.g. attempts = 4 (got '4')"),
    (job('retry = { jitter = "off" }'), "key 'retry.jitter': write true or false without "
                                        "quotes, e.g. jitter = false (got 'off')"),
    (job('watch = { folder = "/tmp/x", recursive = "yes" }'),
     "key 'watch.recursive': write true or false without quotes, e.g. recursive = true"),
    (job('when = { ac_power = "yes" }'), "key 'when.ac_power': write true or false without "
                                         "quotes, e.g. ac_power = true (got 'yes')"),
    (job('when = { battery_above = "50" }'), "key 'when.battery_above': write a whole number"),
    (job('when = { cpu_below = "50" }'), "key 'when.cpu_below': write a number without quotes, "
                                         "e.g. cpu_below = 50 (got '50')"),
    (job('steps = "3"'), "key 'steps': write a whole number without quotes, e.g. steps = 3"),
    (job('hang = "false"'), "key 'hang': write true or false without quotes, e.g. hang = false"),
    (job('step_time = "0.5"'), "key 'step_time': write a number without quotes, e.g. "
                               "step_time = 0.5"),
    ('[settings]\nworkers = "2"\n', "key 'settings.workers': write a whole number without "
                                    "quotes, e.g. workers = 2 (got '2')"),
    ('[settings]\nnotify_success = "yes"\n', "key 'settings.notify_success': write true or "
                                             "false without quotes, e.g. notify_success = true"),
    ('[jobs.c]\nkind = "cleanup"\nlocations = [{ path = "/tmp/x", recursive = "1" }]\n'
     'filters = [{ name = "*.tmp" }]\naction = "trash"\n', "write true or false without quotes, e.g. recursive = true"),
    ('[jobs.p]\nkind = "python"\ncall = "m:f"\ndry_run = "yes"\n',
     "key 'dry_run': write true or false without quotes, e.g. dry_run = true"),
    ('[jobs.r]\nkind = "report"\nbuiltin = "job-activity"\nkeep = "3"\n',
     "key 'keep': write a whole number without quotes, e.g. keep = 3"),
])
def test_text_where_a_toml_bool_or_number_belongs_is_refused_with_what_to_write(text, expected):
    # pydantic's lax mode took "no" as false and "2" as 2, while --param flag=yes was
    # refused: the file must say what it means, as TOML does.
    msgs = errors_of(text)
    assert any(expected in m for m in msgs), msgs


@pytest.mark.parametrize("body", [
    'every = "2h"', 'timeout = "30m"', 'retry = { backoff = "10s", max_backoff = "1h" }',
    'when = { idle = "5m", network = "unmetered" }', 'step_time = 0', 'step_time = 2',
    'params = { month = "2026-10", flag = true, n = 3, ratio = 0.5 }',
])
def test_what_the_docs_promise_as_text_is_still_taken(body):
    assert errors_of(job(body)) == []


@pytest.mark.parametrize("value, said", [
    ('"0s"', "an interval of 0 would start runs one after another without a pause; write one "
             "of at least '1s', e.g. every = \"15m\""),
    ("0", "an interval of 0 would start runs"),
    ('"-5m"', "'-5m' is negative; write e.g. '5m'"),
    ('"-1h30m"', "'-1h30m' is negative; write e.g. '1h30m'"),
])
def test_an_interval_of_zero_or_less_says_what_to_write(value, said):
    """every = "0s" read "more than 0 (got '0s')", and "-5m" "is not a duration", as if the
    unit were the mistake."""
    [msg] = errors_of(job(f"every = {value}"))
    assert f"key 'every': {said}" in msg, msg
    [msg] = errors_of(job(f"timeout = {value}")) or [""]
    assert "-" not in value or "is negative" in msg, msg


@pytest.mark.parametrize("header, name, quoted", [
    ("[jobs.nightly.backup]", "nightly", '[jobs."nightly.backup"]'),
    ('[jobs."my job".v2]', "my job", '[jobs."my job.v2"]'),
])
def test_a_job_name_with_an_unquoted_dot_says_to_quote_it(header, name, quoted):
    """TOML reads [jobs.nightly.backup] as a job 'nightly' holding a table: the message was
    "key 'kind': missing", on a table that has one."""
    [msg] = errors_of(f'{header}\nkind = "demo"\n')
    assert f":1, job '{name}': {header} is read as a job" in msg, msg
    assert f"written in quotes: {quoted}" in msg, msg
    assert errors_of(f'{quoted}\nkind = "demo"\n') == []


def test_a_jobs_file_saved_as_utf16_says_so(tmp_path):
    """It read "not UTF-8 text: byte 0xff at line 1, column 1", which names no way out."""
    path = tmp_path / "trayjobs.toml"
    path.write_bytes('[jobs.a]\nkind = "demo"\n'.encode("utf-16"))
    cfg = load_config(path)
    assert cfg.unreadable
    [msg] = [str(e) for e in cfg.errors]
    assert msg == f'{path}:1: it is saved as UTF-16 text ("Unicode" in some editors); save it as UTF-8'


def test_a_jobs_file_this_user_may_not_read_says_who_and_what_to_do(tmp_path, monkeypatch):
    from trayjobs.config import loading
    path = tmp_path / "trayjobs.toml"
    path.write_text('[jobs.a]\nkind = "demo"\n')
    if os.geteuid() != 0:
        path.chmod(0)
    else:  # root reads any file: the refusal a user would get, as the system gives it
        def refuse(p):
            raise PermissionError(13, "Permission denied", str(p))
        monkeypatch.setattr(loading, "read_jobs_file", refuse)
    [msg] = [str(e) for e in load_config(path).errors]
    assert "cannot read the file: permission denied to " in msg and "(it belongs to " in msg
    assert f"chmod u+r {path}" in msg, msg


@pytest.mark.parametrize("text, line, said", [
    ('[jobs.a]\nkind = "demo"\n[jobs.a]\nkind = "demo"\n', 3,
     "[jobs.a] is written twice: a table is written once, so merge the two, or give one of "
     "them another name"),
    ('[jobs."my job"]\nkind = "demo"\n\n[jobs."my job"]\n', 4, '[jobs."my job"] is written twice'),
    ('[jobs.a]\nkind = "demo"\nkind = "demo"\n', 3,
     "a key is given twice in one table (or a key has a table's name): keep one of them"),
])
def test_a_table_or_key_written_twice_says_what_to_do(text, line, said):
    """tomllib's words ("Cannot declare ('jobs', 'a') twice", "Cannot overwrite a value")
    named no way out."""
    [msg] = errors_of(text)
    assert msg.startswith(f"<config>:{line}: not valid TOML: ") and said in msg, msg


def lines_of(text: str) -> list[int | None]:
    return [e.line for e in parse_config(text).errors]


@pytest.mark.parametrize("text, line", [
    # A job written as an inline table under [jobs], or with dotted keys, is as much TOML
    # as [jobs.NAME]; its mistakes had no line at all.
    ('[jobs]\nok = { kind = "demo" }\nn = { kind = "demo", at_login = 99 }\n', 3),
    ('jobs.ok.kind = "demo"\njobs.n.kind = "demo"\njobs.n.at_login = 99\n', 3),
    ('[jobs.n]\nkind = "demo"\nretry.attempts = "x"\n', 3),
    # A name written with escapes: its header was not recognised.
    ('[jobs."\\u00e9"]\nkind = "demo"\nat_login = 99\n', 3),
    ('[jobs.n]\nkind = "demo"\nparams = { "\\u00e9" = [1] }\n', 3),
    # A line inside a multi-line text that reads like the key was given instead.
    ('[jobs.n]\nkind = "demo"\ndescription = """\nat_login = 1\n"""\nat_login = 99\n', 6),
    ('[jobs.n]\nkind = "demo"\ntags = [\n  "a",\n]\nat_login = 99\n', 6),
    # The second of two sections, not the first.
    ('[[jobs.r.sections]]\ntitle = "a"\nquery = "SELECT 1"\n\n[[jobs.r.sections]]\ntitle = "b"\n'
     'query = 5\n\n[jobs.r]\nkind = "report"\n', 7),
    # A key given in a [jobs.n.retry] table of its own.
    ('[jobs.n]\nkind = "demo"\n[jobs.n.retry]\njitter = true\nattempts = "x"\n', 5),
    ('\ufeff[jobs.n]\nkind = "demo"\nat_login = 99\n', 3),
    # Keys of an import job that do not go together: the one to change, not the header.
    ('[jobs.n]\nkind = "import"\nformat = "csv"\nencoding = "utf-8"\nheader_row = 3\n', 5),
    ('[jobs.n]\nkind = "import"\nformat = "json"\ntable = "t"\ndelimiter = ";"\n', 5),
    ('[jobs.n]\nkind = "import"\ntable = "t"\nmode = "upsert"\n', 4),
    ('[jobs.n]\nkind = "import"\ntable = "t"\ntypes = { a = "text", A = "real" }\n', 4),
])
def test_a_mistake_is_located_whichever_way_the_job_is_written(text, line):
    assert lines_of(text) == [line], errors_of(text)


def test_a_key_with_control_characters_is_shown_escaped():
    # Printed raw, an escape sequence in a key recoloured (or rewrote) the terminal.
    [msg] = errors_of(job('params = { "\\u001b[2J" = [1] }'))
    assert "\x1b" not in msg and "\\x1b[2J" in msg, msg
    [msg] = errors_of(job('deliver = { to = ["me"], "x\\u202ey" = 1 }'))
    assert "\u202e" not in msg and "x\\u202ey" in msg, msg


@pytest.mark.parametrize("value, shown", [("\\u202e", "\\u202e"), ("\\u001b[2J", "\\x1b[2J"),
                                          ("0 9\\n* *", "0 9\\n* *")])
def test_a_value_with_control_characters_is_shown_escaped(value, shown):
    # A cron's text was shown as written: the override turned the rest of the line around.
    [msg] = errors_of(job(f'cron = "{value}"'))
    assert not any(c in msg for c in "\x1b\u202e\n"), msg
    assert f"cron '{shown}'" in msg, msg


@pytest.mark.parametrize("body, shown", [
    ("every = { x = 1 }", "{ x = 1 } is not a duration"),
    ("timeout = 1979-05-27", "1979-05-27 is not a duration"),
    ("max_wait = [true, 07:32:00]", "[true, 07:32:00] is not a duration"),
    ('retry = { backoff = ["1m"] }', "['1m'] is not a duration"),
])
def test_a_duration_of_another_type_is_shown_as_the_file_writes_it(body, shown):
    # It was shown as Python writes it: {'x': 1}, datetime.date(1979, 5, 27), [True, ...].
    [msg] = errors_of(job(body))
    assert shown in msg and "datetime" not in msg and "True" not in msg, msg


@pytest.mark.parametrize("body, key", [
    ('tags = "-1"', "tags"), ('alerts = "0"', "alerts"),
    ('watch = { folder = "/tmp/x", ignore = "1_000" }', "watch.ignore"),
])
def test_text_that_looks_like_a_number_where_a_list_belongs_asks_for_a_list(body, key):
    # "write a list in brackets, e.g. ["a", "b"] without quotes, e.g. tags = -1": a number
    # is no list either.
    [msg] = errors_of(job(body))
    assert f"key '{key}'" in msg and "write a list in brackets" in msg, msg
    assert "without quotes" not in msg, msg


LONG = "a" * 5000


@pytest.mark.parametrize("text, advice", [
    (f'[cluster]\ndatabase = "{LONG}"\n', "for a file on this machine)"),
    (f'[alerts.me]\nurl = "{LONG}"\n', 'or { secret = "NAME" }'),
    (job(f'ping = "{LONG}"'), 'write e.g. "https://hc-ping.com/YOUR-UUID"'),
    (job(f'cron = "{LONG}"'), "found 1"),
    (job(f'then = ["{LONG}"]'), "which is not a job"),
    (job(f"{LONG} = 1"), "when_unknown)"),
    (f'[jobs.x]\nkind = "{LONG}"\n', "python, report"),
])
def test_a_huge_value_or_key_is_shown_cut_short_with_the_advice_after_it(text, advice):
    # Shown in full, 5000 characters of it buried what to write instead.
    [msg] = [str(e) for e in parse_config(text).errors + check_jobs(parse_config(text))]
    assert len(msg) < 600 and "aaaa…" in msg and msg.endswith(advice), msg


@pytest.mark.parametrize("text, said", [
    (job('watch = { folder = "/tmp/x", settle = "2h" }'), "key 'watch.settle': at most '1h' (got '2h')"),
    (job('watch = { folder = "/tmp/x", settle = 7200 }'), "key 'watch.settle': at most '1h' (got '2h')"),
    ('[cluster]\nlease = "2h"\n', "key 'cluster.lease': at most '1h' (got '2h')"),
    ('[cluster]\nlease = "500ms"\n', "key 'cluster.lease': at least '1s' (got '0.5s')"),
    (job('timeout = "0s"'), "key 'timeout': more than '0s' (got '0s')"),
])
def test_a_duration_out_of_range_is_told_in_durations(text, said):
    # "at most 3600 (got 7200.0)" for settle = "2h": seconds, which the file never wrote.
    [msg] = errors_of(text)
    assert msg.endswith(said), msg


@pytest.mark.parametrize("written", ["Kind", "KIND", '"kind "', "kinds", "type"])
def test_a_kind_written_under_another_key_says_what_to_write(written):
    # "key 'kind': missing; say what the job does, e.g. kind = "import"", at the job's
    # header, to someone who had written the kind on the line below.
    [err] = parse_config(f'[jobs.x]\n{written} = "demo"\n').errors
    assert err.line == 2 and err.key == written.strip('"'), str(err)
    assert err.message.startswith('write kind = "demo"'), str(err)


@pytest.mark.parametrize("written", ["EVERY", "Every", " every", "Timeout", "CRON"])
def test_a_key_in_other_case_is_answered_with_the_key_meant(written):
    [msg] = errors_of(job(f'"{written}" = "1h"'))
    assert f"did you mean '{written.strip().lower()}'?" in msg, msg


@pytest.mark.parametrize("body, said", [
    ('every = 1h', 'text is written in quotes: every = "1h"'),
    ('kind2 = demo', 'text is written in quotes: kind2 = "demo"'),
    ('enabled = True', "true and false are written in lower case: enabled = true"),
    ('enabled = no', "write true or false, without quotes: enabled = false"),
    ('params = { a = None }', "TOML has no empty value: leave the key out"),
    ('description = "a\nb"', 'text in quotes ends on its line: close the quote, or write '
                             'text of several lines in triple quotes'),
    ('retry = { attempts = 2 }\nretry.backoff = "1m"', "retry is written whole in one place "
                                                      "already"),
    ('when = { ac_power = true, }', "a table in braces { } is written on one line, its "
                                   "entries separated by commas, with none after the last"),
    ('tags = ["a" "b"]', "separate a list's items with commas"),
    # a crontab's \% (a shell reads it as %), a regex: "Unescaped '\\' in a string"
    ('description = "home-$(date +\\%F).tgz"',
     'in "..." a backslash starts an escape (\\n, \\t, \\\\): write the text in single '
     "quotes, where a backslash is itself, description = 'home-$(date +\\%F).tgz', or each "
     "backslash as \\\\"),
    ('tags = ["a\\.b"]', "write the text in single quotes, where a backslash is itself, or "
                         "each backslash as \\\\"),
    # An invisible control character: the words were about what follows it ('text is
    # written in quotes: "2J"'), or named the character with no way out.
    ('steps = 3\x1b[2J', "a control character, '\\x1b' (column 10), that no editor shows: "
                         "delete it (in text, write it as \\u001b)"),
    ('description = "a\x01b"', "a control character, '\\x01' (column 17)"),
    # A file damaged in a crash: a run of NUL bytes.
    ('\x00' * 40, "the line is NUL bytes, as a file damaged by a crash is: write it again, or "
                  "restore the last version that could be read (last-good-trayjobs.toml"),
    # The line told is TOML's: a LINE SEPARATOR in a comment above is no line break.
    ('# a\u2028b\nevery = 1h', 'text is written in quotes: every = "1h"'),
])
def test_a_toml_syntax_error_says_what_to_write(body, said):
    # tomllib's own words ("Invalid value", "Cannot mutate immutable namespace") named
    # no way out, and a file that is not TOML leaves every job at its last good version.
    [msg] = errors_of(job(body))
    assert "not valid TOML" in msg and said in msg, msg


def test_a_misspelt_key_in_an_environment_secret_is_answered_with_the_key_meant():
    # "key 'env.X.secrets': unknown key (not an option here)", beside "secret: missing".
    msgs = errors_of('[jobs.c]\nkind = "command"\ncommand = "true"\n'
                     'env = { X = { secrets = "a" } }\n')
    assert any("key 'env.X.secrets': unknown key; did you mean 'secret'?" in m
               for m in msgs), msgs


@pytest.mark.parametrize("path, said", [
    ("{tmp}", "names a folder; write the history's file in it, e.g. sqlite:///{tmp}/runs.db"),
    ("/dev/null", "names no plain file (a device or a pipe)"),
    ("{tmp}/x\\u0000.db", "a file name cannot hold a NUL character"),
])
def test_a_shared_history_file_that_cannot_be_one_is_a_config_error(tmp_path, path, said):
    # Each command that opened the history ended in a traceback (unable to open database
    # file, disk I/O error, embedded null byte), and check said the file was fine.
    path, said = path.format(tmp=tmp_path), said.format(tmp=tmp_path)
    [msg] = errors_of(f'[cluster]\ndatabase = "sqlite:///{path}"\n')
    assert "key 'cluster.database'" in msg and said in msg, msg


def test_commands_refuse_a_shared_history_in_a_folder_without_a_traceback(home, tmp_path):
    home.config_file.write_text(f'[cluster]\ndatabase = "sqlite:///{tmp_path}"\n'
                                f'[jobs.a]\nkind = "demo"\n')
    for args in (["jobs"], ["runs"], ["run", "a"], ["check"]):
        out = trayjobs(home, *args)
        assert out.returncode in (1, 2) and "Traceback" not in out.stderr, out.stderr
        assert "key 'cluster.database'" in out.stderr and "names a folder" in out.stderr, \
            out.stderr


@pytest.mark.parametrize("body, key", [
    ('kind = "import"\ndatabase = "/tmp/x\\u0000.db"', "database"),
    ('kind = "report"\nbuiltin = "job-activity"\ndatabase = "/tmp/x\\u0000.db"', "database"),
    ('kind = "report"\nbuiltin = "job-activity"\ntemplate = "t\\u0000.j2"', "template"),
    ('kind = "python"\ncall = "os:getcwd"\npath = ["/tmp/\\u0000"]', "path"),
    ('kind = "command"\ncommand = "true"\ncwd = "/tmp/\\u0000"', "cwd"),
    ('kind = "import"\ntable = "t\\u0000"', "table"),
])
def test_a_path_with_a_nul_character_is_refused_at_its_key(body, key):
    # An import into "x\0.db" passed check; each run then failed with "ValueError: embedded
    # null byte" and a traceback, and was retried; a python job's check failed at line 1.
    [err] = parse_config(f"[jobs.j]\n{body}\n").errors
    assert err.key == key and err.line == len(body.splitlines()) + 1, str(err)
    assert err.message.endswith("cannot hold a NUL character (\\u0000); remove it"), str(err)


def test_a_file_with_a_mistake_in_each_of_thousands_of_jobs_is_told_at_once():
    # Each mistake's line was looked for through every key of the file: 2,000 jobs with
    # one mistake each took 10 s to be told (4,000: 40 s), the window and worker waiting.
    n = 4000
    started = time.monotonic()
    cfg = parse_config("".join(f'[jobs.j{i}]\nkind = "demo"\nsteps = "x"\n' for i in range(n)))
    assert time.monotonic() - started < 15
    assert len(cfg.errors) == n and cfg.errors[-1].line == 3 * n
