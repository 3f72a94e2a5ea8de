"""``report``: turns local data into documents a person wants to open.

Each section's query runs read-only against the import database, another
SQLite file, or trayjobs' own run history (its view ``runs_v1``, wherever the history is:
see :mod:`.history`); the results become one HTML file
(charts embedded, nothing fetched from the network), a CSV per section and a
PDF, written under ``reports/<job>/`` with ``<job>-latest.*`` copies.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...context import JobContext
from ...errors import JobFailed
from ..base import JobKind
from ..registry import register
from .params import ReportParams, SectionParams, resolve_database

if TYPE_CHECKING:  # the modules that make a report are imported when one is made
    from .files import ReportFiles
    from .query import Databases, SectionResult

__all__ = ["ReportKind", "ReportParams", "SectionParams"]


@register
class ReportKind(JobKind):
    name = "report"
    summary = "Runs read-only SQL over your data or the run history; writes HTML, CSV and PDF."
    Params = ReportParams
    plural = "reports"
    idempotent = True
    run_params = frozenset({"period"})  # "make last quarter's report now"

    def run(self, ctx: JobContext, params: ReportParams) -> dict[str, Any]:
        from .files import ReportFiles, folder_error, slugify
        from .periods import resolve_period
        from .query import Databases, cut_note
        from .view import make_view
        now = datetime.now()
        period = resolve_period(params.period, today=now.date())
        title = params.display_title(ctx.job)
        from .history import RunsHistory
        dbs = Databases(cancelled=lambda: ctx.cancelled,
                        runs=RunsHistory(ctx.home, cancelled=lambda: ctx.cancelled))
        files = ReportFiles(ctx.home.reports_dir, ctx.job, now=now, run_id=ctx.run_id)
        warnings: list[str] = []  # what the person would miss reading the report
        try:
            template = self._template(ctx, params)
            sections, notes = self._sections(ctx, params, dbs)
            results = self._query(ctx, params, sections, period.params(), dbs, files)
            # A section whose database is not there (yet) shows "no data": said, as the
            # person may not notice; a query that found no rows for the period is an answer.
            warnings += [f"section {r.section.title!r}: {r.missing}"
                         for r in results if r.missing]
            warnings += [f"section {r.section.title!r}: {cut_note(r)}" for r in results if r.cut]
            warnings += [_unused_formats(r) for r in results if _unused_formats(r)]
            warnings += [f"section {r.section.title!r}: {r.bad_text:,} text "
                         f"value{'s' * (r.bad_text != 1)} not in UTF-8; bytes that could not "
                         f"be read are shown as �" for r in results if r.bad_text]
            ctx.progress(len(sections), len(sections) + 1, "writing files", "sections")
            report = {
                "title": title, "period": period.label, "start": period.first.isoformat(),
                "end": period.last.isoformat(), "generated": f"{now:%d %b %Y %H:%M}".lstrip("0"),
                "job": ctx.job, "run_id": ctx.run_id, "note": " ".join(notes),
            }
            views = [make_view(i, f"s{i + 1}-{slugify(r.section.title, limit=30)}", r,
                               csv_name=r.csv_path.name if r.csv_path else None)
                     for i, r in enumerate(results)]
            html_name = pdf_name = None
            if "html" in params.formats:
                from .html import render_html
                html_name = files.name("html")
                text = render_html(report, views, template=template)
                files.path(html_name).write_text(text, encoding="utf-8")
            if "pdf" in params.formats:
                from .pdf import PDF_MAX_ROWS, render_pdf
                pdf_name = files.name("pdf")
                for v in views:
                    if v.show == "table" and not v.empty and v.shown_rows > PDF_MAX_ROWS:
                        ctx.log(f"PDF: section {v.title!r} prints its first {PDF_MAX_ROWS:,} rows "
                                f"(a PDF table stops there); the HTML shows {v.shown_rows:,}, "
                                f"the CSV every row")
                step = len(sections)
                missing = render_pdf(
                    report, views, files.path(pdf_name), check_cancelled=ctx.check_cancelled,
                    on_section=lambda v: ctx.progress(step, step + 1, f"writing the PDF: "
                                                      f"{v.title}", "sections"))
                if missing:
                    shown = " ".join(f"{c} (U+{ord(c):04X})" for c in sorted(missing)[:12])
                    more = f" and {len(missing) - 12} more" if len(missing) > 12 else ""
                    warning = (f"PDF: no installed font has {shown}{more}; printed as a "
                               f"placeholder. The HTML and CSV files have the text.")
                    ctx.log(warning, level="warning")
                    warnings.append(warning)
            ctx.check_cancelled()
            written = files.commit(keep=params.keep)
            for note in files.not_pruned:
                ctx.log(note, level="warning")
                warnings.append(note)
        except OSError as exc:
            files.discard()
            if exc.filename and files.dir in (Path(exc.filename), *Path(exc.filename).parents):
                raise folder_error(files.dir, exc) from None  # e.g. the disk is full
            raise
        except BaseException:
            files.discard()
            raise
        finally:
            dbs.close()
        ctx.progress(len(sections) + 1, len(sections) + 1, "done", "sections")

        order = {html_name: 0, pdf_name: 1}
        outputs = sorted(written, key=lambda p: order.get(p.name, 2))
        main = outputs[0] if outputs else None
        latest = files.dir / files.latest_name(main.name) if main else None
        rows = sum(r.row_count for r in results)
        if not results or all(r.missing for r in results):
            content = "no data yet"
        else:
            content = (f"{len(results)} section{'s' * (len(results) != 1)}, {rows:,} "
                       f"row{'s' * (rows != 1)}")
        summary = f"{title}: {content}" + (f" → {main.name}" if main else "")
        ctx.log(summary)
        result = {
            "summary": summary,
            "outputs": [str(p) for p in outputs],
            "latest": str(latest) if latest else None,
            "open": str(latest) if latest else None,
            "folder": str(files.dir),
            "sections": [{"title": r.section.title, "rows": r.row_count,
                          "csv": str(files.dir / r.csv_path.name) if r.csv_path else None}
                         for r in results],
            "period": {"name": period.name, "start": period.first.isoformat(),
                       "end": period.last.isoformat()},
        }
        if warnings:
            result["warnings"] = warnings
        return result

    @staticmethod
    def _sections(ctx: JobContext, params: ReportParams,
                  dbs: Databases) -> tuple[list[SectionParams], list[str]]:
        """The built-in report's sections (if any) then the job's own, and report-wide notes."""
        from .builtin import imported_data, job_activity
        found: list[SectionParams] = []
        note = None
        if params.builtin == "job-activity":
            found, note = job_activity(dbs.get(ctx.home.runs_db))
        elif params.builtin == "imported-data":
            db = dbs.get(resolve_database(params.database, ctx.home))
            found, note = imported_data(db, params.database)
        return found + list(params.sections), [note] if note else []

    @staticmethod
    def _query(ctx: JobContext, params: ReportParams, sections: list[SectionParams],
               values: dict[str, Any], dbs: Databases, files: ReportFiles) -> list[SectionResult]:
        from .query import cut_note, run_section
        results = []
        for i, section in enumerate(sections):
            ctx.check_cancelled()
            ctx.progress(i, len(sections) + 1, section.title, "sections")
            db = dbs.get(resolve_database(section.database or params.database, ctx.home))
            csv_path = files.path(files.name("csv", section.title)) if "csv" in params.formats else None
            result = run_section(db, section, values, csv_path=csv_path,
                                 formula_guard=params.csv_formula_guard, bom=params.csv_bom)
            if result.missing:
                ctx.log(f"section {section.title!r}: {result.missing}", level="warning")
            if result.cut:
                ctx.log(f"section {section.title!r}: {cut_note(result)}", level="warning")
            results.append(result)
        return results

    @staticmethod
    def _template(ctx: JobContext, params: ReportParams) -> Path | None:
        if not params.template:
            return None
        path = Path(params.template).expanduser()
        if not path.is_absolute():
            path = ctx.home.config_dir / path
        if not path.is_file():
            what = ("a folder" if path.is_dir() else "a named pipe" if path.is_fifo()
                    else "not a regular file" if os.path.lexists(path) else None)
            if what is None:
                raise JobFailed(f"template {path} not found", retry=False)
            raise JobFailed(f"template {path} is {what}, not a template file; set template "
                            f"to a .html.j2 file", retry=False)
        return path


def _unused_formats(result: SectionResult) -> str | None:
    """What to say of ``format`` keys that name no column of the query (a typo, or
    ``Total`` for ``total``): their columns were shown unformatted, without a word."""
    if result.missing or not result.columns:
        return None
    unused = [k for k in result.section.format if k not in result.columns]
    if not unused:
        return None
    names = ", ".join(repr(k) for k in unused)
    return (f"section {result.section.title!r}: format names {names}, which the query does "
            f"not give (its columns: {', '.join(result.columns)}); names must match exactly")
