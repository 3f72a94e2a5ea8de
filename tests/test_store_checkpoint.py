"""The run store copies its WAL into the database on a thread, not in a commit."""

from __future__ import annotations

import threading
import time

from helpers import wait_until
from trayjobs.store import RunStore


def _checkpoint_threads(other=()) -> list[threading.Thread]:
    """The checkpoint threads alive, but for ``other``: those of stores an earlier test in
    this process left open, which end once idle (the test's own are the point)."""
    return [t for t in threading.enumerate() if t.name == "store-checkpoint" and t not in other]


def test_a_big_commit_is_not_held_up_by_a_checkpoint_and_one_follows(tmp_path):
    path = tmp_path / "runs.db"
    other = _checkpoint_threads()
    store = RunStore(path)
    rid = store.create_run("j", kind="command", trigger="manual")
    before = path.stat().st_size
    # 20 MB of log: 1,280 pages of 16 KiB, beyond SQLite's own threshold for a checkpoint
    # in the commit (1,000 pages)
    entry = "".join(f"{i}\n" for i in range(100_000))[:64 * 1024]
    t0 = time.monotonic()
    store.add_logs(rid, [(1.0, "info", entry)] * 320)
    assert path.stat().st_size - before < 1 << 20, "the commit checkpointed the WAL itself"
    # a moment later the checkpoint thread has copied it into the database
    wait_until(lambda: path.stat().st_size > 20 << 20, timeout=10)
    assert time.monotonic() - t0 >= 0.4  # not before its delay: commits in a row share one
    assert len(store.logs(rid)) == 320
    store.close()
    assert not _checkpoint_threads(other)


def test_the_checkpoint_thread_ends_when_idle_and_comes_back(tmp_path, monkeypatch):
    import trayjobs.store as st
    monkeypatch.setattr(st, "CHECKPOINT_IDLE", 0.2)
    other = _checkpoint_threads()
    store = RunStore(tmp_path / "runs.db")
    store.create_run("j", kind="command", trigger="manual")
    wait_until(lambda: _checkpoint_threads(other), timeout=5)
    wait_until(lambda: not _checkpoint_threads(other), timeout=5)
    store.create_run("j", kind="command", trigger="manual")
    assert _checkpoint_threads(other)
    store.close()
    assert not _checkpoint_threads(other)


def test_a_removed_database_is_not_made_again_by_the_checkpoint(tmp_path):
    path = tmp_path / "runs.db"
    store = RunStore(path)
    store.create_run("j", kind="command", trigger="manual")
    store.conn.close()  # as if the file were gone along with its folder's contents
    for p in tmp_path.iterdir():
        p.unlink()
    time.sleep(0.8)  # the checkpoint was due 0.5 s after the commit
    assert list(tmp_path.iterdir()) == []
    store._checkpointer.close()


def test_a_new_history_has_large_pages_and_an_old_one_keeps_its_own(tmp_path):
    import sqlite3
    store = RunStore(tmp_path / "new.db")
    assert store._query("PRAGMA page_size") == [{"page_size": 16384}]
    store.close()
    old = tmp_path / "old.db"
    conn = sqlite3.connect(old)
    conn.execute("PRAGMA page_size=4096")
    conn.execute("CREATE TABLE t (x)")  # written: its page size is set
    conn.close()
    store = RunStore(old)
    assert store._query("PRAGMA page_size") == [{"page_size": 4096}]
    rid = store.create_run("j", kind="command", trigger="manual")
    store.add_logs(rid, [(1.0, "info", "x" * 100_000)])
    assert store.logs(rid)[0]["message"] == "x" * 100_000
    assert store._query("PRAGMA wal_autocheckpoint") == [{"wal_autocheckpoint": 10240}]
    store.close()
