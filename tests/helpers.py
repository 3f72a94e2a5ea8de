"""Helpers for tests that drive real trayjobs processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from textwrap import dedent

from trayjobs.instance import InstanceLock
from trayjobs.paths import Home
from trayjobs.store.open import open_store


def trayjobs(home: Home, *args: str, timeout: float = 60, check: bool = False,
             env: dict | None = None, input: str | None = None) -> subprocess.CompletedProcess:
    """Run the real CLI in a subprocess on ``home`` (``input``: its standard input)."""
    e = dict(os.environ, TRAYJOBS_HOME=str(home.root), **(env or {}))
    return subprocess.run([sys.executable, "-m", "trayjobs", *args], capture_output=True,
                          text=True, timeout=timeout, env=e, check=check, input=input)


def start_worker(home: Home, *args: str) -> subprocess.Popen:
    e = dict(os.environ, TRAYJOBS_HOME=str(home.root))
    with open(home.log_dir / "worker-test.log", "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "trayjobs", "worker", *args], env=e,
                                stdout=log, stderr=log)
    wait_until(lambda: InstanceLock(home).is_locked() or proc.poll() is not None, 30)
    assert proc.poll() is None, (home.log_dir / "worker-test.log").read_text()
    return proc


def wait_until(pred, timeout: float = 20, interval: float = 0.05, what: str = "condition"):
    """Poll ``pred`` (for other processes' files, where no event reaches us)."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout} s")
        time.sleep(interval)


def live_processes(*, group: int | None = None, parent: int | None = None) -> list[int]:
    """The live processes (zombies are dead for our purpose) of a process group or a parent."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    state, ppid, pgid = f.read().rsplit(")", 1)[1].split()[:3]
            except OSError:
                continue
            if state != "Z" and (group is None or int(pgid) == group) \
                    and (parent is None or int(ppid) == parent):
                out.append(int(entry))
    return out


def dies_with_its_starter(starter: subprocess.Popen, pid: int, comm: str) -> None:
    """Wait for ``pid`` to run ``comm``, kill ``starter`` (the process that started it)
    with SIGKILL, no chance to clean up, and wait for ``pid`` to be gone, or a zombie
    waiting for init to reap it."""
    wait_until(lambda: Path(f"/proc/{pid}/comm").read_text().strip() == comm)
    os.kill(starter.pid, 9)
    starter.wait(10)
    wait_until(lambda: not Path(f"/proc/{pid}").exists()
               or "\nState:\tZ" in Path(f"/proc/{pid}/status").read_text(), timeout=10)


def write_dist(site: Path, name: str, version: str, entry: str, module: str, code: str) -> None:
    """An installed distribution with a ``trayjobs.kinds`` entry point, in folder ``site``."""
    (site / f"{module}.py").write_text(dedent(code), encoding="utf-8")
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[trayjobs.kinds]\n{entry}\n")


@contextmanager
def plugin_site(site: Path, *modules: str):
    """Make ``site`` a path entry of this process and of every process it starts."""
    from trayjobs.kinds import registry
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), old]))
    sys.path.insert(0, str(site))
    registry.refresh_plugins()
    try:
        yield site
    finally:
        sys.path.remove(str(site))
        if old is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = old
        for module in modules:
            sys.modules.pop(module, None)
        registry.refresh_plugins()


def run_state(home: Home, run_id: int) -> dict:
    store = open_store(home)
    try:
        return store.get_run(run_id)
    finally:
        store.close()


def wait_run(home: Home, run_id: int, states=("succeeded", "failed", "cancelled", "skipped",
                                               "interrupted"), timeout: float = 30) -> dict:
    states = (states,) if isinstance(states, str) else states
    return wait_until(lambda: (r := run_state(home, run_id)) and r["state"] in states and r,
                      timeout)


class WebServer:
    """A plain socket server on loopback that answers whatever comes as a web server does:
    something else listening where a ``[cluster]`` URL points."""

    def __init__(self) -> None:
        import socket
        import threading
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                try:
                    conn.recv(1024)
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                                 b"Connection: close\r\n\r\n")
                except OSError:  # the client left first
                    pass

    def close(self) -> None:
        self.sock.close()
