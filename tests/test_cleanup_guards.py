"""Cleanup jobs that a pattern, a location or a destination could turn against the user:
real trees, and whole ``trayjobs run JOB --wait`` processes where the job file matters."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from helpers import trayjobs
from test_cleanup_support import cleanup, context, put, root, run, snapshot, trash_dir, trashed  # noqa: F401
from trayjobs.errors import JobFailed

SLOW_NAME = "a" * 60 + "!"


def _job(name: str, location: Path | str, extra: str, action: str = '"delete"') -> str:
    return f'[jobs.{name}]\nkind = "cleanup"\nlocations = ["{location}"]\naction = {action}\n{extra}\n'


def test_a_pattern_that_backtracks_forever_stops_the_run_and_picks_nothing(home, root):
    put(root, SLOW_NAME)
    put(root, "aaaa")
    home.config_file.write_text(
        _job("slow", root, "filters = [{ regex = '^(a|aa)+$' }]")
        + _job("nested", root, "filters = [{ regex = '^(a+)+$' }]"), encoding="utf-8")
    out = trayjobs(home, "run", "slow", "--wait", timeout=30)
    assert out.returncode != 0
    said = out.stdout + out.stderr
    assert "regex filter '^(a|aa)+$' took more than 1 s" in said, said
    assert "repeat inside a repeat" in said and "Traceback" not in said
    # the run stopped before acting on the folder: not even the name that matched is gone
    assert (root / SLOW_NAME).exists() and (root / "aaaa").exists()
    # the classic (a+)+ finishes at once on the same long name
    out = trayjobs(home, "run", "nested", "--wait", timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr
    assert (root / SLOW_NAME).exists() and not (root / "aaaa").exists()


def test_check_warns_of_a_pattern_that_can_backtrack_naming_the_job_and_the_key(home, root):
    home.config_file.write_text(
        _job("nested", root, "filters = [{ age = 'older than 1d' }, { regex = '^(a+)+$' }]")
        + _job("alike", root, "filters = [{ regex = '^(a|aa)+$', on = 'path' }]")
        + _job("fine", root, r"filters = [{ regex = '^IMG_\d+(-\d+)?\.jpe?g$' }]")
        + _job("atomic", root, "filters = [{ regex = '^(?>a+)+$' }]"), encoding="utf-8")
    check = trayjobs(home, "check")
    assert check.returncode == 0, check.stderr  # a warning: the jobs can run
    warnings = [l for l in check.stderr.splitlines() if l.startswith("warning: ")]
    assert len(warnings) == 2, check.stderr
    assert "job 'nested', key 'filters.1.regex': regex '^(a+)+$' has a repeat inside a " \
           "repeat, '(a+)+': on some names it can take very long" in warnings[0]
    assert "job 'alike', key 'filters.0.regex': regex '^(a|aa)+$' has a repeated choice " \
           "whose alternatives start alike, '(a|aa)+'" in warnings[1]
    assert "4 jobs OK, 0 errors, 2 warnings" in check.stdout


@pytest.mark.parametrize("pattern, found", [
    ("(a+)+$", "(a+)+"), ("^(?:\\w+\\s?)*$", "(?:\\w+\\s?)*"), ("((a+)?)+", "((a+)?)+"),
    ("(x+x+)+y", "(x+x+)+"), ("(a{2,})*", "(a{2,})*"), ("(?i)(a+?)+", "(a+?)+"),
    ("^(a|aa)+$", "(a|aa)+"), ("(?P<n>ab|a)*", "(?P<n>ab|a)*"),
    # no repeat that can give characters back, or none without bound
    ("^IMG_\\d+", None), ("(?>a+)+", None), ("(a+)++", None), ("(a++)+", None),
    ("\\(a+\\)+", None), ("[(a+)]+", None), ("(a{2,5})*", None), ("(a+){3}", None),
    ("(?#(a+)+)x", None), ("(a|b)+", None), ("(?:jpe?g|png)+", None), ("\\p{L}+", None),
])
def test_a_repeat_inside_a_repeat_is_found(pattern, found):
    from trayjobs.kinds.cleanup.filters.backtrack import nested_repeat
    assert (nested_repeat(pattern) or (None,))[0] == found


def test_a_location_in_a_drives_trash_or_the_home_trash_is_refused(home, tmp_path, trash_dir):
    drive_trash = tmp_path / "drive" / ".Trash-1000" / "files"
    fake_home = tmp_path / "me"
    default_trash = fake_home / ".local" / "share" / "Trash" / "files"
    for folder in (drive_trash, default_trash):
        put(folder, "kept.txt", age_days=400)
    home.config_file.write_text(
        _job("drive", drive_trash, 'filters = [{ name = "*" }]\nallow_dangerous_location = true')
        # XDG_DATA_HOME points at the test's trash: ~/.local/share/Trash is still a trash
        + _job("default", "~/.local/share/Trash/files", 'filters = [{ name = "*" }]')
        + _job("into", tmp_path / "drive", 'filters = [{ name = "*" }]',
               action=f'{{ move = "{drive_trash}" }}'), encoding="utf-8")
    env = {"HOME": str(fake_home)}
    check = trayjobs(home, "check", env=env)
    assert check.returncode == 1
    assert f"is in the trash ({drive_trash.parent})" in check.stderr, check.stderr
    assert f"is in the trash ({default_trash.parent})" in check.stderr
    assert "empty the trash from your file manager instead" in check.stderr
    assert "job 'into', key 'action.move'" in check.stderr
    for job in ("drive", "default"):
        out = trayjobs(home, "run", job, "--wait", env=env)
        assert out.returncode != 0 and "is in the trash" in out.stdout + out.stderr
    assert (drive_trash / "kept.txt").exists() and (default_trash / "kept.txt").exists()


def test_a_location_swapped_for_a_link_into_a_trash_after_loading_is_refused_by_the_run(
        make_ctx, tmp_path):

    location = tmp_path / "scratch"
    put(location, "a.txt", age_days=400)
    p = cleanup().parse_params({"locations": [str(location)], "filters": [{"name": "*"}]})
    bin_files = tmp_path / "usb" / ".Trash" / "1000" / "files"
    put(bin_files, "kept.txt", age_days=400)
    (location / "a.txt").unlink()
    location.rmdir()
    os.symlink(bin_files, location)
    with pytest.raises(JobFailed, match=r"is in the trash \(.*/usb/\.Trash\)"):
        cleanup().run(context(make_ctx), p)
    assert (bin_files / "kept.txt").exists()


def test_overwrite_with_a_link_at_the_destination_never_follows_it(make_ctx, root, tmp_path, trash_dir):
    outside = tmp_path / "outside"
    put(outside, "precious.txt", "do not touch", age_days=400)
    put(outside, "project/keep.txt", "nor this", age_days=400)
    dest = tmp_path / "dest"
    dest.mkdir()
    os.symlink(outside / "precious.txt", dest / "a.txt")
    os.symlink(outside / "project", dest / "project")
    put(root, "a.txt", "new")
    put(root, "project/inner.txt", "mine")
    before = snapshot(outside)
    # a folder meets a link: left alone, and said so
    result, _ = run(make_ctx, locations=[str(root)], targets="folders", filters=[{"name": "project"}],
                    action={"move": str(dest)}, conflict="overwrite", skip_recent="0s")
    assert result["acted"] == 0 and result["skipped"] == {
        "a symbolic link is at the destination; a folder does not replace one "
        "(the link is left as it is, and not followed)": 1}, result
    assert os.path.islink(dest / "project") and (root / "project" / "inner.txt").exists()
    # a file replaces the link itself: the link goes to the trash, what it points to stays
    result, ctx = run(make_ctx, run_id=2, locations=[str(root)], filters=[{"name": "a.txt"}],
                      action={"move": str(dest)}, conflict="overwrite", skip_recent="0s")
    assert any("(replacing the symbolic link there, which goes to the trash; what it points "
               "to is not touched)" in line for line in ctx.sink.logs), ctx.sink.logs
    assert result["acted"] == 1 and result["errors"] == 0, result
    assert not os.path.islink(dest / "a.txt") and (dest / "a.txt").read_text() == "new"
    assert trashed(trash_dir) == {"a.txt"} and os.path.islink(trash_dir / "files" / "a.txt")
    assert snapshot(outside) == before


def test_a_location_holding_the_default_home_trash_never_enters_it(make_ctx, tmp_path, monkeypatch,
                                                                    trash_dir):
    # XDG_DATA_HOME points elsewhere (the test's trash); ~/.local/share/Trash is a trash still
    fake_home = tmp_path / "me"
    share = fake_home / ".local" / "share"
    put(share, "Trash/files/kept.txt", age_days=400)
    put(share, "Trash/info/kept.txt.trashinfo", age_days=400)
    put(share, "old.log", age_days=400)
    monkeypatch.setenv("HOME", str(fake_home))
    result, _ = run(make_ctx, locations=[{"path": "~/.local/share", "recursive": True}],
                    filters=[{"name": "*"}])
    assert result["acted"] == 1 and not (share / "old.log").exists()
    assert (share / "Trash" / "files" / "kept.txt").exists()
    assert (share / "Trash" / "info" / "kept.txt.trashinfo").exists()
