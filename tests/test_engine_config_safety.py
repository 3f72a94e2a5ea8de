"""A config can neither hang nor stop the engine: one job's bad schedule leaves the others
running, an edited file is reloaded by ``trayjobs worker`` too, and a file that cannot be
read keeps the last good jobs. Ends with real workers fed 60 malformed files in turn."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone

from helpers import trayjobs, wait_until

from trayjobs.cli import main as cli_main
from trayjobs.config import load_config
from trayjobs.engine.control import SCHEDULE_PROBLEM, last_good_path
from trayjobs.instance import InstanceLock
from trayjobs.paths import Home

GOOD = """\
[settings]
workers = 2
quiet_hours = "22:00-07:00"

[jobs.tick]
kind = "demo"
every = "1h"
steps = 1
step_time = 0
retry = { attempts = 2, backoff = "1s" }

[jobs.nightly]
kind = "demo"
cron = "0 3 * * *"
timeout = "30m"
missed = "skip"

[jobs.cleanup]
kind = "cleanup"
every = "1d"
locations = ["/tmp/trayjobs-fuzz-nowhere"]
filters = [{ age = "older than 30d" }]
skip_recent = "1m"
"""


def test_one_job_whose_schedule_fails_does_not_stop_the_others(make_engine):
    t0 = datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc).timestamp()
    eng = make_engine("""
        [jobs.broken]
        kind = "demo"
        every = "1h"

        [jobs.fine]
        kind = "demo"
        every = "1h"
        steps = 1
        step_time = 0
    """, scheduler=False)
    eng.tick(t0)
    # A stored next run beyond the calendar (a damaged store, a clock gone wild).
    eng.store.set_job_state("broken", next_run_at=-1e20)
    eng.tick(t0 + 3600 + 1)
    [run] = eng.store.list_runs(job="fine")
    assert eng.watcher.wait(run["id"])["state"] == "succeeded"
    assert "OverflowError" in eng.store.get_value(SCHEDULE_PROBLEM + "broken")
    jobs = trayjobs(eng.home, "jobs")
    assert "Traceback" not in jobs.stderr and jobs.returncode == 0
    assert "not scheduled" in jobs.stdout
    # Repaired: the problem is cleared.
    eng.store.set_job_state("broken", schedule_spec="")
    eng.tick(t0 + 3600 + 2)
    assert eng.store.get_value(SCHEDULE_PROBLEM + "broken") is None


def test_engine_keeps_the_last_good_jobs_when_the_file_breaks(make_engine, home):
    eng = make_engine('[jobs.a]\nkind = "demo"\nevery = "1h"\n', start=False)
    assert last_good_path(home).read_text() == home.config_file.read_text()
    home.config_file.write_text('[jobs.a]\nkind = "demo"\nevery = "1h"\n[jobs.b\n')
    cfg = eng.reload_config()
    assert list(cfg.jobs) == ["a"] and cfg.kept_from is not None
    done = trayjobs(home, "check")
    assert done.returncode != 0
    assert "using the last good version from" in done.stderr and "not valid TOML" in done.stderr
    jobs = trayjobs(home, "jobs")
    assert jobs.stdout.splitlines()[2].startswith("a ") and "last good version" in jobs.stderr
    # Fixed: used as it is, and it becomes the last good version.
    home.config_file.write_text('[jobs.c]\nkind = "demo"\n')
    assert list(eng.reload_config().jobs) == ["c"]
    assert "jobs.c" in last_good_path(home).read_text()
    # Deleted: no jobs, but the last good copy stays to restore it from.
    home.config_file.unlink()
    assert list(eng.reload_config().jobs) == []
    assert "jobs.c" in last_good_path(home).read_text()


class Worker:
    """A real ``trayjobs worker`` whose log lines are read as they come."""

    def __init__(self, home) -> None:
        env = dict(os.environ, TRAYJOBS_HOME=str(home.root))
        self.home = home
        self.proc = subprocess.Popen([sys.executable, "-m", "trayjobs", "worker"], env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True, errors="replace")
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        wait_until(lambda: InstanceLock(home).is_locked() or self.proc.poll() is not None, 30)
        self.wait_for("worker started")

    def _read(self) -> None:
        for line in self.proc.stderr:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()

    def count(self, text: str) -> int:
        with self._cond:
            return sum(text in line for line in self.lines)

    def wait_for(self, text: str, n: int = 1, timeout: float = 15) -> None:
        with self._cond:
            ok = self._cond.wait_for(lambda: sum(text in ln for ln in self.lines) >= n
                                     or self.proc.poll() is not None, timeout)
        assert ok and self.proc.poll() is None, "\n".join(self.lines[-30:])

    def stop(self) -> str:
        self.proc.terminate()
        self.proc.wait(30)
        self._reader.join(10)
        self.proc.stderr.close()
        return "\n".join(self.lines)


def test_worker_reloads_an_edited_file_and_keeps_the_last_good_jobs(home):
    home.config_file.write_text('[jobs.a]\nkind = "demo"\n')
    w = Worker(home)
    try:
        home.config_file.write_text('[jobs.a]\nkind = "demo"\n[jobs.b]\nkind = "demo"\n')
        w.wait_for("config reloaded: 2 jobs")
        # Saved the way editors do: a new file renamed over the old one.
        tmp = home.config_file.with_name("trayjobs.toml.new")
        tmp.write_text('[jobs.a]\nkind = "demo"\n[jobs.b]\nkind = "demo"\n[jobs.c\n')
        os.replace(tmp, home.config_file)
        w.wait_for("using the last good version from")
        w.wait_for("not valid TOML")
        run = trayjobs(home, "run", "b")  # the last good jobs still run
        assert run.returncode == 0, run.stderr
    finally:
        log = w.stop()
    assert "Traceback" not in log


def _cases(good: str, rng: random.Random) -> list[bytes]:
    lines = good.splitlines()
    out: list[str | bytes] = []
    for _ in range(12):  # lines deleted and doubled at random
        mutated = list(lines)
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(mutated))
            if rng.random() < 0.5:
                del mutated[i]
            else:
                mutated.insert(i, mutated[i])
        out.append("\n".join(mutated))
    wrong = ['"text"', "42", "-1", "3.5", "true", "[1, 2]", "{ a = 1 }", "nan", "inf",
             "1979-05-27T07:32:00Z", '""']
    for key in ("every", "cron", "timeout", "retry", "priority", "overlap", "missed", "then",
                "watch", "enabled", "params", "steps", "step_time", "kind", "notify"):
        out.append(f'[jobs.x]\nkind = "demo"\n{key} = {rng.choice(wrong)}\n'
                   if key != "kind" else f"[jobs.x]\nkind = {rng.choice(wrong)}\n")
    for key in ("workers", "keep_days", "keep_runs", "catchup_delay", "quiet_hours"):
        out.append(f"[settings]\n{key} = {rng.choice(wrong)}\n")
    for huge in ('"3000000d"', str(10**40), "1e308", '"99999999999999999999w"', "-5"):
        out.append(f'[jobs.h]\nkind = "demo"\nevery = {huge}\ntimeout = {huge}\n')
    for depth in (40, 300, 3000):
        out.append('[jobs.d]\nkind = "demo"\nparams = { x = ' + "[" * depth + "1"
                   + "]" * depth + " }\n")
        out.append('[jobs.d]\nkind = "demo"\nretry = ' + "{ a = " * depth + "1"
                   + " }" * depth + "\n")
    for _ in range(6):
        out.append(bytes(rng.randrange(256) for _ in range(rng.randint(1, 400))))
    out += [b"\xef\xbb\xbf" + good.encode(), b"\xff\xfe" + good.encode("utf-16-le"),
            good.encode()[:57], good + '\n[jobs.tick]\nkind = "demo"\n',
            '[jobs]\nx = 1\n', "jobs = 5\n", "[[jobs.x]]\nkind = 'demo'\n",
            '[jobs."' + "n" * 300 + '"]\nkind = "demo"\n', '[jobs.x]\nkind = "demo"\nthen = "x"\n']
    return [c if isinstance(c, bytes) else c.encode() for c in out]


def test_malformed_files_never_give_a_traceback_nor_stop_the_worker(home, tmp_path, monkeypatch,
                                                                   capsys):
    cases = _cases(GOOD, random.Random(13))
    assert len(cases) >= 50
    started = time.monotonic()
    # Two workers on two homes, each fed every other case: a case waits for its worker to
    # reload, once the file has been quiet for the watch's settle time; two wait together.
    homes = [home, Home.under(tmp_path / "home2").ensure()]
    for h in homes:
        h.config_file.write_text(GOOD)
    workers = [Worker(h) for h in homes]
    reloads = [0, 0]
    try:
        for first in range(0, len(cases), 2):
            fed = list(zip(range(first + 1, first + 3), cases[first:first + 2], homes, workers))
            for i, case, h, _w in fed:
                # Each case differs from the one before, so each is a change to reload.
                h.config_file.write_bytes(case + f"\n# case {i}\n".encode())
            for k, (_i, _c, _h, w) in enumerate(fed):
                reloads[k] += 1
                w.wait_for("config reloaded", n=reloads[k])
            for i, case, h, _w in fed:
                # `trayjobs check` in this process (an exception would fail the test), and as
                # a whole process for every seventh case (a process start costs about a second).
                monkeypatch.setenv("TRAYJOBS_HOME", str(h.root))
                assert cli_main(["check"]) in (0, 1), case[:300]
                out = capsys.readouterr()
                assert "Traceback" not in out.out + out.err
                if i % 7 == 0:
                    check = trayjobs(h, "check")
                    assert "Traceback" not in check.stdout + check.stderr, (case[:300], check.stderr)
                    assert check.returncode in (0, 1), check.stderr
        # Back to a good file: used as it is, its jobs run.
        for h, w, n in zip(homes, workers, reloads):
            h.config_file.write_text(GOOD + "# good again\n")
            w.wait_for("config reloaded", n=n + 1)
        for h in homes:
            assert list(load_config(h.config_file).jobs) == ["tick", "nightly", "cleanup"]
            assert trayjobs(h, "run", "tick", "--wait").returncode == 0
    finally:
        logs = [w.stop() for w in workers]
    for log in logs:
        assert "Traceback" not in log, log[-3000:]
        assert "using the last good version" in log
    assert time.monotonic() - started < 60
