"""A run history's server that takes connections but does not answer (stopped by SIGSTOP,
as a debugger, a paused virtual machine or a frozen disk leave it): libpq would wait for
its answer for ever. The store asks the server on a connection of its own once a call
has waited a while, and only when that is not answered either are the waiting calls cut
and the server said not to answer; long calls on a server that answers are left alone.
Real PostgreSQL servers, paused and resumed."""

from __future__ import annotations

import threading
import time

import pytest

from trayjobs.errors import StoreUnreachable


@pytest.fixture
def server():
    from pg_support import own_server
    srv = own_server()
    yield srv
    srv.remove()


def _store(server, timeout=1.0):
    from trayjobs.store.postgres import PgRunStore
    return PgRunStore(server.url(), timeout=timeout)


def _in_thread(fn):
    """``fn()`` on a thread; returns (result box, seconds it took box, thread)."""
    box: dict = {}

    def go():
        t0 = time.monotonic()
        try:
            box["result"] = fn()
        except Exception as exc:  # noqa: BLE001
            box["error"] = exc
        box["took"] = time.monotonic() - t0
    t = threading.Thread(target=go, daemon=True)
    t.start()
    return box, t


def test_a_call_on_a_server_that_does_not_answer_ends_and_says_so(server):
    store = _store(server)
    try:
        assert store.count_runs() == 0
        server.pause()
        box, t = _in_thread(store.count_runs)
        t.join(20)
        assert not t.is_alive(), "the call waited for ever"
        err = box.get("error")
        assert isinstance(err, StoreUnreachable), box
        assert f"127.0.0.1:{server.port} does not answer" in str(err)
        assert "has not answered for" in str(err) and "stopped" in str(err)
        assert box["took"] < 10
        # While it does not answer, calls fail at once rather than each wait for it.
        t0 = time.monotonic()
        with pytest.raises(StoreUnreachable, match="does not answer"):
            store.count_runs()
        assert time.monotonic() - t0 < 0.5
        server.resume()
        deadline = time.monotonic() + 15
        while True:
            try:
                assert store.count_runs() == 0
                break
            except StoreUnreachable:
                assert time.monotonic() < deadline, "it answers again, the store does not see it"
                time.sleep(0.2)
    finally:
        server.resume()
        store.close()


def test_a_transaction_waiting_on_a_server_that_stopped_ends(server):
    store = _store(server)
    try:
        def hold():
            with store.transaction() as tx:
                tx.rows("SELECT 1", ())
                server.pause()
                tx.rows("SELECT 2", ())
        box, t = _in_thread(hold)
        t.join(20)
        assert not t.is_alive()
        assert isinstance(box.get("error"), StoreUnreachable), box
        assert "does not answer" in str(box["error"])
    finally:
        server.resume()
        store.close()


def test_a_long_call_on_a_server_that_answers_is_not_cut(server):
    store = _store(server)  # asks whether the server answers after 1 s
    try:
        t0 = time.monotonic()
        store._native("SELECT pg_sleep(4)")
        assert time.monotonic() - t0 >= 4
        assert store._watch.down_why is None and store._watch.cut_why is None
    finally:
        store.close()


@pytest.fixture
def pg_home(tmp_path, monkeypatch, server):
    from trayjobs.paths import Home
    monkeypatch.delenv("TRAYJOBS_TEST_DATABASE", raising=False)
    monkeypatch.delenv("TRAYJOBS_STORE_TIMEOUT", raising=False)  # as a person has it
    home = Home.under(tmp_path / "home").ensure()
    home.config_file.write_text(
        f'[cluster]\ndatabase = "{server.url()}"\nlease = "3s"\n[settings]\nworkers = 1\n'
        '[jobs.slow]\nkind = "demo"\nsteps = 30\nstep_time = 0.2\n', encoding="utf-8")
    return home


def test_a_command_says_the_server_does_not_answer_and_ends(pg_home, server):
    from helpers import trayjobs
    assert trayjobs(pg_home, "runs").returncode == 0  # migrated
    server.pause()
    try:
        t0 = time.monotonic()
        out = trayjobs(pg_home, "runs", timeout=60)
        took = time.monotonic() - t0
    finally:
        server.resume()
    assert out.returncode == 2
    assert f"127.0.0.1:{server.port} does not answer" in out.stderr
    assert "Traceback" not in out.stderr
    assert took < 20


def test_a_worker_rides_out_a_server_that_stops_answering_mid_run(pg_home, server):
    """The run going on finishes, its end is kept and written once the server answers
    again; the worker says why meanwhile, and nothing runs twice."""
    from helpers import start_worker, trayjobs, wait_until
    from trayjobs.store.postgres import PgRunStore
    worker = start_worker(pg_home)
    log = pg_home.log_dir / "worker-test.log"
    try:
        assert trayjobs(pg_home, "run", "slow").returncode == 0
        store = PgRunStore(server.url(), timeout=5)
        try:
            wait_until(lambda: store.count_runs(state="running") == 1, 30)
            server.pause()
            wait_until(lambda: "does not answer" in log.read_text(), 30,
                       what="the worker to say the server does not answer")
            time.sleep(7)  # the run (6 s) ends meanwhile
            server.resume()
            wait_until(lambda: store.count_runs(state="succeeded") == 1, 40)
            time.sleep(1)
            assert store.count_runs() == 1
        finally:
            store.close()
        assert "Traceback" not in log.read_text()
    finally:
        server.resume()
        worker.terminate()
        worker.wait(30)


def test_a_store_nobody_holds_is_not_kept_alive_by_its_watch(server):
    import gc
    import weakref
    store = _store(server)
    assert store.count_runs() == 0  # the watch's thread has started
    watch, gone = store._watch, weakref.ref(store)
    del store
    gc.collect()
    assert gone() is None, "the watch kept the store (and its pool) alive"
    deadline = time.monotonic() + 5
    while watch._thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not watch._thread.is_alive()
