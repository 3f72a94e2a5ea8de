"""The shape every job kind has.

A kind is a class with a ``name``, a pydantic ``Params`` model (unknown keys
are rejected by name) and a ``run(ctx, params)`` that returns a JSON-able
result dict. The result's ``summary`` string is what the window and the CLI
show for a finished run ("9,812 rows imported, 3 rejected").

Kinds run in a child process, so ``run`` may block, use CPU and be killed at
any point without harming the app (a kind marked ``in_process`` may instead
run on a thread of a foreground ``trayjobs run``). A kind that is *idempotent*
may be run again after a crash without doubling its effects; crash recovery
re-queues only such runs.

The window decides what to offer for a kind from these class attributes
alone (never from its name): Preview where it can dry-run, Undo where it can
undo, "Run with files" where it accepts files. A kind without a hand-made
form gets one built from its ``Params`` model (each field's type, default
and ``description``).
"""

from __future__ import annotations

import datetime
import json
import logging
from abc import ABC, abstractmethod
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from ..context import JobContext
from ..errors import UserError

__all__ = ["JobKind", "KindParams", "COMMON_KEYS", "UNDO_STATES", "empty_list", "empty_dict"]

log = logging.getLogger(__name__)

#: The states of runs that can be undone: they ended.
UNDO_STATES = frozenset({"succeeded", "failed", "cancelled", "interrupted"})

# Keys every job has; a kind's params may not reuse them.
COMMON_KEYS = frozenset({
    "kind", "description", "tags", "enabled", "every", "cron", "at_login", "watch",
    "retry", "timeout", "priority", "overlap", "missed", "then", "on_failure", "always",
    "notify", "params",
    "alerts", "ping", "stale_after", "deliver",
    "when", "when_unknown", "max_wait", "inhibit_sleep", "host",
})


def empty_list() -> list:
    """A ``default_factory`` for a list field. Not ``list`` itself: pydantic reads each
    factory's signature, and Python finds a built-in's by tokenizing its text, which costs
    every command a few milliseconds at start."""
    return []


def empty_dict() -> dict:
    """A ``default_factory`` for a dict field (see :func:`empty_list`)."""
    return {}


def _iso(value: Any) -> str:
    """A TOML date, time or date-time as JSON has it (ISO 8601 text)."""
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


class KindParams(BaseModel):
    """Base for a kind's params: strict, unknown keys are errors."""

    # strict: true/false and numbers are TOML's own, never text that looks like one ("no",
    # "2"); a key that takes text for a value ("2h", "10 MB") converts it in a validator.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=True,
                              defer_build=True)


class JobKind(ABC):
    name: ClassVar[str]
    #: One line for docs and the job editor.
    summary: ClassVar[str] = ""
    Params: ClassVar[type[KindParams]] = KindParams
    #: Safe to run again after an interrupted attempt (no doubled effects).
    idempotent: ClassVar[bool] = True
    #: ``run`` honours ``ctx.dry_run`` (preview) and reports what it would do.
    supports_dry_run: ClassVar[bool] = False
    #: ``undo`` can reverse a finished run.
    supports_undo: ClassVar[bool] = False
    #: ``undo`` reads the job's settings. Without, it works from what the run recorded alone
    #: (it is then given ``params=None``), so a run is undone after its job was removed or changed.
    undo_needs_params: ClassVar[bool] = True
    #: Runs are given input files (``ctx.files``): drops, watched folders, ``--file``.
    accepts_files: ClassVar[bool] = False
    #: A run without input files has nothing to do (with ``accepts_files``): Run now in the
    #: window asks for them.
    requires_files: ClassVar[bool] = False
    #: The job's process is not given another run after this kind's (foreign code may
    #: leave imported modules, ``sys.path`` entries or threads behind).
    fresh_process: ClassVar[bool] = False
    #: A foreground ``trayjobs run`` (no app or worker running) may run it on a thread of
    #: its own process rather than start a job process: for code of ours that stops soon
    #: after ``check_cancelled`` says so, runs programs only in process groups it reports
    #: (``pgroup``) and leaves nothing half-done should its process die. Plug-ins keep the
    #: job process.
    in_process: ClassVar[bool] = False
    #: ``run`` keeps its own log within bounds (the command kind keeps a program's output to
    #: ``log_head`` and ``log_tail``). Without, what it logs through ``ctx.log`` in a job
    #: process shares the bounds of what it prints: the first and last megabyte by default.
    bounds_own_log: ClassVar[bool] = False
    #: In a job process, what the run and the programs it starts write to the process's own
    #: stdout and stderr (fd 1 and 2: ``subprocess.run``, ``os.system``, C libraries) is read
    #: into the run's log: for a kind that runs the user's code. Off, fd 1 and 2 stay as they
    #: are (``/dev/null`` and the job process's log file) and a run costs two pipes and a
    #: thread less.
    captures_fds: ClassVar[bool] = False
    #: ``run`` has no effect on the world before its first ``ctx.check_cancelled()`` (the
    #: command kind reads its params, builds the program's environment and finds it first):
    #: a job process may go that far with a run whose claim the engine has yet to commit,
    #: and waits there until the engine says whether it holds. Off, it waits before ``run``.
    starts_at_check: ClassVar[bool] = False
    #: Keys of ``Params`` that ``trayjobs run JOB --param KEY=VALUE`` may set for one run
    #: (the report's ``period``), besides the job's own ``params``.
    run_params: ClassVar[frozenset[str]] = frozenset()
    #: How several of its runs are called in a notification ("12 imports failed");
    #: empty: "runs".
    plural: ClassVar[str] = ""
    #: What Undo puts back, in a sentence, for the window's confirmation (with
    #: ``supports_undo``).
    undo_note: ClassVar[str] = ""
    #: How a job of this kind gets a dry run it does not have, for the refusal of
    #: ``--dry-run`` (the command's ``dry_run_command``); empty: it cannot.
    dry_run_how: ClassVar[str] = ""

    @abstractmethod
    def run(self, ctx: JobContext, params: KindParams) -> dict[str, Any]:
        """Do the work; return a JSON-able result whose ``summary`` is shown for the run."""

    def undo(self, ctx: JobContext, params: KindParams, run: dict[str, Any]) -> dict[str, Any]:
        """Reverse the effects of ``run`` (a run row with its ``result``)."""
        raise UserError(f"{self.name} runs cannot be undone")

    @classmethod
    def retry_inputs(cls, params: KindParams, run: dict[str, Any]) -> list[str] | None:
        """The input files a retry of the ended ``run`` (a run row) runs on. A kind that
        moves its inputs away when a run ends finds them there (and may put them back);
        raise :class:`~trayjobs.errors.UserError` saying why when it cannot."""
        return list((run.get("inputs") or {}).get("files") or []) or None

    @classmethod
    def can_undo_run(cls, run: dict[str, Any]) -> bool:
        """Whether Undo is offered for ``run`` (a run row): it ended, was no preview, is not
        undone yet and changed something. A run that kept no result changed something only
        if it may have stopped half-way (cancelled, interrupted, crashed with a traceback):
        a kind that fails after changing things says so in its failure's result."""
        if not cls.supports_undo or run.get("state") not in UNDO_STATES:
            return False
        result = run.get("result")
        if not isinstance(result, dict):
            return run["state"] in ("cancelled", "interrupted") or bool(run.get("traceback"))
        if result.get("undo") or result.get("dry_run"):
            return False
        return cls.changed_something(result)

    @classmethod
    def changed_something(cls, result: dict[str, Any]) -> bool:
        """From a run's result: whether it changed anything that Undo would put back. By
        default its ``changed`` count (or flag), if it has one."""
        return bool(result.get("changed", True))

    @classmethod
    def parse_params(cls, raw: dict[str, Any]) -> KindParams:
        try:
            return cls.Params.model_validate(raw)
        except ValidationError as exc:
            # Params reach the job process as JSON, and TOML has no decimal, set or tuple
            # either: read as JSON, "1.5" is a Decimal and [1, 2] a set or a tuple (strict
            # still refuses "2" for a number). Without, a plug-in's field of such a type
            # passed `check` and failed every run.
            try:
                text = json.dumps(raw, default=_iso)
            except (TypeError, ValueError):
                raise exc from None
            try:
                return cls.Params.model_validate_json(text)
            except ValidationError:
                raise exc from None

    @classmethod
    def can_dry_run(cls, params: KindParams) -> bool:
        return cls.supports_dry_run

    @classmethod
    def is_idempotent(cls, params: KindParams) -> bool:
        """Whether a job with these params may be run again after a crash."""
        return cls.idempotent

    @classmethod
    def plan_of(cls, run: dict[str, Any]) -> dict[str, Any]:
        """The plan that applies preview ``run`` (a run row), for :attr:`JobContext.plan`;
        raise :class:`~trayjobs.errors.UserError` saying why when it cannot be applied."""
        raise UserError(f"a preview of a {cls.name} job cannot be applied; run the job instead")

    @classmethod
    def checked_problems(cls, params: KindParams) -> list[tuple[str, str]]:
        """:meth:`problems`, or, where a plug-in's own check raises, that as the one problem:
        ``trayjobs check`` and the job editor went down with it."""
        try:
            return list(cls.problems(params))
        except Exception as exc:
            return [("", f"the {cls.name} kind's own check of this job failed: "
                         f"{type(exc).__name__}: {exc}")]

    @classmethod
    def checked_cautions(cls, params: KindParams) -> list[tuple[str, str]]:
        """:meth:`cautions`, or, where a plug-in's own look raises, nothing: a warning that
        cannot be made is no reason to refuse the job, nor to take ``check`` down."""
        try:
            return list(cls.cautions(params))
        except Exception:
            log.exception("the %s kind's cautions() failed", cls.name)
            return []

    @classmethod
    def problems(cls, params: KindParams) -> list[tuple[str, str]]:
        """What would stop a job with these params from running, found without running it
        (a missing file, say), as ``(key, message)`` pairs; ``trayjobs check`` lists them."""
        return []

    @classmethod
    def cautions(cls, params: KindParams) -> list[tuple[str, str]]:
        """What may go wrong though the job can run (a pattern that can take very long), as
        ``(key, message)`` pairs: ``trayjobs check`` warns of them and the job editor shows
        them, and neither refuses the job for them."""
        return []
