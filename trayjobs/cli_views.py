"""What ``trayjobs runs``, ``show``, ``jobs``, ``workers`` and ``stats`` print: the history
and the jobs as the window shows them, as text or JSON. They only read (the home's files,
or the cluster's history), whether or not the app is running."""

from __future__ import annotations

import difflib
import json
import sys
import time
import unicodedata
from typing import Any

from .errors import UserError
from .paths import Home
from .store import FINAL_STATES, outcome
from .cli_follow import EXIT_OK, follow_log, gone_text, gone_worker, log_lines, progress_text
from .textfmt import (attempt_of, attempt_text, relative, run_started, run_took, run_total,
                      started_by_how, state_text, table, when)

__all__ = ["cmd_runs", "cmd_show", "cmd_jobs", "cmd_workers", "cmd_stats", "spark_text",
           "control_for", "consumer_running", "cluster_worker_running", "say_kept"]


# -- the home, as every command finds it -------------------------------------------------

def control_for(home: Home):
    from .engine.control import Control
    return Control(home)


def consumer_running(home: Home, ctl=None) -> bool:
    """Whether a process runs this home's jobs: its own app or worker, or, in a cluster,
    a live worker of another home that shares its history and can reach the queue
    (asked of ``ctl``'s config and history when given: not opened a second time)."""
    from .instance import InstanceLock
    return InstanceLock(home).is_locked() or cluster_worker_running(home, ctl)


def mentions_cluster(home: Home) -> bool:
    """Whether the jobs file may set up a cluster (read as bytes, not parsed)."""
    from .config import read_jobs_file
    try:
        return b"cluster" in read_jobs_file(home.config_file)
    except (OSError, UnicodeDecodeError):
        return False


def cluster_worker_running(home: Home, ctl=None) -> bool:
    if not mentions_cluster(home):
        return False  # the usual case, without parsing the file twice
    import time
    from .cluster import clustered
    from .config import load_config
    from .store.open import open_store, store_exists
    cfg = ctl.config if ctl is not None else load_config(home.config_file)
    if not clustered(cfg.cluster) or not store_exists(home, cfg.cluster):
        return False
    store = ctl.store if ctl is not None else open_store(home, cfg.cluster, readonly=True)
    try:
        # One that cannot reach its queue (its ``problem``) would leave the run waiting.
        return any(w["state"] == "running" and w["mode"] != "cli" and not w.get("problem")
                   for w in store.workers(since=time.time()))
    finally:
        if ctl is None:
            store.close()


# -- what the commands print ----------------------------------------------------------

def _json(data: Any, *, indent: int | None = None) -> str:
    """``data`` as strict JSON: a NaN or infinity kept in the history before results were
    made finite (see the job process) is written ``null``, not ``NaN``, which JSON has not."""
    from .textfmt import finite_numbers
    return json.dumps(finite_numbers(data)[0], default=str, indent=indent)


def _known_job(ctl, job: str | None) -> str | None:
    """``job`` as the jobs file writes it, when it names one there in another Unicode form
    ("café" typed as e + accent); else as given, the history keeping removed jobs' runs. A
    name that neither the file (its jobs, and those left out for a mistake) nor the history
    knows is refused with the one meant: a typo would read as a job that has not run."""
    try:
        return ctl.config.job(job).name if job else job
    except UserError:
        nfc = unicodedata.normalize("NFC", job)
        if (any(e.job and unicodedata.normalize("NFC", e.job) == nfc for e in ctl.config.errors)
                or ctl.store.list_runs(job=job, limit=1)):
            return job
        raise


def _known_tag(ctl, tag: str | None) -> None:
    """Refuse a tag no job of the file has, with the one meant or the tags there are: a
    typo would list nothing, as if the jobs were gone."""
    from .overview import all_tags
    tags = all_tags(ctl.config)
    if not tag or tag in tags or not ctl.config.jobs:  # no jobs: said otherwise
        return
    close = difflib.get_close_matches(tag, tags, n=3)
    if close:
        hint = f"; did you mean {' or '.join(repr(t) for t in close)}?"
    elif tags:
        hint = f" (tags: {', '.join(tags)})"
    else:
        hint = "; no job has tags yet: give a job tags = [\"NAME\"] in the jobs file"
    raise UserError(f"no job has the tag {tag!r}{hint}")


def cmd_runs(home: Home, args) -> int:
    from .store import OUTCOMES
    if args.state and args.state not in OUTCOMES:
        raise UserError(f"unknown state {args.state!r}; states: {', '.join(OUTCOMES)}")
    ctl = control_for(home)
    runs = ctl.store.list_runs(job=_known_job(ctl, args.job), state=args.state,
                               limit=args.limit)
    # A run whose worker is gone stays "running" in the history until an engine ends it:
    # said so, the history left as it is (see trayjobs.workerless).
    from .workerless import lost_info, lost_note, lost_state, lost_workers
    lost = lost_workers(ctl.store, runs)
    if args.json:
        for r in runs:
            w = lost.get(r["id"])
            print(_json({**r, "worker_lost": lost_info(r, w) if w is not None else None}))
        return EXIT_OK
    if not runs:
        if args.job or args.state:  # there may be others: say which there are none of
            state = "runs with warnings" if args.state == "warning" else \
                " ".join(filter(None, (args.state, "runs")))
            print(f"no {state}" + (f" of {args.job}" if args.job else ""))
        else:
            print("no runs yet")
        return EXIT_OK
    rows = []
    # A retried run's start and time count from its first attempt, as in the window.
    firsts = ctl.store.first_starts([r["id"] for r in runs if (r.get("attempt") or 0) > 1])
    consumer = bool(lost) and consumer_running(home, ctl)
    for r in runs:
        result = r.get("result") if isinstance(r.get("result"), dict) else {}
        # One whose worker is gone went on until it was last heard of, not until now.
        heard = lost_info(r, lost[r["id"]])["last_heard_at"] if r["id"] in lost else None
        started, took = run_total({**r, "first_started_at": firsts.get(r["id"])}, heard)
        state = state_text(r)
        summary = str(r.get("error") or result.get("summary") or r.get("note") or "")
        if r["id"] in lost:
            state = lost_state(state)
            summary = lost_note(r, lost[r["id"]], consumer=consumer)
        rows.append([r["id"], r["job"], r["trigger"], state, attempt_text(r),
                     started, took, summary[:70]])
    print(table(rows, ["RUN", "JOB", "TRIGGER", "STATE", "TRY", "STARTED", "TOOK", "SUMMARY"]))
    return EXIT_OK


def cmd_show(home: Home, args) -> int:
    ctl = control_for(home)
    run = ctl.store.get_run(args.run)
    if run is None:
        raise UserError(f"there is no run {args.run}")
    attempts = ctl.store.attempts(args.run)
    # The log's first page; the rest is printed as it is read (all of a 100 MB log held
    # at once took 970 MB, and nothing was printed before the whole of it was read).
    logs = _all_logs(ctl.store, args.run) if args.json else ctl.store.logs(args.run)
    from .workerless import lost_info, lost_note, lost_state, lost_workers
    lost = lost_workers(ctl.store, [run]).get(run["id"])
    if args.json:
        shown = {**run, "worker_lost": lost_info(run, lost) if lost is not None else None}
        print(_json({"run": shown, "attempts": attempts, "log": logs}, indent=2))
        return EXIT_OK
    result = run.get("result") if isinstance(run.get("result"), dict) else None
    state = state_text(run)
    if lost is not None:
        state = lost_state(state)
    lines = [f"run {run['id']} · {run['job']} ({run['kind']}) · {state}",
             f"  trigger:  {run['trigger']}" + (f" (retry of run {run['retry_of']})" if run.get("retry_of") else "")
             + (f" (after run {run['parent_run']})" if run.get("parent_run") else ""),
             f"  attempt:  {attempt_of(run)}" if run["attempt"] else
             f"  attempt:  none yet (at most {run['max_attempts']})",
             f"  created:  {when(run['created_at'], seconds=True)}"]
    # A run that has not started (or ended) yet has no such times to show.
    if run.get("started_at"):
        lines.append(f"  started:  {run_started(run, attempts)}")
    if run.get("finished_at"):
        took = run_took(run, attempts)  # none for a run cancelled before it started
        lines.append(f"  finished: {when(run['finished_at'], seconds=True)}"
                     + (f"  ({took})" if took else ""))
    if run.get("due_at"):
        lines.append(f"  due:      {when(run['due_at'], seconds=True)}"
                     + (f" ({relative(run['due_at'])})" if run["state"] == "scheduled" else ""))
    if run.get("wait_until") and run["state"] == "waiting":
        lines.append(f"  max wait: starts anyway at {when(run['wait_until'], seconds=True)}"
                     f" ({relative(run['wait_until'])}), whatever its conditions say")
    if run.get("note"):
        lines.append(f"  note:     {run['note']}")
    if run.get("host"):
        lines.append(f"  host:     {run['host']} (only its workers run this)")
    ran_on = ctl.store.get_worker(run["worker_id"]) \
        if ctl.clustered and run.get("worker_id") else None
    if ran_on is not None:  # which machine of several runs it (or ran its last attempt)
        lines.append(f"  {'runs on: ' if run['state'] == 'running' else 'ran on:  '} "
                     f"{ran_on['host']} ({ran_on['mode'] or 'worker'}, pid {ran_on['pid']})")
    if run.get("wait_reason") and run["state"] == "queued" and run.get("host") \
            and not run.get("attempt"):
        lines.append(f"  waiting:  {run['wait_reason']}")
    elif run.get("wait_reason") and run["state"] != "waiting":
        lines.append(f"  waited:   {run['wait_reason']}"
                     + ("" if run.get("host") else " (its conditions)"))
    inputs = dict(run.get("inputs") or {})
    run_params = inputs.pop("params", None)
    if run_params:
        lines.append("  params:   " + ", ".join(f"{k} = {_toml_value(v)}"
                                                for k, v in run_params.items()))
    if inputs:
        lines.append(f"  inputs:   {json.dumps(inputs)}")
    # Where a run is, or where one that did not succeed stopped; a run that succeeded went
    # all the way (its last message, "running for 3 s", would be stale).
    if run["state"] != "succeeded" and (run.get("progress_total") or run.get("progress_message")):
        if run["state"] not in FINAL_STATES:
            lines.append(f"  progress: {progress_text(run)}")
        elif run.get("progress_total") or run.get("progress_unit") != "s":
            # (A program that reported nothing has only its time so far, "running for 12 s":
            # read after its end, as if it still ran.)
            lines.append(f"  stopped:  {progress_text(run)}")
    gone = gone_worker(ctl, run)
    if gone is not None:
        lines.append(f"  gone:     {gone_text(gone)}")
    elif lost is not None:  # not answering, or gone while another app or worker runs
        lines.append(f"  worker:   {lost_note(run, lost, consumer=consumer_running(home, ctl))}")
    if result:
        lines.append(f"  result:   {result.get('summary', '')}")
        extra = {k: v for k, v in result.items() if k != "summary"}
        if extra:
            lines.append("            " + json.dumps(extra, default=str)[:2000])
    if run.get("error"):  # why a run cancelled or stopped by a quit ended is no error
        label = "error:" if run["state"] in ("failed", "retrying") else "why:"
        lines.append(f"  {label:<9} {run['error']}")
    from .store import run_warnings
    warnings = run_warnings(result)
    if warnings:
        lines.append("warnings:")
        lines += [f"  {w}" for w in warnings]
    if len(attempts) > 1:
        lines.append("attempts:")
        for a in attempts:
            lines.append(f"  {a['attempt']}. {when(a['started_at'], seconds=True)} {a['state']}"
                         + (f": {a['error']}" if a.get("error") else ""))
    started = ctl.store.runs_started_by(run["id"])
    if started:
        lines.append("hooks started:")
        for r in started:
            how, state = started_by_how(r)
            lines.append(f"  {how}: run {r['id']} of {r['job']}, {state}")
    last_id = 0
    if logs or args.follow:
        lines.append("log:")
        print("\n".join(lines))
        lines = []
        while logs:
            sys.stdout.write("".join(text + "\n" for l in logs for text in log_lines(l)))
            last_id = logs[-1]["id"]
            logs = ctl.store.logs(run["id"], after_id=last_id)
    from .alerts.cli import delivery_lines
    lines += delivery_lines(ctl.store, run["id"])
    if run.get("traceback") and not args.follow:
        lines.append("traceback:")
        lines += ["  " + l for l in run["traceback"].rstrip().splitlines()]
    if lines:
        print("\n".join(lines))
    sys.stdout.flush()
    if args.follow:
        return follow_log(ctl, run, last_id)
    return EXIT_OK


def _all_logs(store, run_id: int) -> list[dict]:
    """Every line of a run's log: the store hands them out in pages (10,000 lines), and a
    job may print far more; ``show`` printed the first page alone, with no word of the rest."""
    logs = store.logs(run_id)
    while logs:
        more = store.logs(run_id, after_id=logs[-1]["id"])
        if not more:
            break
        logs += more
    return logs


def cmd_jobs(home: Home, args) -> int:
    from .overview import DURATIONS_HEADING, durations_text, job_overview, next_run_text, \
        rate_text
    ctl = control_for(home)
    _known_tag(ctl, args.tag)
    if not ctl.config.jobs and ctl.config.errors:
        # A file whose every job has a mistake is not a file without jobs.
        print(f"no job can be listed: {home.config_file} has errors (below); fix them, or "
              f"see them with `trayjobs check`")
    elif not ctl.config.jobs:
        print(f"no jobs defined yet; add some to {home.config_file} (README: \"Define "
              f"jobs\"), or start the app or `trayjobs worker` once: where there is no jobs "
              f"file they write example jobs to start from")
    watching = ctl.store.watch_statuses() if consumer_running(home) else None
    faulty = {getattr(e, "job", None) for e in ctl.config.errors}
    rows = []
    for o in job_overview(ctl.config, ctl.store, paused_all=ctl.paused(), watches=watching,
                          running=watching is not None):
        if args.tag and args.tag not in o["tags"]:
            continue
        status = "disabled" if not o["enabled"] else "paused" if o["paused"] else ""
        if not status and o["watches"]:
            status = _watch_text(o["watch"], watching)
        if o["unplanned"]:
            status = "not scheduled (see the log)"
        if o["name"] in faulty:  # listed, but not as it should be: the error follows
            status = "config error (below)"
        lr, h = o["last"], o["health"]
        trigger = o["trigger"]
        job = ctl.config.jobs.get(o["name"])
        automatic = job is not None and (job.schedule or job.common.watch or job.common.at_login)
        conditions = job.conditions(ctl.config.settings) if automatic else {}
        if conditions:  # a run that comes due waits for them (one a person starts does not)
            from .conditions import describe
            trigger += f" · when {describe(conditions)}"
        rows.append([o["name"], o["kind"], trigger, status,
                     next_run_text(o) if o["enabled"] else "",
                     f"{outcome(lr)} {relative(lr.get('finished_at') or lr.get('created_at'))}"
                     if lr else "", rate_text(h), durations_text(h)])
    if rows:
        print(table(rows, ["JOB", "KIND", "TRIGGER", "STATUS", "NEXT RUN", "LAST RUN",
                           "SUCCESS (7 d)", f"TOOK: {DURATIONS_HEADING.upper()}"]))
    for err in ctl.config.errors:
        print(f"error: {err}", file=sys.stderr)
    say_kept(ctl.config)
    return EXIT_OK


def cmd_workers(home: Home, args) -> int:
    """Each worker and its lease: running, stopped, or lost (no heartbeat within its lease,
    or a process of this machine that is gone; its runs are recovered)."""
    from .engine.lease import LEAVING, NO_QUEUE, shown_state
    ctl = control_for(home)
    found = ctl.store.workers(since=None if args.all else time.time() - 86400)
    for w in found:
        w["state"] = shown_state(w)
    if args.json:
        for w in found:
            print(json.dumps(w))
        return EXIT_OK
    if not found:
        print("no workers yet: the app or `trayjobs worker` registers as it starts")
        return EXIT_OK
    rows = [[w["id"], w["host"], w["pid"], w["mode"] or "", w["state"],
             w["runs"] if w["state"] in ("running", NO_QUEUE, LEAVING) else "",
             relative(w["heartbeat_at"]), w["version"] or "", when(w["started_at"])]
            for w in found]
    print(table(rows, ["WORKER", "HOST", "PID", "AS", "STATE", "RUNS", "LAST HEARTBEAT",
                       "VERSION", "STARTED"]))
    for w in found:
        if w["state"] == NO_QUEUE:
            print(f"worker {w['id']} on {w['host']} {w['problem']}; it takes no runs "
                  f"until it can", file=sys.stderr)
        elif w["state"] == LEAVING:
            print(f"worker {w['id']} on {w['host']} {w['problem']}: it finishes the runs it "
                  f"runs and takes no new one", file=sys.stderr)
    return EXIT_OK


def cmd_stats(home: Home, args) -> int:
    """Health per job over a window, and the totals: the figures the Jobs page shows."""
    from .durations import parse_duration
    from .overview import (DURATIONS_HEADING, DURATIONS_MEANING, durations_text, job_health,
                           jobs_tagged, rate_text)
    ctl = control_for(home)
    try:
        window = parse_duration(args.since)
    except ValueError as exc:
        raise UserError(f"--since: {exc}") from None
    _known_tag(ctl, args.tag)
    names = jobs_tagged(ctl.config, args.tag)
    if args.job:
        names = [_known_job(ctl, args.job)]
    now = time.time()
    healths = job_health(ctl.store, names, since=now - window, now=now)
    if args.json:
        print(json.dumps({"since": now - window, "until": now, "window_seconds": window,
                          "jobs": {n: h.as_dict() for n, h in healths.items()}}, indent=2))
        return EXIT_OK
    rows = [[n, f"{h.runs:,}", f"{h.succeeded:,}", f"{h.warned:,}", f"{h.failed:,}",
             rate_text(h).split(" ·")[0], durations_text(h),
             relative(h.last_success_at, now) or "never", f"{h.waiting:,}",
             spark_text(h.recent)] for n, h in healths.items()]
    print(f"runs that ended in the last {args.since}:")
    if rows:
        print(table(rows, ["JOB", "RUNS", "OK", "WARNED", "FAILED", "SUCCESS",
                           f"TOOK: {DURATIONS_HEADING.upper()}", "LAST SUCCESS", "WAITING",
                           f"LAST {SPARK_WIDTH}"]))
        if any(h.p50 is not None for h in healths.values()):  # only where there are figures
            print(f"\nTOOK: {DURATIONS_MEANING}")
    return EXIT_OK


SPARK_WIDTH = 30
_SPARK = {"succeeded": "+", "warning": "!", "failed": "x", "cancelled": "-", "skipped": "-",
          "interrupted": "?"}


def spark_text(outcomes) -> str:
    """How the last runs ended, oldest first, one character each: + ok, ! warned, x failed."""
    return "".join(_SPARK.get(o, "?") for o in outcomes)


def say_kept(cfg) -> None:
    """When the jobs file cannot be used at all, which version's jobs are in use."""
    if cfg.kept_from is not None:
        print(cfg.kept_note(), file=sys.stderr)


def _watch_text(w: dict[str, Any] | None, watching: dict[str, dict[str, Any]] | None) -> str:
    """A watch in words: "watching ~/Inbox · 3 files waiting", "unavailable (the folder does
    not exist)"."""
    if watching is None:
        return "not watching (no app or worker running)"
    if w is None or w["state"] in ("starting", "configured"):
        return "starting"
    if w["state"] == "unavailable":
        return f"unavailable ({w['reason']})"
    if w["state"] == "watching":
        pending = w.get("pending") or 0
        waiting = f" · {pending} file{'s' * (pending != 1)} waiting" if pending else ""
        return f"watching {w['folder']}{waiting}"
    return w["state"]


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value) if isinstance(value, str) else str(value)
