"""The bridge: engine events from any thread become Qt signals on the GUI thread."""

from __future__ import annotations

import threading

from trayjobs.engine.events import EventBus, RunChanged, RunLog
from trayjobs.ui.bridge import EngineBridge

from ui_support import until


def test_a_burst_of_log_lines_arrives_in_a_few_signals_in_order(qtbot):
    # A job may log thousands of lines a second: one signal per line cost the GUI thread
    # a call into Python for each; lines come together, still in their order, and a run's
    # change logged between two lines stays between them.
    bus = EventBus()
    bridge = EngineBridge()
    bridge.attach(bus)
    got: list = []
    bridge.logLines.connect(lambda lines: got.append(("lines", [l.message for l in lines])))
    bridge.runChanged.connect(lambda run, final: got.append(("run", run["state"])))

    def job() -> None:
        for i in range(1000):
            bus.emit(RunLog(1, 1000.0 + i, "info", f"line {i}"))
            if i == 499:
                bus.emit(RunChanged({"id": 1, "state": "running"}))

    t = threading.Thread(target=job)
    t.start()
    t.join()
    until(qtbot, lambda: sum(len(x[1]) for x in got if x[0] == "lines") == 1000)
    bridge.detach()
    lines = [m for kind, batch in got if kind == "lines" for m in batch]
    assert lines == [f"line {i}" for i in range(1000)]
    flat = [m for kind, batch in got for m in (batch if kind == "lines" else [batch])]
    assert flat.index("running") == 500  # after line 499, before line 500
    assert len([x for x in got if x[0] == "lines"]) <= 10
