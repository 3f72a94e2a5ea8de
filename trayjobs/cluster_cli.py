"""``trayjobs cluster init|join|status|leave``: put this machine's trayjobs on the shared
servers of several machines, see how they are doing, and take it off again.

``init`` is for the first machine (usually the home server): it checks both servers,
creates the run history's tables, and writes ``[cluster]`` into this home's jobs file.
``join`` is the same for every other machine, but refuses a database that no ``init``
prepared, or one that a newer trayjobs changed. A URL with a password goes to the system
keyring as a secret; the jobs file names the secret, never the password.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import time
from contextlib import contextmanager
from typing import Any

__all__ = ["add_parser", "cmd_cluster"]

#: The store's value that says an ``init`` prepared this database (and when, by whom).
CLUSTER_KEY = "cluster"
#: Seconds ``status`` waits for the history's server unless TRAYJOBS_STORE_TIMEOUT says:
#: it tells how things are now (a worker waits longer, and keeps trying).
STATUS_WAIT = 3.0
#: The secrets ``init``/``join`` keep URLs with passwords in.
SECRETS = {"redis": "cluster-redis", "database": "cluster-database"}


def add_parser(sub) -> None:
    s = sub.add_parser("cluster", help="share one set of jobs and runs between several "
                                       "machines: init, join, status, leave")
    act = s.add_subparsers(dest="action", metavar="ACTION", required=True,
                           help="init, join, status or leave")
    for name, text in (
            ("init", "the first machine: check the servers, create the run history's "
                     "tables there and use them from now on"),
            ("join", "another machine: use the servers that `cluster init` prepared")):
        a = act.add_parser(name, help=text)
        a.add_argument("--redis", metavar="URL",
                       help="the queue: redis://[:PASSWORD@]HOST[:PORT][/DB] (rediss:// for "
                            "TLS); default: $TRAYJOBS_REDIS, which keeps a password out of "
                            "the process list")
        a.add_argument("--database", metavar="URL",
                       help="the run history: postgresql://USER[:PASSWORD]@HOST[:PORT]/DB "
                            "(?sslmode=require for TLS); default: $TRAYJOBS_DATABASE")
        a.add_argument("--host", metavar="NAME",
                       help="this machine's name in the cluster, which jobs' `host` names "
                            "(default: its host name)")
    st = act.add_parser("status", help="the servers, the workers, their versions and "
                                       "what waits in the queue")
    st.add_argument("--json", action="store_true", help="print it as one JSON object")
    lv = act.add_parser("leave", help="stop using the shared servers: this machine goes back "
                                      "to its own history and queue (the shared ones are "
                                      "kept); refused while runs of the shared history are "
                                      "running here, which the restart would interrupt")
    lv.add_argument("--now", action="store_true",
                    help="leave although runs are running here: they go on until the app or "
                         "worker restarts, which ends them interrupted")


def cmd_cluster(home, args) -> int:
    if args.action in ("init", "join"):
        return _init_or_join(home, args, init=args.action == "init")
    if args.action == "leave":
        return _leave(home, now=getattr(args, "now", False))
    return _status(home, args)


# -- init and join ------------------------------------------------------------------------

def _init_or_join(home, args, *, init: bool) -> int:
    from . import __version__
    from .cluster import ClusterSpec, check_database_url, check_redis_url, has_password
    from .errors import UserError
    args.redis = args.redis or os.environ.get("TRAYJOBS_REDIS")
    args.database = args.database or os.environ.get("TRAYJOBS_DATABASE")
    if not args.redis or not args.database:
        raise UserError("give the servers' URLs: --redis URL --database URL (or the "
                        "environment variables TRAYJOBS_REDIS and TRAYJOBS_DATABASE)")
    try:
        check_redis_url(args.redis)
        check_database_url(args.database)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if _names_no_database(args.database):
        # PostgreSQL would take the one named like the user (`postgres` for that user):
        # `init` made the tables there, and `join` said that no `init` prepared it.
        raise UserError(f"{hide_password(args.database)!r} names no database: write it "
                        f"after the host, postgresql://USER@HOST/DB (the one `createdb` "
                        f"made)")
    try:
        spec = ClusterSpec(redis=args.redis, database=args.database, host=args.host)
    except ValueError as exc:
        raise UserError(f"--host: {exc}") from None
    # Read first: a jobs file that cannot be written back stops us before the servers or
    # the keyring (shared by every home of this user) are touched.
    mine = _secrets_named(home)
    if has_password(args.redis) or has_password(args.database):
        # The keyring takes the passwords: found missing now, before the servers are
        # touched, not after the database was prepared.
        from .secrets import _backend
        _backend()
    print(f"queue:   {hide_password(args.redis)}: ", end="", flush=True)
    with _answer():
        print(_ping_redis(args.redis))
    print(f"history: {hide_password(args.database)}: ", end="", flush=True)
    with _answer():
        # Looked at before anything is written there: a database that no `init` prepared
        # is left as it was, and one that a newer trayjobs changed is not used by this one.
        newer = _look(home, spec, init=init)
        if newer:
            raise UserError(f"this database was changed by a newer trayjobs than this one "
                            f"({__version__}; migrations {', '.join(newer)}): update "
                            f"trayjobs on this machine, then try again")
        store = _open(home, spec)
    try:
        mark = store.get_value(CLUSTER_KEY)
        if not init and mark is None:
            print("not prepared", flush=True)
            raise UserError("this database was never prepared for trayjobs: run `trayjobs "
                            "cluster init` with the same URLs on the first machine")
        if init and mark is None:
            from .engine.lease import this_host
            store.set_value(CLUSTER_KEY, json.dumps(
                {"created_at": time.time(), "by": args.host or this_host()}))
        print(f"ready (runs so far: {store.count_runs()})")
    finally:
        store.close()
    values: dict[str, Any] = {"redis": _keep(args.redis, "redis", mine=mine.get("redis")),
                              "database": _keep(args.database, "database",
                                                mine=mine.get("database"))}
    if args.host:
        values["host"] = args.host
    _write_cluster(home, values, keep_others=True)
    print(f"{home.config_file}: [cluster] written; restart the app or `trayjobs worker` "
          f"on this machine to use it")
    if init:
        print("\non every other machine, run:\n" + _join_hint(args.redis, args.database))
    if _local_runs(home):
        print(f"note: the runs this machine recorded before stay in {home.runs_db}; "
              f"`trayjobs cluster leave` goes back to them")
    return 0


def _join_hint(redis: str, database: str) -> str:
    """The command that joins another machine to these servers. Passwords are asked for
    and go in through the environment, as the README says: on the command line they
    would show in the process list and the shell's history."""
    from .cluster import has_password
    if not (has_password(redis) or has_password(database)):
        return f"  trayjobs cluster join --redis '{redis}' --database '{database}'"
    asks, urls = [], []
    for url, var, env, what in ((redis, "RP", "TRAYJOBS_REDIS", "Redis"),
                                (database, "PP", "TRAYJOBS_DATABASE", "PostgreSQL")):
        if has_password(url):
            asks.append(f"read -rs -p '{what} password: ' {var}")
            urls.append(f'{env}="{hide_password(url).replace("***", "$" + var)}"')
        else:
            urls.append(f"{env}='{url}'")
    return (f"  {'; '.join(asks)}; echo\n  {' '.join(urls)} trayjobs cluster join\n"
            f"(each password as in the URL: percent-encoded where it holds / ? # @ : or %)")


def _local_runs(home) -> bool:
    """Whether this home's own history holds runs (any command makes the file: that one
    recorded none, and a note about the runs it keeps would say it did)."""
    if not home.runs_db.exists():
        return False
    from .store import RunStore
    try:
        store = RunStore(home.runs_db, readonly=True)
        try:
            return store.count_runs() > 0
        finally:
            store.close()
    except Exception:  # unreadable: said, rather than left out
        return True


def _names_no_database(url: str) -> bool:
    """Whether a PostgreSQL URL leaves the database to PostgreSQL's default."""
    from urllib.parse import parse_qsl, urlsplit
    parts = urlsplit(url)
    return (parts.scheme != "sqlite" and not parts.path.strip("/")
            and "dbname" not in dict(parse_qsl(parts.query)))


@contextmanager
def _answer():
    """A line ``what: `` is open on standard output for the answer: an error ends it
    ("failed") before it is told on standard error, not on the end of that line."""
    try:
        yield
    except BaseException:
        print("failed", flush=True)
        raise


def _look(home, spec, *, init: bool) -> list[str]:
    """The migrations a newer trayjobs applied to the history; :class:`UserError` for
    ``join`` when nothing prepared it. Reads only."""
    from .errors import UserError
    from .store.open import open_store, store_exists
    store = open_store(home, spec, readonly=True) if store_exists(home, spec) else None
    try:
        unknown = store.unknown_migrations() if store is not None else None
        mark = store.get_value(CLUSTER_KEY) if unknown is not None else None
    finally:
        if store is not None:
            store.close()
    if not init and mark is None:
        raise UserError("this database was never prepared for trayjobs: run `trayjobs "
                        "cluster init` with the same URLs on the first machine")
    return unknown or []


def _keep(url: str, which: str, *, mine: str | None = None) -> Any:
    """The value to write for ``url``: itself, or a secret holding it when it has a password.
    The keyring is the user's, shared by every home: the secret this home's [cluster]
    names already (``mine``) is updated, and otherwise one that holds another URL (another
    home's cluster) is left as it is and a new name taken."""
    from .cluster import has_password
    if not has_password(url):
        return url
    from . import secrets
    if mine is not None and not _same_server(_held(mine), url):
        # Another cluster's: the secret may be another home's as well (one that joined the
        # same servers shares the name), whose next start would follow this one there.
        mine = None
    name = mine or SECRETS[which]
    if mine is None:
        for n in itertools.count(2):
            try:
                if secrets.get_secret(name) == url:
                    break
            except secrets.UnknownSecret:
                break
            name = f"{SECRETS[which]}-{n}"
    secrets.set_secret(name, url)
    print(f"the {which} URL has a password: stored in the system keyring as the secret "
          f"{name!r}")
    return {"secret": name}


def _held(name: str) -> str | None:
    from . import secrets
    try:
        return secrets.get_secret(name)
    except secrets.UnknownSecret:
        return None


def _same_server(old: str | None, new: str) -> bool:
    """Whether ``new`` names the servers ``old`` did (its password or settings changed,
    as a home updates them in place), or ``old`` is nothing to keep."""
    from urllib.parse import urlsplit
    if old is None:
        return True
    a, b = urlsplit(old), urlsplit(new)
    try:
        return ((a.scheme, a.hostname, a.port, a.path.strip("/"), a.username)
                == (b.scheme, b.hostname, b.port, b.path.strip("/"), b.username))
    except ValueError:  # a port that is not a number: not one to compare
        return False


def _secrets_named(home) -> dict[str, str]:
    """The secrets this home's [cluster] names now, by key ("redis", "database"); and
    :class:`UserError` for a jobs file that cannot be written back (before the keyring
    is touched)."""
    from .config_edit import ConfigDocument, _plain
    doc = ConfigDocument.load(home.config_file)
    cluster = _plain(doc.doc["cluster"]) if "cluster" in doc.doc else None
    if not isinstance(cluster, dict):
        return {}
    return {k: v["secret"] for k, v in cluster.items()
            if k in SECRETS and isinstance(v, dict) and isinstance(v.get("secret"), str)}


def _write_cluster(home, values: dict[str, Any] | None, *, keep_others: bool = False) -> None:
    """Write ``[cluster]`` with ``values`` (None: remove it); ``keep_others``: the keys the
    user wrote there besides (``lease``, a ``host`` not given again) stay as they were."""
    from .config_edit import ConfigDocument, _plain
    doc = ConfigDocument.load(home.config_file)
    if values is not None and keep_others and "cluster" in doc.doc:
        old = _plain(doc.doc["cluster"])
        if isinstance(old, dict):
            values = {**{k: v for k, v in old.items() if k not in values}, **values}
    doc.set_table("cluster", values)
    doc.save()


def _leave(home, *, now: bool = False) -> int:
    from .cluster import clustered
    from .config import load_config
    cfg = load_config(home.config_file)
    if not clustered(cfg.cluster):  # (one with a mistake is left as well)
        print("this machine does not use shared servers")
        return 0
    going = _runs_going_here(home, cfg)
    runs = f"{len(going)} run(s) of the shared history ({', '.join(map(str, going))})"
    if going and not now:
        # Leaving takes effect at the restart, which stops them: they would end interrupted
        # in the shared history, which this machine no longer looks at. Said before, not
        # after: a note under "[cluster] removed" was read once the restart had done it.
        print(f"trayjobs: {runs} are running here now; leaving takes effect when the app or "
              f"worker restarts, which would end them interrupted. Wait for them to end "
              f"(`trayjobs runs --state running`) and leave again, or cancel them, or "
              f"leave anyway: trayjobs cluster leave --now", file=sys.stderr)
        return 1
    _write_cluster(home, None)
    print(f"{home.config_file}: [cluster] removed; restart the app or `trayjobs worker` to "
          f"go back to this machine's own history ({home.runs_db})")
    if going:
        print(f"note: {runs} are running here now: they go on until the restart, which "
              f"ends them interrupted (the other machines' `trayjobs runs` show them)")
    return 0


def _runs_going_here(home, cfg) -> list[int]:
    """The ids of the shared history's runs that this home's app or worker (it runs now)
    is running; none when it does not run or the history cannot be read."""
    from .engine.lease import this_machine
    from .instance import InstanceLock
    lock = InstanceLock(home)
    pid = lock.owner()[0] if lock.is_locked() else None
    if pid is None:
        return []
    try:
        store = _open(home, cfg.cluster, timeout=STATUS_WAIT)
    except Exception:  # leaving must work with the servers away
        return []
    try:
        runs = store.running_runs()
    except Exception:
        return []
    finally:
        store.close()
    return [r["id"] for r in runs if r["worker"] and r["worker"]["pid"] == pid
            and r["worker"].get("machine") in (None, this_machine())]


# -- status ---------------------------------------------------------------------------

def _status(home, args) -> int:
    from . import __version__
    from .cluster import database_url, redis_url
    from .config import load_config
    from .engine.lease import NO_QUEUE, shown_state
    cfg = load_config(home.config_file)
    spec = cfg.cluster
    out: dict[str, Any] = {"version": __version__, "queue": None, "history": None,
                           "workers": [], "problems": []}
    unread: dict[str, str] = {}  # a secret that is gone or holds no URL: where, why
    rurl = durl = None
    try:
        rurl = redis_url(spec)
    except Exception as exc:
        unread["queue"] = str(exc)
    try:
        durl = database_url(spec)
    except Exception as exc:
        unread["history"] = str(exc)
    for part, why in unread.items():  # said once, each server looked at without it
        out[part] = {"url": f"the secret {getattr(spec, _SPEC_KEY[part]).secret!r}",
                     "state": f"unreachable: {why}"}
        out["problems"].append(why)
    if rurl:
        out["queue"] = {"url": hide_password(rurl), "state": _ping_redis(rurl, quiet=True)}
        if out["queue"]["state"].startswith("full: "):
            out["problems"].append(f"the queue's Redis server {out['queue']['state'][6:]}: "
                                   f"runs wait in the history until it takes them")
        if out["queue"]["state"].startswith("unreachable"):
            out["problems"].append(f"the queue's Redis server cannot be reached "
                                   f"({out['queue']['state'][len('unreachable: '):]}): runs "
                                   f"wait until it answers")
    elif "queue" not in unread:
        out["queue"] = {"url": str(home.queue_db), "state": "this machine's own file"}
    if durl is None and "history" not in unread:
        out["history"] = {"url": str(home.runs_db), "state": "this machine's own file"}
    try:
        wait = None if os.environ.get("TRAYJOBS_STORE_TIMEOUT") else STATUS_WAIT
        store = _open(home, spec, timeout=wait) if "history" not in unread else None
    except Exception as exc:
        out["history"] = {"url": hide_password(durl or ""), "state": f"unreachable: {exc}"}
        out["problems"].append(f"the run history cannot be reached: {exc}")
        store = None
    if store is not None:
        try:
            if durl is not None:
                out["history"] = {"url": hide_password(durl), "state": "reachable"}
            workers = store.workers(since=time.time() - 86400)
            out["lead"] = store.lead()
            out["queued"] = store.count_runs(state="queued")
            out["running"] = store.count_runs(state="running")
            newer = store.unknown_migrations()
        finally:
            store.close()
        for w in workers:
            w["state"] = shown_state(w)
            if w["state"] == NO_QUEUE:
                out["problems"].append(f"the worker on {w['host']} (pid {w['pid']}) "
                                       f"{w['problem']}; it takes no runs until it can: "
                                       f"check [cluster] redis on that machine")
        out["workers"] = workers
        if newer:
            out["problems"].append(f"the run history was changed by a newer trayjobs than "
                                   f"this one ({__version__}; migrations "
                                   f"{', '.join(newer)}): update trayjobs on this machine")
        live = [w for w in workers if w["state"] == "running"]
        out["problems"] += _shared_host_names(live)
        versions = sorted({w["version"] for w in live if w.get("version")})
        if len(versions) > 1:
            out["problems"].append(
                "workers run different trayjobs versions (" + ", ".join(
                    f"{w['host']}: {w['version']}" for w in live) +
                "); update them to the same one")
    # Each once: both secrets unread for want of a keyring are one problem, not two.
    out["problems"] = list(dict.fromkeys(out["problems"]))
    if args.json:
        print(json.dumps(out, default=str))
        return 1 if out["problems"] else 0
    _print_status(out)
    return 1 if out["problems"] else 0


def _shared_host_names(live: list[dict[str, Any]]) -> list[str]:
    """A host name that live workers of two machines go by (two clones' "localhost", one
    TRAYJOBS_HOST set on both): the runs of a job pinned to it go to either machine."""
    machines: dict[str, set[str]] = {}
    for w in live:
        machine, host = w.get("machine"), w["host"]
        if machine:  # "ID:NS[:BOOT]:HOST": the machine is what comes before its name
            machines.setdefault(host, set()).add(machine.removesuffix(f":{host}"))
    return [f"{len(found)} machines go by the host name {host!r}: runs of jobs with host = "
            f"{host!r} go to either; give each its own name ([cluster] host, or "
            f"TRAYJOBS_HOST)" for host, found in sorted(machines.items()) if len(found) > 1]


#: The ``[cluster]`` key of each part of the status.
_SPEC_KEY = {"queue": "redis", "history": "database"}


def _print_status(out: dict[str, Any]) -> None:
    from .engine.lease import LEAVING, NO_QUEUE
    from .textfmt import relative, table
    for name, part in (("queue:   ", out["queue"]), ("history: ", out["history"])):
        # why a server is unreachable is told once, among the problems below
        state = next((w for w in ("unreachable", "full") if part["state"].startswith(w)),
                     part["state"])
        print(f"{name} {part['url']} ({state})")
    if "queued" in out:
        print(f"runs:     {out['queued']} queued, {out['running']} running")
    lead = out.get("lead")
    if lead and lead.get("held"):
        print(f"leader:   {lead['host']} (pid {lead['pid']}): fires the schedules and sends "
              f"the alerts")
    elif "queued" in out:
        print("leader:   none (no worker runs: schedules wait until one starts)")
    # Each foreground `trayjobs run` is a worker while it runs: those that ended are no
    # news of the cluster (a day of them from cron hid the few that matter).
    shown = [w for w in out["workers"] if not (w["mode"] == "cli" and w["state"] == "stopped")]
    if shown:
        print()
        print(table([[w["host"], w["pid"], w["mode"] or "", w["state"],
                      w["runs"] if w["state"] in ("running", NO_QUEUE, LEAVING) else "",
                      relative(w["heartbeat_at"]),
                      w["version"] or ""] for w in shown],
                    ["HOST", "PID", "AS", "STATE", "RUNS", "LAST HEARTBEAT", "VERSION"]))
    ended = len(out["workers"]) - len(shown)
    if ended:
        print(f"(and {ended} foreground `trayjobs run` that ended in the last day: "
              f"`trayjobs workers` lists them)")
    for p in out["problems"]:
        print(f"problem: {p}", file=sys.stderr)


# -- servers --------------------------------------------------------------------------

def _open(home, spec, *, timeout: float | None = None):
    from .store.open import open_store
    return open_store(home, spec, timeout=timeout)


def _ping_redis(url: str, *, quiet: bool = False) -> str:
    from .errors import UserError
    try:
        import redis
    except ImportError:
        raise UserError("the Redis client is not installed: pip install 'trayjobs[cluster]'"
                        ) from None
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
        started = time.perf_counter()
        client.ping()
        took = (time.perf_counter() - started) * 1000
        version = client.info("server").get("redis_version", "?")
        memory = client.info("memory")
        client.close()
    except Exception as exc:
        from .cluster import redis_advice
        advice = redis_advice(url, exc)
        if quiet:
            return f"unreachable: {exc}" + (f"; {advice}" if advice else "")
        raise UserError(f"the Redis server at {hide_password(url)} cannot be reached: {exc}; "
                        + (advice or "check the host, port and password, and that it "
                                     "listens on a network address (bind, protected-mode)")
                        ) from None
    full = _full(memory)
    if full:
        if quiet:
            return f"full: {full}"
        raise UserError(f"the Redis server at {hide_password(url)} {full}")
    return f"Redis {version}, answered in {took:.1f} ms"


def _full(memory: dict[str, Any]) -> str | None:
    """Why a Redis server with this ``INFO memory`` takes no run (it answers a ping, and
    refuses every write), or None."""
    limit, used = int(memory.get("maxmemory") or 0), int(memory.get("used_memory") or 0)
    if not limit or used < limit or memory.get("maxmemory_policy") != "noeviction":
        return None  # (one that evicts loses messages, which the leader sends again)
    return (f"is full ({used} bytes used of the {limit} its maxmemory allows): give it "
            f"more memory (maxmemory in its redis.conf, or CONFIG SET maxmemory), or free "
            f"some")


def hide_password(url: str) -> str:
    """``url`` with its password as ``***``, for printing."""
    from .cluster import redact
    return redact(url)
