"""Any Apprise URL (mail, ntfy, webhooks, Slack, Matrix, Telegram, Gotify, ...).

Apprise reports a failure in its log rather than by exception: the log of each send is
captured (under a lock: the capture is process-wide) and its warnings and socket errors
become the :class:`DeliveryError`'s text, with the usual causes named in plain words.
"""

from __future__ import annotations

import logging
import re
import threading
from contextlib import contextmanager

from . import Channel, DeliveryError, Message, register
from .redact import redact

__all__ = ["AppriseChannel"]

_lock = threading.Lock()

#: Causes found in a library's words, said plainly first, with what to look at.
_CAUSES = [
    (re.compile(r"Temporary failure in name resolution", re.I),
     "the server's name could not be looked up (is this machine online?)"),
    (re.compile(r"Name or service not known|nodename nor servname|getaddrinfo failed|"
                r"Failed to resolve|No address associated", re.I),
     "host not found (check the server's name in the channel's URL, and the network)"),
    (re.compile(r"Connection refused", re.I), "connection refused (is the server up?)"),
    (re.compile(r"timed out|Timeout", re.I),
     "timed out (check the server's name and port in the URL, and the network)"),
    (re.compile(r"SSL|TLS|certificate", re.I),
     "TLS failed (check the URL's scheme and port: the server may not speak TLS there)"),
    (_REFUSED := re.compile(r"': \(55[0-3], b'", re.I),
     "the mail server refused the recipient (check the address in the URL's ?to=; it is "
     "not tried again)"),
    (re.compile(r"auth|535|Username and Password not accepted|401|403", re.I),
     "authentication failed (check the user and password or token in the URL or its secret)"),
]


def _library():
    """Apprise, imported on first use (it takes a third of a second)."""
    import warnings
    with warnings.catch_warnings():
        # Apprise's mail plugin imports the stdlib's imghdr (deprecated since Python 3.11)
        # when it first loads: imported here once, quietly; the warning is for Apprise's
        # authors, not for the person running jobs.
        warnings.filterwarnings("ignore", category=DeprecationWarning, message=".*imghdr")
        try:
            import imghdr  # noqa: F401
        except ImportError:  # gone from Python 3.13: Apprise brings its own
            pass
        import apprise
    return apprise


@register
class AppriseChannel(Channel):
    schemes = ()  # the fallback: every URL the other channels do not claim

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self._plugin = None

    def _load(self):
        if self._plugin is None:
            apprise = _library()
            with _lock, _quiet_log(), apprise.LogCapture(level=logging.WARNING,
                                                          fmt="%(message)s") as out:
                plugin = apprise.Apprise.instantiate(self.url)
            if plugin is None:
                said = redact(" ".join(out.getvalue().split()), self.url)
                raise DeliveryError("not a notification URL Apprise can use"
                                    + (f" ({said})" if said else "")
                                    + "; see the Apprise wiki for the URL of your service",
                                    retry=False)
            self._plugin = plugin
        return self._plugin

    def problem(self) -> str | None:
        try:
            self._load()
        except DeliveryError as exc:
            return str(exc)
        return None

    @property
    def shows_html(self) -> bool:
        """The service's own format is HTML (mail): it gets the HTML body."""
        formats = self._load().notify_format
        first = formats[0] if isinstance(formats, (tuple, list)) else formats
        return first == _library().NotifyFormat.HTML

    @property
    def carries_files(self) -> bool:
        return bool(getattr(self._load(), "attachment_support", False))

    def send(self, message: Message, *, timeout: float = 30.0) -> None:
        apprise = _library()
        plugin = self._load()
        box = apprise.Apprise()
        box.add(plugin)
        html = message.html is not None and self.shows_html
        attach = None
        if message.attach and self.carries_files:
            attach = apprise.AppriseAttachment()
            for path in message.attach:
                attach.add(path)
        kind = apprise.NotifyType.FAILURE if message.failure else apprise.NotifyType.INFO
        with _lock, _quiet_log(), apprise.LogCapture(level=logging.DEBUG,
                                                      fmt="%(levelname)s %(message)s") as out:
            ok = box.notify(body=message.html if html else message.body, title=message.title,
                            notify_type=kind, attach=attach,
                            body_format=apprise.NotifyFormat.HTML if html
                            else apprise.NotifyFormat.TEXT)
        if not ok:
            said = redact(out.getvalue(), self.url)
            # A recipient refused for good (550-553) is refused again at every try.
            raise DeliveryError(_reason(said), retry=not _REFUSED.search(said))


@contextmanager
def _quiet_log():
    """Apprise's log, captured at debug level for the error's details, stays out of the
    app's and the worker's own log: what matters of it is in the outbox."""
    logger = logging.getLogger("apprise")
    before = logger.propagate
    logger.propagate = False
    try:
        yield
    finally:
        logger.propagate = before


def _reason(log: str) -> str:
    said = []
    for line in log.splitlines():
        level, _, text = line.partition(" ")
        if level in ("WARNING", "ERROR") or (level == "DEBUG" and "Exception" in text):
            said.append(text.strip())
    text = " · ".join(dict.fromkeys(said)) or "the service did not accept the message"
    for pattern, cause in _CAUSES:
        if pattern.search(text):
            return f"{cause}: {text}"[:1000]
    return text[:1000]
