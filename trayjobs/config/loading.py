"""Reading the jobs file from disk: safely (never a pipe or a device), and falling back
to its last good version when it cannot be used at all."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from ..errors import ConfigError
from .base import MAX_FILE_BYTES
from .parse import parse_config
from .result import Config

__all__ = ["load_config", "read_jobs_file"]


def load_config(path: str | Path, *, last_good: str | Path | None = None,
                cache: str | Path | None = None) -> Config:
    """Read and validate the jobs file; a missing file is an empty config. When the file
    cannot be used at all (not TOML, not UTF-8, unreadable) and ``last_good`` holds a copy
    of its last good text, that copy's jobs are returned with the file's errors and
    ``kept_from`` set to when the copy was saved. With ``cache`` (a file), the result is
    kept there and reused while the file and what its validation depended on are
    unchanged (see :mod:`trayjobs.config_cache`)."""
    path = Path(path)
    if cache is not None:
        from ..config_cache import cached_config
        return cached_config(path, Path(cache),
                             lambda: load_config(path, last_good=last_good))
    cfg = _load(path)
    if not cfg.unreadable or last_good is None:
        return cfg
    try:
        good_text = Path(last_good).read_text(encoding="utf-8")
        saved = Path(last_good).stat().st_mtime
    except (OSError, UnicodeDecodeError):
        return cfg
    good = parse_config(good_text, path=path)
    if good.unreadable:
        return cfg
    good.errors = cfg.errors + good.errors
    good.unreadable, good.kept_from = True, saved
    return good


_NOT_A_FILE = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe"),
               (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"),
               (stat.S_ISSOCK, "a socket"))


def read_jobs_file(path: str | os.PathLike[str]) -> bytes:
    """The bytes of the jobs file, read by everything that reads it. ``OSError`` (with a
    reason to show) for anything but a regular file of at most :data:`MAX_FILE_BYTES`,
    without blocking: a named pipe would wait for a writer for ever, and a device such as
    ``/dev/zero`` would be read until memory runs out."""
    # O_NONBLOCK: opening a named pipe for reading otherwise waits for a writer.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            what = next((w for test, w in _NOT_A_FILE if test(mode)), "not a regular file")
            raise OSError(errno.EINVAL, f"it is {what}; the jobs file must be a plain text "
                                        f"file", str(path))
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as f:
        data = f.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise OSError(errno.EFBIG, f"it is larger than {MAX_FILE_BYTES // 2**20} MB, far more "
                                   f"than a jobs file holds; is it the right file?", str(path))
    return data


def _load(path: Path) -> Config:
    fname = str(path)
    try:
        data = read_jobs_file(path)
    except FileNotFoundError:
        if path.is_symlink():
            return Config(path=path, unreadable=True, errors=[ConfigError(
                f"a broken link: it points to {os.readlink(path)}, which does not exist",
                file=fname)])
        return Config(path=path)
    except PermissionError:
        return Config(path=path, unreadable=True, errors=[ConfigError(
            f"cannot read the file: permission denied to {_user()}{_owner(path)}; let "
            f"{_user()} read it and open its folder (e.g. chmod u+r {path})", file=fname)])
    except OSError as exc:
        return Config(path=path, unreadable=True, errors=[ConfigError(
            f"cannot read the file: {exc.strerror or exc}", file=fname)])
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):  # a BOM of UTF-16 (Notepad's "Unicode")
        return Config(path=path, unreadable=True, errors=[ConfigError(
            "it is saved as UTF-16 text (\"Unicode\" in some editors); save it as UTF-8",
            file=fname, line=1)])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        return Config(path=path, unreadable=True, errors=[ConfigError(
            f"not UTF-8 text: byte 0x{data[exc.start]:02x} at line {line}, column {column} "
            f"cannot be read; save the file as UTF-8", file=fname, line=line)])
    return parse_config(text, path=path)


def _user() -> str:
    import getpass
    try:
        return getpass.getuser()
    except Exception:  # no name for this uid (a container)
        return f"uid {os.getuid()}" if hasattr(os, "getuid") else "this user"


def _owner(path: Path) -> str:
    """" (it belongs to USER)" for a message, when the owner can be told."""
    try:
        import pwd
        return f" (it belongs to {pwd.getpwuid(path.stat().st_uid).pw_name})"
    except (ImportError, KeyError, OSError):
        return ""
