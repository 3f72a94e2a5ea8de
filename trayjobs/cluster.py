"""``[cluster]``: the shared servers several machines' trayjobs use.

``redis``: the queue of run ids lives in that Redis database instead of the SQLite file
in the data folder (see :mod:`trayjobs.queue`). ``database``: the run history (runs,
attempts, logs, workers, the alert outbox) lives there instead of ``runs.db`` in the
data folder (see :func:`trayjobs.store.open.open_store`). ``lease``: how long after a worker's
last heartbeat its running runs stay its own, and the scheduler's lead its holder's (see
:mod:`trayjobs.engine.lease` and :mod:`trayjobs.engine.leader`). ``host``: the name this
machine's workers go by, which jobs' ``host`` keys name. Read when a process starts: a
change takes effect at its next start.

With ``database`` or ``redis`` set, the engines that share them are a cluster: one of them
at a time fires the schedules and sends the alerts (the lead), runs pinned to a host go to
that host's workers, and control messages (cancel, pause, reload, "run now") reach every
engine, through Redis when it is set and through the history otherwise.
"""

from __future__ import annotations

import functools
import os
import re
import socket
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, field_validator

from .durations import parse_duration
from .secrets import SecretRef

__all__ = ["ClusterSpec", "parse_cluster", "redis_url", "database_url", "DEFAULT_LEASE",
           "clustered", "redact", "has_password", "redis_advice", "who_answers", "POSTGRES",
           "check_host", "env_host", "HOST_MAX"]

#: Seconds after a worker's last heartbeat that its running runs stay its own.
DEFAULT_LEASE = 30.0

#: The longest name a machine may go by: it is part of a queue's key and of every line
#: that lists workers.
HOST_MAX = 200

_SCHEMES = ("redis", "rediss", "unix")
_DB_SCHEMES = ("postgresql", "postgres", "sqlite")


class ClusterSpec(BaseModel):
    # strict: a number must be TOML's own, not text (see trayjobs.config); lease converts
    # its duration text itself.
    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)

    redis: str | SecretRef | None = Field(None, description=(
        "The Redis database that holds the queue of runs, e.g. "
        "`\"redis://nas.local:6379/0\"` (`rediss://` for TLS, `unix:///run/redis.sock`; "
        "a password as `redis://:PASSWORD@host`, better kept as a secret: "
        "`{ secret = \"redis-url\" }`). Not set: the queue is a file in the data folder. "
        "Read when the process running jobs starts."))
    database: str | SecretRef | None = Field(None, description=(
        "The database that holds the run history shared by every machine, e.g. "
        "`\"postgresql://trayjobs@nas.local/trayjobs\"` (a password as "
        "`postgresql://USER:PASSWORD@HOST/DB`, better kept as a secret: "
        "`{ secret = \"runs-db-url\" }`; `?sslmode=require` for TLS). "
        "`\"sqlite:////PATH/runs.db\"` shares one SQLite file between trayjobs homes on one "
        "machine. Not set: the history is `runs.db` in the data folder. "
        "Read when a process starts."))
    lease: Annotated[float, BeforeValidator(parse_duration)] = Field(DEFAULT_LEASE, ge=1, le=3600, description=(
        "How long a worker's running runs stay its own after its last heartbeat (it beats "
        "every sixth of this), e.g. `\"30s\"`: once that is up, whichever worker notices "
        "first recovers them. The engine that fires the cluster's schedules and sends its "
        "alerts holds that lead the same way: another takes it over once this is up (at "
        "once after a clean stop). Longer rides out a store that is slow to answer; "
        "shorter recovers sooner. Read when the process running jobs starts."))

    host: str | None = Field(None, min_length=1, max_length=HOST_MAX, description=(
        "The name this machine's workers go by in the cluster, which a job's `host` names, "
        "e.g. `\"nas\"`. Not set: the machine's host name (the environment variable "
        "`TRAYJOBS_HOST` overrides both). At most 200 characters, without spaces, control "
        "characters or `* ? [ ] / \\`: a process refuses to start under such a name, saying "
        "which. Read when a process starts."))

    #: Why the servers [cluster] names cannot be told (a mistake in redis, database or an
    #: unknown key), said by every process that would use them (see parse_cluster).
    _broken: str | None = PrivateAttr(None)

    @field_validator("host")
    @classmethod
    def _host(cls, v: Any) -> Any:
        return check_host(v) if isinstance(v, str) else v

    @field_validator("redis")
    @classmethod
    def _url(cls, v: Any) -> Any:
        if isinstance(v, str):
            check_redis_url(v)
        return v

    @field_validator("database")
    @classmethod
    def _db_url(cls, v: Any) -> Any:
        if isinstance(v, str):
            check_database_url(v)
        return v


def redact(url: str) -> str:
    """``url`` with its password as ``***``, to be shown: also a password written with
    characters a URL reserves (``/``, ``?``, ``#``, ``@``), a ``password=`` parameter, and a
    libpq ``password=`` setting. Masks too much rather than too little."""
    url = re.sub(r"(?i)([?&;]|\b)(password=)('[^']*'|[^&#\s]*)", r"\1\2***", url)
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    at = rest.rfind("@")
    if at >= 0 and ":" in rest[:at]:
        rest = rest[:at].split(":", 1)[0] + ":***" + rest[at:]
    return scheme + sep + rest


def redis_advice(url: str, exc: BaseException) -> str | None:
    """What to do about the Redis server at ``url`` answering ``exc``, when its words do not
    say it (a password it wants, TLS it does not speak); None when they do."""
    text = f"{exc} {exc.__context__ or ''}"
    if any(w in text for w in ("NOAUTH", "Authentication required",
                               "HELLO must be called with the client already authenticated")):
        return ("the server asks for a password: write it in the URL as "
                "redis://:PASSWORD@HOST:PORT/DB")
    if any(w in text for w in ("WRONGPASS", "invalid username-password pair")):
        return "the password (or user name) in the URL is not the server's"
    if "maxmemory" in text:  # OOM: it answers, and refuses every write
        return ("the server is full (its maxmemory is used up): give it more memory "
                "(maxmemory in its redis.conf, or CONFIG SET maxmemory), or free some")
    if urlsplit(url).scheme == "rediss" and "CERTIFICATE_VERIFY_FAILED" in text:
        # It speaks TLS: the certificate is what this machine does not take.
        if "mismatch" in text:
            return ("the server answers in TLS, but its certificate is made out to another "
                    "host name than the URL's: write the name the certificate names")
        return ("the server answers in TLS, but its certificate is not one this machine "
                "trusts: name the certificate of the authority that signed it in the URL, "
                "rediss://...?ssl_ca_certs=/PATH/ca.crt")
    if urlsplit(url).scheme == "rediss" and any(
            w in text.lower() for w in ("timeout", "timed out", "ssl", "handshake")):
        return ("the server does not answer in TLS: write redis:// for a server without it, "
                "or turn TLS on in the server (tls-port, with a certificate)")
    if "DB index is out of range" in text:
        return ("the server has fewer databases than the number after the port: use a "
                "smaller one (0 to 15 by default)")
    if any(w in text for w in ("Connection closed by server", "Protocol Error",
                               "Protocol error")):  # redis-py's parser's words, hiredis's
        # Something answered, but not in Redis's words: PostgreSQL's port, say.
        parts = urlsplit(url)
        try:
            host, port = parts.hostname, parts.port or 6379
            other = _who_answers_once(host, port) if parts.scheme == "redis" and host else None
        except (OSError, ValueError):
            other = None
        if other and other != "a Redis server":
            return (f"the server at {host}:{port} does not speak Redis ({other} listens "
                    f"there): check the host and port in the URL (Redis listens on 6379 "
                    f"unless set otherwise)")
    return None


@functools.lru_cache(maxsize=16)
def _who_answers_once(host: str, port: int) -> str | None:
    # Once a process: a worker's reads that fail are told each time (not OSError: nothing
    # answering now says nothing of later).
    return who_answers(host, port, timeout=2.0)


#: PostgreSQL's first message, SSLRequest (length 8, code 80877103): libpq sends it first,
#: and a PostgreSQL server (or pooler) answers it at once with one byte, S or N, and logs
#: nothing for a client that leaves then.
_SSL_REQUEST = (8).to_bytes(4, "big") + (80877103).to_bytes(4, "big")
#: Past this much of one line without its end a Redis server answers "too big inline
#: request" (it reads the SSLRequest's zero bytes as a line that never ends).
_REDIS_LINE_MAX = 64 * 1024


#: What :func:`who_answers` calls a PostgreSQL server.
POSTGRES = "a PostgreSQL server"


def who_answers(host: str, port: int, *, timeout: float) -> str | None:
    """Who answers at ``host:port``, for a message: :data:`POSTGRES`, "a Redis server", "a
    web server"...; None when it cannot be told: the server closes without a word or says
    nothing (a PostgreSQL server too busy to answer must not be taken for something else).
    :class:`OSError` when nothing takes connections there now.

    It is sent PostgreSQL's first message; a server silent for a second is then sent a
    line longer than a Redis server takes, which one answers with an error at once."""
    sock = socket.create_connection((host, port), timeout=timeout)
    try:
        with sock:
            sock.sendall(_SSL_REQUEST)
            sock.settimeout(min(1.0, timeout))
            try:
                reply = sock.recv(64)
            except socket.timeout:
                sock.settimeout(timeout)
                sock.sendall(b"\r\n" * (_REDIS_LINE_MAX // 2 + 1))
                reply = sock.recv(64)
    except OSError:
        return None
    if not reply:
        return None
    if reply in (b"S", b"N") or reply[:1] == b"E":  # E: an error, in PostgreSQL's words
        return POSTGRES
    if reply.startswith(b"HTTP/"):
        return "a web server"
    if reply[:1] in (b"-", b"+"):
        return "a Redis server"
    if reply.startswith(b"SSH-"):
        return "an SSH server"
    if reply[:2] in (b"\x15\x03", b"\x16\x03"):
        return "a server that speaks only TLS"
    text = "".join(c if c.isprintable() else "." for c in reply[:24].decode("latin-1"))
    return f"a server that answered {text!r}"


def has_password(url: str) -> bool:
    """Whether ``url`` holds a password (in its user part or as a ``password=`` parameter)."""
    parts = urlsplit(url)
    return parts.password is not None or any(
        k.lower() == "password" for k, _ in parse_qsl(parts.query, keep_blank_values=True))


def _check_port(url: str) -> None:
    try:
        urlsplit(url).port
    except ValueError:
        raise ValueError(f"{redact(url)!r}: the port is not a number from 1 to 65535") from None


def _check_user_part(url: str) -> None:
    # A password with a reserved character written as it is: a URL parser takes part of it
    # for the host, port or path, and every client reads something else.
    rest = url.partition("://")[2]
    parts = urlsplit(url)
    netloc = parts.netloc
    # "@" in the path: a "/" in the password ended the host part before its "@".
    if ("@" in rest and "@" not in netloc) or netloc.count("@") > 1 or "@" in parts.path:
        raise ValueError(f"{redact(url)!r}: the user name or password holds a character that "
                         f"URLs reserve (/ ? # @ :); write it percent-encoded (/ as %2F, ? as "
                         f"%3F, # as %23, @ as %40, : as %3A), or use a password without them")
    user = netloc.rpartition("@")[0]
    if re.search(r"%(?![0-9A-Fa-f]{2})", user):
        # A "%" not followed by two hex digits: every client refuses the URL (and psycopg's
        # error quotes the text after it: the password).
        raise ValueError(f"{redact(url)!r}: the user name or password holds a \"%\" that "
                         f"does not start a percent-encoded character; write it as %25")


def check_redis_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in _SCHEMES:
        raise ValueError(f"{redact(url)!r} is not a Redis URL; write redis://HOST:PORT/DB "
                         f"(rediss:// for TLS, unix:///PATH for a socket)")
    _check_user_part(url)
    _check_port(url)
    if parts.scheme != "unix" and not parts.hostname:
        raise ValueError(f"{redact(url)!r} names no host; write redis://HOST:PORT/DB")
    if parts.scheme != "unix" and not re.fullmatch(r"/?(\d+/?)?", parts.path):
        # The Redis client reads a database that is not a number as 0, without a word:
        # this machine would use another queue than the ones that wrote it right.
        raise ValueError(f"{redact(url)!r}: {parts.path.lstrip('/')!r} after the port is not "
                         f"a database number; write redis://HOST:PORT/DB with DB a number "
                         f"(0 to 15 by default)")
    return url


def check_host(name: str) -> str:
    """``name`` if it can be a machine's name in the cluster (``ValueError`` if not): no
    spaces, no characters a terminal or a list cannot show (control characters, direction
    overrides), none that Redis key patterns read (``* ? [ ]``), no ``/`` or ``\\``."""
    shown = name if len(name) <= 60 else name[:60] + "..."
    if not name:
        raise ValueError("an empty host name; write one like \"nas\"")
    if len(name) > HOST_MAX:
        raise ValueError(f"{shown!r} is not a host name: it has {len(name)} characters, at "
                         f"most {HOST_MAX}; write one like \"nas\"")
    if any(c.isspace() or not c.isprintable() or c in "*?[]/\\" for c in name):
        raise ValueError(f"{shown!r} is not a host name; write one like \"nas\" (letters, "
                         f"digits, - . _; no spaces, control characters or * ? [ ] / \\)")
    return name


def env_host() -> str | None:
    """``TRAYJOBS_HOST``, checked (None when it is not set): :class:`UserError` saying what
    to set for a value no machine can go by. Checked once as a process starts: read later,
    a bad name would end a heartbeat or a queue's thread instead."""
    import os
    from .errors import UserError
    name = os.environ.get("TRAYJOBS_HOST")
    if name is None:
        return None
    try:
        return check_host(name)
    except ValueError as exc:
        raise UserError(f"the environment variable TRAYJOBS_HOST: {exc}, or unset it to use "
                        f"[cluster] host or this machine's host name") from None


def check_database_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in _DB_SCHEMES:
        raise ValueError(f"{redact(url)!r} is not a database URL; write "
                         f"postgresql://USER@HOST/DB (or sqlite:////PATH/runs.db for a file on "
                         f"this machine)")
    if parts.scheme == "sqlite":
        _check_sqlite_file(url)
    if parts.scheme != "sqlite":
        _check_user_part(url)
        _check_port(url)
    return url


def _check_sqlite_file(url: str) -> None:
    """A ``sqlite:`` URL's file must be one the history can be kept in: each command that
    opens the history would fail on it, not only the first to write."""
    path = sqlite_path(url)
    if "\0" in path:
        raise ValueError(f"{url!r}: a file name cannot hold a NUL character (\\u0000)")
    if not path.startswith("/"):
        raise ValueError(f"{url!r} names no file; write sqlite:////ABSOLUTE/PATH/runs.db")
    if path.endswith("/") or os.path.isdir(path):
        raise ValueError(f"{url!r} names a folder; write the history's file in it, e.g. "
                         f"sqlite:///{path.rstrip('/')}/runs.db")
    if os.path.exists(path) and not os.path.isfile(path):
        raise ValueError(f"{url!r} names no plain file (a device or a pipe); write the path "
                         f"of a file, e.g. sqlite:////srv/trayjobs/runs.db")


def sqlite_path(url: str) -> str:
    """The file of a ``sqlite:////ABSOLUTE/PATH`` URL (four slashes, as SQLAlchemy writes it)."""
    return url[len("sqlite:///"):]


def parse_cluster(cfg, raw: Any, *, fname: str, locate) -> None:
    from .config import _messages
    from .errors import ConfigError
    from pydantic import ValidationError
    if not isinstance(raw, dict):
        cfg.errors.append(ConfigError("write [cluster] as a table with redis = \"redis://...\"",
                                      file=fname, key="cluster", line=locate.top("cluster")))
        return
    try:
        cfg.cluster = ClusterSpec.model_validate(raw)
    except ValidationError as exc:
        found = []
        for loc, msg in _messages(exc, ClusterSpec):
            found.append(ConfigError(msg, file=fname, key=f"cluster.{loc}" if loc else
                                     "cluster", line=locate.key(["cluster"], loc)))
        cfg.errors += found
        # The keys that are right are kept: a mistake in lease or host takes that key's
        # default. One in which servers to use (redis, database, an unknown key: a typo of
        # one of them) leaves none to go by, and the shared ones are not left for this
        # machine's own without a word: every process that would use them says so instead.
        bad = {str(e["loc"][0]) for e in exc.errors() if e["loc"]}
        try:
            cfg.cluster = ClusterSpec.model_validate({k: v for k, v in raw.items()
                                                      if k not in bad})
        except ValidationError:
            cfg.cluster = ClusterSpec()
        if bad - {"lease", "host"}:
            first = found[0]
            where = f"line {first.line}, " if first.line else ""
            cfg.cluster._broken = (
                f"[cluster] has a mistake ({where}key '{first.key}': {first.message}), so "
                f"this machine cannot tell which shared servers to use: fix it (`trayjobs "
                f"check` shows where), or remove [cluster] to use this machine's own history")


def redis_url(spec: ClusterSpec) -> str | None:
    """The Redis URL to use, a secret read from the keyring; None without one.
    :class:`~trayjobs.secrets.SecretError` says what to do when the secret is missing."""
    _refuse_broken(spec)
    if spec.redis is None:
        return None
    if isinstance(spec.redis, SecretRef):
        return _checked_secret(spec.redis.secret, "redis", check_redis_url)
    return spec.redis


def database_url(spec: ClusterSpec) -> str | None:
    """The run store's URL, a secret read from the keyring; None for the home's own file."""
    _refuse_broken(spec)
    if spec.database is None:
        return None
    if isinstance(spec.database, SecretRef):
        return _checked_secret(spec.database.secret, "database", check_database_url)
    return spec.database


def _refuse_broken(spec: ClusterSpec) -> None:
    if spec._broken is not None:
        from .errors import UserError
        raise UserError(spec._broken)


def _checked_secret(name: str, key: str, check) -> str:
    """The URL the secret ``name`` holds for ``[cluster] key``; a URL that ``check`` refuses
    is :class:`~trayjobs.secrets.SecretError` naming the secret and how to store it again
    (a ValueError there ended every command, the worker too, with a traceback)."""
    from .secrets import SecretError, UnknownSecret, get_secret
    try:
        return check(get_secret(name))
    except UnknownSecret:
        # The keyring lost it (another keyring, a new user account): joining again stores
        # it, as joining did, and checks the server on the way.
        raise SecretError(
            f"there is no secret {name!r} in the system keyring (it held the URL of [cluster] "
            f"{key} for this machine); join again (trayjobs cluster join, as the README's "
            f"\"Several machines\" shows), or store the URL with: trayjobs secret set "
            f"{name}") from None
    except ValueError as exc:
        raise SecretError(f"the secret {name!r} ([cluster] {key}): {exc}; store the URL "
                          f"again: trayjobs secret set {name}") from None


def clustered(spec: ClusterSpec) -> bool:
    """Whether engines of other homes may share this one's runs (a database or a Redis)."""
    return spec.database is not None or spec.redis is not None or spec._broken is not None
