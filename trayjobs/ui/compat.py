"""Two work-arounds for PySide6 itself: a reference-counting bug, a memory-hungry import hook.

**The reference-counting bug** (PySide6 6.12 on Python 3.11 and older).

With PySide6 6.12.0 on CPython < 3.12, each call into the binding that returns
``None``, ``True`` or ``False`` (any void method, ``processEvents()``, a signal's
``emit()``) takes a reference it never gave: their reference counts fall by one
per call, and when one reaches zero the interpreter aborts ("deallocating None").
A window showing progress makes thousands of such calls a minute, so the app
would die within minutes. Python 3.12 made these objects immortal, which hides
the bug there. pyproject.toml excludes that release on older Pythons; for an
environment that has it anyway, :func:`guard_singletons` gives the three objects
a reference count so large that the leak cannot exhaust it (as 3.12 does).

**The import hook.** After ``import PySide6`` every module imported (and every one
imported before) is checked for the word "PySide6" in its source, through
``inspect.getsource``, which keeps each file's lines in :mod:`linecache` for the life
of the process: some 280 files, about 10 MB of small strings that cannot be given
back to the system afterwards (they are interleaved with live objects).
:func:`lean_feature_scan` makes the same check by reading the file's bytes once.
"""

from __future__ import annotations

import ctypes
import logging
import sys
from pathlib import Path

__all__ = ["binding_leaks", "guard_singletons", "lean_feature_scan"]

log = logging.getLogger(__name__)

_HEADROOM = 1 << 40  # at 100,000 leaked references a second: 130 days


def binding_leaks() -> bool:
    """True where the installed PySide6 has the bug (measured, not guessed)."""
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False
    from PySide6.QtCore import QObject
    probe = QObject()
    before = sys.getrefcount(None)
    for _ in range(100):
        probe.setObjectName("probe")  # a void method
    return sys.getrefcount(None) < before - 50


def guard_singletons() -> bool:
    """Protect None, True and False from the leak if this PySide6 has it; True if it did."""
    if not binding_leaks():
        return False
    for obj in (None, True, False):
        ctypes.c_ssize_t.from_address(id(obj)).value += _HEADROOM
    import PySide6
    log.warning("PySide6 %s leaks references to None/True/False on Python %s; guarded. "
                "Install PySide6-Essentials 6.11 (or use Python 3.12+) to be rid of it.",
                PySide6.__version__, sys.version.split()[0])
    return True


def lean_feature_scan() -> bool:
    """Make PySide6's "does this module use PySide6?" check read files without caching them.

    Call it after ``import PySide6`` and before any of its Qt modules. True if the check
    was replaced; where this PySide6 has no such check, nothing changes.
    """
    feature = sys.modules.get("shibokensupport.feature")
    scan = getattr(feature, "_mod_uses_pyside", None)
    if scan is None or getattr(scan, "lean", False):
        return False

    def uses_pyside(module) -> bool:
        file = getattr(module, "__file__", None)
        if not isinstance(file, str) or not file.endswith(".py"):
            return scan(module)  # built-in, compiled or zipped: as PySide6 decides
        try:
            return b"PySide6" in Path(file).read_bytes()
        except OSError:
            return scan(module)

    uses_pyside.lean = True
    feature._mod_uses_pyside = uses_pyside
    return True
