"""The run store's contract (trayjobs/store/api.py), checked on both implementations: the
SQLite file and a real PostgreSQL server. Compare-and-set moves have exactly one winner
among threads and processes, ids only grow, bad text never fails a write, and a server
that is gone is named (StoreBusy) and found again once it is back."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from trayjobs.errors import StoreBusy
from trayjobs.store import RunStore

ROOT = Path(__file__).resolve().parents[1]



class Backend:
    """Opens stores on one history: each ``open()`` a connection (a pool) of its own, as
    another process would have; ``spec`` names it to a subprocess."""

    def __init__(self, kind: str, spec: str) -> None:
        self.kind, self.spec, self.stores = kind, spec, []

    def open(self, **kw):
        if self.kind == "sqlite":
            store = RunStore(self.spec, **kw)
        else:
            from trayjobs.store.postgres import PgRunStore
            store = PgRunStore(self.spec, **kw)
        self.stores.append(store)
        return store

    def close(self) -> None:
        for s in self.stores:
            s.close()


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request, tmp_path):
    if request.param == "sqlite":
        b = Backend("sqlite", str(tmp_path / "runs.db"))
        b.open()  # created and migrated before anyone races on it
        yield b
        b.close()
        return
    from pg_support import session_server
    server = session_server()
    url = server.new_database()
    b = Backend("postgres", url)
    yield b
    b.close()
    server.drop_database(url)


# What a process of its own does: open the store, wait for the go, try every claim.
_CLAIMER = """
import json, sys, time
kind, spec, go, ids = sys.argv[1], sys.argv[2], float(sys.argv[3]), json.loads(sys.argv[4])
if kind == "sqlite":
    from trayjobs.store import RunStore
    store = RunStore(spec)
else:
    from trayjobs.store.postgres import PgRunStore
    store = PgRunStore(spec)
won = []
time.sleep(max(0, go - time.time()))
for rid in ids:
    if store.claim(rid, pid=0) is not None:
        won.append(rid)
    if store.mark_dispatched(rid):
        won.append(-rid)
store.close()
print(json.dumps(won))
"""


def test_of_several_processes_claiming_the_same_runs_exactly_one_wins_each(backend):
    store = backend.open()
    ids = [store.create_run("race", kind="demo", trigger="manual") for _ in range(40)]
    # mark_dispatched races on runs still queued: the ones nobody claimed first.
    go = time.time() + 3
    procs = [subprocess.Popen([sys.executable, "-c", _CLAIMER, backend.kind, backend.spec,
                               str(go), json.dumps(ids)], stdout=subprocess.PIPE, text=True,
                              cwd=ROOT) for _ in range(4)]
    won = []
    for p in procs:
        out, _ = p.communicate(timeout=120)
        assert p.returncode == 0
        won += json.loads(out)
    claims = sorted(w for w in won if w > 0)
    assert claims == ids  # each run claimed once, by one process
    assert len(won) == len(set(won))  # and handed to the queue at most once
    for rid in ids:
        run = store.get_run(rid)
        assert run["state"] == "running" and run["attempt"] == 1
        assert [a["attempt"] for a in store.attempts(rid)] == [1]


def _race(n: int, fn) -> list:
    go, out = threading.Barrier(n), []

    def one():
        go.wait()
        out.append(fn())
    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


def test_every_compare_and_set_has_one_winner_among_threads_with_their_own_connections(backend):
    store = backend.open()
    others = [backend.open() for _ in range(6)]
    pick = iter(range(10**6))
    lock = threading.Lock()

    def mine():
        with lock:
            return others[next(pick) % len(others)]

    rid = store.create_run("race", kind="demo", trigger="manual")
    assert sum(r is not None for r in _race(6, lambda: mine().claim(rid, pid=1))) == 1
    store.end_attempt(rid, state="retrying", next_attempt_at=0)
    assert sum(_race(6, lambda: mine().requeue_retry(rid))) == 1
    assert sum(_race(6, lambda: mine().mark_dispatched(rid))) == 1
    later = store.create_run("later", kind="demo", trigger="manual", state="scheduled",
                             due_at=100.0)
    started = _race(6, lambda: mine().start_scheduled(200.0))
    assert sorted(len(s) for s in started) == [0, 0, 0, 0, 0, 1]
    assert sum(r is not None for r in _race(6, lambda: mine().hold(later, reason="r",
                                                                  until=None))) == 1
    assert sum(r is not None for r in _race(6, lambda: mine().release(later))) == 1
    assert sum(_race(6, lambda: mine().cancel_run(later))) == 1
    w = store.register_worker(host="a", pid=1, version="1", mode="worker", lease=1)
    assert sum(_race(6, lambda: mine().mark_worker_lost(w))) == 1
    assert store.outbox_add([{"channel": "mail", "event": "failed", "dedupe": "run-1"}]) == 1
    assert sum(_race(6, lambda: mine().outbox_add(
        [{"channel": "mail", "event": "failed", "dedupe": "run-2"}]))) == 1


def test_one_sender_holds_an_alert_lane_until_it_lets_go_or_its_time_passes(backend):
    store = backend.open()
    others = [backend.open() for _ in range(6)]
    names = iter(f"sender{i}" for i in range(6))
    lock = threading.Lock()

    def take():
        with lock:
            me, mine = next(names), others.pop()
        return me if mine.outbox_lane_hold("mail", me, store.now() + 60) else None
    winners = [w for w in _race(6, take) if w]
    assert len(winners) == 1
    (owner,) = winners
    assert store.outbox_lane_hold("mail", owner, store.now() + 60)  # held longer by its owner
    assert not store.outbox_lane_hold("mail", "late", store.now() + 60)
    assert store.outbox_lane_hold("ping:backup", "late", store.now() + 60)  # another lane
    store.outbox_lane_free("mail", "late")  # not its to free
    assert not store.outbox_lane_hold("mail", "late", store.now() + 60)
    store.outbox_lane_free("mail", owner)
    assert store.outbox_lane_hold("mail", "late", store.now() - 1)  # free: taken
    assert store.outbox_lane_hold("mail", "third", store.now() + 60)  # its time passed


def test_ids_only_grow_whoever_writes(backend):
    stores = [backend.open() for _ in range(4)]
    seen: list[list[int]] = [[] for _ in stores]

    def write(i):
        for _ in range(25):
            seen[i].append(stores[i].create_run("grow", kind="demo", trigger="manual"))
    threads = [threading.Thread(target=write, args=(i,)) for i in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for ids in seen:
        assert ids == sorted(ids) and len(set(ids)) == 25
    every = sorted(i for ids in seen for i in ids)
    assert len(set(every)) == 100
    assert stores[0].max_run_id() == every[-1]
    assert [r["id"] for r in stores[0].list_runs(limit=1000)] == every[::-1]
    page = stores[0].list_runs(before_id=every[50], limit=10)
    assert [r["id"] for r in page] == every[40:50][::-1]
    rid = every[0]
    stores[0].add_logs(rid, [(1.0, "info", f"line {n}") for n in range(5)])
    ids = [r["id"] for r in stores[1].logs(rid)]
    assert ids == sorted(ids) and len(ids) == 5
    assert [r["id"] for r in stores[1].logs(rid, after_id=ids[2])] == ids[3:]


def test_text_no_database_can_hold_is_written_escaped_never_refused(backend):
    store = backend.open()
    rid = store.create_run("odd", kind="demo", trigger="manual", note="name \udcff.txt",
                           inputs={"file": "a\udcffb"})
    store.claim(rid, pid=1)
    store.set_progress(rid, 1, 2, "files", "reading \udcfe\x00")
    store.add_log(rid, "nul \x00 and \udcff", level="warning")
    ended = store.end_attempt(rid, state="failed", error="broke on \udcff\x00",
                              traceback="tb \x00", result={"k\udcff": "v\x00"},
                              logs=[(2.0, "info", "last \x00")])
    assert ended["state"] == "failed"
    run = store.get_run(rid)
    assert "\\xff" in run["note"] and "\\xff" in run["error"]
    assert "\x00" not in run["error"] or backend.kind == "sqlite"
    assert list(run["result"]) == ["k\\xff"]
    assert all("\udcff" not in r["message"] for r in store.logs(rid))
    with pytest.raises(ValueError):
        store.end_attempt(rid, state="failed", result={"x": object()})
    assert store.get_run(rid)["state"] == "failed"
    assert store.list_runs(text="BROKE")  # text search ignores case, as SQLite's LIKE


def test_a_watched_file_whose_name_is_not_utf8_is_recorded_seen_and_kept(backend):
    # a cleanup's watch takes any name; the store keeps it as text, its stray byte escaped
    store = backend.open()
    bad = ("/in/bad\udcff.txt", 3, 10)
    assert store.unseen_versions("tidy", [bad]) == [bad]
    store.record_versions("tidy", None, [bad])
    assert store.unseen_versions("tidy", [bad, ("/in/bad\udcff.txt", 4, 11)]) == [("/in/bad\udcff.txt", 4, 11)]
    assert store.forget_versions("tidy", "/in", {"/in/bad\udcff.txt"}) == 0  # still there: kept
    assert store.forget_versions("tidy", "/in", set()) == 1


def test_the_versions_of_files_a_run_moved_away_are_forgotten_by_path(backend):
    store = backend.open()
    store.record_versions("load", None, [("/in/a.csv", 1, 1), ("/in/b\udcff.csv", 2, 2)])
    assert store.forget_paths("load", ["/in/b\udcff.csv", "/in/never.csv"]) == 2
    assert store.unseen_versions("load", [("/in/a.csv", 1, 1), ("/in/b\udcff.csv", 2, 2)]) == [
        ("/in/b\udcff.csv", 2, 2)]


def test_a_renamed_job_takes_its_watched_files_schedule_and_runs_to_come(backend):
    store = backend.open()
    store.record_versions("old", None, [("/in/a.csv", 1, 1)])
    store.record_versions("new", None, [("/in/stale.csv", 9, 9)])  # a name used before
    store.set_job_state("old", next_run_at=1000.0, schedule_spec="every 1h")
    ran = store.insert_run("old", kind="demo", trigger="manual", state="skipped")["id"]
    to_come = store.create_run("old", kind="demo", trigger="schedule")
    store.rename_job("old", "new")
    assert store.unseen_versions("new", [("/in/a.csv", 1, 1), ("/in/stale.csv", 9, 9)]) == [
        ("/in/stale.csv", 9, 9)]
    assert store.unseen_versions("old", [("/in/a.csv", 1, 1)]) == [("/in/a.csv", 1, 1)]
    states = store.job_states()
    assert "old" not in states and states["new"]["next_run_at"] == 1000.0
    assert store.get_run(to_come)["job"] == "new"
    assert store.get_run(ran)["job"] == "old"  # what ran keeps the name it ran under


def test_a_run_its_submitter_queued_itself_is_no_dispatchers_until_its_message_is_lost(
        backend):
    store = backend.open()
    handed = store.insert_run("fast", kind="demo", trigger="manual", handed=True)["id"]
    waiting = store.create_run("slow", kind="demo", trigger="manual")
    assert store.get_run(handed)["dispatched"] == 2
    # Not waiting for a dispatcher, nor in their budget while it waits in the queue.
    assert store.waiting_jobs() == ["slow"]
    assert [r["id"] for r in store.undispatched()] == [waiting]
    assert store.inflight_by_job() == {}
    assert not store.mark_dispatched(handed)
    # Its message is in the queue: left alone; lost (Redis restarted): the dispatchers' now.
    assert store.redispatch_lost([handed]) == 0
    assert store.redispatch_lost([]) == 1
    assert store.get_run(handed)["dispatched"] == 0
    assert store.waiting_jobs() == ["fast", "slow"]
    # Only a queued run is ever written handed over.
    assert store.insert_run("fast", kind="demo", trigger="manual", state="skipped",
                            handed=True)["dispatched"] == 0


def test_runs_handed_over_a_while_ago_can_go_back_to_the_dispatchers(backend):
    store = backend.open()
    old = store.insert_run("fast", kind="demo", trigger="manual", handed=True)["id"]
    gone = store.insert_run("fast", kind="demo", trigger="manual", handed=True)["id"]
    waiting = store.create_run("slow", kind="demo", trigger="manual")
    sent = store.create_run("slow", kind="demo", trigger="manual")
    assert store.mark_dispatched(sent, by=3)  # by a dispatcher
    later = store.now() + 60
    new = store.insert_run("fast", kind="demo", trigger="manual", handed=True)["id"]
    store._execute("UPDATE runs SET updated_at = ? WHERE id = ?", (later + 1, new))  # after
    assert store.handed_since_before(later) == [old, gone, sent]
    # Handing a run over changes it: its message is looked for a lease after that.
    store._execute("UPDATE runs SET updated_at = 0 WHERE id = ?", (waiting,))
    assert store.mark_dispatched(waiting, by=3)
    assert waiting not in store.handed_since_before(store.now() - 1)
    assert store.claim(gone, pid=1) is not None  # started meanwhile: not the dispatchers'
    assert store.unhand([old, gone, sent]) == 2
    assert [store.get_run(i)["dispatched"] for i in (old, gone, new, sent)] == [0, 2, 2, 0]
    assert store.handed_since_before(later) == [waiting]
    assert store.unhand([]) == 0


def test_an_attempts_end_writes_its_run_attempt_and_log_lines_together(backend):
    store = backend.open()
    rid = store.create_run("end", kind="demo", trigger="manual", max_attempts=2)
    run = store.claim(rid, pid=1, worker_id=7)
    lines = [(10.0 + n, "info", f"line {n}") for n in range(30)] + [(50, "error", "int ts")]
    # A clock's time comes back exactly; text outside ASCII and control characters as written.
    lines.append((1733190000.1234567, "warning", "ünï ✓ 😀 \t \"quoted\" \\ \u0001"))
    assert store.end_attempt(rid, state="retrying", next_attempt_at=99.0, logs=lines,
                             error="boom", died=True, expect=(8, 1)) is None  # not its worker
    assert store.logs(rid) == [] and store.get_run(rid)["state"] == "running"
    ended = store.end_attempt(rid, state="retrying", next_attempt_at=99.0, logs=lines,
                              error="boom", died=True, expect=(run["worker_id"], 1))
    assert ended["state"] == "retrying" and ended["next_attempt_at"] == 99.0
    assert ended["finished_at"] is None and ended["dispatched"] == 0
    assert [(r["ts"], r["level"], r["message"]) for r in store.logs(rid)] == lines
    [attempt] = store.attempts(rid)
    assert (attempt["state"], attempt["error"], attempt["died"]) == ("retrying", "boom", 1)
    assert attempt["finished_at"] is not None
    store.requeue_retry(rid)
    store.claim(rid, pid=1)
    ended = store.end_attempt(rid, state="succeeded", result={"n": 1})
    assert ended["result"] == {"n": 1} and ended["finished_at"] is not None
    assert len(store.logs(rid)) == len(lines)  # no lines: none added
    assert [a["state"] for a in store.attempts(rid)] == ["retrying", "succeeded"]


def test_text_search_finds_backslashes_alike(backend):
    """The history's search is SQLite's LIKE on both: a backslash is a character like any
    other (PostgreSQL's own LIKE takes it for an escape), case is ignored."""
    store = backend.open()
    store.create_run("win", kind="command", trigger="cli", note=r"copied C:\Users\me\x")
    store.create_run("tail", kind="command", trigger="cli", note="ends in a backslash \\")
    assert [r["job"] for r in store.list_runs(text=r"c:\users")] == ["win"]
    assert [r["job"] for r in store.list_runs(text="backslash \\")] == ["tail"]
    assert store.count_runs(text="\\") == 2


def test_the_runs_v1_view_reads_alike(backend):
    store = backend.open()
    ok = store.create_run("a", kind="demo", trigger="manual")
    store.claim(ok)
    store.end_attempt(ok, state="succeeded", result={"warnings": ["w"]})
    store.create_run("b", kind="demo", trigger="manual")
    rows = store.runs_view()
    assert [r["outcome"] for r in rows] == ["warning", "queued"]
    assert rows[0]["duration"] >= 0 and rows[1]["duration"] is None
    assert store.runs_view(after_id=ok) == rows[1:]
    assert len(store.runs_view(limit=1)) == 1


# -- a server that goes away (PostgreSQL only: SQLite is a file) ---------------------------

@pytest.fixture
def own_server():
    from pg_support import own_server as start
    server = start()
    yield server
    server.remove()


def test_a_stopped_server_is_named_and_found_again_once_it_is_back(own_server):
    from trayjobs.store.postgres import PgRunStore
    url = own_server.url()
    store = PgRunStore(url.replace("postgres@", "postgres:secret@"), timeout=2)
    try:
        rid = store.create_run("a", kind="demo", trigger="manual")
        own_server.stop()
        t = time.monotonic()
        with pytest.raises(StoreBusy) as exc:
            store.get_run(rid)
        assert time.monotonic() - t < 10
        said = str(exc.value)
        assert f"127.0.0.1:{own_server.port}" in said and "secret" not in said
        assert "start it, or check [cluster] database" in said
        with pytest.raises(StoreBusy):
            store.create_run("b", kind="demo", trigger="manual")
        own_server.start()
        # Every pooled connection died with the server: each is found broken and replaced.
        deadline = time.monotonic() + 30
        while True:
            try:
                assert store.get_run(rid)["job"] == "a"
                break
            except StoreBusy:
                assert time.monotonic() < deadline, "the store did not reconnect"
                time.sleep(0.2)
        assert store.claim(rid, pid=1)["state"] == "running"
    finally:
        store.close()


def test_a_server_restarted_under_a_busy_store_costs_no_call(own_server):
    from trayjobs.store.postgres import PgRunStore
    store = PgRunStore(own_server.url(), timeout=20)
    try:
        ids = [store.create_run("a", kind="demo", trigger="manual") for _ in range(3)]
        own_server.restart()  # every connection the pool holds is cut
        assert [store.get_run(i)["id"] for i in ids] == ids
        with store.transaction():
            pass
        assert store.claim(ids[0], pid=1) is not None
    finally:
        store.close()


def test_a_server_that_is_not_there_at_start_is_named(tmp_path):
    from pg_support import skip_reason
    if skip_reason():
        pytest.skip(skip_reason())
    from pg_support import _free_port
    from trayjobs.store.postgres import PgRunStore
    with pytest.raises(StoreBusy, match="cannot be reached"):
        PgRunStore(f"postgresql://nobody@127.0.0.1:{_free_port()}/runs", timeout=1)


_OPENER = """
import sys, time
from trayjobs.store.postgres import PgRunStore
time.sleep(max(0, float(sys.argv[2]) - time.time()))
PgRunStore(sys.argv[1]).close()
"""


def test_machines_starting_at_once_migrate_once():
    from pg_support import session_server
    server = session_server()
    server.admin("CREATE DATABASE fresh_migrate")
    url = server.url("fresh_migrate")
    try:
        go = time.time() + 2
        procs = [subprocess.Popen([sys.executable, "-c", _OPENER, url, str(go)], cwd=ROOT,
                                  stderr=subprocess.PIPE, text=True) for _ in range(4)]
        for p in procs:
            _, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
        import psycopg
        with psycopg.connect(url) as conn:
            names = [r[0] for r in conn.execute("SELECT name FROM _migrations ORDER BY name")]
        from trayjobs.store.pg_migrations import PG_MIGRATIONS
        assert names == [n for n, _ in PG_MIGRATIONS]
    finally:
        server.drop_database(url)


_SQLITE_OPENER = """
import sys, time
from trayjobs.store import RunStore
time.sleep(max(0, float(sys.argv[2]) - time.time()))
RunStore(sys.argv[1]).close()
"""


def test_homes_sharing_a_sqlite_file_migrate_it_once_when_they_start_at_once(tmp_path):
    db = tmp_path / "shared" / "runs.db"
    db.parent.mkdir()
    go = time.time() + 1.5
    procs = [subprocess.Popen([sys.executable, "-c", _SQLITE_OPENER, str(db), str(go)],
                              cwd=ROOT, stderr=subprocess.PIPE, text=True) for _ in range(6)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    store = RunStore(db)
    try:
        names = [r[0] for r in store.conn.execute("SELECT name FROM _migrations ORDER BY name")]
        assert names == list(store.migration_names)
    finally:
        store.close()


def test_the_schema_matches_sqlites(tmp_path):
    """Every table and column SQLite's migrations make, PostgreSQL's make too."""
    from pg_support import session_server
    server = session_server()
    url = server.new_database()
    try:
        sqlite = RunStore(tmp_path / "runs.db")
        want = {}
        for (name,) in sqlite.conn.execute("SELECT name FROM sqlite_schema WHERE type IN"
                                           " ('table', 'view') AND name NOT LIKE 'sqlite%'"):
            want[name] = {r[1] for r in sqlite.conn.execute(f"PRAGMA table_info({name})")}
        sqlite.close()
        import psycopg
        with psycopg.connect(url) as conn:
            have = {}
            for table, column in conn.execute(
                    "SELECT table_name, column_name FROM information_schema.columns"
                    " WHERE table_schema = 'public'"):
                have.setdefault(table, set()).add(column)
            indexes = {r[0] for r in conn.execute(
                "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")}
        assert have == want
        sqlite = RunStore(tmp_path / "runs.db", readonly=True)
        sqlite_indexes = {r[0] for r in sqlite.conn.execute(
            "SELECT name FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL")}
        sqlite.close()
        assert sqlite_indexes <= indexes
    finally:
        server.drop_database(url)


def test_a_database_or_user_that_does_not_exist_is_named_at_once():
    from pg_support import session_server
    from trayjobs.store.postgres import PgRunStore
    server = session_server()
    for url, says in ((server.url("no_such_db"), 'database "no_such_db" does not exist'),
                      (server.url().replace("postgres@", "nobody@"),
                       'role "nobody" does not exist')):
        started = time.monotonic()
        with pytest.raises(StoreBusy, match="refused this machine") as err:
            PgRunStore(url, timeout=10)
        assert says in str(err.value)
        assert time.monotonic() - started < 3  # not after the 10 s timeout


def test_tls_asked_of_a_server_without_it_is_named_at_once():
    from pg_support import session_server
    from trayjobs.store.postgres import PgRunStore
    url = session_server().url() + "?sslmode=require"  # the test server has no TLS
    started = time.monotonic()
    with pytest.raises(StoreBusy, match="does not use TLS") as err:
        PgRunStore(url, timeout=10)
    assert "sslmode=require" in str(err.value) and "start it" not in str(err.value)
    assert time.monotonic() - started < 3  # not after the 10 s timeout


HOUR = 500_000 * 3600.0  # the start of an hour of its own, for the per-hour sums


def _wait_avg(store, hour: float = HOUR) -> float | None:
    return store.metrics(since=hour, until=hour + 3600, bucket=3600)[0]["wait_avg"]


def test_the_queue_wait_counts_from_when_a_run_is_ready_not_its_planned_delay(backend):
    """A one-off set for later (``run --at``) and a retry's pause between its attempts are
    planned: the queue wait of each counts from when it was ready to start."""
    store = backend.open()
    t = [HOUR]
    store.now = lambda: t[0]
    later = store.insert_run("j", kind="demo", trigger="manual", state="scheduled",
                             due_at=HOUR + 7200)["id"]
    retried = store.create_run("j", kind="demo", trigger="manual", max_attempts=2)
    t[0] += 5
    assert store.claim(retried, pid=1)  # 5 s in the queue
    assert _wait_avg(store) == 5.0
    t[0] += 1
    store.end_attempt(retried, state="retrying", next_attempt_at=t[0] + 600)
    t[0] += 600
    assert store.requeue_retry(retried, now=t[0])
    assert _wait_avg(store) is None  # queued again: its new wait is not known yet
    t[0] += 7
    assert store.claim(retried, pid=1)  # its last attempt: 7 s in the queue
    store.end_attempt(retried, state="succeeded")
    assert _wait_avg(store) == 7.0
    t[0] = HOUR + 7200
    assert [r["id"] for r in store.start_scheduled(t[0])] == [later]
    t[0] += 3
    assert store.claim(later, pid=1)  # 3 s after its time, not 2 h after it was asked for
    store.end_attempt(later, state="succeeded")
    assert _wait_avg(store) == 5.0
    # A wait for the job's conditions is a wait: the run was due.
    held = store.create_run("j", kind="demo", trigger="schedule")
    t[0] += 10
    assert store.hold(held, reason="on battery", until=None)
    assert store.release(held)
    assert store.claim(held, pid=1)
    assert _wait_avg(store, HOUR + 7200) == 10.0


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_an_older_historys_queue_wait_is_counted_again_from_when_runs_were_ready(
        kind, tmp_path, monkeypatch):
    """016_queue_wait on a history that counted the wait from creation: a one-off's planned
    2 h no longer count; a retried run's last wait is not known, so it is left out."""
    import trayjobs.store as sqlite_module
    if kind == "sqlite":
        monkeypatch.setattr(sqlite_module, "MIGRATIONS",
                            [m for m in sqlite_module.MIGRATIONS if m[0] < "016"])

        def open_store():
            return RunStore(tmp_path / "runs.db")
    else:
        from pg_support import session_server
        import trayjobs.store.postgres as pg_module
        server = session_server()
        server.admin("DROP DATABASE IF EXISTS old_wait WITH (FORCE)")
        server.admin("CREATE DATABASE old_wait")
        monkeypatch.setattr(pg_module, "PG_MIGRATIONS",
                            [m for m in pg_module.PG_MIGRATIONS if m[0] < "016"])

        def open_store():
            return pg_module.PgRunStore(server.url("old_wait"))
    old = open_store()
    try:
        assert "016_queue_wait" not in [r["name"] for r in old._query(
            "SELECT name FROM _migrations")]
        for due, started, attempt in ((HOUR + 7200, HOUR + 7203, 1), (None, HOUR + 2, 1),
                                      (None, HOUR + 700, 2)):
            old._execute("INSERT INTO runs (job, kind, trigger, state, attempt, created_at,"
                          " due_at, started_at, finished_at) VALUES ('j', 'demo', 'manual',"
                          " 'succeeded', ?, ?, ?, ?, ?)",
                          (attempt, HOUR, due, started, started + 1))
        assert _wait_avg(old) == (7203 + 2 + 700) / 3
    finally:
        old.close()
    monkeypatch.undo()
    store = open_store()
    try:
        assert _wait_avg(store) == (3 + 2) / 2
        # The per-hour sums follow the new count from here on.
        rid = store.create_run("j", kind="demo", trigger="manual")
        store._execute("UPDATE runs SET created_at = ?, queued_at = ? WHERE id = ?",
                       (HOUR, HOUR + 10, rid))
        store._execute("UPDATE runs SET state = 'running', started_at = ? WHERE id = ?",
                       (HOUR + 14, rid))
        assert _wait_avg(store) == (3 + 2 + 4) / 3
    finally:
        store.close()
        if kind == "postgres":
            server.drop_database(server.url("old_wait"))


def test_the_runs_a_run_started_are_found_from_it(backend):
    store = backend.open()
    parent = store.create_run("backup", kind="demo", trigger="manual", state="failed")
    other = store.create_run("backup", kind="demo", trigger="manual")
    hooks = [store.create_run(job, kind="demo", trigger="chain", parent_run=parent,
                              inputs={"parent": {"id": parent, "hook": hook}})
             for job, hook in (("diagnose", "on_failure"), ("tidy", "always"))]
    store.create_run("deeper", kind="demo", trigger="chain", parent_run=hooks[0])
    assert [r["id"] for r in store.runs_started_by(parent)] == hooks
    assert store.runs_started_by(parent)[0]["inputs"]["parent"]["hook"] == "on_failure"
    assert [r["id"] for r in store.runs_started_by(parent, limit=1)] == hooks[:1]
    assert store.runs_started_by(other) == []


def test_the_messages_sent_about_a_job_are_counted_alike(backend):
    # The flood control of alerts asks this of whichever store holds the outbox.
    store = backend.open()
    store.outbox_add([{"channel": "mail", "event": "failure", "job": j, "dedupe": f"d{i}"}
                      for i, j in enumerate(["a", "a", "b", "a"])])
    rows = sorted(store.outbox_log(limit=10), key=lambda r: r["id"])
    for at, r in zip([100.0, 150.0, 160.0], rows[:3]):
        store.outbox_update([r["id"]], state="sent", sent_at=at)
    assert store.outbox_sent_since("mail", "a", 120.0) == [150.0]
    assert store.outbox_sent_since("mail", "a", 0.0) == [150.0, 100.0]
    assert store.outbox_sent_since("mail", "b", 0.0) == [160.0]
    assert store.outbox_sent_since("ntfy", "a", 0.0) == []


def test_a_run_number_is_never_given_again_once_the_newest_runs_are_pruned(backend):
    # SQLite without AUTOINCREMENT gave the next run the highest id left + 1: with the
    # newest runs pruned, a new run got a deleted one's number, and the links, logs,
    # output folders and alerts naming that number then named another run.
    store = backend.open()
    ids = [store.create_run("old", kind="demo", trigger="manual") for _ in range(3)]
    long_ago = time.time() - 400 * 86400
    for rid in ids:
        store.update_run(rid, state="succeeded", created_at=long_ago, finished_at=long_ago)
    assert store.prune(keep_days=30, keep_runs=100_000, keep_failed_days=30) == ids
    assert store.max_run_id() in (None, 0)
    new = store.create_run("new", kind="demo", trigger="manual")
    assert new > ids[-1]
    # ...and so in another connection, as another process would see it.
    assert backend.open().create_run("new", kind="demo", trigger="manual") > new


def test_first_starts_are_each_runs_first_attempt_on_both_stores(backend):
    store = backend.open()
    once = store.create_run("a", kind="demo", trigger="manual")
    twice = store.create_run("a", kind="demo", trigger="manual", max_attempts=2)
    never = store.create_run("a", kind="demo", trigger="manual")
    store.claim(once)
    store.claim(twice)
    first = store.attempts(twice)[0]["started_at"]
    store.end_attempt(twice, state="retrying", error="boom", next_attempt_at=0)
    assert store.requeue_retry(twice, early=True)
    store.claim(twice)
    starts = store.first_starts([once, twice, never])
    assert starts[twice] == first < store.get_run(twice)["started_at"]
    assert once in starts and never not in starts
    assert store.first_starts([]) == {}


def test_a_message_summed_up_reads_how_its_summary_went(backend):
    store = backend.open()
    store.outbox_add([{"channel": "mail", "event": "failure", "dedupe": f"f{i}", "run_id": None}
                      for i in range(2)]
                     + [{"channel": "mail", "event": "summary", "dedupe": "s"}])
    rows = {r["dedupe"]: r for r in store.outbox_log(channel="mail")}
    store.outbox_update([rows["f0"]["id"], rows["f1"]["id"]], state="merged",
                        merged_into=rows["s"]["id"])
    store.outbox_tried(rows["s"]["id"], error="connection refused", due_at=None)
    rows = {r["dedupe"]: r for r in store.outbox_log(channel="mail")}
    assert (rows["f0"]["summary_state"], rows["f0"]["summary_error"]) == ("failed",
                                                                         "connection refused")
    assert rows["s"]["summary_state"] is None and rows["s"]["state"] == "failed"


def test_given_up_alerts_of_a_fixed_channel_are_pending_again(backend):
    store = backend.open()
    store.outbox_add([{"channel": c, "event": "failure", "dedupe": f"{c}{i}", "created_at": t}
                      for i, (c, t) in enumerate((("mail", 100.0), ("mail", 200.0),
                                                  ("hook", 200.0), ("mail", 300.0)))])
    rows = sorted(store.outbox_log(limit=10), key=lambda r: r["id"])
    for r in rows[:3]:
        store.outbox_tried(r["id"], error="404", due_at=None)  # given up
    assert store.outbox_revive(500.0, channels=["mail"], since=150.0) == 1
    after = {r["id"]: r for r in store.outbox_log(limit=10)}
    assert [after[r["id"]]["state"] for r in rows] == ["failed", "pending", "failed", "pending"]
    assert after[rows[1]["id"]]["due_at"] == 500.0
    assert store.outbox_revive(500.0, channels=[], since=0.0) == 0


def test_a_logs_tail_is_its_newest_entries_in_order_and_its_line_count(backend):
    store = backend.open()
    rid = store.create_run("tail", kind="demo", trigger="manual")
    other = store.create_run("tail", kind="demo", trigger="manual")
    assert store.log_tail(rid, limit=3) == ([], 0)
    store.add_logs(rid, [(1.0 + n, "info", f"line {n}") for n in range(10)])
    store.add_logs(rid, [(20.0, "info", "two\nlines"), (21.0, "info", "")])
    store.add_logs(other, [(1.0, "info", "not this run's")])
    rows, lines = store.log_tail(rid, limit=3)
    assert [r["message"] for r in rows] == ["line 9", "two\nlines", ""]
    assert lines == 13
