"""Webhooks and heartbeats against a real HTTP server on loopback: a server that never
answers ends the send at its timeout, an answer that no retry changes is not tried again,
and a heartbeat URL's password is never shown."""

from __future__ import annotations

import time

import pytest

from alert_servers import HTTPRecorder
from trayjobs.alerts.channels import DeliveryError, Message, channel_for


@pytest.fixture
def http():
    server = HTTPRecorder().start()
    yield server
    server.stop()


def _send(url: str, timeout: float = 5) -> None:
    channel_for(url).send(Message(title="t", body="b"), timeout=timeout)


def test_a_server_that_never_answers_ends_the_send_at_its_timeout(http):
    http.silent = True
    start = time.monotonic()
    with pytest.raises(DeliveryError) as exc:
        _send(f"json://127.0.0.1:{http.port}/hook", timeout=1)
    took = time.monotonic() - start
    assert 0.9 <= took < 3, took  # Apprise's own wait is 4 seconds
    assert str(exc.value).startswith("timed out"), str(exc.value)
    assert exc.value.retry is True


def test_a_wait_written_in_the_url_is_kept(http):
    http.silent = True
    start = time.monotonic()
    with pytest.raises(DeliveryError):
        _send(f"json://127.0.0.1:{http.port}/hook?rto=1", timeout=20)
    assert time.monotonic() - start < 5


def test_a_longer_wait_written_in_the_url_is_kept_whole(http):
    # The send's own limit (its waits to connect and to be answered) is that of the URL.
    http.delay = 3
    _send(f"json://127.0.0.1:{http.port}/hook?rto=6", timeout=1)
    assert http.paths() == ["/hook"]


def test_a_server_slower_than_apprises_own_wait_is_waited_for(http):
    # Given up on at 4 seconds, the message was tried again while the server took it:
    # sent twice.
    http.delay = 4.5
    _send(f"json://127.0.0.1:{http.port}/hook", timeout=10)
    assert http.paths() == ["/hook"]


@pytest.mark.parametrize("scheme", ["json", "form", "xml", "ntfy"])
@pytest.mark.parametrize("status, said", [
    (400, "the server refused the message as malformed (400)"),
    (401, "the server refused the login (401/403)"),
    (403, "the server refused the login (401/403)"),
    (404, "the server has no such address (404)"),
    (405, "the server takes no message at this address that way (405)"),
    (410, "the address is gone for good (410)"),
    (413, "the server refused the message as too large (413)"),
    (422, "the server could not use the message (422)"),
    (418, "the server refused the message: check the channel's URL")])
def test_an_answer_no_retry_changes_is_not_tried_again(http, scheme, status, said):
    http.status = status
    with pytest.raises(DeliveryError) as exc:
        _send(f"{scheme}://127.0.0.1:{http.port}/hook")
    text = str(exc.value)
    assert text.startswith(said) and "not tried again" in text, text
    assert f"error={status}" in text
    assert exc.value.retry is False


@pytest.mark.parametrize("status", [408, 425, 429, 500, 502, 503])
def test_an_answer_that_may_change_is_tried_again(http, status):
    http.status = status
    with pytest.raises(DeliveryError) as exc:
        _send(f"json://127.0.0.1:{http.port}/hook")
    assert exc.value.retry is True and "tried again later" in str(exc.value), str(exc.value)


@pytest.mark.parametrize("status, again", [(404, False), (410, False), (401, False),
                                           (429, True), (408, True), (503, True)])
def test_a_monitor_refusing_a_ping_for_good_is_not_pinged_again(http, status, again):
    from trayjobs.alerts.channels.ping import ping
    http.status = status
    with pytest.raises(DeliveryError) as exc:
        ping(f"{http.base}/ping/KEY9abcdef", "start", timeout=5)
    assert exc.value.retry is again
    assert ("check the job's ping URL" in str(exc.value)) is not again, str(exc.value)


PASSWORD = "s3cret-Pw9"  # long enough to be blanked anywhere, as a word or not


def test_a_heartbeat_with_a_login_sends_it_as_basic_auth_not_in_the_address(http):
    # urllib took "bob:PASSWORD@127.0.0.1" for the server's name: the ping never went,
    # and the error was a "name not known".
    import base64
    from trayjobs.alerts.channels.ping import ping
    ping(f"http://bob:{PASSWORD.replace('-', '%2D')}@127.0.0.1:{http.port}/ping/KEY9abcdef",
         "start", timeout=5)
    assert http.paths() == ["/ping/KEY9abcdef/start"]
    login = base64.b64encode(f"bob:{PASSWORD}".encode()).decode()
    assert http.headers[0]["Authorization"] == f"Basic {login}"


@pytest.mark.parametrize("password", [PASSWORD, "pw"])
@pytest.mark.parametrize("trouble", ["refused", "404", "port"])
def test_a_heartbeat_error_never_shows_its_password(http, password, trouble):
    from trayjobs.alerts.channels.ping import ping
    port = {"refused": "1", "404": str(http.port), "port": "99x"}[trouble]
    http.status = 404
    with pytest.raises(DeliveryError) as exc:
        ping(f"http://bob:{password}@127.0.0.1:{port}/ping/KEY9abcdef", "fail", timeout=5)
    said = str(exc.value)
    assert password not in said.replace("bob", ""), said
    assert "bob:…@" in said, said


@pytest.mark.parametrize("raw", ["pa/ss", "pa?ss", "p@ss:x"])
def test_a_heartbeat_password_with_url_characters_is_a_config_error(raw):
    from trayjobs.config import parse_config
    cfg = parse_config(f"""
[jobs.backup]
kind = "demo"
ping = "https://bob:{raw}@hc.example.com/ping/KEY9abcdef"
""")
    (error,) = cfg.errors
    assert "percent-encoded" in str(error) and raw not in str(error), str(error)


def test_the_run_details_show_a_heartbeat_without_its_password():
    from trayjobs.ui.runinfo import params_text
    text = params_text({"kind": "demo", "ping": f"https://bob:{PASSWORD}@hc.example.com/p/K"},
                       None)
    assert PASSWORD not in text and 'ping = "https://bob:…@hc.example.com/p/K"' in text


@pytest.mark.parametrize("url", ["ntfy://", "ntfys://127.0.0.1:9/"])
def test_a_url_naming_no_one_to_send_to_says_so_and_is_not_tried_again(url):
    with pytest.raises(DeliveryError) as exc:
        _send(url)
    assert str(exc.value).startswith("the channel's URL names no one to send to"), str(exc.value)
    assert exc.value.retry is False


@pytest.mark.parametrize("url", ["json://127.0.0.1:99999/hook", "ntfy://host:0/topic",
                                 "json://bob:pw@host:70000/hook"])
def test_a_port_that_is_none_is_refused_before_sending(url):
    # Apprise took it, and each of a dozen tries failed with "Failed to parse".
    channel = channel_for(url)
    assert "a port is a number from 1 to 65535" in (channel.problem() or "")
    with pytest.raises(DeliveryError) as exc:
        _send(url)
    assert exc.value.retry is False


def test_a_heartbeat_port_that_is_none_is_a_config_error():
    from trayjobs.config import parse_config
    cfg = parse_config('[jobs.b]\nkind = "demo"\nping = "https://hc.example.com:80x/KEY"\n')
    (error,) = cfg.errors
    assert error.key == "ping" and "a port is a number from 1 to 65535" in str(error)


def test_a_token_with_a_colon_in_the_hosts_place_is_no_port():
    assert channel_for("tgram://123456789:abcdefg_hijklmnop/12345").problem() is None


def test_a_summary_that_goes_late_says_since_when_not_in_the_last_minute():
    # Three failures within a minute, told an hour later (the channel was down), read
    # "3 jobs failed in the last minute".
    from datetime import datetime
    from trayjobs.alerts.compose import summary_message
    at = datetime.now().replace(hour=3, minute=10, second=0, microsecond=0).timestamp()
    rows = [{"event": "failure", "job": j, "title": f"{j} failed", "run_id": n,
             "created_at": at + n} for n, j in enumerate("abc", 1)]
    assert summary_message(rows, now=at + 30)[0] == "3 jobs failed in the last minute"
    assert summary_message(rows, now=at + 3600)[0] == "3 jobs failed since 03:10"


def test_a_mail_server_that_never_greets_ends_the_send_at_its_timeout():
    # A mail server's wait was Apprise's 15 seconds, whatever the send's timeout.
    import socket
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    try:
        start = time.monotonic()
        with pytest.raises(DeliveryError) as exc:
            _send(f"mailto://localhost:{port}?to=me@example.com&from=t@example.com",
                  timeout=1)
        took = time.monotonic() - start
    finally:
        listener.close()
    assert took < 5, took
    assert "never greeted" in str(exc.value) and exc.value.retry is True, str(exc.value)


@pytest.mark.parametrize("status, path", [(301, "/new"), (302, "/old")])
def test_a_redirect_that_would_drop_the_message_says_where_and_is_not_tried_again(
        http, status, path):
    # HTTP clients follow these redirects of a POST with a GET without its body: the
    # server at the new address answered 200 to a request holding no message. A 302 to
    # the same path is an address moved (http to https; here, another port).
    other = HTTPRecorder().start()
    try:
        http.redirects["/old"] = (status, f"{other.base}{path}")
        with pytest.raises(DeliveryError) as exc:
            _send(f"json://127.0.0.1:{http.port}/old")
    finally:
        other.stop()
    text = str(exc.value)
    assert text.startswith("the server redirects the message to another address"), text
    assert f"({status}) to {other.base}{path}" in text and "not tried again" in text
    assert exc.value.retry is False
    assert [(m, p) for m, p, _ in http.requests] == [("POST", "/old")]
    assert other.requests == []


@pytest.mark.parametrize("status", [302, 303])
def test_a_redirect_to_see_the_outcome_elsewhere_is_followed(http, status):
    # "Taken, see there": a script's web app answers a POST so, the message delivered.
    http.redirects["/exec"] = (status, "/result")
    _send(f"json://127.0.0.1:{http.port}/exec")
    assert [(m, p) for m, p, _ in http.requests] == [("POST", "/exec"), ("GET", "/result")]


@pytest.mark.parametrize("status", [307, 308])
def test_a_redirect_that_keeps_the_message_delivers_it_there(http, status):
    http.redirects["/old"] = (status, "/new")
    _send(f"json://127.0.0.1:{http.port}/old")
    assert [(m, p, (b or {}).get("message")) for m, p, b in http.requests] == [
        ("POST", "/old", "b"), ("POST", "/new", "b")]


def test_a_heartbeat_login_goes_along_a_redirect_on_its_server_only(http):
    # urllib kept every header of the request along a redirect: a monitor (or a proxy
    # in front of it) pointing elsewhere was handed the login.
    from trayjobs.alerts.channels.ping import ping
    other = HTTPRecorder().start()
    try:
        http.redirects["/ping/KEY9abcdef/start"] = (302, "/moved/KEY9abcdef/start")
        http.redirects["/moved/KEY9abcdef/start"] = (302, f"{other.base}/elsewhere")
        ping(f"http://bob:{PASSWORD}@127.0.0.1:{http.port}/ping/KEY9abcdef", "start",
             timeout=5)
    finally:
        other.stop()
    assert http.paths() == ["/ping/KEY9abcdef/start", "/moved/KEY9abcdef/start"]
    assert all(h.get("Authorization", "").startswith("Basic ") for h in http.headers)
    assert other.paths() == ["/elsewhere"]
    assert "Authorization" not in other.headers[0]


@pytest.mark.parametrize("cut", ["before", "half-way"])
def test_a_connection_closed_before_the_answer_says_so_and_is_tried_again(http, cut):
    http.cut = cut
    with pytest.raises(DeliveryError) as exc:
        _send(f"json://127.0.0.1:{http.port}/hook")
    text = str(exc.value)
    assert text.startswith("the server closed the connection before it answered"), text
    assert exc.value.retry is True


@pytest.mark.parametrize("what", ["webhook", "ping", "mail"])
def test_a_server_answering_a_byte_at_a_time_ends_the_send_and_its_connection(what):
    # Each read got a byte within the socket's timeout, so the send never ended: the
    # channel's later messages, and a foreground run at its end, waited for ever.
    from alert_servers import Trickler
    from trayjobs.alerts.channels.ping import ping
    server = Trickler(b"220 mail.example.com ESMTP" if what == "mail"
                      else b"HTTP/1.1 200 OK\r\nX-Slow: ").start()
    try:
        start = time.monotonic()
        with pytest.raises(DeliveryError) as exc:
            if what == "ping":
                ping(f"http://127.0.0.1:{server.port}/uuid", "success", timeout=1)
            elif what == "mail":
                _send(f"mailto://localhost:{server.port}?to=me@example.com"
                      f"&from=t@example.com", timeout=1)
            else:
                _send(f"json://127.0.0.1:{server.port}/hook", timeout=1)
        took = time.monotonic() - start
        assert 1.9 <= took < 4, took
        assert "timed out" in str(exc.value) and "a byte at a time" in str(exc.value)
        assert exc.value.retry is True
        # The connection is shut: no thread goes on reading from it.
        deadline = time.monotonic() + 3
        while server.open and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.connections >= 1 and server.open == 0
    finally:
        server.stop()


def test_a_send_given_up_on_makes_no_new_connection():
    # Apprise tries again on its own where the URL asks (?retry=): the send given up on
    # went on connecting in the background, sending the message while the sender tried
    # it again.
    from alert_servers import Trickler
    server = Trickler().start()
    try:
        with pytest.raises(DeliveryError):
            _send(f"json://127.0.0.1:{server.port}/hook?retry=3", timeout=1)
        time.sleep(3)
        assert server.connections == 1
    finally:
        server.stop()
