"""The registry of job kinds.

Kinds register themselves with :func:`register`; the built-in ones are listed
in ``_BUILTIN`` and imported on first use so that loading the registry stays
cheap (a report kind's PDF library is only imported where reports run).
"""

from __future__ import annotations

import importlib

from .base import COMMON_KEYS, JobKind

__all__ = ["register", "get_kind", "all_kinds", "kind_names"]

_BUILTIN = {
    "demo": "trayjobs.kinds.demo",
    "import": "trayjobs.kinds.importer",
    "cleanup": "trayjobs.kinds.cleanup",
    "report": "trayjobs.kinds.report",
    "command": "trayjobs.kinds.command",
}

_KINDS: dict[str, type[JobKind]] = {}


def register(cls: type[JobKind]) -> type[JobKind]:
    """Class decorator: make a kind available under ``cls.name``."""
    clash = COMMON_KEYS & set(cls.Params.model_fields)
    if clash:
        raise TypeError(f"kind {cls.name!r} reuses common job keys: {sorted(clash)}")
    _KINDS[cls.name] = cls
    return cls


def kind_names() -> list[str]:
    return sorted(set(_BUILTIN) | set(_KINDS))


def get_kind(name: str) -> type[JobKind]:
    """The kind class called ``name``; ``KeyError`` naming the known kinds if there is none."""
    if name not in _KINDS and name in _BUILTIN:
        importlib.import_module(_BUILTIN[name])
    try:
        return _KINDS[name]
    except KeyError:
        known = ", ".join(kind_names())
        raise KeyError(f"unknown kind {name!r}; known kinds: {known}") from None


def all_kinds() -> list[type[JobKind]]:
    for name in _BUILTIN:
        try:
            get_kind(name)
        except (KeyError, ImportError):
            pass
    return [_KINDS[n] for n in sorted(_KINDS)]
