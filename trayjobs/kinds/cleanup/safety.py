"""Which folders a cleanup may tidy, and the checks that keep it inside them.

A location is refused when tidying it could break the system or sweep up a
whole account: the filesystem root, the home folder itself (or anything
above it), and the operating system's own folders; :mod:`trayjobs.places`
decides that for every kind (``danger``, ``expand`` are its). A trash, the
home one or a drive's, is refused too, and no opt-in allows it (``in_trash``).
``inside`` is the one test every action's source passes before anything is touched.
"""

from __future__ import annotations

import os

from ...places import danger, expand
from .freedesktop import trash_holding

__all__ = ["danger", "expand", "in_trash", "inside"]


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def inside(path: str, roots: tuple[str, ...]) -> bool:
    """True when the real path of ``path`` lies in one of the (real) ``roots``."""
    real = os.path.realpath(path)
    return any(_within(real, root) for root in roots)


def in_trash(path: str) -> str | None:
    """Why ``path`` (resolved) may not be tidied nor filled: it is in a trash. Else None."""
    trash = trash_holding(os.path.realpath(expand(path)))
    if trash is None:
        return None
    return (f"is in the trash ({trash}): tidying it, or putting files there, loses what the trash "
            f"keeps to put files back; empty the trash from your file manager instead")
