"""The shape of a channel's or a ping's URL, read by hand where a URL reader would read it
wrongly: a user or password that cuts the URL in the wrong place, a port that is none, the
login taken out of the address, the password blanked for showing."""

from __future__ import annotations

import re

from .redact import HIDDEN

__all__ = ["GARBLED", "garbled", "bad_port", "split_login", "without_password"]


#: Said of a URL whose user or password holds a character that cuts it in the wrong place.
GARBLED = ("the user or password holds characters a URL cannot carry as they are "
           "(@ : / # ?), so the URL is read wrongly (it would log in elsewhere, or as "
           "someone else): write each of them percent-encoded, e.g. @ as %40, : as %3A, "
           "/ as %2F, # as %23, ? as %3F, % as %25 (python3 -c \"import urllib.parse, "
           "getpass; print(urllib.parse.quote(getpass.getpass(), safe=''))\" prints a "
           "password so)")


def garbled(url: str) -> bool:
    """The URL's user or password holds a raw "@", "/", "#", "?" or a second ":", which
    Apprise (as any URL reader) cuts at: a mail password "p@ss" sends the login to the
    server "ss". A URL's authority (up to its first "/", "?" or "#") has at most one "@"
    and one ":" before it; one cut short has a port that is no number, and its "@" later."""
    rest = url.partition("://")[2]
    ahead = re.split(r"[/?]", rest, maxsplit=1)[0]
    if "@" in ahead.partition("#")[2]:  # "p@ss#x@host": a "#" cut it before the host
        return True
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    userinfo, at, host = authority.rpartition("@")
    if at:
        return "@" in userinfo or userinfo.count(":") > 1
    if host.startswith("["):  # an IPv6 address: its colons are its own
        return False
    _, colon, port = host.rpartition(":")
    return bool(colon) and not port.isdigit() and "@" in rest[len(authority):]


def bad_port(url: str, *, http: bool = False) -> str | None:
    """The port of ``url``'s server when it is none (a number out of 1-65535; with
    ``http``, also no number): Apprise takes it, and each send failed with "Failed to
    parse". Text after a colon is no port in every service's URL: a Telegram bot's token
    is "123456:ABC" in the host's place."""
    rest = url.partition("://")[2]
    host = re.split(r"[/?#]", rest, maxsplit=1)[0].rpartition("@")[2]
    if host.startswith("["):
        host = host.partition("]")[2]
    _, colon, port = host.rpartition(":")
    if not colon or not port:
        return None
    if not port.isdigit():
        return port if http else None
    return None if 0 < int(port) < 65536 else port


def split_login(url: str) -> tuple[str, str | None]:
    """``url`` without its ``user:password@``, and the Basic login header they make (the
    percent-encoded characters of each decoded, as a browser does), or None."""
    import base64
    from urllib.parse import unquote
    scheme, sep, rest = url.partition("://")
    cut = _authority_end(rest)
    userinfo, at, host = rest[:cut].rpartition("@")
    if not at:
        return url, None
    user, _, password = userinfo.partition(":")
    pair = f"{unquote(user)}:{unquote(password)}".encode("utf-8")
    return (f"{scheme}{sep}{host}{rest[cut:]}",
            "Basic " + base64.b64encode(pair).decode("ascii"))


def without_password(url: str) -> str:
    """``url`` with the password of its ``user:password@`` written as ``…``, to show a
    URL as the config has it (a job's settings in the window) without its password. The
    password ends at the last ``@`` of the URL's authority: one holding an ``@`` of its
    own, not percent-encoded, is blanked whole."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    cut = _authority_end(rest)
    at = rest.rfind("@", 0, cut)
    if at < 0:  # a "/" in the password cut the authority short: the last "@" ahead
        at = rest.partition("?")[0].rfind("@")
    user, colon, _ = rest[:max(at, 0)].partition(":")
    if at < 0 or not colon:
        return url
    return f"{scheme}{sep}{user}:{HIDDEN}{rest[at:]}"


def _authority_end(rest: str) -> int:
    """Where the authority (``user:password@host:port``) of ``rest``, a URL after its
    ``scheme://``, ends: at its first "/", "?" or "#"."""
    return min((i for i in (rest.find("/"), rest.find("?"), rest.find("#")) if i >= 0),
               default=len(rest))
