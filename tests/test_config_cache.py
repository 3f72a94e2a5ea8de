"""The validated jobs file kept between commands: used while nothing it depended on has
changed, never once something has (the file, the file system, the environment, the
installed packages), and ignored when it cannot be trusted."""

from __future__ import annotations

import os
import pickle
import sys
import time
from pathlib import Path

import pytest

from helpers import trayjobs, write_dist
from test_plugins import HELLO
from trayjobs import config_cache
from trayjobs.config import load_config
from trayjobs.engine.control import config_cache_path

JOBS = """\
[jobs.tiny]
kind = "import"
table = "t"
processed_dir = "leave"

[jobs.echo]
kind = "command"
command = ["true"]
"""

HOUR_AGO = time.time() - 3600


def settled(path: Path, text: str | None = None, *, at: float = HOUR_AGO) -> Path:
    """Write ``text`` (if given) and date the file ``at``: a file changed in the last
    seconds is never cached."""
    if text is not None:
        path.write_text(text, encoding="utf-8")
    os.utime(path, (at, at))
    return path


class Loads:
    """``load_config`` with a cache, counting the validations it really did."""

    def __init__(self, path: Path, cache: Path) -> None:
        self.path, self.cache, self.validated = path, cache, 0

    def __call__(self):
        def load():
            self.validated += 1
            return load_config(self.path)
        return config_cache.cached_config(self.path, self.cache, load)


@pytest.fixture
def loads(tmp_path):
    return Loads(tmp_path / "trayjobs.toml", tmp_path / "cache" / "config.pickle")


def test_an_unchanged_file_is_validated_once_and_then_read_from_the_cache(loads):
    settled(loads.path, JOBS)
    first = loads()
    again = loads()
    assert loads.validated == 1
    assert sorted(again.jobs) == ["echo", "tiny"] and again.errors == []
    assert again.jobs["tiny"].params == first.jobs["tiny"].params
    assert again.jobs["tiny"].common == first.jobs["tiny"].common
    assert again.text == JOBS and again.path == loads.path
    assert oct(loads.cache.stat().st_mode & 0o777) == "0o600"


def test_an_edited_file_is_validated_again(loads):
    settled(loads.path, JOBS)
    loads()
    settled(loads.path, JOBS + '\n[jobs.more]\nkind = "command"\ncommand = ["true"]\n',
            at=HOUR_AGO + 1)
    assert sorted(loads().jobs) == ["echo", "more", "tiny"] and loads.validated == 2


def test_an_edit_of_the_same_size_is_seen(loads):
    settled(loads.path, JOBS)
    loads()
    same_size = JOBS.replace('table = "t"', 'table = "u"')
    assert len(same_size) == len(JOBS)
    settled(loads.path, same_size, at=HOUR_AGO + 1)
    assert loads().jobs["tiny"].params.table == "u" and loads.validated == 2


def test_a_touched_file_is_validated_again(loads):
    settled(loads.path, JOBS)
    loads()
    settled(loads.path, at=HOUR_AGO + 0.001)  # content and size unchanged
    loads()
    assert loads.validated == 2


def test_an_error_is_kept_in_the_cache_word_for_word(loads):
    settled(loads.path, JOBS + '\n[jobs.bad]\nkind = "import"\ntable = 3\n')
    fresh = [str(e) for e in loads().errors]
    kept = loads().errors
    assert loads.validated == 1 and fresh and [str(e) for e in kept] == fresh
    assert kept[0].job == "bad" and kept[0].key == "table" and kept[0].line


def test_a_deleted_file_is_an_empty_config_again(loads):
    settled(loads.path, JOBS)
    loads()
    loads.path.unlink()
    cfg = loads()
    assert cfg.jobs == {} and cfg.errors == []


def test_a_file_changed_in_the_last_seconds_is_not_cached(loads):
    loads.path.write_text(JOBS, encoding="utf-8")
    loads()
    loads()
    assert loads.validated == 2 and not loads.cache.exists()


@pytest.mark.parametrize("garbage", [b"", b"not a pickle", None])
def test_a_corrupt_cache_is_ignored_and_replaced(loads, garbage):
    settled(loads.path, JOBS)
    loads()
    data = loads.cache.read_bytes()
    loads.cache.write_bytes(garbage if garbage is not None else data[:len(data) // 2])
    assert sorted(loads().jobs) == ["echo", "tiny"] and loads.validated == 2
    loads()
    assert loads.validated == 2  # replaced by a good one


class _Boom:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_a_cache_holding_anything_but_config_objects_is_refused(loads, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settled(loads.path, JOBS)
    key = config_cache._key(loads.path)
    loads.cache.parent.mkdir(parents=True)
    loads.cache.write_bytes(pickle.dumps((key, [], _Boom())))
    assert sorted(loads().jobs) == ["echo", "tiny"] and loads.validated == 1
    assert not (tmp_path / "pwned").exists()


def test_a_folder_that_became_dangerous_is_refused_though_the_file_is_unchanged(
        loads, tmp_path, monkeypatch):
    fake_home = tmp_path / "me"
    (fake_home / "inbox").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(fake_home))
    settled(loads.path, JOBS + f'\n[jobs.watcher]\nkind = "import"\ntable = "w"\n'
                               f'watch = {{ folder = "{fake_home}/link" }}\n')
    (fake_home / "link").symlink_to(fake_home / "inbox")
    assert "watcher" in loads().jobs
    assert "watcher" in loads().jobs and loads.validated == 1
    (fake_home / "link").unlink()
    (fake_home / "link").symlink_to(fake_home)  # now it names the home folder itself
    cfg = loads()
    assert loads.validated == 2 and "watcher" not in cfg.jobs
    assert any("is your home folder itself" in str(e) for e in cfg.errors)


def test_a_changed_environment_variable_is_seen(loads, tmp_path, monkeypatch):
    (tmp_path / "a").mkdir()
    monkeypatch.setenv("TJ_TEST_ROOT", str(tmp_path / "a"))
    settled(loads.path, JOBS + '\n[jobs.watcher]\nkind = "import"\ntable = "w"\n'
                               'watch = { folder = "$TJ_TEST_ROOT" }\n')
    assert "watcher" in loads().jobs
    monkeypatch.setenv("TJ_TEST_ROOT", "/")
    cfg = loads()
    assert loads.validated == 2 and "watcher" not in cfg.jobs


def test_a_job_of_a_plugin_kind_is_never_cached(loads, tmp_path, monkeypatch):
    settled(loads.path, JOBS + '\n[jobs.hi]\nkind = "hello"\n')
    loads()
    loads()
    assert loads.validated == 2 and not loads.cache.exists()


def test_a_package_installed_since_invalidates_the_cache(loads, tmp_path, monkeypatch):
    from trayjobs.kinds import registry
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    settled(site)
    settled(loads.path, JOBS + '\n[jobs.hi]\nkind = "hello"\n')  # unknown kind: an error
    cfg = loads()
    assert "hi" not in cfg.jobs
    write_dist(site, "trayjobs-hello", "1.2", "hello = hello_kind:HelloKind", "hello_kind",
               HELLO)
    registry.refresh_plugins()
    try:
        assert "hi" in loads().jobs and loads.validated == 2
    finally:
        sys.modules.pop("hello_kind", None)
        monkeypatch.undo()
        registry.refresh_plugins()


def test_the_cli_reuses_the_cache_and_sees_an_edit(home):
    settled(home.config_file, JOBS)
    first = trayjobs(home, "jobs", check=True)
    assert config_cache_path(home).exists()
    stamp = config_cache_path(home).stat().st_mtime_ns
    assert trayjobs(home, "jobs", check=True).stdout == first.stdout
    assert config_cache_path(home).stat().st_mtime_ns == stamp  # read, not written again
    settled(home.config_file, JOBS.replace("[jobs.echo]", "[jobs.shout]"), at=HOUR_AGO + 5)
    again = trayjobs(home, "jobs", check=True)
    assert "shout" in again.stdout and "echo" not in again.stdout


def test_check_validates_afresh_whatever_the_cache_holds(home):
    settled(home.config_file, JOBS + '\n[jobs.bad]\nkind = "import"\ntable = 3\n')
    before = trayjobs(home, "check")
    trayjobs(home, "jobs", check=True)
    config_cache_path(home).write_bytes(b"garbage")
    after = trayjobs(home, "check")
    assert (after.returncode, after.stdout, after.stderr) == \
        (before.returncode, before.stdout, before.stderr) and before.returncode == 1


def test_a_foreground_run_with_the_cache_imports_its_file(home, tmp_path):
    settled(home.config_file, JOBS)
    stamps = []
    for i in range(2):  # the second run reads the cache the first one wrote
        f = tmp_path / f"tiny-{i}.csv"
        f.write_text(f"id,name\n{i},a\n", encoding="utf-8")
        done = trayjobs(home, "run", "tiny", "--file", str(f), "--wait")
        assert done.returncode == 0, done.stderr
        assert f"run {i + 1} succeeded: 1 row imported into t" in done.stderr
        stamps.append(config_cache_path(home).stat().st_mtime_ns)
    assert stamps[0] == stamps[1]
