"""A report whose worker is killed (kill -9) while it writes its files: real processes."""

from __future__ import annotations

import os
import signal

from helpers import start_worker, trayjobs, wait_until

JOB = """
[jobs.rep]
kind = "report"
database = "runs"
formats = ["csv"]
[[jobs.rep.sections]]
title = "quick"
query = "SELECT 1 AS one"
[[jobs.rep.sections]]
title = "slow"
query = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {n}) SELECT count(*) AS n FROM c"
"""


def _gone(pid: int) -> bool:
    """Whether ``pid`` has ended: a zombie counts, which this test process reaps when it is
    its parent (another test here made it a subreaper, to which orphans then go)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


def _partials(home) -> list:
    folder = home.reports_dir / "rep"
    return [p.name for p in folder.iterdir() if p.name.startswith(".partial-")] \
        if folder.exists() else []


def test_a_killed_reports_half_written_files_are_removed_by_its_next_run(home):
    """Its hidden scratch folder (.partial-RUN-PID, the files written so far) stayed in the
    reports folder for good: no later run looked at another run's. The next run of the
    job removes those of processes that are gone."""
    home.config_file.write_text(JOB.format(n=10 ** 10))
    worker = start_worker(home)
    try:
        assert trayjobs(home, "run", "rep").returncode == 0
        wait_until(lambda: any((home.reports_dir / "rep" / p).iterdir()
                               for p in _partials(home)), 60, what="a file half written")
        left = _partials(home)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)
        pid = int(left[0].rsplit("-", 1)[1])
        wait_until(lambda: _gone(pid), 20, what="its job process gone")
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(10)
    home.config_file.write_text(JOB.format(n=10))
    alive = home.reports_dir / "rep" / f".partial-999-{os.getpid()}"  # a run going on
    alive.mkdir()
    done = trayjobs(home, "run", "rep", "--wait")
    assert done.returncode == 0, done.stderr
    assert _partials(home) == [alive.name]
