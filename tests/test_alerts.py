"""Alerts end to end: a real engine, real job processes, and real servers on loopback
receiving the mail (aiosmtpd), the webhooks and the heartbeat pings (http.server)."""

from __future__ import annotations

import pytest

from alert_servers import HTTPRecorder, SMTPServer, free_port
from helpers import wait_until


@pytest.fixture
def smtp():
    server = SMTPServer().start()
    yield server
    server.stop()


@pytest.fixture
def http():
    server = HTTPRecorder().start()
    yield server
    server.stop()


def quick(eng):
    """Alerts gathered for 0.1 s, retried after 0.1 s: tests need not wait for minutes."""
    eng.alerts.sender.gather = 0.1
    eng.alerts.sender.backoff = 0.1
    eng.start()
    return eng


FAILING = """
[jobs.backup]
kind = "demo"
steps = 1
step_time = 0
fail_times = 9
retry = { attempts = 3, backoff = "0.1s", jitter = false }
"""


def test_a_final_failure_is_one_mail_whatever_the_attempts(make_engine, smtp):
    eng = quick(make_engine(f"""
        [alerts.me]
        url = "{smtp.url()}"
    """ + FAILING, start=False))
    run = eng.watcher.wait(eng.submit("backup"), timeout=30)
    assert run["state"] == "failed" and run["attempt"] == 3
    wait_until(lambda: smtp.messages)
    wait_until(lambda: eng.store.outbox_log()[0]["state"] == "sent")
    assert len(smtp.messages) == 1  # three attempts, one message
    mail = smtp.messages[0]
    assert mail["Subject"] == "backup failed"
    assert mail["To"] == "me@example.com"
    text = mail.get_body(("plain", "html")).get_content()
    assert "backup failed after 3 attempts" in text
    assert "failing on purpose (attempt 3, told to fail 9 times)" in text
    assert f"trayjobs://run/{run['id']}" in text and f"trayjobs show {run['id']}" in text


def test_webhook_and_heartbeat_pings_arrive_in_order(make_engine, http):
    eng = quick(make_engine(f"""
        [alerts.hook]
        url = "json://127.0.0.1:{http.port}/hook"
        on = ["always"]

        [jobs.ok]
        kind = "demo"
        steps = 1
        step_time = 0
        ping = "{http.base}/ping/ok-uuid"
    """ + FAILING.replace("[jobs.backup]", '[jobs.backup]\nping = "' + http.base
                          + '/ping/bk-uuid"'), start=False))
    good = eng.watcher.wait(eng.submit("ok"))
    wait_until(lambda: "/hook" in http.paths())
    bad = eng.watcher.wait(eng.submit("backup"), timeout=30)
    wait_until(lambda: http.paths().count("/hook") == 2)
    wait_until(lambda: "/ping/bk-uuid/fail" in http.paths())
    paths = http.paths()
    assert [p for p in paths if p.startswith("/ping/ok")] == ["/ping/ok-uuid/start", "/ping/ok-uuid"]
    assert [p for p in paths if p.startswith("/ping/bk")] == ["/ping/bk-uuid/start",
                                                              "/ping/bk-uuid/fail"]
    first, second = http.bodies("/hook")
    assert first["title"] == "ok succeeded" and first["type"] == "info"
    assert f"Run {good['id']}" in first["message"]
    assert second["title"] == "backup failed" and second["type"] == "failure"
    assert f"trayjobs://run/{bad['id']}" in second["message"]


def test_recovered_after_a_failure(make_engine, http, write_config):
    channel = f"""
        [alerts.hook]
        url = "json://127.0.0.1:{http.port}/hook"
        on = ["recovered"]
    """
    eng = quick(make_engine(channel + FAILING.replace("attempts = 3", "attempts = 1"),
                            start=False))
    for _ in range(2):
        assert eng.watcher.wait(eng.submit("backup"))["state"] == "failed"
    write_config(channel + FAILING.replace("fail_times = 9", "fail_times = 0"))
    eng.reload_config()
    good = eng.watcher.wait(eng.submit("backup"))
    assert good["state"] == "succeeded"
    eng.watcher.wait(eng.submit("backup"))  # a second success is no recovery
    wait_until(lambda: "/hook" in http.paths())
    wait_until(lambda: all(r["state"] != "pending" for r in eng.store.outbox_log()))
    assert [b["title"] for b in http.bodies("/hook")] == ["backup recovered"]


def test_delivery_waits_across_a_restart_while_the_server_is_down(make_engine, home):
    port = free_port()  # nothing listens there yet
    config = f"""
        [alerts.hook]
        url = "json://127.0.0.1:{port}/hook"
    """ + FAILING.replace("attempts = 3", "attempts = 1")
    eng = quick(make_engine(config, start=False))
    rid = eng.watcher.wait(eng.submit("backup"))["id"]
    wait_until(lambda: (eng.store.outbox_log(run_id=rid)[0]["attempts"] >= 2))
    row = eng.store.outbox_log(run_id=rid)[0]
    assert row["state"] == "pending"
    assert "connection refused" in row["last_error"]
    eng.alerts.sender.backoff = 3600  # the next try is an hour away...
    eng.stop(timeout=5)
    server = HTTPRecorder(port).start()
    try:
        again = quick(make_engine(start=False))  # ...but a restart tries at once
        wait_until(lambda: server.bodies("/hook"))
        assert [b["title"] for b in server.bodies("/hook")] == ["backup failed"]
        wait_until(lambda: again.store.outbox_log(run_id=rid)[0]["state"] == "sent")
    finally:
        server.stop()


def test_a_report_is_mailed_with_its_pdf_attached_and_its_html_as_the_body(make_engine, smtp):
    eng = quick(make_engine(f"""
        [alerts.me]
        url = "{smtp.url('boss@example.com')}"
        on = ["failure"]

        [jobs.weekly]
        kind = "report"
        builtin = "job-activity"
        formats = ["html", "pdf"]
        deliver = {{ to = "me", attach = ["pdf"] }}
    """, start=False))
    run = eng.watcher.wait(eng.submit("weekly"), timeout=60)
    assert run["state"] == "succeeded", run
    wait_until(lambda: smtp.messages, timeout=30)
    mail = smtp.messages[0]
    assert mail["To"] == "boss@example.com"
    assert mail["Subject"] == run["result"]["summary"]
    html = mail.get_body(("html",))
    assert html is not None and "<html" in html.get_content().lower()
    pdfs = [p for p in mail.iter_attachments() if p.get_content_type() == "application/pdf"]
    assert len(pdfs) == 1
    assert pdfs[0].get_filename().endswith(".pdf")
    assert pdfs[0].get_content().startswith(b"%PDF")
    assert len(smtp.messages) == 1


def test_an_attachment_too_big_is_left_out_with_a_note(make_engine, smtp):
    eng = quick(make_engine(f"""
        [alerts.me]
        url = "{smtp.url()}"
        max_attachment = "1KB"

        [jobs.weekly]
        kind = "report"
        builtin = "job-activity"
        formats = ["pdf"]
        deliver = {{ to = "me", attach = ["pdf"], body = "summary" }}
    """, start=False))
    eng.watcher.wait(eng.submit("weekly"), timeout=60)
    wait_until(lambda: smtp.messages, timeout=30)
    mail = smtp.messages[0]
    assert not list(mail.iter_attachments())
    text = mail.get_body(("plain",)).get_content()
    assert "Not attached, too big for this channel (at most 1.0 KB in all)" in text
    assert "Not attached, too big for this channel" in text and ".pdf" in text


def test_a_slow_or_dead_channel_never_delays_a_run(make_engine, http):
    http.delay = 2.0
    eng = quick(make_engine(f"""
        [alerts.slow]
        url = "json://127.0.0.1:{http.port}/hook"
        on = ["always"]
        [alerts.dead]
        url = "json://127.0.0.1:{free_port()}/hook"
        on = ["always"]

        [jobs.ok]
        kind = "demo"
        steps = 1
        step_time = 0
    """, start=False))
    first = eng.watcher.wait(eng.submit("ok"))
    wait_until(lambda: any(r["channel"] == "slow" and r["attempts"] for r in eng.store.outbox_log())
               or len(http.requests) > 0, timeout=10)
    second = eng.watcher.wait(eng.submit("ok"))  # while the slow server holds the sender
    assert second["finished_at"] - second["created_at"] < 1.5
    assert first["state"] == second["state"] == "succeeded"


def test_a_slow_channel_never_holds_up_a_heartbeat_ping(make_engine, http):
    pings = HTTPRecorder().start()
    try:
        http.delay = 2.0  # the channel's server answers in 2 s
        eng = quick(make_engine(f"""
            [alerts.slow]
            url = "json://127.0.0.1:{http.port}/hook"
            on = ["always"]

            [jobs.ok]
            kind = "demo"
            steps = 1
            step_time = 0
            ping = "{pings.base}/ping/ok"
        """, start=False))
        eng.watcher.wait(eng.submit("ok"))
        wait_until(lambda: http.arrivals)  # its message is being sent, for 2 s
        rid = eng.submit("ok")
        wait_until(lambda: [p for _, p in pings.arrivals].count("/ping/ok/start") == 2)
        started_at = eng.store.get_run(rid)["started_at"]
        arrived = [t for t, p in pings.arrivals if p == "/ping/ok/start"][-1]
        assert not http.requests  # the slow server has not answered yet
        assert arrived - started_at < 0.2
    finally:
        pings.stop()


def test_a_command_output_whose_name_is_not_utf8_is_attached(make_engine, smtp):
    # The run's outputs are kept as text, such a name with its byte escaped (r"\xff"): the
    # mail said the file was "no longer there" while it was.
    eng = quick(make_engine(f"""
        [alerts.me]
        url = "{smtp.url()}"

        [jobs.export]
        kind = "command"
        command = "printf 'a,b' > \\"$TRAYJOBS_OUTPUT_DIR\\"/$(printf 'caf\\\\351.csv')"
        deliver = {{ to = "me", attach = ["csv"], body = "summary" }}
    """, start=False))
    run = eng.watcher.wait(eng.submit("export"), timeout=60)
    assert run["state"] == "succeeded", run
    assert run["result"]["outputs"][0].endswith("caf\\xe9.csv"), run["result"]
    wait_until(lambda: smtp.messages, timeout=30)
    mail = smtp.messages[0]
    text = mail.get_body(("plain",)).get_content()
    assert "no longer there" not in text, text
    files = list(mail.iter_attachments())
    assert len(files) == 1 and files[0].get_content() in ("a,b", b"a,b"), files
