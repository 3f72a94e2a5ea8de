"""Small helpers shared by bench_engine.py and bench_app.py (Linux /proc readers, result lines)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


# -- figures -------------------------------------------------------------------------

def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100): with 30 samples p99 is the largest one."""
    s = sorted(values)
    if not s:
        return math.nan
    k = max(1, math.ceil(q / 100 * len(s)))
    return s[k - 1]


def line(name: str, value: str, ref_name: str, ref_value: str, ratio: float | None,
         target: str | None = None, ok: bool | None = None) -> str:
    """``name: value (reference: value) ratio x.xx — target …: ok/MISS``."""
    if ratio is None or math.isnan(ratio):
        r = "ratio n/a"
    else:
        r = f"ratio {ratio:.2f}" if ratio >= 0.1 else f"ratio {ratio:.3f}"
    out = f"{name}: {value} ({ref_name}: {ref_value}) {r}"
    if target:
        out += f" — target {target}: " + ("ok" if ok else "MISS")
    return out


def machine() -> str:
    try:
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "?"
    return f"{os.cpu_count()} CPUs, load {load}, Python {sys.version.split()[0]}"


# -- processes (Linux /proc) -------------------------------------------------------------

def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a live process (all its threads, dead ones included)."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = data[data.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def wakeups(pid: int) -> int:
    """Context switches of all live threads of ``pid`` (voluntary + involuntary)."""
    total = 0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0
    for tid in tids:
        try:
            for ln in Path(f"/proc/{pid}/task/{tid}/status").read_text().splitlines():
                if "ctxt_switches:" in ln:
                    total += int(ln.split()[1])
        except OSError:
            pass
    return total


def children(pid: int) -> list[int]:
    """Direct children of ``pid``."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            data = Path(f"/proc/{name}/stat").read_text()
        except OSError:
            continue
        if int(data[data.rindex(")") + 2:].split()[1]) == pid:
            out.append(int(name))
    return out


def descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        kids = children(todo.pop())
        out += kids
        todo += kids
    return out


def status_kb(pid: int, key: str = "VmRSS") -> int | None:
    try:
        for ln in Path(f"/proc/{pid}/status").read_text().splitlines():
            if ln.startswith(key + ":"):
                return int(ln.split()[1])
    except OSError:
        return None
    return None


def pss_kb(pid: int) -> int | None:
    try:
        for ln in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if ln.startswith("Pss:"):
                return int(ln.split()[1])
    except OSError:
        return None
    return None


def stop_process(proc: subprocess.Popen, *, sig_timeout: float = 15.0) -> None:
    """SIGTERM, then SIGKILL after ``sig_timeout`` s; only this one process."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(sig_timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_until(pred, timeout: float, step: float = 0.1) -> bool:
    """Harness-side wait for an outside process to reach a state (it has no event to give us)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return bool(pred())
