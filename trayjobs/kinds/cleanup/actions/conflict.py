"""Where an item goes when its destination is taken: skip | rename | overwrite."""

from __future__ import annotations

import os
import stat

from ..fsops import NAME_MAX, fit_name
from .base import Item, Skip, Workspace, item_from_stat

__all__ = ["fits", "not_inside_itself", "resolve", "unique"]


def _taken(path: str, ws: Workspace) -> bool:
    return path in ws.claimed or os.path.lexists(path)


def unique(path: str, ws: Workspace, *, is_dir: bool = False) -> str:
    """``path``, or ``name (1).ext``, ``name (2).ext``, ... whichever is free first."""
    head, tail = os.path.split(path)
    stem, suffix = (tail, "") if is_dir else os.path.splitext(tail)
    n = 1
    while _taken(path, ws):
        path = os.path.join(head, fit_name(stem, f" ({n}){suffix}"))  # a long name is cut to fit
        n += 1
    return path


def not_inside_itself(item: Item, target: str) -> None:
    """A folder cannot go inside itself: a copy would copy its own copy without end, and the
    system refuses such a move with a bare "Invalid argument"."""
    if item.is_dir and target.startswith(item.path.rstrip(os.sep) + os.sep):
        raise Skip("the destination is inside the folder itself")


def fits(target: str) -> None:
    """A template can make a name longer than a folder allows ("{date} {name}" of a long name):
    found while planning, so the preview says so instead of promising what the run cannot do."""
    for part in target.split(os.sep):
        size = len(os.fsencode(part))
        if size > NAME_MAX:
            raise Skip(f"the new name would be {size} bytes long; a name may have {NAME_MAX}")


def resolve(item: Item, target: str, ws: Workspace) -> None:
    """Settle ``item.dest`` (and what it replaces) according to the job's conflict policy."""
    if target == item.path:
        raise Skip("already in place")
    fits(target)
    not_inside_itself(item, target)
    if not _taken(target, ws):
        item.dest = target
    elif ws.conflict == "skip":
        raise Skip("already exists")
    elif ws.conflict == "rename" or target in ws.claimed:
        # overwrite never replaces what this same run has just put there
        item.dest = unique(target, ws, is_dir=item.is_dir)
    else:
        st = os.lstat(target)  # what is there itself: a link is never followed
        is_link = stat.S_ISLNK(st.st_mode)
        in_the_way_is_dir = stat.S_ISDIR(st.st_mode)
        if is_link and item.is_dir:
            # A file replaces a link as it replaces a file (the link itself goes to the trash);
            # a whole folder does not take the place of what may be a shortcut elsewhere.
            raise Skip("a symbolic link is at the destination; a folder does not replace one "
                       "(the link is left as it is, and not followed)")
        if in_the_way_is_dir != item.is_dir:
            raise Skip("a folder is in the way" if in_the_way_is_dir else "a file is in the way")
        item.dest = target
        item.replaces = item_from_stat(target, os.path.dirname(target), st, is_dir=in_the_way_is_dir,
                                       is_link=is_link)
        item.replaces.action = "trash"
        item.replaces.note = f"replaced by {item.path}"
    ws.claimed.add(item.dest)
