"""``command``: run a program or a shell command line as a job.

The program's stdout and stderr stream into the run's log while it runs
(:mod:`.output`), its progress is read from that output (:mod:`.progress`),
and cancel or timeout stop its whole process group (:mod:`.process`); what it
left running, also out of that group, is stopped when the run ends
(:mod:`trayjobs.leftovers`). It gets
the run's details as ``TRAYJOBS_*`` environment variables, and the files it
writes into ``$TRAYJOBS_OUTPUT_DIR`` become the run's outputs.
"""

from __future__ import annotations

import errno
import json
import os
import selectors
import shlex
import signal
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from ...context import JobContext
from ...durations import format_duration, format_size
from ...errors import Cancelled, JobFailed, UserError
from ...leftovers import Leftovers
from ...secrets import resolve_secret
from ...textfmt import path_text
from ..base import JobKind
from ..memory import limit_of, over_limit, said_out_of_memory
from ..registry import register
from .outdir import make_output_dir
from .outdir import outputs as list_outputs
from .output import OutputLog
from .params import Command, CommandParams, SecretRef
from .process import (Start, dumped_core, exec_failure, exited, find_program, missing,
                      ready_next, signal_group, spare, startable)
from .progress import Progress

__all__ = ["CommandKind", "CommandParams", "output_dir"]

TICK = 1.0            # seconds between "running for …" updates of a program that reports nothing
PROGRESS_EVERY = 0.1  # at most this often a progress message per run
LINGER = 1.0          # after the program exits, how long its background children may hold the pipes
READ = 1 << 18        # bytes read from a pipe at a time, at most: a chunk stays in the CPU cache


def output_dir(ctx: JobContext) -> Path:
    return ctx.home.run_outputs(ctx.run_id)


def _no_folder(cwd: Path) -> str:
    """Why ``cwd``, which is no folder, cannot be the program's: a file there is not
    "missing", and the remedy differs."""
    if cwd.exists():
        return f"{cwd} is a file, not a folder; set cwd to the folder the program should run in"
    return f"the folder {cwd} does not exist; create it or change cwd"


@register
class CommandKind(JobKind):
    name = "command"
    summary = "Runs a program or a shell command line, with its output in the run's log."
    Params = CommandParams
    idempotent = False  # a program's effects are unknown: re-run only when the job says so
    supports_dry_run = False
    dry_run_how = "add a dry_run_command that only shows what the command would do"
    accepts_files = True
    in_process = True  # the program runs in its own process group, stopped on cancel
    bounds_own_log = True  # its output log keeps log_head and log_tail itself (output.py)
    starts_at_check = True  # nothing happens before execute()'s check_cancelled()

    @classmethod
    def is_idempotent(cls, params: CommandParams) -> bool:
        return params.resume == "rerun"

    @classmethod
    def can_dry_run(cls, params: CommandParams) -> bool:
        return params.dry_run_command is not None

    @classmethod
    def problems(cls, params: CommandParams) -> list[tuple[str, str]]:
        cwd = Path(params.cwd).expanduser()
        if not cwd.is_dir():
            return [("cwd", _no_folder(cwd))]
        out = []
        # The program is looked for on the PATH the run gives it: the job's own, if it sets one.
        path = params.env.get("PATH")
        if not isinstance(path, str):  # none, or a secret, read only when the run starts
            path = os.environ.get("PATH")
        for key in ("command", "dry_run_command"):
            command = getattr(params, key)
            if isinstance(command, list):
                problem = find_program(os.path.expanduser(command[0]), cwd=cwd, path=path)
                if problem:
                    out.append((key, problem))
            if command is not None:
                long = _longest(command if isinstance(command, list) else ["sh", "-c", command])
                if long:
                    out.append((key, long))
        for name, value in params.env.items():
            size = len(os.fsencode(name)) + len(os.fsencode(value)) + 2 \
                if isinstance(value, str) else 0
            if _ONE_STRING is not None and size > _ONE_STRING:
                out.append((f"env.{name}", f"the value is {format_size(size)}, more than the "
                                           f"system lets one variable hold "
                                           f"({format_size(_ONE_STRING)}); pass so much in "
                                           f"a file"))
        return out

    def run(self, ctx: JobContext, params: CommandParams) -> dict[str, Any]:
        return _Run(ctx, params).execute()


class _Run:
    def __init__(self, ctx: JobContext, params: CommandParams) -> None:
        self.ctx, self.params = ctx, params
        self.key = "dry_run_command" if ctx.dry_run else "command"
        self.started = time.monotonic()
        self._seen_progress = False
        self._last_progress = 0.0
        self._pending: Progress | None = None
        self._stop_at: float | None = None  # when a cancel sent TERM
        self._dumped = False  # the program died of a signal that dumped its core

    def _refuse(self, key: str, message: str) -> JobFailed:
        return JobFailed(f"job {self.ctx.job!r}, key {key!r}: {message}", retry=False)

    def execute(self) -> dict[str, Any]:
        ctx, params = self.ctx, self.params
        command = params.dry_run_command if ctx.dry_run else params.command
        if command is None:
            raise self._refuse("dry_run_command", "this job has no dry run; add a "
                               "dry_run_command that only shows what the command would do")
        cwd = Path(params.cwd).expanduser()
        if not cwd.is_dir():
            raise self._refuse("cwd", _no_folder(cwd))
        out_dir = output_dir(ctx)
        env = self._environment(out_dir, takes_files="{files}" in _words(command))
        argv = _argv(command, ctx.files)
        if isinstance(command, list):
            problem = startable(argv[0], cwd=cwd, path=env.get("PATH"))
            if problem:
                raise self._refuse(self.key, problem)
        leftovers = Leftovers(log=lambda message: ctx.log(message, "warning"), own=spare)
        # all but the program's start itself
        start = Start(argv, cwd=cwd, env=env, memory=limit_of(params.max_memory))
        try:
            # Told to stop before it began (a cancel between claim and start): the program,
            # which may not be safe to run at all, is not started only to be stopped. (In a
            # job process this is also where a run sent ahead of its claim waits for it:
            # see JobKind.starts_at_check.)
            ctx.check_cancelled()
            make_output_dir(out_dir, fresh=ctx.attempt == 1,
                             warn=lambda message: ctx.log(message, "warning"))
        except BaseException:
            start.drop()
            raise
        try:
            proc = start.go()
        except OSError as exc:
            why = missing(argv[0], exc.strerror, cwd=cwd, path=env.get("PATH")) \
                if exc.strerror else str(exc)
            raise self._refuse(self.key, f"cannot start {argv[0]!r}: "
                                         f"{_too_long(why, argv, env)}") from None
        leftovers.started(proc.pid)
        # The engine stops this group should the job process die before the program.
        ctx.sink({"t": "pgroup", "pgid": proc.pid, "open": True, "grace": params.kill_grace})
        output = OutputLog(ctx, head=params.log_head, tail=params.log_tail,
                           on_progress=self._progress)
        try:
            cancelled = self._watch(proc, output, leftovers)
        finally:
            # What it left running in the background: its background jobs (`tool &`) are
            # still in its group. After an end of its own they are asked to stop, as what
            # left the group is (TERM, KILL after the grace), and named in the log, being
            # children of this process now (:mod:`trayjobs.leftovers`); after a cancel or
            # a timeout, whose TERM they had, they are killed.
            ended_itself = self._stop_at is None and exited(proc)
            if ended_itself:
                leftovers.term(by_itself=True)
                signal_group(proc.pid, signal.SIGTERM)  # their own children too
            else:
                signal_group(proc.pid, signal.SIGKILL)
            kill_at = (self._stop_at or time.monotonic()) + params.kill_grace
            if not leftovers.stop(kill_at=kill_at, ended=lambda: exited(proc),
                                  by_itself=ended_itself):
                ctx.log("some processes the program left running did not stop even when "
                        "killed (stuck in the kernel, on a hung network mount say)", "warning")
            signal_group(proc.pid, signal.SIGKILL)  # any of the group not adopted here
            self._dumped = dumped_core(proc)
            proc.wait()
            ready_next()
            for pipe in (proc.stdout, proc.stderr):
                pipe.close()
            ctx.sink({"t": "pgroup", "pgid": proc.pid, "open": False})
            output.close()
            self._flush_progress()
        if cancelled:
            raise Cancelled()
        outputs = list_outputs(out_dir, warn=lambda message: ctx.log(message, "warning"))
        code = proc.returncode
        why = exec_failure(argv, code, output.stderr_tail[-1] if output.stderr_tail else None,
                           cwd=cwd, path=env.get("PATH"))
        if why:
            raise self._refuse(self.key,
                               f"cannot start {argv[0]!r}: {_too_long(why, argv, env)}")
        if code not in params.success_codes:
            if params.max_memory and said_out_of_memory(output.stderr_tail):
                # Run again, it would take as much: the limit, or the program, is to change.
                raise JobFailed(self._failure(code, output, shell=isinstance(command, str),
                                              over=True), retry=False)
            retry_codes = params.retry_codes
            final = retry_codes is not None and code not in retry_codes
            raise JobFailed(self._failure(code, output, shell=isinstance(command, str),
                                          final=final),
                            retry=not final and not (isinstance(command, str)
                                                     and code in (126, 127)))
        took = format_duration(time.monotonic() - self.started)
        # the program's last line says best what it did ("sent 1.2 GB, total size 80 GB")
        summary = _short(output.last_line) if output.last_line else f"done in {took}"
        if code != 0:
            summary += f" (exit code {code})"
        if outputs:
            summary += f", {len(outputs)} output file{'s' if len(outputs) != 1 else ''}"
        return {"summary": summary, "exit_code": code, "outputs": outputs,
                # lines left out between the head and the tail are not counted: their size is
                "lines": None if output.left_out_bytes else output.lines,
                "output_bytes": output.output_bytes, "left_out_bytes": output.left_out_bytes,
                "dry_run": ctx.dry_run}

    def _files_by_line(self, *, takes_files: bool) -> str:
        """The input files one per line, but for a name holding a line break: read as two
        lines, it would name another file (its second line a relative name). Such a name
        is left out, saying so; ``{files}`` in the command passes it whole.

        Names more than one variable may hold (Linux's limit of one string a program is
        given, 128 KB: some 2,000 files) would keep the program from starting at all. A
        command that takes ``{files}`` gets them as arguments (each a string of its own)
        and an empty TRAYJOBS_FILES, saying so; one that does not is not run with none,
        which it would take for nothing to do."""
        names = [str(f) for f in self.ctx.files]
        odd = [n for n in names if "\n" in n or "\r" in n]
        if odd:
            shown = ", ".join(path_text(n) for n in odd[:3]) + (" …" if len(odd) > 3 else "")
            self.ctx.log(f"left out of TRAYJOBS_FILES, whose names are one per line: {shown} "
                         f"(a line break in the name); write {{files}} in the command to have "
                         f"every file passed whole", "warning")
        text = "\n".join(n for n in names if n not in odd)
        limit = _ONE_STRING
        size = len(os.fsencode(text)) + len("TRAYJOBS_FILES=") + 1
        if limit is None or size <= limit:
            return text
        how_many = f"{len(names):,} input files: their names ({format_size(size)})"
        too_many = (f"more than one environment variable can hold ({format_size(limit)}), so "
                    f"TRAYJOBS_FILES cannot list them")
        if not takes_files:
            raise self._refuse(self.key, f"{how_many} are {too_many}; write {{files}} in the "
                                         f"command to have them as its arguments, or give a "
                                         f"run fewer files")
        self.ctx.log(f"TRAYJOBS_FILES is empty: {how_many} are {too_many}; the program has "
                     f"them as its arguments ({{files}})", "warning")
        return ""

    def _environment(self, out_dir: Path, *, takes_files: bool = False) -> dict[str, str]:
        ctx = self.ctx
        env = dict(os.environ)
        env.update({
            "TRAYJOBS_RUN_ID": str(ctx.run_id), "TRAYJOBS_JOB": ctx.job,
            "TRAYJOBS_TRIGGER": ctx.trigger, "TRAYJOBS_ATTEMPT": str(ctx.attempt),
            "TRAYJOBS_SCHEDULED_FOR": _iso(ctx.scheduled_for),
            "TRAYJOBS_FILES": self._files_by_line(takes_files=takes_files),
            "TRAYJOBS_PARAMS": json.dumps(ctx.params), "TRAYJOBS_OUTPUT_DIR": str(out_dir),
            "TRAYJOBS_DRY_RUN": "1" if ctx.dry_run else "",
            "TRAYJOBS_PARENT_RUN": str(ctx.parent["id"]) if ctx.parent else "",
            "TRAYJOBS_PARENT": json.dumps(ctx.parent) if ctx.parent else "",
        })
        for name, value in self.params.env.items():
            if isinstance(value, SecretRef):
                try:
                    value = resolve_secret(value.secret)
                except UserError as exc:
                    raise self._refuse(f"env.{name}", f"secret {value.secret!r}: {exc}") from None
            env[name] = value
        return env

    def _watch(self, proc, output: OutputLog, leftovers: Leftovers) -> bool:
        """Stream the program's output until it and its pipes are done; True if cancelled."""
        ctx, grace = self.ctx, self.params.kill_grace
        sel = selectors.DefaultSelector()
        for stream, pipe in (("stdout", proc.stdout), ("stderr", proc.stderr)):
            sel.register(pipe.fileno(), selectors.EVENT_READ, stream)
        pidfd = _pidfd(proc.pid)
        if pidfd is not None:
            sel.register(pidfd, selectors.EVENT_READ, "exit")
        pipes, stop_at, ended_at, next_tick = 2, None, None, self.started + TICK
        try:
            while True:
                wait = 0.2 if pidfd is not None or pipes else 0.02
                for key, _ in sel.select(wait):
                    if key.data == "exit":
                        sel.unregister(key.fd)
                        continue
                    data = os.read(key.fd, READ)
                    if data:
                        output.feed(key.data, data)
                    else:
                        sel.unregister(key.fd)
                        pipes -= 1
                now = time.monotonic()
                done = exited(proc)
                if stop_at is None and ctx.cancelled:
                    ctx.log(f"stopping the program (TERM, then KILL after "
                            f"{format_duration(grace)})", "warning")
                    signal_group(proc.pid, signal.SIGTERM)
                    leftovers.term()
                    stop_at = self._stop_at = now
                if stop_at is not None:
                    if done and not pipes:
                        return True
                    if now >= stop_at + grace:
                        # Said, as the TERM was: its own clean-up did not run (or not to
                        # its end), which a cancelled or timed-out run should tell.
                        what = ("what it left running (holding its output)" if done
                                else "the program")
                        ctx.log(f"{what} did not stop within {format_duration(grace)} of "
                                f"TERM: killed (KILL)", "warning")
                        return True
                elif done:
                    if not pipes:
                        return False
                    ended_at = ended_at or now
                    if now - ended_at >= LINGER:
                        return False  # children it left behind keep the pipes open
                if not self._seen_progress and now >= next_tick:
                    elapsed = now - self.started
                    ctx.progress(round(elapsed), None, f"running for {format_duration(elapsed)}", "s")
                    next_tick = now + TICK
                if self._pending is not None and now - self._last_progress >= PROGRESS_EVERY:
                    self._flush_progress()
        finally:
            sel.close()
            if pidfd is not None:
                os.close(pidfd)

    def _progress(self, p: Progress) -> None:
        self._seen_progress = True
        self._pending = p
        if time.monotonic() - self._last_progress >= PROGRESS_EVERY:
            self._flush_progress()

    def _flush_progress(self) -> None:
        p, self._pending = self._pending, None
        if p is not None:
            self.ctx.progress(p.done, p.total, p.message, p.unit)
            self._last_progress = time.monotonic()

    def _failure(self, code: int, output: OutputLog, *, shell: bool, over: bool = False,
                 final: bool = False) -> str:
        limit = self.params.max_memory
        if code < 0:
            what = f"killed by {_signal_name(-code)}"
            if self._dumped:
                what += " (core dumped)"
            if -code == signal.SIGKILL:  # not a cancel's or a timeout's: those end otherwise
                what += (" (from outside: often the out-of-memory killer, when the system "
                         "ran short of memory)")
            elif limit and -code in (signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS):
                # what many programs do when an allocation fails, and they do not check
                what += (f" (perhaps as it met its memory limit of "
                         f"{format_size(limit_of(limit))}, max_memory)")
        else:
            what = f"exit code {code}"
            if shell and code == 127:
                what += " (the shell did not find a program the command names)"
            elif shell and code == 126:
                what += " (the shell found a program it could not run)"
            elif 128 < code <= 128 + 64:
                # a shell line's (or a shell script's) last program was killed by a signal
                what += (f" (128 + {code - 128}: as a shell reports a program killed by "
                         f"{_signal_name(code - 128)})")
        if over:
            what = over_limit(limit, what="the program", fix="have it take less") + \
                f" (it ended with {what})"
        elif final:
            codes = self.params.retry_codes
            what += (f"; not tried again: only exit code{'s' if len(codes) > 1 else ''} "
                     f"{', '.join(map(str, codes))} {'are' if len(codes) > 1 else 'is'} "
                     f"(retry_codes)")
        lines = list(output.stderr_tail)
        if not lines:
            return what
        # the first line is what a list shows: the program's last complaint
        first = f"{what}: {_short(lines[-1].strip())}"
        return first if len(lines) == 1 else first + "\n" + "\n".join(lines)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _iso(ts: float | None) -> str:
    """A Unix time as local ISO 8601 with its offset ("2026-12-02T02:00:00+01:00"), or ""."""
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts).astimezone().isoformat(timespec="seconds")


def _one_string() -> int | None:
    """The longest argument or environment variable (``NAME=value``, its ending NUL
    counted) a program may be given: 32 pages on Linux (``MAX_ARG_STRLEN``); elsewhere
    only their total is bounded (``None``)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return 32 * os.sysconf("SC_PAGESIZE")
    except (ValueError, OSError):
        return 32 * 4096


_ONE_STRING = _one_string()


def _words(command: Command) -> list[str]:
    """The list's elements, or the words ``{files}`` may be one of in a command line."""
    return command if isinstance(command, list) else ["{files}"] if "{files}" in command else []


def _longest(argv: list[str]) -> str | None:
    """Why one of ``argv`` cannot be given to a program (longer than the system takes in
    one), or ``None``."""
    limit = _ONE_STRING
    if limit is None:
        return None
    for i, arg in enumerate(argv):
        size = len(os.fsencode(arg)) + 1
        if size > limit:
            return (f"argument {i} is {format_size(size)}, more than the system takes in one "
                    f"({format_size(limit)}); pass so much in a file")
    return None


def _too_long(why: str, argv: list[str], env: dict[str, str]) -> str:
    """``why`` a program could not be started, with what was too long when the system said
    its arguments were (``E2BIG``: the environment counts, and so does each one alone)."""
    if why != os.strerror(errno.E2BIG):
        return why
    limit = _ONE_STRING
    if limit is not None:
        for name, value in env.items():
            size = len(os.fsencode(name)) + len(os.fsencode(value)) + 2
            if size > limit:
                return (f"{why}: the environment variable {name!r} is {format_size(size)}, "
                        f"more than the system lets one hold ({format_size(limit)}); pass "
                        f"so much in a file")
        long = _longest(argv)
        if long:
            return f"{why}: {long}"
    total = sum(len(os.fsencode(a)) + 1 for a in argv) + sum(
        len(os.fsencode(k)) + len(os.fsencode(v)) + 2 for k, v in env.items())
    return (f"{why}: its arguments and environment are {format_size(total)} in all, more "
            f"than the system takes; give a run fewer files, or pass so much in a file")


def _argv(command: Command, files: list[Path]) -> list[str]:
    if isinstance(command, str):
        line = command.replace("{files}", shlex.join(map(str, files)))
        if _ONE_STRING is None or len(os.fsencode(line)) < _ONE_STRING:
            return ["/bin/sh", "-c", line]
        # One argument too long to be given: the files follow it, each an argument of its
        # own, and stand in it as the shell's "$@" (the same words as quoted in the line).
        return ["/bin/sh", "-c", command.replace("{files}", '"$@"'), "sh", *map(str, files)]
    argv: list[str] = []
    for arg in command:
        if arg == "{files}":
            argv += [str(f) for f in files]
        else:
            argv.append(os.path.expanduser(arg))
    return argv


def _pidfd(pid: int) -> int | None:
    """A descriptor that becomes readable when ``pid`` exits (Linux 5.3+), else ``None``."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None
