"""Heartbeat pings, the healthchecks.io way: ``URL/start`` as a run starts, ``URL`` when
it succeeds, ``URL/fail`` when it fails for good (a GET; the body is ignored).

A URL's ``user:password@`` (a monitor behind a proxy's login) goes as HTTP's Basic login,
not in the address: urllib took it for part of the server's name, and the ping never
went. Every error says the URL with its password and tokens blanked out."""

from __future__ import annotations

from . import DeliveryError, answer_may_change, within
from .redact import redact
from .urlshape import GARBLED, garbled, split_login

__all__ = ["ping", "ping_url"]

SUFFIX = {"start": "/start", "success": "", "fail": "/fail"}


def ping_url(base: str, what: str) -> str:
    base, _, query = base.partition("?")
    return base.rstrip("/") + SUFFIX[what] + (f"?{query}" if query else "")


def ping(base: str, what: str, *, timeout: float = 10.0) -> None:
    within(2 * timeout, _ping, base, what, timeout)  # to connect, and to be answered


def _ping(base: str, what: str, timeout: float) -> None:
    # Imported here: urllib.request brings http.client and ssl, which every engine (a
    # foreground `trayjobs run` among them) would load whether a job pings or not.
    import http.client
    import urllib.error
    import urllib.parse
    import urllib.request

    if garbled(base):  # refused before a password is sent to the wrong server
        raise DeliveryError(f"the job's ping URL is not usable as written: {GARBLED}",
                            retry=False)
    url = ping_url(base, what)
    shown = redact(url, base)  # the check's UUID is its secret: anyone may ping with it
    address, login = split_login(url)
    # A slug beyond ASCII or with a space ("/ping/KEY/büro backup") goes percent-encoded,
    # as a browser sends it: urllib refused it with an encoding error at every try.
    sent = urllib.parse.quote(address, safe=":/?#[]@!$&'()*+,;=%~")
    headers = {"User-Agent": "trayjobs"}
    if login is not None:
        headers["Authorization"] = login
    try:
        req = urllib.request.Request(sent, headers=headers)
        opener = urllib.request.build_opener(_login_stays_home(urllib.request))
        with opener.open(req, timeout=timeout) as resp:
            resp.read(1024)
    except urllib.error.HTTPError as exc:
        exc.close()  # the answer's connection, left open else
        again = answer_may_change(exc.code)
        raise DeliveryError(f"the monitor answered {exc.code} {exc.reason} for {shown}"
                            + ("" if again else ": check the job's ping URL; not tried "
                                                "again"), retry=again) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        if "CERTIFICATE_VERIFY_FAILED" in str(reason):
            raise DeliveryError(f"the monitor's TLS certificate is not trusted (self-signed, "
                                f"expired, or for another name) at {shown}: give the monitor "
                                f"a certificate this computer trusts, or set the environment "
                                f"variable SSL_CERT_FILE of trayjobs to a file holding its "
                                f"certificate authority (in PEM): "
                                f"{redact(str(reason), base)}") from None
        raise DeliveryError(f"cannot reach {shown}: {redact(str(reason), base)}") from None
    except (ValueError, http.client.InvalidURL) as exc:  # a port that is no number
        raise DeliveryError(f"the job's ping URL {shown} is not usable: "
                            f"{redact(str(exc), base)}; check it in the config",
                            retry=False) from None
    except http.client.HTTPException as exc:  # an answer that is no HTTP (cut short)
        raise DeliveryError(f"the monitor's answer at {shown} was not understood: "
                            f"{redact(repr(exc), base)}") from None


def _login_stays_home(request):
    """urllib's redirect handler, less the login on a redirect to another server (it kept
    every header: a monitor or proxy pointing elsewhere was handed the password). The same
    server keeps it, and so does its https:// on the default ports, as a browser does."""
    from urllib.parse import urlsplit

    def origin(url: str) -> tuple:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        return scheme, (parts.hostname or "").lower(), parts.port or (443 if scheme == "https"
                                                                       else 80)

    class Handler(request.HTTPRedirectHandler):
        def redirect_request(self, req, fp, code, msg, headers, newurl):
            new = super().redirect_request(req, fp, code, msg, headers, newurl)
            if new is not None:
                was, now = origin(req.full_url), origin(new.full_url)
                upgrade = was == ("http", now[1], 80) and now == ("https", now[1], 443)
                if now != was and not upgrade:
                    new.remove_header("Authorization")
            return new

    return Handler
