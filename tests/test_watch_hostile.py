"""Watched folders against what the system and users do to them: events the kernel
drops, sub-folders it cannot watch, files that keep changing."""

from __future__ import annotations

import os
import sys
import threading

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
