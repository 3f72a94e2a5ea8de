"""A real worker killed with SIGKILL in the middle of an import, then restarted:
every row lands exactly once, and no job process outlives its worker."""

from __future__ import annotations

import os
import signal
import sqlite3
from textwrap import dedent

from helpers import live_processes, run_state, start_worker, trayjobs, wait_run, wait_until
from trayjobs.store.open import open_store

ROWS = 2_500_000  # 1-3 s of import (on two cores, quiet or busy): the kill lands mid-file


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purpose
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False


def _job_processes(worker_pid: int) -> list[int]:
    return live_processes(parent=worker_pid)


def test_kill_9_of_the_worker_mid_import_then_restart_imports_each_row_once(home, tmp_path):
    src = tmp_path / "big.csv"
    with open(src, "w", encoding="utf-8") as f:
        f.write("id,name,amount\n")
        f.writelines(f"{i},name {i},{i * 0.5}\n" for i in range(ROWS))
    home.config_file.write_text(dedent("""
        [jobs.load]
        kind = "import"
        table = "big"
        batch_size = 2000
    """))
    worker = start_worker(home)
    try:
        run_id = int(trayjobs(home, "run", "load", "--file", str(src), check=True).stdout)
        wait_until(lambda: (run_state(home, run_id)["progress_done"] or 0) > 0, timeout=60)
        children = _job_processes(worker.pid)
        assert children, "the worker should run the import in a job process"
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)
    finally:
        if worker.poll() is None:
            worker.kill()
    # The job process notices its worker is gone and stops too (its transaction rolls back).
    wait_until(lambda: not any(_alive(p) for p in children), timeout=15)
    assert run_state(home, run_id)["state"] == "running"
    # Usually the file is still in place; if the kill landed just after the import
    # committed and moved it, the resumed run must recognise that instead of failing.

    worker = start_worker(home)
    try:
        store = open_store(home)
        resumed = wait_until(lambda: [r for r in store.list_runs(job="load")
                                      if r["trigger"] == "recovered"], timeout=30)
        done = wait_run(home, resumed[0]["id"], timeout=120)
        store.close()
        assert done["state"] == "succeeded", done
        assert done["retry_of"] == run_id
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(20)
    with sqlite3.connect(home.default_data_db) as db:
        assert db.execute("SELECT count(*), count(DISTINCT id) FROM big").fetchone() == (ROWS, ROWS)
        assert db.execute("SELECT count(*) FROM _imports").fetchone()[0] == 1
    assert run_state(home, run_id)["state"] == "interrupted"


def test_a_resumed_run_knows_files_its_interrupted_run_finished(make_ctx, home, tmp_path):
    """The kill can land after a file's commit and move but before the run's end is
    recorded: the resumed run finds the file gone and must report it done, not missing."""
    from trayjobs.kinds.importer import ImportKind
    src = tmp_path / "done.csv"
    src.write_text("id,name\n1,a\n2,b\n", encoding="utf-8")
    params = ImportKind.parse_params({"table": "t"})
    first = make_ctx("load", run_id=5, files=[src])
    ImportKind().run(first, params)
    assert not src.exists()  # moved to processed/
    resumed = make_ctx("load", run_id=6, files=[src])
    resumed.resumes = 5
    result = ImportKind().run(resumed, params)
    assert "already imported by run 5, which this run resumes" in " ".join(resumed.sink.logs)
    with sqlite3.connect(home.default_data_db) as db:
        assert db.execute("SELECT count(*) FROM t").fetchone()[0] == 2
    assert result["summary"]
