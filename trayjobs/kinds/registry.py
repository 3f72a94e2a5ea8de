"""The registry of job kinds.

Kinds register themselves with :func:`register`; the built-in ones are listed
in ``_BUILTIN`` and imported on first use so that loading the registry stays
cheap (a report kind's PDF library is only imported where reports run).

Plug-in kinds are Python packages that declare an entry point in the group
``trayjobs.kinds``, named after the kind, whose value is the kind class::

    [project.entry-points."trayjobs.kinds"]
    hello = "trayjobs_hello:HelloKind"

They are found when a kind that is not built in is first asked for, and each
is imported only when it is needed. A plug-in that fails to import is kept as
a :class:`BrokenKind` (logged once, listed by ``trayjobs kinds`` and
``trayjobs check``); the other kinds keep working. The app, the worker and the
job process all look kinds up here, so they agree on what is installed.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .base import COMMON_KEYS, JobKind

if TYPE_CHECKING:
    from importlib import metadata

__all__ = ["register", "get_kind", "resumes_after_crash", "all_kinds", "kind_names", "builtin_names", "origin",
           "broken_kinds", "refresh_plugins", "KindOrigin", "BrokenKind", "ENTRY_POINT_GROUP"]

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "trayjobs.kinds"

_BUILTIN = {
    "demo": "trayjobs.kinds.demo",
    "import": "trayjobs.kinds.importer",
    "cleanup": "trayjobs.kinds.cleanup",
    "report": "trayjobs.kinds.report",
    "python": "trayjobs.kinds.python",
    "command": "trayjobs.kinds.command",
}

_KINDS: dict[str, type[JobKind]] = {}


@dataclass(frozen=True)
class KindOrigin:
    """Where a kind comes from: built in, or the distribution that installed it."""

    distribution: str | None = None
    version: str | None = None
    entry_point: str | None = None

    @property
    def builtin(self) -> bool:
        return self.distribution is None

    def __str__(self) -> str:
        if self.builtin:
            return "built-in"
        return f"plug-in {self.distribution} {self.version or ''}".rstrip()


@dataclass(frozen=True)
class BrokenKind:
    """A plug-in kind that could not be loaded, and why."""

    name: str
    origin: KindOrigin
    error: str

    def message(self) -> str:
        return f"plug-in kind {self.name!r} ({self.origin.distribution}) cannot be loaded: {self.error}"


_BUILTIN_ORIGIN = KindOrigin()
_plugins: dict[str, metadata.EntryPoint] | None = None
_origins: dict[str, KindOrigin] = {}
_broken: dict[str, BrokenKind] = {}


def register(cls: type[JobKind]) -> type[JobKind]:
    """Class decorator: make a kind available under ``cls.name``."""
    # By the keys a job file writes: a field's alias too (one named `timeout` by its alias
    # never got the job's value, which is the common key's).
    keys = {k for name, f in cls.Params.model_fields.items()
            for k in (name, f.alias, f.validation_alias) if isinstance(k, str)}
    clash = COMMON_KEYS & keys
    if clash:
        raise TypeError(f"kind {cls.name!r} reuses common job keys: {sorted(clash)}")
    home = _BUILTIN.get(cls.name)
    if home is not None and cls.__module__ != home and not cls.__module__.startswith(home + "."):
        # A plug-in's module registering itself as `command`, say: every command job of the
        # user's would have run its code instead, with no word of it.
        raise TypeError(f"{cls.__module__}.{cls.__qualname__} registers a kind named "
                        f"{cls.name!r}, which is a built-in kind's name; give it its own")
    _KINDS[cls.name] = cls
    return cls


def _entry_points() -> dict[str, metadata.EntryPoint]:
    """The plug-in kinds installed, by kind name; looked up once per process."""
    global _plugins
    if _plugins is None:
        # Imported here: importlib.metadata brings the email package along, a tenth of
        # what a command costs, and a config of built-in kinds never needs it.
        from importlib import metadata
        found: dict[str, metadata.EntryPoint] = {}
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            if ep.name in found:  # a second distribution with the same kind: the first wins
                # Both named: which one to uninstall is the user's to choose.
                log.warning("plug-in kind %r is installed twice; using %s, not %s (%s); "
                            "uninstall one of them", ep.name, _ep_origin(found[ep.name]),
                            _ep_origin(ep), ep.value)
                continue
            found[ep.name] = ep
        _plugins = found
    return _plugins


def refresh_plugins() -> None:
    """Look for installed plug-ins again (after installing one while running)."""
    global _plugins
    importlib.invalidate_caches()
    _plugins = None
    for name in list(_KINDS):
        if name not in _BUILTIN and name in _origins:
            del _KINDS[name]
    _origins.clear()
    _broken.clear()


def _ep_origin(ep: metadata.EntryPoint) -> KindOrigin:
    dist = getattr(ep, "dist", None)
    return KindOrigin(distribution=dist.name if dist else "unknown distribution",
                      version=dist.version if dist else None, entry_point=ep.value)


def _load_plugin(name: str, ep: metadata.EntryPoint) -> None:
    where = _ep_origin(ep)
    if name in _BUILTIN:
        _broken[name] = BrokenKind(name, where, "a built-in kind has this name")
    else:
        try:
            # What it prints as it loads goes to stderr: on stdout it would break the
            # output of `kinds --json`, `runs --json` and `show --json`.
            with contextlib.redirect_stdout(sys.stderr):
                cls = ep.load()
            if not (isinstance(cls, type) and issubclass(cls, JobKind)):
                raise TypeError(f"{ep.value} is not a JobKind class")
            if getattr(cls, "__abstractmethods__", None):  # each run would fail making one
                raise TypeError(f"{ep.value} does not define "
                                f"{', '.join(sorted(cls.__abstractmethods__))}(ctx, params)")
            if getattr(cls, "name", None) != name:
                raise TypeError(f"{ep.value} is named {getattr(cls, 'name', None)!r}, "
                                f"but its entry point says {name!r}")
            from pydantic import BaseModel
            if not (isinstance(cls.Params, type) and issubclass(cls.Params, BaseModel)):
                raise TypeError(f"{ep.value}.Params is {cls.Params!r}, not a model of the "
                                f"kind's options; make it a class deriving from "
                                f"trayjobs.kinds.KindParams")
            register(cls)
            _origins[name] = where
            return
        # Foreign code: whatever goes wrong, only this kind is lost; also a sys.exit() at its
        # top level, or a BaseException of its own, which would end `trayjobs kinds`, `check`
        # and the app (a Ctrl-C still stops them).
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            _KINDS.pop(name, None)
            what = (f"called sys.exit({exc.code!r}) as it was imported"
                    if isinstance(exc, SystemExit) else f"{type(exc).__name__}: {exc}")
            _broken[name] = BrokenKind(name, where, what)
    log.warning("%s", _broken[name].message())


def get_kind(name: str) -> type[JobKind]:
    """The kind class called ``name``; ``KeyError`` naming the known kinds if there is none
    (or saying why a plug-in of that name cannot be loaded)."""
    if name not in _KINDS:
        if name in _BUILTIN:
            importlib.import_module(_BUILTIN[name])
        elif name not in _broken and name in _entry_points():
            _load_plugin(name, _entry_points()[name])
    try:
        return _KINDS[name]
    except KeyError:
        if name in _broken:
            raise KeyError(_broken[name].message()) from None
        names = kind_names()
        import difflib
        folded = {n.casefold(): n for n in names}
        close = difflib.get_close_matches(str(name).casefold(), list(folded), n=1, cutoff=0.75)
        hint = f"did you mean {folded[close[0]]!r}? " if close else ""
        raise KeyError(f"unknown kind {name!r}; {hint}known kinds: {', '.join(names)}") from None


def resumes_after_crash(job) -> bool:
    """Whether an interrupted run of ``job`` (a :class:`~trayjobs.config.JobConfig`) is run
    again at the next start: its kind says running it twice is safe. When not, the
    interrupted run is its last word (crash recovery and alerts both ask this)."""
    try:
        return job is not None and get_kind(job.kind).is_idempotent(job.params)
    except KeyError:
        return False


def builtin_names() -> list[str]:
    return sorted(_BUILTIN)


def kind_names() -> list[str]:
    """Every kind's name, built-in and installed (a plug-in is not imported for this)."""
    return sorted(set(_BUILTIN) | set(_KINDS) | set(_entry_points()))


def origin(name: str) -> KindOrigin:
    """Where the kind ``name`` comes from (built-in unless a plug-in provided it)."""
    if name in _origins:
        return _origins[name]
    if name not in _BUILTIN and name in _entry_points():
        return _ep_origin(_entry_points()[name])
    return _BUILTIN_ORIGIN


def all_kinds(*, plugins: bool = True) -> list[type[JobKind]]:
    """Every kind that loads, by name; ``plugins=False``: the built-in ones only."""
    names = list(_BUILTIN) + (list(_entry_points()) if plugins else [])
    for name in names:
        try:
            get_kind(name)
        except (KeyError, ImportError):
            pass
    return [_KINDS[n] for n in sorted(_KINDS) if plugins or n not in _origins]


def broken_kinds() -> list[BrokenKind]:
    """The installed plug-ins that could not be loaded (each one is tried)."""
    for name in _entry_points():
        if name not in _KINDS and name not in _broken:
            _load_plugin(name, _entry_points()[name])
    return [_broken[n] for n in sorted(_broken)]
