"""The alerts thread's rules with an injected clock: the stale timer, quiet hours, burst
summaries and retries with backoff, against a real run store and a real HTTP server."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta

import pytest

from alert_servers import HTTPRecorder, free_port
from helpers import wait_until
from keyring_support import private_bus, secret_service  # noqa: F401 (fixtures)
from trayjobs.alerts.service import Alerts
from trayjobs.config import parse_config
from trayjobs.engine.events import EventBus, Notice, RunChanged
from trayjobs.store.open import open_store

DAY = 86400.0


@pytest.fixture
def http():
    server = HTTPRecorder().start()
    yield server
    server.stop()


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def setup(home):
    """An :class:`Alerts` over a real store, a config from text and a clock the test moves;
    nothing runs on a thread: the test calls ``run_once``."""
    made = []

    def make(text: str, *, at: datetime = datetime(2026, 3, 2, 12, 0)):
        cfg = parse_config(text)
        assert cfg.errors == []
        store = open_store(home)
        clock = Clock(at.timestamp())
        bus = EventBus()
        notices = []
        bus.subscribe(lambda ev: isinstance(ev, Notice) and notices.append(ev))
        alerts = Alerts(store, lambda: cfg, bus=bus, clock=clock, gather=1.0, backoff=10.0)
        alerts.notices = notices
        made.append(store)
        return alerts, store, clock, bus

    yield make
    for store in made:
        store.close()


def finish(store, bus, job: str, state: str, *, error: str = "disk full") -> dict:
    """A run of ``job`` that ended for good, told on the bus as the engine tells it."""
    rid = store.create_run(job, kind="demo", trigger="manual")
    store.claim(rid)
    row = store.end_attempt(rid, state=state, error=error if state == "failed" else None,
                            result={"summary": "done"} if state == "succeeded" else None)
    bus.emit(RunChanged(row, final=True))
    return row


def hook(http, extra: str = "") -> str:
    return f"""
[alerts.hook]
url = "json://127.0.0.1:{http.port}/hook"
{extra}
"""


JOBS = "".join(f"""
[jobs.{name}]
kind = "demo"
""" for name in ("a", "b", "c", "d", "e"))


def test_the_stale_timer_fires_once_per_spell_even_for_a_job_that_never_runs(setup, http):
    alerts, store, clock, bus = setup(hook(http) + """
[jobs.backup]
kind = "demo"
stale_after = "3d"
""")
    start = clock.t
    alerts.sender.run_once()  # first look: the job is new, counted from now
    clock.t = start + 3 * DAY - 60
    # Not stale yet; the thread is told to look again when it will be.
    assert alerts.sender.run_once() == pytest.approx(start + 3 * DAY)
    assert http.requests == []
    clock.t = start + 3 * DAY
    alerts.sender.run_once()
    (body,) = http.bodies("/hook")
    assert body["title"] == "backup is stale"
    assert body["message"].startswith("No successful run of backup since it was added")
    clock.t += DAY
    alerts.sender.run_once()
    alerts.sender.run_once(clock.t + 2)
    assert len(http.requests) == 1  # the same spell is told once
    # A success ends the spell; three days without another starts a new one.
    row = finish(store, bus, "backup", "succeeded")
    clock.t = row["finished_at"] + 3 * DAY + 1
    alerts.sender.run_once()
    alerts.sender.run_once(clock.t + 2)
    assert [b["title"] for b in http.bodies("/hook")] == ["backup is stale"] * 2
    assert http.bodies("/hook")[1]["message"].startswith("No successful run of backup for 3 d")


def test_quiet_hours_hold_messages_and_sum_them_up_at_their_end(setup, http, home):
    night = datetime(2026, 3, 2, 23, 0)
    alerts, store, clock, bus = setup(hook(http, 'quiet_hours = "22:00-07:00"\n'
                                                'urgent = ["e"]\non = ["always"]') + JOBS,
                                      at=night)
    finish(store, bus, "a", "failed")
    finish(store, bus, "b", "succeeded")
    finish(store, bus, "e", "failed", error="the disk is on fire")
    alerts.sender.run_once(clock.t + 2)
    # Only the urgent job's failure goes during the quiet hours.
    assert [b["title"] for b in http.bodies("/hook")] == ["e failed"]
    held = [r for r in store.outbox_log() if r["state"] == "pending"]
    morning = datetime(2026, 3, 3, 7, 0).timestamp()
    assert {r["due_at"] for r in held} == {morning}
    alerts.sender.run_once(morning - 1)
    assert len(http.requests) == 1
    alerts.sender.run_once(morning)
    titles = [b["title"] for b in http.bodies("/hook")]
    assert titles == ["e failed", "2 alerts during quiet hours, 1 failed"]
    summary = http.bodies("/hook")[1]["message"]
    assert "- a failed" in summary and "- b succeeded" in summary
    assert {r["state"] for r in store.outbox_log() if r["job"] in ("a", "b")} == {"merged"}


def test_a_burst_of_failures_is_one_summary(setup, http):
    alerts, store, clock, bus = setup(hook(http) + JOBS)
    for job in "abcde":
        finish(store, bus, job, "failed")
    alerts.sender.run_once(clock.t + 2)
    (body,) = http.bodies("/hook")
    assert body["title"] == "5 jobs failed in the last minute"
    assert body["type"] == "info"
    for job in "abcde":
        assert f"- {job} failed" in body["message"]
    rows = store.outbox_log()
    summary = next(r for r in rows if r["event"] == "summary")
    assert summary["state"] == "sent"
    assert all(r["merged_into"] == summary["id"] for r in rows if r["event"] == "failure")


def test_two_failures_are_two_messages_in_their_order(setup, http):
    alerts, store, clock, bus = setup(hook(http) + JOBS)
    finish(store, bus, "a", "failed")
    finish(store, bus, "b", "failed")
    alerts.sender.run_once(clock.t + 2)
    assert [b["title"] for b in http.bodies("/hook")] == ["a failed", "b failed"]


def test_retries_back_off_then_deliver_once_and_keep_the_error_meanwhile(setup, home):
    port = free_port()
    server = HTTPRecorder(port)
    alerts, store, clock, bus = setup(f"""
[alerts.hook]
url = "json://127.0.0.1:{port}/hook"
""" + JOBS)
    row = finish(store, bus, "a", "failed")
    t = clock.t + 2
    alerts.sender.run_once(t)
    (msg,) = store.outbox_log(run_id=row["id"])
    assert msg["state"] == "pending" and msg["attempts"] == 1
    assert msg["last_error"].startswith("connection refused")
    assert msg["due_at"] == pytest.approx(t + 10)  # backoff 10 s, then 20 s, ...
    alerts.sender.run_once(t + 10)
    msg = store.outbox_get(msg["id"])
    assert msg["attempts"] == 2 and msg["due_at"] == pytest.approx(t + 30)
    assert alerts.notices[0].level == "error" and "hook" in alerts.notices[0].message
    server.start()
    try:
        alerts.sender.run_once(t + 29)  # not due yet: nothing is sent
        assert server.requests == []
        alerts.sender.run_once(t + 30)
        assert [b["title"] for b in server.bodies("/hook")] == ["a failed"]
        alerts.sender.run_once(t + 1000)
        assert len(server.requests) == 1
        assert store.outbox_get(msg["id"])["state"] == "sent"
        assert alerts.notices[-1].level == "info"  # the window hears it works again
    finally:
        server.stop()


def test_a_channel_whose_url_is_fixed_sends_what_waits_at_once(home, http):
    # The backoff was about the old URL: with the new one, waiting up to an hour for the
    # next try looked like the fix had not worked.
    store = open_store(home)
    broken = parse_config(f"""
[alerts.hook]
url = "json://127.0.0.1:{free_port()}/hook"
""" + JOBS)
    config = [broken]
    bus = EventBus()
    clock = Clock(datetime(2026, 3, 2, 12, 0).timestamp())
    alerts = Alerts(store, lambda: config[0], bus=bus, clock=clock, gather=1.0,
                    backoff=600.0)
    try:
        finish(store, bus, "a", "failed")
        t = clock.t + 2
        for later in (0, 600, 1800):  # tried, then again 10 and 20 minutes later
            alerts.sender.run_once(t + later)
        (msg,) = store.outbox_log()
        assert msg["attempts"] == 3 and msg["due_at"] == pytest.approx(t + 4200)
        alerts.sender.run_once(t + 1900)
        assert http.requests == []
        config[0] = parse_config(hook(http) + JOBS)  # the URL fixed
        alerts.sender.run_once(t + 1901)
        assert [b["title"] for b in http.bodies("/hook")] == ["a failed"]
        assert store.outbox_get(msg["id"])["state"] == "sent"
        alerts.sender.run_once(t + 9999)
        assert len(http.requests) == 1
    finally:
        store.close()


def test_a_channel_down_for_an_hour_loses_nothing_and_sends_nothing_twice(setup, home):
    port = free_port()
    server = HTTPRecorder(port)
    alerts, store, clock, bus = setup(f"""
[alerts.hook]
url = "json://127.0.0.1:{port}/hook"
on = ["always"]
""" + JOBS)
    alerts.sender.backoff = 30.0  # as the app's: 30 s, doubling
    start, runs = clock.t, []
    for minute in range(61):  # a run every 12 minutes while the server is down
        clock.t = start + minute * 60
        if minute % 12 == 0:
            runs.append(finish(store, bus, "abcde"[minute // 12 % 5],
                               "failed" if minute % 24 else "succeeded")["id"])
        if minute == 60:
            server.start()
        for s in range(0, 60, 5):
            alerts.sender.run_once(clock.t + s)
    try:
        for later in range(1, 40):
            alerts.sender.run_once(clock.t + 60 + later * 30)
    finally:
        server.stop()
    rows = {r["id"]: r for r in store.outbox_log(limit=100)}
    for r in rows.values():
        went = rows[r["merged_into"]] if r["state"] == "merged" else r
        assert went["state"] == "sent", r
    told = "\n".join(f"{b['title']}\n{b['message']}" for b in server.bodies("/hook"))
    assert sorted(int(n) for n in re.findall(r"\(run (\d+)\)", told)) == sorted(runs)
    assert len(server.requests) == sum(r["state"] == "sent" for r in rows.values())


def test_a_channel_that_never_works_gives_up_with_its_last_error(setup):
    alerts, store, clock, bus = setup("""
[alerts.bad]
url = "json://127.0.0.1:1/hook"
""" + JOBS)
    alerts.sender.tries = 3
    finish(store, bus, "a", "failed")
    t = clock.t + 2
    for step in range(5):
        alerts.sender.run_once(t + step * 1000)
    (msg,) = store.outbox_log()
    assert msg["state"] == "failed" and msg["attempts"] == 3
    assert "connection refused" in msg["last_error"]


def test_a_webhook_refusing_for_good_is_tried_once_and_holds_up_nothing(setup, http):
    # A 404 (a webhook deleted, a typo in its path) was tried a dozen times over hours,
    # and every message of the channel behind it waited for those tries.
    alerts, store, clock, bus = setup(hook(http) + JOBS)
    http.status = 404
    first = finish(store, bus, "a", "failed")
    t = clock.t + 2
    alerts.sender.run_once(t)
    (msg,) = store.outbox_log(run_id=first["id"])
    assert msg["state"] == "failed" and msg["attempts"] == 1
    assert msg["last_error"].startswith("the server has no such address (404)")
    for step in range(1, 5):
        alerts.sender.run_once(t + step * 1000)
    assert len(http.paths()) == 1  # not asked again
    http.status = 200  # the path fixed: the next message goes at once
    finish(store, bus, "b", "failed")
    alerts.sender.run_once(t + 5000)
    # The 404's request, then the next message: "a failed" is not sent again.
    assert [b["title"] for b in http.bodies("/hook")] == ["a failed", "b failed"]


def test_a_webhook_failing_on_its_side_is_tried_again(setup, http):
    alerts, store, clock, bus = setup(hook(http) + JOBS)
    http.status = 503
    finish(store, bus, "a", "failed")
    t = clock.t + 2
    alerts.sender.run_once(t)
    (msg,) = store.outbox_log()
    assert msg["state"] == "pending" and msg["attempts"] == 1
    http.status = 200
    alerts.sender.run_once(t + 10)
    assert store.outbox_get(msg["id"])["state"] == "sent"
    assert [b["title"] for b in http.bodies("/hook")] == ["a failed", "a failed"]


def test_a_job_can_name_its_channels_or_silence_them(setup, http):
    alerts, store, clock, bus = setup(hook(http, 'jobs = ["nightly"]') + """
[alerts.other]
url = "json://127.0.0.1:1/x"
jobs = ["*"]

[jobs.a]
kind = "demo"
tags = ["nightly"]
alerts = ["hook"]

[jobs.b]
kind = "demo"
alerts = []

[jobs.c]
kind = "demo"
tags = ["nightly"]
""")
    for job in "abc":
        finish(store, bus, job, "failed")
    assert sorted((r["channel"], r["job"]) for r in store.outbox_log()) == [
        ("hook", "a"), ("hook", "c"), ("other", "c")]


def test_missed_runs_are_told(setup, http):
    alerts, store, clock, bus = setup(hook(http) + JOBS)
    row = store.insert_run("a", kind="demo", trigger="catch-up",
                           note="missed 3 runs since 02 Mar 08:00; running once")
    bus.emit(RunChanged(row))
    alerts.sender.run_once(clock.t + 2)
    (body,) = http.bodies("/hook")
    assert body["title"] == "a missed runs"
    assert "missed 3 runs since 02 Mar 08:00" in body["message"]


def test_alerting_costs_nothing_without_channels(setup):
    alerts, store, clock, bus = setup(JOBS)
    finish(store, bus, "a", "failed")
    assert store.outbox_log() == []


def test_pruning_the_history_drops_old_alerts_that_are_done_but_not_waiting_ones(setup, http):
    alerts, store, clock, bus = setup(hook(http) + JOBS)
    store.outbox_add([{"channel": "hook", "event": "failure", "title": t, "created_at": 1000.0,
                       "dedupe": t} for t in ("old-sent", "old-waiting")])
    sent = next(r for r in store.outbox_log() if r["title"] == "old-sent")
    store.outbox_update([sent["id"]], state="sent")
    store.prune(keep_days=90, keep_runs=100_000, keep_failed_days=365)
    assert [r["title"] for r in store.outbox_log()] == ["old-waiting"]


def test_messages_behind_a_dead_channel_cost_a_round_nothing(home):
    """The oldest message of a dead channel waits an hour for its next try, thousands wait
    behind it: the thread sleeps until then, and a round reads none of them."""
    cfg = parse_config(f'[alerts.dead]\nurl = "json://127.0.0.1:{free_port()}/hook"\n' + JOBS)
    store = open_store(home)
    alerts = Alerts(store, lambda: cfg, backoff=3600.0, gather=1.0)
    rounds = []
    stale = alerts.sender.extra
    alerts.sender.extra = lambda now: (rounds.append(now), stale(now))[1]
    read = []
    pending = store.outbox_pending
    store.outbox_pending = lambda *a, **kw: read.append(r := pending(*a, **kw)) or r
    try:
        store.outbox_add([{"channel": "dead", "event": "failure", "job": "a", "run_id": 1,
                           "dedupe": "first", "title": "a failed", "body": "disk full"}])
        alerts.start()  # tries it once: refused, next try in an hour
        wait_until(lambda: store.outbox_log()[0]["attempts"] == 1)
        now = time.time()
        store.outbox_add({"channel": "dead", "event": "failure", "job": "a", "run_id": i,
                          "dedupe": f"behind {i}", "title": "a failed", "body": "disk full",
                           "due_at": now}
                         for i in range(2, 2002))
        alerts.sender.wake()
        time.sleep(1.0)  # what the thread does meanwhile is the point: nothing
        assert len(rounds) <= 4
        rounds.clear()
        del read[:]
        assert alerts.sender.run_once() > now + 3000
        assert sum(len(r) for r in read) == 0  # none of the 2,000 was read
    finally:
        alerts.stop()
        store.close()


@pytest.mark.parametrize("said, cause", [
    ("Failed to resolve 'hooks.example' ([Errno -2] Name or service not known)",
     "host not found (check the server's name in the channel's URL, and the network)"),
    ("[Errno -3] Temporary failure in name resolution",
     "the server's name could not be looked up (is this machine online?)"),
    ("timed out", "timed out (check the server's name and port in the URL, and the network)"),
    ("535 Username and Password not accepted",
     "authentication failed (check the user and password or token in the URL or its secret)"),
])
def test_a_delivery_error_names_its_cause_and_what_to_check_first(said, cause):
    from trayjobs.alerts.channels.apprise_url import _reason
    assert _reason(f"WARNING A Connection error occurred. · {said}") == (
        f"{cause}: A Connection error occurred. · {said}")


def test_a_host_that_cannot_be_found_is_said_so_by_a_real_send():
    # .invalid never resolves (RFC 2606): whatever the resolver here answers, the cause
    # comes first, then the library's own words.
    from trayjobs.alerts.channels import DeliveryError, Message
    from trayjobs.alerts.channels.apprise_url import AppriseChannel
    with pytest.raises(DeliveryError) as err:
        AppriseChannel("json://no-such-host.invalid/hook").send(Message(title="t", body="b"),
                                                               timeout=10)
    assert str(err.value).startswith(("host not found (check",
                                      "the server's name could not be looked up")), err.value


def test_a_delivery_error_never_shows_the_tokens_of_the_channels_url():
    # Webhooks keep their token in the path or the query (discord://ID/TOKEN); the
    # library's error quotes the path it called, and the error is shown everywhere.
    from trayjobs.alerts.channels import DeliveryError, Message
    from trayjobs.alerts.channels.apprise_url import AppriseChannel
    url = f"json://alice:PASSWORD1@127.0.0.1:{free_port()}/hook/PATHTOKEN2?token=QUERYTOKEN3"
    with pytest.raises(DeliveryError) as err:
        AppriseChannel(url).send(Message(title="t", body="b"), timeout=5)
    said = str(err.value)
    assert said.startswith("connection refused"), said
    for secret in ("PASSWORD1", "PATHTOKEN2", "QUERYTOKEN3"):
        assert secret not in said
    assert "127.0.0.1" in said  # the server stays named: it is what to check


def test_a_heartbeat_error_never_shows_the_checks_uuid():
    from trayjobs.alerts.channels import DeliveryError
    from trayjobs.alerts.channels.ping import ping
    with pytest.raises(DeliveryError) as err:
        ping(f"http://127.0.0.1:{free_port()}/0a1b2c3d-uuid", "fail", timeout=5)
    assert "0a1b2c3d-uuid" not in str(err.value)
    assert str(err.value).startswith(f"cannot reach http://127.0.0.1:"), err.value
    assert str(err.value).split(":", 3)[2].endswith("/…/fail"), err.value


def test_a_server_name_and_an_address_in_the_url_stay_in_its_errors():
    from trayjobs.alerts.channels.redact import redact
    url = "mailtos://me:app-password@example.com?smtp=smtp.example.com&to=me@example.com"
    assert redact("no smtp.example.com for me@example.com with app-password", url) == (
        "no smtp.example.com for me@example.com with …")
    assert redact("https://api.telegram.org/bot123456:ABCDEFGH/sendMessage",
                  "tgram://123456:ABCDEFGH/chat") == "https://api.telegram.org/bot…/sendMessage"


def test_a_job_failing_over_and_over_is_summed_up_not_one_message_each(setup, http):
    # Failures a few seconds apart, each past the gathering window of the one before:
    # after a burst's worth in a minute, the channel's next ones wait for the minute's
    # end and go as one summary, so a job failing every 5 s sends a few messages a
    # minute, not one per run.
    alerts, store, clock, bus = setup(hook(http) + JOBS)
    start = clock.t
    for _ in range(40):  # 200 s
        finish(store, bus, "a", "failed")
        alerts.sender.run_once(clock.t + 1.5)
        clock.t += 5
    clock.t += 120
    alerts.sender.run_once(clock.t)
    bodies = http.bodies("/hook")
    assert len(bodies) <= 3 * (200 // 60 + 2), [b["title"] for b in bodies]
    told = sum(int(b["title"].split(" failed ")[1].split()[0]) if " times " in b["title"]
               else 1 for b in bodies)
    assert told == 40  # every failure is in a message, none lost
    assert all(r["state"] in ("sent", "merged") for r in store.outbox_log(limit=100))
    assert "a failed" in bodies[-1]["title"], bodies[-1]


def _report_row(store, html, clock, attach=()):
    store.outbox_add([{"channel": "hook", "event": "report", "job": "a", "run_id": None,
                       "dedupe": f"hook:report:{html}", "title": "weekly", "body": "done",
                       "due_at": clock.t, "data": {"attach": list(attach), "html": str(html)}}])


def test_a_report_whose_html_is_not_utf8_or_too_big_still_goes(setup, http, tmp_path):
    # An HTML body in Latin-1 (a report script's own template) never went: every try
    # failed on decoding it; one of gigabytes was read whole into memory.
    alerts, store, clock, bus = setup(hook(http, 'max_attachment = "1KB"') + JOBS)
    latin = tmp_path / "latin.html"
    latin.write_bytes("<p>caf\xe9</p>".encode("latin-1"))
    _report_row(store, latin, clock)
    alerts.sender.run_once(clock.t)
    big = tmp_path / "big.html"
    big.write_text("<p>" + "x" * 5000 + "</p>", encoding="utf-8")
    _report_row(store, big, clock)
    alerts.sender.run_once(clock.t)
    assert [r["state"] for r in store.outbox_log()] == ["sent", "sent"], store.outbox_log()
    sent = alerts.sender._message(store.outbox_log()[0], alerts.config().alerts["hook"],
                                  None)
    assert sent.html is None
    assert "big.html (5.0 KB)" in sent.body and "too big" in sent.body


def test_a_recipient_the_mail_server_refuses_is_said_so_and_not_retried():
    from aiosmtpd.controller import Controller
    from trayjobs.alerts.channels import DeliveryError, Message
    from trayjobs.alerts.channels.apprise_url import AppriseChannel

    class Refuse:
        async def handle_RCPT(self, server, session, envelope, address, opts):
            return "550 5.1.1 no such user here"

    port = free_port()
    server = Controller(Refuse(), hostname="127.0.0.1", port=port)
    server.start()
    try:
        with pytest.raises(DeliveryError) as err:
            AppriseChannel(f"mailto://localhost:{port}?to=nobody@example.com"
                           f"&from=trayjobs@example.com").send(Message("t", "b"), timeout=5)
    finally:
        server.stop()
    assert str(err.value).startswith("the mail server refused the recipient"), err.value
    assert "nobody@example.com" in str(err.value)
    assert err.value.retry is False


def test_a_channel_whose_server_never_answers_holds_up_no_other_channel(http):
    # A server that takes the connection and never answers: its send waits out the
    # library's timeout. Another channel's send meanwhile goes at once.
    import socket
    import threading
    from trayjobs.alerts.channels import DeliveryError, Message
    from trayjobs.alerts.channels.apprise_url import AppriseChannel
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(5)
    errors = []

    def dead():
        try:
            AppriseChannel(f"json://127.0.0.1:{hole.getsockname()[1]}/hook").send(
                Message("t", "b"), timeout=5)
        except DeliveryError as exc:
            errors.append(str(exc))

    stuck = threading.Thread(target=dead)
    try:
        stuck.start()
        conn, _ = hole.accept()  # and never a word back
        began = time.monotonic()
        AppriseChannel(f"json://127.0.0.1:{http.port}/hook").send(Message("t", "b"))
        took = time.monotonic() - began
        assert http.bodies("/hook") and took < 2, took
        stuck.join(20)
        assert errors and errors[0].startswith("timed out"), errors  # its own error
        conn.close()
    finally:
        hole.close()


def test_a_report_to_a_channel_that_carries_no_files_says_they_were_left_out(
        setup, tmp_path, monkeypatch):
    # desktop:// shows no attachment: the report's PDF was dropped without a word.
    from trayjobs.alerts.channels import desktop
    shown = []
    monkeypatch.setattr(desktop, "show", lambda title, body, failure: shown.append(body))
    alerts, store, clock, bus = setup('[alerts.hook]\nurl = "desktop://"\n' + JOBS)
    pdf = tmp_path / "weekly.pdf"
    pdf.write_bytes(b"%PDF-1.4 ...")
    store.outbox_add([{"channel": "hook", "event": "report", "job": "a", "run_id": None,
                       "dedupe": "hook:report:1", "title": "weekly", "body": "done",
                       "due_at": clock.t, "data": {"attach": [str(pdf)], "html": None}}])
    alerts.sender.run_once(clock.t)
    assert len(shown) == 1
    assert "weekly.pdf" in shown[0] and "this channel carries no files" in shown[0], shown


def test_an_unforeseen_error_quoting_the_url_keeps_its_secrets(setup, monkeypatch):
    from trayjobs.alerts import channels

    class Broken(channels.Channel):
        schemes = ("broken",)

        def send(self, message, *, timeout=30.0):
            raise RuntimeError(f"cannot post to {self.url}")

    monkeypatch.setattr(channels, "CHANNELS", [Broken])
    alerts, store, clock, bus = setup(
        '[alerts.hook]\nurl = "broken://u:PASSWORD9@example.com/TOKEN9xyz"\n' + JOBS)
    finish(store, bus, "a", "failed")
    alerts.sender.run_once(clock.t + 2)
    (row,) = store.outbox_log()
    assert row["last_error"].startswith("RuntimeError: cannot post to"), row
    assert "PASSWORD9" not in row["last_error"] and "TOKEN9xyz" not in row["last_error"]


def test_an_urgent_failure_after_held_ones_still_goes_at_once(setup, http):
    # Messages held for quiet hours (or summed up after a burst) head the channel's
    # queue until they are due: an urgent failure queued behind them waited with them.
    night = datetime(2026, 3, 2, 23, 0)
    alerts, store, clock, bus = setup(hook(http, 'quiet_hours = "22:00-07:00"\n'
                                                'urgent = ["e"]') + JOBS, at=night)
    finish(store, bus, "a", "failed")
    alerts.sender.run_once(clock.t + 2)
    assert http.bodies("/hook") == []  # held until 07:00
    clock.t += 600
    finish(store, bus, "e", "failed", error="the disk is on fire")
    alerts.sender.run_once(clock.t + 2)
    assert [b["title"] for b in http.bodies("/hook")] == ["e failed"]


def test_alerts_summed_up_in_a_summary_that_fails_are_not_told_as_sent(setup):
    # The channel's server is down: the summary of the burst waits, then fails for good;
    # the failures it holds said "sent" all along, in the run's details and `show`.
    from trayjobs.alerts.cli import delivery_lines, delivery_state
    dead = f"\n[alerts.hook]\nurl = \"json://127.0.0.1:{free_port()}/hook\"\n"
    alerts, store, clock, bus = setup(dead + JOBS)
    alerts.sender.tries = 2
    runs = [finish(store, bus, job, "failed") for job in "abc"]
    alerts.sender.run_once(clock.t + 2)
    (row,) = store.outbox_log(run_id=runs[0]["id"])
    assert row["state"] == "merged"
    state, detail = delivery_state(row)
    assert state == "retrying" and "connection refused" in detail, detail
    alerts.sender.run_once(clock.t + 1000)
    (row,) = store.outbox_log(run_id=runs[0]["id"])
    state, detail = delivery_state(row)
    assert state == "failed" and "which failed: connection refused" in detail, detail
    (line,) = delivery_lines(store, runs[0]["id"])[1:]
    assert "failed in summary" in line and "sent" not in line, line


def test_a_channel_whose_secret_is_not_stored_says_how_to_store_it(setup, secret_service):
    alerts, store, clock, bus = setup('[alerts.hook]\nurl = { secret = "hook-url" }\n' + JOBS)
    run = finish(store, bus, "a", "failed")
    alerts.sender.run_once(clock.t + 2)
    (row,) = store.outbox_log(run_id=run["id"])
    # Said as to the person at the keyboard, not as a Python exception's class name.
    assert row["last_error"] == ("there is no secret 'hook-url' in the system keyring; store "
                                 "it with `trayjobs secret set hook-url`"), row
    assert row["state"] == "pending"  # it goes once the secret is stored


@pytest.mark.parametrize("password, kept", [("pw12", "pw12x stays"), ("a%40b", "mail")])
def test_a_short_password_quoted_in_an_error_is_blanked_but_not_inside_other_words(
        password, kept):
    from trayjobs.alerts.channels.redact import redact
    from urllib.parse import unquote
    url = f"mailto://bob:{password}@smtp.example.com"
    said = redact(f"login as bob with {unquote(password)} refused by mail; {kept}: "
                  f"mailto://bob:{password}@smtp.example.com", url)
    import re
    for p in (password, unquote(password)):
        assert not re.search(rf"(?<!\w){re.escape(p)}(?!\w)", said), said
    assert kept in said and "bob" in said and "smtp.example.com" in said


def test_failures_queued_while_a_burst_is_summed_up_neither_break_it_nor_send_it_twice(
        setup, http, monkeypatch):
    # The engine queues the failures of other runs while the sender sums up a burst: the
    # summary was looked for among the channel's five newest messages, and with more
    # queued meanwhile it was not found, the burst was left half done, and sent twice.
    alerts, store, clock, bus = setup(hook(http) + JOBS)
    for job in "abc":
        finish(store, bus, job, "failed")
    add = store.outbox_add

    def add_then_more(rows):
        added = add(rows)
        if rows and rows[0]["event"] == "summary":
            for _ in range(8):  # as the engine would, from its own thread
                finish(store, bus, "d", "failed")
        return added
    monkeypatch.setattr(store, "outbox_add", add_then_more)
    alerts.sender.run_once(clock.t + 2)
    monkeypatch.setattr(store, "outbox_add", add)
    for step in range(1, 6):
        alerts.sender.run_once(clock.t + 2 + 100 * step)
    titles = [b["title"] for b in http.bodies("/hook")]
    assert titles[0] == "3 jobs failed in the last minute", titles
    assert len(titles) == len(set(titles)) == 2, titles
    assert "d failed 8 times" in titles[1], titles
    states = {r["state"] for r in store.outbox_log(limit=100)}
    assert states == {"sent", "merged"}, states


def test_two_senders_at_once_send_each_alert_once(setup, http):
    # The app's sender and a foreground `trayjobs run` flushing at its end (or an old and
    # a new leader of a cluster) read the same outbox: a message goes once, whichever
    # takes it, and both go on to what is left.
    http.delay = 0.4  # each send takes a while: the other sender looks meanwhile
    first, store, clock, bus = setup(hook(http) + JOBS)
    second, _, _, _ = setup(hook(http) + JOBS)
    second.sender.clock = clock
    for job in ("a", "b"):
        finish(store, bus, job, "failed")
    import threading
    both = [threading.Thread(target=s.sender.run_once, args=(clock.t + 2,), kwargs={"flush": True})
            for s in (first, second)]
    for t in both:
        t.start()
    for t in both:
        t.join(20)
    assert sorted(b["title"] for b in http.bodies("/hook")) == ["a failed", "b failed"]
    assert {r["state"] for r in store.outbox_log()} == {"sent"}


def test_a_send_waiting_as_long_as_its_url_asks_keeps_the_other_sender_off(setup, http,
                                                                           monkeypatch):
    # A URL asking for a long wait to be answered (?rto=) made a send outlast the lane's
    # hold (a send's usual timeout and a minute): another process took the lane while it
    # was waiting and sent the message again.
    from trayjobs.alerts import sender
    monkeypatch.setattr(sender, "LANE_SPARE", 0.5)
    text = f'[alerts.hook]\nurl = "json://127.0.0.1:{http.port}/hook?rto=6"\n' + JOBS
    first, store, clock, bus = setup(text)
    second, _, _, _ = setup(text)
    second.sender.clock = clock
    first.sender.timeout = second.sender.timeout = 1.0
    http.delay = 3  # longer than the sender's timeout and spare, shorter than the URL's
    finish(store, bus, "a", "failed")
    import threading
    going = threading.Thread(target=first.sender.run_once, args=(clock.t + 2,),
                             kwargs={"flush": True})
    going.start()
    time.sleep(2)
    second.sender.run_once(clock.t + 2, flush=True)
    going.join(20)
    assert [b["title"] for b in http.bodies("/hook")] == ["a failed"]
    assert {r["state"] for r in store.outbox_log()} == {"sent"}


def test_a_lane_another_process_holds_is_looked_at_again_soon_not_in_a_loop(setup, http):
    # The app's sender finds a channel taken by a foreground command sending from it: it
    # waits a moment and looks again, rather than trying it over and over meanwhile.
    alerts, store, clock, bus = setup(hook(http) + JOBS)
    clock.t = time.time()
    finish(store, bus, "a", "failed")
    assert store.outbox_lane_hold("hook", "a foreground run", store.now() + 60)
    tries = []
    hold = store.outbox_lane_hold
    store.outbox_lane_hold = lambda *a: tries.append(a) or hold(*a)
    clock.t += 10  # past its gathering window
    alerts.start()
    try:
        time.sleep(1.0)
        assert 1 <= len(tries) <= 4, len(tries)
        assert http.bodies("/hook") == []
        store.outbox_lane_free("hook", "a foreground run")  # it went without sending it
        assert wait_until(lambda: http.bodies("/hook"), 5)
    finally:
        alerts.stop()


def test_a_message_given_up_on_a_url_that_could_never_work_goes_once_it_is_fixed(home, http):
    # A refusal that no retry changes (a redirect dropping the message, a 404, a mail
    # server wanting STARTTLS) gives the message up at once: fixing the URL then sent
    # only the next ones, and the failure that showed the URL was wrong was lost.
    store = open_store(home)
    http.redirects["/old"] = (301, "/new")
    config = [parse_config(hook(http).replace("/hook", "/old") + JOBS)]
    bus = EventBus()
    clock = Clock(datetime(2026, 3, 2, 12, 0).timestamp())
    alerts = Alerts(store, lambda: config[0], bus=bus, clock=clock, gather=1.0, backoff=60.0)
    try:
        old = finish(store, bus, "a", "failed")
        alerts.sender.run_once(clock.t + 2)
        (gone,) = store.outbox_log(run_id=old["id"])  # given up long ago: not sent again
        store.outbox_update([gone["id"]], created_at=store.now() - 2 * DAY)
        first = finish(store, bus, "b", "failed")
        t = clock.t + 2
        alerts.sender.run_once(t)
        (msg,) = store.outbox_log(run_id=first["id"])
        assert msg["state"] == "failed" and "not tried again" in msg["last_error"]
        alerts.sender.run_once(t + 600)
        assert http.paths() == ["/old", "/old"]
        config[0] = parse_config(hook(http).replace("/hook", "/new") + JOBS)  # fixed
        alerts.sender.run_once(t + 601)
        assert [b["title"] for b in http.bodies("/new")] == ["b failed"]
        assert store.outbox_get(msg["id"])["state"] == "sent"
        assert store.outbox_log(run_id=old["id"])[0]["state"] == "failed"
        alerts.sender.run_once(t + 9999)
        assert len(http.bodies("/new")) == 1
    finally:
        store.close()


def test_a_ping_given_up_is_not_sent_once_the_ping_url_is_fixed(home, http):
    # A heartbeat is about the moment it is sent: a "/start" or success of hours ago,
    # sent late, would tell the monitor of a run that is not happening.
    store = open_store(home)
    job = '[jobs.a]\nkind = "demo"\nping = "{}"\n'
    config = [parse_config(job.format(f"{http.base}/old/KEY9abcdef"))]
    bus = EventBus()
    clock = Clock(datetime(2026, 3, 2, 12, 0).timestamp())
    alerts = Alerts(store, lambda: config[0], bus=bus, clock=clock, gather=1.0, backoff=60.0)
    try:
        http.status = 404
        finish(store, bus, "a", "succeeded")
        alerts.sender.run_once(clock.t + 2)
        assert http.paths() == ["/old/KEY9abcdef"]
        http.status = 200
        config[0] = parse_config(job.format(f"{http.base}/new/KEY9abcdef"))
        alerts.sender.run_once(clock.t + 10)
        alerts.sender.run_once(clock.t + 100)
        assert http.paths() == ["/old/KEY9abcdef"]
    finally:
        store.close()
