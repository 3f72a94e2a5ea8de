"""Cleanup safety: symlink escapes, dangerous locations, previews that touch nothing, unreadable and vanishing files."""

from __future__ import annotations

import os
import sqlite3
import time
import zipfile

import pytest
from pydantic import ValidationError

from test_cleanup_support import (DAY, cleanup, context, files, params, put, root, run, snapshot,  # noqa: F401
                                  trash_dir, trashed, tree)
from trayjobs.errors import JobFailed
from trayjobs.kinds.cleanup import freedesktop, journal_path
from trayjobs.kinds.cleanup.actions import archive as archive_module

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def aged_link(target, link) -> None:
    os.symlink(target, link)
    old = time.time() - 10 * DAY
    os.utime(link, (old, old), follow_symlinks=False)


@pytest.fixture
def outside(tmp_path):
    """A folder outside the location, with a file, reachable only through links."""
    out = tmp_path / "outside"
    put(out, "precious.txt", "do not touch", age_days=400)
    put(out, "deep/also.txt", "nor this", age_days=400)
    return out


@pytest.mark.parametrize("action", ["trash", "delete", {"move": "{location}-moved"}, {"copy": "copied"},
                                    {"rename": "x-{name}"}, {"archive": "all.zip"}])
def test_links_out_of_the_location_never_reach_their_targets(make_ctx, root, outside, tmp_path, action):
    aged_link(outside, root / "folder-link")
    aged_link(outside / "precious.txt", root / "file-link")
    put(root, "own.txt", "mine")
    before = snapshot(outside)
    result, _ = run(make_ctx, locations=[{"path": str(root), "recursive": True}], action=action)
    assert snapshot(outside) == before
    assert result["errors"] == 0
    # what the links pointed at was never an item
    touched = {os.path.basename(e["path"]) for e in result["done"]}
    assert "precious.txt" not in touched and "also.txt" not in touched
    if action == {"archive": "all.zip"}:
        with zipfile.ZipFile(root / "all.zip") as zf:
            assert zf.namelist() == ["own.txt"]  # links are not archived
        assert result["skipped"] == {"links are not archived": 2}


def test_a_trashed_link_keeps_its_target(make_ctx, root, outside, trash_dir):
    aged_link(outside / "precious.txt", root / "file-link")
    aged_link(outside, root / "folder-link")
    run(make_ctx, locations=[{"path": str(root), "recursive": True}])
    assert os.readlink(trash_dir / "files" / "file-link") == str(outside / "precious.txt")
    assert os.path.islink(trash_dir / "files" / "folder-link")
    assert (outside / "precious.txt").read_text() == "do not touch"
    assert files(outside) == {"precious.txt", "deep/also.txt"}


def test_folders_targets_do_not_treat_links_to_folders_as_folders(make_ctx, root, outside):
    aged_link(outside, root / "folder-link")
    (root / "real").mkdir()
    old = time.time() - 10 * DAY
    os.utime(root / "real", (old, old))
    result, _ = run(make_ctx, locations=[str(root)], targets="folders")
    assert [os.path.basename(e["path"]) for e in result["done"]] == ["real"]
    assert os.path.islink(root / "folder-link") and files(outside) == {"precious.txt", "deep/also.txt"}


@pytest.mark.parametrize("where, why", [
    ("/", "is the root of a drive"),
    ("~", "is your home folder itself"),
    ("/etc", "is a system folder"),
    ("/usr/share", "is a system folder"),
    ("/home", "contains your home folder"),
    ("/var", "is a shared system folder"),
])
def test_dangerous_locations_are_refused_at_load_time(where, why, monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", "/home/someone")
    with pytest.raises(ValidationError) as exc:
        params(locations=[where])
    assert why in str(exc.value) and "allow_dangerous_location" in str(exc.value)
    assert params(locations=[where], allow_dangerous_location=True).allow_dangerous_location


def test_a_link_to_a_system_folder_is_refused_too(tmp_path):
    os.symlink("/etc", tmp_path / "innocent")
    with pytest.raises(ValidationError, match="is a system folder"):
        params(locations=[str(tmp_path / "innocent")])


def test_a_location_that_became_dangerous_is_refused_at_run_time(make_ctx, tmp_path):
    link = tmp_path / "loc"
    link.mkdir()
    p = params(locations=[str(link)])
    link.rmdir()
    os.symlink("/usr", link)
    with pytest.raises(JobFailed, match="is a system folder"):
        cleanup().run(context(make_ctx), p)


def test_missing_locations_are_reported(make_ctx, root, tmp_path):
    put(root, "a.txt")
    result, _ = run(make_ctx, locations=[str(root), str(tmp_path / "nope")])
    assert result["acted"] == 1 and result["errors"] == 1
    with pytest.raises(JobFailed, match="none of the locations exists"):
        run(make_ctx, locations=[str(tmp_path / "nope")])
    # a file where the folder should be is told apart from a folder that is not there
    put(tmp_path, "a-file", "x")
    with pytest.raises(JobFailed) as failed:
        run(make_ctx, locations=[str(tmp_path / "a-file"), str(tmp_path / "nope")])
    assert str(failed.value) == (f"none of the locations exists as a folder: {tmp_path / 'a-file'} (is a file, "
                                 f"not a folder), {tmp_path / 'nope'} (not found)")


@pytest.mark.parametrize("action", ["trash", "delete", {"move": "../moved/{year}"}, {"copy": "../copied"},
                                    {"rename": "{date}-{name}"}, {"archive": "../all.zip"}])
def test_a_dry_run_changes_nothing_and_lists_everything(make_ctx, root, tmp_path, trash_dir, action):
    tree(root, {"a.txt": "aaaa", "sub/b.log": "bb", "sub/deeper/c.bin": b"\0" * 1500, "keep/d.txt": "d"})
    before = snapshot(tmp_path)
    result, ctx = run(make_ctx, dry=True, locations=[{"path": str(root), "recursive": True}], action=action,
                      remove_empty_folders=True, conflict="overwrite")
    assert snapshot(tmp_path) == before
    assert not trash_dir.exists()
    assert not journal_path(ctx.home).exists()
    assert result["dry_run"] and "nothing was touched" in result["summary"]
    listed = {e["path"]: e for e in result["planned"] if "folder" not in e["action"]}
    assert set(listed) == {str(root / p) for p in ("a.txt", "sub/b.log", "sub/deeper/c.bin", "keep/d.txt")}
    for path, e in listed.items():
        assert e["size"] == os.path.getsize(path) and e["mtime"] == os.path.getmtime(path)
    assert result["acted"] == 4 and result["bytes"] == 4 + 2 + 1500 + 1
    assert sum(1 for line in ctx.sink.logs if line.startswith(str(result["planned"][0]["action"]))) >= 4


def test_preview_setting_makes_every_run_a_dry_run(make_ctx, root):
    put(root, "a.txt")
    before = snapshot(root)
    result, _ = run(make_ctx, locations=[str(root)], preview=True)
    assert snapshot(root) == before and result["planned"] and result["dry_run"]


def test_preview_listing_is_capped(make_ctx, root, monkeypatch):
    from trayjobs.kinds.cleanup import runner
    monkeypatch.setattr(runner, "PLANNED_CAP", 5)
    for i in range(12):
        put(root, f"f{i:02}.txt")
    result, ctx = run(make_ctx, dry=True, locations=[str(root)])
    assert len(result["planned"]) == 5 and result["listed_more"] == 7 and result["acted"] == 12
    assert "... and 7 more" in ctx.sink.logs


@pytest.mark.skipif(IS_ROOT, reason="root reads and writes through permission bits; the injected errors "
                                    "below cover the same code paths")
def test_unreadable_and_unwritable_folders_are_reported_and_the_run_goes_on(make_ctx, root, trash_dir):
    tree(root, {"a.txt": "a", "locked/b.txt": "b", "readonly/c.txt": "c", "z.txt": "z"})
    os.chmod(root / "locked", 0)
    os.chmod(root / "readonly", 0o555)
    try:
        result, _ = run(make_ctx, locations=[{"path": str(root), "recursive": True}])
    finally:
        os.chmod(root / "locked", 0o755)
        os.chmod(root / "readonly", 0o755)
    assert trashed(trash_dir) == {"a.txt", "z.txt"}
    assert files(root) == {"locked/b.txt", "readonly/c.txt"}
    assert result["errors"] == 2
    assert {p["reason"] for p in result["problems"]} == {"could not read: permission denied",
                                                         "could not trash: permission denied"}
    assert os.listdir(trash_dir / "info") and len(os.listdir(trash_dir / "info")) == 2  # no orphan info


def test_a_permission_error_on_one_file_does_not_abort_the_run(make_ctx, root, trash_dir, monkeypatch):
    tree(root, {"a.txt": "a", "b.txt": "b", "c.txt": "c"})
    real = freedesktop.rename_noreplace

    def refuse_b(src, dst, **fds):
        if src.endswith("b.txt"):
            raise PermissionError(13, "Permission denied", src)
        real(src, dst, **fds)
    monkeypatch.setattr(freedesktop, "rename_noreplace", refuse_b)
    result, ctx = run(make_ctx, locations=[str(root)])
    assert files(root) == {"b.txt"}
    assert trashed(trash_dir) == {"a.txt", "c.txt"}
    assert sorted(os.listdir(trash_dir / "info")) == ["a.txt.trashinfo", "c.txt.trashinfo"]
    assert result["summary"] == "trashed 2 files (2 B), 1 error"
    assert any("b.txt: could not trash: permission denied" in line for line in ctx.sink.logs)
    with sqlite3.connect(journal_path(ctx.home)) as db:
        assert dict(db.execute("SELECT src, status FROM actions WHERE action != 'location'")) == {
            str(root / "a.txt"): "done", str(root / "b.txt"): "failed", str(root / "c.txt"): "done"}


def test_files_that_vanish_mid_run_are_skipped_and_reported(make_ctx, root, trash_dir, monkeypatch):
    tree(root, {"a.txt": "a", "b.txt": "b", "c.txt": "c"})
    real = freedesktop.rename_noreplace

    def also_remove_b(src, dst, **fds):
        if src.endswith("a.txt"):
            os.unlink(root / "b.txt")  # someone else deletes b while we work on a
        real(src, dst, **fds)
    monkeypatch.setattr(freedesktop, "rename_noreplace", also_remove_b)
    result, _ = run(make_ctx, locations=[str(root)])
    assert trashed(trash_dir) == {"a.txt", "c.txt"}
    assert result["summary"] == "trashed 2 files (2 B), skipped 1 (vanished), 0 errors"
    assert sorted(os.listdir(trash_dir / "info")) == ["a.txt.trashinfo", "c.txt.trashinfo"]


def test_a_folder_that_vanishes_before_it_is_listed_is_reported(make_ctx, root, monkeypatch):
    tree(root, {"a/x.txt": "x", "b/y.txt": "y"})
    from trayjobs.kinds.cleanup import scan
    real = scan.list_dir

    def list_and_vanish(path, folders=None):
        entries = real(path, folders)
        if path == str(root):
            (root / "b" / "y.txt").unlink()
            (root / "b").rmdir()
        return entries
    monkeypatch.setattr(scan, "list_dir", list_and_vanish)
    result, _ = run(make_ctx, locations=[{"path": str(root), "recursive": True}])
    assert result["acted"] == 1 and result["skipped"] == {"vanished": 1} and result["errors"] == 0


def test_an_unreadable_file_is_not_archived_and_not_trashed(make_ctx, root, tmp_path, monkeypatch):
    tree(root, {"a.txt": "a", "secret.txt": "s"})
    real = archive_module._add_file

    def refuse(zf, dir_fd, name, arcname, expect):
        if name.endswith("secret.txt"):
            raise PermissionError(13, "Permission denied", name)
        real(zf, dir_fd, name, arcname, expect)
    monkeypatch.setattr(archive_module, "_add_file", refuse)
    result, _ = run(make_ctx, locations=[str(root)], action={"archive": str(tmp_path / "a.zip")})
    with zipfile.ZipFile(tmp_path / "a.zip") as zf:
        assert zf.namelist() == ["a.txt"]
    assert files(root) == {"secret.txt"}
    assert result["summary"] == "archived 1 file (1 B) into 1 archive, 1 error"


def test_a_fifo_in_the_tree_blocks_nothing(make_ctx, root, tmp_path):
    os.mkfifo(root / "pipe")
    put(root, "a.txt")
    result, _ = run(make_ctx, locations=[str(root)], action={"archive": str(tmp_path / "a.zip")})
    assert result["acted"] == 1 and files(root) == {"pipe"}


def test_a_file_name_is_never_expanded_as_a_variable_or_home(make_ctx, root, tmp_path, monkeypatch):
    monkeypatch.setenv("SNEAKY", str(tmp_path / "elsewhere"))
    put(root, "$SNEAKY")
    put(root, "~")
    run(make_ctx, locations=[str(root)], action={"move": str(tmp_path / "sorted" / "{stem}")})
    assert files(tmp_path / "sorted") == {"$SNEAKY/$SNEAKY", "~/~"}
    assert not (tmp_path / "elsewhere").exists()


def test_the_trash_and_the_apps_data_are_refused_as_locations(make_ctx, trash_dir, home):
    (trash_dir / "files").mkdir(parents=True)
    with pytest.raises(ValidationError, match=r"is in the trash \(.*/Trash\)"):  # when the job is read
        run(make_ctx, locations=[str(trash_dir / "files")])
    with pytest.raises(JobFailed, match="inside trayjobs' own data"):
        run(make_ctx, locations=[str(home.data_dir)])
