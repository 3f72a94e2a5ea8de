"""The headless worker alone, with Qt made impossible to import, delivers every kind of
alert: failure, recovered, warning, success, missed, stale, and the heartbeat pings."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from alert_servers import HTTPRecorder
from helpers import wait_until
from trayjobs.instance import InstanceLock
from trayjobs.store.open import open_store

WARN = """
def main(ctx):
    return {"summary": "checked 3 files", "warnings": ["b.csv: 2 rows rejected"]}
"""


def test_the_worker_without_qt_delivers_every_event(home, tmp_path):
    server = HTTPRecorder().start()
    flag = tmp_path / "ok-flag"
    script = tmp_path / "warn.py"
    script.write_text(WARN, encoding="utf-8")
    # A PySide6 that cannot be imported: the worker must never need it.
    no_qt = tmp_path / "no-qt" / "PySide6"
    no_qt.mkdir(parents=True)
    (no_qt / "__init__.py").write_text("raise ImportError('Qt is not for the worker')\n")
    home.config_file.write_text(f"""
[alerts.hook]
url = "json://127.0.0.1:{server.port}/hook"
on = ["always", "recovered", "missed", "stale"]

[jobs.flip]
kind = "command"
command = ["test", "-f", "{flag}"]
retry = {{ attempts = 1 }}
ping = "{server.base}/ping/flip"

[jobs.warn]
kind = "python"
file = '{script}'

[jobs.hourly]
kind = "demo"
steps = 1
step_time = 0
every = "1h"

[jobs.forgotten]
kind = "demo"
stale_after = "1s"
""", encoding="utf-8")
    store = open_store(home)
    # The computer was off for three of the hourly job's slots.
    store.set_job_state("hourly", next_run_at=time.time() - 3 * 3600 - 120,
                        schedule_spec="every:3600.0")
    store.close()
    env = dict(os.environ, TRAYJOBS_HOME=str(home.root),
               PYTHONPATH=os.pathsep.join([str(no_qt.parent), os.environ.get("PYTHONPATH", "")]))
    env.pop("QT_QPA_PLATFORM", None)
    log = open(home.log_dir / "worker.log", "wb")
    worker = subprocess.Popen([sys.executable, "-m", "trayjobs", "worker"], env=env,
                              stdout=log, stderr=log)
    try:
        wait_until(lambda: InstanceLock(home).is_locked() or worker.poll() is not None, 30)
        assert worker.poll() is None, (home.log_dir / "worker.log").read_text()

        def cli(*args):
            return subprocess.run([sys.executable, "-m", "trayjobs", *args], env=env,
                                  capture_output=True, text=True, timeout=60)

        def titles():
            """Every message's title, and those a summary lists ("- flip failed (run 2)")."""
            out = []
            for b in server.bodies("/hook"):
                out.append(b["title"])
                out += [line[2:].split(" (run ")[0] for line in b["message"].splitlines()
                        if line.startswith("- ")]
            return out

        assert cli("run", "flip").returncode == 0
        wait_until(lambda: "flip failed" in titles(), 30)
        flag.write_text("ok")
        cli("run", "flip")
        wait_until(lambda: "flip recovered" in titles(), 30)
        cli("run", "warn")
        wait_until(lambda: "warn finished with 1 warning" in titles(), 30)
        wait_until(lambda: "hourly missed runs" in titles(), 30)
        wait_until(lambda: "hourly succeeded" in titles(), 30)
        wait_until(lambda: "forgotten is stale" in titles(), 30)
        assert "flip succeeded" in titles()
        pings = [p for p in server.paths() if p.startswith("/ping/")]
        assert pings == ["/ping/flip/start", "/ping/flip/fail", "/ping/flip/start", "/ping/flip"]
        listed = cli("alerts", "log", "--limit", "100").stdout
        assert "missed runs" in listed and "stale" in listed
    finally:
        worker.terminate()
        worker.wait(30)
        log.close()
        server.stop()
    text = (home.log_dir / "worker.log").read_text()
    assert "Qt is not for the worker" not in text and "Traceback" not in text, text
