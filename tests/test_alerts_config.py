"""Alert settings that cannot work are config errors naming the key, found by
``trayjobs check``; the other jobs keep running. ``trayjobs alerts`` on the command line."""

from __future__ import annotations

import pytest

from alert_servers import HTTPRecorder, free_port
from helpers import trayjobs
from keyring_support import private_bus, secret_service  # noqa: F401 (fixtures)
from trayjobs.config import parse_config


def errors(text: str) -> list[tuple[str | None, str | None, str]]:
    cfg = parse_config(text)
    return [(e.job, e.key, e.message) for e in cfg.errors]


def test_a_url_that_is_not_one_names_its_key():
    (err,) = errors('[alerts.me]\nurl = "me@example.com"\n')
    assert err[1] == "alerts.me.url" and "is not a notification URL" in err[2]


def test_unknown_keys_and_events_are_named():
    found = errors('[alerts.me]\nurl = "ntfy://t"\non = ["fail"]\ncolour = "red"\n')
    keys = {k for _, k, _ in found}
    assert keys == {"alerts.me.on.0", "alerts.me.colour"}


def test_a_job_naming_an_unknown_channel_keeps_running_with_an_error():
    text = """
[alerts.me]
url = "ntfy://t"

[jobs.a]
kind = "demo"
alerts = ["me", "boss"]
deliver = { to = "nobody" }

[jobs.b]
kind = "demo"
"""
    cfg = parse_config(text)
    assert set(cfg.jobs) == {"a", "b"}
    got = {(e.job, e.key): e.message for e in cfg.errors}
    assert "names 'boss', which is not an alert channel (channels: me)" in got[("a", "alerts")]
    assert "names 'nobody'" in got[("a", "deliver.to")]


def test_stale_after_shorter_than_the_jobs_own_interval_is_refused():
    got = errors('[jobs.a]\nkind = "demo"\nevery = "1d"\nstale_after = "12h"\n')
    assert got == [("a", "stale_after", got[0][2])]
    assert "shorter than the time between two of the job's own runs (1 d" in got[0][2]
    assert errors('[jobs.a]\nkind = "demo"\nevery = "1d"\nstale_after = "3d"\n') == []
    # A weekday job waits three days over the weekend.
    got = errors('[jobs.a]\nkind = "demo"\ncron = "0 9 * * mon-fri"\nstale_after = "2d"\n')
    assert got and "3 d" in got[0][2]


def test_a_ping_must_be_http():
    got = errors('[jobs.a]\nkind = "demo"\nping = "ftp://x"\n')
    assert got[0][:2] == ("a", "ping")


def test_check_reads_each_url_as_apprise_does_and_names_unknown_secrets(home, secret_service):
    home.config_file.write_text("""
[alerts.odd]
url = "nosuchservice://x"

[alerts.mail]
url = { secret = "no-such-secret" }

[jobs.a]
kind = "demo"

[jobs.b]
kind = "demo"
ping = { secret = "no-such-ping" }
""", encoding="utf-8")
    out = trayjobs(home, "check")
    assert out.returncode == 1, out.stderr
    # With the line, as every other mistake (they had none).
    assert ("trayjobs.toml:3, key 'alerts.odd.url': not a notification URL Apprise can use"
            in out.stderr), out.stderr
    assert "trayjobs.toml:6, key 'alerts.mail.url': there is no secret 'no-such-secret'" \
        in out.stderr
    assert "trayjobs.toml:13, job 'b', key 'ping': there is no secret 'no-such-ping'" \
        in out.stderr
    assert "1 job OK, 3 errors" in out.stdout


def test_alerts_test_sends_a_real_message_or_says_why_not(home):
    server = HTTPRecorder().start()
    try:
        home.config_file.write_text(f"""
[alerts.hook]
url = "json://127.0.0.1:{server.port}/hook"

[alerts.down]
url = "json://127.0.0.1:{free_port()}/hook"
""", encoding="utf-8")
        ok = trayjobs(home, "alerts", "test", "hook")
        assert ok.returncode == 0, ok.stderr
        assert "sent a test message to 'hook'" in ok.stdout
        assert server.bodies("/hook")[0]["title"] == "trayjobs test message"
        bad = trayjobs(home, "alerts", "test", "down")
        assert bad.returncode == 1
        assert "alert channel 'down': the test message was not sent: connection refused" \
            in bad.stderr
        unknown = trayjobs(home, "alerts", "test", "nope")
        assert "there is no alert channel 'nope' (channels: down, hook)" in unknown.stderr
    finally:
        server.stop()


def test_alerts_log_and_show_tell_what_became_of_each_message(home):
    port = free_port()
    home.config_file.write_text(f"""
[alerts.hook]
url = "json://127.0.0.1:{port}/hook"

[jobs.bad]
kind = "demo"
steps = 1
step_time = 0
fail_times = 5
retry = {{ attempts = 1 }}
""", encoding="utf-8")
    run = trayjobs(home, "run", "bad")  # in the foreground: it sends what it can as it ends
    assert run.returncode == 1
    rid = int(run.stdout.split()[0])
    log = trayjobs(home, "alerts", "log")
    assert log.returncode == 0
    assert "bad failed" in log.stdout and "hook" in log.stdout
    assert "connection refused" in log.stdout  # kept, with its error, for the next try
    show = trayjobs(home, "show", str(rid))
    assert "alerts:\n  hook: failure · try 2" in show.stdout
    assert "connection refused" in show.stdout
    check = trayjobs(home, "check")
    assert "alert channel 'hook': the latest delivery failed: connection refused" in check.stderr


def test_links_in_messages_are_registered_by_install_desktop_and_checked(home):
    from trayjobs.desktop import desktop_entry
    entry = desktop_entry(["/usr/bin/trayjobs"])
    assert "Exec=/usr/bin/trayjobs %u" in entry
    assert "MimeType=x-scheme-handler/trayjobs;" in entry
    autostart = desktop_entry(["/usr/bin/trayjobs", "app", "--minimized"], autostart=True)
    assert "%u" not in autostart and "MimeType" not in autostart
    bad = trayjobs(home, "trayjobs://jobs/5")
    assert bad.returncode == 2
    assert "is not a link trayjobs opens (trayjobs://run/ID)" in bad.stderr


def test_check_does_not_call_a_job_ok_whose_alerts_are_wrong(home):
    home.config_file.write_text("""
[alerts.me]
url = "json://127.0.0.1:9/hook"

[jobs.a]
kind = "demo"
alerts = ["me", "nosuch"]

[jobs.b]
kind = "demo"
""", encoding="utf-8")
    out = trayjobs(home, "check")
    assert out.returncode == 1
    assert "job 'a', key 'alerts': names 'nosuch', which is not an alert channel" in out.stderr
    assert "1 job OK, 1 error" in out.stdout


def test_a_channel_covering_a_job_or_tag_that_is_not_there_says_so():
    # A typo in `jobs` or `urgent` left a job without alerts, unnoticed until it failed.
    text = """
[alerts.me]
url = "ntfy://t"
jobs = ["backup", "nightly", "bakup", "*"]
urgent = ["nosuch"]

[jobs.backup]
kind = "demo"
tags = ["nightly"]

[jobs.broken]
kind = "nope"
tags = ["weekly"]
"""
    got = {(e.key, e.message) for e in parse_config(text).errors
           if (e.key or "").startswith("alerts")}
    assert got == {("alerts.me.jobs", "'bakup' is neither a job nor a tag of one; did you "
                                      "mean 'backup'?"),
                   ("alerts.me.urgent", "'nosuch' is neither a job nor a tag of one")}
    # A job left out for its own error is told of that error, not here.
    fine = text.replace('"bakup", ', '"broken", "weekly", ').replace('urgent = ["nosuch"]', "")
    assert [e for e in parse_config(fine).errors if (e.key or "").startswith("alerts")] == []


def test_a_malformed_url_or_ping_with_a_password_is_named_without_it():
    # A scheme left out: the whole text was echoed, password and all, in check's output
    # and the window's status bar.
    (err,) = errors('[alerts.me]\nurl = "me:HUNTER2pw@smtp.example.com"\n')
    assert "is not a notification URL" in err[2] and "HUNTER2pw" not in err[2], err
    assert "smtp.example.com" in err[2]
    found = errors('[jobs.a]\nkind = "demo"\nping = "ftp://u:HUNTER3pw@hc.example.com/x"\n')
    assert found and all("HUNTER3pw" not in m for _, _, m in found), found


@pytest.mark.parametrize("url", ["me:HUN@TER:2pw@smtp.example.com",
                                 "mailto:/me:HUN:TER@2pw@smtp.example.com?to=a@example.com"])
def test_a_malformed_url_whose_password_holds_url_characters_is_named_without_any_of_it(url):
    # The password was blanked only after its last ":" or "/", up to its first "@":
    # "me:…@TER:2pw@..." showed the rest of it.
    (err,) = errors(f'[alerts.me]\nurl = "{url}"\n')
    assert "is not a notification URL" in err[2], err
    for piece in ("HUN", "TER", "2pw"):
        assert piece not in err[2], err
    assert "smtp.example.com" in err[2]
    found = errors('[jobs.a]\nkind = "demo"\nping = "ftp://u:HUN@TER:2pw@hc.example.com/x"\n')
    assert found and all(p not in m for _, _, m in found for p in ("HUN", "TER", "2pw"))


def test_a_heartbeat_login_is_sent_and_its_password_shown_nowhere(home):
    # The ping went nowhere (urllib read "bob:PASSWORD@127.0.0.1" as the server's name),
    # and an error quoting the URL reached the log, `alerts log`, `show` and `check`.
    password = "s3cret-Pw9"
    http = HTTPRecorder().start()
    home.config_file.write_text(f"""
[jobs.nightly]
kind = "demo"
steps = 1
step_time = 0
ping = "http://bob:{password}@127.0.0.1:{http.port}/ping/KEY9abcdef"
""", encoding="utf-8")
    try:
        assert trayjobs(home, "run", "nightly").returncode == 0
    finally:
        http.stop()
    assert http.paths() == ["/ping/KEY9abcdef/start", "/ping/KEY9abcdef"]
    assert all(h["Authorization"].startswith("Basic ") for h in http.headers)
    run = trayjobs(home, "run", "nightly")  # the monitor is down now
    rid = int(run.stdout.split()[0])
    said = [trayjobs(home, "alerts", "log"), trayjobs(home, "show", str(rid)),
            trayjobs(home, "check")]
    out = "".join(r.stdout + r.stderr for r in said)
    assert "cannot reach http://bob:…@127.0.0.1" in out and "connection refused" in out.lower()
    logs = "".join(p.read_text(errors="replace") for p in home.root.rglob("*.log"))
    assert password not in out + logs + run.stdout + run.stderr


@pytest.mark.parametrize("written", ["7:00-9:30", "07:00 - 09:30", " 7:00-09:30 "])
def test_quiet_hours_written_as_people_write_them_hold_messages(written):
    # "7:00-9:30" was refused, and a span the check let through but the clock could not
    # read would have held nothing.
    from datetime import datetime
    from trayjobs.alerts.quiet import in_quiet_hours, quiet_end
    cfg = parse_config(f'[alerts.me]\nurl = "ntfy://t"\nquiet_hours = "{written}"\n')
    assert cfg.errors == []
    span = cfg.alerts["me"].quiet_hours
    assert span == "07:00-09:30"
    assert in_quiet_hours(span, datetime(2026, 3, 2, 8, 0))
    assert not in_quiet_hours(span, datetime(2026, 3, 2, 9, 30))
    assert quiet_end(span, datetime(2026, 3, 2, 7, 5)) == datetime(2026, 3, 2, 9, 30)


def test_a_test_that_goes_sends_what_waits_for_the_channel_now(home):
    # Its secret stored at last, or its server back: the messages that had failed kept
    # waiting for a backoff of up to an hour after the test message went.
    port = free_port()
    home.config_file.write_text(f"""
[alerts.hook]
url = "json://127.0.0.1:{port}/hook"

[jobs.bad]
kind = "demo"
steps = 1
step_time = 0
fail_times = 5
retry = {{ attempts = 1 }}
""", encoding="utf-8")
    assert trayjobs(home, "run", "bad").returncode == 1  # its alert fails, and waits
    server = HTTPRecorder(port).start()
    try:
        ok = trayjobs(home, "alerts", "test", "hook")
    finally:
        server.stop()
    assert ok.returncode == 0, ok.stderr
    assert "1 message waiting for another try goes now" in ok.stdout, ok.stdout
    import time
    from trayjobs.store.open import open_store
    store = open_store(home)
    try:
        (msg,) = store.outbox_log()
    finally:
        store.close()
    assert msg["state"] == "pending" and msg["due_at"] <= time.time()  # for the app to send


def test_a_secret_holding_no_url_is_named_and_its_value_shown_nowhere(home, secret_service):
    # The password stored instead of the whole URL: check, the test and every try quoted
    # it whole, as "a scheme Apprise does not know" or an address urllib cannot reach.
    from trayjobs import secrets
    value = "hunter2-Secret"
    secrets.set_secret("mail-url", value)
    secrets.set_secret("ping-url", value)
    home.config_file.write_text("""
[alerts.mail]
url = { secret = "mail-url" }

[jobs.a]
kind = "demo"
steps = 1
step_time = 0
ping = { secret = "ping-url" }
""", encoding="utf-8")
    check = trayjobs(home, "check")
    assert check.returncode == 1
    assert ("key 'alerts.mail.url': the secret 'mail-url' holds no notification URL"
            in check.stderr), check.stderr
    assert "key 'ping': the secret 'ping-url' holds no http:// or https:// URL" in check.stderr
    test = trayjobs(home, "alerts", "test", "mail")
    assert test.returncode == 1 and "trayjobs secret set mail-url" in test.stderr
    said = check.stdout + check.stderr + test.stdout + test.stderr
    assert value not in said and value.lower() not in said.lower()


def test_a_channel_named_ping_is_refused_before_its_messages_are_taken_for_pings():
    # Its messages went to the outbox as channel "ping", were read as heartbeat pings of
    # their job, and dropped: "the job 'a' has no ping any more".
    found = errors('[alerts.ping]\nurl = "ntfy://t"\n[jobs.a]\nkind = "demo"\n'
                   'alerts = ["ping"]\n')
    assert (None, "alerts.ping", "'ping' is the name of the jobs' heartbeat pings (trayjobs "
            "alerts log --channel ping); give this channel another name") in found
    assert ("a", "alerts", "names the channel 'ping', which has errors of its own "
            "(see above)") in found


def test_alerts_log_of_a_channel_that_is_none_says_so(home):
    home.config_file.write_text('[alerts.hook]\nurl = "json://127.0.0.1:1/hook"\n',
                                encoding="utf-8")
    typo = trayjobs(home, "alerts", "log", "--channel", "hoook")
    assert typo.returncode == 1
    assert "there is no alert channel 'hoook' (channels: hook, ping)" in typo.stderr
    known = trayjobs(home, "alerts", "log", "--channel", "hook")
    assert known.returncode == 0 and known.stdout.strip() == "no alerts yet"


def test_a_foreground_run_waits_for_a_silent_server_only_briefly(home):
    # Its last sends wait FLUSH_TIMEOUT (10 s), not the 30 s a thread of the app may: what
    # does not go is kept for the app or a worker.
    import time
    server = HTTPRecorder().start()
    server.silent = True
    home.config_file.write_text(f"""
[alerts.hook]
url = "json://127.0.0.1:{server.port}/hook"

[jobs.bad]
kind = "demo"
steps = 1
step_time = 0
fail_times = 5
retry = {{ attempts = 1 }}
""", encoding="utf-8")
    try:
        start = time.monotonic()
        run = trayjobs(home, "run", "bad")
        took = time.monotonic() - start
    finally:
        server.stop()
    assert run.returncode == 1
    assert 9 < took < 25, took
    log = trayjobs(home, "alerts", "log")
    assert "timed out" in log.stdout and "try 2" in log.stdout, log.stdout


def test_a_test_that_goes_sends_what_was_given_up_on_the_channel_now(home):
    # A webhook answering 404 (not made yet on the server) gives the message up at once;
    # once the test goes through, that failure is sent, not lost.
    server = HTTPRecorder().start()
    try:
        home.config_file.write_text(f"""
[alerts.hook]
url = "json://127.0.0.1:{server.port}/hook"

[jobs.bad]
kind = "demo"
steps = 1
step_time = 0
fail_times = 5
retry = {{ attempts = 1 }}
""", encoding="utf-8")
        server.status = 404
        assert trayjobs(home, "run", "bad").returncode == 1  # its alert is given up
        server.status = 200
        ok = trayjobs(home, "alerts", "test", "hook")
    finally:
        server.stop()
    assert ok.returncode == 0, ok.stderr
    assert "1 message given up before goes now" in ok.stdout, ok.stdout
    import time
    from trayjobs.store.open import open_store
    store = open_store(home)
    try:
        (msg,) = store.outbox_log()
    finally:
        store.close()
    assert msg["state"] == "pending" and msg["due_at"] <= time.time()  # for the app to send


def test_a_channel_name_with_a_control_character_is_refused_as_a_jobs_is():
    # Taken as it was: trayjobs alerts and the log printed it, a right-to-left override
    # turning it round, an escape obeyed by the terminal.
    for name in ("me\\u202eevil", "me\\u001b[31m"):
        cfg = parse_config(f'[jobs.a]\nkind = "demo"\n[alerts."{name}"]\n'
                           f'url = "json://localhost:9/x"\n')
        [err] = cfg.errors
        assert err.line == 3 and "a channel name cannot hold control characters" in str(err)
        assert cfg.alerts == {} and "\u202e" not in str(err) and "\x1b" not in str(err)
