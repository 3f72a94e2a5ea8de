"""The validated jobs file, kept between commands: ``trayjobs jobs`` and ``trayjobs run``
need not validate it again.

Validating a file builds every model's validators and runs them; a command that uses the
file as it was last validated skips that (about a tenth of its instructions). The copy
is used only while what the validation depended on is unchanged:

- the file itself: its path, size, modification and change times (in nanoseconds), inode
  and device;
- the code that validated it: trayjobs' version and the files of its modules, Python,
  and each folder on ``sys.path`` (installing, upgrading or removing any package, a
  plug-in or pydantic, changes one);
- the environment (``~`` and ``$VARIABLES`` in paths) and the current folder;
- the file system as validation saw it: every path it resolved and every folder whose
  identity it compared (see :func:`trayjobs.places.recording`) must still give the same
  answer, checked on each use.

Not cached at all: a file that cannot be used as it is (the last good version is used
then), one with a job of a kind that is not built in (a plug-in's checks are foreign code
that may look at anything; an unknown kind's message names the installed plug-ins), one
whose alert checks depend on today's date (``stale_after`` with ``cron``), and a file
changed in the last seconds (its next change could keep the same size and time stamp).
A copy that cannot be read, is of another version or holds anything but trayjobs' own
objects is ignored and replaced; failing to write one costs nothing but the time.
``trayjobs check`` always validates afresh.
"""

from __future__ import annotations

import io
import os
import pickle
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from . import __version__

if TYPE_CHECKING:
    from .config import Config

__all__ = ["cached_config", "FORMAT"]

#: Bumped when what the cache holds changes shape.
FORMAT = 1
#: A file changed this recently (seconds) is not cached: time stamps are coarse (a few
#: milliseconds on Linux, two seconds on FAT), so an edit right after could keep its stamp.
SETTLE = 2.0
#: Variables a shell changes between two commands, which no config value can name usefully,
#: and the dynamic loader's, which a profiler or debugger sets (valgrind, for one).
_VOLATILE = frozenset({"_", "OLDPWD", "PWD", "SHLVL", "COLUMNS", "LINES", "LD_PRELOAD",
                       "LD_LIBRARY_PATH", "GLIBCXX_FORCE_NEW", "GLIBCPP_FORCE_NEW"})


def _stat(path: str) -> tuple[int, ...] | None:
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


def _code_stamp() -> tuple[Any, ...]:
    """The code that validates: trayjobs' own files, Python, and the installed packages."""
    root = os.path.dirname(os.path.abspath(__file__))
    files = []
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                for e in it:
                    if e.name.endswith(".py"):
                        st = e.stat()
                        files.append((e.path, st.st_size, st.st_mtime_ns))
                    elif e.is_dir() and e.name not in ("__pycache__", "ui", "resources"):
                        stack.append(e.path)
        except OSError:
            files.append((folder, None))
    files.sort()
    # The current folder's own time stamp changes with every file made in it: it is in
    # the key by name only (a plug-in there is no concern: plug-in kinds are not cached).
    here = os.getcwd()
    paths = tuple((p, _stat(p)) for p in sys.path if p and os.path.abspath(p) != here)
    return (__version__, sys.version, sys.executable, tuple(files), paths)


def _key(path: Path) -> tuple[Any, ...] | None:
    own = _stat(str(path))
    if own is None:
        return None
    env = tuple(sorted((k, v) for k, v in os.environ.items() if k not in _VOLATILE))
    try:
        cwd = os.getcwd()
    except OSError:
        return None
    return (FORMAT, str(path), own, env, cwd, _code_stamp())


class _OwnObjects(pickle.Unpickler):
    """Unpickles trayjobs' config objects and nothing else (no function of another module
    is ever called for a file that is not ours)."""

    _ALLOWED = {("pathlib", "PosixPath"), ("pathlib", "WindowsPath"), ("pathlib", "Path"),
                ("copyreg", "_reconstructor"), ("builtins", "object"), ("builtins", "set"),
                ("builtins", "frozenset")}

    def find_class(self, module: str, name: str) -> Any:
        if module == "trayjobs" or module.startswith("trayjobs.") or (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not a config object")


def _read(cache: Path, key: tuple[Any, ...]) -> "Config | None":
    from .places import still_true
    try:
        data = cache.read_bytes()
    except OSError:
        return None
    try:
        stored_key, seen, cfg = _OwnObjects(io.BytesIO(data)).load()
    except Exception:  # corrupt, cut short, or of another version: validate afresh
        return None
    if stored_key != key or not still_true(seen):
        return None
    return cfg


def _cacheable(cfg: "Config", key: tuple[Any, ...]) -> bool:
    from .kinds.registry import builtin_names
    if cfg.unreadable or cfg.kept_from is not None:
        return False
    if time.time() - key[2][1] / 1e9 < SETTLE:  # its modification time
        return False
    import tomllib
    body = cfg.text[1:] if cfg.text.startswith("\ufeff") else cfg.text
    try:
        jobs = tomllib.loads(body).get("jobs", {})
    except (tomllib.TOMLDecodeError, RecursionError):
        return False
    if not isinstance(jobs, dict):
        return True
    builtin = set(builtin_names())
    for raw in jobs.values():
        if not isinstance(raw, dict) or raw.get("kind") not in builtin:
            return False
        if "stale_after" in raw and "cron" in raw:
            return False
    return True


def _write(cache: Path, key: tuple[Any, ...], seen: list, cfg: "Config") -> None:
    tmp = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
    try:
        data = pickle.dumps((key, seen, cfg), protocol=pickle.HIGHEST_PROTOCOL)
        cache.parent.mkdir(parents=True, exist_ok=True)
        # Only the user reads it: a config may hold a token in a URL.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, cache)
    except Exception:  # a full disk, a read-only folder, an object that does not pickle
        try:
            os.unlink(tmp)
        except OSError:
            pass


def cached_config(path: Path, cache: Path, load: Callable[[], "Config"]) -> "Config":
    """The config ``load()`` gives for ``path``, from ``cache`` while it is still right."""
    key = _key(path)
    if key is not None:
        cfg = _read(cache, key)
        if cfg is not None:
            return cfg
    from .places import recording
    with recording() as seen:
        cfg = load()
    if key is not None and _key(path) == key and _cacheable(cfg, key):
        _write(cache, key, seen, cfg)
    return cfg
