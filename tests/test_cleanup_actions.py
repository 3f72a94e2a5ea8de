"""Cleanup actions on real trees: trash, move, copy, rename, archive, delete; conflicts; emptied folders."""

from __future__ import annotations

import os
import time
import zipfile
from urllib.parse import unquote

import pytest

from test_cleanup_support import (DAY, files, put, root, run, snapshot, trash_dir, trashed,  # noqa: F401
                                  tree, undo)


def test_trash_writes_freedesktop_entries(make_ctx, root, trash_dir):
    put(root, "a.txt", "aa")
    put(root, "sub/a.txt", "bbb")
    put(root, "naïve name %.txt", "c")
    result, _ = run(make_ctx, locations=[{"path": str(root), "recursive": True}])
    assert files(root) == set()
    assert trashed(trash_dir) == {"a.txt", "a.2.txt", "naïve name %.txt"}
    info = (trash_dir / "info" / "naïve name %.txt.trashinfo").read_text()
    lines = info.splitlines()
    assert lines[0] == "[Trash Info]"
    assert lines[1].startswith("Path=") and " " not in lines[1] and "%25" in lines[1]
    assert unquote(lines[1][5:]) == str(root / "naïve name %.txt")
    assert time.strptime(lines[2], "DeletionDate=%Y-%m-%dT%H:%M:%S")
    assert (trash_dir / "files" / "a.2.txt").read_text() in ("aa", "bbb")
    assert result["summary"] == "trashed 3 files (6 B), 0 errors"
    assert {e["dest"] for e in result["done"]} == {str(trash_dir / "files" / n) for n in trashed(trash_dir)}


def test_trash_is_the_default_and_a_link_is_trashed_not_its_target(make_ctx, root, tmp_path, trash_dir):
    target = put(tmp_path, "elsewhere/target.txt", "keep me")
    os.symlink(target, root / "link.txt")
    old = time.time() - 10 * DAY
    os.utime(root / "link.txt", (old, old), follow_symlinks=False)
    run(make_ctx, locations=[str(root)], filters=[{"name": "link*"}])
    assert not os.path.lexists(root / "link.txt")
    assert os.path.islink(trash_dir / "files" / "link.txt")
    assert target.read_text() == "keep me"


def test_move_into_dated_folders_outside_the_location(make_ctx, root, tmp_path):
    put(root, "report.PDF", "r", age_days=0)
    os.utime(root / "report.PDF", (time.mktime((2023, 4, 5, 12, 0, 0, 0, 0, -1)),) * 2)
    dest = tmp_path / "archive"
    result, _ = run(make_ctx, locations=[str(root)], action={"move": f"{dest}/{{year}}/{{month}}/{{ext}}"})
    moved = dest / "2023" / "04" / "pdf" / "report.PDF"
    assert moved.read_text() == "r"
    assert files(root) == set()
    assert result["summary"] == "moved 1 file (1 B), 0 errors"


def test_move_to_a_relative_folder_stays_in_the_location_and_is_not_moved_twice(make_ctx, root):
    tree(root, {"a.log": "1", "b.log": "2", "sub/c.log": "3"})
    run(make_ctx, locations=[{"path": str(root), "recursive": True}], action={"move": "old/{relative}"})
    assert files(root) == {"old/a.log", "old/b.log", "old/sub/c.log"}


def test_copy_keeps_the_original_and_its_times(make_ctx, root, tmp_path):
    src = put(root, "keep.txt", "data", age_days=3)
    run(make_ctx, locations=[str(root)], action={"copy": str(tmp_path / "backup")})
    copy = tmp_path / "backup" / "keep.txt"
    assert src.read_text() == copy.read_text() == "data"
    assert os.stat(copy).st_mtime_ns == os.stat(src).st_mtime_ns


def test_rename_from_a_template(make_ctx, root):
    p = put(root, "scan.png", "img")
    os.utime(p, (time.mktime((2022, 12, 31, 9, 0, 0, 0, 0, -1)),) * 2)
    run(make_ctx, locations=[str(root)], action={"rename": "{date} {stem}-old{suffix}"})
    assert files(root) == {"2022-12-31 scan-old.png"}


def test_archive_zips_then_trashes_the_originals(make_ctx, root, tmp_path, trash_dir):
    tree(root, {"a.txt": "alpha", "sub/b.txt": "beta", "photo.jpg": "jpeg-bytes"})
    result, _ = run(make_ctx, locations=[{"path": str(root), "recursive": True}],
                    action={"archive": str(tmp_path / "zips" / "old-{today}")})
    (archive,) = list((tmp_path / "zips").iterdir())
    assert archive.name == f"old-{time.strftime('%Y-%m-%d')}.zip"
    with zipfile.ZipFile(archive) as zf:
        assert zf.testzip() is None
        assert sorted(zf.namelist()) == ["a.txt", "photo.jpg", "sub/b.txt"]
        assert zf.read("sub/b.txt") == b"beta"
        assert zf.getinfo("photo.jpg").compress_type == zipfile.ZIP_STORED
    assert files(root) == set()
    assert trashed(trash_dir) == {"a.txt", "b.txt", "photo.jpg"}
    assert result["summary"] == "archived 3 files (19 B) into 1 archive, 0 errors"


def test_archive_groups_by_file_date_and_can_keep_originals(make_ctx, root, tmp_path):
    for name, month in (("jan.txt", 1), ("feb.txt", 2), ("feb2.txt", 2)):
        p = put(root, name)
        os.utime(p, (time.mktime((2024, month, 10, 12, 0, 0, 0, 0, -1)),) * 2)
    run(make_ctx, locations=[str(root)], action={"archive": str(tmp_path / "{year}-{month}.zip"),
                                                 "originals": "keep"})
    assert sorted(p.name for p in tmp_path.glob("*.zip")) == ["2024-01.zip", "2024-02.zip"]
    with zipfile.ZipFile(tmp_path / "2024-02.zip") as zf:
        assert sorted(zf.namelist()) == ["feb.txt", "feb2.txt"]
    assert files(root) == {"jan.txt", "feb.txt", "feb2.txt"}


def test_archive_of_folders_holds_their_content(make_ctx, root, tmp_path):
    tree(root, {"project/src/main.py": "print()", "project/README": "hi", "other/x": "x"})
    old = time.time() - 40 * DAY
    os.utime(root / "project", (old, old))
    os.utime(root / "other", (old, old))
    run(make_ctx, locations=[str(root)], targets="folders", filters=[{"name": "project"}],
        action={"archive": str(tmp_path / "projects.zip")})
    with zipfile.ZipFile(tmp_path / "projects.zip") as zf:
        assert set(zf.namelist()) >= {"project/", "project/src/main.py", "project/README"}
    assert sorted(os.listdir(root)) == ["other"]


def test_delete_is_permanent_and_bypasses_the_trash(make_ctx, root, trash_dir):
    put(root, "gone.tmp")
    put(root, "stays.txt")
    result, _ = run(make_ctx, locations=[str(root)], filters=[{"extension": "tmp"}], action="delete")
    assert files(root) == {"stays.txt"}
    assert trashed(trash_dir) == set()
    assert result["summary"].startswith("deleted 1 file")


def test_remove_empty_folders_afterwards_but_never_the_location(make_ctx, root):
    tree(root, {"a/b/c/old.log": "x", "a/keep.txt": "x", "d/e/old.log": "x", "f/untouched/": "x"})
    (root / "already-empty").mkdir()
    run(make_ctx, locations=[{"path": str(root), "recursive": True}], filters=[{"extension": "log"}],
        remove_empty_folders=True)
    assert snapshot(root).keys() == {".", "a", "a/keep.txt", "f", "f/untouched", "already-empty"}
    result, _ = run(make_ctx, run_id=2, locations=[str(root)], filters=[{"extension": "txt"}],
                    remove_empty_folders=True)
    assert (root / "a").is_dir()  # not recursive: a/keep.txt was never looked at
    assert os.path.isdir(root)


@pytest.mark.parametrize("policy", ["skip", "rename", "overwrite"])
def test_conflict_policies(make_ctx, root, tmp_path, trash_dir, policy):
    dest = tmp_path / "dest"
    put(dest, "same.txt", "already there", age_days=100)
    put(root, "same.txt", "incoming")
    put(root, "other.txt", "no clash")
    result, _ = run(make_ctx, locations=[str(root)], action={"move": str(dest)}, conflict=policy)
    got = {p.name: p.read_text() for p in dest.iterdir()}
    if policy == "skip":
        assert got == {"same.txt": "already there", "other.txt": "no clash"}
        assert files(root) == {"same.txt"}
        assert result["skipped"] == {"already exists": 1}
        assert "skipped 1 (already exists)" in result["summary"]
    elif policy == "rename":
        assert got == {"same.txt": "already there", "same (1).txt": "incoming", "other.txt": "no clash"}
    else:
        assert got == {"same.txt": "incoming", "other.txt": "no clash"}
        assert (trash_dir / "files" / "same.txt").read_text() == "already there"
    assert result["errors"] == 0


def test_two_items_for_one_destination_in_one_run_both_arrive(make_ctx, root, tmp_path):
    tree(root, {"x/notes.txt": "1", "y/notes.txt": "2"})
    run(make_ctx, locations=[{"path": str(root), "recursive": True}], action={"move": str(tmp_path / "all")},
        conflict="overwrite")
    assert sorted(p.read_text() for p in (tmp_path / "all").iterdir()) == ["1", "2"]


@pytest.mark.parametrize("action", [{"copy": "{tmp}/all"}, {"archive": "{tmp}/all.zip"}])
def test_a_file_in_two_overlapping_locations_is_acted_on_once(make_ctx, root, tmp_path, action):
    tree(root, {"a.txt": "a", "sub/b.txt": "b"})
    action = {k: v.replace("{tmp}", str(tmp_path)) for k, v in action.items()}
    result, _ = run(make_ctx, locations=[{"path": str(root), "recursive": True}, str(root / "sub")],
                    action=action)
    assert result["acted"] == 2 and result["skipped"] == {} and result["errors"] == 0, result
    if "copy" in action:
        assert sorted(os.listdir(tmp_path / "all")) == ["a.txt", "b.txt"]
    else:
        assert sorted(zipfile.ZipFile(tmp_path / "all.zip").namelist()) == ["a.txt", "sub/b.txt"]


@pytest.mark.parametrize("action", ["trash", {"copy": "{tmp}/copies"}, {"archive": "{tmp}/all.zip"}])
def test_a_name_of_the_longest_length_is_acted_on_and_undone(make_ctx, root, tmp_path, trash_dir, action):
    # 255 bytes is the most a name may have: the trash's NAME.trashinfo and a copy's temporary
    # name must not make it longer
    long = "é" * 100 + "L" * 49 + ".txt"  # 253 bytes
    put(root, long, "data")
    put(root, "short.txt", "s")
    if not isinstance(action, str):
        action = {k: v.replace("{tmp}", str(tmp_path)) for k, v in action.items()}
    before = snapshot(root)
    result, _ = run(make_ctx, locations=[str(root)], action=action)
    assert result["acted"] == 2 and result["errors"] == 0, result
    if action == "trash":
        info = [n for n in os.listdir(trash_dir / "info") if n.startswith("é")]
        assert len(info) == 1 and len(os.fsencode(info[0])) <= 255
        with open(trash_dir / "info" / info[0]) as fh:  # the desktop's trash puts it back by its full name
            assert unquote(fh.read().split("Path=")[1].split()[0]) == str(root / long)
    if "copy" in action:
        assert (tmp_path / "copies" / long).read_text() == "data"
    outcome, _ = undo(make_ctx, result, locations=[str(root)], action=action)
    assert outcome["not_undone"] == 0 and snapshot(root) == before, outcome


def test_a_long_name_taken_at_the_destination_gets_a_numbered_name_that_fits(make_ctx, root, tmp_path):
    long = "L" * 249 + ".txt"
    put(tmp_path / "dest", long, "already there")
    put(root, long, "new")
    result, _ = run(make_ctx, locations=[str(root)], action={"move": str(tmp_path / "dest")})
    assert result["acted"] == 1 and result["errors"] == 0, result
    numbered = sorted(os.listdir(tmp_path / "dest"))[0]
    assert numbered.endswith(" (1).txt") and len(numbered) == 255
    assert (tmp_path / "dest" / numbered).read_text() == "new"


def test_overwrite_never_replaces_a_folder_with_a_file(make_ctx, root, tmp_path):
    (tmp_path / "dest" / "thing").mkdir(parents=True)
    put(root, "thing", "file")
    result, _ = run(make_ctx, locations=[str(root)], action={"move": str(tmp_path / "dest")}, conflict="overwrite")
    assert (tmp_path / "dest" / "thing").is_dir()
    assert result["skipped"] == {"a folder is in the way": 1}


def test_progress_is_reported_and_throttled(make_ctx, root):
    for i in range(300):
        put(root, f"d{i % 30}/f{i}.txt")
    result, ctx = run(make_ctx, locations=[{"path": str(root), "recursive": True}])
    progress = ctx.sink.of("progress")
    assert 1 <= len(progress) <= 40
    assert progress[-1]["done"] == 300 and progress[-1]["unit"] == "files"
    assert progress[-1]["message"] == "scanned 300 files, trashed 300"
    assert result["acted"] == 300


@pytest.mark.parametrize("shared", [False, True])
def test_trash_on_another_drive_uses_that_drives_trash(make_ctx, tmp_path, monkeypatch, shared):
    from test_cleanup_support import undo
    from trayjobs.kinds.cleanup import freedesktop
    drive = tmp_path / "drive"
    root = drive / "photos"
    put(root, "a.jpg", "a")
    before = snapshot(root)
    monkeypatch.setattr(freedesktop, "_home_device", lambda: -1)  # as if home were elsewhere
    monkeypatch.setattr(freedesktop, "_mount_point", lambda path: str(drive))
    if shared:  # an administrator's sticky .Trash: each user gets a folder in it
        (drive / ".Trash").mkdir(mode=0o777)
        os.chmod(drive / ".Trash", 0o1777)
    bin_ = drive / ".Trash" / str(os.getuid()) if shared else drive / f".Trash-{os.getuid()}"
    result, _ = run(make_ctx, locations=[str(root)])
    assert (bin_ / "files" / "a.jpg").read_text() == "a"
    assert "Path=photos/a.jpg\n" in (bin_ / "info" / "a.jpg.trashinfo").read_text()  # relative to the drive
    assert os.stat(bin_).st_mode & 0o777 == 0o700
    undo(make_ctx, result, locations=[str(root)])
    assert snapshot(root) == before


def test_other_platforms_use_send2trash_and_undo_says_so(make_ctx, root, monkeypatch):
    import send2trash
    from test_cleanup_support import undo
    from trayjobs.kinds.cleanup.actions import trash
    sent = []
    monkeypatch.setattr(trash, "FREEDESKTOP", False)
    monkeypatch.setattr(send2trash, "send2trash", lambda p: (sent.append(p), os.unlink(p)))
    put(root, "a.txt")
    result, _ = run(make_ctx, locations=[str(root)])
    assert sent == [str(root / "a.txt")] and result["summary"] == "trashed 1 file (1 B), 0 errors"
    outcome, _ = undo(make_ctx, result, locations=[str(root)])
    assert outcome["problems"][0]["reason"] == "it went to the system trash; restore it from there"


def test_a_preview_of_renames_removes_no_folder_the_run_keeps(make_ctx, root):
    # a renamed file stays in its folder: neither the preview nor the run empties it
    put(root, "sub/a.txt", "a")
    put(root, "sub/deeper/b.txt", "b")
    raw = dict(locations=[{"path": str(root), "recursive": True}], action={"rename": "{stem}-old{suffix}"},
               remove_empty_folders=True)
    preview, _ = run(make_ctx, dry=True, **raw)
    result, _ = run(make_ctx, run_id=2, **raw)
    assert files(root) == {"sub/a-old.txt", "sub/deeper/b-old.txt"}
    assert result["folders_removed"] == 0
    assert preview["folders_removed"] == 0, preview["summary"]
    assert [e["path"] for e in preview["planned"]] == [e["path"] for e in result["done"]]
