"""``trayjobs alerts log`` and ``trayjobs alerts test NAME``, and the alert lines of
``trayjobs show`` and ``trayjobs check``."""

from __future__ import annotations

import json
from typing import Any

from ..textfmt import plain

__all__ = ["add_parser", "cmd_alerts", "delivery_lines", "delivery_state", "check_alerts"]


def add_parser(sub) -> None:
    from ..cli_args import MAX_ID, RUN_ID, given, whole
    s = sub.add_parser("alerts", help="the alerts sent to your channels and what became of "
                                      "them; send a test message")
    act = s.add_subparsers(dest="action", metavar="ACTION", required=True, help="log or test")
    log = act.add_parser("log", help="the latest alerts and pings: sent, waiting for another "
                                     "try (with the error), failed or summed up")
    log.add_argument("--run", type=RUN_ID, help="only those of this run")
    log.add_argument("--channel", type=given("a channel's name"), help="only those of this channel (ping: heartbeat pings)")
    log.add_argument("--limit", type=whole(1, MAX_ID, "a number of alerts"), default=30,
                     help="how many to list (default: 30)")
    log.add_argument("--json", action="store_true", help="one JSON object per line")
    test = act.add_parser("test", help="send a test message to a channel now and say whether "
                                       "it went, or the exact error")
    test.add_argument("name", help="the channel's name, as in [alerts.NAME]")


def _state(row: dict[str, Any]) -> str:
    from ..textfmt import relative, when
    if row["state"] == "sent":
        return f"sent {when(row['sent_at'], seconds=True)}"
    if row["state"] == "merged":
        went = {"failed": "failed", "pending": "waiting"}.get(row.get("summary_state"), "sent")
        error = row.get("summary_error") if went != "sent" else None
        return f"{went} in summary {row['merged_into']}" + (f": {error}" if error else "")
    if row["state"] == "failed":
        return f"failed after {row['attempts']} tr{'ies' if row['attempts'] != 1 else 'y'}"
    if row["attempts"]:
        return f"try {row['attempts'] + 1} {relative(row['due_at'])}"
    if row["data"].get("held"):
        return f"held for quiet hours until {when(row['due_at'])}"
    if row["data"].get("gathered"):
        return f"summed up with others at {when(row['due_at'], seconds=True)}"
    return "waiting"


def delivery_state(row: dict[str, Any]) -> tuple[str, str]:
    """A delivery as the run's details show it: ``sent``, ``waiting``, ``retrying`` or
    ``failed``, and what goes with it (when it went, its next try and last error, why it
    waits, or the error it gave up on)."""
    from ..textfmt import when
    if row["state"] == "sent":
        return "sent", when(row["sent_at"], seconds=True)
    if row["state"] == "merged":
        summary, error = row.get("summary_state"), row.get("summary_error") or ""
        where = f"in the summary {row['merged_into']} of a burst"
        if summary == "failed":
            return "failed", f"{where}, which failed" + (f": {error}" if error else "")
        if summary == "pending":
            return ("retrying", f"{where}, which waits for its next try; last error: {error}"
                    ) if error else ("waiting", where)
        return "sent", where
    error = row.get("last_error") or ""
    if row["state"] == "failed":
        tries = f"after {row['attempts']} tr{'ies' if row['attempts'] != 1 else 'y'}"
        return "failed", f"{tries}: {error}" if error else tries
    if row["attempts"]:
        return "retrying", (f"try {row['attempts'] + 1} at {when(row['due_at'], seconds=True)}"
                            + (f"; last error: {error}" if error else ""))
    if row["data"].get("held"):
        return "waiting", f"held for quiet hours until {when(row['due_at'])}"
    if row["data"].get("gathered"):
        return "waiting", (f"many alerts in the last minute: summed up with the others at "
                           f"{when(row['due_at'], seconds=True)}")
    return "waiting", ""


def _what(row: dict[str, Any]) -> str:
    if row["channel"] == "ping":
        return f"ping {row['event']} of {row['job']}"
    return row["title"] or row["event"]


def cmd_alerts(home, args) -> int:
    from ..config import load_config
    from ..engine.control import last_good_path
    if args.action == "test":
        from .service import send_test
        from ..errors import UserError
        cfg = load_config(home.config_file, last_good=last_good_path(home))
        try:
            said = send_test(cfg, args.name)
        except UserError as exc:
            print(f"trayjobs: {exc}", file=__import__("sys").stderr)
            return 1
        print(said + _waiting_go_now(home, cfg, args.name))
        return 0
    from ..store.open import open_store
    from ..textfmt import table, when
    cfg = load_config(home.config_file, last_good=last_good_path(home))
    store = open_store(home, cfg.cluster)
    try:
        rows = store.outbox_log(run_id=args.run, channel=args.channel, limit=args.limit)
    finally:
        store.close()
    if args.json:
        for r in rows:
            print(json.dumps(r, default=str))
        return 0
    if not rows:
        print("no alerts yet" + (" for this run" if args.run else ""))
        if args.channel and args.channel not in cfg.alerts and args.channel != "ping":
            # A typo reads as "nothing went wrong": say the name is none of the channels.
            known = ", ".join(sorted([*cfg.alerts, "ping"]))
            print(f"trayjobs: there is no alert channel {args.channel!r} (channels: {known})",
                  file=__import__("sys").stderr)
            return 1
        return 0
    # Titles quote jobs (a report's summary) and errors quote servers: made plain here.
    print(table([[plain(c, one_line=True) for c in (
                    str(r["id"]), when(r["created_at"], seconds=True), r["channel"], r["event"],
                    str(r["run_id"] or ""), _what(r)[:50], _state(r))] for r in rows],
                ["ID", "QUEUED", "CHANNEL", "EVENT", "RUN", "MESSAGE", "STATE"]))
    errors = [r for r in rows if r["last_error"] and r["state"] != "sent"]
    for r in errors:
        print(plain(f"alert {r['id']} ({r['channel']}): {r['last_error']}"))
    return 0


def _waiting_go_now(home, cfg, name: str) -> str:
    """The channel's waiting messages made due now (see :func:`.service.waiting_go_now`),
    for the app or a worker to send."""
    from ..store.open import open_store
    from .service import waiting_go_now
    try:
        store = open_store(home, cfg.cluster)
    except Exception:  # the test went; the history is another matter, said elsewhere
        return ""
    try:
        said = waiting_go_now(store, name)
    finally:
        store.close()
    return said + " (with the app or a worker running)" if said else ""


def delivery_lines(store, run_id: int) -> list[str]:
    """The run's alerts, for ``trayjobs show``."""
    rows = store.outbox_log(run_id=run_id, limit=100)
    out = []
    for r in reversed(rows):
        line = f"  {r['channel']}: {r['event']} · {_state(r)}"
        if r["last_error"] and r["state"] != "sent":
            line += f" · {r['last_error']}"
        out.append(plain(line, one_line=True))
    return ["alerts:", *out] if out else []


def check_alerts(cfg, *, store=None) -> tuple[list, list[str]]:
    """For ``trayjobs check``: each channel's URL as Apprise reads it (config errors), and
    channels whose latest delivery failed (problems, told apart)."""
    from ..config.locate import Locator
    from ..errors import ConfigError
    from ..secrets import SecretError, UnknownSecret
    from .channels import DeliveryError, channel_for
    from .sender import resolve_url
    fname = str(cfg.path) if cfg.path else "<config>"
    locate = Locator(cfg.text)
    errors, problems = [], []
    for name, spec in cfg.alerts.items():
        try:
            url = resolve_url(spec.url)
        except (UnknownSecret, DeliveryError) as exc:  # none stored, or no URL in it
            errors.append(ConfigError(str(exc), file=fname, key=f"alerts.{name}.url",
                                      line=locate.key(["alerts", name], "url")))
            continue
        except SecretError as exc:
            problems.append(f"alert channel {name!r}: its secret was not checked: {exc}")
            continue
        why = channel_for(url).problem()
        if why:
            errors.append(ConfigError(why, file=fname, key=f"alerts.{name}.url",
                                      line=locate.key(["alerts", name], "url")))
    for name, job in cfg.jobs.items():
        ping = job.common.ping
        if ping is not None and not isinstance(ping, str):
            try:
                resolve_url(ping, ping=True)
            except (UnknownSecret, DeliveryError) as exc:
                errors.append(ConfigError(str(exc), file=fname, job=name, key="ping",
                                          line=locate.key(["jobs", name], "ping")))
            except SecretError as exc:  # said, as of a channel's: the job is not known good
                problems.append(f"job {name!r}, key 'ping': its secret was not checked: {exc}")
    if store is not None:
        for channel, row in sorted(store.channel_health().items()):
            if row["state"] != "sent" and row["last_error"]:
                what = "heartbeat pings" if channel == "ping" else f"alert channel {channel!r}"
                problems.append(f"{what}: the latest delivery failed: {row['last_error']} "
                                f"(trayjobs alerts log --channel {channel})")
    return errors, problems


