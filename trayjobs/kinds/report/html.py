"""The HTML report: a Jinja2 template in a sandbox, autoescaped.

The default template ships as package data; a custom one is read from the
user's folder and may ``{% extends "default.html.j2" %}`` to change only some
blocks. Templates see plain data only (see :func:`context`): no objects with
methods that reach the file system or the app.
"""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Any

from jinja2 import (ChoiceLoader, FileSystemLoader, PackageLoader, StrictUndefined,
                    TemplateError, TemplateNotFound, TemplateSyntaxError)
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from ...errors import JobFailed
from .view import SectionView

__all__ = ["render_html", "context", "DEFAULT_TEMPLATE"]

DEFAULT_TEMPLATE = "default.html.j2"
HTML_FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', sans-serif"


def _environment(user_dir: Path | None) -> SandboxedEnvironment:
    loaders = [PackageLoader("trayjobs.kinds.report", "templates")]
    if user_dir is not None:
        loaders.insert(0, FileSystemLoader(str(user_dir)))
    env = SandboxedEnvironment(loader=ChoiceLoader(loaders), autoescape=True,
                               undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                               auto_reload=False)
    env.filters["number"] = lambda n: f"{n:,}" if isinstance(n, (int, float)) else n
    return env


def _section(v: SectionView) -> dict[str, Any]:
    return {
        "index": v.index, "id": v.anchor, "title": v.title, "note": v.note, "show": v.show,
        "columns": list(v.columns), "rows": v.rows, "raw_rows": [list(r) for r in v.raw_rows],
        "numeric": v.numeric, "total_rows": v.total_rows, "shown_rows": v.shown_rows,
        "truncated": v.truncated, "empty": v.empty, "csv": v.csv_name,
        "figures": [{"label": k, "value": val} for k, val in v.figures],
        # The SVG is built from escaped text by charts.py, so it is safe as markup.
        "chart": Markup(v.svg(font=HTML_FONT)) if v.show in ("bar", "line") else None,
        "chart_note": v.chart_note,
    }


def context(report: dict[str, Any], views: list[SectionView]) -> dict[str, Any]:
    """What a template sees: ``report`` (title, period, generated, ...) and ``sections``."""
    return {"report": report, "sections": [_section(v) for v in views]}


def render_html(report: dict[str, Any], views: list[SectionView], *,
                template: Path | None = None) -> str:
    env = _environment(template.parent if template else None)
    name = template.name if template else DEFAULT_TEMPLATE
    where = str(template) if template else DEFAULT_TEMPLATE
    try:
        return env.get_template(name).render(context(report, views))
    except TemplateNotFound as exc:
        raise JobFailed(f"template {where}: cannot find {exc.name!r}", retry=False) from None
    except TemplateSyntaxError as exc:
        raise JobFailed(f"template {exc.filename or where}, line {exc.lineno}: {exc.message}",
                        retry=False) from None
    except TemplateError as exc:  # e.g. {{ nothing.here }}: say on which line, as below
        line = _template_line(exc)
        raise JobFailed(f"template {where}{f', line {line}' if line else ''}: {exc}",
                        retry=False) from None
    except UnicodeDecodeError as exc:
        raise JobFailed(f"template {where}: not UTF-8 text ({exc.reason} at byte {exc.start}); "
                        f"save it as UTF-8", retry=False) from None
    except Exception as exc:  # noqa: BLE001 - the template's own code failed (1/0, int("x"))
        # The same template fails the same way on every attempt: no retry, and the person
        # is told where in their template it went wrong instead of seeing a traceback.
        line = _template_line(exc)
        raise JobFailed(f"template {where}{f', line {line}' if line else ''}: "
                        f"{type(exc).__name__}: {exc}", retry=False) from None


def _template_line(exc: BaseException) -> int | None:
    """The template line an error was raised on (Jinja puts template frames in tracebacks)."""
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename.endswith(".j2") or frame.filename == "<template>":
            line = frame.lineno
    return line
