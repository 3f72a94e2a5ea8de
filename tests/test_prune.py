"""Pruning the history: old runs go, and with them the output folders they left under the
home's data folder (``outputs/RUN``), never anything a link in them points to. Real runs
of real programs, real folders and links."""

from __future__ import annotations

import os
import time

import pytest

from pg_support import ON_POSTGRES

WRITES = """
    [jobs.writes]
    kind = "command"
    command = "mkdir -p \\"$TRAYJOBS_OUTPUT_DIR/sub\\" && echo made > \\"$TRAYJOBS_OUTPUT_DIR/sub/out.txt\\""
"""

KEEP = {"keep_days": 30, "keep_runs": 100_000, "keep_failed_days": 30}


def _age(eng, run_id: int, days: float = 60) -> None:
    old = time.time() - days * 86400
    eng.store.update_run(run_id, created_at=old, finished_at=old)


def test_pruned_runs_take_their_output_folders_with_them(make_engine, home):
    eng = make_engine(WRITES)
    old, new = (eng.watcher.wait(eng.submit("writes")) for _ in range(2))
    assert old["state"] == new["state"] == "succeeded", old
    assert old["result"]["outputs"] == [str(home.run_outputs(old["id"]) / "sub" / "out.txt")]
    _age(eng, old["id"])
    assert eng.prune_history(**KEEP) == 1
    assert eng.store.get_run(old["id"]) is None
    assert not home.run_outputs(old["id"]).exists()
    assert (home.run_outputs(new["id"]) / "sub" / "out.txt").read_text() == "made\n"


def test_pruning_never_follows_a_link_out_of_the_home(make_engine, home, tmp_path):
    # A program may leave links in its output folder, to the user's own files: the folder
    # goes, the links with it, what they point to stays. A run's "folder" that is itself a
    # link is not one trayjobs made: it is left as it is.
    mine = tmp_path / "my-files"
    (mine / "deep").mkdir(parents=True)
    (mine / "deep" / "precious.txt").write_text("keep me")
    (mine / "note.txt").write_text("me too")
    eng = make_engine(WRITES)
    hostile, linked = (eng.watcher.wait(eng.submit("writes"))["id"] for _ in range(2))
    folder = home.run_outputs(hostile)
    os.symlink(mine, folder / "to-my-files")
    os.symlink(mine / "note.txt", folder / "sub" / "to-a-note")
    os.symlink(mine, folder / "sub" / "dir-link", target_is_directory=True)
    other = home.run_outputs(linked)
    for p in sorted(other.rglob("*"), reverse=True):
        p.rmdir() if p.is_dir() else p.unlink()
    other.rmdir()
    os.symlink(mine, other)  # outputs/RUN itself a link to the user's folder
    for rid in (hostile, linked):
        _age(eng, rid)
    assert eng.prune_history(**KEEP) == 2
    assert not os.path.lexists(folder)
    assert os.path.islink(other)
    assert (mine / "deep" / "precious.txt").read_text() == "keep me"
    assert (mine / "note.txt").read_text() == "me too"
    assert sorted(p.name for p in mine.iterdir()) == ["deep", "note.txt"]


def test_an_outputs_folder_that_is_a_link_is_not_followed(make_engine, home, tmp_path):
    mine = tmp_path / "elsewhere"
    (mine / "1").mkdir(parents=True)
    (mine / "1" / "data.txt").write_text("keep me")
    eng = make_engine(WRITES, start=False)
    rid = eng.submit("writes")
    assert rid == 1
    eng.store.update_run(rid, state="succeeded")
    _age(eng, rid)
    outputs = home.data_dir / "outputs"
    if outputs.exists():
        outputs.rmdir()
    os.symlink(mine, outputs)
    assert eng.prune_history(**KEEP) == 1
    assert (mine / "1" / "data.txt").read_text() == "keep me"


def test_a_reused_run_number_keeps_the_new_runs_folder(make_engine, home, monkeypatch):
    # SQLite gives a new run the number after the highest left: once the newest runs are
    # pruned, the next run may take one of theirs, and a run made meanwhile (by another
    # process, between the prune and the removal) owns that folder now.
    eng = make_engine(WRITES)
    rid = eng.watcher.wait(eng.submit("writes"))["id"]
    _age(eng, rid)
    prune = eng.store.prune

    def prune_then_a_new_run(**kw):
        ids = prune(**kw)
        new = eng.store.create_run("writes", kind="command", trigger="manual")
        if new in ids:  # (on PostgreSQL numbers are never given twice)
            (home.run_outputs(new) / "fresh.txt").write_text("the new run's")
        return ids

    monkeypatch.setattr(eng.store, "prune", prune_then_a_new_run)
    assert eng.prune_history(**KEEP) == 1
    reused = eng.store.get_run(rid)
    if reused is not None:
        assert (home.run_outputs(rid) / "fresh.txt").read_text() == "the new run's"
    else:
        assert not home.run_outputs(rid).exists()


DEEP = """
    [jobs.deep]
    kind = "command"
    command = ["%s", "-c", "import os; os.chdir(os.environ['TRAYJOBS_OUTPUT_DIR']); [(os.mkdir('d'), os.chdir('d')) for _ in range(%d)]; open('end.txt', 'w').write('x')"]
"""


def test_output_folders_nested_past_pythons_recursion_go_with_their_run(make_engine, home):
    # A program may leave folders nested thousands deep (a runaway loop): pruning went
    # through them by recursion, failed with "maximum recursion depth exceeded" after the
    # runs had left the history, and kept that folder and every one after it for ever.
    import sys
    eng = make_engine(DEEP % (sys.executable, 3000) + WRITES)
    deep = eng.watcher.wait(eng.submit("deep"))
    later = eng.watcher.wait(eng.submit("writes"))
    assert deep["state"] == later["state"] == "succeeded", deep
    for run in (deep, later):
        _age(eng, run["id"])
    assert eng.prune_history(**KEEP) == 2
    assert not os.path.lexists(home.run_outputs(deep["id"]))
    assert not os.path.lexists(home.run_outputs(later["id"]))


def test_a_big_prune_lets_others_write_while_it_goes(home, monkeypatch):
    # A year of runs deleted in one transaction held the history locked for as long as
    # that took (18 s for 900,000 runs): the app's reads and the runs ending waited behind
    # it, and another process (a worker, a command line) gave up, 'stayed locked'. Each
    # batch is now its own commit, and between two the others write.
    import sqlite3

    from trayjobs import store as store_mod
    from trayjobs.store import RunStore
    monkeypatch.setattr(store_mod, "PRUNE_BATCH", 50, raising=False)
    s = RunStore(home.runs_db)
    old = time.time() - 400 * 86400
    with s.transaction() as conn:
        conn.executemany("INSERT INTO runs (job, kind, trigger, state, created_at, updated_at,"
                         " finished_at) VALUES ('j', 'demo', 'tray', ?, ?, ?, ?)",
                         [("failed" if i % 7 == 0 else "succeeded", old, old, old)
                          for i in range(500)])
    s.add_logs(1, [(old, "info", "a line")] * 10)
    kept = s.create_run("j", kind="demo", trigger="tray", state="succeeded")
    other = sqlite3.connect(home.runs_db, timeout=0, isolation_level=None)
    wrote, refused = [], []

    def meanwhile() -> int:  # called by SQLite every few hundred steps of the prune
        try:
            other.execute("INSERT OR REPLACE INTO app_state (key, value) VALUES (?, 'x')",
                          (f"k{len(wrote)}",))
            wrote.append(1)
        except sqlite3.OperationalError as exc:
            refused.append(str(exc))
        return 0

    s.conn.set_progress_handler(meanwhile, 200)
    gone = s.prune(keep_days=30, keep_runs=100_000, keep_failed_days=30)
    s.conn.set_progress_handler(None, 0)
    assert len(gone) == 500 and gone == sorted(gone)
    assert [r["id"] for r in s.list_runs(limit=10)] == [kept]
    assert s.logs(1) == []
    assert len(wrote) > 5, refused[:3]
    other.close()
    s.close()


def test_a_prune_with_nothing_old_to_delete_reads_little(home):
    # The runs to delete were looked for in the whole history: 2 s for a million runs with
    # nothing to delete, at each start of the app, the window's first read waiting behind.
    from trayjobs.store import RunStore
    s = RunStore(home.runs_db)
    now = time.time()
    with s.transaction() as conn:
        conn.executemany("INSERT INTO runs (job, kind, trigger, state, created_at, updated_at,"
                         " finished_at) VALUES ('j', 'demo', 'tray', ?, ?, ?, ?)",
                         [("failed" if i % 7 == 0 else "succeeded", t, t, t)
                          for i in range(20_000) for t in [now - 86400 + i]])
    calls = []
    s.conn.set_progress_handler(lambda: calls.append(1) and 0, 1000)
    gone = s.prune(keep_days=30, keep_runs=100_000, keep_failed_days=30)
    s.conn.set_progress_handler(None, 0)
    assert gone == [] and s.count_runs() == 20_000
    assert len(calls) < 100, len(calls)  # (the kept runs' count: a walk over their ids)
    # One old enough goes all the same, and only it.
    old = s.create_run("j", kind="demo", trigger="tray", state="succeeded")
    s.update_run(old, created_at=now - 60 * 86400, finished_at=now - 60 * 86400)
    assert s.prune(keep_days=30, keep_runs=100_000, keep_failed_days=30) == [old]
    s.close()


SOON = """
    [jobs.soon]
    kind = "command"
    command = "true"
    every = "1s"
"""

OLD_RUNS = 12_000  # one a commit (below): a prune of some 10 s, as a million runs take 30 s


def _slow_history(home, monkeypatch) -> None:
    """A history whose prune takes seconds: old runs, deleted one a commit."""
    from trayjobs import store as store_mod
    from trayjobs.store import RunStore
    monkeypatch.setattr(store_mod, "PRUNE_BATCH", 1)
    s = RunStore(home.runs_db)
    old = time.time() - 400 * 86400
    with s.transaction() as conn:
        conn.executemany("INSERT INTO runs (job, kind, trigger, state, created_at, updated_at,"
                         " finished_at) VALUES ('gone', 'demo', 'tray', 'succeeded', ?, ?, ?)",
                         [(old, old, old)] * OLD_RUNS)
    s.close()


def _old_left(eng) -> int:
    return eng.store.count_runs(job="gone")


@pytest.mark.skipif(ON_POSTGRES, reason="deletes in batches on SQLite only")
def test_schedules_keep_their_time_while_the_history_is_pruned(make_engine, home,
                                                                monkeypatch):
    # The prune at start ran on the scheduler's thread: on a big history, the runs due in
    # the 30-50 s it took started that late.
    _slow_history(home, monkeypatch)
    started = time.monotonic()
    eng = make_engine(SOON)
    deadline = started + 6
    while time.monotonic() < deadline:
        if eng.store.count_runs(job="soon", state="succeeded") >= 2:
            break
        time.sleep(0.05)
    runs = eng.store.list_runs(job="soon", limit=10)
    assert len([r for r in runs if r["state"] == "succeeded"]) >= 2, runs
    assert 0 < _old_left(eng) < OLD_RUNS  # and the prune goes on meanwhile


@pytest.mark.skipif(ON_POSTGRES, reason="deletes in batches on SQLite only")
def test_stopping_the_engine_ends_a_prune_between_two_batches(make_engine, home,
                                                               monkeypatch):
    _slow_history(home, monkeypatch)
    eng = make_engine(SOON)
    deadline = time.monotonic() + 5
    while _old_left(eng) == OLD_RUNS and time.monotonic() < deadline:
        time.sleep(0.05)
    t0 = time.monotonic()
    eng.stop(timeout=5)
    took = time.monotonic() - t0
    assert took < 1.5, took
    left = _old_left(eng)
    assert 0 < left < OLD_RUNS
    time.sleep(0.5)
    assert _old_left(eng) == left  # it stopped, not went on behind the engine's back


def test_the_history_is_pruned_as_trayjobs_starts_soon_after_the_computer(make_engine, home,
                                                                            monkeypatch):
    # The first prune waited for 6 hours of the monotonic clock, which counts from the
    # computer's start: an app started in the morning pruned nothing before the afternoon,
    # and one quit before never did.
    import types

    from trayjobs.engine import scheduling
    booted = time.monotonic() - 100  # the computer started 100 s ago
    clock = types.SimpleNamespace(time=time.time, monotonic=lambda: time.monotonic() - booted)
    monkeypatch.setattr(scheduling, "time", clock)
    eng = make_engine(WRITES, start=False)
    rid = eng.submit("writes")
    eng.store.update_run(rid, state="succeeded")
    _age(eng, rid, days=400)
    eng.start()
    deadline = time.monotonic() + 5
    while eng.store.get_run(rid) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert eng.store.get_run(rid) is None
