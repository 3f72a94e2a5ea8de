"""How a message reaches a channel: small classes behind a registry, chosen by URL.

A channel class says what it can carry with flags (``html``, ``attachments``) and
raises :class:`DeliveryError` with the exact reason when a message does not go. The
:mod:`.apprise_url` channel takes any URL no other channel claims.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar

__all__ = ["Channel", "Message", "DeliveryError", "register", "channel_for", "CHANNELS",
           "answer_may_change", "within"]


class DeliveryError(Exception):
    """A message did not reach its channel; ``str()`` says why, in the channel's words.
    ``retry``: a later try may work (network down); False: it never will (bad URL)."""

    def __init__(self, message: str, *, retry: bool = True) -> None:
        super().__init__(message)
        self.retry = retry


#: The HTTP errors of a client (4xx) that a later try may not meet: the request took too
#: long (408), came too early (425), or too many came (429).
_FOR_A_WHILE = (408, 425, 429)


def answer_may_change(status: int) -> bool:
    """Whether an HTTP server's error ``status`` may be gone at a later try: a server's
    own (5xx) or one of :data:`_FOR_A_WHILE`. Any other refusal of the request (400 bad,
    401 or 403 not allowed, 404 no such address, 410 gone, 413 too large, 422 unusable, a
    redirect not followed) comes back at every try: tried a dozen times over the hours, it
    tells nothing new, and wrong logins lock accounts."""
    return status >= 500 or status in _FOR_A_WHILE


def within(limit: float, send, *args, **kwargs):
    """``send(*args, **kwargs)``, given up on once it has taken ``limit`` seconds (its
    wait to connect and its wait to be answered): a socket's timeout bounds each read,
    so a server that answers a byte at a time, or never ends its answer, held the send
    for ever: a channel's later messages, and a foreground ``trayjobs run`` at its end, waited on it;
    and a sender held its lane past its hold, so another process sent the message again.
    Given up on, the connections the send made (on its thread or on those of Apprise's
    pool) are shut, which ends it: the thread does not live on, nor hold the process
    open at its exit; and it makes no new one (a retry of its own would send the message
    while the sender tries it again)."""
    import contextvars
    _watch_connections()
    done = threading.Event()
    outcome: dict = {}
    made: list = []  # (descriptor, peer) of each connection; None last once given up

    def work() -> None:
        try:
            _CONNECTIONS.set(made)
            outcome["value"] = send(*args, **kwargs)
        except BaseException as exc:  # handed to the caller, as the send raised it
            outcome["error"] = exc
        finally:
            done.set()

    context = contextvars.Context()  # its own: what the send sets stays in it
    threading.Thread(target=context.run, args=(work,), name="trayjobs-send",
                     daemon=True).start()
    if not done.wait(limit):
        made.append(None)
        _shut(made[:-1])
        raise DeliveryError(f"timed out: the server took the connection but had not "
                            f"answered in full after {limit:g} s (one that answers a byte "
                            f"at a time, or never ends its answer): tried again later, so "
                            f"the message may arrive twice if the server took it")
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


#: The connections made by a send under :func:`within`: (file descriptor, peer), and
#: None once it was given up on.
_CONNECTIONS = None
_WATCHING = threading.Lock()


def _watch_connections() -> None:
    """Have every connect under :func:`within` noted in its send's list (a context
    variable, which Apprise hands on to the threads of its pool)."""
    global _CONNECTIONS
    import contextvars
    import socket
    with _WATCHING:  # two channels' first sends at once: patched once
        if _CONNECTIONS is not None:
            return
        made_by = contextvars.ContextVar("trayjobs_connections", default=None)
        original = socket.socket.connect

        def connect(self, address):
            made = made_by.get()
            if made is not None:
                if made and made[-1] is None:
                    raise OSError("the send was given up on: it makes no new connection")
                made.append((self.fileno(), address))
            return original(self, address)
        socket.socket.connect = connect
        _CONNECTIONS = made_by


def _shut(made: list) -> None:
    """Shut the connections of a send given up on, found by their descriptor (TLS takes
    it over into a socket of its own) and only while it still leads to the same server."""
    import socket
    for fd, address in made:
        try:
            sock = socket.socket(fileno=fd)
        except OSError:
            continue  # closed already
        try:
            if sock.getpeername()[:2] == tuple(address)[:2]:
                sock.shutdown(socket.SHUT_RDWR)
        except (OSError, TypeError):
            pass
        finally:
            sock.detach()


@dataclass
class Message:
    title: str
    body: str
    html: str | None = None          # the body as HTML, where the channel shows it
    attach: list[str] = field(default_factory=list)  # files
    failure: bool = False            # shown as an error where the channel can

    def __post_init__(self) -> None:
        # Every channel is handed a Message: the one place its text is made plain.
        from ...textfmt import plain
        self.title = plain(_unescaped(self.title), one_line=True)
        self.body = plain(_unescaped(self.body))
        if self.html is not None:
            self.html = plain(_unescaped(self.html))


def _unescaped(text: str) -> str:
    """``text`` with the bytes of a file name that is not UTF-8 (kept by Python as lone
    surrogates) shown as U+FFFD: no channel can encode a surrogate, and a mail quoting
    such a name failed at every try."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


class Channel(ABC):
    #: URL schemes this class delivers to (lower case, no "://"); empty: any (the fallback).
    schemes: ClassVar[tuple[str, ...]] = ()
    #: Shows an HTML body (else it gets the text).
    html: ClassVar[bool] = False
    #: Carries attached files.
    attachments: ClassVar[bool] = False

    def __init__(self, url: str) -> None:
        self.url = url

    def problem(self) -> str | None:
        """Why this URL cannot work, found without sending; None when it looks right."""
        return None

    def longest(self, timeout: float) -> float:
        """How long a send given ``timeout`` takes at most (seconds): to connect, and to
        be answered."""
        return 2 * timeout

    @abstractmethod
    def send(self, message: Message, *, timeout: float = 30.0) -> None:
        """Deliver ``message``; :class:`DeliveryError` says why it could not."""


CHANNELS: list[type[Channel]] = []


def register(cls: type[Channel]) -> type[Channel]:
    CHANNELS.append(cls)
    return cls


def channel_for(url: str) -> Channel:
    from . import apprise_url, desktop  # noqa: F401  (they register themselves)
    scheme = url.split("://", 1)[0].lower()
    for cls in CHANNELS:
        if scheme in cls.schemes:
            return cls(url)
    return apprise_url.AppriseChannel(url)
