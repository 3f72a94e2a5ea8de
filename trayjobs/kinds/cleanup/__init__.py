"""``cleanup``: tidy folders by rules, as safely as a careful person would.

A job names its locations, filters (combined with all / any / none) and one
action (trash by default). Every run can be previewed (``--dry-run`` or
``preview = true``) and, from its journal, undone. The pieces live in small
modules: ``filters/`` and ``actions/`` (one per filter or action, behind
registries), ``scan`` (the walk), ``runner`` (one run; its ``locations``,
``acting`` and ``outcome``), ``journal``, ``freedesktop`` (the trash), ``undo``
and ``safety``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...context import JobContext
from ...errors import JobFailed, UserError
from ...paths import Home
from ..base import JobKind
from ..registry import register
from .params import CleanupParams

__all__ = ["CleanupKind", "CleanupParams", "journal_path"]


def journal_path(home: Home) -> Path:
    return home.data_dir / "cleanup_journal.db"


@register
class CleanupKind(JobKind):
    name = "cleanup"
    summary = "Tidies folders by rules: trash, move, copy, rename, archive or delete, with preview and undo."
    Params = CleanupParams
    plural = "cleanups"
    undo_note = "Files it moved, renamed or trashed are put back where they were."
    idempotent = True
    supports_dry_run = True
    supports_undo = True
    undo_needs_params = False  # the journal holds every path and where it went

    def run(self, ctx: JobContext, params: CleanupParams) -> dict[str, Any]:
        # The modules that do the work load with the first run: loading the config
        # needs only the params.
        from .journal import Journal
        from .runner import Runner
        if ctx.dry_run or (params.preview and ctx.plan is None):  # applying a preview acts
            return Runner(ctx, params, journal=None).run()
        does, now = ctx.plan and ctx.plan.get("does"), params.what_is_done()
        if does and does != now:
            # its items were chosen by a person who saw what would be done to them: not this
            changes = ", ".join(f"{key} {does.get(key)!r} then, {now[key]!r} now" for key in now
                                if key != "settings" and does.get(key) != now[key]) or "the action's settings"
            raise JobFailed(f"job {ctx.job!r} changed since the preview of run {ctx.plan.get('from_run')} "
                            f"({changes}); nothing was done: preview again", retry=False)
        if ctx.plan is None:  # (a preview's plan was seen and chosen item by item)
            # What check and the editor refuse is refused here too: a hand-written
            # ``filters = []`` would otherwise empty the folders on the next schedule.
            for key, message in self.problems(params):
                raise JobFailed(f"job {ctx.job!r}, key {key!r}: {message}", retry=False)
        journal = Journal(journal_path(ctx.home))
        try:
            journal.prune()
            return Runner(ctx, params, journal=journal).run()
        finally:
            journal.close()

    @classmethod
    def plan_of(cls, run: dict[str, Any]) -> dict[str, Any]:
        result = run.get("result") if isinstance(run.get("result"), dict) else {}
        if run.get("state") != "succeeded" or not result.get("dry_run"):
            raise UserError(f"run {run['id']} is not a finished preview; only a preview's "
                            f"plan can be applied")
        if "plan" not in result:
            raise UserError(f"run {run['id']} kept no plan to apply (a preview from an older "
                            f"version); preview again")
        if result.get("plan_cut"):
            raise UserError(f"run {run['id']} planned more items than a preview keeps; narrow "
                            f"the rules, or run the job")
        if not result["plan"]:
            raise UserError(f"run {run['id']} found nothing to do: there is nothing to apply")
        return {"from_run": run["id"], "items": result["plan"], "does": result.get("plan_does")}

    @classmethod
    def problems(cls, params: CleanupParams) -> list[tuple[str, str]]:
        if not params.filters and not params.preview:
            # Every item in the folders would be trashed, moved or deleted: almost surely a
            # form left half-filled; a person who means it can say so with a rule.
            return [("filters", "with no rules it would act on everything in its folders; "
                                "add a rule (one for every item: { name = \"*\" }), or "
                                "switch preview on")]
        return []

    @classmethod
    def cautions(cls, params: CleanupParams) -> list[tuple[str, str]]:
        return [(f"filters.{i}.{f.name}", why) for i, f in enumerate(params.filters)
                if (why := f.caution())]

    @classmethod
    def changed_something(cls, result: dict[str, Any]) -> bool:
        return bool(result.get("acted") or result.get("folders_removed"))

    def undo(self, ctx: JobContext, params: CleanupParams, run: dict[str, Any]) -> dict[str, Any]:
        from .journal import Journal
        from .undo import undo_run
        result = run.get("result") or {}
        if result.get("dry_run"):
            summary = "that run was a preview: it changed nothing, so there is nothing to undo"
            ctx.log(summary)
            return {"summary": summary, "undone": 0, "not_undone": 0, "problems": []}
        journal = Journal(journal_path(ctx.home))
        try:
            return undo_run(ctx, journal, int(run["id"]), acted=int(result.get("acted") or 0))
        finally:
            journal.close()
