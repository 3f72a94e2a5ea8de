"""Dangerous folders by identity, paths that cannot be resolved, relative paths.

Bind mounts are made for real (the tests run as root in CI); each is unmounted in a
``finally``. ``HOME`` points at a fake home under ``tmp_path`` so no real home is looked at.
"""

from __future__ import annotations

import os
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest

from helpers import trayjobs
from trayjobs import places
from trayjobs.kinds.cleanup import safety


@pytest.fixture
def fake_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "users" / "someone"
    home.mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    return home


@contextmanager
def bound(source: str | Path, target: Path):
    """``source`` bind-mounted on ``target``; skips the test when mounting is not allowed."""
    target.mkdir(parents=True, exist_ok=True)
    made = subprocess.run(["mount", "--bind", str(source), str(target)], capture_output=True,
                          text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot bind-mount here (needs root and mount rights): {made.stderr.strip()}")
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], check=True)


def test_safety_keeps_its_names_from_places():
    assert safety.danger is places.danger and safety.expand is places.expand


@pytest.mark.parametrize("source, why", [
    ("/", "is the root of a drive"),
    ("/etc", "is a system folder"),
    ("/usr", "is a system folder"),
    ("/var", "is a shared system folder"),
])
def test_a_bind_mount_of_a_dangerous_root_is_that_root(fake_home, tmp_path, source, why):
    with bound(source, tmp_path / "mnt" / "innocent") as where:
        assert os.path.samefile(where, source)  # the same folder under another name
        assert places.danger(str(where)) is not None and why in places.danger(str(where))


def test_a_folder_below_a_bind_mounted_system_folder_is_a_system_folder(fake_home, tmp_path):
    inner = next(p.name for p in Path("/usr").iterdir() if p.is_dir() and not p.is_symlink())
    with bound("/usr", tmp_path / "mnt" / "tools") as where:
        assert "is a system folder" in places.danger(str(where / inner))
        assert "is a system folder" in places.danger(str(where / inner / "not-there-yet"))


def test_a_bind_mount_of_the_home_folder_or_above_it_is_refused(fake_home, tmp_path):
    with bound(fake_home, tmp_path / "mnt" / "h") as where:
        assert "is your home folder itself" in places.danger(str(where))
    with bound(fake_home.parent, tmp_path / "mnt" / "users") as where:
        assert places.danger(str(where)) == "contains your home folder"
        assert places.danger(str(where / "someone" / "Inbox")) is None  # inside home: fine


def test_ordinary_folders_pass(fake_home, tmp_path):
    (fake_home / "Inbox").mkdir()
    assert places.danger("~/Inbox") is None
    assert places.danger(str(tmp_path / "elsewhere" / "not-yet")) is None
    assert places.danger("/var/tmp/exports") is None


@pytest.mark.parametrize("path", [".", "..", "Inbox", "./Inbox", "../Inbox"])
def test_relative_paths_are_refused(fake_home, path, monkeypatch):
    monkeypatch.chdir(fake_home)  # even where the relative path would name a harmless folder
    assert places.danger(path) == "is a relative path; write it in full, starting with / or ~"
    # A variable that is not set leaves a relative path too: said as what it is.
    assert "the variable NOT_SET_X is not set" in places.danger("$NOT_SET_X/in")


def test_expand_takes_a_relative_path_in_its_base(fake_home):
    assert places.expand("~/x") == str(fake_home / "x")
    assert places.expand("out/../done", "/srv/in") == "/srv/in/done"
    assert places.expand("/abs", "/srv/in") == "/abs"


# -- paths whose realpath raises ---------------------------------------------------------

def _loop(tmp_path: Path) -> Path:
    os.symlink("loop-b", tmp_path / "loop-a")
    os.symlink("loop-a", tmp_path / "loop-b")
    return tmp_path / "loop-a"


def _unreadable_link() -> str:
    try:
        os.path.realpath("/proc/1/cwd")
    except PermissionError:
        return "/proc/1/cwd"
    pytest.skip("this process may read /proc/1/cwd (it has ptrace rights over pid 1)")


def test_realpath_never_raises(tmp_path):
    loop = _loop(tmp_path)
    assert places.realpath(str(loop)).path is None
    assert "loop" in places.realpath(str(loop)).error
    assert "loop" in places.realpath(str(loop / "below")).error
    assert places.realpath("/x\0y").error.startswith("not a usable path")
    assert places.realpath(str(tmp_path / "missing" / "deeper")) == (
        str(tmp_path / "missing" / "deeper"), None)
    assert places.realpath(str(tmp_path)) == (str(tmp_path), None)


def test_an_unreadable_link_cannot_be_resolved():
    link = _unreadable_link()
    assert "permission denied" in places.realpath(link).error
    assert places.danger(link).startswith("cannot be resolved: permission denied")


def test_unresolvable_paths_are_dangerous_not_errors(fake_home, tmp_path):
    assert places.danger(str(_loop(tmp_path))).startswith("cannot be resolved: a symbolic link")
    assert places.danger("/tmp/a\0b") == "cannot be used: it holds a NUL character"


def test_one_unresolvable_location_spoils_only_its_own_job(home, tmp_path):
    """D8: `check`, `jobs` and `run` used to print a traceback for the whole file."""
    loop = _loop(tmp_path)
    good = tmp_path / "good"
    good.mkdir()
    unreadable = "/proc/1/cwd"
    try:
        os.path.realpath(unreadable)
        unreadable = str(loop / "deeper")  # root with ptrace rights: another loop instead
    except PermissionError:
        pass
    home.config_file.write_text(f"""
[jobs.tidy-loop]
kind = "cleanup"
locations = ["{loop}"]
filters = []

[jobs.tidy-proc]
kind = "cleanup"
locations = ["{unreadable}"]
filters = []

[jobs.watch-loop]
kind = "import"
watch = {{ folder = "{loop}" }}

[jobs.watch-nul]
kind = "demo"
watch = {{ folder = "{good}\\u0000x" }}

[jobs.fine]
kind = "demo"
steps = 1
step_time = 0
""")
    check = trayjobs(home, "check")
    assert "Traceback" not in check.stderr
    assert check.returncode == 1
    assert "job 'tidy-loop', key 'locations.0'" in check.stderr
    assert "job 'tidy-proc', key 'locations.0'" in check.stderr
    assert "job 'watch-loop', key 'watch.folder'" in check.stderr
    assert "job 'watch-nul', key 'watch.folder'" in check.stderr
    assert check.stderr.count("cannot be resolved") == 3
    assert "1 job OK, 4 errors" in check.stdout
    jobs = trayjobs(home, "jobs")
    assert jobs.returncode == 0 and "Traceback" not in jobs.stderr and "fine" in jobs.stdout
    ran = trayjobs(home, "run", "fine", "--wait")
    assert ran.returncode == 0, ran.stderr
    assert "Traceback" not in ran.stderr
