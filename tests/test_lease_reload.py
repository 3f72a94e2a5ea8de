"""``[cluster] lease`` is read when the process starts: a reload that changes it waits for a
restart in everything the lease times, as the worker row and its heartbeat already did."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("held, reloaded, sent_again", [(60, 2, False), (2, 600, True)])
def test_a_reloaded_lease_does_not_change_when_lost_messages_are_sent_again(
        tmp_path, make_engine, write_config, held, reloaded, sent_again):
    """The leader sends a run handed to the queue a lease ago whose message is not there to
    the dispatchers again. It took the lease from the reloaded file: shortened, runs a live
    worker had just taken were sent again; lengthened, a lost message waited that much
    longer, while the workers' rows (and so the other engines) kept the lease they started
    with."""
    shared = tmp_path / "shared" / "runs.db"
    shared.parent.mkdir()

    def config(lease: int) -> str:
        return (f'[cluster]\ndatabase = "sqlite:///{shared}"\nlease = "{lease}s"\n\n'
                f'[jobs.a]\nkind = "demo"\n')
    eng = make_engine(config(held), start=False)
    rid = eng.store.insert_run("a", kind="demo", trigger="manual", handed=True)["id"]
    # handed 10 s ago, and no message of it in the queue
    eng.store._execute("UPDATE runs SET updated_at = ? WHERE id = ?",
                       (eng.store.now() - 10, rid))
    write_config(config(reloaded))
    eng.reload_config()
    assert eng.config.cluster.lease == reloaded  # read, for the notice that says so
    eng._unhand_lost()
    assert (eng.store.get_run(rid)["dispatched"] == 0) is sent_again
