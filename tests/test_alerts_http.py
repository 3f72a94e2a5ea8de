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


def test_a_server_slower_than_apprises_own_wait_is_waited_for(http):
    # Given up on at 4 seconds, the message was tried again while the server took it:
    # sent twice.
    http.delay = 4.5
    _send(f"json://127.0.0.1:{http.port}/hook", timeout=10)
    assert http.paths() == ["/hook"]
