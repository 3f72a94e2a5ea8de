"""Cleanup filters on real trees: each filter, negation, all/any/none, and what a scan leaves out."""

from __future__ import annotations

import os
import time

import pytest

from test_cleanup_support import DAY, files, put, root, run, trash_dir, tree  # noqa: F401  (fixtures)


def planned(result) -> set[str]:
    return {os.path.basename(e["path"]) for e in result["planned"]}


def preview(make_ctx, root, filters, **more):
    more.setdefault("locations", [str(root)])
    result, _ = run(make_ctx, dry=True, filters=filters, **more)
    return planned(result)


@pytest.fixture
def mixed(root):
    put(root, "old.log", "x" * 10, age_days=40)
    put(root, "fresh.log", "x" * 10, age_days=1)
    put(root, "big.iso", b"x" * 3000, age_days=40)
    put(root, "Photo.JPG", "x" * 500, age_days=5)
    put(root, "IMG_0001.jpeg", "x", age_days=5)
    put(root, "empty.txt", "", age_days=40)
    put(root, "archive.tar.gz", "x", age_days=40)
    return root


def test_age_older_and_newer_by_modified(make_ctx, mixed):
    assert preview(make_ctx, mixed, [{"age": "older than 30d"}]) == \
        {"old.log", "big.iso", "empty.txt", "archive.tar.gz"}
    assert preview(make_ctx, mixed, [{"age": "newer than 2d"}]) == {"fresh.log"}
    assert preview(make_ctx, mixed, [{"age": "older than 4d"}, {"age": "newer than 6d"}]) == \
        {"Photo.JPG", "IMG_0001.jpeg"}


def test_age_by_accessed_and_created(make_ctx, root):
    put(root, "read-long-ago.txt", age_days=1, atime_days=90)
    put(root, "read-today.txt", age_days=90, atime_days=0.5)
    assert preview(make_ctx, root, [{"age": "older than 30d", "time": "accessed"}]) == {"read-long-ago.txt"}
    # Every file here was created moments ago, whatever its modified time says.
    assert preview(make_ctx, root, [{"age": "older than 1d", "time": "created"}]) == set()
    assert preview(make_ctx, root, [{"age": "newer than 1h", "time": "created"}]) == \
        {"read-long-ago.txt", "read-today.txt"}


def test_size_comparisons_and_units(make_ctx, root):
    put(root, "kb999.bin", b"x" * 999)
    put(root, "kb1.bin", b"x" * 1000)
    put(root, "kib1.bin", b"x" * 1024)
    put(root, "mb2.bin", b"x" * 2_000_000)
    assert preview(make_ctx, root, [{"size": "<1 KB"}]) == {"kb999.bin"}
    assert preview(make_ctx, root, [{"size": ">=1KiB"}]) == {"kib1.bin", "mb2.bin"}
    assert preview(make_ctx, root, [{"size": ">1 KB, <1 MB"}]) == {"kib1.bin"}
    assert preview(make_ctx, root, [{"size": "=1000"}]) == {"kb1.bin"}
    assert preview(make_ctx, root, [{"size": ">1.5 MB"}]) == {"mb2.bin"}
    assert preview(make_ctx, root, [{"size": ">1 MiB", "not": True}]) == {"kb999.bin", "kb1.bin", "kib1.bin"}


def test_name_glob_is_case_insensitive_unless_asked(make_ctx, mixed):
    assert preview(make_ctx, mixed, [{"name": "*.jpg"}]) == {"Photo.JPG"}
    assert preview(make_ctx, mixed, [{"name": "*.jpg", "case_sensitive": True}]) == set()
    assert preview(make_ctx, mixed, [{"name": ["IMG_*", "*.iso"]}]) == {"IMG_0001.jpeg", "big.iso"}


def test_regex_on_name_and_on_path(make_ctx, mixed):
    assert preview(make_ctx, mixed, [{"regex": r"^img_\d+"}]) == {"IMG_0001.jpeg"}
    assert preview(make_ctx, mixed, [{"regex": r"^img_\d+", "case_sensitive": True}]) == set()
    put(mixed, "sub/inner.log", age_days=40)
    assert preview(make_ctx, mixed, [{"regex": r"^sub/.*\.log$", "on": "path"}],
                   locations=[{"path": str(mixed), "recursive": True}]) == {"inner.log"}


def test_extension_with_or_without_dot_any_case_and_double(make_ctx, mixed):
    assert preview(make_ctx, mixed, [{"extension": ["jpg", ".JPEG"]}]) == {"Photo.JPG", "IMG_0001.jpeg"}
    assert preview(make_ctx, mixed, [{"extension": "tar.gz"}]) == {"archive.tar.gz"}
    assert preview(make_ctx, mixed, [{"extension": "log", "not": True}]) == \
        {"big.iso", "Photo.JPG", "IMG_0001.jpeg", "empty.txt", "archive.tar.gz"}


def test_empty_file(make_ctx, mixed):
    assert preview(make_ctx, mixed, [{"empty": True}]) == {"empty.txt"}
    assert "empty.txt" not in preview(make_ctx, mixed, [{"empty": False}])


def test_empty_folder_targets_folders_and_cascades(make_ctx, root):
    (root / "empty").mkdir()
    (root / "only-metadata").mkdir()
    put(root, "only-metadata/.DS_Store")
    (root / "outer/inner").mkdir(parents=True)
    put(root, "full/keep.txt")
    old = time.time() - 10 * DAY
    for d in ("empty", "only-metadata", "outer/inner", "outer", "full"):
        os.utime(root / d, (old, old))
    result, _ = run(make_ctx, dry=True, locations=[{"path": str(root), "recursive": True}],
                    targets="folders", filters=[{"empty": True}])
    assert planned(result) == {"empty", "only-metadata", "inner", "outer"}
    assert result["summary"].startswith("preview: would trash 4 folders")

    run(make_ctx, locations=[{"path": str(root), "recursive": True}], targets="folders",
        filters=[{"empty": True}])
    assert sorted(os.listdir(root)) == ["full"]


def test_folder_sizes_of_a_deep_tree_take_one_walk(make_ctx, root, monkeypatch):
    # each folder's size asked at every level: a walk per folder read the tree once for each
    # folder above each file, minutes for a deep tree of 100,000 files
    levels = 60
    top = root / "/".join(["d"] * levels)
    put(top.parent, "d/leaf.txt")
    scandir, calls = os.scandir, []
    monkeypatch.setattr(os, "scandir", lambda p: calls.append(p) or scandir(p))
    result, _ = run(make_ctx, dry=True, locations=[{"path": str(root), "recursive": True}],
                    targets="folders", filters=[{"size": ">1 GB"}])
    assert result["scanned"] == levels and result["acted"] == 0, result
    assert len(calls) < 3 * levels, len(calls)  # a listing and a size walk per folder, not 1,800


def test_a_folder_size_is_worked_out_again_once_the_run_changed_inside_it(make_ctx, root):
    put(root, "outer/file.txt", "x" * 700)
    put(root, "outer/inner/small.txt", "y" * 500)  # outer: 1,200 bytes; 700 once inner is gone
    old = time.time() - 10 * DAY
    for d in ("outer/inner", "outer"):
        os.utime(root / d, (old, old))
    result, _ = run(make_ctx, locations=[{"path": str(root), "recursive": True}], targets="folders",
                    filters=[{"size": "<1 KB"}])
    assert [os.path.basename(d["path"]) for d in result["done"]] == ["inner", "outer"], result
    assert os.listdir(root) == []


@pytest.mark.parametrize("action", ["trash", "delete"])
def test_a_drives_trash_is_never_tidied_even_with_system_files(make_ctx, root, action):
    # a location at the top of a drive holds its trash: trashing what is in it again would
    # lose the records that let it be restored
    tree(root, {".Trash-1000/files/old.txt": "o", ".Trash-1000/info/old.txt.trashinfo": "i",
                ".Trash/1000/files/x.txt": "x", ".DS_Store": "d", "real.txt": "r"})
    result, _ = run(make_ctx, locations=[{"path": str(root), "recursive": True}], filters=[{"name": "*"}],
                    include_system_files=True, action=action)
    assert sorted(os.path.basename(d["path"]) for d in result["done"]) == [".DS_Store", "real.txt"]
    assert files(root) == {".Trash-1000/files/old.txt", ".Trash-1000/info/old.txt.trashinfo",
                           ".Trash/1000/files/x.txt"}
    folders, _ = run(make_ctx, run_id=2, dry=True, locations=[str(root)], filters=[], targets="folders",
                     include_system_files=True, action=action)
    assert folders["acted"] == 0, folders


def test_match_all_any_none(make_ctx, mixed):
    f = [{"age": "older than 30d"}, {"extension": "log"}]
    assert preview(make_ctx, mixed, f, match="all") == {"old.log"}
    assert preview(make_ctx, mixed, f, match="any") == \
        {"old.log", "fresh.log", "big.iso", "empty.txt", "archive.tar.gz"}
    assert preview(make_ctx, mixed, f, match="none") == {"Photo.JPG", "IMG_0001.jpeg"}


def test_no_filters_match_everything(make_ctx, mixed):
    assert len(preview(make_ctx, mixed, [])) == 7


def test_system_files_are_left_alone_unless_included(make_ctx, root):
    tree(root, {".DS_Store": "x", "Thumbs.db": "x", "desktop.ini": "x", "~$report.docx": "x",
                ".git/config": "x", "._resource": "x", "real.txt": "x"})
    assert preview(make_ctx, root, [], locations=[{"path": str(root), "recursive": True}]) == {"real.txt"}
    assert preview(make_ctx, root, [], include_system_files=True,
                   locations=[{"path": str(root), "recursive": True}]) == \
        {".DS_Store", "Thumbs.db", "desktop.ini", "~$report.docx", "config", "._resource", "real.txt"}


def test_recursion_depth_and_excludes(make_ctx, root):
    tree(root, {"top.txt": "x", "a/one.txt": "x", "a/b/two.txt": "x", "a/b/c/three.txt": "x",
                "keep.keep": "x", "a/skip-me/four.txt": "x", "node_modules/x.txt": "x"})
    assert preview(make_ctx, root, [], locations=[str(root)]) == {"top.txt", "keep.keep"}
    assert preview(make_ctx, root, [], locations=[{"path": str(root), "max_depth": 1}]) == \
        {"top.txt", "keep.keep", "one.txt", "x.txt"}
    assert preview(make_ctx, root, [], locations=[{"path": str(root), "recursive": True,
                                                   "exclude": ["*.keep", "a/skip-me", "b"]}],
                   exclude=["node_modules"]) == {"top.txt", "one.txt"}


def test_recently_modified_and_open_office_files_count_as_in_use(make_ctx, root):
    put(root, "just-now.txt", age_days=0)
    put(root, "report.docx", age_days=10)
    put(root, "~$port.docx", age_days=0)        # Word's owner file for report.docx
    put(root, "sheet.ods", age_days=10)
    put(root, ".~lock.sheet.ods#", age_days=0)  # LibreOffice's lock
    put(root, "free.txt", age_days=10)
    result, _ = run(make_ctx, dry=True, locations=[str(root)])
    assert planned(result) == {"free.txt"}
    assert result["skipped"] == {"in use": 3}
    assert "would skip 3 (in use)" in result["summary"]
    result, _ = run(make_ctx, dry=True, locations=[str(root)], skip_recent="0s")
    assert planned(result) == {"free.txt", "just-now.txt"}


def test_special_files_are_never_items(make_ctx, root):
    os.mkfifo(root / "pipe")
    put(root, "plain.txt")
    assert preview(make_ctx, root, []) == {"plain.txt"}
    assert files(root) == {"pipe", "plain.txt"}
