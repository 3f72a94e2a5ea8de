"""Watched folders get the dangerous-location rules (D0), and a watch takes nothing that does
not match it. ``HOME`` is a fake home under ``tmp_path``: no real home is looked at."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from helpers import trayjobs
from test_watch_support import csv, files_of, import_job, start
from trayjobs.config import parse_config
from trayjobs.watch.folder import Folder


@pytest.fixture
def fake_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "users" / "someone"
    (home / "Inbox").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    return home


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry below ``root`` (links not followed) with its kind, size and mtime."""
    out = {}
    for folder, dirs, names in os.walk(root):
        for name in dirs + names:
            p = os.path.join(folder, name)
            st = os.lstat(p)
            out[os.path.relpath(p, root)] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return out


def errors_of(text: str) -> dict[tuple[str, str], str]:
    return {(e.job, e.key): e.message for e in parse_config(text).errors}


def watching(folder: str, *, kind: str = "import", extra: str = "") -> str:
    return f"""
[jobs.inbox]
kind = "{kind}"
watch = {{ folder = "{folder}"{extra} }}
"""


@pytest.mark.parametrize("folder, why", [
    ("~", "is your home folder itself"),
    ("$HOME", "is your home folder itself"),
    ("/", "is the root of a drive"),
    ("/etc", "is a system folder"),
    ("/var", "is a shared system folder"),
    ("{users}", "contains your home folder"),
    ("{link}", "is your home folder itself"),
])
def test_dangerous_watched_folders_are_refused_at_load_time(fake_home, tmp_path, folder, why):
    os.symlink(fake_home, tmp_path / "innocent")
    folder = folder.format(users=fake_home.parent, link=tmp_path / "innocent")
    errors = errors_of(watching(folder))
    message = errors[("inbox", "watch.folder")]
    assert why in message and "allow_dangerous_location = true in the watch table" in message
    allowed = errors_of(watching(folder, extra=", allow_dangerous_location = true"))
    # The watch's opt-in is for the watch: processed/ and failed/ inside /etc have their own.
    assert ("inbox", "watch.folder") not in allowed


@pytest.mark.parametrize("folder", [".", "..", "Inbox", "./Inbox"])
def test_relative_watched_folders_are_refused(fake_home, monkeypatch, folder):
    monkeypatch.chdir(fake_home)
    errors = errors_of(watching(folder, kind="demo", extra=", allow_dangerous_location = true"))
    assert "is a relative path" in errors[("inbox", "watch.folder")]


def test_every_kind_with_a_watch_is_checked(fake_home):
    assert "is your home folder itself" in errors_of(watching("~", kind="demo"))[
        ("inbox", "watch.folder")]


@pytest.mark.parametrize("key", ["processed_dir", "failed_dir"])
@pytest.mark.parametrize("value, why", [
    ("~", "is your home folder itself"),
    ("/etc", "is a system folder"),
    ("/", "is the root of a drive"),
    ("..", "is your home folder itself"),          # relative to the watched ~/Inbox
    ("../..", "contains your home folder"),
])
def test_import_output_folders_are_refused_at_load_time(fake_home, key, value, why):
    text = watching("~/Inbox") + f'{key} = "{value}"\n'
    message = errors_of(text)[("inbox", key)]
    assert why in message and "allow_dangerous_location = true" in message
    assert not errors_of(text + "allow_dangerous_location = true\n")


def test_ordinary_output_folders_pass(fake_home):
    text = watching("~/Inbox") + 'processed_dir = "../done"\nfailed_dir = "~/failed-imports"\n'
    assert not errors_of(text)


def test_check_names_the_job_and_key_of_a_watch_on_home(home, tmp_path):
    """D0: this passed `trayjobs check`, then the worker moved every file of the home folder."""
    fake = tmp_path / "fake-home"
    fake.mkdir()
    home.config_file.write_text(watching("~") + watching("/").replace("inbox", "root"))
    check = trayjobs(home, "check", env={"HOME": str(fake)})
    assert check.returncode == 1
    assert "job 'inbox', key 'watch.folder': '~' is your home folder itself" in check.stderr
    assert "job 'root', key 'watch.folder': '/' is the root of a drive" in check.stderr


# -- at run time: the folder as it is when the watch opens -------------------------------

def test_a_watched_folder_swapped_for_a_link_to_home_is_not_watched(fake_home, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    folder = Folder(str(inbox), post=lambda msg: None)
    try:
        assert folder.open()
        folder.close()
        inbox.rmdir()
        os.symlink(fake_home, inbox)
        assert not folder.open()
        assert folder.state == "unavailable"
        assert "is your home folder itself" in folder.reason
        folder.allow_dangerous = True  # a dangerous place allowed is still not a swap allowed
        assert not folder.open()
        assert folder.reason.startswith(f"it was a folder and is now a link to {fake_home}")
    finally:
        folder.close("idle")


def test_a_watched_folder_swapped_for_a_link_elsewhere_is_not_followed(tmp_path):
    inbox, elsewhere = tmp_path / "inbox", tmp_path / "documents"
    inbox.mkdir()
    elsewhere.mkdir()
    folder = Folder(str(inbox), post=lambda msg: None)
    try:
        assert folder.open()
        folder.close()
        inbox.rmdir()
        os.symlink(elsewhere, inbox)
        assert not folder.open() and folder.state == "unavailable"
        assert folder.reason == (
            f"it was a folder and is now a link to {elsewhere}, which is not followed: a run "
            f"would take and move the files there; put the folder back, or name {elsewhere} "
            f"in the job if that is the folder to watch")
        os.unlink(inbox)
        inbox.mkdir()  # put back: watched again
        assert folder.open()
    finally:
        folder.close("idle")


def test_a_watched_folder_that_is_a_link_from_the_start_is_followed(tmp_path):
    target, inbox = tmp_path / "nas-inbox", tmp_path / "inbox"
    target.mkdir()
    os.symlink(target, inbox)
    folder = Folder(str(inbox), post=lambda msg: None)
    try:
        assert folder.open() and folder.real == str(target)
        folder.close()
        assert folder.open()
    finally:
        folder.close("idle")


def test_a_watched_folder_that_cannot_be_resolved_is_unavailable_not_a_crash(tmp_path):
    os.symlink("loop-b", tmp_path / "loop-a")
    os.symlink("loop-a", tmp_path / "loop-b")
    folder = Folder(str(tmp_path / "loop-a"), post=lambda msg: None)
    try:
        assert not folder.open()
        assert folder.state == "unavailable" and "cannot be resolved" in folder.reason
    finally:
        folder.close("idle")


def test_sub_folders_nested_too_deep_leave_the_folder_unavailable_not_starting_for_ever(tmp_path):
    # the observer walks the tree recursively: Python's recursion limit made small, 150
    # levels then overflow it as some 1,000 would the usual limit
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    fd = os.open(inbox, os.O_RDONLY)
    for _ in range(150):
        os.mkdir("d", dir_fd=fd)
        fd, old = os.open("d", os.O_RDONLY, dir_fd=fd), fd
        os.close(old)
    os.close(fd)
    folder = Folder(str(inbox), post=lambda msg: None)
    folder.recursive = True
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(120)
    try:
        opened = folder.open()
    finally:
        sys.setrecursionlimit(limit)
    try:
        assert not opened and folder.state == "unavailable"
        assert "nested too deep" in folder.reason, folder.reason
    finally:
        folder.close("idle")


@pytest.mark.slow
def test_a_watched_import_moves_only_the_files_it_matched(make_engine, home, tmp_path):
    inbox, outside = tmp_path / "inbox", tmp_path / "outside"
    csv(outside / "target.csv", rows=3)
    inbox.mkdir()
    os.mkfifo(inbox / "pipe.csv")
    (inbox / "notes.txt").write_text("not a csv")
    csv(inbox / ".hidden.csv")
    csv(inbox / "sub" / "deeper.csv")                 # not recursive
    (inbox / "folder.csv").mkdir()
    os.symlink(outside, inbox / "outside-link")
    leave = snapshot(inbox)
    before_outside = snapshot(outside)
    eng, ev = start(make_engine, import_job("bank", inbox))
    ev.state("bank", "watching")
    csv(inbox / "take.csv", rows=4)
    run = ev.finished("bank")[0]
    ev.settled("bank")
    assert run["state"] == "succeeded" and files_of(run) == ["take.csv"]
    after = snapshot(inbox)
    moved = {k for k in after if k.startswith("processed")}
    assert moved == {"processed", os.path.join("processed", "take.csv")}
    assert {k: v for k, v in after.items() if k not in moved} == leave
    assert snapshot(outside) == before_outside
