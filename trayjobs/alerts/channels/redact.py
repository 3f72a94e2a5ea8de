"""Keeping a channel's secrets out of its errors.

A delivery error is kept in the outbox and shown by ``trayjobs alerts log``, ``trayjobs
check``, the run's details and the status bar; the library's words often quote the URL it
called, and many services keep their token in the URL's path or query rather than in its
password (``discord://ID/TOKEN``, ``json://host/hook?token=...``, a heartbeat's UUID). So
every part of the URL that may be a secret is blanked out of the text: its user and
password, each path segment, each query value, and a host that is no host name (Telegram's
bot token). The server's name stays: it is what a "host not found" is about.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

__all__ = ["secrets_of", "redact"]

#: Parts shorter than this stay (a "/hook" path, a "?format=json"): blanking them would
#: blank common words of the error too, and they guard nothing.
MIN_LEN = 6
HIDDEN = "…"
#: A server's name or a mail address: named in errors on purpose.
_NAME = re.compile(r"^([\w.+-]+@)?([\w-]+\.)+[a-z]{2,12}$|^localhost$|^[\d.]+$", re.I)


def secrets_of(url: str) -> list[str]:
    """The parts of ``url`` that may be secret, longest first."""
    _, _, rest = url.partition("://")
    rest, _, query = rest.partition("?")
    query = query.partition("#")[0]
    netloc, _, path = rest.partition("/")
    found: list[str] = []
    userinfo, at, host = netloc.rpartition("@")
    if at:
        found += userinfo.split(":", 1)
    name, colon, port = host.rpartition(":")
    hostname = name if colon and port.isdigit() else host
    if not _NAME.match(hostname):
        found.append(hostname)  # not a host's name: a token in the host's place
    found += path.split("/")
    for pair in query.split("&"):
        value = pair.partition("=")[2]
        if not _NAME.match(unquote(value)):  # ?smtp=server, ?to=address: said, not secret
            found.append(value)
    parts = {p for f in found for p in (f, unquote(f)) if len(p) >= MIN_LEN}
    return sorted(parts, key=len, reverse=True)


def _short_password(url: str) -> list[str]:
    """The URL's password when it is shorter than :data:`MIN_LEN` (as written and
    decoded): a secret however short, so blanked too, but only where it stands as a
    word of its own, not inside the error's other words."""
    rest = url.partition("://")[2].partition("?")[0]
    userinfo, at, _ = rest.rpartition("@")
    password = userinfo.partition(":")[2] if at else ""
    return [p for p in {password, unquote(password)} if 0 < len(p) < MIN_LEN]


def redact(text: str, url: str) -> str:
    """``text`` with every possibly secret part of ``url`` blanked out."""
    for part in secrets_of(url):
        text = re.sub(re.escape(part), HIDDEN, text, flags=re.I)
    for part in _short_password(url):
        text = re.sub(rf"(?<![\w]){re.escape(part)}(?![\w])", HIDDEN, text)
    return text

