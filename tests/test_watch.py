"""Watched folders with real watchdog observers on real folders and a real engine:
a file triggers one run once it is complete, whatever way it arrives."""

from __future__ import annotations

import os
import sqlite3
import time

import pytest

from test_watch_support import csv, files_of, import_job, runs_of, start

pytestmark = pytest.mark.slow


def imported_rows(home, table: str) -> int:
    conn = sqlite3.connect(home.default_data_db)
    try:
        return conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
    finally:
        conn.close()


def test_a_file_written_in_chunks_gives_one_run_after_the_last_write(make_engine, home, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    eng, ev = start(make_engine, import_job("bank", inbox, settle="0.5s"))
    ev.state("bank", "watching")
    with open(inbox / "export.csv", "w", encoding="utf-8") as f:
        f.write("id,name\n")
        for i in range(10):  # 2 s of writing, each pause shorter than the settle time
            f.write("".join(f"{i * 100 + j},row\n" for j in range(100)))
            f.flush()
            time.sleep(0.2)
    last_write = time.time()
    run = ev.finished("bank")[0]
    ev.settled("bank")
    assert [r["id"] for r in runs_of(eng, "bank")] == [run["id"]]
    assert run["state"] == "succeeded", run
    assert run["trigger"] == "watch" and files_of(run) == ["export.csv"]
    assert run["started_at"] > last_write
    assert imported_rows(home, "bank") == 1000
    assert (inbox / "processed" / "export.csv").exists()


def test_a_file_still_open_for_writing_waits_for_its_close(make_engine, home, tmp_path):
    # A download that stalls for longer than the settle time is not taken half-written:
    # the system says the file is still open for writing.
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    eng, ev = start(make_engine, import_job("bank", inbox, settle="0.3s"))
    ev.state("bank", "watching")
    with open(inbox / "slow.csv", "w", encoding="utf-8") as f:
        f.write("id,name\n1,first\n")
        f.flush()
        ev.wait(lambda: eng.watch_status()["bank"]["pending"] == 1, what="the file is seen")
        time.sleep(1.0)  # the stall: quiet for more than the settle time, still open
        assert not runs_of(eng, "bank")
        f.write("2,second\n")
    closed = time.time()
    run = ev.finished("bank")[0]
    ev.settled("bank")
    assert len(runs_of(eng, "bank")) == 1
    assert run["state"] == "succeeded" and run["started_at"] > closed
    assert imported_rows(home, "bank") == 2


def test_a_long_copy_that_stalls_past_five_minutes_is_not_taken_half_written(
        make_engine, home, tmp_path, monkeypatch):
    # A big file copied slowly (from a network share, a USB stick) is still being written
    # after the five minutes an idle open file is waited for: a stall then, with the copy
    # going on, is not the end of it. (Five minutes are made two seconds here.)
    import sys
    import subprocess
    from trayjobs.watch import manager
    monkeypatch.setattr(manager, "MAX_OPEN_WAIT", 2.0)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    eng, ev = start(make_engine, import_job("bank", inbox, settle="0.3s"))
    ev.state("bank", "watching")
    writer = subprocess.Popen([sys.executable, "-c", """if True:
        import sys, time
        with open(sys.argv[1], "w", encoding="utf-8") as f:
            f.write("id,name\\n")
            for i in range(300):
                if i == 150:
                    time.sleep(1.5)  # the stall, past the wait for an idle open file
                f.write(f"{i},row\\n")
                f.flush()
                time.sleep(0.01)
        """, str(inbox / "big.csv")])
    assert writer.wait(30) == 0
    closed = time.time()
    run = ev.finished("bank")[0]
    ev.settled("bank")
    assert len(runs_of(eng, "bank")) == 1
    assert run["state"] == "succeeded" and run["started_at"] > closed
    assert imported_rows(home, "bank") == 300


def test_the_count_of_files_waiting_follows_files_that_keep_arriving(make_engine, tmp_path):
    # The window's "· N files waiting" is told on the bus: a copy of several big files,
    # each still being written, is counted as it grows, not left at its first file.
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    eng, ev = start(make_engine, import_job("bank", inbox, settle="0.2s"))
    ev.state("bank", "watching")
    files = []
    try:
        for i in range(5):
            files.append(open(inbox / f"part-{i}.csv", "w", encoding="utf-8"))
            files[-1].write("id,name\n")
            files[-1].flush()
            time.sleep(0.3)
        told = ev.wait(lambda: [w.pending for w in ev.watch if w.job == "bank"
                                and w.pending == 5], what="5 files waiting told")
        assert told and eng.watch_status()["bank"]["pending"] == 5
    finally:
        for f in files:
            f.write("1,x\n")
            f.close()
    ev.finished("bank")
    ev.settled("bank")
    assert [w.pending for w in ev.watch if w.job == "bank"][-1] == 0


def test_renamed_in_from_elsewhere(make_engine, home, tmp_path):
    inbox, outside = tmp_path / "inbox", tmp_path / "outside"
    inbox.mkdir()
    eng, ev = start(make_engine, import_job("bank", inbox))
    ev.state("bank", "watching")
    os.rename(csv(outside / "moved.csv", rows=5), inbox / "moved.csv")
    run = ev.finished("bank")[0]
    ev.settled("bank")
    assert len(runs_of(eng, "bank")) == 1
    assert run["state"] == "succeeded" and files_of(run) == ["moved.csv"]
    assert run["note"] == f"moved.csv arrived in {inbox}"
    assert imported_rows(home, "bank") == 5


@pytest.mark.parametrize("temp_name", ["data.csv.tmp", ".data.csv", "~$data.csv",
                                       ".~lock.data.csv#", "data.csv.crdownload"])
def test_written_under_a_temporary_name_then_renamed(make_engine, home, tmp_path, temp_name):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    # Every name matches the pattern; only the default ignore list keeps the temporary out.
    eng, ev = start(make_engine, import_job("bank", inbox, patterns='["*"]'))
    ev.state("bank", "watching")
    csv(inbox / temp_name, rows=3, tag="t")
    os.rename(inbox / temp_name, inbox / "data.csv")
    run = ev.finished("bank")[0]
    ev.settled("bank")
    assert [files_of(r) for r in runs_of(eng, "bank")] == [["data.csv"]]
    assert run["state"] == "succeeded"
    assert imported_rows(home, "bank") == 3


def test_a_partial_download_renamed_when_complete(make_engine, home, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    eng, ev = start(make_engine, import_job("bank", inbox, settle="0.2s"))
    ev.state("bank", "watching")
    part = inbox / "statement.csv.part"
    with open(part, "w", encoding="utf-8") as f:
        f.write("id,name\n")
        for i in range(4):  # slower than the settle time: only the name keeps it out
            f.write(f"{i},row\n")
            f.flush()
            time.sleep(0.3)
    os.rename(part, inbox / "statement.csv")
    run = ev.finished("bank")[0]
    ev.settled("bank")
    assert [files_of(r) for r in runs_of(eng, "bank")] == [["statement.csv"]]
    assert run["state"] == "succeeded"
    assert imported_rows(home, "bank") == 4


def test_a_thousand_files_at_once_are_each_imported_once(make_engine, home, tmp_path):
    inbox, staging = tmp_path / "inbox", tmp_path / "staging"
    inbox.mkdir()
    eng, ev = start(make_engine, import_job("bulk", inbox, settle="0.3s"), workers=2)
    ev.state("bulk", "watching")
    names = [f"part-{i:04}.csv" for i in range(1000)]
    for i, name in enumerate(names):
        csv(staging / name, rows=1, tag=f"f{i}")
    for name in names:  # "dropped": moved in, as a file manager does
        os.rename(staging / name, inbox / name)

    def imported():
        runs = [r for r in ev.engine.store.list_runs(job="bulk", limit=10_000)
                if r["state"] in ("succeeded", "failed", "cancelled", "skipped", "interrupted")]
        done = sum(len(r["result"]["files"]) for r in runs if isinstance(r.get("result"), dict))
        return runs if done >= 1000 else None

    runs = ev.wait(imported, timeout=60, what="1,000 files imported")
    ev.settled("bulk")
    runs = runs_of(eng, "bulk")
    assert all(r["state"] == "succeeded" for r in runs), [r["error"] for r in runs]
    files = [f for r in runs for f in r["result"]["files"]]
    assert sorted(os.path.basename(f["file"]) for f in files) == names  # each once, no doubles
    assert {f["status"] for f in files} == {"imported"}
    assert imported_rows(home, "bulk") == 1000
    # Batched into few runs, drained in arrival order, the queue never flooded.
    assert 10 <= len(runs) <= 25, [len(files_of(r)) for r in runs]
    assert max(len(files_of(r)) for r in runs) == 100
    assert ev.most_in_queue <= eng.workers * 2
    assert [r["id"] for r in runs] == sorted(r["id"] for r in runs)
    assert all(a["started_at"] <= b["started_at"] for a, b in zip(runs, runs[1:]))
    assert sorted(os.listdir(inbox / "processed")) == names and os.listdir(inbox) == ["processed"]


def test_a_job_that_skips_overlaps_still_gets_every_file(make_engine, home, tmp_path):
    inbox, staging = tmp_path / "inbox", tmp_path / "staging"
    inbox.mkdir()
    eng, ev = start(make_engine, import_job("bulk", inbox, settle="0.2s",
                                            extra='overlap = "skip"'))
    ev.state("bulk", "watching")
    for i in range(250):
        csv(staging / f"f{i:03}.csv", rows=1)
    for i in range(250):
        os.rename(staging / f"f{i:03}.csv", inbox / f"f{i:03}.csv")
    ev.finished("bulk", 3, timeout=30)
    ev.settled("bulk", timeout=30)
    runs = runs_of(eng, "bulk")
    assert [r["state"] for r in runs] == ["succeeded"] * 3, runs
    assert sorted(len(files_of(r)) for r in runs) == [50, 100, 100]
    assert imported_rows(home, "bulk") == 250


def test_a_run_cancelled_from_the_command_line_lets_the_files_it_held_back_run(
        make_engine, home, tmp_path):
    # overlap = "skip": a file that arrives while the job's run waits for its next
    # attempt waits for that run to end. Cancelled with `trayjobs cancel`, in another
    # process, it ended all the same: the file that waited runs, and so does the next.
    from helpers import trayjobs
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    flag = tmp_path / "ok"
    eng, ev = start(make_engine, f"""
        [jobs.conv]
        kind = "command"
        command = ["sh", "-c", 'test -e "$0"', "{flag}"]
        overlap = "skip"
        retry = {{ attempts = 2, backoff = "1h" }}
        watch = {{ folder = '{inbox}', patterns = ["*.csv"], settle = "0.2s" }}
    """)
    ev.state("conv", "watching")
    csv(inbox / "a.csv")
    first = ev.wait(lambda: [r for r in runs_of(eng, "conv") if r["attempt"] == 1
                             and r["state"] not in ("queued", "running")], what="a retry wait")[0]
    flag.touch()
    csv(inbox / "b.csv")
    ev.wait(lambda: eng.watch_status()["conv"]["pending"] == 1, what="b.csv held back")
    assert trayjobs(home, "cancel", str(first["id"])).returncode == 0
    ev.wait(lambda: eng.store.get_run(first["id"])["state"] == "cancelled")
    csv(inbox / "c.csv")
    runs = ev.finished("conv", 3)
    ev.settled("conv")
    assert [files_of(r) for r in runs_of(eng, "conv")][1:] in ([["b.csv"], ["c.csv"]],
                                                                [["b.csv", "c.csv"]]), \
        ev.summary()
    assert all(r["state"] == "succeeded" for r in runs_of(eng, "conv")[1:])


def test_files_held_back_run_once_their_run_ended_even_if_no_word_of_it_came(
        make_engine, home, tmp_path, monkeypatch):
    # The word that a run ended elsewhere can be lost (the store was busy when it came):
    # the watch looks at the store itself now and then, so its files do not wait for ever.
    from helpers import trayjobs
    monkeypatch.setattr("trayjobs.watch.manager.RETRY_EVERY", 0.3)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    flag = tmp_path / "ok"
    eng, ev = start(make_engine, f"""
        [jobs.conv]
        kind = "command"
        command = ["sh", "-c", 'test -e "$0"', "{flag}"]
        overlap = "skip"
        retry = {{ attempts = 2, backoff = "1h" }}
        watch = {{ folder = '{inbox}', patterns = ["*.csv"], settle = "0.2s" }}
    """)
    ev.state("conv", "watching")
    csv(inbox / "a.csv")
    first = ev.wait(lambda: [r for r in runs_of(eng, "conv") if r["attempt"] == 1
                             and r["state"] not in ("queued", "running")], what="a retry wait")[0]
    flag.touch()
    csv(inbox / "b.csv")
    ev.wait(lambda: eng.watch_status()["conv"]["pending"] == 1, what="b.csv held back")
    monkeypatch.setattr(eng, "_changed_elsewhere", lambda *a, **kw: None)  # the word is lost
    assert trayjobs(home, "cancel", str(first["id"])).returncode == 0
    runs = ev.finished("conv", 2)
    assert files_of(runs[1]) == ["b.csv"] and runs[1]["state"] == "succeeded"


def test_a_burst_of_files_runs_a_job_without_input_files_once(make_engine, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    eng, ev = start(make_engine, f"""
        [jobs.tidy]
        kind = "demo"
        steps = 1
        step_time = 0
        watch = {{ folder = '{inbox}', settle = "0.3s" }}
    """)
    ev.state("tidy", "watching")
    for i in range(20):
        (inbox / f"note-{i}.txt").write_text("x" * i)
    run = ev.finished("tidy")[0]
    ev.settled("tidy")
    assert len(runs_of(eng, "tidy")) == 1
    assert run["state"] == "succeeded" and run["trigger"] == "watch"
    assert run["note"] == f"files changed in {inbox}" and not run.get("inputs")


def _watched_rename(make_engine, tmp_path, rename: str, *, skip_recent: str, patterns: str,
                    settle: str):
    """A started engine with a cleanup renaming the ``*.txt`` of the folder it watches,
    waiting for its first file; and that folder."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    eng, ev = start(make_engine, f"""
        [jobs.tidy]
        kind = "cleanup"
        locations = ['{inbox}']
        filters = [{{ name = "*.txt" }}]
        action = {{ rename = "{rename}" }}
        skip_recent = "{skip_recent}"
        watch = {{ folder = '{inbox}', patterns = {patterns}, settle = "{settle}" }}
    """)
    ev.state("tidy", "watching")
    return eng, ev, inbox


def test_a_watched_cleanup_does_not_chase_its_own_renames(make_engine, tmp_path):
    # The rule's result matches the rule again ("a.txt" -> "a-x.txt" -> "a-x-x.txt" ...):
    # its own renames must not start the job again, while a file from elsewhere does.
    eng, ev, inbox = _watched_rename(make_engine, tmp_path, "{stem}-x{suffix}", skip_recent="0s",
                                     patterns='["*.txt"]', settle="0s")
    (inbox / "a.txt").write_text("a")
    first = ev.finished("tidy")[0]
    assert first["state"] == "succeeded" and first["trigger"] == "watch", first
    time.sleep(1.0)  # a run its own rename started would be going by now
    ev.settled("tidy")
    assert sorted(p.name for p in inbox.iterdir()) == ["a-x.txt"]
    assert len(runs_of(eng, "tidy")) == 1
    (inbox / "b.txt").write_text("b")  # from elsewhere: a run, which renames both
    ev.finished("tidy", 2)
    ev.settled("tidy")
    assert sorted(p.name for p in inbox.iterdir()) == ["a-x-x.txt", "b-x.txt"]


def test_a_watched_cleanup_runs_for_a_name_that_is_not_utf8_once(make_engine, tmp_path):
    # a cleanup acts on any name (an import, handed its files as text, leaves such a one);
    # its own rename of it starts nothing either
    eng, ev, inbox = _watched_rename(make_engine, tmp_path, "{stem}-x{suffix}", skip_recent="0s",
                                     patterns='["*.txt"]', settle="0s")
    (inbox / os.fsdecode(b"bad\xff.txt")).write_text("b")
    first = ev.finished("tidy")[0]
    assert first["state"] == "succeeded" and first["result"]["acted"] == 1, first
    time.sleep(1.0)  # a run its own rename started would be going by now
    ev.settled("tidy")
    assert os.listdir(os.fsencode(inbox)) == [b"bad\xff-x.txt"]
    assert len(runs_of(eng, "tidy")) == 1


def test_a_watched_cleanup_comes_back_for_files_too_new_to_touch(make_engine, tmp_path):
    # skip_recent leaves a file that just arrived; no event of the folder would come back
    # for it, so the run asks to be started again once it is old enough.
    eng, ev, inbox = _watched_rename(make_engine, tmp_path, "done-{name}", skip_recent="1s",
                                     patterns='["a.txt"]', settle="0.1s")
    (inbox / "a.txt").write_text("a")
    first, again = ev.finished("tidy", 2, timeout=20)
    assert first["result"]["skipped"] == {"in use": 1} and "look_again_at" in first["result"]
    assert again["trigger"] == "watch" and again["result"]["acted"] == 1, again
    assert sorted(p.name for p in inbox.iterdir()) == ["done-a.txt"]


def test_a_ready_file_gone_or_changed_before_its_hand_over_starts_nothing(make_engine, tmp_path):
    # Held back while a run went (which renamed it, say): gone by the time it would be
    # handed over. A changed one is an event of its own, with its new version.
    from trayjobs.watch.runs import submit_ready
    from trayjobs.watch.state import Watch
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    eng = make_engine(f"""
        [jobs.tidy]
        kind = "demo"
        steps = 0
        watch = {{ folder = '{inbox}' }}
        [jobs.load]
        kind = "import"
        table = "t"
        watch = {{ folder = '{inbox}' }}
    """, start=False)
    kept = inbox / "kept.csv"
    kept.write_text("a\n1\n")
    st = kept.stat()
    changed = (str(kept), st.st_size + 1, st.st_mtime_ns)
    for job in ("tidy", "load"):
        w = Watch(eng.config.jobs[job])
        w.ready = [(str(inbox / "gone.csv"), 4, 1), changed]
        assert submit_ready(eng, w, whole=True)
        assert runs_of(eng, job) == [] and w.ready == []
        w.ready = [(str(kept), st.st_size, st.st_mtime_ns)]
        assert submit_ready(eng, w, whole=True)
        assert len(runs_of(eng, job)) == 1
