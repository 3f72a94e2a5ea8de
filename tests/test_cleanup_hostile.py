"""Cleanup and undo against hostile trees: nothing outside the locations is ever touched.

Every test builds its tree in ``tmp_path``: names that are not UTF-8, links in and out,
a folder swapped for a link while a run is going, immutable files, mount points, pipes
and sockets. Each asserts that the folder outside the location is byte-for-byte what it
was (``snapshot``), whatever the run or the undo managed to do.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import stat
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest
from pydantic import ValidationError

from test_cleanup_support import (DAY, cleanup, context, files, params, put, root, run, snapshot,  # noqa: F401
                                  trash_dir, trashed, tree, undo)
from trayjobs.errors import JobFailed
from trayjobs.kinds.cleanup import freedesktop, fsops, journal_path

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
BAD = os.fsdecode(b"bad\xff.txt")  # a name that is not valid UTF-8, as Python sees it


@pytest.fixture
def outside(tmp_path) -> Path:
    """Somebody else's folder, next to the location: it must come out of every test untouched."""
    out = tmp_path / "outside"
    tree(out, {"precious.txt": ("do not touch", 400), "deep/also.txt": ("nor this", 400),
               "sub/x.txt": ("same name as inside", 400)})
    return out


def all_text(value) -> None:
    """Whatever a run returns or logs can be stored and shown as UTF-8."""
    json.dumps(value, ensure_ascii=False).encode("utf-8")


# -- D1: names that are not UTF-8 ------------------------------------------------------------

def test_a_name_that_is_not_utf8_is_trashed_journalled_and_undone_exactly(make_ctx, root, trash_dir):
    put(root, BAD, "payload")
    put(root, "good.txt", "ok")
    before = snapshot(root)
    result, ctx = run(make_ctx, locations=[str(root)])
    assert result["acted"] == 2 and result["errors"] == 0, result
    assert trashed(trash_dir) == {BAD, "good.txt"}
    all_text(result)
    all_text(ctx.sink.logs)
    assert any("bad\\xff.txt" in line for line in ctx.sink.logs)  # shown with an escape
    with sqlite3.connect(journal_path(ctx.home)) as db:
        stored = {r[0] for r in db.execute("SELECT src FROM actions")}
    assert os.fsencode(str(root / BAD)) in stored  # the exact bytes, losslessly
    outcome, _ = undo(make_ctx, result, locations=[str(root)])
    assert outcome["undone"] == 2 and outcome["not_undone"] == 0
    assert snapshot(root) == before
    assert (root / BAD).read_text() == "payload"


def test_a_name_with_a_line_break_is_one_escaped_log_line_and_undone_exactly(make_ctx, root, trash_dir):
    # a name is never taken for more log lines (or a forged one)
    name = "new\n12:00:00 info    trashed 0 files\tx.txt"
    put(root, name, "payload")
    put(root, "odd\nfolder/y.txt")
    before = snapshot(root)
    raw = dict(locations=[{"path": str(root), "recursive": True}], remove_empty_folders=True)
    result, ctx = run(make_ctx, **raw)
    assert result["acted"] == 2 and result["folders_removed"] == 1 and result["errors"] == 0, result
    assert not any("\n" in line or "\t" in line for line in ctx.sink.logs), ctx.sink.logs
    assert any("new\\n12:00:00 info    trashed 0 files\\tx.txt" in line for line in ctx.sink.logs)
    assert any(line.endswith("emptied folder " + str(root / "odd\\nfolder")) for line in ctx.sink.logs)
    assert str(root / "new\\n12:00:00 info    trashed 0 files\\tx.txt") in [e["path"] for e in result["done"]]
    outcome, _ = undo(make_ctx, result, **raw)
    assert outcome["not_undone"] == 0 and snapshot(root) == before


def test_a_preview_of_a_name_that_is_not_utf8_lists_it_escaped(make_ctx, root):
    put(root, BAD)
    result, ctx = run(make_ctx, dry=True, locations=[str(root)], action={"move": "sorted/{ext}"})
    assert result["acted"] == 1 and result["errors"] == 0
    all_text(result)
    assert result["planned"][0]["path"].endswith("bad\\xff.txt")
    assert (root / BAD).exists()


@pytest.mark.parametrize("action", [{"move": "sorted"}, {"copy": "copies/{relative}"}, {"rename": "old-{name}"},
                                    {"archive": "all.zip"}, "delete"])
def test_every_action_works_on_a_name_that_is_not_utf8(make_ctx, root, action):
    put(root, f"sub/{BAD}", "payload")
    result, ctx = run(make_ctx, locations=[{"path": str(root), "recursive": True}], action=action)
    assert result["acted"] == 1 and result["errors"] == 0, result
    all_text(result)


# -- D2: a destination folder that is a link to outside --------------------------------------

def test_a_move_into_a_link_to_outside_writes_nothing_there(make_ctx, root, outside, trash_dir):
    tree(root, {"a.txt": "a", "precious.txt": "mine", "sub/b.txt": "b"})
    os.symlink(outside, root / "sorted")
    before = snapshot(outside)
    result, _ = run(make_ctx, locations=[{"path": str(root), "recursive": True}],
                    action={"move": "sorted"}, conflict="overwrite", may_fail=True)
    assert snapshot(outside) == before
    assert result["acted"] == 0 and result["errors"] == 3 and result["failed"], result
    errors = [p for p in result["problems"] if p["kind"] == "error"]
    assert len(errors) == 3 and all("is a link, not a folder; not followed" in p["reason"] for p in errors), errors
    assert os.path.islink(root / "sorted")  # the link itself stays where it is
    assert files(root) >= {"a.txt", "precious.txt", "sub/b.txt"}
    assert not trashed(trash_dir)  # nothing outside was "replaced" into the trash
    outcome, _ = undo(make_ctx, result, locations=[{"path": str(root), "recursive": True}])
    assert snapshot(outside) == before and outcome["undone"] == 0


@pytest.mark.parametrize("action", [{"move": "sorted/{ext}"}, {"copy": "sorted"}, {"archive": "sorted/all.zip"}])
def test_a_preview_says_what_the_run_meets_in_a_destination_that_is_a_link(make_ctx, root, outside, action):
    tree(root, {"a.txt": "a", "b.txt": "b"})
    os.symlink(outside, root / "sorted")
    preview, _ = run(make_ctx, dry=True, locations=[str(root)], filters=[{"extension": "txt"}], action=action)
    result, _ = run(make_ctx, run_id=2, locations=[str(root)], filters=[{"extension": "txt"}], action=action,
                    may_fail=True)
    assert preview["acted"] == result["acted"] == 0 and preview["errors"] == result["errors"] == 2, preview
    assert preview["problems"] == result["problems"]
    assert "the destination " + str(root / "sorted") + " is a link, not a folder" in preview["problems"][0]["reason"]


def test_a_link_to_outside_deeper_in_the_destination_is_not_followed(make_ctx, root, outside):
    tree(root, {"a.txt": "a"})
    dest = root.parent / "archive"
    dest.mkdir()
    os.symlink(outside, dest / "2020")
    before = snapshot(outside)
    old = time.mktime((2020, 6, 1, 12, 0, 0, 0, 0, -1))
    os.utime(root / "a.txt", (old, old))
    result, _ = run(make_ctx, locations=[str(root)], action={"move": str(dest) + "/{year}"},
                    may_fail=True)
    assert snapshot(outside) == before
    assert result["errors"] == 1 and "is a link, not a folder; not followed" in result["problems"][0]["reason"]


# -- D3: templates that start with a placeholder --------------------------------------------

@pytest.mark.parametrize("action, where", [({"move": "{relative}/old"}, "old/top.txt"),
                                           ({"move": "{relative}/{year}"}, "{year}/top.txt"),
                                           ({"copy": "{relative}/old"}, "old/top.txt"),
                                           ({"archive": "{relative}/old.zip"}, "old.zip")])
def test_a_template_starting_with_relative_stays_inside_the_location(make_ctx, root, action, where):
    tree(root, {"top.txt": "t", "sub/deep.txt": "d"})
    year = time.strftime("%Y", time.localtime(os.stat(root / "top.txt").st_mtime))
    result, _ = run(make_ctx, locations=[{"path": str(root), "recursive": True}], action=action)
    assert result["errors"] == 0, result
    assert (root / where.format(year=year)).exists()
    if "archive" not in action:
        assert (root / "sub" / where.format(year=year).replace("top", "deep")).exists()
    dests = [e["dest"] for e in result["done"]]
    assert all(d.startswith(str(root) + os.sep) for d in dests), dests


@pytest.mark.parametrize("template", ["/{relative}/old", "/etc/{year}", "{relative}/../../x", "sorted/{year}/../.."])
def test_templates_that_could_leave_their_folder_fail_the_check(template, root):
    with pytest.raises(ValidationError) as err:
        params(locations=[str(root)], action={"move": template})
    assert "action" in str(err.value) and "move" in str(err.value)


def test_a_name_with_a_nul_is_never_cut_short_by_the_system(root):
    # C ends a name at its NUL: renaming to "a\0b" would rename to "a", not what was asked
    put(root, "x.txt", "x")
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with pytest.raises(OSError, match="NUL"):
            fsops.rename_noreplace("x.txt", "a\x00b", src_dir_fd=fd, dst_dir_fd=fd)
    finally:
        os.close(fd)
    assert files(root) == {"x.txt"}


@pytest.mark.parametrize("action, size", [({"rename": "{stem}-old{suffix}"}, 258),
                                          ({"move": "../sorted/{stem}-older"}, 256),  # a folder's name
                                          ({"archive": "../zips/{stem}-old.zip"}, 258)])
def test_a_new_name_too_long_is_a_skip_the_preview_already_shows(make_ctx, root, action, size):
    long = "L" * 250 + ".txt"  # 254 bytes: the template makes it more than the 255 a name may have
    put(root, long, "x")
    put(root, "short.txt", "s")
    preview, _ = run(make_ctx, dry=True, locations=[str(root)], action=action)
    result, _ = run(make_ctx, run_id=2, locations=[str(root)], action=action)
    for r in (preview, result):
        assert r["acted"] == 1 and r["errors"] == 0, r
        assert r["problems"] == [{"path": str(root / long), "kind": "skip",
                                  "reason": f"the new name would be {size} bytes long; a name may have 255"}], r
    assert (root / long).read_text() == "x"


# -- a folder whose destination is inside itself -------------------------------------------

@pytest.mark.parametrize("action", [{"move": "a/inner"}, {"copy": "a/inner"}, {"archive": "a/all.zip"}])
def test_a_folder_is_never_put_inside_itself(make_ctx, root, action):
    # a copy would copy its own copy without end; a move is refused by the system ("Invalid argument")
    tree(root, {"a/x.txt": "x", "b/y.txt": "y"})
    past = time.time() - 10 * DAY
    for d in ("a", "b"):
        os.utime(root / d, (past, past))
    preview, _ = run(make_ctx, dry=True, locations=[str(root)], targets="folders", action=action)
    result, _ = run(make_ctx, run_id=2, locations=[str(root)], targets="folders", action=action)
    for r in (preview, result):
        assert r["acted"] == 1 and r["errors"] == 0, r
        assert r["problems"] == [{"path": str(root / "a"), "kind": "skip",
                                  "reason": "the destination is inside the folder itself"}], r
    assert (root / "a" / "x.txt").read_text() == "x"
    assert not any(".trayjobs-partial" in f for f in files(root)), files(root)


# -- folders nested deeper than Python's recursion goes ---------------------------------------

def nest(top: Path, levels: int) -> None:
    """``top/d/d/.../d/leaf.txt``, ``levels`` folders deep (reached by descriptor: too long a path)."""
    top.mkdir(parents=True)
    fd = os.open(top, os.O_RDONLY)
    for _ in range(levels):
        os.mkdir("d", dir_fd=fd)
        fd, old = os.open("d", os.O_RDONLY, dir_fd=fd), fd
        os.close(old)
    os.close(os.open("leaf.txt", os.O_WRONLY | os.O_CREAT, dir_fd=fd))
    os.close(fd)


@pytest.mark.parametrize("action", ["delete", {"copy": "../copies"}, {"archive": "../all.zip"}])
def test_a_folder_nested_too_deep_is_an_error_of_its_own(make_ctx, root, tmp_path, monkeypatch, action):
    # Python's recursion limit made small, with the nesting allowed to match: 120 levels then
    # overflow it, as 1,100 would the usual 1,000
    monkeypatch.setattr(fsops, "MAX_NESTING", 60)
    nest(root / "deep", 120)
    put(root, "plain/x.txt", "x")
    past = time.time() - 10 * DAY
    for d in ("deep", "plain"):
        os.utime(root / d, (past, past))
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(150)
    try:
        result, _ = run(make_ctx, locations=[str(root)], targets="folders", action=action)
    finally:
        sys.setrecursionlimit(limit)
    assert result["acted"] == 1 and result["errors"] == 1, result
    assert result["problems"][0]["path"] == str(root / "deep")
    assert "nested more than 60 levels deep" in result["problems"][0]["reason"], result
    assert os.path.exists(root / "deep" / "d" / "d")  # nothing of it was deleted
    if "copy" in action:
        assert os.listdir(tmp_path / "copies") == ["plain"]  # no half copy left


# -- D4: a folder swapped for a link while the run is going ---------------------------------

def swap(folder: Path, target: Path) -> None:
    """Replace ``folder`` by a link to ``target``; the original moves next to the location."""
    os.rename(folder, folder.parent.parent / f"{folder.name}-moved-{time.monotonic_ns()}")
    os.symlink(target, folder)


@pytest.mark.parametrize("action", ["trash", "delete"])
def test_a_folder_swapped_for_a_link_mid_run_acts_on_nothing_outside(make_ctx, root, outside, trash_dir,
                                                                      monkeypatch, action):
    tree(root, {f"a/{i:02}.txt": "a" for i in range(5)} | {f"sub/{i:02}.txt": "s" for i in range(5)})
    tree(outside, {f"{i:02}.txt": ("theirs", 400) for i in range(5)})  # the same names: a path would hit them
    before = snapshot(outside)
    swapped, calls = [], []
    real_unlink, real_rename = os.unlink, freedesktop.rename_noreplace

    def swap_after_first_in_sub():
        calls.append(1)
        if len(calls) == 6:  # "a" holds five; the sixth is the first of "sub"
            swapped.append(1)
            swap(root / "sub", outside)

    # the swap lands between the first action in "sub" and the rest of them
    def rename_then_swap(src, dst, **fds):
        real_rename(src, dst, **fds)
        swap_after_first_in_sub()

    def unlink_then_swap(path, *, dir_fd=None):
        real_unlink(path, dir_fd=dir_fd)
        if str(path).endswith(".txt"):
            swap_after_first_in_sub()
    monkeypatch.setattr(freedesktop, "rename_noreplace", rename_then_swap)
    monkeypatch.setattr(os, "unlink", unlink_then_swap)
    result, _ = run(make_ctx, locations=[{"path": str(root), "recursive": True}], action=action, skip_recent="0s")
    monkeypatch.undo()
    assert swapped
    assert snapshot(outside) == before


@pytest.mark.parametrize("action", ["trash", "delete"])
def test_a_background_thread_swapping_folders_never_reaches_outside(make_ctx, root, outside, trash_dir, action):
    tree(outside, {f"{i:03}.txt": ("theirs", 400) for i in range(60)})  # the same names: a path would hit them
    before = snapshot(outside)
    for attempt in range(5):
        for d in ("one", "two", "three"):
            tree(root, {f"{d}/{i:03}.txt": "x" for i in range(60)})
        stop = threading.Event()

        def swapper():
            for d in ("one", "two", "three"):
                if stop.wait(0.002 * (attempt + 1)):
                    return
                try:
                    swap(root / d, outside)
                except OSError:
                    pass
        t = threading.Thread(target=swapper)
        t.start()
        try:
            run(make_ctx, run_id=attempt + 1, locations=[{"path": str(root), "recursive": True}], action=action,
                skip_recent="0s", may_fail=True)
        finally:
            stop.set()
            t.join()
        assert snapshot(outside) == before, f"attempt {attempt}"
        for d in ("one", "two", "three"):
            if os.path.islink(root / d):
                os.unlink(root / d)


# -- D5: undo after a folder was replaced by a link ------------------------------------------

@pytest.mark.parametrize("action", ["trash", {"move": "../moved/{relative}"}, {"rename": "x-{name}"}])
def test_undo_does_not_write_through_a_link_that_appeared_since(make_ctx, root, outside, tmp_path, action):
    tree(root, {"sub/a.txt": "a", "sub/b.txt": "b", "top.txt": "t"})
    loc = [{"path": str(root), "recursive": True}]
    result, _ = run(make_ctx, locations=loc, action=action, remove_empty_folders=False)
    assert result["acted"] == 3
    if os.path.isdir(root / "sub"):
        os.rename(root / "sub", tmp_path / "sub-was-here")
    os.symlink(outside, root / "sub")
    before = snapshot(outside)
    outcome, ctx = undo(make_ctx, result, locations=loc)
    assert snapshot(outside) == before
    assert outcome["not_undone"] == 2 and outcome["undone"] == 1, outcome
    assert all("link" in p["reason"] for p in outcome["problems"]), outcome["problems"]
    assert (root / "top.txt").read_text() == "t"


# -- D6: deletes that cannot finish, and mount points ----------------------------------------

def chattr(flag: str, path: Path) -> None:
    if subprocess.run(["chattr", flag, str(path)], capture_output=True).returncode != 0:
        pytest.skip("this filesystem keeps no immutable flag")


def test_a_folder_delete_that_cannot_finish_deletes_nothing_and_says_why(make_ctx, root):
    tree(root, {"old/a.txt": "a", "old/b.txt": "b", "old/inner/locked.txt": "l", "old/inner/z.txt": "z"})
    past = time.time() - 10 * DAY
    for p in ("old/inner", "old"):
        os.utime(root / p, (past, past))
    before = snapshot(root)
    chattr("+i", root / "old" / "inner" / "locked.txt")
    try:
        result, ctx = run(make_ctx, locations=[str(root)], targets="folders", action="delete",
                          may_fail=True)
        assert snapshot(root) == before  # all or nothing: nothing
    finally:
        chattr("-i", root / "old" / "inner" / "locked.txt")
    assert result["acted"] == 0 and result["errors"] == 1, result
    why = result["problems"][0]["reason"]
    assert "nothing deleted" in why and "locked.txt" in why and "immutable" in why
    assert "nothing to do" not in result["summary"]


def test_a_delete_that_stops_half_way_reports_each_file(make_ctx, root, monkeypatch):
    # the disk changes between the check and the delete: reported file by file
    tree(root, {"old/a.txt": "a", "old/b.txt": "b", "old/c.txt": "c"})
    past = time.time() - 10 * DAY
    os.utime(root / "old", (past, past))
    real = os.unlink

    def refuse_b(path, *, dir_fd=None):
        if path == "b.txt":
            raise PermissionError(1, "Operation not permitted", path)
        real(path, dir_fd=dir_fd)
    monkeypatch.setattr(os, "unlink", refuse_b)
    result, ctx = run(make_ctx, locations=[str(root)], targets="folders", action="delete",
                      may_fail=True)
    monkeypatch.undo()
    assert files(root) == {"old/b.txt"}
    # b.txt, and so the folder holding it, could not go
    assert result["errors"] == 1 and "partly deleted: 2 removed, 2 could not be" in result["problems"][0]["reason"]
    logs = "\n".join(ctx.sink.logs)
    assert f"deleted {root}/old/a.txt" in logs and f"deleted {root}/old/c.txt" in logs
    assert f"not deleted: {root}/old/b.txt" in logs


class mount_tmpfs:
    """A tmpfs mounted at ``point`` (needs root; skips the test where mount is not allowed)."""

    def __init__(self, point: Path) -> None:
        self.point = point

    def __enter__(self) -> Path:
        self.point.mkdir(parents=True, exist_ok=True)
        if not IS_ROOT or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "none", str(self.point)],
                                         capture_output=True).returncode != 0:
            pytest.skip("cannot mount a tmpfs here")
        put(self.point, "on-the-mount.txt", "elsewhere", age_days=100)
        return self.point

    def __exit__(self, *exc) -> None:
        # wherever the mount went (a run that moved it would have failed the test), take it down
        top = str(self.point.parents[1])
        from trayjobs.kinds.cleanup.dirs import mount_points
        for m in sorted(mount_points(), key=len, reverse=True):
            if m.startswith(top + os.sep):
                subprocess.run(["umount", "-l", m], check=False)


@pytest.mark.parametrize("action", ["trash", "delete"])
def test_a_mount_point_inside_a_location_is_never_crossed(make_ctx, root, action):
    put(root, "mine.txt", age_days=100)
    with mount_tmpfs(root / "mnt") as mounted:
        before = snapshot(mounted)
        result, _ = run(make_ctx, locations=[{"path": str(root), "recursive": True}], action=action)
        assert snapshot(mounted) == before
    assert result["acted"] == 1 and result["errors"] == 1
    assert "is a mount point; not crossed" in result["problems"][0]["reason"]


@pytest.mark.parametrize("action", ["delete", "trash", {"move": "../moved"}, {"archive": "../all.zip"}])
def test_a_folder_holding_a_mount_point_is_left_whole(make_ctx, root, action):
    put(root, "holder/x.txt", "x")
    with mount_tmpfs(root / "holder" / "mnt") as mounted:
        past = time.time() - 10 * DAY
        os.utime(root / "holder", (past, past))
        before = snapshot(root)
        result, _ = run(make_ctx, locations=[str(root)], targets="folders", action=action)
        assert snapshot(root) == before
        assert mounted.is_mount()
    assert result["acted"] == 0 and result["errors"] == 1, result
    assert "mount point" in result["problems"][0]["reason"]


@pytest.mark.parametrize("targets", ["files", "folders"])
def test_a_move_off_the_drive_of_what_changes_during_the_copy_keeps_the_source(make_ctx, root, tmp_path,
                                                                              monkeypatch, targets):
    # a program writing to the file while it is copied to another drive: the copy lacks what came
    # last, so the source must stay (it was removed, and what was written during the copy was lost)
    put(root, "box/log.txt", "first part\n")
    past = time.time() - 10 * DAY
    os.utime(root / "box", (past, past))
    copy_file = fsops._copy_file_at

    def written_to_meanwhile(src_fd, name, *args):
        copy_file(src_fd, name, *args)
        fd = os.open(name, os.O_WRONLY | os.O_APPEND, dir_fd=src_fd)
        os.write(fd, b"written during the copy\n")
        os.close(fd)

    monkeypatch.setattr(fsops, "_copy_file_at", written_to_meanwhile)
    with mount_tmpfs(tmp_path / "drive") as drive:
        location = root / "box" if targets == "files" else root
        result, _ = run(make_ctx, locations=[str(location)], targets=targets, may_fail=True,
                        action={"move": str(drive / "out")})
        assert not (drive / "out").exists() or os.listdir(drive / "out") == []
    assert (root / "box" / "log.txt").read_text() == "first part\nwritten during the copy\n"
    assert result["acted"] == 0 and result["errors"] == 1, result
    assert "changed while it was being copied off its drive" in result["problems"][0]["reason"]


def test_a_move_off_the_drive_that_could_not_remove_the_original_says_why(make_ctx, root, tmp_path):
    # the move is refused before anything is copied; the run says what keeps it, not a bare
    # "permission denied" that sends the person looking at the destination's rights
    put(root, "old/inner/locked.txt", "l")
    put(root, "old/a.txt", "a")
    past = time.time() - 10 * DAY
    for p in ("old/inner", "old"):
        os.utime(root / p, (past, past))
    before = snapshot(root)
    chattr("+i", root / "old" / "inner" / "locked.txt")
    try:
        with mount_tmpfs(tmp_path / "drive") as drive:
            result, _ = run(make_ctx, locations=[str(root)], targets="folders", may_fail=True,
                            action={"move": str(drive / "out")})
            assert not (drive / "out" / "old").exists()
        assert snapshot(root) == before
    finally:
        chattr("-i", root / "old" / "inner" / "locked.txt")
    assert result["acted"] == 0 and result["errors"] == 1, result
    why = result["problems"][0]["reason"]
    assert "cannot be moved off its drive" in why and "locked.txt" in why and "immutable" in why, why


@pytest.mark.parametrize("targets", ["files", "folders"])
def test_a_copy_that_cannot_read_a_file_names_it(root, tmp_path, targets):
    # a real unreadable file, as a person without root meets it: the run drops root's right to
    # read past permissions (setpriv, no capabilities)
    if not IS_ROOT or subprocess.run(["setpriv", "--bounding-set=-all", "true"]).returncode != 0:
        pytest.skip("needs root and setpriv to run without the right to read everything")
    put(root, "locked/inner/secret.txt", "s")
    put(root, "locked/fine.txt", "f")
    os.chmod(root / "locked" / "inner" / "secret.txt", 0)
    past = time.time() - 10 * DAY
    for p in ("locked/inner", "locked"):
        os.utime(root / p, (past, past))
    home = tmp_path / "home"
    home.mkdir()
    location = root / "locked" / "inner" if targets == "files" else root
    (home / "trayjobs.toml").write_text(
        f'[jobs.j]\nkind = "cleanup"\nlocations = ["{location}"]\ntargets = "{targets}"\n'
        f'filters = [{{ name = "*" }}]\naction = {{ copy = "{tmp_path / "copies"}" }}\n')
    env = dict(os.environ, TRAYJOBS_HOME=str(home), XDG_DATA_HOME=str(tmp_path / "xdg"))
    done = subprocess.run(["setpriv", "--bounding-set=-all", "--inh-caps=-all", sys.executable, "-m", "trayjobs",
                           "run", "j", "--wait"], env=env, capture_output=True, text=True, timeout=120)
    expected = "secret.txt" if targets == "files" else "locked/inner/secret.txt"
    assert f"could not copy: {expected} cannot be read (permission denied)" in done.stdout + done.stderr, done
    assert not (tmp_path / "copies").exists() or not any((tmp_path / "copies").iterdir())


@pytest.mark.parametrize("action", ["move", "copy"])
def test_a_link_moved_or_copied_to_another_drive_is_undone(make_ctx, root, outside, tmp_path, action):
    # the link made on the other drive keeps the time of the one it stands for: undo takes it
    # for what the run made, instead of "changed after the run"
    os.symlink(outside / "precious.txt", root / "lnk")
    past = time.time() - 10 * DAY
    os.utime(root / "lnk", (past, past), follow_symlinks=False)
    before = snapshot(root)
    with mount_tmpfs(tmp_path / "drive") as drive:
        result, _ = run(make_ctx, locations=[str(root)], action={action: str(drive / "out")})
        assert result["acted"] == 1 and os.readlink(drive / "out" / "lnk") == str(outside / "precious.txt")
        outcome, _ = undo(make_ctx, result, locations=[str(root)])
        assert outcome["undone"] == 1 and outcome["not_undone"] == 0, outcome
        assert not (drive / "out" / "lnk").is_symlink()
    assert snapshot(root) == before


# -- pipes and sockets --------------------------------------------------------------------------

@pytest.mark.parametrize("action", ["delete", {"move": "../moved"}, {"archive": "../all.zip"}, {"copy": "../c"}])
def test_folders_holding_pipes_and_sockets(make_ctx, root, tmp_path, action):
    put(root, "old/data.txt", "d")
    os.mkfifo(root / "old" / "pipe")
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(root / "old" / "sock"))
    s.close()
    past = time.time() - 10 * DAY
    os.utime(root / "old", (past, past))
    result, _ = run(make_ctx, locations=[str(root)], targets="folders", action=action)  # never blocks on the pipe
    assert result["errors"] == 0 and result["acted"] == 1, result


@pytest.mark.parametrize("action", [{"copy": "../c"}, {"copy": "../c", "targets": "folders"}])
def test_a_file_swapped_for_a_pipe_as_it_is_copied_does_not_stop_the_run(make_ctx, root, tmp_path,
                                                                          monkeypatch, action):
    # opening a pipe to read waits for a writer: the run would wait for ever
    action = dict(action)
    targets = action.pop("targets", "files")
    put(root, "old/data.txt", "d")
    past = time.time() - 10 * DAY
    os.utime(root / "old", (past, past))
    victim = root / "old" / "data.txt"
    ino = victim.stat().st_ino
    kind = fsops._kind

    def swapped_after_a_look(st):
        found = kind(st)
        if st.st_ino == ino and victim.is_file():
            victim.unlink()
            os.mkfifo(victim)
        return found

    monkeypatch.setattr(fsops, "_kind", swapped_after_a_look)
    location = root / "old" if targets == "files" else root
    done: list = []
    worker = threading.Thread(target=lambda: done.append(run(make_ctx, locations=[str(location)], targets=targets,
                                                             action=action, may_fail=True)[0]), daemon=True)
    worker.start()
    worker.join(10)
    if worker.is_alive():  # let it go before failing
        fd = os.open(victim, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
        worker.join(10)
        pytest.fail("the run waited on the pipe")
    result = done[0]
    assert result["acted"] == 0 and result["errors"] == 1, result
    assert "changed while it was being copied" in result["problems"][0]["reason"], result
    assert list(tmp_path.rglob("data.txt")) == [victim] and not victim.is_file()  # no copy of it anywhere


def test_an_archived_folder_keeps_its_links_as_links(make_ctx, root, outside, tmp_path):
    # the folder goes to the trash whole: a link in it left out of the zip would be lost to it
    put(root, "old/data.txt", "d")
    os.symlink(outside, root / "old" / "to-outside")
    os.symlink("..", root / "old" / "up")
    past = time.time() - 10 * DAY
    os.utime(root / "old", (past, past))
    before = snapshot(outside)
    result, _ = run(make_ctx, locations=[str(root)], targets="folders",
                    action={"archive": str(tmp_path / "all.zip")})
    assert result["errors"] == 0 and result["acted"] == 1, result
    with zipfile.ZipFile(tmp_path / "all.zip") as zf:
        links = {i.filename: zf.read(i) for i in zf.infolist() if stat.S_ISLNK(i.external_attr >> 16)}
        assert "old/data.txt" in zf.namelist()
    assert links == {"old/to-outside": os.fsencode(outside), "old/up": b".."}  # not followed
    assert snapshot(outside) == before


def test_an_error_after_hundreds_of_skips_is_still_listed_and_named(make_ctx, root, outside):
    for n in range(250):
        put(root, f"a{n:03}.txt", age_days=0)  # just written: skipped as in use
    put(root, "zz.txt", "z")
    os.symlink(outside, root / "sorted")
    result, _ = run(make_ctx, locations=[str(root)], action={"move": "sorted"}, may_fail=True)
    assert result["errors"] == 1 and result["skipped"]["in use"] >= 250, result
    errors = [p for p in result["problems"] if p["kind"] == "error"]
    assert [p["path"] for p in errors] == [str(root / "zz.txt")]
    for text in (result["failed"], result["warnings"][0]):  # the failure names the error
        assert f"{root / 'zz.txt'}: could not move: the destination" in text and "more" not in text


@pytest.mark.parametrize("bad", ["bad", "zbad"])  # written before the good folder, or last
def test_a_folder_that_fails_half_way_leaves_nothing_of_it_in_the_zip(make_ctx, root, tmp_path, monkeypatch, bad):
    from trayjobs.kinds.cleanup.actions import archive
    tree(root, {f"{bad}/a.txt": "a", f"{bad}/b.txt": "b", "good/c.txt": "c"})
    past = time.time() - 10 * DAY
    for d in (bad, "good"):
        os.utime(root / d, (past, past))
    add_file = archive._add_file

    def unreadable_b(zf, dir_fd, name, arcname, expect):  # a.txt goes in, then b.txt cannot be read
        if name == "b.txt":
            raise PermissionError(13, "Permission denied", name)
        add_file(zf, dir_fd, name, arcname, expect)

    monkeypatch.setattr(archive, "_add_file", unreadable_b)
    result, _ = run(make_ctx, locations=[str(root)], targets="folders",
                    action={"archive": str(tmp_path / "all.zip")})
    assert result["acted"] == 1 and result["errors"] == 1, result
    with zipfile.ZipFile(tmp_path / "all.zip") as zf:
        assert zf.testzip() is None
        assert sorted(zf.namelist()) == ["good/", "good/c.txt"]  # nothing of the folder left whole
    assert files(root) == {f"{bad}/a.txt", f"{bad}/b.txt"}


# -- D12: dangerous destinations and what an overwrite replaces -------------------------------

@pytest.mark.parametrize("dest", ["/etc", "/usr/local/{year}", "/", "~"])
def test_a_dangerous_destination_is_refused_at_load(root, dest):
    with pytest.raises(ValidationError) as err:
        params(locations=[str(root)], action={"move": dest}, conflict="overwrite")
    assert "action.move" in str(err.value).replace("\n", ".") or "move" in str(err.value)


def test_a_dangerous_destination_is_refused_at_run_time_too(make_ctx, root, tmp_path):
    # a config that slipped past the check (edited between check and run) is refused again
    put(root, "passwd", "not yours")
    p = params(locations=[str(root)], action={"move": str(tmp_path / "ok")}, conflict="overwrite")
    bad = p.model_copy(update={"action": p.action.model_copy(update={"move": "/etc"})})
    for dry in (True, False):
        with pytest.raises(JobFailed, match="is a system folder"):
            cleanup().run(context(make_ctx, dry=dry), bad)
    assert (root / "passwd").read_text() == "not yours"


def test_an_overwrite_preview_says_what_it_replaces(make_ctx, root, tmp_path):
    dest = tmp_path / "dest"
    put(dest, "same.txt", "old one")
    put(root, "same.txt", "new one")
    result, ctx = run(make_ctx, dry=True, locations=[str(root)], action={"move": str(dest)}, conflict="overwrite")
    assert result["planned"][0]["replaces"] == str(dest / "same.txt")
    assert any("replacing what is there" in line for line in ctx.sink.logs)


@pytest.mark.parametrize("where", [".", "..", "Downloads", "sub/../x"])
def test_a_relative_location_is_refused_even_with_the_dangerous_opt_in(where):
    # the opt-in is for dangerous folders, not for paths that depend on where the worker started
    with pytest.raises(ValidationError, match="relative path"):
        params(locations=[where], allow_dangerous_location=True)


def test_an_unresolvable_location_is_refused_even_with_the_dangerous_opt_in(tmp_path):
    os.symlink(tmp_path / "loop", tmp_path / "loop")
    with pytest.raises(ValidationError, match="cannot be resolved"):
        params(locations=[str(tmp_path / "loop")], allow_dangerous_location=True)


def test_a_drive_trash_whose_files_folder_is_a_link_is_not_used(make_ctx, tmp_path):
    # The drive's .Trash-UID exists and is ours, but its files/ and info/ are links to a
    # folder elsewhere on the drive: trashing would rename items (and write their info)
    # into that folder. The trash is not used; nothing lands where the links point.
    with mount_tmpfs(tmp_path / "drive") as drive:
        loc = drive / "loc"
        put(loc, "old.txt", "old", age_days=100)
        elsewhere = drive / "elsewhere"
        (elsewhere / "files").mkdir(parents=True)
        (elsewhere / "info").mkdir()
        bin_ = drive / f".Trash-{os.getuid()}"
        bin_.mkdir(mode=0o700)
        os.symlink(elsewhere / "files", bin_ / "files")
        os.symlink(elsewhere / "info", bin_ / "info")
        before = snapshot(elsewhere)
        result, _ = run(make_ctx, locations=[str(loc)], may_fail=True)
        assert snapshot(elsewhere) == before
        assert (loc / "old.txt").read_text() == "old"
        assert result["errors"] == 1, result
        reason = result["problems"][0]["reason"]
        assert f"no usable trash on the drive at {drive} (" in reason, reason
        assert "files is a link, not a folder; not followed" in reason, reason


@pytest.mark.parametrize("dest", ["notes.txt/{year}", "notes.txt", "notes.txt/sub"])
def test_a_file_where_the_destination_folder_should_be_is_an_error_saying_so(make_ctx, root,
                                                                            tmp_path, dest):
    # The destination's fixed folder is a file: every item was "skipped: already exists",
    # which sent the person looking for a file of that name, and the preview promised the
    # move. Both say what is in the way, as for a link on the way.
    put(root, "a.txt", "a", age_days=100)
    (tmp_path / "notes.txt").write_text("my notes")
    before = snapshot(tmp_path / "notes.txt")
    for dry in (True, False):
        result, _ = run(make_ctx, dry=dry, may_fail=True, locations=[str(root)],
                        filters=[{"name": "*"}], action={"move": str(tmp_path / dest)})
        assert result["errors"] == 1 and not result["skipped"], result
        reason = result["problems"][0]["reason"]
        assert f"{tmp_path / 'notes.txt'} is a file, not a folder" in reason, reason
    assert snapshot(tmp_path / "notes.txt") == before
    assert (root / "a.txt").read_text() == "a"


def test_a_folder_past_the_longest_path_is_an_error_that_says_so(make_ctx, root):
    # Folders nested until their path is longer than the system takes (4096 bytes): the
    # run said "could not read: File name too long" of a folder whose name is short.
    put(root, "top.txt", age_days=100)
    here = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(25):
            os.mkdir("d" * 200, dir_fd=here)
            below = os.open("d" * 200, os.O_RDONLY | os.O_DIRECTORY, dir_fd=here)
            os.close(here)
            here = below
    finally:
        os.close(here)
    result, _ = run(make_ctx, locations=[{"path": str(root), "recursive": True}],
                    filters=[{"name": "*.txt"}])
    assert result["acted"] == 1 and result["errors"] == 1, result
    assert "its path is longer than the system allows" in result["problems"][0]["reason"]


def test_an_immutable_file_is_an_error_that_says_so(make_ctx, root, trash_dir):
    # root may do anything the permission bits say; trashing an immutable file failed with
    # "permission denied", which sent the person looking at the bits.
    put(root, "locked.txt", "l", age_days=100)
    put(root, "free.txt", "f", age_days=100)
    if not IS_ROOT or subprocess.run(["chattr", "+i", str(root / "locked.txt")],
                                     capture_output=True).returncode != 0:
        pytest.skip("cannot mark a file immutable here")
    try:
        result, _ = run(make_ctx, locations=[str(root)], filters=[{"name": "*"}])
    finally:
        subprocess.run(["chattr", "-i", str(root / "locked.txt")], check=True)
    assert result["acted"] == 1 and result["errors"] == 1, result
    assert "not permitted: it or its folder may be marked immutable or append-only" in \
        result["problems"][0]["reason"], result


def test_a_file_in_place_of_the_trashs_files_folder_is_named(make_ctx, root, trash_dir):
    # "[Errno 17] File exists: '.../Trash/files'" said neither what was wrong nor what to do
    put(root, "a.txt", "a", age_days=100)
    trash_dir.mkdir(parents=True)
    (trash_dir / "files").write_text("not a folder")
    result, _ = run(make_ctx, locations=[str(root)], may_fail=True)
    reason = result["problems"][0]["reason"]
    assert f"({trash_dir / 'files'} is a file, not a folder); fix or remove that trash folder" \
        in reason, reason
    assert (root / "a.txt").read_text() == "a"


@pytest.mark.parametrize("action", [{"copy": "backup/{relative}"}, {"copy": "backup"},
                                    {"move": "sorted/{relative}"}])
def test_a_destination_inside_a_recursive_location_is_not_tidied_again(make_ctx, root, action):
    # Each run copied the copies the last one made (1, 2, 4, 8 ... files, nested ever
    # deeper): a scheduled job would fill the disk. Now each run copies a.txt once more
    # (the rule says so), and nothing of what it made.
    put(root, "a.txt", "a", age_days=100)
    for run_id in (1, 2, 3):
        result, ctx = run(make_ctx, run_id=run_id, locations=[{"path": str(root), "recursive": True}],
                          filters=[{"name": "*.txt"}], skip_recent="0s", action=action)
    found = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    name = next(iter(action.values())).split("/")[0]
    if "copy" in action:
        assert found == ["a.txt", f"{name}/a (1).txt", f"{name}/a (2).txt", f"{name}/a.txt"], found
    else:
        assert found == [f"{name}/a.txt"], found
    assert any(f"{root / name}" in m and "not tidied again" in m for m in ctx.sink.logs), ctx.sink.logs
