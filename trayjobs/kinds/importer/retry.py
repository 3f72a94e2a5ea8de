"""What a retry of an ended import runs on: its files, put back where they were.

A run sets each file aside when it ends: a failed one into ``failed/`` (with a
``NAME.error.txt``), an imported one into ``processed/``. The failed run keeps
where each went (its result's ``files``), so its retry moves the failed files
back into place and leaves out those already imported. A run that kept no
result (from an older version) is matched by the ``NAME.error.txt`` that names
it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ...errors import UserError
from ..cleanup.fsops import move_at
from .files import destination, note_path
from .params import ImportParams

__all__ = ["files_for_retry"]

DONE = ("imported", "resumed", "skipped")


def files_for_retry(params: ImportParams, run: dict[str, Any]) -> list[str] | None:
    files = (run.get("inputs") or {}).get("files") or []
    if not files:
        return None
    result = run.get("result") if isinstance(run.get("result"), dict) else {}
    outcome = {str(f.get("file")): f for f in result.get("files") or [] if isinstance(f, dict)}
    use, done = [], []
    for name in files:
        path = Path(name)
        info = outcome.get(name, {})
        if path.exists():
            use.append(name)
            continue
        if info.get("status") in DONE:
            done.append(path.name)  # in the table already: nothing to redo
            continue
        moved = _moved(path, params, info.get("moved_to"), run["id"])
        if moved is None:
            where = destination(path, params.failed_dir)
            raise UserError(f"cannot retry run {run['id']}: {path.name} is neither at {path} "
                            f"nor in {where or 'its folder'} any more; put it back and retry")
        _put_back(moved, path, run["id"])
        use.append(name)
    if not use:
        raise UserError(f"nothing to retry in run {run['id']}: its files were imported "
                        f"({', '.join(done)})")
    return use


def _moved(path: Path, params: ImportParams, moved_to: str | None, run_id: int) -> Path | None:
    """Where the run set ``path`` aside, if it is still there."""
    if moved_to:
        return Path(moved_to) if Path(moved_to).is_file() else None
    folder = destination(path, params.failed_dir)
    if folder is None or not folder.is_dir():
        return None
    stem, dot, ext = path.name.partition(".")
    for candidate in [folder / path.name] + sorted(folder.glob(f"{stem} (*){dot}{ext}")):
        note = note_path(candidate)
        try:
            if candidate.is_file() and f", run {run_id}, " in note.read_text(encoding="utf-8"):
                return candidate
        except OSError:
            continue
    return None


def _put_back(moved: Path, path: Path, run_id: int) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # never over a file that arrived under its name since, nor half a copy on a full disk
        flags = os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0)
        src_fd = os.open(moved.parent, flags)
        try:
            dst_fd = os.open(path.parent, flags)
            try:
                move_at(src_fd, moved.name, dst_fd, path.name)
            finally:
                os.close(dst_fd)
        finally:
            os.close(src_fd)
    except FileExistsError:
        raise UserError(f"cannot retry run {run_id}: a file arrived at {path} since; move "
                        f"it away, or put {moved} back by hand") from None
    except OSError as exc:
        raise UserError(f"cannot retry run {run_id}: {moved} could not be put back at {path}: "
                        f"{exc.strerror or exc}") from None
    note_path(moved).unlink(missing_ok=True)
