"""What a cleanup run ends with: its result, the warnings beside what was done, or the
failure of a run where every action tried failed (not retried: the same would fail again).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...errors import JobFailed
from .report import plural

if TYPE_CHECKING:
    from .runner import Runner

__all__ = ["result_of"]

#: Skips that leave things as the job wants them: not worth a warning.
_HARMLESS_SKIPS = frozenset({"vanished", "already in place"})
_LISTED_ERRORS = 3  # errors quoted in a warning or failure; the log has them all


def result_of(run: Runner) -> dict[str, Any]:
    t = run.tally
    summary = t.summary(done_verb=run.action.done_verb, plan_verb=run.action.plan_verb, dry=run.dry)
    if t.listed_more:
        run.ctx.log(f"... and {t.listed_more:,} more")
    run.ctx.log(summary)
    result = {
        "summary": summary,
        "dry_run": run.dry,
        "action": run.action.name,
        "targets": run.p.targets,
        "scanned": t.scanned,
        "acted": t.acted,
        "bytes": t.bytes,
        "skipped": dict(t.skipped),
        "errors": t.errors,
        "archives": t.archives,
        "folders_removed": t.folders_removed,
        "problems": t.problems,
        "planned" if run.dry else "done": t.listing,
        "listed_more": t.listed_more,
    }
    if run.dry:
        result["plan"] = run.plan  # what "Apply this preview" does, item by item
        result["plan_cut"] = run.plan_cut
        result["plan_does"] = run.p.what_is_done()  # applied only while the job still does this
    if run.ctx.plan is not None and not run.dry:
        result["from_preview"] = run.ctx.plan.get("from_run")
    if run.ripe_at is not None and not run.dry:
        # Items left for being modified just now: a watched job has no event to come
        # back for them, so the engine starts it again then.
        result["look_again_at"] = run.ripe_at + 1
    warnings = _warnings(run)
    if warnings:
        result["warnings"] = warnings
    if not run.dry and t.acted == 0 and run.action_errors:
        raise JobFailed(f"{summary}. {_errors_text(run)}", retry=False, result=result)
    return result


def _errors_text(run: Runner) -> str:
    errors = [p for p in run.tally.problems if p["kind"] == "error"]
    text = "; ".join(f"{p['path']}: {p['reason']}" for p in errors[:_LISTED_ERRORS])
    more = run.tally.errors - min(len(errors), _LISTED_ERRORS)
    return text + (f"; and {more:,} more (see the log)" if more > 0 else "")


def _warnings(run: Runner) -> list[str]:
    """Errors and skips beside what was done, each kind of them in one line."""
    t, out = run.tally, []
    if t.errors:
        out.append(f"{plural(t.errors, 'error')}: {_errors_text(run)}")
    skipped = {why: n for why, n in t.skipped.items() if why not in _HARMLESS_SKIPS}
    if skipped:
        n = sum(skipped.values())
        why = ", ".join(f"{k:,} {w}" if len(skipped) > 1 else w
                        for w, k in sorted(skipped.items(), key=lambda kv: -kv[1]))
        out.append(f"{'would skip' if run.dry else 'skipped'} {plural(n, t.noun)} ({why}); "
                   f"they are left as they are")
    return out
