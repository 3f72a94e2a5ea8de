"""What the run details show, worked out without widgets: links to a run's output,
the thing "Open output" opens, the job's parameters as TOML, and the runs it is linked
to (the run whose hook started it, the runs its hooks started)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tomlkit

from ..textfmt import started_by_how

__all__ = ["Link", "result_links", "main_output", "params_text", "run_params_line",
           "attempt_lines", "REJECTED_SCHEME", "RUN_SCHEME", "run_link", "linked_run",
           "trigger_html", "started_runs_html"]

REJECTED_SCHEME = "trayjobs-rejected"
#: A link to another run's details ("trayjobs-run:12").
RUN_SCHEME = "trayjobs-run"

Link = tuple[str, str]  # (label, url)


def _file_url(path: str | Path) -> str:
    return Path(path).absolute().as_uri()


def _result(run: dict[str, Any]) -> dict[str, Any]:
    r = run.get("result")
    return r if isinstance(r, dict) else {}


def result_links(run: dict[str, Any]) -> list[Link]:
    """Links the details offer: report files, processed and failed files, the database,
    the rejected (quarantined) rows, cleanup destinations. Read from the result alone,
    so a plug-in kind whose result has the same keys gets the same links."""
    r = _result(run)
    links: list[Link] = []
    for out in r.get("outputs") or []:
        links.append((Path(out).name, _file_url(out)))
    if r.get("folder") and r.get("outputs"):
        links.append(("report folder", _file_url(r["folder"])))
    for f in r.get("files") or []:
        if not isinstance(f, dict):
            continue
        if f.get("moved_to"):
            label = "failed file" if f.get("status") == "failed" else "processed file"
            links.append((f"{label} {Path(f['moved_to']).name}", _file_url(f["moved_to"])))
    if r.get("rejected"):
        n = int(r["rejected"])
        links.append((f"{n:,} rejected row{'s' * (n != 1)} (quarantine)",
                      f"{REJECTED_SCHEME}:{run['id']}"))
    if r.get("database"):
        links.append((f"database {Path(r['database']).name}", _file_url(Path(r["database"]).parent)))
    if r.get("done"):  # what a run did to files, with where each went (a cleanup's)
        dests = []
        for entry in (r.get("done") or [])[:200]:
            dest = entry.get("dest") if isinstance(entry, dict) else None
            if dest:
                parent = str(Path(dest).parent)
                if parent not in dests:
                    dests.append(parent)
        for d in dests[:3]:
            links.append((f"folder {d}", _file_url(d)))
    return links


def main_output(run: dict[str, Any]) -> str | None:
    """The file or folder "Open output" opens, if the run made one."""
    r = _result(run)
    if r.get("open"):
        return r["open"]
    if r.get("outputs"):
        return r["outputs"][0]
    for f in r.get("files") or []:
        if isinstance(f, dict) and f.get("moved_to"):
            return f["moved_to"]
    if r.get("database"):
        return str(Path(r["database"]).parent)
    for entry in r.get("done") or []:
        if isinstance(entry, dict) and entry.get("dest"):
            return str(Path(entry["dest"]).parent)
    return None


def params_text(job_raw: dict[str, Any] | None, inputs: dict[str, Any] | None) -> str:
    """The job's settings as they read in the config file, then the run's own inputs."""
    parts = []
    if job_raw:
        parts.append(tomlkit.dumps(_shown(job_raw)).strip())
    else:
        parts.append("# the job is no longer in the config file")
    if inputs:
        doc = tomlkit.document()
        doc.add(tomlkit.comment("this run's inputs"))
        for k, v in _no_nulls(inputs).items():
            doc[k] = v
        parts.append(tomlkit.dumps(doc).strip())
    return "\n\n".join(parts) + "\n"


def _shown(job_raw: dict[str, Any]) -> dict[str, Any]:
    """The job's settings as the window shows them: a heartbeat URL's password blanked
    out (the details are read over a shoulder, copied into a bug report)."""
    from ..alerts.channels.urlshape import without_password
    ping = job_raw.get("ping")
    if isinstance(ping, str):
        return {**job_raw, "ping": without_password(ping)}
    return job_raw


def _no_nulls(value: Any) -> Any:
    """``value`` without its None parts: TOML has no null (a hook run's ``parent`` has a
    ``summary`` of None when its parent said nothing): with one, the details did not show."""
    if isinstance(value, dict):
        return {k: _no_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_no_nulls(v) for v in value if v is not None]
    return value


def run_params_line(inputs: dict[str, Any] | None) -> str:
    """The parameters a run was given, as they read in the config: ``month = "2026-10"``."""
    params = (inputs or {}).get("params") or {}
    if not params:
        return ""
    doc = tomlkit.document()
    for k, v in params.items():
        doc[k] = v
    return ", ".join(line for line in tomlkit.dumps(doc).splitlines() if line.strip())


def attempt_lines(attempts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Attempts with their duration, for the timeline."""
    out = []
    for a in attempts:
        took = None
        if a.get("started_at") and a.get("finished_at"):
            took = a["finished_at"] - a["started_at"]
        out.append({**a, "took": took})
    return out


def _esc(s: Any) -> str:
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace(
        "'", "&#39;")


def run_link(run_id: int) -> str:
    return f"<a href='{RUN_SCHEME}:{int(run_id)}'>run {int(run_id)}</a>"


def linked_run(url: str) -> int | None:
    """The run a :func:`run_link` names; None for any other link."""
    scheme, _, rest = url.partition(":")
    return int(rest) if scheme == RUN_SCHEME and rest.isascii() and rest.isdigit() else None


def trigger_html(run: dict[str, Any]) -> str:
    """How the run came to be, the runs it follows as links: "chain (after run 12) ·
    on_failure of run 12 of backup (failed)"."""
    trig = _esc(run["trigger"])
    if run.get("retry_of") and run["trigger"] == "retry":  # not "retry (retry of run 5)"
        trig = f"retry of {run_link(run['retry_of'])}"
    elif run.get("retry_of"):
        trig += f" (retry of {run_link(run['retry_of'])})"
    if run.get("parent_run"):
        trig += f" (after {run_link(run['parent_run'])})"
    note = run.get("note")
    plain = run["trigger"] + "".join(f" ({w} run {run[k]})" for w, k in (
        ("retry of", "retry_of"), ("after", "parent_run")) if run.get(k))
    if note and note not in plain:
        trig += f" · {_esc(note)}"
    return trig


def started_runs_html(runs: list[dict[str, Any]]) -> str:
    """The runs this one's hooks started, one a line, each a link with its hook, job and
    state: "on_failure: run 57 of notify, succeeded"."""
    lines = []
    for r in runs:
        how, state = started_by_how(r)
        lines.append(f"{_esc(how)}: {run_link(r['id'])} of {_esc(r['job'])}, {_esc(state)}")
    return "<br>".join(lines)
