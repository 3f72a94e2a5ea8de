"""Watched folders over time: restarts, pause and resume, a job's own output folders,
folders that are missing, blocked, deleted, replaced or reconfigured."""

from __future__ import annotations

import os
import shutil

import pytest

from helpers import trayjobs
from test_watch_support import csv, files_of, import_job, runs_of, start

pytestmark = pytest.mark.slow


def test_files_added_while_the_app_was_closed_are_imported_at_start(make_engine, home, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    eng, ev = start(make_engine, import_job("bank", inbox))
    ev.state("bank", "watching")
    eng.stop(timeout=5)
    for i in range(3):
        csv(inbox / f"late-{i}.csv", rows=2)
    eng2, ev2 = start(make_engine, None)
    ev2.finished("bank")
    ev2.settled("bank")
    runs = runs_of(eng2, "bank")
    assert [r["state"] for r in runs] == ["succeeded"] and runs[0]["trigger"] == "watch"
    assert sorted(files_of(runs[0])) == ["late-0.csv", "late-1.csv", "late-2.csv"]
    assert sorted(os.listdir(inbox / "processed")) == ["late-0.csv", "late-1.csv", "late-2.csv"]


def test_a_file_version_runs_once_across_restarts(make_engine, tmp_path):
    # Files that stay in the folder (kept in place, or a kind that does not move them)
    # are not run again by the scan at the next start; a new file is.
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    config = import_job("keep", inbox, extra='processed_dir = "leave"') + f"""
        [jobs.tidy]
        kind = "demo"
        steps = 1
        step_time = 0
        watch = {{ folder = '{inbox}', settle = "0.3s" }}
    """
    eng, ev = start(make_engine, config)
    ev.state("keep", "watching")
    csv(inbox / "first.csv")
    ev.finished("keep"), ev.finished("tidy")
    ev.settled("keep"), ev.settled("tidy")
    eng.stop(timeout=5)

    eng2, ev2 = start(make_engine, None)
    ev2.state("keep", "watching"), ev2.state("tidy", "watching")
    csv(inbox / "second.csv")
    ev2.finished("keep", 2), ev2.finished("tidy", 2)
    ev2.settled("keep"), ev2.settled("tidy")
    assert [files_of(r) for r in runs_of(eng2, "keep")] == [["first.csv"], ["second.csv"]]
    assert len(runs_of(eng2, "tidy")) == 2
    assert sorted(os.listdir(inbox)) == ["first.csv", "second.csv"]


def test_pausing_a_job_pauses_its_watch_and_resuming_catches_up(make_engine, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    leave = 'processed_dir = "leave"'
    eng, ev = start(make_engine, import_job("a", inbox, extra=leave)
                    + import_job("b", inbox, extra=leave))
    ev.state("a", "watching"), ev.state("b", "watching")
    eng.set_paused(True, "a")
    ev.state("a", "paused")
    csv(inbox / "x.csv")
    ev.finished("b")  # the same folder, the same settle time: "a" would have run by now
    ev.settled("b")
    assert runs_of(eng, "a") == [] and eng.watch_status()["a"]["pending"] == 0
    eng.set_paused(False, "a")
    assert files_of(ev.finished("a")[0]) == ["x.csv"]

    eng.set_paused(True)  # everything
    ev.state("a", "paused"), ev.state("b", "paused")
    csv(inbox / "y.csv")
    eng.set_paused(False)
    ev.finished("a", 2), ev.finished("b", 2)
    ev.settled("a"), ev.settled("b")
    assert [files_of(r) for r in runs_of(eng, "a")] == [["x.csv"], ["y.csv"]]
    assert [files_of(r) for r in runs_of(eng, "b")] == [["x.csv"], ["y.csv"]]


def test_a_jobs_own_processed_and_failed_folders_are_never_taken_back(make_engine, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    eng, ev = start(make_engine, import_job("bank", inbox, watch_extra=", recursive = true"))
    ev.state("bank", "watching")
    csv(inbox / "good.csv")
    csv(inbox / "sub" / "deep.csv")
    (inbox / "bad.csv").write_bytes(b"")  # fails: moved to failed/ with a note

    def handled():
        done = [f for r in runs_of(eng, "bank") if r["state"] in ("succeeded", "failed")
                for f in files_of(r)]
        return len(done) >= 3
    ev.wait(handled, what="three files handled")
    assert (inbox / "processed" / "good.csv").exists()
    assert (inbox / "sub" / "processed" / "deep.csv").exists()
    assert (inbox / "failed" / "bad.csv").exists()
    # A file arriving after the moves: anything moved would have run before it.
    csv(inbox / "marker.csv")
    ev.wait(lambda: any(files_of(r) == ["marker.csv"] and r["state"] == "succeeded"
                        for r in runs_of(eng, "bank")), what="the marker imported")
    ev.settled("bank")
    paths = [f for r in runs_of(eng, "bank") for f in (r.get("inputs") or {}).get("files")]
    assert sorted(os.path.relpath(p, inbox) for p in paths) == [
        "bad.csv", "good.csv", "marker.csv", os.path.join("sub", "deep.csv")]


def test_a_missing_or_blocked_folder_is_unavailable_until_it_appears(make_engine, home, tmp_path):
    missing = tmp_path / "not-yet" / "inbox"
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the folder should be")
    eng, ev = start(make_engine, import_job("later", missing) + import_job("blocked", blocked))
    assert ev.state("later", "unavailable")["reason"] == "the folder does not exist"
    assert ev.state("blocked", "unavailable")["reason"] == "it is a file, not a folder"
    listing = trayjobs(home, "jobs").stdout
    assert "unavailable (the folder does not exist)" in listing
    assert "unavailable (it is a file, not a folder)" in listing

    missing.mkdir(parents=True)  # noticed by a watch on the nearest existing parent
    ev.state("later", "watching")
    blocked.unlink()
    blocked.mkdir()
    ev.state("blocked", "watching")
    csv(missing / "x.csv")
    csv(blocked / "y.csv")
    assert files_of(ev.finished("later")[0]) == ["x.csv"]
    assert files_of(ev.finished("blocked")[0]) == ["y.csv"]
    listing = trayjobs(home, "jobs").stdout
    assert f"watching {missing}" in listing and f"watching {blocked}" in listing

    eng.stop(timeout=5)
    listing = trayjobs(home, "jobs").stdout
    assert listing.count("not watching (no app or worker running)") == 2


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root may read any folder, whatever its permissions")
def test_a_folder_without_permission_is_unavailable_until_it_is_granted(make_engine, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0)
    try:
        eng, ev = start(make_engine, import_job("bank", locked))
        assert ev.state("bank", "unavailable")["reason"] == "permission denied"
    finally:
        locked.chmod(0o755)
    ev.state("bank", "watching")


def test_the_watched_folder_deleted_and_made_again(make_engine, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    eng, ev = start(make_engine, import_job("bank", inbox))
    ev.state("bank", "watching")
    shutil.rmtree(inbox)
    assert ev.state("bank", "unavailable")["reason"] == "the folder does not exist"
    inbox.mkdir()
    ev.state("bank", "watching")
    csv(inbox / "after.csv")
    run = ev.finished("bank")[0]
    assert run["state"] == "succeeded" and files_of(run) == ["after.csv"]


def test_a_folder_moved_away_and_replaced_is_watched_again(make_engine, tmp_path, monkeypatch):
    # The system does not report the watched folder itself being renamed; the periodic
    # check notices that the path now names another folder.
    monkeypatch.setattr("trayjobs.watch.manager.RETRY_EVERY", 0.3)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    eng, ev = start(make_engine, import_job("bank", inbox))
    ev.state("bank", "watching")
    os.rename(inbox, tmp_path / "old-inbox")
    inbox.mkdir()
    csv(inbox / "new.csv")
    run = ev.finished("bank")[0]
    assert run["state"] == "succeeded" and files_of(run) == ["new.csv"]
    assert (inbox / "processed" / "new.csv").exists()


def test_a_config_reload_moves_adds_and_removes_watches(make_engine, write_config, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir(), two.mkdir()
    eng, ev = start(make_engine, import_job("bank", one))
    ev.state("bank", "watching")
    write_config(import_job("bank", two) + import_job("other", one))
    eng.reload_config()
    ev.wait(lambda: eng.watch_status()["bank"]["folder"] == str(two)
            and eng.watch_status()["bank"]["state"] == "watching", what="bank moved")
    ev.state("other", "watching")
    csv(two / "x.csv")
    csv(one / "y.csv")
    assert files_of(ev.finished("bank")[0]) == ["x.csv"]
    assert files_of(ev.finished("other")[0]) == ["y.csv"]
    ev.settled("bank")
    assert len(runs_of(eng, "bank")) == 1

    write_config("""
        [jobs.bank]
        kind = "import"
    """)
    eng.reload_config()
    ev.wait(lambda: eng.watch_status() == {}, what="no watches left")
    assert eng.store.watch_statuses() == {}


def test_trayjobs_jobs_says_how_many_files_are_waiting(home, write_config, tmp_path):
    # As the window does: a copy still going is not a watch with nothing to do.
    import signal
    from textwrap import dedent
    from helpers import start_worker, wait_until
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    write_config(dedent(import_job("bank", inbox, settle="0.2s")))
    worker = start_worker(home)
    files = []
    try:
        wait_until(lambda: f"watching {inbox}" in trayjobs(home, "jobs").stdout, what="watching")
        for i in range(3):  # being copied: open for writing
            files.append(open(inbox / f"part-{i}.csv", "w", encoding="utf-8"))
            files[-1].write("id,name\n")
            files[-1].flush()
        wait_until(lambda: f"watching {inbox} · 3 files waiting" in trayjobs(home, "jobs").stdout,
                   timeout=15, what="3 files waiting")
        for i, f in enumerate(files):
            f.write(f"{i},a\n")
            f.close()
        wait_until(lambda: (out := trayjobs(home, "jobs").stdout) and "waiting" not in out
                   and "succeeded" in out, timeout=20, what="none waiting")
    finally:
        for f in files:
            f.close()
        worker.send_signal(signal.SIGTERM)
        worker.wait(20)


def test_check_warns_of_two_jobs_taking_the_same_files_where_one_moves_them(home, write_config,
                                                                           tmp_path):
    # The import moves each file it took to processed/: the other job, handed the same
    # file, found it gone ("No such file or directory") and failed, attempt after attempt.
    inbox, other = tmp_path / "inbox", tmp_path / "other"
    write_config(f"""
        [jobs.copy]
        kind = "command"
        command = ["cat", "{{files}}"]
        watch = {{ folder = '{inbox}', patterns = ["*.csv"] }}

        [jobs.bank]
        kind = "import"
        table = "bank"
        watch = {{ folder = '{inbox}/', patterns = ["bank-*.csv"] }}

        [jobs.kept]
        kind = "import"
        table = "kept"
        processed_dir = "leave"
        failed_dir = "leave"
        watch = {{ folder = '{inbox}', patterns = ["*.csv"] }}

        [jobs.elsewhere]
        kind = "import"
        table = "elsewhere"
        watch = {{ folder = '{other}', patterns = ["*.csv"] }}

        [jobs.json]
        kind = "import"
        table = "json"
        watch = {{ folder = '{inbox}', patterns = ["*.json"] }}
    """)
    check = trayjobs(home, "check")
    assert check.returncode == 0, check.stderr
    warned = [line for line in check.stderr.splitlines() if "moves each file" in line]
    assert len(warned) == 1, check.stderr
    assert "job 'bank', key 'watch': 'copy', 'kept' watch" in warned[0]
    assert "processed_dir" in warned[0] and str(inbox) in warned[0]
    assert "1 warning" in check.stdout
