"""The output folders of runs (``outputs/RUN`` under the data folder, see
:meth:`~trayjobs.paths.Home.run_outputs`): removed with their runs when the history is
pruned, or they would stay on disk for ever, found by no one.

Only what trayjobs made is removed: a folder ``outputs/RUN`` under the home, reached
without following a link (``outputs`` itself or a run's folder that is a link is not
ours, and is left as it is). Inside, a program may have left anything, links to the
user's own files among them: those links are removed, never followed (``shutil.rmtree``
works through descriptors here, safe also against a link swapped in meanwhile).
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import stat
from typing import Iterable

from .paths import Home

__all__ = ["remove_run_outputs"]

log = logging.getLogger(__name__)

_DIR = os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def remove_run_outputs(home: Home, run_ids: Iterable[int]) -> int:
    """Delete the output folders of ``run_ids`` (runs gone from the history) in ``home``;
    how many went. What cannot be removed is logged and left."""
    ids = [int(r) for r in run_ids]
    if not ids:
        return 0
    root = home.run_outputs(0).parent
    try:
        fd = os.open(root, _DIR)  # not followed if a link: then it is not ours
    except OSError:
        return 0  # no run made one yet
    removed = 0
    try:
        for rid in ids:
            name = str(rid)
            try:
                st = os.lstat(name, dir_fd=fd)
            except FileNotFoundError:
                continue  # most runs write no outputs
            if not stat.S_ISDIR(st.st_mode):
                continue  # a link or a file someone put there: not a folder trayjobs made
            try:
                if shutil.rmtree.avoids_symlink_attacks:
                    try:
                        shutil.rmtree(name, dir_fd=fd)
                    except RecursionError:  # folders nested past Python's recursion
                        _remove_deep(fd, name)
                else:  # no descriptor-relative calls: by path, links still not followed
                    shutil.rmtree(root / name)
            except (OSError, RecursionError) as exc:
                log.warning("could not remove the output folder of run %s: %s", rid, exc)
                continue
            removed += 1
    finally:
        os.close(fd)
    return removed


def _remove_deep(parent_fd: int, name: str) -> None:
    """Remove the folder ``name`` in ``parent_fd`` with all it holds, however deep its
    folders nest (a program may leave thousands of levels, which ``shutil.rmtree`` goes
    through by recursion): one level at a time, down and back up, holding one descriptor.
    Links are removed, never followed; going back up, each folder must be the one that
    was entered, or the removal stops rather than act elsewhere."""
    fd = os.open(name, _DIR, dir_fd=parent_fd)
    st = os.fstat(fd)
    entered = [((st.st_dev, st.st_ino), name)]
    try:
        while True:
            sub = None
            with os.scandir(fd) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        sub = entry.name
                        break
                    os.unlink(entry.name, dir_fd=fd)
            if sub is not None:
                down = os.open(sub, _DIR, dir_fd=fd)
                os.close(fd)
                fd = down
                st = os.fstat(fd)
                entered.append(((st.st_dev, st.st_ino), sub))
                continue
            _, emptied = entered.pop()
            if not entered:
                break
            up = os.open("..", _DIR, dir_fd=fd)
            os.close(fd)
            fd = up
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) != entered[-1][0]:
                raise OSError(errno.ESTALE, "a folder in it was moved meanwhile; "
                                            "left as it is")
            os.rmdir(emptied, dir_fd=fd)
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=parent_fd)
