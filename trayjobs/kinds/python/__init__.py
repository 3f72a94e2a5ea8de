"""``python``: calls a Python function of yours in the job's process.

The function gets the run's :class:`~trayjobs.context.JobContext` (progress,
log, check_cancelled, params, files, dry_run, ...) and its return value
becomes the run's result: a string is the summary, a dict should carry one
under ``"summary"``. An exception fails the run with its traceback. An ``async def``
function is run to its end (``asyncio.run``); a generator function is refused, as
calling it would run none of its code.
"""

from __future__ import annotations

import inspect
import os
import sys
import traceback
from typing import Any

from ...context import JobContext
from ...errors import Cancelled, JobFailed
from ..base import JobKind
from ..memory import limit_of, over_limit, set_limit
from ..registry import register
from .loader import declare_as, find_problems, load_function
from .params import PythonParams
from .programs import Programs
from .result import as_result

__all__ = ["PythonKind", "PythonParams", "as_result"]


@register
class PythonKind(JobKind):
    name = "python"
    summary = ("Calls a Python function of yours with the run's context (progress, log, "
               "params, files); what it returns is the run's summary.")
    Params = PythonParams
    idempotent = False
    accepts_files = True
    dry_run_how = ("once the function changes nothing when ctx.dry_run is true, set "
                   "dry_run = true in the job")
    # The user's modules stay imported and ``path`` stays on sys.path: a process that ran
    # one is not given another run, so an edited script is read afresh next time.
    fresh_process = True
    # What the function's programs (subprocess.run, os.system) write is the run's output too.
    captures_fds = True

    @classmethod
    def can_dry_run(cls, params: PythonParams) -> bool:
        return params.dry_run

    @classmethod
    def is_idempotent(cls, params: PythonParams) -> bool:
        return params.idempotent

    @classmethod
    def problems(cls, params: PythonParams) -> list[tuple[str, str]]:
        return find_problems(params)

    def run(self, ctx: JobContext, params: PythonParams) -> dict[str, Any]:
        # As `python file.py` with no arguments: a script's argparse read the job process's
        # own (its message pipe's number) and ended in "unrecognized arguments". The
        # process runs nothing after this run (fresh_process), so it is not put back.
        sys.argv = [str(params.script) if params.script is not None else params.module]
        function = load_function(params, ctx.job)
        target = params.target()
        if inspect.isgeneratorfunction(function) or inspect.isasyncgenfunction(function):
            raise JobFailed(f"job {ctx.job!r}: {target} is a generator (it uses yield), so "
                            f"calling it runs none of its code; return the result instead, "
                            f"and report progress with ctx.progress()", retry=False)
        args = (ctx,) if _takes_argument(function) else ()
        _check_arguments(function, args, target, ctx.job)
        ctx.check_cancelled()
        pid = os.getpid()
        programs = Programs(ctx, grace=params.kill_grace)
        programs.watch()
        limit = limit_of(params.max_memory)
        restore = set_limit(limit, beyond_now=True) if limit else None
        if limit and restore is None:
            ctx.log("max_memory cannot be held on this system: the function runs without "
                    "a limit", "warning")
        try:
            value = _call(function, args, target, pid)
            if programs.stopped:  # the run was stopped: what it made of that is no result
                raise Cancelled()
        except MemoryError as exc:
            if restore is None:
                raise
            restore, put_back = None, restore
            put_back()  # what follows (the message, the log) needs some memory
            raise JobFailed(over_limit(params.max_memory, what="the job", fix=(
                f"have the function take less{_where(exc)}")), retry=False) from None
        except Cancelled:
            raise
        except BaseException as exc:
            if not programs.stopped:
                raise
            ctx.log(f"after its programs were stopped the function ended with "
                    f"{type(exc).__name__}: {exc}", "warning")
            raise Cancelled() from None
        finally:
            if os.getpid() == pid:
                if restore is not None:
                    restore()
                programs.end()
        if inspect.isgenerator(value) or inspect.isasyncgen(value):
            # (x for x in ...) returned: the work in it would run only as it is read, and
            # "<generator object ...>" would be the summary of a run that did nothing.
            if inspect.isgenerator(value):
                value.close()
            raise JobFailed(f"job {ctx.job!r}: {target} returned a generator, so the work "
                            f"in it never ran; return a list (list(...)) or the result "
                            f"itself", retry=False)
        return as_result(value, target)


def _call(function, args: tuple, target: str, pid: int) -> Any:
    """What ``function`` returns (run to its end if it is ``async``); in a copy of this
    process that it forked, nothing: the copy ends there."""
    try:
        value = function(*args)
        if inspect.iscoroutine(value):  # an async def: run it to its end in this process
            import asyncio
            value = asyncio.run(value)
    except SystemExit as exc:
        if os.getpid() != pid:
            _end_forked_copy(0 if exc.code in (None, 0) else 1, raised=False)
        # A script made a function often ends with sys.exit(): as to a shell, 0 (or
        # none) says it went well, anything else that it did not.
        if exc.code in (None, 0):
            return None
        raise JobFailed(f"{target} called sys.exit({exc.code!r})") from None
    except BaseException:
        if os.getpid() != pid:
            _end_forked_copy(1)
        raise
    if os.getpid() != pid:
        _end_forked_copy(0)
    return value


def _where(exc: BaseException) -> str:
    """Where in the user's code ``exc`` was raised: ", at sync.py line 12 (in main)"."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return ""
    last = frames[-1]
    return f"; it ran out at {os.path.basename(last.filename)} line {last.lineno} (in {last.name})"


def _end_forked_copy(code: int, *, raised: bool = True) -> None:
    """End a copy of the job process that the function forked (``os.fork()`` returning in
    both) and that returned or raised in place of the parent: it must not report the run's
    end, which the parent does, nor go on as a job process. What it raised is written to
    its stderr, the run's log while the run lasts."""
    if code and raised:
        try:
            os.write(2, traceback.format_exc().encode("utf-8", "backslashreplace"))
        except OSError:
            pass
    os._exit(code)


def _check_arguments(function, args: tuple, target: str, job: str) -> None:
    """Refuse a function that needs more than the run's context before calling it: its
    TypeError would fail every attempt, and with a method's ``self`` say nothing of why."""
    try:
        sig = inspect.signature(function)
    except (TypeError, ValueError):
        return
    try:
        sig.bind(*args)
    except TypeError:
        first = next(iter(sig.parameters), None)
        if first in ("self", "cls") and args:
            hint = (f": {target} looks like a plain method (it takes {first!r}): make it a "
                    f"@staticmethod or @classmethod")
        else:
            kinds = inspect.Parameter
            needed = [p.name for p in sig.parameters.values() if p.default is p.empty
                      and p.kind in (kinds.POSITIONAL_ONLY, kinds.POSITIONAL_OR_KEYWORD)]
            keywords = [p.name for p in sig.parameters.values() if p.default is p.empty
                        and p.kind is kinds.KEYWORD_ONLY]
            # As the job names it: a lambda's own name is "<lambda>", a decorated one's may
            # be its wrapper's.
            name = target.rsplit(":", 1)[-1].split(".")[-1]
            hint = declare_as(name, needed[1:], keywords)
        raise JobFailed(f"job {job!r}: {target}{sig} cannot be called: a job's function is "
                        f"given the run's context alone{hint}", retry=False) from None


def _takes_argument(function) -> bool:
    try:
        sig = inspect.signature(function)
    except (TypeError, ValueError):  # a builtin without a signature: give it the context
        return True
    return any(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
               for p in sig.parameters.values())

