"""Mail over TLS against real servers on loopback (aiosmtpd with a self-signed
certificate): a server asking for STARTTLS, one speaking TLS from the first byte, one
whose certificate does not verify. Each misconfiguration says what to write in the URL,
and one that no later try changes is not tried again."""

from __future__ import annotations

import pytest

from alert_servers import TLSSMTPServer, self_signed
from trayjobs.alerts.channels import DeliveryError, Message, channel_for

TO = "to=me@example.com&from=trayjobs@example.com"


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    return self_signed(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def starttls(context):
    server = TLSSMTPServer(context).start()
    yield server
    server.stop()


def _send(url: str) -> None:
    channel_for(url).send(Message(title="Sicherung fällig ✓", body="Grüße"), timeout=5)


def test_a_starttls_server_with_the_right_url_gets_the_mail(starttls):
    _send(f"mailtos://bob:s3cret@localhost:{starttls.port}?{TO}&mode=starttls&verify=no")
    (mail,) = starttls.messages
    assert mail["subject"] == "Sicherung fällig ✓"


def test_a_server_asking_for_starttls_of_a_plain_url_says_to_use_it(starttls):
    with pytest.raises(DeliveryError) as exc:
        _send(f"mailto://localhost:{starttls.port}?{TO}")
    text = str(exc.value)
    assert text.startswith("the mail server takes mail only over TLS"), text
    assert "mode=starttls" in text and "not tried again" in text
    assert exc.value.retry is False
    assert not starttls.messages


def test_a_login_offered_only_over_tls_is_not_tried_again(starttls):
    with pytest.raises(DeliveryError) as exc:
        _send(f"mailto://bob:s3cret@localhost:{starttls.port}?{TO}")
    assert str(exc.value).startswith("the mail server offers no login"), str(exc.value)
    assert exc.value.retry is False
    assert "s3cret" not in str(exc.value)


def test_a_certificate_that_does_not_verify_says_what_to_set(starttls):
    with pytest.raises(DeliveryError) as exc:
        _send(f"mailtos://bob:s3cret@localhost:{starttls.port}?{TO}&mode=starttls")
    text = str(exc.value)
    assert "certificate is not trusted" in text and "verify=no" in text, text
    assert "s3cret" not in text


def test_implicit_tls_asked_of_a_starttls_server_is_not_tried_again(starttls):
    with pytest.raises(DeliveryError) as exc:
        _send(f"mailtos://bob:s3cret@localhost:{starttls.port}?{TO}&mode=ssl&verify=no")
    assert str(exc.value).startswith("TLS failed"), str(exc.value)
    assert exc.value.retry is False


def test_an_implicit_tls_server_gets_the_mail(context):
    server = TLSSMTPServer(context, implicit=True).start()
    try:
        _send(f"mailtos://bob:s3cret@localhost:{server.port}?{TO}&mode=ssl&verify=no")
    finally:
        server.stop()
    (mail,) = server.messages
    assert mail["subject"] == "Sicherung fällig ✓"
    assert mail.get_body(("plain", "html")).get_content().strip().startswith("Grüße")


def test_a_wrong_password_says_so_and_is_not_tried_again(starttls):
    with pytest.raises(DeliveryError) as exc:
        _send(f"mailtos://bob:Wr0ngPassw0rd@localhost:{starttls.port}?{TO}"
              f"&mode=starttls&verify=no")
    text = str(exc.value)
    assert text.startswith("authentication failed"), text
    assert exc.value.retry is False and "Wr0ngPassw0rd" not in text


def test_a_plain_url_to_an_implicit_tls_server_says_to_ask_for_tls(context):
    # The server waits for TLS's first words, the client for the server's greeting:
    # it said only "timed out (check the server's name and port)".
    server = TLSSMTPServer(context, implicit=True).start()
    try:
        with pytest.raises(DeliveryError) as exc:
            channel_for(f"mailto://bob:s3cret@localhost:{server.port}?{TO}").send(
                Message(title="t", body="b"), timeout=1)
    finally:
        server.stop()
    text = str(exc.value)
    assert text.startswith("the mail server took the connection but never greeted"), text
    assert "?mode=ssl" in text and "s3cret" not in text
    assert exc.value.retry is True  # a server slow to greet may greet next time


def test_a_monitor_whose_certificate_does_not_verify_says_what_to_set(context, monkeypatch):
    from alert_servers import HTTPRecorder
    from trayjobs.alerts.channels.ping import ping
    monitor = HTTPRecorder(tls=context).start()
    url = f"https://bob:s3cret@localhost:{monitor.port}/ping/KEY9abcdef"
    try:
        with pytest.raises(DeliveryError) as exc:
            ping(url, "start", timeout=5)
        monkeypatch.setenv("SSL_CERT_FILE", context.cert_file)  # what the error says
        ping(url, "start", timeout=5)
    finally:
        monitor.stop()
    assert monitor.paths() == ["/ping/KEY9abcdef/start"]
    text = str(exc.value)
    assert text.startswith("the monitor's TLS certificate is not trusted"), text
    assert "SSL_CERT_FILE" in text and "s3cret" not in text and "KEY9abcdef" not in text
