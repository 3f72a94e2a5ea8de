"""A real worker killed with SIGKILL in the middle of a cleanup that copies, then
restarted: the run resumed by the restart copies only what was not copied yet, and
leaves no half-written copy behind."""

from __future__ import annotations

import os
import signal
import time

from helpers import live_processes, start_worker, trayjobs, wait_run, wait_until
from trayjobs.store.open import open_store

FILES = 120
SIZE = 1_000_000


def test_kill_9_mid_copy_then_restart_copies_each_file_once(home, tmp_path):
    """The resumed run (a new run, trigger "recovered") did not look at the interrupted
    run's journal: it copied every file again, next to the copies already made ("f000
    (1).bin"), and the copy being written when the worker died stayed as a hidden
    `.trayjobs-partial-…` file."""
    src, dest = tmp_path / "src", tmp_path / "dest"
    src.mkdir()
    old = time.time() - 3600  # a cleanup leaves files changed in the last minute alone
    block = os.urandom(SIZE)
    for i in range(FILES):
        path = src / f"f{i:03}.bin"
        path.write_bytes(block)
        os.utime(path, (old, old))
    home.config_file.write_text(f'[jobs.copyall]\nkind = "cleanup"\n'
                                f'locations = [{{ path = "{src}" }}]\n'
                                f'filters = [{{ name = "*" }}]\n'
                                f'action = {{ copy = "{dest}" }}\n')
    worker = start_worker(home)
    try:
        run_id = int(trayjobs(home, "run", "copyall", check=True).stdout)
        wait_until(lambda: dest.is_dir() and len(os.listdir(dest)) >= 3, 60,
                   what="some files copied")
        children = live_processes(parent=worker.pid)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)
    finally:
        if worker.poll() is None:
            worker.kill()
    # The job process notices that its worker is gone and stops too.
    wait_until(lambda: not set(children) & set(live_processes()), 15,
               what="the job process gone")
    copied = len([n for n in os.listdir(dest) if not n.startswith(".")])
    assert copied < FILES, "the kill should land mid-run"
    worker = start_worker(home)
    try:
        store = open_store(home)
        resumed = wait_until(lambda: [r for r in store.list_runs(job="copyall")
                                      if r["trigger"] == "recovered"], timeout=30)
        done = wait_run(home, resumed[0]["id"], timeout=120)
        assert store.get_run(run_id)["state"] == "interrupted"
        store.close()
        assert done["state"] == "succeeded", done
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(20)
    assert sorted(os.listdir(dest)) == [f"f{i:03}.bin" for i in range(FILES)]
    assert all((dest / n).read_bytes() == block for n in os.listdir(dest))
