"""The SQLite queue's hand-over in memory: a run enqueued while a worker of the same
process sleeps goes to that worker directly, not through the queue's file; nothing handed
over is lost when the workers stop first."""

from __future__ import annotations

import threading

from helpers import wait_until
from trayjobs.queue import Doorbell, Queue


def sleeper(bell: Doorbell) -> threading.Thread:
    """A thread asleep on ``bell`` as an idle worker is, until the bell rings."""
    t = threading.Thread(target=bell.wait, args=(bell.generation, 30), daemon=True)
    t.start()
    wait_until(lambda: bell.asleep == 1, what="the thread asleep on the bell")
    return t


def test_a_run_is_handed_over_only_to_a_worker_asleep_and_only_one_each():
    bell = Doorbell()
    assert not bell.hand(1), "no worker sleeps: the run must go through the queue"
    t = sleeper(bell)
    assert bell.hand(1)
    assert not bell.hand(2), "the one sleeping worker has a run already"
    t.join(5)
    assert not t.is_alive(), "the hand-over did not wake the worker"
    assert bell.handed() == [1]
    assert bell.take() == 1 and bell.take() is None


class Spy:
    """Records what reaches the queue's file."""

    def __init__(self, storage) -> None:
        self.sent: list[bytes] = []
        self._enqueue = storage.enqueue

        def enqueue(data, priority=None):
            self.sent.append(data)
            return self._enqueue(data, priority)
        storage.enqueue = enqueue


def test_an_idle_worker_is_handed_a_run_and_a_busy_one_reads_it_from_the_file(home):
    q = Queue(home)
    spy = Spy(q.huey.storage)
    ran: list[int] = []
    release = threading.Event()

    def handler(run_id: int) -> None:
        ran.append(run_id)
        if run_id == 1:
            release.wait(30)

    q.start_consumer(handler, workers=1)
    try:
        wait_until(lambda: q.doorbell.asleep == 1, what="the worker asleep")
        q.enqueue(1)
        wait_until(lambda: ran == [1], what="run 1 started")
        assert spy.sent == [], "an idle worker's run went through the queue's file"
        q.enqueue(2)  # the worker is busy with run 1: this one waits in the file
        assert len(spy.sent) == 1 and q.pending_run_ids() == {2}
        release.set()
        wait_until(lambda: ran == [1, 2], what="run 2 read from the file and started")
    finally:
        release.set()
        q.stop_consumer(timeout=10)
        q.close()


def test_a_run_handed_to_workers_that_stop_first_waits_in_the_file_for_the_next_start(home):
    q = Queue(home)
    ran: list[int] = []
    busy, release = threading.Event(), threading.Event()

    def handler(run_id: int) -> None:
        ran.append(run_id)
        busy.set()
        release.wait(30)

    q.start_consumer(handler, workers=1)
    try:
        q.enqueue(1)
        busy.wait(10)
        # One more thread asleep on the bell takes the hand-over, which the busy worker,
        # told to stop, never takes.
        t = sleeper(q.doorbell)
        q.enqueue(2)
        t.join(5)
        assert q.doorbell.handed() == [2]
        stopping = threading.Thread(target=q.stop_consumer, kwargs={"timeout": 10})
        stopping.start()
        wait_until(lambda: q._consumer is None or q._consumer.stop_flag.is_set(),
                   what="the consumer stopping")
        release.set()
        stopping.join(15)
        assert ran == [1], "a worker told to stop took the run handed over"
        assert q.doorbell.handed() == []
        assert q.pending_run_ids() == {2}, "the run handed over was lost at the stop"
    finally:
        release.set()
        q.close()

    again = Queue(home)  # the next start reads it from the file
    got = threading.Event()
    again.start_consumer(lambda run_id: got.set() if run_id == 2 else None, workers=1)
    try:
        assert got.wait(10), "the run kept in the file did not run at the next start"
    finally:
        again.stop_consumer(timeout=10)
        again.close()


def test_a_run_handed_over_keeps_its_priority_when_the_stop_writes_it_to_the_file(home):
    q = Queue(home)
    q.start_consumer(lambda run_id: None, workers=1)
    wait_until(lambda: q.doorbell.asleep == 1, what="the worker asleep")
    q._consumer.stop_flag.set()  # told to stop: it takes nothing more once it wakes
    try:
        q.enqueue(7, priority=5)
        q.stop_consumer(timeout=10)
        assert [(t.args[0], t.priority) for t in q.huey.pending()] == [(7, 5)]
    finally:
        q.close()
