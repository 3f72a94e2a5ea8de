"""Benchmark: what a ``command`` job costs over running the same program directly.

1. ``true``, in the engine: a real engine in this process (one worker, its job
   process warm) runs a command job ``["true"]``; each sample is the time from
   ``submit()`` to the run's final ``RunChanged(succeeded)`` on the bus. The
   reference runs ``true`` with ``subprocess.run`` from this process. The
   figure is the difference (the overhead per run): target <= 30 ms. A no-op
   ``demo`` run (``steps = 0``) through the same engine is shown too: the part of
   the overhead every run has, whatever its kind.
2. ``true``, whole processes: ``trayjobs run JOB --wait`` with no app running (the
   CLI starts an engine and a job process, runs, exits) against the process
   ``true``, each timed from spawn to exit.
3. Many lines: a command job ``cat FILE`` where FILE holds ``seq N``, in the
   engine, against ``cat FILE > OUT`` run from this process through ``sh -c``
   (the job's program is started without a shell). Two sizes:

   - ``--lines`` (100,000: 0.6 MB, all of it reaches the run's log in the
     store). The figure is issue 12's: the time of ``cat`` to a file over the
     job's, end to end (a throughput ratio), target >= 0.5. Each side includes
     its fixed cost, and the job's (the engine's bookkeeping of a run, about
     as much as ``true`` as a job costs) is larger than ``cat``'s whole time at
     this size, so this ratio is bounded by it, not by the streaming.
   - ``--big-lines`` (5,000,000: 39 MB; the run's log keeps its first and last
     MB, the middle is passed over unread). End to end again, and the streaming
     rate itself: lines per second beyond each side's fixed cost, the job's
     ``(time(N) - time(true job))`` against ``cat``'s ``(time(N) - time(cat of
     an empty file))``.

   ``trayjobs run JOB --wait`` of the 100,000 lines is shown too. So is memory: the
   job process's peak resident size over the big runs against one that ran only
   ``true`` (the log keeps a head and a tail, so output is not held whole), ``cat``'s,
   and how much the engine's process grew over them.

Each figure is the median of ``--runs`` samples, with the spread (min-max); the
reference and the job are measured in turns, in the same run. The machine may be
busy with other work, which wall times show more than the work done: for ``true``
and the lines, the CPU time per run is shown too, everything the run took
(this process, where the engine runs, and the job process with the program it
started) against the reference's (``sh`` and ``cat``, or ``true``).

    .venv/bin/python bench/bench_command.py
    .venv/bin/python bench/bench_command.py --runs 5 --lines 20000 --big-lines 1000000
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CLK_TCK, ROOT, line, machine, status_kb  # noqa: E402

CONFIG = """
[jobs.true]
kind = "command"
command = ["true"]
retry = {{ attempts = 1 }}

[jobs.noop]
kind = "demo"
steps = 0
step_time = 0
retry = {{ attempts = 1 }}

[jobs.lines]
kind = "command"
command = ["cat", "{data}"]
retry = {{ attempts = 1 }}

[jobs.big]
kind = "command"
command = ["cat", "{big}"]
retry = {{ attempts = 1 }}
"""


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def figure(samples: list[float]) -> str:
    return f"{ms(statistics.median(samples))} (spread {ms(min(samples))}-{ms(max(samples))})"


class Finished:
    """Final run states from the engine's bus, waited for without polling."""

    def __init__(self, bus) -> None:
        from trayjobs.engine.events import RunChanged
        self._RunChanged = RunChanged
        self.cond = threading.Condition()
        self.final: dict[int, dict] = {}
        bus.subscribe(self._on_event)

    def _on_event(self, ev) -> None:
        if isinstance(ev, self._RunChanged) and ev.final:
            with self.cond:
                self.final[ev.run["id"]] = ev.run
                self.cond.notify_all()

    def wait(self, rid: int, timeout: float = 300) -> dict:
        with self.cond:
            if not self.cond.wait_for(lambda: rid in self.final, timeout):
                raise TimeoutError(f"run {rid} did not end within {timeout:.0f} s")
        run = self.final[rid]
        if run["state"] != "succeeded":
            raise RuntimeError(f"run {rid} ended {run['state']}: {run.get('error')}")
        return run


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _self_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _process_cpu(pid: int) -> float:
    """CPU time of a live process and of the children it has reaped (its programs)."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = data[data.rindex(")") + 2:].split()
    return sum(int(f) for f in fields[11:15]) / CLK_TCK  # utime, stime, cutime, cstime


class Cpu:
    """CPU seconds summed over samples."""

    def __init__(self) -> None:
        self.total, self.samples = 0.0, 0

    def per_run(self) -> str:
        return ms(self.total / max(1, self.samples))


def in_engine(home, job: str, runs: int, *, between=None, cpu: Cpu | None = None,
              memory: dict[str, int] | None = None) -> list[float]:
    """Times of ``runs`` runs of ``job`` in an engine; ``between()`` is called before each
    (a reference measured in turns with the job). ``cpu``: add the runs' CPU time to it
    (this process's and its job processes', programs included). ``memory``: set its
    ``job`` to the job processes' peak resident size (kB; VmHWM, which the first run,
    made to warm up, counts too) and ``engine`` to how much this process's resident size
    grew over the runs."""
    from trayjobs.engine.engine import Engine
    eng = Engine(home, workers=1, scheduler=False, grace=1.0, mode="worker")
    done = Finished(eng.bus)
    eng.start()

    def cpu_now() -> dict[int, float]:
        """CPU so far: of this process (key 0) and of each job process. (A job process
        started meanwhile, a warm one for later, is not counted.)"""
        return {0: _self_cpu(), **{p.pid: _process_cpu(p.pid) for p in list(eng.executor._idle)}}

    try:
        done.wait(eng.submit(job))  # warm: the job process is up and has run once
        rss0 = status_kb(os.getpid()) or 0
        out = []
        for _ in range(runs):
            if between is not None:
                between()
            c0 = cpu_now()
            out.append(timed(lambda: done.wait(eng.submit(job))))
            if cpu is not None:
                c1 = cpu_now()
                cpu.total += sum(c1[k] - c0[k] for k in c1 if k in c0)
                cpu.samples += 1
        if memory is not None:
            memory["job"] = max((status_kb(p.pid, "VmHWM") or 0) for p in eng.executor._idle)
            memory["engine"] = (status_kb(os.getpid()) or 0) - rss0
        return out
    finally:
        eng.stop()
        eng.close()


def with_cpu(fn, cpu: Cpu) -> float:
    """``fn()``'s time; its children's CPU time is added to ``cpu``."""
    c0 = _children_cpu()
    took = fn()
    cpu.total += _children_cpu() - c0
    cpu.samples += 1
    return took


def cat_to_file(src: Path, out: Path) -> float:
    """``cat SRC > OUT`` from spawn to exit, into a new file (truncating the last one's 39 MB
    would be counted to cat otherwise)."""
    out.unlink(missing_ok=True)
    return timed(lambda: subprocess.run(f"cat '{src}' > '{out}'", shell=True, check=True))


def peak_kb(argv: list[str]) -> int:
    """The peak resident size (kB) of ``argv``, whose output is read, halfway through.
    (Its ``ru_maxrss`` would count the copy of this process it started as.)"""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE)
    proc.stdout.read(1 << 20)  # it is well under way, stopped on its full pipe
    peak = status_kb(proc.pid, "VmHWM") or 0
    proc.stdout.read()
    proc.wait()
    return peak


def cli_run(home, job: str) -> None:
    # As a user's shell runs it: Python keeps the compiled modules it writes (with
    # PYTHONDONTWRITEBYTECODE, set where tests run, every run would compile them again).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(TRAYJOBS_HOME=str(home.root), PYTHONPATH=str(ROOT))
    subprocess.run([sys.executable, "-m", "trayjobs", "run", job, "--wait"], env=env,
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=15, help="samples per figure (default 15)")
    p.add_argument("--lines", type=int, default=100_000, help="lines printed (default 100,000)")
    p.add_argument("--big-lines", type=int, default=5_000_000,
                   help="lines printed for the streaming rate (default 5,000,000; 0: skip)")
    args = p.parse_args(argv)

    from trayjobs.paths import Home
    print(f"bench_command: {machine()}")
    with tempfile.TemporaryDirectory(prefix="trayjobs-bench-command-") as tmp:
        tmp = Path(tmp)
        data = tmp / "lines.txt"
        data.write_text("".join(f"{i}\n" for i in range(1, args.lines + 1)))
        big = tmp / "big.txt"
        with open(big, "w") as f:
            for start in range(1, args.big_lines + 1, 100_000):
                f.write("".join(f"{i}\n" for i in range(start, min(start + 100_000,
                                                                   args.big_lines + 1))))
        empty = tmp / "empty.txt"
        empty.touch()
        home = Home.under(tmp / "home").ensure()
        home.config_file.write_text(textwrap.dedent(CONFIG.format(data=data, big=big)))

        # 1. true, in the engine
        direct_cpu, job_cpu = Cpu(), Cpu()
        direct = [with_cpu(lambda: timed(lambda: subprocess.run(["true"], check=True)),
                           direct_cpu) for _ in range(args.runs)]
        true_memory: dict[str, int] = {}
        job = in_engine(home, "true", args.runs, cpu=job_cpu, memory=true_memory)
        noop = in_engine(home, "noop", args.runs)
        overhead = statistics.median(job) - statistics.median(direct)
        print(line("true as a command job, in the engine", figure(job),
                   "true run directly", figure(direct),
                   statistics.median(job) / statistics.median(direct)))
        print(line("  overhead per run", ms(overhead), "a no-op demo run",
                   figure(noop), None, "<= 30 ms", overhead <= 0.030))
        print(f"  CPU time per run: {job_cpu.per_run()} (true run directly: "
              f"{direct_cpu.per_run()})")

        # 2. true, whole processes
        cli = [timed(lambda: cli_run(home, "true")) for _ in range(max(3, args.runs // 3))]
        print(line("trayjobs run true --wait (whole process)", figure(cli),
                   "true run directly", figure(direct),
                   statistics.median(cli) / statistics.median(direct)))

        # 3. many lines: the job and cat to a file in turns
        out = tmp / "out.txt"
        cat: list[float] = []
        cat_cpu, many_cpu = Cpu(), Cpu()
        many = in_engine(home, "lines", args.runs, cpu=many_cpu,
                         between=lambda: cat.append(with_cpu(lambda: cat_to_file(data, out),
                                                             cat_cpu)))
        ratio = statistics.median(cat) / statistics.median(many)
        print(line(f"{args.lines:,} lines into the run log, in the engine", figure(many),
                   "cat to a file", figure(cat), ratio, ">= 0.5 (end to end)", ratio >= 0.5))
        fixed = statistics.median(job)
        print(f"  of which the run itself (as for true): {ms(fixed)}; streaming the lines: "
              f"{ms(statistics.median(many) - fixed)}")
        print(line("  CPU time per run", many_cpu.per_run(), "cat to a file",
                   cat_cpu.per_run(), cat_cpu.total / max(1e-9, many_cpu.total)))
        if args.big_lines:
            size = big.stat().st_size / 1e6
            cat_big: list[float] = []
            cat_empty: list[float] = []

            def refs() -> None:
                cat_big.append(cat_to_file(big, out))
                cat_empty.append(cat_to_file(empty, out))

            big_memory: dict[str, int] = {}
            many_big = in_engine(home, "big", max(3, args.runs // 2), between=refs,
                                 memory=big_memory)
            ratio = statistics.median(cat_big) / statistics.median(many_big)
            print(line(f"{args.big_lines:,} lines ({size:.0f} MB), in the engine",
                       figure(many_big), "cat to a file", figure(cat_big), ratio,
                       ">= 0.5 (end to end)", ratio >= 0.5))
            job_rate = args.big_lines / (statistics.median(many_big) - fixed)
            cat_rate = args.big_lines / max(1e-6, statistics.median(cat_big)
                                            - statistics.median(cat_empty))
            print(line("  streaming rate beyond the fixed cost",
                       f"{job_rate / 1e6:.1f} M lines/s", "cat to a file",
                       f"{cat_rate / 1e6:.1f} M lines/s (its fixed cost: cat of an empty "
                       f"file, {figure(cat_empty)})",
                       job_rate / cat_rate, ">= 0.5", job_rate / cat_rate >= 0.5))
            cat_peak = peak_kb(["cat", str(big)])
            print(f"  memory: the job process at most {big_memory['job'] / 1024:.1f} MB "
                  f"resident ({true_memory['job'] / 1024:.1f} MB where it ran only true; "
                  f"cat: {cat_peak / 1024:.1f} MB); the engine's process grew by "
                  f"{big_memory['engine'] / 1024:.1f} MB over the runs")
        cli_many = [timed(lambda: cli_run(home, "lines")) for _ in range(3)]
        print(line(f"trayjobs run lines --wait (whole process)", figure(cli_many),
                   "cat to a file", figure(cat), statistics.median(cat) / statistics.median(cli_many)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
