"""Real servers on loopback for the alert tests: an SMTP server (aiosmtpd) that keeps
every message it receives, and an HTTP server that keeps every request (webhooks and
heartbeat pings), can answer slowly or not at all, and can be stopped and started again on
its port."""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["SMTPServer", "HTTPRecorder", "free_port"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SMTPServer:
    """aiosmtpd on 127.0.0.1; ``messages`` are parsed ``email.message.EmailMessage``."""

    def __init__(self, port: int | None = None, *, data_size_limit: int = 33554432) -> None:
        from aiosmtpd.controller import Controller
        self.port = port or free_port()
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list = []
        #: The answer to each message's DATA: "554 5.7.1 Rejected" refuses them.
        self.answer = "250 OK"
        outer = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                if not outer.answer.startswith("2"):
                    return outer.answer
                outer.envelopes.append(envelope)
                outer.messages.append(email.message_from_bytes(
                    envelope.original_content or envelope.content, policy=email.policy.default))
                return outer.answer

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port,
                                     data_size_limit=data_size_limit)

    def start(self) -> "SMTPServer":
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def url(self, to: str = "me@example.com") -> str:
        return f"mailto://localhost:{self.port}?to={to}&from=trayjobs@example.com"


class HTTPRecorder:
    """Keeps (method, path, body as JSON or text) of every request; answers 200 after
    ``delay`` seconds, or ``status``; with ``silent``, takes the request and never answers
    (until stopped)."""

    def __init__(self, port: int | None = None, *, tls=None) -> None:
        self.port = port or free_port()
        #: A server TLS context (see :func:`self_signed`): the server speaks HTTPS.
        self.tls = tls
        self.requests: list[tuple[str, str, object]] = []
        #: (time.time(), path) of each request as it arrives, before any ``delay``.
        self.arrivals: list[tuple[float, str]] = []
        #: The headers of each request, in the order they came.
        self.headers: list[dict[str, str]] = []
        self.delay = 0.0
        self.status = 200
        self.silent = False
        #: Closes the connection without an answer ("before"), or half-way through it.
        self.cut: str | None = None
        #: path -> (status, Location): answered with that redirect instead.
        self.redirects: dict[str, tuple[int, str]] = {}
        self._stopped = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._lock = threading.Lock()

    def start(self) -> "HTTPRecorder":
        outer = self
        self._stopped.clear()

        class Handler(BaseHTTPRequestHandler):
            def _any(self):
                with outer._lock:
                    outer.arrivals.append((time.time(), self.path))
                    outer.headers.append(dict(self.headers))
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                if outer.silent:  # a server that took the request and hangs
                    outer._stopped.wait()
                    return
                if outer.delay:
                    time.sleep(outer.delay)  # a slow server, on purpose
                with outer._lock:
                    outer.requests.append((self.command, self.path, body))
                if outer.cut:
                    if outer.cut != "before":
                        self.send_response(200)
                        self.send_header("Content-Length", "100")
                        self.end_headers()
                        self.wfile.write(b"par")
                        self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                if self.path in outer.redirects:
                    status, location = outer.redirects[self.path]
                    self.send_response(status)
                    self.send_header("Location", location)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(outer.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"OK")

            do_GET = do_POST = _any

            def log_message(self, *args):
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        if self.tls is not None:
            self._server.socket = self.tls.wrap_socket(self._server.socket, server_side=True)
        # shutdown() waits for the loop's next look at its flag: every 50 ms, not the
        # default 0.5 s that each test's teardown would wait out.
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopped.set()  # a silent server's requests end, unanswered
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def paths(self) -> list[str]:
        with self._lock:
            return [p for _, p, _ in self.requests]

    def bodies(self, path: str) -> list[object]:
        with self._lock:
            return [b for _, p, b in self.requests if p == path]

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def self_signed(folder) -> "ssl.SSLContext":
    """A server's TLS context with a certificate for localhost that no one trusts (made
    with ``openssl`` in ``folder``)."""
    import os
    import ssl
    import subprocess
    key, cert = os.path.join(folder, "key.pem"), os.path.join(folder, "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    key, "-out", cert, "-days", "2", "-subj", "/CN=localhost"],
                   check=True, capture_output=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    context.cert_file = cert  # for a client told to trust it
    return context


class TLSSMTPServer:
    """aiosmtpd over TLS with a login (``user``/``password``): ``implicit`` speaks TLS from
    the first byte (port 465's way), else it asks for STARTTLS before it takes mail or a
    login (port 587's way). ``messages`` as :class:`SMTPServer`'s."""

    def __init__(self, context, *, implicit: bool = False, user: str = "bob",
                 password: str = "s3cret") -> None:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword
        self.port = free_port()
        self.messages: list[email.message.EmailMessage] = []
        outer = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                outer.messages.append(email.message_from_bytes(
                    envelope.original_content or envelope.content, policy=email.policy.default))
                return "250 OK"

        def login(server, session, envelope, mechanism, data):
            return AuthResult(handled=False, success=isinstance(data, LoginPassword)
                              and data.login == user.encode()
                              and data.password == password.encode())

        tls = {"ssl_context": context} if implicit else {"tls_context": context,
                                                         "require_starttls": True}
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port,
                                     authenticator=login, auth_require_tls=not implicit,
                                     **tls)

    def start(self) -> "TLSSMTPServer":
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()


class Trickler:
    """Takes each connection, reads what comes for a moment, then answers ``answer`` one
    byte every ``gap`` seconds and never ends (an HTTP status line and a header that never
    ends, or an SMTP greeting that never ends): each read gets a byte within any socket
    timeout. ``open`` counts the connections it still serves."""

    def __init__(self, answer: bytes = b"HTTP/1.1 200 OK\r\nX-Slow: ", gap: float = 0.3) -> None:
        self.answer = answer
        self.gap = gap
        self.connections = 0
        self.open = 0
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self._stopped = threading.Event()
        self._lock = threading.Lock()

    def start(self) -> "Trickler":
        self._sock.listen(16)
        self._sock.settimeout(0.05)
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            with self._lock:
                self.connections += 1
                self.open += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(0.2)
        try:
            if not self.answer.startswith(b"220"):  # HTTP: the request first
                try:
                    while conn.recv(65536):
                        pass
                except socket.timeout:
                    pass
            data = self.answer + b"a" * 10_000_000
            for i in range(len(data)):
                if self._stopped.is_set():
                    break
                conn.send(data[i:i + 1])
                try:  # a client that hangs up reads as b"" here
                    if conn.recv(65536) == b"":
                        break
                except socket.timeout:
                    pass
                time.sleep(self.gap)
        except OSError:
            pass
        finally:
            conn.close()
            with self._lock:
                self.open -= 1

    def stop(self) -> None:
        self._stopped.set()
        self._sock.close()
