"""Text a job wrote reaches alert channels and ``trayjobs alerts log`` with nothing a
terminal or a notification would obey: escape sequences, carriage returns, NUL, bidi
overrides. A real engine, real job processes, a webhook server on loopback."""

from __future__ import annotations

import re

import pytest

from alert_servers import HTTPRecorder
from helpers import trayjobs, wait_until

HOSTILE = "\\x1b]0;pwned\\x07\\x1b[31mred\\x1b[0m 10%\\r100% nul\\x00 bell\\x07 invoice\\u202egnp.exe"
#: What no message may hold: C0 controls but tab and line feed, DEL, C1, bidi overrides.
OBEYED = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@pytest.fixture
def http():
    server = HTTPRecorder().start()
    yield server
    server.stop()


def test_control_characters_from_a_job_never_reach_a_channel_or_the_alerts_log(
        make_engine, http, tmp_path, home):
    failing, reporting = tmp_path / "failing.py", tmp_path / "reporting.py"
    failing.write_text(f'def main(ctx):\n    raise RuntimeError("{HOSTILE}")\n', encoding="utf-8")
    reporting.write_text(f'def main(ctx):\n    return {{"summary": "{HOSTILE}"}}\n', encoding="utf-8")
    eng = make_engine(f"""
        [alerts.hook]
        url = "json://127.0.0.1:{http.port}/hook"
        on = ["failure"]

        [jobs.failing]
        kind = "python"
        file = '{failing}'
        retry = {{ attempts = 1 }}

        [jobs.reporting]
        kind = "python"
        file = '{reporting}'
        deliver = {{ to = "hook" }}
    """, start=False)
    eng.alerts.sender.gather = 0.1
    eng.start()
    assert eng.watcher.wait(eng.submit("failing"), timeout=30)["state"] == "failed"
    assert eng.watcher.wait(eng.submit("reporting"), timeout=30)["state"] == "succeeded"
    wait_until(lambda: len(http.bodies("/hook")) == 2)
    failure, report = http.bodies("/hook")
    assert failure["title"] == "failing failed"
    for text in (failure["message"], report["title"], report["message"]):
        assert not OBEYED.search(text), ascii(text)
        assert "pwned" not in text and "[31m" not in text
        # a line redrawn with a carriage return is shown as it was left (a failure's error
        # is cut into lines first: there the carriage return is a line break)
        assert "red 10%" not in text or "red 10%\n100% nul" in text, ascii(text)
        assert "100% nul\\x00 bell\\x07 invoice\\u202egnp.exe" in text, ascii(text)
    assert eng.store.outbox_log()[0]["title"].startswith("\x1b]0;pwned")  # kept as queued
    out = trayjobs(home, "alerts", "log")
    assert out.returncode == 0, out.stderr
    assert "100% nul\\x00 bell\\x07 invoice" in out.stdout, ascii(out.stdout)
    assert not OBEYED.search(out.stdout), ascii(out.stdout)
