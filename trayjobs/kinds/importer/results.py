"""What became of each file of an import run, and the run's summary in words.

A :class:`FileResult` per file (a workbook's: one per sheet, then one for the file), the
warnings a person should read about it, and the one-line summary of the whole run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .plan import Plan

__all__ = ["FileResult", "warnings_of", "imports_of", "whole_workbook", "summarize", "plural"]


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


@dataclass
class FileResult:
    file: str
    status: str  # imported | resumed | skipped | failed
    table: str | None = None
    rows: int = 0
    rejected: int = 0
    import_id: int | None = None
    message: str = ""
    note: str = ""
    moved_to: str | None = None
    retry: bool = False
    details: dict[str, Any] = field(default_factory=dict)
    #: What went in, but not as the file said (see :func:`warnings_of`).
    warnings: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return Path(self.file).name


def warnings_of(result: FileResult) -> list[str]:
    """What a person should know about a file that went in (a failed one is an error)."""
    if result.status == "failed":
        return []
    out = []
    if result.status == "skipped":
        out.append(f"{result.name}: {result.message}")
    elif result.rejected:
        of = result.rows + result.rejected
        out.append(f"{result.name}: {result.rejected:,} of {plural(of, 'row')} rejected "
                   f"(set aside in table _rejected, with the reason for each)")
    elif not result.rows and result.status == "imported":
        why = {"header only": "it holds a header line and no records"}.get(
            result.note, result.note or "no records")
        out.append(f"{result.name}: no rows imported: {why}; is it the file you meant?")
    return out + result.warnings


def imports_of(result: FileResult) -> list[int]:
    """The ledger ids a file's result stands for (a workbook's: one per sheet)."""
    parts = result.details.get("sheets") or [asdict(result)]
    return [p["import_id"] for p in parts if p["status"] in ("imported", "resumed")]


def whole_workbook(path: Path, plan: Plan, results: list[FileResult]) -> FileResult:
    """One result for the file from its sheets' results."""
    if len(results) == 1:
        result = results[0]
        result.details.setdefault("format", plan.format)
        result.details["sheets"] = [asdict(result)]
        return result
    statuses = {r.status for r in results}
    status = next(s for s in ("failed", "imported", "resumed", "skipped") if s in statuses)
    done = [r for r in results if r.status in ("imported", "resumed")]
    failed = [r for r in results if r.status == "failed"]
    return FileResult(
        str(path), status, ", ".join(dict.fromkeys(r.table for r in results if r.table)),
        rows=sum(r.rows for r in done), rejected=sum(r.rejected for r in done),
        import_id=next((r.import_id for r in done), None),
        message="; ".join(r.message for r in (failed or results)),
        retry=bool(failed) and all(r.retry for r in failed),
        details={"format": plan.format, "sheets": [asdict(r) for r in results]},
        warnings=[w for r in results for w in r.warnings])


def summarize(results: list[FileResult]) -> str:
    done = [r for r in results if r.status in ("imported", "resumed")]
    rows = sum(r.rows for r in done)
    rejected = sum(r.rejected for r in done)
    tables = sorted({r.table for r in done if r.table})
    text = f"{plural(rows, 'row')} imported"
    if len(tables) == 1:
        text += f" into {tables[0]}"
    elif tables:
        text += f" into {len(tables)} tables"
    upserts = [r.details for r in done if "updated" in (r.details or {})]
    new, updated, repeated = (sum(d[k] for d in upserts) for k in ("new", "updated", "repeated"))
    if updated or repeated:  # an upsert's rows are not all new rows of the table
        text += f" ({new:,} new, {updated:,} updated"
        if repeated:
            text += f"; {plural(repeated, 'row')} repeated a key given before, the last one kept"
        text += ")"
    if rejected:
        text += f", {rejected:,} rejected (table _rejected)"
    notes = {r.note for r in done if r.note}
    if len(results) == 1 and notes:
        text += f" ({notes.pop()})"
    skipped = sum(r.status == "skipped" for r in results)
    failed = sum(r.status == "failed" for r in results)
    if skipped:
        text += f"; {plural(skipped, 'file')} already imported"
    if failed:
        text += f"; {failed} of {plural(len(results), 'file')} failed"
    elif len(results) > 1:
        text = f"{len(results)} files: {text}"
    return text
