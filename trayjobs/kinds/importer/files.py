"""Setting a source file aside after its run: ``processed/`` or ``failed/``.

The source is never changed: it is moved (renamed, or copied then removed
across drives) under a name that does not clash, and a failed one gets a short
``NAME.error.txt`` beside it saying why.

Only what the run imported or failed is moved: never a folder or a special file
named as input, never a file that changed since the run read it (a newer export
saved under the same name), and never into a dangerous folder (see
:mod:`trayjobs.places`) unless the job allows it.
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

from ...places import danger, expand
from ..cleanup.fsops import fit_name, move_at
from ...textfmt import escape_undecodable
from .params import LEAVE
from .streams import FileStamp

__all__ = ["move_aside", "destination", "note_path", "NotMoved"]


class NotMoved(Exception):
    """The file stays where it is; ``str(exc)`` says why."""


def destination(path: Path, folder: str) -> Path | None:
    if folder == LEAVE:
        return None
    return Path(expand(folder, str(path.parent)))


def _check_source(path: Path, seen: FileStamp | None) -> bool:
    """False if there is nothing at ``path`` any more; NotMoved if it must stay."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    if stat.S_ISDIR(st.st_mode):
        raise NotMoved("it is a folder, not a file")
    if stat.S_ISLNK(st.st_mode):
        return True  # the link itself moves; what it points to stays
    if not stat.S_ISREG(st.st_mode):
        raise NotMoved("it is not a regular file")
    if seen is not None and not seen.same_file(st):
        raise NotMoved("it changed after this run read it")
    return True


def note_path(target: Path) -> Path:
    """Where the note saying why ``target`` failed goes: ``NAME.error.txt``, its name cut to
    the longest a folder allows (255 bytes) for a file whose own name is that long."""
    return target.with_name(fit_name(target.name, ".error.txt"))


def _free_name(folder: Path, name: str) -> Path:
    target = folder / name
    stem, dot, ext = name.partition(".")
    n = 2
    # lexists: a link there (one that points nowhere yet too) is a name taken, never a way
    # to write somewhere else
    while os.path.lexists(target) or os.path.lexists(note_path(target)):
        target = folder / fit_name(stem, f" ({n}){dot}{ext}")  # a long name cut to fit
        n += 1
    return target


def _not_a_folder(where: Path) -> str:
    """What stands in the way of making the folder ``where``."""
    for here in (where, *where.parents):
        if os.path.lexists(here) and not here.is_dir():
            return f"{here} is a file, not a folder" if here.is_file() else \
                f"{here} is not a folder"
    return f"{where} cannot be made"


def _move(path: Path, where: Path) -> Path:
    """Move ``path`` into the folder ``where`` under a free name; the new path. Another
    drive's copy goes under a hidden name first and takes its own only once complete: a
    full disk leaves no half file that would pass for the source, which stays whole. A
    name taken meanwhile is never replaced: the next free one is tried."""
    flags = os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0)
    src_fd = os.open(path.parent, flags)
    try:
        dst_fd = os.open(where, flags)
        try:
            for _ in range(100):
                target = _free_name(where, path.name)
                try:
                    move_at(src_fd, path.name, dst_fd, target.name)
                    return target
                except FileExistsError:
                    continue  # taken between the look and the move
            raise NotMoved(f"no free name for it in {where}")
        finally:
            os.close(dst_fd)
    finally:
        os.close(src_fd)


def move_aside(path: Path, folder: str, *, error: str | None = None, run_id: int = 0,
               job: str = "", seen: FileStamp | None = None,
               allow_dangerous: bool = False) -> Path | None:
    """Move ``path`` into ``folder`` (relative to its own folder); the new path, or None.

    ``seen`` is the file as the run read it. Raises :class:`NotMoved` when the file must
    stay where it is.
    """
    where = destination(path, folder)
    if where is None or not _check_source(path, seen):
        return None
    why = None if allow_dangerous else danger(str(where))
    if why:
        raise NotMoved(f"{where} {why} (allow_dangerous_location is off)")
    try:
        where.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        key = "failed_dir" if error is not None else "processed_dir"
        raise NotMoved(f"{_not_a_folder(where)}; move it away or set {key} to a folder") from None
    target = _move(path, where)
    if error is not None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        note = (f"{path.name} was not imported.\n\n{error}\n\n"
                f"Job {job!r}, run {run_id}, {stamp}. The file itself is unchanged; fix it (or "
                f"the job's settings) and import it again.\n")
        # A name that is not UTF-8 is written as its escapes ("caf\\xe9.csv"), as logged.
        try:
            _write_new(note_path(target), escape_undecodable(note))
        except OSError:
            pass  # the file is moved all the same: the run's log says why it failed
    return target


def _write_new(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, a name that must be free: a link or a file that took it
    since it was chosen is never written through nor over (the note is then not written)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) \
        | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o644)
    except FileExistsError:
        return
    with open(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
