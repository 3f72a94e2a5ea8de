"""A mail server's refusals against a real SMTP server on loopback (aiosmtpd): a 5xx is
the server's final word on that message, so it is said plainly and not tried again; a
4xx is for a while, and is."""

from __future__ import annotations

import pytest

from alert_servers import SMTPServer
from trayjobs.alerts.channels import DeliveryError, Message, channel_for


def _send(server: SMTPServer, attach: list[str] | None = None) -> None:
    channel_for(server.url()).send(Message(title="t", body="b", attach=attach or []),
                                   timeout=5)


@pytest.fixture
def smtp():
    server = SMTPServer().start()
    yield server
    server.stop()


def test_a_message_refused_for_good_is_not_tried_again(smtp):
    smtp.answer = "554 5.7.1 Message rejected as spam"
    with pytest.raises(DeliveryError) as exc:
        _send(smtp)
    text = str(exc.value)
    assert text.startswith("the mail server refused the message (554"), text
    assert "rejected as spam" in text and "not tried again" in text
    assert exc.value.retry is False


def test_a_message_refused_for_a_while_is_tried_again(smtp):
    smtp.answer = "451 4.3.0 Try again later"
    with pytest.raises(DeliveryError) as exc:
        _send(smtp)
    text = str(exc.value)
    assert text.startswith("the mail server put the message off (451"), text
    assert "tried again later" in text
    assert exc.value.retry is True


def test_a_message_too_large_for_the_server_says_what_to_lower(tmp_path):
    report = tmp_path / "report.pdf"
    report.write_bytes(b"%PDF-1.4\n" + b"x" * 20_000)
    server = SMTPServer(data_size_limit=5_000).start()
    try:
        with pytest.raises(DeliveryError) as exc:
            _send(server, [str(report)])
    finally:
        server.stop()
    text = str(exc.value)
    assert text.startswith("the mail server refused the message as too large (552)"), text
    assert "max_attachment" in text and "not tried again" in text
    assert exc.value.retry is False
