"""Channel URLs and mail servers as they come in the wild: passwords full of URL
characters, schemes mistyped, servers that offer no login or a certificate nobody
trusts. Each says what to fix, against a real SMTP server on loopback."""

from __future__ import annotations

import ssl
import subprocess
import urllib.parse

import pytest

from alert_servers import free_port
from trayjobs.alerts.channels import DeliveryError, Message, channel_for

#: Every character a URL cannot carry as it is in a password, and one beyond ASCII.
WILD = "p@ss:w/rd#%?x y"


class _Mail:
    """aiosmtpd on loopback, with a login; keeps the logins and messages it gets."""

    def __init__(self, accept: bool = True, **options) -> None:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult
        self.logins: list[tuple[str, str]] = []
        self.messages: list = []
        outer = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                outer.messages.append(envelope)
                return "250 OK"

        def login(server, session, envelope, mechanism, data):
            outer.logins.append((data.login.decode(), data.password.decode()))
            return AuthResult(success=accept)

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port,
                                     authenticator=login, **options)
        self.controller.start()

    def url(self, scheme: str = "mailto", password: str = "secret-pw", query: str = "") -> str:
        return (f"{scheme}://bob:{password}@localhost:{self.port}?to=me@example.com"
                f"&from=trayjobs@example.com{query}")


@pytest.fixture
def mail_plain():
    server = _Mail(auth_require_tls=False)
    yield server
    server.controller.stop()


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory):
    """A certificate for localhost that no one vouches for."""
    folder = tmp_path_factory.mktemp("cert")
    key, cert = folder / "key.pem", folder / "cert.pem"
    made = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                           "-keyout", str(key), "-out", str(cert), "-days", "2",
                           "-subj", "/CN=localhost"], capture_output=True)
    if made.returncode:
        pytest.skip("openssl could not make a certificate")
    return cert, key


@pytest.fixture
def mail_tls(self_signed):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(*self_signed)
    server = _Mail(tls_context=ctx, require_starttls=True)
    yield server
    server.controller.stop()


def _send(url: str) -> None:
    channel_for(url).send(Message(title="t", body="b"), timeout=5)


def test_a_password_with_url_characters_percent_encoded_logs_in_as_written(mail_plain):
    _send(mail_plain.url(password=urllib.parse.quote(WILD, safe="")))
    assert mail_plain.logins == [("bob", WILD)]
    assert len(mail_plain.messages) == 1


@pytest.mark.parametrize("raw", ["p@ss", "p/ss", "p#ss", "p?ss", "p:ss:x", "Hun@ter2#x"])
def test_a_password_with_url_characters_as_they_are_is_refused_not_sent_astray(mail_plain, raw):
    # Read as Apprise reads it, "p@ss" sends the login to a server "ss", and "p:ss:x"
    # logs in with the password "p": refused, saying how to write it, never tried.
    url = mail_plain.url(password=raw)
    why = channel_for(url).problem()
    assert why and "percent-encoded" in why and "@ as %40" in why and raw not in why
    with pytest.raises(DeliveryError) as exc:
        _send(url)
    assert exc.value.retry is False and not mail_plain.logins


@pytest.mark.parametrize("url", [
    "mailto://user:pass@gmail.com/to@example.com", "mailtos://u:p@smtp.example.com:587?to=a@b.c",
    "ntfy://user:pw@ntfy.example.com/topic", "json://127.0.0.1:8080/hook?token=abc@def",
    "tgram://123456:ABC-DEF/12345", "json://[::1]:8080/a@b", "mailto://bob:p%20ss@localhost:25",
    "matrix://bob:pw@matrix.example.com/#room/@alice:example.com"])
def test_urls_with_an_at_sign_where_one_belongs_are_read_as_they_are(url):
    why = channel_for(url).problem()
    assert not why or "percent-encoded" not in why


def test_a_password_beyond_ascii_is_said_so_and_not_tried_again(mail_plain):
    with pytest.raises(DeliveryError) as exc:
        _send(mail_plain.url(password=urllib.parse.quote("pässwort-geheim")))
    # Python's mail login takes ASCII only: said, instead of "did not accept the message".
    assert "beyond ASCII" in str(exc.value)
    assert exc.value.retry is False
    assert "pässwort" not in str(exc.value) and "geheim" not in str(exc.value)
    assert not mail_plain.messages


@pytest.mark.parametrize("url, hint", [("mailtp://bob@example.com", "did you mean 'mailto'?"),
                                       ("zzqx://example.com/x", "write e.g. mailtos://")])
def test_an_unknown_scheme_is_named_with_the_one_meant(url, hint):
    why = channel_for(url).problem()
    assert f"{url.split(':')[0]!r} is no kind of channel Apprise knows" in why
    assert hint in why


def test_a_certificate_not_trusted_is_said_with_what_to_do(mail_tls):
    with pytest.raises(DeliveryError) as exc:
        _send(mail_tls.url("mailtos", query="&mode=starttls"))
    said = str(exc.value)
    assert said.startswith("the server's TLS certificate is not trusted")
    assert "verify=no" in said and "secret-pw" not in said
    assert not mail_tls.messages
    # And the advice works: told not to verify, it goes.
    _send(mail_tls.url("mailtos", query="&mode=starttls&verify=no"))
    assert len(mail_tls.messages) == 1 and mail_tls.logins == [("bob", "secret-pw")]


def test_a_server_offering_no_login_without_tls_says_to_use_tls(mail_tls):
    with pytest.raises(DeliveryError) as exc:
        _send(mail_tls.url("mailto"))
    said = str(exc.value)
    assert said.startswith("the mail server offers no login on this connection")
    assert "mailtos://" in said and "check the user and password" not in said


def test_a_plugin_that_raises_half_way_says_why_not_just_that_it_failed():
    # HTTP's basic login carries Latin-1 only: the plugin raises on Apprise's thread
    # before it logs a word of its own; its error is still the one told.
    from alert_servers import HTTPRecorder
    http = HTTPRecorder().start()
    try:
        url = f"json://bob:{urllib.parse.quote('密码-geheim')}@127.0.0.1:{http.port}/hook"
        with pytest.raises(DeliveryError) as exc:
            _send(url)
    finally:
        http.stop()
    said = str(exc.value)
    assert said.startswith("the user or password holds letters beyond ASCII")
    assert "codec can't encode" in said and "geheim" not in said
    assert exc.value.retry is False


# Apprise leaves the mail connection open when the login raises: its warning is Apprise's.
@pytest.mark.filterwarnings("ignore::ResourceWarning",
                            "ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_mail_plugin_that_raises_before_it_logs_a_word_still_says_why(mail_plain):
    # The mail plugin's helper logs on Apprise's shared logger only, from Apprise's own
    # thread: the raise is still the error told (here the login's; the channel refuses
    # such a password before sending, so the check is stepped past).
    from trayjobs.alerts.channels.apprise_url import _library
    url = mail_plain.url(password=urllib.parse.quote("pässwort-geheim"))
    channel = channel_for(url)
    channel._plugin = _library().Apprise.instantiate(url)
    with pytest.raises(DeliveryError) as exc:
        channel.send(Message(title="t", body="b"), timeout=5)
    assert "codec can't encode" in str(exc.value) and "geheim" not in str(exc.value)


def test_a_report_whose_file_name_is_not_utf8_is_mailed_with_it(tmp_path):
    # Apprise quotes an attachment's path as UTF-8: it raised before sending, at every
    # try, and the report never went; the name quoted in the text failed likewise.
    import os
    from alert_servers import SMTPServer
    name = os.fsdecode(b"r\xe9port-\xff.pdf")
    path = tmp_path / name
    path.write_bytes(b"%PDF-1.4 the report")
    smtp = SMTPServer().start()
    try:
        channel_for(smtp.url()).send(Message(title=f"{name} ready", body=f"see {name}",
                                             attach=[str(path)]), timeout=5)
    finally:
        smtp.stop()
    (mail,) = smtp.messages
    (part,) = list(mail.iter_attachments())
    assert part.get_content() == b"%PDF-1.4 the report"
    assert part.get_filename() == "r\ufffdport-\ufffd.pdf"
    assert mail["subject"] == "r\ufffdport-\ufffd.pdf ready"
    assert list(tmp_path.iterdir()) == [path]  # the original stays, nothing else is left


@pytest.fixture
def webhook():
    """An HTTP server answering each POST with ``status`` (a redirect: back to itself)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def _any(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.server.hits += 1
            self.send_response(self.server.status)
            if self.server.status in (301, 302, 307, 308):
                self.send_header("Location", self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST = _any

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads, server.hits, server.status = True, 0, 200
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                     daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("status, said", [
    (307, "the server sends the message round in redirects (a loop)"),
    (404, "the server has no such address (404)"),
    (413, "the server refused the message as too large (413)")])
def test_a_webhook_answering_with_an_error_says_what_to_check(webhook, status, said):
    webhook.status = status
    with pytest.raises(DeliveryError) as exc:
        _send(f"json://127.0.0.1:{webhook.server_port}/hook?token=TOKEN9secret")
    assert str(exc.value).startswith(said), str(exc.value)
    assert "TOKEN9secret" not in str(exc.value)
    assert webhook.hits <= 31  # a loop is given up, not followed for ever


def test_a_heartbeat_slug_beyond_ascii_or_with_a_space_is_pinged_percent_encoded():
    # urllib refused it ("'ascii' codec can't encode", "URL can't contain control
    # characters") at every try, and the monitor reported the job down.
    from alert_servers import HTTPRecorder
    from trayjobs.alerts.channels.ping import ping
    http = HTTPRecorder().start()
    try:
        ping(f"{http.base}/ping/KEY9abcdef/büro backup", "start", timeout=5)
        ping(f"{http.base}/ping/KEY9abcdef/büro backup?rid=1", "success", timeout=5)
    finally:
        http.stop()
    assert http.paths() == ["/ping/KEY9abcdef/b%C3%BCro%20backup/start",
                            "/ping/KEY9abcdef/b%C3%BCro%20backup?rid=1"]


def _refusing_server() -> tuple[int, list[bytes], "object"]:
    """A mail server on loopback that refuses every login with 535, as one does a wrong
    password (aiosmtpd's own refusal leaves Python's login waiting for more)."""
    import socket
    import threading
    listener = socket.create_server(("127.0.0.1", 0))
    said: list[bytes] = []

    def serve() -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn, conn.makefile("rb") as lines:
            conn.sendall(b"220 mail.example.com ready\r\n")
            for line in lines:
                said.append(line)
                verb = line.strip().upper()
                if verb.startswith(b"EHLO"):
                    conn.sendall(b"250-mail.example.com\r\n250 AUTH PLAIN LOGIN\r\n")
                elif verb.startswith(b"AUTH"):
                    conn.sendall(b"535 5.7.8 Authentication credentials invalid\r\n")
                elif verb.startswith(b"QUIT"):
                    conn.sendall(b"221 bye\r\n")
                    return
                else:
                    conn.sendall(b"250 OK\r\n")
    threading.Thread(target=serve, daemon=True).start()
    return listener.getsockname()[1], said, listener


def test_a_login_the_mail_server_refuses_is_said_so_and_not_tried_again():
    # Tried a dozen times over the hours, a wrong password locks many mail accounts.
    port, said_to_server, listener = _refusing_server()
    try:
        with pytest.raises(DeliveryError) as exc:
            _send(f"mailto://bob:wrong-pw-1@localhost:{port}?to=me@example.com"
                  f"&from=trayjobs@example.com")
    finally:
        listener.close()
    said = str(exc.value)
    assert said.startswith("authentication failed") and "535" in said, said
    assert exc.value.retry is False and "wrong-pw-1" not in said
    assert not any(line.upper().startswith(b"DATA") for line in said_to_server)
