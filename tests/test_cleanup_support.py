"""Helpers for the cleanup tests: real trees with set times, snapshots, a private trash.

Imported by the ``test_cleanup_*`` modules; it holds no tests itself.
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from trayjobs.errors import JobFailed
from trayjobs.kinds.registry import get_kind

DAY = 86400
ROOT_DIR = Path(__file__).resolve().parents[1]


_expected_trash: list[str] = []


@pytest.fixture(autouse=True)
def trash_dir(tmp_path) -> Path:
    """A temporary freedesktop trash: nothing a test does reaches the real one.

    It has a patch context of its own, so a test's ``monkeypatch.undo()``
    cannot hand the real trash back by accident; every run checks it.
    """
    trash = tmp_path / "xdg" / "Trash"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
        _expected_trash.append(str(trash))
        try:
            yield trash
        finally:
            _expected_trash.pop()


def _private_trash_only() -> None:
    from trayjobs.kinds.cleanup.freedesktop import home_trash
    assert _expected_trash and home_trash() == _expected_trash[-1], \
        f"refusing to run against a trash that is not the test's own: {home_trash()}"


@pytest.fixture
def root(tmp_path) -> Path:
    r = tmp_path / "tree"
    r.mkdir()
    return r


def put(root: Path, rel: str, data: str | bytes = "x", *, age_days: float = 10,
        atime_days: float | None = None) -> Path:
    """Create ``root/rel`` holding ``data``, last modified ``age_days`` ago."""
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data.encode() if isinstance(data, str) else data)
    m = time.time() - age_days * DAY
    a = time.time() - (atime_days if atime_days is not None else age_days) * DAY
    os.utime(p, (a, m))
    return p


def tree(root: Path, spec: dict[str, str | bytes | tuple]) -> None:
    """Many files at once: ``{"a/b.txt": "data"}`` or ``{"a/b.txt": ("data", age_days)}``."""
    for rel, v in spec.items():
        if isinstance(v, tuple):
            put(root, rel, v[0], age_days=v[1])
        else:
            put(root, rel, v)


def snapshot(top: Path) -> dict[str, tuple]:
    """Every entry under ``top`` (``top`` included) with type, size, mtime and link target."""
    out = {}
    for folder, dirs, files in os.walk(top):
        for name in ["."] + dirs + files:
            p = os.path.join(folder, name) if name != "." else folder
            st = os.lstat(p)
            kind = "link" if stat.S_ISLNK(st.st_mode) else "dir" if stat.S_ISDIR(st.st_mode) else "file"
            rel = os.path.relpath(p, top)
            if kind == "dir":
                out[rel] = (kind,)
            elif kind == "link":
                out[rel] = (kind, os.readlink(p))
            else:
                out[rel] = (kind, st.st_size, st.st_mtime_ns, stat.S_IMODE(st.st_mode))
    return out


def files(top: Path) -> set[str]:
    """Relative paths of the files and links under ``top``."""
    return {k for k, v in snapshot(top).items() if v[0] != "dir"}


class Sink(list):
    """Records what a job sent; callable, as a context sink must be."""

    def __call__(self, message: dict) -> None:
        self.append(message)

    @property
    def logs(self) -> list[str]:
        return [m["message"] for m in self if m["t"] == "log"]

    def of(self, t: str) -> list[dict]:
        return [m for m in self if m["t"] == t]


def context(make_ctx, *, run_id: int = 1, dry: bool = False):
    _private_trash_only()
    ctx = make_ctx("tidy", run_id=run_id, dry_run=dry)
    ctx.sink = Sink()
    return ctx


def cleanup():
    return get_kind("cleanup")()


def params(**raw):
    raw.setdefault("filters", [{"name": "*"}])  # every item (no rules: a preview only)
    return cleanup().parse_params(raw)


def run(make_ctx, *, dry: bool = False, run_id: int = 1, may_fail: bool = False, **raw):
    """Run a cleanup job with ``raw`` params; returns ``(result, ctx)``. ``may_fail``: a run
    whose every action failed (it fails, not to be retried, keeping its result) gives that
    result too, with the failure's message as ``failed``."""
    ctx = context(make_ctx, run_id=run_id, dry=dry)
    try:
        return cleanup().run(ctx, params(**raw)), ctx
    except JobFailed as exc:
        if not may_fail or exc.result is None:
            raise
        assert exc.retry is False
        return dict(exc.result, failed=str(exc)), ctx


def undo(make_ctx, result, *, run_id: int = 1, **raw):
    ctx = context(make_ctx, run_id=run_id)
    return cleanup().undo(ctx, params(**raw), {"id": run_id, "job": "tidy", "result": result}), ctx


def trashed(trash_dir: Path) -> set[str]:
    d = trash_dir / "files"
    return set(os.listdir(d)) if d.is_dir() else set()
