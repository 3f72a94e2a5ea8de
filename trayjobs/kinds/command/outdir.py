"""A command run's output folder (``$TRAYJOBS_OUTPUT_DIR``): made ready before the program
starts (never holding an earlier run's files), and the files the program left in it listed
as the run's outputs once it has ended."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable

from ...errors import JobFailed
from ...textfmt import path_text

__all__ = ["SPARE", "make_output_dir", "outputs"]


#: An empty output folder kept in ``outputs/`` for the next run, which renames it to its own
#: (most runs write no outputs). A folder made and removed each run cost milliseconds where
#: the file system was busy (a journal commit of the run store's writes, say): a rename
#: of a folder in the same parent is a fraction of that.
SPARE = ".empty"


def make_output_dir(folder: Path, *, fresh: bool = True,
                     warn: Callable[[str], None] = lambda message: None) -> None:
    """``folder`` made ready for a run: the spare renamed to it, or made. On a run's first
    attempt it must hold nothing: what is there already (a run of the same number in
    another history, before ``trayjobs cluster join`` or ``leave``; a link put in its place)
    would be listed as this run's outputs and handed to the next job. It is moved aside,
    never deleted, and the run's log says where to."""
    try:
        os.rename(folder.parent / SPARE, folder)  # fails if there is none, or folder has files
        return
    except OSError:
        pass
    if fresh and _taken(folder):
        stamp = f"{folder.name}.earlier-{time.strftime('%Y%m%d-%H%M%S')}"
        aside, n = folder.with_name(stamp), 1
        while os.path.lexists(aside):
            n += 1
            aside = folder.with_name(f"{stamp}-{n}")
        try:
            os.rename(folder, aside)
        except OSError as exc:
            raise JobFailed(f"the run's output folder {folder} holds files of an earlier run "
                            f"and cannot be moved aside ({exc.strerror or exc}); move or "
                            f"remove it, then run the job again", retry=False) from None
        warn(f"the output folder {folder} already held files of an earlier run (of another "
             f"run history, or put there by hand): they were moved to {aside}, so that this "
             f"run's outputs are its own")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = next((p for p in (folder, *folder.parents)
                        if os.path.lexists(p) and not p.is_dir()), folder)
        what = "a file, not a folder" if blocker.is_file() else "not a folder"
        raise JobFailed(f"the run's output folder {folder} cannot be made: {blocker} is "
                        f"{what}; move it away", retry=False) from None


def _taken(folder: Path) -> bool:
    """Is there something at ``folder`` other than an empty folder (a link is never
    followed: whatever it points to is not this run's)?"""
    try:
        if os.path.islink(folder) or not folder.is_dir():
            return os.path.lexists(folder)
        with os.scandir(folder) as entries:
            return next(entries, None) is not None
    except OSError:
        return False


def outputs(folder: Path, warn: Callable[[str], None] = lambda message: None) -> list[str]:
    """The files a run wrote in its output folder, which goes back as the next run's spare
    if it is empty (as it is after most runs: one look, not a walk of the folder).

    The program has ended well by now: what it left that cannot be listed (folders nested
    past the longest path the system takes, one it made unreadable) is named in a warning,
    never a failure of the run, which would run the program again on a retry."""
    try:
        with os.scandir(folder) as entries:
            empty = next(entries, None) is None
    except OSError:
        return []
    if empty:
        _keep_as_spare(folder)
        return []
    # (A folder holding only empty folders the program made is left as it is.)
    found: list[str] = []
    problems: list[OSError] = []
    folders = [str(folder)]  # a list, not recursion: folders may nest thousands deep
    while folders:
        top = folders.pop()
        try:
            with os.scandir(top) as entries:
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=False):  # a link is not entered
                            folders.append(entry.path)
                        elif entry.is_file():
                            found.append(entry.path)
                    except OSError as exc:
                        problems.append(exc)
        except OSError as exc:
            problems.append(exc)
    if problems:
        first = problems[0]
        where = path_text(os.fsdecode(first.filename)) if first.filename else str(folder)
        warn(f"the files the program left in {folder} could not all be listed as its "
             f"outputs ({len(problems)} place{'s' if len(problems) != 1 else ''}; first "
             f"{_short(where)}: {first.strerror or first})")
    return sorted(found)


def _keep_as_spare(folder: Path) -> None:
    try:
        os.rename(folder, folder.parent / SPARE)  # replaces a spare another run put back
    except OSError:
        pass


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"
