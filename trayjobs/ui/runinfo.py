"""What the run details show, worked out without widgets: links to a run's output,
the thing "Open output" opens, and the job's parameters as TOML."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tomlkit

__all__ = ["Link", "result_links", "main_output", "params_text", "run_params_line",
           "attempt_lines", "REJECTED_SCHEME"]

REJECTED_SCHEME = "trayjobs-rejected"

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
        parts.append(tomlkit.dumps(job_raw).strip())
    else:
        parts.append("# the job is no longer in the config file")
    if inputs:
        doc = tomlkit.document()
        doc.add(tomlkit.comment("this run's inputs"))
        for k, v in inputs.items():
            doc[k] = v
        parts.append(tomlkit.dumps(doc).strip())
    return "\n\n".join(parts) + "\n"


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
