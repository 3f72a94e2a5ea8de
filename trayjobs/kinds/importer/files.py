"""Setting a source file aside after its run: ``processed/`` or ``failed/``.

The source is never changed: it is moved (renamed, or copied then removed
across drives) under a name that does not clash, and a failed one gets a short
``NAME.error.txt`` beside it saying why.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from .params import LEAVE

__all__ = ["move_aside", "destination"]


def destination(path: Path, folder: str) -> Path | None:
    if folder == LEAVE:
        return None
    target = Path(folder).expanduser()
    return target if target.is_absolute() else path.parent / target


def _free_name(folder: Path, name: str) -> Path:
    target = folder / name
    stem, dot, ext = name.partition(".")
    n = 2
    while target.exists() or (folder / f"{target.name}.error.txt").exists():
        target = folder / f"{stem} ({n}){dot}{ext}"
        n += 1
    return target


def move_aside(path: Path, folder: str, *, error: str | None = None, run_id: int = 0,
               job: str = "") -> Path | None:
    """Move ``path`` into ``folder`` (relative to its own folder); the new path, or None."""
    where = destination(path, folder)
    if where is None or not path.exists():
        return None
    where.mkdir(parents=True, exist_ok=True)
    target = _free_name(where, path.name)
    shutil.move(str(path), str(target))
    if error is not None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        note = (f"{path.name} was not imported.\n\n{error}\n\n"
                f"Job {job!r}, run {run_id}, {stamp}. The file itself is unchanged; fix it (or "
                f"the job's settings) and import it again.\n")
        target.with_name(target.name + ".error.txt").write_text(note, encoding="utf-8")
    return target
