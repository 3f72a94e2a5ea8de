"""Which folders a cleanup may tidy, and the checks that keep it inside them.

A location is refused when tidying it could break the system or sweep up a
whole account: the filesystem root, the home folder itself (or anything
above it), and the operating system's own folders; :mod:`trayjobs.places`
decides that for every kind (``danger``, ``expand`` are its). ``inside`` is
the one test every action's source passes before anything is touched.
"""

from __future__ import annotations

import os

from ...places import danger, expand

__all__ = ["danger", "expand", "inside"]


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def inside(path: str, roots: tuple[str, ...]) -> bool:
    """True when the real path of ``path`` lies in one of the (real) ``roots``."""
    real = os.path.realpath(path)
    return any(_within(real, root) for root in roots)
