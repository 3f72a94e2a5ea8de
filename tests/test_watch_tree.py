"""Watched folders holding what a careless or hostile user puts there: links out of the
folder, files still being written when the app starts, events the kernel drops while a
file is open, folders swapped or looping. Nothing outside the folder is ever handed to a
run, and no file is handed over half-written."""

from __future__ import annotations

import os
import shutil
import sys
import time

import pytest

from test_watch_hostile import overflow_the_queue, refuse_watches_below, stall_inotify_reader
from test_watch_support import csv, files_of, import_job, runs_of, start
from trayjobs.errors import UserError
from trayjobs.store import FINAL_STATES

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify")]


def snapshot(folder) -> dict[str, bytes | str]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, folder)
            if os.path.islink(p):
                out[rel] = "-> " + os.readlink(p)
            elif os.path.isfile(p):
                with open(p, "rb") as f:
                    out[rel] = f.read()
    return out


def logged(caplog, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


@pytest.mark.parametrize("when", ["at start", "while watched"])
def test_a_link_to_a_file_outside_the_folder_is_never_handed_to_a_run(make_engine, tmp_path,
                                                                      caplog, when):
    inbox, outside = tmp_path / "inbox", tmp_path / "outside"
    inbox.mkdir()
    csv(outside / "precious.csv", rows=5)
    before = snapshot(outside)

    def put_links():
        os.symlink(outside / "precious.csv", inbox / "evil.csv")
        os.symlink("../outside/precious.csv", inbox / "relative.csv")
        csv(inbox / "real.csv")
        os.symlink("real.csv", inbox / "alias.csv")  # inside: the file itself is taken, once
    if when == "at start":
        put_links()
    eng, ev = start(make_engine, import_job("bank", inbox))
    ev.state("bank", "watching")
    if when == "while watched":
        put_links()
    csv(inbox / "take.csv")
    ev.wait(lambda: sum(len(files_of(r)) for r in ev.finished("bank")) >= 2,
            what="both files taken")
    ev.wait(lambda: len(logged(caplog, "outside the watched folder")) >= 2,
            what="the links out logged")
    ev.settled("bank")
    taken = sorted(f for r in runs_of(eng, "bank") for f in files_of(r))
    assert taken == ["real.csv", "take.csv"]
    assert snapshot(outside) == before
    assert os.readlink(inbox / "evil.csv") == str(outside / "precious.csv")
    assert os.path.islink(inbox / "relative.csv") and os.path.islink(inbox / "alias.csv")
    notes = logged(caplog, "outside the watched folder")
    assert any("evil.csv" in n and str(outside / "precious.csv") in n for n in notes), notes
    assert all(eng.store.unseen_versions("bank", [(str(inbox / n), 1, 1)])
               for n in ("evil.csv", "relative.csv"))


def test_a_file_still_written_when_watching_starts_waits_until_it_is_closed(make_engine,
                                                                          tmp_path):
    # A download going on while the app starts: quiet for longer than the settle time
    # (a stalled server), but still open for writing.
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    with open(inbox / "export.csv", "w", encoding="utf-8") as f:
        f.write("id,name\n1,a\n")
        f.flush()
        eng, ev = start(make_engine, import_job("bank", inbox, settle="0.2s"))
        ev.state("bank", "watching")
        ev.wait(lambda: eng.watch_status()["bank"]["pending"] == 1, what="the file is seen")
        time.sleep(1.0)  # the stall: several settle times with nothing to wait for
        assert runs_of(eng, "bank") == []
        f.write("2,b\n3,c\n")
    run = ev.finished("bank")[0]
    ev.settled("bank")
    assert [files_of(r) for r in runs_of(eng, "bank")] == [["export.csv"]]
    assert run["state"] == "succeeded" and run["result"]["files"][0]["rows"] == 3, run


def test_a_close_the_kernel_dropped_does_not_keep_the_file_waiting(make_engine, tmp_path,
                                                                   monkeypatch):
    # Its close event is lost with the others when the queue overflows: the file, complete
    # and closed, must not wait out the 5 minutes allowed to a stalled download.
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    eng, ev = start(make_engine, import_job("bank", inbox, settle="0.2s"))
    ev.state("bank", "watching")
    f = open(inbox / "slow.csv", "w", encoding="utf-8")
    try:
        f.write("id,name\n1,a\n")
        f.flush()
        ev.wait(lambda: eng.watch_status()["bank"]["pending"] == 1, what="the file is seen")
        held, go = stall_inotify_reader(monkeypatch)
        (inbox / "wake.tmp").touch()
        assert held.wait(10)
        overflow_the_queue(inbox)
        f.write("2,b\n")
    finally:
        f.close()  # its close is past the overflow: dropped
    go.set()
    run = ev.finished("bank", timeout=10)[0]
    assert run["state"] == "succeeded" and run["result"]["files"][0]["rows"] == 2, run


def test_a_name_with_a_line_break_is_one_line_in_the_log_and_the_runs_note(make_engine, tmp_path,
                                                                         caplog):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    os.symlink("/etc/passwd", inbox / "bad\nERROR forged line.csv")
    eng, ev = start(make_engine, import_job("bank", inbox))
    ev.state("bank", "watching")
    csv(inbox / "two\nlines.csv")
    run = ev.finished("bank")[0]
    ev.settled("bank")
    assert run["state"] == "succeeded" and run["note"].startswith("two\\nlines.csv arrived in")
    assert os.listdir(inbox / "processed") == ["two\nlines.csv"]  # the name itself, exact
    notes = ev.wait(lambda: logged(caplog, "is not taken"), what="the link logged")
    assert "\n" not in notes[0] and "bad\\nERROR forged line.csv" in notes[0], notes


def test_a_watched_folder_deleted_and_made_again_is_watched_again(make_engine, tmp_path):
    inbox = tmp_path / "inbox"
    csv(inbox / "sub" / "x.txt")
    eng, ev = start(make_engine, import_job("bank", inbox, watch_extra=", recursive = true"))
    ev.state("bank", "watching")
    shutil.rmtree(inbox)
    assert ev.state("bank", "unavailable")["reason"] == "the folder does not exist"
    inbox.mkdir()
    ev.state("bank", "watching")
    csv(inbox / "new.csv")
    run = ev.finished("bank")[0]
    assert files_of(run) == ["new.csv"]


def test_a_folder_of_thousands_of_files_moved_in_hands_each_over_once(make_engine, tmp_path):
    # The system reports the folder moved in, not its files: each is found below it.
    inbox, staging = tmp_path / "inbox", tmp_path / "staging"
    inbox.mkdir()
    for i in range(3000):
        (staging / f"d{i % 7}").mkdir(parents=True, exist_ok=True)
        (staging / f"d{i % 7}" / f"f{i}.csv").write_text(f"id,name\n{i},x\n")
    eng, ev = start(make_engine, import_job("bank", inbox, watch_extra=", recursive = true"))
    ev.state("bank", "watching")
    os.rename(staging, inbox / "staging")
    # Handed to runs (the imports themselves take longer than this test needs to wait).
    ev.wait(lambda: sum(len(files_of(r)) for r in runs_of(eng, "bank")) >= 3000,
            what="all handed over")
    names = [f for r in runs_of(eng, "bank") for f in files_of(r)]
    for r in runs_of(eng, "bank"):  # the rest need not run (a quick machine ended some)
        if r["state"] not in FINAL_STATES:
            try:
                eng.cancel(r["id"])
            except UserError:  # it ended meanwhile
                pass
    assert len(names) == len(set(names)) == 3000


def test_loops_of_folder_links_are_not_entered(make_engine, tmp_path):
    inbox = tmp_path / "inbox"
    (inbox / "a").mkdir(parents=True)
    os.symlink("..", inbox / "a" / "up")
    os.symlink("loop2", inbox / "loop1")
    os.symlink("loop1", inbox / "loop2.csv")
    os.symlink(".", inbox / "self")
    eng, ev = start(make_engine, import_job("bank", inbox, watch_extra=", recursive = true"))
    ev.state("bank", "watching")
    csv(inbox / "a" / "x.csv")
    run = ev.finished("bank")[0]
    ev.settled("bank")
    assert files_of(run) == ["x.csv"] and run["state"] == "succeeded"
    assert eng.watch_status()["bank"]["state"] == "watching"


def test_a_sub_folder_swapped_for_a_link_while_its_file_settles_hands_nothing_over(
        make_engine, tmp_path):
    # inbox/sub/a.csv is seen; then sub is renamed away and a link to another folder, which
    # holds an a.csv of its own, takes its name: the path now leads outside.
    inbox, outside = tmp_path / "inbox", tmp_path / "outside"
    (inbox / "sub").mkdir(parents=True)
    csv(outside / "a.csv", rows=7)
    before = snapshot(outside)
    eng, ev = start(make_engine, import_job("bank", inbox, settle="0.5s",
                                            watch_extra=", recursive = true"))
    ev.state("bank", "watching")
    csv(inbox / "sub" / "a.csv")
    ev.wait(lambda: eng.watch_status()["bank"]["pending"] == 1, what="the file is seen")
    os.rename(inbox / "sub", tmp_path / "away")
    os.symlink(outside, inbox / "sub")
    ev.wait(lambda: eng.watch_status()["bank"]["pending"] == 0, what="the file let go")
    csv(inbox / "later.csv")  # the watch goes on
    run = ev.finished("bank")[0]
    ev.settled("bank")
    assert [files_of(r) for r in runs_of(eng, "bank")] == [["later.csv"]]
    assert snapshot(outside) == before


def test_which_files_a_process_has_open_for_writing(tmp_path):
    import subprocess
    from trayjobs.watch.writers import open_for_writing
    names = ["written.csv", "read.csv", "closed.csv", "appended.csv", "renamed.csv"]
    for n in names:
        (tmp_path / n).write_text("id\n")
    paths = {n: str(tmp_path / n) for n in names}
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys\n"
         "w = open(sys.argv[1], 'w'); r = open(sys.argv[2]); a = open(sys.argv[3], 'a')\n"
         "m = open(sys.argv[4], 'r+')\n"
         "print('open', flush=True); sys.stdin.read()",
         paths["written.csv"], paths["read.csv"], paths["appended.csv"], paths["renamed.csv"]],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "open\n"
        os.rename(paths["renamed.csv"], tmp_path / "new name.csv")  # open under its new name
        asked = set(paths.values()) | {str(tmp_path / "new name.csv")}
        assert open_for_writing(asked) == {paths["written.csv"], paths["appended.csv"],
                                           str(tmp_path / "new name.csv")}
    finally:
        child.stdin.close()
        child.wait(10)
        child.stdout.close()
    assert open_for_writing(asked) == set()


def test_a_folder_of_links_is_named_in_a_few_lines_not_one_per_link(tmp_path, caplog):
    from trayjobs.config import WatchSpec
    from trayjobs.watch.match import NOTES, Matcher
    outside = csv(tmp_path / "outside" / "x.csv")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for i in range(NOTES + 30):
        os.symlink(outside, inbox / f"link{i}.csv")
    csv(inbox / "real.csv")
    m = Matcher(inbox, WatchSpec(folder=str(inbox), patterns=["*.csv"]))
    assert [os.path.basename(p) for p, _ in m.scan()] == ["real.csv"]
    assert [os.path.basename(p) for p, _ in m.scan()] == ["real.csv"]  # and said once
    named = logged(caplog, "is not taken: it is a link to")
    assert len(named) == NOTES
    assert len(logged(caplog, "more links are not taken")) == 1
    # A cleanup acts on links as links: they start its run.
    cleanup = Matcher(inbox, WatchSpec(folder=str(inbox), patterns=["*.csv"]), text_only=False)
    assert len(list(cleanup.scan())) == NOTES + 31


def test_a_link_starts_a_cleanup_watching_the_folder_but_not_an_import_beside_it(
        make_engine, tmp_path):
    # Both watch the same folder; a cleanup acts on the link itself (it trashes the link,
    # never what it points to), an import would read what it points to.
    inbox, outside = tmp_path / "inbox", tmp_path / "outside"
    inbox.mkdir()
    csv(outside / "precious.csv")
    before = snapshot(outside)
    eng, ev = start(make_engine, import_job("bank", inbox) + f"""
        [jobs.tidy]
        kind = "cleanup"
        locations = ['{inbox}']
        filters = [{{ name = "*.csv" }}]
        action = "delete"
        skip_recent = "0s"
        watch = {{ folder = '{inbox}', patterns = ["*.csv"], settle = "0.3s" }}
    """)
    ev.state("bank", "watching"), ev.state("tidy", "watching")
    os.symlink(outside / "precious.csv", inbox / "link.csv")
    run = ev.finished("tidy")[0]
    assert run["state"] == "succeeded" and run["result"]["acted"] == 1, run
    ev.settled("tidy"), ev.settled("bank")
    assert runs_of(eng, "bank") == [] and os.listdir(inbox) == []
    assert snapshot(outside) == before


IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.fixture
def mounted(tmp_path):
    """A tmpfs mounted at inbox/usb, with a CSV of its own (root only)."""
    import subprocess
    point = tmp_path / "inbox" / "usb"
    point.mkdir(parents=True)
    if not IS_ROOT or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "none",
                                      str(point)], capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        csv(point / "on-the-drive.csv")
        (point / "deeper").mkdir()
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], check=False)


def test_a_recursive_watch_does_not_cross_a_mount_point(make_engine, tmp_path, mounted, caplog,
                                                        monkeypatch):
    # As a cleanup does not: a drive, a share or a bind mount of / in the folder is another
    # file system, not the folder the job names.
    inbox = tmp_path / "inbox"
    before = snapshot(mounted)
    refuse_watches_below(monkeypatch, "usb")  # the system is not even asked to watch it
    eng, ev = start(make_engine, import_job("bank", inbox, watch_extra=", recursive = true"))
    ev.state("bank", "watching")
    csv(mounted / "deeper" / "later.csv")
    csv(inbox / "sub" / "mine.csv")
    run = ev.finished("bank")[0]
    ev.settled("bank")
    assert [files_of(r) for r in runs_of(eng, "bank")] == [["mine.csv"]]
    assert run["state"] == "succeeded"
    assert snapshot(mounted) == {**before, "deeper/later.csv": (mounted / "deeper" /
                                                                "later.csv").read_bytes()}
    notes = logged(caplog, "is a mount point")
    assert len(notes) == 1 and str(mounted) in notes[0], notes


def test_a_folder_whose_name_is_not_utf8_is_named_in_a_few_lines_not_one_per_file(tmp_path,
                                                                                 caplog):
    from trayjobs.config import WatchSpec
    from trayjobs.watch.match import NOTES, Matcher
    inbox = tmp_path / "inbox"
    bad = inbox / os.fsdecode(b"old\xff")
    for i in range(NOTES + 30):
        csv(bad / f"f{i}.csv")
    csv(inbox / "real.csv")
    m = Matcher(inbox, WatchSpec(folder=str(inbox), patterns=["*.csv"], recursive=True))
    assert [os.path.basename(p) for p, _ in m.scan()] == ["real.csv"]
    assert len(logged(caplog, "its name is not valid UTF-8")) == NOTES
    more = logged(caplog, "more names that are not valid UTF-8")
    assert len(more) == 1 and str(inbox) in more[0]


def test_a_drive_unmounted_and_mounted_again_does_not_run_its_files_again(
        make_engine, tmp_path, monkeypatch):
    # A share or drive mounted on the watched folder drops out (the network went, the
    # laptop slept) and comes back: its files were run, and are not run again. While it
    # is away the folder is the empty mount point, which says nothing of the drive's files.
    import subprocess
    drive, inbox = tmp_path / "drive", tmp_path / "inbox"
    drive.mkdir(), inbox.mkdir()
    csv(drive / "a.csv"), csv(drive / "b.csv")
    if not IS_ROOT or subprocess.run(["mount", "--bind", str(drive), str(inbox)],
                                     capture_output=True).returncode != 0:
        pytest.skip("cannot mount here")
    monkeypatch.setattr("trayjobs.watch.manager.RETRY_EVERY", 0.3)
    try:
        eng, ev = start(make_engine, f"""
            [jobs.seen]
            kind = "command"
            command = ["true", "{{files}}"]
            watch = {{ folder = '{inbox}', patterns = ["*.csv"], settle = "0.2s" }}
        """)
        run = ev.finished("seen")[0]
        assert sorted(files_of(run)) == ["a.csv", "b.csv"]
        ev.settled("seen")
        time.sleep(0.5)  # the watch has heard of the run's end (files gone then: moved away)
        subprocess.run(["umount", str(inbox)], check=True)
        time.sleep(1.0)  # looked at again: the empty mount point
        subprocess.run(["mount", "--bind", str(drive), str(inbox)], check=True)
        csv(inbox / "c.csv")  # new while it was away
        ev.finished("seen", 2)
        time.sleep(1.5)  # a run of the old files again would come meanwhile
        ev.settled("seen")
        assert [sorted(files_of(r)) for r in runs_of(eng, "seen")] == [["a.csv", "b.csv"],
                                                                       ["c.csv"]]
    finally:
        subprocess.run(["umount", "-l", str(inbox)], capture_output=True)


@pytest.mark.parametrize("where", ["the mount point", "a folder on the drive"])
def test_a_drive_unmounted_under_a_watch_shows_unavailable_until_it_is_back(
        make_engine, home, tmp_path, monkeypatch, caplog, where):
    # A USB drive at /media/usb or a share at /mnt/nas pulled out: what is left is the empty
    # mount point on the disk below, which is not the folder the job names. Watching it
    # would say nothing while files dropped on the drive wait for ever.
    import subprocess
    from helpers import trayjobs
    nas = tmp_path / "nas"
    nas.mkdir()

    def mount():
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "none", str(nas)], check=True)
        (nas / "in").mkdir(exist_ok=True)
    if not IS_ROOT or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "none",
                                      str(nas)], capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    monkeypatch.setattr("trayjobs.watch.manager.RETRY_EVERY", 0.3)
    folder = nas if where == "the mount point" else nas / "in"
    try:
        (nas / "in").mkdir()
        eng, ev = start(make_engine, f"""
            [jobs.seen]
            kind = "command"
            command = ["true", "{{files}}"]
            watch = {{ folder = '{folder}', patterns = ["*.csv"], settle = "0.2s" }}
        """)
        ev.state("seen", "watching")
        subprocess.run(["umount", str(nas)], check=True)
        said = (f"the drive that was mounted at {nas} is not there; watching resumes when it "
                f"is mounted again")
        assert ev.state("seen", "unavailable")["reason"] == said
        assert f"unavailable ({said})" in trayjobs(home, "jobs").stdout
        time.sleep(1.0)  # looked at again and again: said once
        assert len(logged(caplog, said)) == 1
        assert eng.watch_status()["seen"]["state"] == "unavailable"

        mount()
        ev.state("seen", "watching")
        csv(folder / "new.csv")
        run = ev.finished("seen")[0]
        assert run["state"] == "succeeded" and files_of(run) == ["new.csv"]
        time.sleep(1.0)
        ev.settled("seen")
        assert len(runs_of(eng, "seen")) == 1
    finally:
        subprocess.run(["umount", "-l", str(nas)], capture_output=True)
