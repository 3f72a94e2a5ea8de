"""Heartbeat pings, the healthchecks.io way: ``URL/start`` as a run starts, ``URL`` when
it succeeds, ``URL/fail`` when it fails for good (a GET; the body is ignored)."""

from __future__ import annotations

from . import DeliveryError, answer_may_change
from .redact import redact

__all__ = ["ping", "ping_url"]

SUFFIX = {"start": "/start", "success": "", "fail": "/fail"}


def ping_url(base: str, what: str) -> str:
    base, _, query = base.partition("?")
    return base.rstrip("/") + SUFFIX[what] + (f"?{query}" if query else "")


def ping(base: str, what: str, *, timeout: float = 10.0) -> None:
    # Imported here: urllib.request brings http.client and ssl, which every engine (a
    # foreground `trayjobs run` among them) would load whether a job pings or not.
    import urllib.error
    import urllib.parse
    import urllib.request

    url = ping_url(base, what)
    shown = redact(url, base)  # the check's UUID is its secret: anyone may ping with it
    # A slug beyond ASCII or with a space ("/ping/KEY/büro backup") goes percent-encoded,
    # as a browser sends it: urllib refused it with an encoding error at every try.
    sent = urllib.parse.quote(url, safe=":/?#[]@!$&'()*+,;=%~")
    req = urllib.request.Request(sent, headers={"User-Agent": "trayjobs"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            resp.read(1024)
    except urllib.error.HTTPError as exc:
        exc.close()  # the answer's connection, left open else
        again = answer_may_change(exc.code)
        raise DeliveryError(f"the monitor answered {exc.code} {exc.reason} for {shown}"
                            + ("" if again else ": check the job's ping URL; not tried "
                                                "again"), retry=again) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DeliveryError(f"cannot reach {shown}: {redact(str(reason), base)}") from None
