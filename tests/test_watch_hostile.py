"""Watched folders against what the system and users do to them: events the kernel
drops, sub-folders it cannot watch, files that keep changing."""

from __future__ import annotations

import os
import sys
import threading
import time

import pytest

from test_watch_support import csv, files_of, import_job, runs_of, start

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify")]


def stall_inotify_reader(monkeypatch):
    """Hold watchdog's one inotify reader on its next event until ``go`` is set, so that
    the kernel's event queue (fs.inotify.max_queued_events) fills up as on a busy system."""
    from watchdog.observers.inotify_c import InotifyFD
    held, go = threading.Event(), threading.Event()
    real = InotifyFD.handle_event

    def handle_event(self, event):
        if not go.is_set():
            held.set()
            go.wait(30)
        return real(self, event)
    monkeypatch.setattr(InotifyFD, "handle_event", handle_event)
    return held, go


def overflow_the_queue(folder) -> None:
    """More events than the kernel queues (16,384 by default), on names no watch takes."""
    with open("/proc/sys/fs/inotify/max_queued_events") as f:
        limit = int(f.read())
    a = os.open(folder / "noise-a.tmp", os.O_WRONLY | os.O_CREAT)
    b = os.open(folder / "noise-b.tmp", os.O_WRONLY | os.O_CREAT)
    try:
        for _ in range(limit // 2 + 10):  # alternating, so the kernel cannot merge them
            os.write(a, b"x")
            os.write(b, b"x")
    finally:
        os.close(a), os.close(b)


@pytest.mark.parametrize("recursive", [False, True])
def test_files_whose_events_the_kernel_dropped_are_found_by_a_rescan(make_engine, tmp_path,
                                                                     monkeypatch, recursive):
    inbox = tmp_path / "inbox"
    (inbox / "sub").mkdir(parents=True)
    eng, ev = start(make_engine, import_job(
        "bank", inbox, watch_extra=f", recursive = {str(recursive).lower()}"))
    ev.state("bank", "watching")
    held, go = stall_inotify_reader(monkeypatch)
    (inbox / "wake.tmp").touch()
    assert held.wait(10)
    overflow_the_queue(inbox)
    csv(inbox / ("sub" if recursive else "") / "lost.csv")  # its events are dropped
    go.set()
    run = ev.finished("bank")[0]
    assert run["state"] == "succeeded" and files_of(run) == ["lost.csv"]


def refuse_watches_below(monkeypatch, name: str):
    """The system's limit of watches reached for the folder ``name`` (as if
    fs.inotify.max_user_watches were used up by then)."""
    import errno
    from watchdog.observers.inotify_c import InotifyFD
    real = InotifyFD.add_callback

    def add_callback(self, path, *args, **kw):
        if os.path.basename(path) == os.fsencode(name):
            raise OSError(errno.ENOSPC, "inotify watch limit reached")
        return real(self, path, *args, **kw)
    monkeypatch.setattr(InotifyFD, "add_callback", add_callback)


LIMIT = ("the system's limit of watched folders is reached "
         "(raise fs.inotify.max_user_watches)")


@pytest.mark.parametrize("when", ["the folder itself", "at start", "made while watched"])
def test_a_sub_folder_past_the_watch_limit_makes_the_folder_unavailable(make_engine, tmp_path,
                                                                        monkeypatch, when):
    # Watching the folder without it would take nothing that arrives there, and say nothing.
    monkeypatch.setattr("trayjobs.watch.manager.RETRY_EVERY", 0.3)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    if when != "made while watched":
        (inbox / "deep").mkdir()
    with pytest.MonkeyPatch.context() as limit:
        refuse_watches_below(limit, "inbox" if when == "the folder itself" else "deep")
        eng, ev = start(make_engine, import_job("bank", inbox, watch_extra=", recursive = true"))
        if when == "made while watched":
            ev.state("bank", "watching")
            (inbox / "deep").mkdir()
        assert ev.state("bank", "unavailable")["reason"] == LIMIT
        csv(inbox / "deep" / "x.csv")
    ev.state("bank", "watching")  # the limit raised: tried again
    run = ev.finished("bank")[0]
    assert run["state"] == "succeeded" and files_of(run) == ["x.csv"]


@pytest.mark.parametrize("partial", [".part", ".crdownload"])
def test_a_browsers_empty_placeholder_waits_for_its_download(make_engine, home, tmp_path,
                                                             partial):
    # Firefox and Chrome keep the final name with an empty file while the download goes
    # to NAME.part / NAME.crdownload, then rename it over the placeholder.
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    eng, ev = start(make_engine, import_job("bank", inbox, settle="0.2s"))
    ev.state("bank", "watching")
    (inbox / "statement.csv").touch()
    part = inbox / f"statement.csv{partial}"
    with open(part, "w", encoding="utf-8") as f:
        f.write("id,name\n1,a\n")
        f.flush()
        # Quiet and closed for longer than the settle time, the placeholder still waits.
        ev.wait(lambda: eng.watch_status()["bank"]["pending"] == 1, what="placeholder seen")
        time.sleep(1.0)  # the stall: nothing to wait for but time
        f.write("2,b\n")
    assert runs_of(eng, "bank") == []
    os.rename(part, inbox / "statement.csv")
    run = ev.finished("bank")[0]
    ev.settled("bank")
    assert [files_of(r) for r in runs_of(eng, "bank")] == [["statement.csv"]]
    assert run["state"] == "succeeded" and run["result"]["files"][0]["rows"] == 2, run


def test_a_download_with_its_aria2_control_file_beside_it_waits_for_it_to_go(
        make_engine, home, tmp_path):
    # aria2 (and uGet, Motrix on it) writes into the final name and keeps NAME.aria2
    # beside it until the download is complete; a download paused or stopped (closed,
    # half written) is not complete.
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    eng, ev = start(make_engine, import_job("bank", inbox, settle="0.2s"))
    ev.state("bank", "watching")
    (inbox / "statement.csv.aria2").write_bytes(b"\x00\x01control")
    (inbox / "statement.csv").write_text("id,name\n1,a\n", encoding="utf-8")
    ev.wait(lambda: eng.watch_status()["bank"]["pending"] == 1, what="download seen")
    time.sleep(1.5)  # closed and quiet for longer than the settle time
    assert runs_of(eng, "bank") == []
    with open(inbox / "statement.csv", "a", encoding="utf-8") as f:
        f.write("2,b\n")
    (inbox / "statement.csv.aria2").unlink()
    run = ev.finished("bank")[0]
    ev.settled("bank")
    assert [files_of(r) for r in runs_of(eng, "bank")] == [["statement.csv"]]
    assert run["state"] == "succeeded" and run["result"]["files"][0]["rows"] == 2, run


def test_a_file_opened_for_writing_waits_for_its_first_write_and_close(make_engine, home, tmp_path):
    # wget and curl make the file when the server answers; the data may come much later.
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    eng, ev = start(make_engine, import_job("bank", inbox, settle="0.2s"))
    ev.state("bank", "watching")
    with open(inbox / "export.csv", "w", encoding="utf-8") as f:
        ev.wait(lambda: eng.watch_status()["bank"]["pending"] == 1, what="the file is seen")
        time.sleep(1.0)  # the stall before the first byte: nothing to wait for but time
        assert runs_of(eng, "bank") == []
        f.write("id,name\n1,a\n2,b\n")
    run = ev.finished("bank")[0]
    ev.settled("bank")
    assert [files_of(r) for r in runs_of(eng, "bank")] == [["export.csv"]]
    assert run["state"] == "succeeded" and run["result"]["files"][0]["rows"] == 2, run


def test_the_same_file_dropped_again_after_its_import_runs_again(make_engine, home, tmp_path):
    # Moved back from processed/ (or failed/, once fixed), or another file that happens to
    # have the same name, size and time: a new arrival, not a version already handled.
    inbox, outside = tmp_path / "inbox", tmp_path / "outside"
    inbox.mkdir()
    eng, ev = start(make_engine, import_job("bank", inbox))
    ev.state("bank", "watching")
    os.rename(csv(outside / "a.csv"), inbox / "a.csv")
    ev.finished("bank")
    ev.settled("bank")
    st = (inbox / "processed" / "a.csv").stat()
    version = (str(inbox / "a.csv"), st.st_size, st.st_mtime_ns)
    ev.wait(lambda: eng.store.unseen_versions("bank", [version]), what="the version forgotten")
    os.rename(inbox / "processed" / "a.csv", inbox / "a.csv")
    again = ev.finished("bank", 2)[1]
    assert files_of(again) == ["a.csv"] and again["state"] == "succeeded"
    assert "already imported" in again["result"]["files"][0]["message"], again["result"]


def test_a_sub_folder_without_permission_is_said_and_taken_once_it_opens_up(
        make_engine, tmp_path, monkeypatch, caplog):
    # As root every folder can be read: the refusal is made here, where the scan and the
    # observer's walk list a folder and the system is asked to watch it.
    import errno
    from watchdog.observers.inotify_c import InotifyFD
    monkeypatch.setattr("trayjobs.watch.manager.RETRY_EVERY", 0.3)
    inbox = tmp_path / "inbox"
    locked = inbox / "locked"
    csv(locked / "inside.csv")
    denied = threading.Event()
    denied.set()
    real_scandir, real_add = os.scandir, InotifyFD.add_callback

    def scandir(path="."):
        if denied.is_set() and os.fsdecode(path) == str(locked):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_scandir(path)

    def add_callback(self, path, *args, **kw):
        if denied.is_set() and os.fsdecode(path) == str(locked):
            raise OSError(errno.EACCES, "Permission denied")
        return real_add(self, path, *args, **kw)
    monkeypatch.setattr(os, "scandir", scandir)
    monkeypatch.setattr(InotifyFD, "add_callback", add_callback)

    eng, ev = start(make_engine, import_job("bank", inbox, watch_extra=", recursive = true"))
    ev.state("bank", "watching")
    ev.wait(lambda: any("cannot be read" in r.getMessage() for r in caplog.records),
            what="the unreadable sub-folder logged")
    message = next(r.getMessage() for r in caplog.records if "cannot be read" in r.getMessage())
    assert str(locked) in message and "permission denied" in message
    denied.clear()  # chmod: no event for it
    run = ev.finished("bank")[0]
    assert run["state"] == "succeeded" and files_of(run) == ["inside.csv"]
    csv(locked / "later.csv")  # and watched from then on
    assert files_of(ev.finished("bank", 2)[1]) == ["later.csv"]


def test_files_in_a_sub_folder_unreadable_for_a_while_are_not_run_again(
        make_engine, tmp_path, monkeypatch):
    # Run, and left where they are: a look at the folder while a sub-folder cannot be read
    # (at a restart) does not take its files for gone, to run them again once it can be.
    import errno
    from watchdog.observers.inotify_c import InotifyFD
    monkeypatch.setattr("trayjobs.watch.manager.RETRY_EVERY", 0.3)
    inbox = tmp_path / "inbox"
    locked = inbox / "locked"
    csv(locked / "inside.csv"), csv(inbox / "top.csv")
    config = f"""
        [jobs.seen]
        kind = "command"
        command = ["true", "{{files}}"]
        watch = {{ folder = '{inbox}', patterns = ["*.csv"], settle = "0.2s", recursive = true }}
    """
    eng, ev = start(make_engine, config)
    assert sorted(files_of(ev.finished("seen")[0])) == ["inside.csv", "top.csv"]
    ev.settled("seen")
    time.sleep(0.5)  # the watch has heard of the run's end
    eng.stop(timeout=5)
    denied = threading.Event()
    denied.set()
    real_scandir, real_add = os.scandir, InotifyFD.add_callback

    def scandir(path="."):
        if denied.is_set() and os.fsdecode(path) == str(locked):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_scandir(path)

    def add_callback(self, path, *args, **kw):
        if denied.is_set() and os.fsdecode(path) == str(locked):
            raise OSError(errno.EACCES, "Permission denied")
        return real_add(self, path, *args, **kw)
    monkeypatch.setattr(os, "scandir", scandir)
    monkeypatch.setattr(InotifyFD, "add_callback", add_callback)
    eng2, ev2 = start(make_engine, None)
    ev2.state("seen", "watching")
    time.sleep(0.5)
    denied.clear()
    csv(locked / "later.csv")  # watched again: what is new there runs
    assert files_of(ev2.finished("seen", 2)[1]) == ["later.csv"]
    time.sleep(1.0)  # a run of inside.csv again would come meanwhile
    ev2.settled("seen")
    assert [sorted(files_of(r)) for r in runs_of(eng2, "seen")] == [["inside.csv", "top.csv"],
                                                                     ["later.csv"]]


def test_the_watched_folder_renamed_away_is_noticed_at_once(make_engine, tmp_path):
    # Not at the next periodic check (half a minute): files dropped at its path meanwhile
    # would wait, and the window would say "watching" a folder that is not there.
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    eng, ev = start(make_engine, import_job("bank", inbox))
    ev.state("bank", "watching")
    os.rename(inbox, tmp_path / "old-inbox")
    assert ev.state("bank", "unavailable")["reason"] == "the folder does not exist"
    inbox.mkdir()
    ev.state("bank", "watching")
    csv(inbox / "new.csv")
    csv(tmp_path / "old-inbox" / "old.csv")  # no longer watched
    run = ev.finished("bank")[0]
    ev.settled("bank")
    assert [files_of(r) for r in runs_of(eng, "bank")] == [["new.csv"]]
    assert run["state"] == "succeeded"


def test_in_a_worker_process_a_placeholder_a_folder_renamed_away_and_a_file_brought_back(
        home, write_config, tmp_path):
    import signal
    from helpers import run_state, start_worker, trayjobs, wait_run, wait_until
    from textwrap import dedent
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    write_config(dedent(import_job("bank", inbox, settle="0.2s")))
    worker = start_worker(home)
    try:
        wait_until(lambda: f"watching {inbox}" in trayjobs(home, "jobs").stdout, what="watching")
        (inbox / "a.csv").touch()  # a browser's placeholder ...
        csv(inbox / "a.csv.part")  # ... renamed over once the download is complete
        os.rename(inbox / "a.csv.part", inbox / "a.csv")
        assert wait_run(home, 1)["state"] == "succeeded"
        os.rename(inbox / "processed" / "a.csv", inbox / "a.csv")  # brought back
        again = wait_run(home, 2)
        assert files_of(again) == ["a.csv"] and "already imported" in str(again["result"])
        os.rename(inbox, tmp_path / "gone")
        wait_until(lambda: "unavailable (the folder does not exist)"
                   in trayjobs(home, "jobs").stdout, timeout=10, what="unavailable")
        assert run_state(home, 3) is None
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(20)
