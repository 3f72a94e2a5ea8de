"""Following a run from the terminal: ``trayjobs run --wait`` (a progress bar, the end
said in one line, its exit status) and ``trayjobs show --follow`` (the log as it is
written), whether this process runs the job or another one (the app, a worker, a worker
of another machine) does."""

from __future__ import annotations

import signal
import sys
import threading
import time
from contextlib import contextmanager
from typing import Any

from .errors import StoreUnreachable
from .textfmt import for_terminal, relative, state_text, when

__all__ = ["EXIT_OK", "EXIT_FAILED", "Bar", "end_inline", "follow", "follow_log", "gone_text",
           "gone_worker", "left_scheduled", "log_lines", "progress_text", "report_end",
           "wait_for_time"]

EXIT_OK, EXIT_FAILED = 0, 1


def end_inline(eng, row: dict[str, Any]) -> int:
    """How a run this process meant to run ended: in a cluster, a worker of another
    machine may have taken it first (its message reached Redis too); then it is followed
    there to its end."""
    from .store import FINAL_STATES
    if row["state"] not in FINAL_STATES:
        print(f"run {row['id']} was taken by another worker (trayjobs workers lists them); "
              f"following it there", file=sys.stderr)
        return follow(eng, row["id"])
    return report_end(eng, row)


def wait_for_time(eng, run_id: int, due_at: float) -> bool:
    """Wait in the foreground until a one-off run's time, then queue it here; False if
    another process started or ended it first. (Within :func:`left_scheduled`, which
    says what Ctrl-C, TERM and HUP do meanwhile.)"""
    while True:
        left = due_at - time.time()
        if left <= 0 and eng.store.start_scheduled(time.time(), run_id):
            return True
        if eng.store.get_run(run_id)["state"] != "scheduled":
            return False
        time.sleep(min(max(left, 0.05), 1.0))  # also notices a cancel from elsewhere


class _Left(Exception):
    def __init__(self, signum: int) -> None:
        self.signum = signum


@contextmanager
def _leaving_on_signals():
    """Inside: TERM and HUP (a closed terminal, a logout, ``timeout``, a service manager)
    raise :class:`_Left`, so that a command waiting for a run says what becomes of it
    rather than die without a word. The handlers are put back on the way out, before the
    caller says anything: a second signal then ends the command as usual."""
    stops = [s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None))
             if s is not None]
    if threading.current_thread() is not threading.main_thread():
        stops = []  # only the main thread may set handlers (a test calling in)

    def leave(signum, _frame):
        raise _Left(signum)

    previous = {s: signal.signal(s, leave) for s in stops}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@contextmanager
def left_scheduled(eng, run_id: int):
    """While waiting in the foreground for a one-off run's time: Ctrl-C, which a person
    types, cancels the run. TERM and HUP end the wait, not the run: nothing has started,
    so it stays scheduled, for the app or a worker to start at its time; the command says
    so, and how to cancel it, and exits with 128 + the signal's number."""
    try:
        with _leaving_on_signals():
            yield
    except KeyboardInterrupt:
        eng.cancel(run_id)
        print(f"run {run_id} cancelled", file=sys.stderr)
        raise
    except _Left as left:
        _say_left(eng, run_id)
        raise SystemExit(128 + left.signum) from None


def _say_left(eng, run_id: int) -> None:
    from .cli_views import consumer_running
    run = eng.store.get_run(run_id)
    if run is None:
        return
    running = consumer_running(eng.home, eng)
    if run["state"] == "scheduled":
        due = run["due_at"]
        who = ("the trayjobs app or worker running for this home starts it then" if running
               else "no trayjobs app or worker is running for this home: it starts when one "
                    "does (at its time, or as soon as one starts after it)")
        print(f"run {run_id} stays scheduled for {when(due, seconds=True)} ({relative(due)}): "
              f"{who}; trayjobs cancel {run_id} drops it", file=sys.stderr)
    elif run["state"] == "queued":  # its time had come as the signal did
        print(f"run {run_id} waits in the queue: it starts when the app or `trayjobs worker` "
              f"runs; trayjobs cancel {run_id} drops it", file=sys.stderr)


class Bar:
    """A terminal progress bar fed by engine events or store polling."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()  # no bar in logs and pipes
        self._bar = None
        self._unit = None

    def update(self, done, total, unit, message) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm
        # The store keeps numbers as floats: "3/24 notes", not "3.0/24.0".
        done, total = (int(v) if isinstance(v, float) and v.is_integer() else v
                       for v in (done, total))
        if self._bar is None or unit != self._unit or (total or None) != self._bar.total:
            self.close()
            scale = unit == "bytes"
            # Starting at where the run is: its rate counts from here, not "209715 notes/s"
            # for the steps it had done before this process looked.
            self._bar = tqdm(total=total or None, unit=" " + (unit or "steps") if not scale else "B",
                             unit_scale=scale, file=sys.stderr, dynamic_ncols=True, leave=False,
                             initial=done or 0)
            self._unit = unit
        if done is not None:
            self._bar.n = done
        if message:
            self._bar.set_postfix_str(for_terminal(message[:60]), refresh=False)
        self._bar.refresh()

    def on_event(self, ev) -> None:
        from .engine.events import RunProgress
        if isinstance(ev, RunProgress):
            self.update(ev.done, ev.total, ev.unit, ev.message)

    def waiting(self, run: dict[str, Any]) -> None:
        self.close()
        say(f"attempt {run['attempt']}/{run['max_attempts']} failed: {run.get('error')}; "
            f"next attempt {relative(run.get('next_attempt_at'))}")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _pauses(longest: float):
    """Pauses between two looks at the history: short at first (a run the app starts at
    once may end within milliseconds), doubling up to ``longest``."""
    pause = 0.005
    while True:
        yield pause
        pause = min(longest, pause * 2)


def follow(ctl, run_id: int) -> int:
    """Wait for a run executed by another process, showing its stored progress (a one-off
    run: waiting for its time first). Ctrl-C asks the run to stop; TERM and HUP end the
    wait only."""
    bar = Bar(enabled=True)
    silence = _Silence(ctl, bar)
    try:
        with _leaving_on_signals():
            run = _follow_to_end(ctl, run_id, bar, silence)
    except KeyboardInterrupt:
        ctl.cancel(run_id)
        print(f"asked run {run_id} to stop", file=sys.stderr)
        return 130
    except _Left as left:
        # The run is another process's: it goes on without this command (unless that
        # process is gone, as said).
        bar.close()
        print(f"stopped waiting for run {run_id}" + (
              f" (trayjobs cancel {run_id} drops it)" if silence.gone_told else
              f"; it goes on (trayjobs show --follow {run_id} follows it, trayjobs cancel "
              f"{run_id} stops it)"), file=sys.stderr)
        return 128 + left.signum
    except StoreUnreachable as exc:
        # So does a run whose history stopped answering: its worker keeps its end.
        raise StoreUnreachable(f"{exc} Run {run_id} goes on without this command: "
                               f"trayjobs show --follow {run_id} follows it once the "
                               f"server answers.", where=exc.where) from None
    finally:
        bar.close()
    return report_end(ctl, run)


def _follow_to_end(ctl, run_id: int, bar: Bar, silence: "_Silence") -> dict[str, Any]:
    """The run once it has ended, saying meanwhile why it waits and how it goes."""
    from .store import FINAL_STATES
    from .engine.spool import Spool
    spool = Spool(ctl.home.data_dir / "spool")
    seen_attempt = None
    said = None
    pauses = _pauses(0.2)
    while True:
        run = ctl.store.get_run(run_id)
        if run["state"] in FINAL_STATES:
            return run
        silence.look(run)
        reason = _stranded(run)
        if reason and reason != said:
            # A run pinned to a host with no worker waits until one starts there:
            # say so, rather than wait without a word.
            said = reason
            bar.close()
            print(f"run {run_id} {reason}; it starts when one does (Ctrl-C cancels "
                  f"it)", file=sys.stderr)
        if run["state"] == "retrying" and seen_attempt != run["attempt"]:
            seen_attempt = run["attempt"]
            bar.waiting(run)
        elif run["state"] == "running" and said != "kept" and spool.holds(run_id,
                                                                           run["attempt"]):
            # Ended here, but the history could not be written: say why this still waits.
            said = "kept"
            bar.close()
            print(f"run {run_id} has ended, but the run history cannot be written now "
                  f"(another program holds {ctl.home.runs_db.name} locked, or its server "
                  f"does not answer; the app's or worker's log says which): its end is kept "
                  f"on this machine and written once it can be; waiting for that",
                  file=sys.stderr)
        elif run["state"] == "running" and run.get("progress_done") is not None:
            bar.update(run["progress_done"], run["progress_total"], run["progress_unit"],
                       run["progress_message"])
        time.sleep(next(pauses))


class _Silence:
    """Says when the process meant to move a run on will not: gone (killed, or crashed,
    while it ran the run; or no app or worker left to start a waiting run), once; or there
    but not answering (a worker of this machine whose lease is up while its process lives:
    stopped by Ctrl-Z, ``kill -STOP`` or a debugger, or hung), and again when it answers.
    A command waited without a word for as long as it stayed so. Looked at once a second
    at most."""

    def __init__(self, ctl, bar: Bar | None = None) -> None:
        self.ctl = ctl
        self.bar = bar
        self.told: dict[str, Any] | None = None
        self.gone_told = False
        self.queue_told = False
        self.next_look = 0.0

    def look(self, run: dict[str, Any]) -> None:
        if time.monotonic() < self.next_look:
            return
        self.next_look = time.monotonic() + 1.0
        if not self.gone_told:
            gone = gone_worker(self.ctl, run)
            if gone is not None:
                self.gone_told = True
                if self.bar is not None:
                    self.bar.close()
                print(f"run {run['id']}: {gone_text(gone)}", file=sys.stderr, flush=True)
                return
            if run["state"] in ("scheduled", "waiting", "queued", "retrying"):
                from .cli_views import consumer_running
                if not consumer_running(self.ctl.home):
                    # (The one that was there when it was made stopped, or was killed.)
                    self.gone_told = True
                    if self.bar is not None:
                        self.bar.close()
                    print(f"no trayjobs app or worker is running for this home now: run "
                          f"{run['id']} starts when one does (trayjobs worker, or the app)",
                          file=sys.stderr, flush=True)
                    return
        if not self.queue_told and run["state"] == "queued" and not run.get("attempt") \
                and not run.get("host") and getattr(self.ctl, "clustered", False):
            # (A pinned run's host says it: see _stranded.)
            troubled = _no_queue(self.ctl.store)
            if troubled is not None:
                self.queue_told = True
                if self.bar is not None:
                    self.bar.close()
                print(f"run {run['id']} waits in the history: the worker on "
                      f"{troubled['host']} {troubled['problem']}; runs go once the queue "
                      f"takes them (trayjobs cluster status)", file=sys.stderr, flush=True)
                return
        silent = _silent_worker(self.ctl.store, run)
        if (silent is None) == (self.told is None):
            return
        if self.bar is not None:
            self.bar.close()
        if silent is not None:
            self.told = silent
            print(f"run {run['id']} waits for {_process_name(silent)}, which does not answer: "
                  f"{_why_silent(silent)}", file=sys.stderr, flush=True)
        else:
            print(f"{_process_name(self.told)} answers again", file=sys.stderr, flush=True)
            self.told = None


def _no_queue(store) -> dict[str, Any] | None:
    """A live worker of the cluster that cannot hand runs to the queue or take them (its
    Redis is away or full), or None."""
    from .engine.lease import NO_QUEUE, shown_state
    return next((w for w in store.workers(since=time.time())
                 if shown_state(w) == NO_QUEUE), None)


def _silent_worker(store, run: dict[str, Any]) -> dict[str, Any] | None:
    """The worker of this machine that ``run`` waits for, if its lease is up while its
    process is still there; None when one answers (or when none is there: that is said
    elsewhere)."""
    from .engine.lease import on_this_machine, pid_alive, worker_state
    if run["state"] == "running":
        found = [store.get_worker(run["worker_id"])] if run.get("worker_id") else []
    elif run["state"] in ("queued", "retrying"):
        found = store.workers(since=time.time() - 86400)
        if any(worker_state(w) == "running" for w in found):
            return None  # another one takes it
    else:
        return None
    return next((w for w in found if w and w.get("expired") and on_this_machine(w)
                 and pid_alive(w["pid"])), None)


def gone_worker(ctl, run: dict[str, Any]) -> dict[str, Any] | None:
    """The worker of this machine that was running ``run`` when it died (killed, or
    crashed), while no app or worker runs to find that out and end the run; else None."""
    if run["state"] != "running" or not run.get("worker_id"):
        return None
    from .cli_views import consumer_running
    from .engine.lease import on_this_machine, pid_alive
    worker = ctl.store.get_worker(run["worker_id"])
    if worker is None or not on_this_machine(worker) or pid_alive(worker["pid"]):
        return None
    return None if consumer_running(ctl.home) else worker


def gone_text(worker: dict[str, Any]) -> str:
    return (f"{_process_name(worker)} that ran it is gone (killed or crashed), and the "
            f"run with it: it is marked interrupted when the app or `trayjobs worker` next "
            f"starts (and run again then if its job says that is safe)")


def _process_name(worker: dict[str, Any]) -> str:
    what = {"app": "the trayjobs app", "worker": "`trayjobs worker`"}.get(
        worker.get("mode") or "", "trayjobs process")
    return f"{what} (pid {worker['pid']})"


def _why_silent(worker: dict[str, Any]) -> str:
    pid = worker["pid"]
    try:
        with open(f"/proc/{pid}/stat") as f:
            stopped = f.read().rsplit(")", 1)[1].split()[0] in ("T", "t")
    except (OSError, IndexError):
        stopped = False
    if stopped:
        return (f"it is stopped (by Ctrl-Z, kill -STOP or a debugger); `kill -CONT {pid}` "
                f"lets it go on, and this goes on with it")
    return (f"its last heartbeat was {relative(worker['heartbeat_at'])} (it may be hung, or "
            f"unable to write the run history: its log says which); `kill -CONT {pid}` "
            f"lets it go on if it was stopped, and if it stays so, stop it (kill {pid}) "
            f"and start it again: its runs are recovered then")


def _stranded(run: dict[str, Any]) -> str | None:
    """Why a queued run pinned to a host waits, as the engines noted it (None: it does not)."""
    if run["state"] == "queued" and run.get("host") and not run.get("attempt"):
        return run.get("wait_reason") or None
    return None


def say(text: str) -> None:
    """``text``, which holds words of a job (its summary, error, progress message), on
    standard error; as :func:`~trayjobs.textfmt.for_terminal` shows it there if that is a
    terminal (standard output is made so as a command starts)."""
    print(for_terminal(text) if sys.stderr.isatty() else text, file=sys.stderr)


def report_end(ctl, run: dict[str, Any]) -> int:
    summary = (run.get("result") or {}).get("summary") if isinstance(run.get("result"), dict) else None
    if run["state"] == "succeeded":
        from .store import run_warnings
        say(f"run {run['id']} {state_text(run)}" + (f": {summary}" if summary else ""))
        for warning in run_warnings(run.get("result")):
            say(f"warning: {warning}")
        return EXIT_OK
    say(f"run {run['id']} {run['state']}: {run.get('error') or ''}".rstrip(": "))
    print(f"details: trayjobs show {run['id']}", file=sys.stderr)
    return EXIT_FAILED


def log_lines(line: dict[str, Any]) -> list[str]:
    """A stored log entry as printed lines (an entry may hold several lines of output)."""
    head = f"  {when(line['ts'], seconds=True)} {line['level']:<7} "
    return [head + text for text in str(line["message"]).split("\n")]


def progress_text(run: dict[str, Any]) -> str:
    done, total = run.get("progress_done"), run.get("progress_total")
    unit, message = run.get("progress_unit") or "", run.get("progress_message") or ""
    amount = "" if done is None else f"{done:,.0f} of {total:,.0f} {unit}" if total else f"{done:,.0f} {unit}"
    return " · ".join(p.strip() for p in (amount, message) if p.strip())


def follow_log(ctl, run: dict[str, Any], last_id: int) -> int:
    """``show --follow``: the run's new log lines as they reach the store, then how it ended.
    Ctrl-C stops following; the run goes on."""
    from .store import FINAL_STATES
    from .cli_views import consumer_running
    rid = run["id"]
    pauses = _pauses(0.25)
    if run["state"] in ("scheduled", "queued", "retrying") and not consumer_running(ctl.home, ctl):
        # Nothing but a foreground `trayjobs run --wait` (which runs one run, not others')
        # moves the run on until one starts: say so, rather than wait without a word.
        print(f"no trayjobs app or worker is running for this home: run {rid} goes on when "
              f"one starts (trayjobs worker, or the app), or in the `trayjobs run --wait` "
              f"that started it, if that still waits; Ctrl-C stops following",
              file=sys.stderr, flush=True)
    silence = _Silence(ctl)
    try:
        with _leaving_on_signals():
            while True:
                final = run["state"] in FINAL_STATES
                if not final:
                    silence.look(run)
                for line in ctl.store.logs(rid, after_id=last_id):
                    print("\n".join(log_lines(line)), flush=True)
                    last_id = line["id"]
                if final:  # read once more after the end: its last lines come with it
                    if run.get("traceback"):
                        print("traceback:\n" + "\n".join(
                            "  " + l for l in run["traceback"].rstrip().splitlines()))
                    return report_end(ctl, run)
                time.sleep(next(pauses))
                run = ctl.store.get_run(rid)
    except (KeyboardInterrupt, _Left) as stop:
        print(f"stopped following run {rid}" + ("" if silence.gone_told else
              f"; it goes on (trayjobs cancel {rid} stops it)"), file=sys.stderr)
        return 128 + stop.signum if isinstance(stop, _Left) else 130
