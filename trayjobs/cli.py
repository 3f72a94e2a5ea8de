"""``trayjobs`` on the command line: the same runs and jobs as the window.

Every command works whether or not the app is running: they share the home's
files. A run asked for while no app or worker is running is executed right
here, in the foreground.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from typing import Any

from . import __version__
from .errors import StoreBusy, StoreFull, UserError
from .paths import Home, resolve_home
from .cli_args import MAX_ID, RUN_ID, given, whole
from .cli_follow import (EXIT_FAILED, EXIT_OK, Bar, end_inline, follow, left_scheduled,
                         wait_for_time)
from .cli_views import (cmd_jobs, cmd_runs, cmd_show, cmd_stats, cmd_workers, consumer_running,
                        control_for, mentions_cluster, say_kept)
from .textfmt import relative, table, when

__all__ = ["main", "build_parser"]

EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="trayjobs",
        description="Run your local background jobs: file cleanup, reports, data imports, "
                    "and your own commands and Python functions. "
                    "Without a command, starts the tray app.")
    p.add_argument("--home", metavar="DIR",
                   help="keep config, databases, logs and reports under DIR "
                        "(default: $TRAYJOBS_HOME, else the platform's usual folders; "
                        "an empty DIR is refused, not taken for the current folder)")
    p.add_argument("--version", action="version", version=f"trayjobs {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    s = sub.add_parser("app", help="start the tray app (the default)")
    s.add_argument("--minimized", action="store_true", help="start in the tray without the window")
    s = sub.add_parser("worker", help="run jobs headless: scheduler, watched folders and "
                                      "consumer, no window")
    s.add_argument("--workers", type=whole(1, 16, "a number of workers"),
                   help="runs executing at once (default: settings.workers)")
    s = sub.add_parser("run", help="run a job now, or once at a later time, and print the run id")
    s.add_argument("job")
    s.add_argument("--wait", action="store_true",
                   help="show a progress bar until the run ends; exit 1 if it fails, 0 if it "
                        "succeeds, with or without warnings (printed); with --at or --in: "
                        "wait for its time first")
    when_group = s.add_mutually_exclusive_group()
    when_group.add_argument("--at", metavar="TIME",
                            help="run once at this time instead of now: 18:00 (today, or "
                                 "tomorrow once past), 'tomorrow 9:00', '2026-12-24 18:00' or "
                                 "ISO 8601; the run "
                                 "waits as 'scheduled', kept across restarts, and `trayjobs "
                                 "cancel RUN` drops it")
    when_group.add_argument("--in", dest="within", metavar="DURATION",
                            help="run once after this long instead of now, e.g. 2h, 90s, 1h30m")
    s.add_argument("--file", action="append", default=[], metavar="PATH",
                   help="an input file (import jobs); repeat for several")
    s.add_argument("--when-ready", action="store_true",
                   help="wait for the job's conditions (`when`) as a scheduled run does, "
                        "instead of starting now whatever they say; needs the app or "
                        "`trayjobs worker` running, which follows them (a run for later "
                        "waits for one)")
    s.add_argument("--dry-run", action="store_true",
                   help="preview what the job would do, touching nothing; refused for a job "
                        "whose kind has no preview (`trayjobs kinds` lists them)")
    s.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="set one of the job's params for this run (e.g. month=2026-10; a "
                        "report's period=last_quarter); repeat for several")
    s = sub.add_parser("runs", help="list recent runs")
    s.add_argument("--job", type=given("a job's name"))
    s.add_argument("--state", type=given("a state"), help="scheduled, waiting (for its conditions), queued, running, "
                                   "retrying, succeeded, failed, cancelled, skipped or "
                                   "interrupted; or warning: the runs "
                                   "that succeeded with warnings (succeeded lists them too)")
    s.add_argument("--limit", type=whole(1, MAX_ID, "a number of runs"), default=20)
    s.add_argument("--json", action="store_true",
                   help="one JSON object per line: the run as stored, and worker_lost (null, "
                        "or the host, pid, mode, last_heard_at and process_gone of the gone "
                        "or silent worker of a run still stored as running)")
    s = sub.add_parser("show", help="a run's details, log and traceback")
    s.add_argument("run", type=RUN_ID)
    s.add_argument("--json", action="store_true")
    s.add_argument("--follow", "-f", action="store_true",
                   help="then print its log lines as they are written, until it ends")
    for name, text in (("retry", "run a failed run again (a fresh retry budget)"),
                       ("cancel", "cancel a waiting run, or stop a running one"),
                       ("undo", "reverse what a cleanup or import run did")):
        sub.add_parser(name, help=text).add_argument("run", type=RUN_ID)
    s = sub.add_parser("jobs", help="list jobs with their triggers, next runs and health")
    s.add_argument("--tag", type=given("a tag"), help="only the jobs with this tag")
    s = sub.add_parser("workers", help="the processes that run jobs (the app, `trayjobs "
                                       "worker`, a foreground run) with their host, state, "
                                       "runs now and last heartbeat")
    s.add_argument("--all", action="store_true",
                   help="also those that stopped more than a day ago")
    s.add_argument("--json", action="store_true", help="one JSON object per line")
    s = sub.add_parser("stats", help="each job's health: success rate, how long it typically "
                                     "takes and its slowest 5 %%, last success, runs waiting, "
                                     "how its last runs ended")
    s.add_argument("--job", type=given("a job's name"), help="only this job")
    s.add_argument("--tag", type=given("a tag"), help="only the jobs with this tag")
    s.add_argument("--since", default="7d", help="the window counted, e.g. 24h, 7d, 30d "
                                                 "(default: 7d)")
    s.add_argument("--json", action="store_true", help="print the figures as JSON")
    sub.add_parser("check", help="validate the config file; exit 1 on errors")
    s = sub.add_parser("kinds", help="list the job kinds: built-in and from installed "
                                     "plug-ins, with what each can do")
    s.add_argument("--json", action="store_true", help="one JSON object per kind")
    s.add_argument("--reference", action="store_true",
                   help="print each kind's options (Markdown, like the README's reference)")
    for name, text in (("pause", "pause all jobs, or one"), ("resume", "resume all jobs, or one")):
        sub.add_parser(name, help=text).add_argument("job", nargs="?")
    s = sub.add_parser("secret", help="store, list or delete the secrets that jobs name as "
                                      "`{ secret = \"NAME\" }`, in the system keyring")
    secret = s.add_subparsers(dest="action", metavar="ACTION", required=True,
                              help="set, list or delete")
    secret.add_parser("set", help="store a secret: its value is asked for without echo, or "
                                  "read from standard input when that is not a terminal"
                      ).add_argument("name", help="the secret's name, as jobs give it")
    secret.add_parser("list", help="the names of the stored secrets (never their values)")
    secret.add_parser("delete", help="remove a stored secret").add_argument("name", help="the secret's name, as jobs give it")
    from .alerts.cli import add_parser as add_alerts_parser
    add_alerts_parser(sub)
    from .cluster_cli import add_parser as add_cluster_parser
    add_cluster_parser(sub)
    s = sub.add_parser("install-desktop", help="add trayjobs to your app menu, with its icon "
                                               "(Linux desktops; your user only)")
    s.add_argument("--autostart", action=argparse.BooleanOptionalAction, default=None,
                   help="also start trayjobs in the tray at login (--no-autostart: stop doing "
                        "that; default: leave it as it is)")
    sub.add_parser("uninstall-desktop", help="remove the menu entry, icons and autostart entry "
                                             "that install-desktop added")
    return p


def _joined_negative_durations(argv: list[str]) -> list[str]:
    """``--in -5m`` as ``--in=-5m``: argparse takes a value starting with "-" for an option
    (unless it is a plain number) and answered "expected one argument"; joined, the value
    reaches the check that says why a time before now is no one-off."""
    out: list[str] = []
    for i, arg in enumerate(argv):
        before = argv[i - 1] if i else None
        if (before == "--in" and arg[:1] == "-" and arg[1:2].isdigit()
                and out and out[-1] == "--in"):
            out[-1] = f"--in={arg}"
            continue
        out.append(arg)
    return out


def _parse(argv: list[str]) -> argparse.Namespace:
    """The command line parsed, ``run``'s ``--file PATH`` options taken out first.

    argparse spends time on each option in proportion to the count of options after it:
    ``trayjobs run JOB`` with 50,000 files (a folder, ``--file`` before each) took minutes
    to parse. Each ``--file`` written with its own value is gathered here, in order; one
    argparse must judge (``--file`` with no value, or a value starting with "-") leaves
    them all to argparse, as does any command other than ``run`` (argparse refuses the
    option there)."""
    parser = build_parser()
    start = argv.index("run") + 1 if "run" in argv else len(argv)
    rest: list[str] = argv[:start]
    files: list[str] = []
    i = start
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            rest.extend(argv[i:])
            break
        if arg == "--file" and i + 1 < len(argv) and argv[i + 1][:1] not in ("-", ""):
            files.append(argv[i + 1])
            i += 2
            continue
        if arg.startswith("--f"):  # --file=PATH, --fi PATH, a --file argparse refuses...
            return parser.parse_args(argv)  # argparse's own judgement, and words
        rest.append(arg)
        i += 1
    args = parser.parse_args(rest)
    if files:
        if args.command != "run":
            return parser.parse_args(argv)
        args.file = files
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--trayjobs-child"]:  # a bundled app's job process
        from .engine.child import main as child_main
        return child_main(argv[1:])
    links = [a for a in argv if a.startswith("trayjobs://")]
    if links:  # a link from an alert message: `trayjobs [--home DIR] trayjobs://run/ID`
        rest = [a for a in argv if a not in links]
        return _open_link(links[0], build_parser().parse_known_args(rest)[0].home)
    args = _parse(_joined_negative_durations(argv))
    for stream in (sys.stdout, sys.stderr):
        # Text from jobs is stored escaped; anything else that a terminal's encoding cannot
        # take (a file name that is not UTF-8 given on the command line) is shown escaped
        # too, never a traceback.
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    if _empty_home(args.home):
        return EXIT_USAGE
    home = resolve_home(args.home)
    command = args.command or "app"
    from .cluster import env_host
    try:
        env_host()  # every command and the app go by this name: a bad one stops them all
    except UserError as exc:
        print(f"trayjobs: {exc}", file=sys.stderr)
        return EXIT_USAGE
    import logging
    # The history's connection pool logs each failed try; a command says it once, in the
    # sentence below (StoreUnreachable), the app and the worker in their own words.
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
    if command == "app":
        from .ui.app import run_app  # Qt is imported only here
        return run_app(home, minimized=getattr(args, "minimized", False))
    from .cli_terminal import TerminalOut, say_waits
    if sys.stdout.isatty():
        sys.stdout = TerminalOut(sys.stdout)
    if command != "worker":  # (a worker logs its waits in its own words)
        threading.Thread(target=say_waits, name="waits", daemon=True).start()
    try:
        return COMMANDS[command](home, args)
    except UserError as exc:
        print(f"trayjobs: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`trayjobs show RUN | head`): nothing more to say to it, and
        # no traceback. Python would flush stdout at exit into the closed pipe again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE


def _empty_home(value: str | None) -> bool:
    """Whether ``--home`` was given empty (``--home "$DIR"`` with DIR unset), said so: the
    current folder would get a home's files."""
    if value is None or value.strip():
        return False
    print("trayjobs: --home is empty; give a folder, e.g. --home ~/trayjobs (or leave it "
          "out for the usual folders)", file=sys.stderr)
    return True


def _open_link(link: str, home_dir: str | None) -> int:
    """``trayjobs://run/ID``: the app shows that run (started for it if need be)."""
    import re
    if _empty_home(home_dir):
        return EXIT_USAGE
    m = re.fullmatch(r"trayjobs://run/(\d+)/?", link.strip())
    if not m or not 1 <= int(m.group(1)) <= MAX_ID:
        print(f"trayjobs: {link!r} is not a link trayjobs opens (trayjobs://run/ID)",
              file=sys.stderr)
        return EXIT_USAGE
    from .ui.app import run_app  # Qt is imported only here
    return run_app(resolve_home(home_dir), open_run=int(m.group(1)))


# -- commands -------------------------------------------------------------------------

def cmd_worker(home: Home, args) -> int:
    from .worker import run_worker
    return run_worker(home, workers=args.workers)


def _param_args(items: list[str]) -> dict[str, str]:
    """``--param KEY=VALUE`` options as a dict of the typed text."""
    params = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise UserError(f"--param {item!r}: write it as KEY=VALUE, e.g. month=2026-10")
        params[key.strip()] = value
    return params


def _due_at(args) -> float | None:
    """The time ``--at`` or ``--in`` asks for, as a timestamp (None: run now)."""
    if args.at is None and args.within is None:
        return None
    from .schedule import NotLater, one_off_time
    try:
        return one_off_time(at=args.at, within=args.within).timestamp()
    except NotLater as exc:
        import shlex
        raise UserError(f"{exc}; to run the job now: trayjobs run {shlex.quote(args.job)}"
                        ) from None
    except ValueError as exc:
        raise UserError(str(exc)) from None


def cmd_run(home: Home, args) -> int:
    params = _param_args(args.param)
    due_at = _due_at(args)
    # In a cluster, whether a worker runs is asked of the history that the run then goes
    # to: opened once, not twice (a tenth of a second of each `trayjobs run`).
    ctl = control_for(home) if mentions_cluster(home) else None
    try:
        running = consumer_running(home, ctl)
    except BaseException:
        if ctl is not None:
            ctl.close()
        raise
    if ctl is not None and not (running or (due_at is not None and not args.wait)):
        ctl.close()  # the run is this process's own: the engine below opens what it needs
        ctl = None
    if args.when_ready and not running and (due_at is None or args.wait):
        # (A run for later, not waited for here, waits for the app or worker to start:
        # that one follows its conditions.)
        raise UserError("--when-ready needs trayjobs running (the app or `trayjobs worker`): "
                        "it follows the conditions and starts the run when they hold; a run "
                        "for later (--at or --in, without --wait) waits for one to start")
    if running or (due_at is not None and not args.wait):
        ctl = ctl or control_for(home)
        run_id = ctl.submit(args.job, trigger="cli", files=args.file, dry_run=args.dry_run,
                            params=params, due_at=due_at, conditions=args.when_ready)
        print(run_id)
        if due_at is not None:
            print(f"run {run_id} waits until {when(due_at, seconds=True)} "
                  f"({relative(due_at)}); trayjobs cancel {run_id} drops it", file=sys.stderr)
            if not running:
                print("No trayjobs app or worker is running for this home: the run starts "
                      "when one is (at its time, or as soon as one starts after it).",
                      file=sys.stderr)
        if not args.wait:
            return EXIT_OK
        return follow(ctl, run_id)
    from .engine.engine import Engine
    eng = Engine(home, scheduler=False, mode="cli")
    try:
        run_id = eng.submit(args.job, trigger="cli", files=args.file, dry_run=args.dry_run,
                            params=params, due_at=due_at)
    except BaseException:
        eng.executor.close()
        raise
    print(run_id)
    bar = Bar(enabled=True)
    eng.bus.subscribe(bar.on_event)
    try:
        elsewhere = eng.waits_elsewhere(run_id)
        if elsewhere:
            # Its files or programs are on that host: the run waits for a worker there.
            if args.wait:
                return follow(eng, run_id)  # (which says why it waits)
            print(f"run {run_id} {elsewhere}; it starts when one does (trayjobs cancel "
                  f"{run_id} drops it)", file=sys.stderr)
            return EXIT_OK
        if due_at is None and eng.clustered:  # the other machines' workers run, perhaps
            print("No worker of the cluster can take the run now (none runs, or none "
                  "reaches the queue), so the run happens here.", file=sys.stderr)
        elif due_at is None:
            print("No trayjobs app or worker is running for this home, so the run happens "
                  "here.", file=sys.stderr)
        else:
            with left_scheduled(eng, run_id):
                print(f"No trayjobs app or worker is running for this home, so the run "
                      f"happens here at {when(due_at, seconds=True)} ({relative(due_at)}); "
                      f"Ctrl-C cancels it.", file=sys.stderr)
                in_time = wait_for_time(eng, run_id, due_at)
            if not in_time:
                # Started or ended by another process meanwhile (a worker, a cancel): follow it.
                return follow(eng, run_id)
        # Ctrl-C, and a TERM or HUP (a closed terminal, `timeout`, a service manager), stop
        # the run the way a cancel does: the job runs in this process (or in one it
        # follows), so this process must not die before the job has stopped.
        stops = [s for s in (signal.SIGINT, getattr(signal, "SIGTERM", None),
                             getattr(signal, "SIGHUP", None)) if s is not None]
        previous = {s: signal.signal(s, lambda *_: eng.cancel_local(run_id)) for s in stops}
        try:
            row = eng.run_inline(run_id, on_wait=bar.waiting)
        except (StoreBusy, StoreFull) as exc:
            # The run (or its next attempt) could not be taken: it waits for whoever runs
            # next, which the person should know of.
            raise UserError(f"{exc} Run {run_id} did not start here: it waits, and the app "
                            f"or `trayjobs worker` starts it once one runs (trayjobs cancel "
                            f"{run_id} drops it).") from None
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
    finally:
        bar.close()
        eng.executor.close()
        eng.alerts.flush()  # what is left is kept and sent by the next app or worker
    code = end_inline(eng, row)
    _say_hooks_wait(eng, run_id)
    return code


def _say_hooks_wait(eng, run_id: int) -> None:
    """The runs a foreground run's hooks started wait in the queue for an app or worker,
    which this process is not: say so, or they look lost."""
    from .textfmt import started_by_how
    for r in eng.store.runs_started_by(run_id):
        if r["state"] == "queued":
            print(f"run {r['id']} of {r['job']} ({started_by_how(r)[0]}) waits in the queue: "
                  f"it starts when the app or `trayjobs worker` runs", file=sys.stderr)


def cmd_retry(home: Home, args) -> int:
    ctl = control_for(home)
    new = ctl.retry(args.run)
    print(new)
    if not consumer_running(home):
        print("No trayjobs app or worker is running; it will run when one starts "
              "(or: trayjobs run ... --wait).", file=sys.stderr)
    return EXIT_OK


def cmd_cancel(home: Home, args) -> int:
    from .cli_follow import gone_text, gone_worker
    ctl = control_for(home)
    what = ctl.cancel(args.run)
    gone = gone_worker(ctl, ctl.store.get_run(args.run)) if what != "cancelled" else None
    if gone is not None:  # no one is there to ask
        print(f"run {args.run}: {gone_text(gone)}")
        return EXIT_OK
    print(f"run {args.run}: {'cancelled' if what == 'cancelled' else 'asked to stop'}")
    return EXIT_OK


def cmd_undo(home: Home, args) -> int:
    from .engine.undo import undo_run
    held: list[str] = []  # the latest line, which is often the summary itself

    def log(message: dict[str, Any]) -> None:
        if held:
            print(held.pop(), file=sys.stderr)
        held.append(message.get("message", ""))

    result = undo_run(control_for(home), args.run, on_log=log)
    summary = result.get("summary", "undone")
    if held and held[0] != summary:  # said once, on standard output
        print(held[0], file=sys.stderr)
    print(summary)
    return EXIT_OK if not result.get("failed") else EXIT_FAILED


def cmd_check(home: Home, args) -> int:
    from .config import check_jobs, load_config
    from .engine.control import last_good_path
    from .kinds.registry import broken_kinds
    for broken in broken_kinds():  # even when no job uses it yet
        print(f"warning: {broken.message()}", file=sys.stderr)
    cfg = load_config(home.config_file, last_good=last_good_path(home))
    if not cfg.errors and not cfg.text and not home.config_file.exists():
        print(f"{home.config_file}: no config file yet (no jobs)")
        return EXIT_OK
    notes: list[str] = []
    warnings: list = []
    problems = check_jobs(cfg, notes=notes, warnings=warnings)
    bad = {e.job for e in problems}
    cfg.errors += problems
    from .alerts.cli import check_alerts
    from .store.open import open_store, store_exists
    try:
        store = open_store(home, cfg.cluster) if store_exists(home, cfg.cluster) else None
    except UserError:  # [cluster] with a mistake, listed below: no history to look at
        store = None
    channel_errors, channel_problems = check_alerts(cfg, store=store)
    cfg.errors += channel_errors
    notes += channel_problems
    for err in cfg.errors:
        print(err, file=sys.stderr)
    for warning in warnings:  # the job runs: said, but not counted as an error
        print(f"warning: {warning}", file=sys.stderr)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    from .schedule import zone_problem
    zone = zone_problem()
    if zone is not None and any(j.schedule is not None for j in cfg.jobs.values()):
        print(f"warning: {zone}", file=sys.stderr)
    if cfg.kept_from is not None:
        say_kept(cfg)
        print(f"{home.config_file}: {len(cfg.errors)} error{'s' if len(cfg.errors) != 1 else ''}")
        return EXIT_FAILED
    # A job with an error that does not stop it (a channel it names is missing...) is not OK.
    bad |= {getattr(e, "job", None) for e in cfg.errors}
    good = len([j for j in cfg.jobs if j not in bad])
    print(f"{home.config_file}: {good} job{'s' if good != 1 else ''} OK, "
          f"{len(cfg.errors)} error{'s' if len(cfg.errors) != 1 else ''}"
          + (f", {len(warnings)} warning{'s' if len(warnings) != 1 else ''}" if warnings else ""))
    return EXIT_FAILED if cfg.errors else EXIT_OK


def cmd_kinds(home: Home, args) -> int:
    from .kinds.registry import all_kinds, broken_kinds, origin
    if args.reference:
        from .docs import render_kinds
        print(render_kinds())
        return EXIT_OK
    rows = []
    for kind in all_kinds():
        where = origin(kind.name)
        rows.append({"name": kind.name, "source": "builtin" if where.builtin else "plugin",
                     "distribution": where.distribution, "version": where.version,
                     "entry_point": where.entry_point, "summary": kind.summary,
                     "accepts_files": kind.accepts_files,
                     "supports_dry_run": kind.supports_dry_run,
                     "supports_undo": kind.supports_undo, "idempotent": kind.idempotent,
                     "error": None})
    for broken in broken_kinds():
        rows.append({"name": broken.name, "source": "plugin", "distribution":
                     broken.origin.distribution, "version": broken.origin.version,
                     "entry_point": broken.origin.entry_point, "summary": "",
                     "accepts_files": None, "supports_dry_run": None, "supports_undo": None,
                     "idempotent": None, "error": broken.error})
    rows.sort(key=lambda r: r["name"])
    status = EXIT_FAILED if any(r["error"] for r in rows) else EXIT_OK
    if args.json:
        for r in rows:
            print(json.dumps(r))
        return status
    flags = (("accepts_files", "files"), ("supports_dry_run", "dry-run"),
             ("supports_undo", "undo"), ("idempotent", "idempotent"))
    table_rows = []
    for r in rows:
        source = ("built-in" if r["source"] == "builtin"
                  else f"{r['distribution']} {r['version'] or ''}".rstrip())
        if r["error"]:
            table_rows.append([r["name"], source, "BROKEN", r["error"][:80]])
        else:
            table_rows.append([r["name"], source,
                               ",".join(text for key, text in flags if r[key]) or "-",
                               r["summary"][:80]])
    print(table(table_rows, ["KIND", "FROM", "CAN", "SUMMARY"]))
    return status


def cmd_secret(home: Home, args) -> int:
    from . import secrets
    if args.action == "list":
        names = secrets.list_names()
        print("\n".join(names) if names else
              "no secrets stored yet; add one with: trayjobs secret set NAME")
    elif args.action == "delete":
        secrets.delete_secret(args.name)
        print(f"deleted the secret {args.name!r}")
    else:
        secrets.check_name(args.name)
        secrets.set_secret(args.name, _read_secret(args.name))
        print(f"stored the secret {args.name!r} in the system keyring")
    return EXIT_OK


def _read_secret(name: str) -> str:
    """A secret's value: typed without echo, or piped in (never on the command line, where
    other users' `ps` and the shell's history would see it)."""
    if sys.stdin.isatty():
        import getpass
        return getpass.getpass(f"value of the secret {name!r} (not shown): ")
    value = sys.stdin.read()
    return value.removesuffix("\n").removesuffix("\r")  # `echo TOKEN |` adds a newline


def _pause(paused: bool):
    def cmd(home: Home, args) -> int:
        control_for(home).set_paused(paused, args.job)
        print(f"{'paused' if paused else 'resumed'} {args.job or 'all jobs'}")
        return EXIT_OK
    return cmd


def cmd_install_desktop(home: Home, args) -> int:
    from .desktop import install
    done = install(home, autostart=args.autostart)
    for path in done.written:
        print(f"installed {path}")
    for path in done.removed:
        print(f"removed {path}")
    for note in done.notes:
        print(note)
    return EXIT_OK


def cmd_uninstall_desktop(home: Home, args) -> int:
    from .desktop import uninstall
    done = uninstall()
    for path in done.removed:
        print(f"removed {path}")
    for note in done.notes:
        print(note)
    if not done.removed:
        print("nothing to remove: trayjobs was not installed in the app menu")
    return EXIT_OK


def _alerts(home: Home, args) -> int:
    from .alerts.cli import cmd_alerts
    return cmd_alerts(home, args)


def _cluster(home: Home, args) -> int:
    from .cluster_cli import cmd_cluster
    return cmd_cluster(home, args)


COMMANDS = {
    "worker": cmd_worker, "run": cmd_run, "runs": cmd_runs, "show": cmd_show,
    "retry": cmd_retry, "cancel": cmd_cancel, "undo": cmd_undo, "jobs": cmd_jobs, "stats": cmd_stats,
    "workers": cmd_workers,
    "check": cmd_check, "kinds": cmd_kinds, "pause": _pause(True), "resume": _pause(False),
    "secret": cmd_secret, "alerts": _alerts, "cluster": _cluster, "install-desktop": cmd_install_desktop, "uninstall-desktop": cmd_uninstall_desktop,
}
