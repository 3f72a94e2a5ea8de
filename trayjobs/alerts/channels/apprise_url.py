"""Any Apprise URL (mail, ntfy, webhooks, Slack, Matrix, Telegram, Gotify, ...).

Apprise reports a failure in its log rather than by exception: the log of each send is
captured (the records of the sending thread only, so that channels on threads of their
own send at once, a dead server's timeout holding up no other) and its warnings and
socket errors become the :class:`DeliveryError`'s text, with the usual causes named in
plain words.
"""

from __future__ import annotations

import io
import logging
import os
import re
import tempfile
import threading
from contextlib import contextmanager

from . import Channel, DeliveryError, Message, answer_may_change, register, within
from .redact import redact
from .urlshape import GARBLED, bad_port, garbled

__all__ = ["AppriseChannel"]

_lock = threading.Lock()

#: Causes found in a library's words, said plainly first, with what to look at.
_CAUSES = [
    (re.compile(r"Temporary failure in name resolution", re.I),
     "the server's name could not be looked up (is this machine online?)"),
    (re.compile(r"Name or service not known|nodename nor servname|getaddrinfo failed|"
                r"Failed to resolve|No address associated", re.I),
     "host not found (check the server's name in the channel's URL, and the network)"),
    (_NO_TARGETS := re.compile(r"There (?:are|is) no (?:valid )?[\w .-]{0,40}?(?:targets?|"
                               r"recipients|topics|channels|IDs|call signs)\b", re.I),
     "the channel's URL names no one to send to (no topic, recipient, channel or chat): "
     "add it to the URL, as the Apprise wiki shows for the service; not tried again"),
    (re.compile(r"Connection refused", re.I), "connection refused (is the server up?)"),
    (re.compile(r"Remote end closed connection without response|IncompleteRead|"
                r"Connection (?:reset|aborted)|Connection broken", re.I),
     "the server closed the connection before it answered in full (a proxy or the "
     "server restarting, or a crash on its side): tried again later, so the message may "
     "arrive twice if the server took it"),
    # A mail server that waits for TLS's first words while the client waits for its
    # greeting (port 465 written as mailto://): both wait until the timeout.
    (re.compile(r"Connection unexpectedly closed: (?:The read operation )?timed out", re.I),
     "the mail server took the connection but never greeted or answered in time (one "
     "that speaks TLS from the first byte, usually on port 465, wants mailtos:// with "
     "?mode=ssl; else check the server and the network)"),
    (re.compile(r"timed out|Timeout", re.I),
     "timed out (check the server's name and port in the URL, and the network)"),
    (_MOVED := re.compile(r"the message's redirect \(30[12]\)"),
     "the server redirects the message to another address (see where at the end) in a "
     "way that would send it on without the message: put that address in the channel's "
     "URL (mind http against https: json:// against jsons://); not tried again"),
    (re.compile(r"Exceeded \d+ redirects", re.I),
     "the server sends the message round in redirects (a loop): check the URL's scheme "
     "(http or https), its host and its path, down to a trailing /"),
    # The answers of an HTTP service (a webhook, ntfy, Gotify, chat...): Apprise's plugins
    # log the status as "error=404". Those of 4xx but 408, 425 and 429 are not tried again.
    (re.compile(r"error=400\b"),
     "the server refused the message as malformed (400): check the channel's URL (its "
     "path, and the query's options) against what the service expects; not tried again"),
    (re.compile(r"error=40[13]\b"),
     "the server refused the login (401/403): check the user and password, token or key "
     "in the URL or its secret, and that it may post there; not tried again"),
    (re.compile(r"error=404\b"),
     "the server has no such address (404): check the path in the channel's URL; not "
     "tried again"),
    (re.compile(r"error=405\b"),
     "the server takes no message at this address that way (405): check the path in the "
     "channel's URL (and its ?method=, if any); not tried again"),
    (re.compile(r"error=410\b"),
     "the address is gone for good (410): the webhook was deleted or expired; make a new "
     "one and put it in the channel's URL; not tried again"),
    (re.compile(r"error=413\b"),
     "the server refused the message as too large (413): lower the channel's "
     "max_attachment, or raise the server's limit; not tried again"),
    (re.compile(r"error=422\b"),
     "the server could not use the message (422): check the channel's URL and its "
     "options against what the service expects; not tried again"),
    (re.compile(r"error=(408|425|429)\b"),
     "the server is busy or asks to wait (408, 425, 429): tried again later"),
    (re.compile(r"error=4\d\d\b"),
     "the server refused the message: check the channel's URL (see the status at the end); "
     "not tried again"),
    (re.compile(r"error=5\d\d\b"),
     "the server failed on its side (5xx): tried again later"),
    (re.compile(r"CERTIFICATE_VERIFY_FAILED|certificate verify failed", re.I),
     "the server's TLS certificate is not trusted (self-signed, expired, or for another "
     "name): give the server a certificate this computer trusts, or, on a network you "
     "trust, add verify=no to the URL's query"),
    # Before "TLS failed": the server's "530 Must issue a STARTTLS command first" says
    # the opposite, that the URL spoke plain text to a server wanting TLS.
    (_WANTS_TLS := re.compile(r"\(530, b'[^']*STARTTLS|Must issue a STARTTLS", re.I),
     "the mail server takes mail only over TLS (it asks for STARTTLS first): use "
     "mailtos:// with ?mode=starttls (usually port 587); not tried again"),
    (_NO_TLS_THERE := re.compile(r"WRONG_VERSION_NUMBER|wrong version number", re.I),
     "TLS failed (check the URL's scheme and port: the server does not speak TLS from the "
     "first byte there: a mail server on port 587 wants ?mode=starttls, one on 465 "
     "?mode=ssl); not tried again"),
    (re.compile(r"SSL|TLS|certificate", re.I),
     "TLS failed (check the URL's scheme and port: the server may not speak TLS there)"),
    (_REFUSED := re.compile(r"': \(55[0-3], b'", re.I),
     "the mail server refused the recipient (check the address in the URL's ?to=; it is "
     "not tried again)"),
    (_NOT_ASCII := re.compile(r"'(ascii|latin-1)' codec can't encode", re.I),
     "the user or password holds letters beyond ASCII, which the service's login (a mail "
     "server's, HTTP's) cannot take: give this account a password of ASCII characters "
     "(or an app password or token)"),
    (_NO_LOGIN := re.compile(r"AUTH extension not supported", re.I),
     "the mail server offers no login on this connection (many offer it only over TLS): "
     "use mailtos:// (add ?mode=starttls on port 587), or leave the user and password "
     "out of the URL; not tried again"),
    (re.compile(r"auth|535|Username and Password not accepted|401|403", re.I),
     "authentication failed (check the user and password or token in the URL or its secret)"),
    # A mail server's other answers, its words at the end: a 5xx is its final word on
    # the message (RFC 5321), a 4xx is for a while.
    (re.compile(r"\((552), b'"),
     "the mail server refused the message as too large ({0}): lower the channel's "
     "max_attachment (files beyond it are left out, and the message says which), or "
     "raise the server's limit; not tried again"),
    (_SMTP_FINAL := re.compile(r"\((5\d\d), b'"),
     "the mail server refused the message ({0}, its reason at the end); not tried again"),
    (re.compile(r"\((4\d\d), b'"),
     "the mail server put the message off ({0}, its reason at the end): tried again later"),
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
    _refuse_redirects_that_drop_the_message()
    return apprise


_REDIRECTED = "the message's redirect"


def _refuse_redirects_that_drop_the_message() -> None:
    """Make a redirect that moves a webhook's address and that HTTP clients follow with a
    GET an error naming where it points: a 301, or a 302 to the same path elsewhere (http
    to https): followed, the message was dropped on the way, and the server there
    answered 200 to a request holding none of it, which was taken for a message
    delivered. A 303, or a 302 to another path, is the server's "taken, see there" (a
    script's web app answers so) and is followed; 307 and 308 keep the message. Only
    Apprise's requests are touched (by their User-Agent)."""
    import requests
    if getattr(requests.Session.rebuild_method, "trayjobs", False):
        return
    original = requests.Session.rebuild_method

    def rebuild_method(self, prepared, response):
        method = prepared.method
        original(self, prepared, response)
        agent = str(prepared.headers.get("User-Agent") or "")
        if prepared.method != method and agent.startswith("Apprise"):
            from urllib.parse import urljoin, urlsplit
            where = urljoin(response.url, response.headers.get("Location") or "")
            moved = response.status_code == 301 or (
                response.status_code == 302
                and urlsplit(where)[2:4] == urlsplit(response.url)[2:4])
            if not moved:
                return
            raise requests.exceptions.RequestException(
                f"{_REDIRECTED} ({response.status_code}) to {where}")
    rebuild_method.trayjobs = True
    requests.Session.rebuild_method = rebuild_method


@register
class AppriseChannel(Channel):
    schemes = ()  # the fallback: every URL the other channels do not claim

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self._plugin = None

    def _load(self):
        if self._plugin is None:
            if garbled(self.url):  # refused before Apprise sends a password astray
                raise DeliveryError(f"not a notification URL as written: {GARBLED}",
                                    retry=False)
            port = bad_port(self.url)
            if port is not None:
                raise DeliveryError(f"the channel's URL names the port {port!r}, which is "
                                    f"none: a port is a number from 1 to 65535", retry=False)
            apprise = _library()
            with _capture(logging.WARNING, "%(message)s") as out:
                plugin = apprise.Apprise.instantiate(self.url)
            if plugin is None:
                said = redact(" ".join(out.getvalue().split()), self.url)
                raise DeliveryError("not a notification URL Apprise can use"
                                    + (f" ({said})" if said else "")
                                    + "; " + (_unknown_scheme(self.url) or "see the "
                                              "Apprise wiki for the URL of your service"),
                                    retry=False)
            login = "".join(getattr(plugin, key, None) or "" for key in ("user", "password"))
            if self.url.lower().startswith(("mailto:", "mailtos:")) and not login.isascii():
                # Python's mail login (AUTH PLAIN, LOGIN) takes ASCII only; tried, it
                # fails half-way and leaves the connection open.
                raise DeliveryError(_cause(_NOT_ASCII), retry=False)
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

    def longest(self, timeout: float) -> float:
        return sum(_waits(self.url, timeout))

    def send(self, message: Message, *, timeout: float = 30.0) -> None:
        within(self.longest(timeout), self._send, message, timeout)

    def _send(self, message: Message, timeout: float) -> None:
        apprise = _library()
        plugin = self._load()
        box = apprise.Apprise()
        box.add(plugin)
        html = message.html is not None and self.shows_html
        kind = apprise.NotifyType.FAILURE if message.failure else apprise.NotifyType.INFO
        _limit_wait(plugin, self.url, timeout)
        with tempfile.TemporaryDirectory(prefix="trayjobs-attach-") as tmp:
            attach = None
            if message.attach and self.carries_files:
                attach = apprise.AppriseAttachment()
                for n, path in enumerate(message.attach):
                    attach.add(_utf8_path(path, os.path.join(tmp, str(n))))
            with _own_log(plugin) as out:
                ok = box.notify(body=message.html if html else message.body,
                                title=message.title, notify_type=kind, attach=attach,
                                body_format=apprise.NotifyFormat.HTML if html
                                else apprise.NotifyFormat.TEXT)
        if not ok:
            said = redact(out.getvalue(), self.url)
            # A recipient refused for good (550-553), a message the mail server refused
            # with any 5xx (too large, taken for spam), or a password the login cannot
            # carry, is refused again at every try; a login refused for good (535) is not
            # tried again either: a dozen wrong logins lock many mail accounts.
            # So is an HTTP service's refusal that no retry changes (a 404, a 401), and a
            # URL speaking plain text to a mail server that wants TLS, or the other way
            # round: only the URL, fixed, changes that (and is tried at once).
            reason = _reason(said)
            raise DeliveryError(reason, retry=not (_REFUSED.search(said)
                                                   or _NO_TARGETS.search(said)
                                                   or _NOT_ASCII.search(said)
                                                   or _LOGIN_REFUSED.search(said)
                                                   or _WANTS_TLS.search(said)
                                                   or _NO_TLS_THERE.search(said)
                                                   or _NO_LOGIN.search(said)
                                                   or _MOVED.search(said)
                                                   or _SMTP_FINAL.search(said)
                                                   or _refused_for_good(reason)))


def _waits(url: str, timeout: float) -> tuple[float, float]:
    """The seconds a send waits to connect and to be answered: ``timeout``, or the
    ``cto`` and ``rto`` written in the URL's query (the person's own choice)."""
    from urllib.parse import parse_qs
    given = {k.lower(): v[-1] for k, v in parse_qs(
        url.partition("?")[2].partition("#")[0], keep_blank_values=True).items()}

    def wait(key: str) -> float:
        try:
            return max(0.0, float(given[key]))
        except (KeyError, ValueError):
            return float(timeout)
    return wait("cto"), wait("rto")


def _limit_wait(plugin, url: str, timeout: float) -> None:
    """Make the plugin wait at most ``timeout`` seconds for its server to connect and at
    each read (Apprise's own waits are 4 seconds, a mail server's 15, whatever the send's
    timeout): a server that takes the connection and never answers ends the send at the
    timeout, and one slow to answer is waited for as long as the send allows rather than
    given up on (and sent again) while it still takes the message. A ``cto`` or ``rto``
    written in the URL's query is the person's own choice and stays."""
    from urllib.parse import parse_qs
    given = {k.lower() for k in parse_qs(url.partition("?")[2].partition("#")[0],
                                         keep_blank_values=True)}
    if "cto" not in given:
        plugin.socket_connect_timeout = float(timeout)
    if "rto" not in given:
        plugin.socket_read_timeout = float(timeout)


def _unknown_scheme(url: str) -> str | None:
    """A scheme Apprise does not know, said with the one meant where a typo is likely."""
    scheme = url.partition("://")[0]
    from apprise.manager_plugins import NotificationManager
    known = set(NotificationManager().schemas())
    if scheme.lower() in known:
        return None
    import difflib
    close = difflib.get_close_matches(scheme.lower(), sorted(known), n=1)
    return (f"{scheme!r} is no kind of channel Apprise knows"
            + (f"; did you mean {close[0]!r}?" if close else
               "; write e.g. mailtos://, ntfy://, json:// or slack://"))


def _utf8_path(path: str, folder: str) -> str:
    """``path``, or a copy of the file in ``folder`` under its name made UTF-8 when its
    own is not: Apprise quotes an attachment's path as UTF-8, and failed on such a name
    before sending anything."""
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        import shutil
        name = os.path.basename(path).encode("utf-8", "surrogateescape")
        os.makedirs(folder, exist_ok=True)
        copy = os.path.join(folder, name.decode("utf-8", "replace"))
        shutil.copyfile(path, copy)  # within the channel's max_attachment: small enough
        return copy


class _Kept(logging.Handler):
    """Keeps the records it is handed, in order."""

    def __init__(self, records: list) -> None:
        super().__init__()
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def _own_log(plugin):
    """The log of this plugin's send, in a buffer, without holding up any other send.

    Apprise sends on the threads of its pool, so the records cannot be picked by the
    sending thread, and capturing its shared logger for the whole send (as its
    ``LogCapture`` does, under a lock) held every other channel until this one's server
    answered or timed out. So the plugin gets a logger of its own for the send, whose
    records say which threads served it; of the shared logger's records (its helpers'),
    those of these threads are kept, once the send is over."""
    shared = logging.getLogger("apprise")
    own = logging.getLogger(f"trayjobs.apprise.{id(plugin)}")
    own.setLevel(logging.DEBUG)
    own.propagate = False
    records: list[logging.LogRecord] = []
    mine, theirs = _Kept(records), _Kept(records)
    own.addHandler(mine)
    plugin.logger = own
    # The threads that ran this plugin's send: a plugin that fails before it logs a word
    # of its own (a mail login that raises) is told of only on the shared logger.
    served: set[int] = set()
    notify = plugin.notify

    def serving(*args, **kwargs):
        served.add(threading.get_ident())
        return notify(*args, **kwargs)
    plugin.notify = serving
    out = io.StringIO()
    _hold_shared(shared, theirs, +1)
    try:
        yield out
    finally:
        _hold_shared(shared, theirs, -1)
        own.removeHandler(mine)
        del plugin.logger  # back to Apprise's own
        del plugin.notify
        logging.Logger.manager.loggerDict.pop(own.name, None)  # one per send: not kept
        threads = ({threading.get_ident()} | served
                   | {r.thread for r in records if r.name == own.name})
        fmt = logging.Formatter("%(levelname)s %(message)s")
        out.write("".join(fmt.format(r) + "\n" for r in records if r.thread in threads))


def _hold_shared(logger: logging.Logger, handler: logging.Handler, step: int) -> None:
    """Add (``+1``) or remove (``-1``) a capture of Apprise's shared logger: at debug level
    and kept out of the app's own log while any capture is on."""
    global _captures
    with _lock:
        if step > 0:
            if _captures == 0:
                _hold_shared.saved = (logger.level, logger.propagate)
                logger.setLevel(logging.DEBUG)
                logger.propagate = False
            _captures += 1
            logger.addHandler(handler)
        else:
            logger.removeHandler(handler)
            _captures -= 1
            if _captures == 0:
                logger.setLevel(_hold_shared.saved[0])
                logger.propagate = _hold_shared.saved[1]


_captures = 0  # captures of the shared logger under way, on any thread (under _lock)


@contextmanager
def _capture(level: int, fmt: str):
    """This thread's records of Apprise's shared log while the block runs (reading a
    URL, which sends nothing), in a buffer."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter(fmt))
    me = threading.get_ident()
    handler.addFilter(lambda record: record.thread == me)
    shared = logging.getLogger("apprise")
    _hold_shared(shared, handler, +1)
    try:
        yield out
    finally:
        _hold_shared(shared, handler, -1)


#: The mail server's "535 5.7.8": the user or password is wrong (a 454 is for a while).
_LOGIN_REFUSED = re.compile(r"\(535, b'")


#: An HTTP service's status, as Apprise's plugins log it.
_STATUS = re.compile(r"\berror=(\d{3})\b")


def _refused_for_good(said: str) -> bool:
    """An HTTP service answered with an error that a later try meets again (every one of
    its answers, where the URL has several targets: one that failed for a while is tried
    again)."""
    codes = _STATUS.findall(said)
    return bool(codes) and not any(answer_may_change(int(code)) for code in codes)


def _cause(pattern) -> str:
    return next(cause for p, cause in _CAUSES if p is pattern)


def _reason(log: str) -> str:
    said = []
    for line in log.splitlines():
        level, _, text = line.partition(" ")
        if level in ("WARNING", "ERROR") or (level == "DEBUG" and "Exception" in text):
            said.append(text.strip())
    text = " · ".join(dict.fromkeys(said)) or "the service did not accept the message"
    for pattern, cause in _CAUSES:
        found = pattern.search(text)
        if found:
            return f"{cause.format(*found.groups())}: {text}"[:1000]
    return text[:1000]
