"""Cleanup against a tree that changes while the run goes on: nothing outside is touched.

Each change lands at a set point of a real run (after the run has found its locations and
their mount points, or between two items), so the test fails the same way each time the
guard it checks is taken out. ``test_cleanup_hostile`` holds the trees that are hostile
from the start.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from test_cleanup_support import DAY, files, put, root, run, snapshot, trash_dir, tree, undo  # noqa: F401
from trayjobs.kinds.cleanup import runner as runner_module
from trayjobs.kinds.cleanup.dirs import mount_points

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.fixture
def outside(tmp_path) -> Path:
    """Somebody else's folder, next to the location: it must come out of every test untouched."""
    out = tmp_path / "outside"
    tree(out, {"precious.txt": ("do not touch", 400), "deep/also.txt": ("nor this", 400)})
    return out


class BindLater:
    """Bind-mounts ``source`` at ``point`` once the run has found its locations (and the mount
    points in them), as someone could while it goes on; takes every mount below
    ``top`` down afterwards. Needs root; the test is skipped where mount is not allowed."""

    def __init__(self, monkeypatch, source: Path, point: Path, top: Path) -> None:
        self.source, self.point, self.top = source, point, top
        self.mounted = False
        if not IS_ROOT:
            pytest.skip("bind mounts need root")
        real = runner_module.resolve_scopes

        def resolve_then_mount(run):
            scopes = real(run)
            self.point.mkdir(parents=True, exist_ok=True)
            if subprocess.run(["mount", "--bind", str(self.source), str(self.point)],
                              capture_output=True).returncode != 0:
                pytest.skip("cannot bind-mount here")
            self.mounted = True
            return scopes
        monkeypatch.setattr(runner_module, "resolve_scopes", resolve_then_mount)

    def __enter__(self) -> "BindLater":
        return self

    def __exit__(self, *exc) -> None:
        for m in sorted(mount_points(), key=len, reverse=True):
            if m.startswith(str(self.top) + os.sep):
                subprocess.run(["umount", "-l", m], check=False)


@pytest.mark.parametrize("action", ["trash", "delete", {"move": "../moved"}, {"rename": "{stem}-old{suffix}"},
                                    {"copy": "../copies"}])
def test_a_bind_mount_made_during_the_run_is_not_entered(make_ctx, root, outside, tmp_path, monkeypatch,
                                                          action):
    # a bind mount of a folder of the same filesystem has the same device number: only its
    # mount tells it apart, and the run found the mount points before this one was made
    put(root, "mine.txt", age_days=100)
    put(root, "a/mine.txt", age_days=100)
    before = snapshot(outside)
    with BindLater(monkeypatch, outside, root / "b", tmp_path) as bind:
        result, ctx = run(make_ctx, locations=[{"path": str(root), "recursive": True}], action=action,
                          skip_recent="0s", may_fail=True)
        assert bind.mounted
        assert not (root / "b" / "precious-old.txt").exists()
    assert snapshot(outside) == before
    assert result["acted"] == 2 and result["errors"] == 1, result
    assert f"{root}/b is a mount point; not crossed" in result["problems"][0]["reason"]
    assert any(f"{root}/b" in line and "mount point" in line for line in ctx.sink.logs)


@pytest.mark.parametrize("action", ["delete", {"copy": "../copies"}])
def test_a_folder_that_gets_a_bind_mount_during_the_run_is_not_gone_through(make_ctx, root, outside, tmp_path,
                                                                              monkeypatch, action):
    # a delete or a copy goes through the whole folder; the mount in it is never crossed
    put(root, "holder/x.txt", "x")
    (root / "holder" / "mnt").mkdir()
    before = snapshot(outside)
    with BindLater(monkeypatch, outside, root / "holder" / "mnt", tmp_path) as bind:
        past = os.path.getmtime(root / "holder") - 10 * DAY
        os.utime(root / "holder", (past, past))
        result, ctx = run(make_ctx, locations=[str(root)], targets="folders", action=action, may_fail=True)
        assert bind.mounted
    assert snapshot(outside) == before
    assert (root / "holder" / "x.txt").exists()
    assert not (tmp_path / "copies").exists() or not files(tmp_path / "copies")
    assert result["acted"] == 0 and result["errors"] == 1, result
    assert "mount point" in result["problems"][0]["reason"], result


@pytest.mark.parametrize("original", ["sub/a.txt", "sub/deeper/a.txt"])
def test_undo_does_not_write_through_a_bind_mount_made_since_the_run(make_ctx, root, outside, tmp_path, original):
    # the run did not cross it (it was not there); undo puts nothing back through it either,
    # nor makes the folders of the original place inside the folder mounted there
    if not IS_ROOT:
        pytest.skip("bind mounts need root")
    put(root, original, "mine", age_days=100)
    result, _ = run(make_ctx, locations=[{"path": str(root), "recursive": True}], skip_recent="0s")
    assert result["acted"] == 1
    before = snapshot(outside)
    try:
        if subprocess.run(["mount", "--bind", str(outside), str(root / "sub")], capture_output=True).returncode:
            pytest.skip("cannot bind-mount here")
        outcome, ctx = undo(make_ctx, result, locations=[str(root)])
        assert snapshot(outside) == before
    finally:
        for m in sorted(mount_points(), key=len, reverse=True):
            if m.startswith(str(tmp_path) + os.sep):
                subprocess.run(["umount", "-l", m], check=False)
    assert snapshot(outside) == before
    assert outcome["undone"] == 0 and outcome["not_undone"] == 1, outcome
    assert f"{root}/sub is a mount point; not crossed" in outcome["problems"][0]["reason"]


@pytest.mark.parametrize("action", ["trash", {"move": "../moved"}])
def test_a_folder_that_gets_a_mount_during_the_run_is_not_taken_away_with_it(make_ctx, root, outside, tmp_path,
                                                                            monkeypatch, action):
    # a rename would take the mount along: into the trash, whose emptying would then empty
    # the folder mounted there too
    put(root, "holder/x.txt", "x")
    (root / "holder" / "mnt").mkdir()
    with BindLater(monkeypatch, outside, root / "holder" / "mnt", tmp_path) as bind:
        past = os.path.getmtime(root / "holder") - 10 * DAY
        os.utime(root / "holder", (past, past))
        result, ctx = run(make_ctx, locations=[str(root)], targets="folders", action=action, may_fail=True)
        assert bind.mounted
        assert os.path.ismount(root / "holder" / "mnt") or (root / "holder" / "mnt" / "precious.txt").exists()
    assert (root / "holder" / "x.txt").exists()
    assert result["acted"] == 0 and result["errors"] == 1, result
    assert f"holds a mount point ({root}/holder/mnt)" in result["problems"][0]["reason"], result


def test_an_attempt_after_one_that_did_nothing_is_no_resumption(make_ctx, root):
    # the journal keeps the run's locations (for undo); they are no earlier work to resume
    put(root, "young.txt", age_days=0)
    first, _ = run(make_ctx, locations=[str(root)])
    assert first["acted"] == 0
    put(root, "old.txt", age_days=100)
    again, ctx = run(make_ctx, locations=[str(root)])  # the same run, its next attempt
    assert again["acted"] == 1
    assert not any("resuming" in line for line in ctx.sink.logs), ctx.sink.logs
