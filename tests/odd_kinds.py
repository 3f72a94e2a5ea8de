"""Job kinds that misbehave in ways the engine must survive, for tests.

Job processes import this through a ``sitecustomize`` that the ``odd_kinds``
fixture puts on ``PYTHONPATH``: they are real kinds in real processes.
"""

from __future__ import annotations

import os
import signal
from typing import Any

from trayjobs.errors import JobFailed
from trayjobs.kinds.base import JobKind, KindParams
from trayjobs.kinds.registry import register

#: A file name that is not valid UTF-8, as Python sees it after ``os.fsdecode``.
BAD_NAME = os.fsdecode(b"bad\xff.txt")
SHOWN = "bad\\xff.txt"  # how trayjobs shows it


class OddTextParams(KindParams):
    fail: bool = False


@register
class OddTextKind(JobKind):
    """Says a non-UTF-8 file name everywhere a job can say something."""

    name = "odd-text"
    Params = OddTextParams
    supports_dry_run = True

    def run(self, ctx, params) -> dict[str, Any]:
        ctx.log(f"found {BAD_NAME}")
        print(f"printed {BAD_NAME}")
        ctx.progress(1, 2, f"looking at {BAD_NAME}", unit=BAD_NAME)
        ctx.log("odd \ud800 surrogate", level="warning")
        if params.fail:
            raise JobFailed(f"cannot trash {BAD_NAME}", retry=False)
        return {"summary": f"kept {BAD_NAME}", "names": [BAD_NAME], BAD_NAME: 1}


@register
class BadResultKind(JobKind):
    """Returns what JSON cannot hold."""

    name = "bad-result"

    def run(self, ctx, params) -> dict[str, Any]:
        loop: dict[str, Any] = {"summary": "a loop"}
        loop["self"] = loop
        return loop


@register
class KillSelfKind(JobKind):
    """Its process dies by SIGKILL every time."""

    name = "kill-self"
    supports_dry_run = True

    def run(self, ctx, params) -> dict[str, Any]:
        ctx.log("going down")
        os.kill(os.getpid(), signal.SIGKILL)
        return {}


@register
class KillAppKind(JobKind):
    """Takes the process that runs jobs (its parent: the worker) down with SIGKILL."""

    name = "kill-app"

    def run(self, ctx, params) -> dict[str, Any]:
        os.kill(os.getppid(), signal.SIGKILL)
        ctx.cancel_event.wait(30)  # the worker is gone: our stdin closes and we exit
        return {}


KINDS = (OddTextKind, BadResultKind, KillSelfKind, KillAppKind)
