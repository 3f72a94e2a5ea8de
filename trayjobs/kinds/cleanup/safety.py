"""Which folders a cleanup may tidy, and the checks that keep it inside them.

A location is refused when tidying it could break the system or sweep up a
whole account: the filesystem root, the home folder itself (or anything
above it), and the operating system's own folders. ``inside`` is the one
test every action's source passes before anything is touched.
"""

from __future__ import annotations

import os

__all__ = ["danger", "expand", "inside"]

# These folders and everything below them belong to the system.
_SYSTEM_TREES = (
    "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc",
    "/run", "/sbin", "/sys", "/usr", "/System", "/private/etc",
    "C:\\Windows", "C:\\Program Files", "C:\\Program Files (x86)", "C:\\ProgramData",
)
# These folders hold other people's or the system's data: refused themselves,
# while a folder inside them (``/var/tmp/exports``) is fine.
_SHARED_FOLDERS = (
    "/var", "/var/tmp", "/tmp", "/opt", "/srv", "/mnt", "/media", "/root", "/snap",
    "/home", "/Users", "/Library", "/Applications", "/Volumes", "/private",
    "/private/var", "/private/tmp", "C:\\Users",
)


def expand(path: str) -> str:
    """``path`` with ``~`` and environment variables expanded, made absolute."""
    return os.path.abspath(os.path.expandvars(os.path.expanduser(path)))


def _key(path: str) -> str:
    return os.path.normcase(os.path.normpath(path))


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def danger(path: str) -> str | None:
    """Why tidying ``path`` would be dangerous, or ``None`` when it is an ordinary folder."""
    real = _key(os.path.realpath(expand(path)))
    if os.path.dirname(real) == real:
        return "is the root of a drive"
    home = _key(os.path.realpath(os.path.expanduser("~")))
    if real == home:
        return "is your home folder itself; name a folder inside it"
    if _within(home, real):
        return "contains your home folder"
    for tree in _SYSTEM_TREES:
        if _within(real, _key(tree)):
            return "is a system folder"
    if real in {_key(f) for f in _SHARED_FOLDERS}:
        return "is a shared system folder; name a folder inside it"
    return None


def inside(path: str, roots: tuple[str, ...]) -> bool:
    """True when the real path of ``path`` lies in one of the (real) ``roots``."""
    real = os.path.realpath(path)
    return any(_within(real, root) for root in roots)
