"""A real PostgreSQL server for tests: initdb'd in a fresh folder, on a free loopback port,
as the ``postgres`` user when the tests run as root (PostgreSQL refuses root), durability
off (a test database is thrown away). One server per test session; each test gets its own
database, copied from a template that is already migrated (``CREATE DATABASE ... TEMPLATE``
takes a few milliseconds). Tests that stop or restart a server start one of their own."""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

__all__ = ["PgServer", "pg_bindir", "session_server", "TEMPLATE", "ON_POSTGRES"]

TEMPLATE = "trayjobs_template"

#: ``TRAYJOBS_TEST_STORE=postgres`` runs the tests with every home's run history in a
#: fresh PostgreSQL database; unset, in the home's runs.db.
ON_POSTGRES = os.environ.get("TRAYJOBS_TEST_STORE", "sqlite") == "postgres"


def pg_bindir() -> Path | None:
    """Where initdb and postgres are: PATH, then Debian's /usr/lib/postgresql/N/bin."""
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                  key=lambda d: int(d.split("/")[-2]) if d.split("/")[-2].isdigit() else 0)
    for d in reversed(dirs):
        if (Path(d) / "initdb").exists() and (Path(d) / "postgres").exists():
            return Path(d)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres() -> dict:
    """Popen arguments that run a program as ``postgres`` when we are root."""
    if os.geteuid() != 0:
        return {}
    import pwd
    pw = pwd.getpwnam("postgres")
    return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": [],
            "env": {**os.environ, "HOME": pw.pw_dir, "USER": "postgres"}}


class PgServer:
    """One PostgreSQL server in its own folder; ``start``, ``stop``, ``kill``, ``restart``."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        # Under /tmp itself: pytest's tmp folders are root's alone, and postgres must
        # reach its data folder.
        self.folder = Path(tempfile.mkdtemp(prefix="trayjobs-pg-"))
        self.data = self.folder / "data"
        self.port = _free_port()
        self.proc: subprocess.Popen | None = None
        self._names = itertools.count(1)
        #: More of the server's settings, as ``-c NAME=VALUE`` takes them.
        self.settings: list[str] = []
        if os.geteuid() == 0:
            import pwd
            pw = pwd.getpwnam("postgres")
            os.chown(self.folder, pw.pw_uid, pw.pw_gid)
        out = subprocess.run(
            [str(bindir / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
             "-E", "UTF8", "--locale=C", "--no-sync"],
            capture_output=True, text=True, **_as_postgres())
        if out.returncode != 0:
            raise RuntimeError(f"initdb failed: {out.stderr[-2000:]}")

    def url(self, db: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        log = open(self.folder / "postgres.log", "ab")
        self.proc = subprocess.Popen(
            [str(self.bindir / "postgres"), "-D", str(self.data), "-p", str(self.port),
             "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.folder}",
             "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
             "-c", "max_connections=400", "-c", "shared_buffers=32MB",
             *(a for setting in self.settings for a in ("-c", setting))],
            stdout=log, stderr=log, **_as_postgres())
        log.close()
        deadline = time.monotonic() + 30
        while not self._answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("postgres did not start: "
                                   + (self.folder / "postgres.log").read_text()[-2000:])
            time.sleep(0.05)

    def _answers(self) -> bool:
        import psycopg
        try:
            with psycopg.connect(self.url(), connect_timeout=1):
                return True
        except psycopg.OperationalError:
            return False

    def stop(self) -> None:
        """A clean, fast shutdown (SIGINT): clients are disconnected."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(2)
            self.proc.wait(30)
        self.proc = None

    def kill(self) -> None:
        """Gone at once, as a crash takes it (it recovers from its log at the next start)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def pids(self) -> list[int]:
        """The server and every process of it (its backends, writers...)."""
        pids, i = [self.proc.pid], 0
        while i < len(pids):
            try:
                for task in os.listdir(f"/proc/{pids[i]}/task"):
                    with open(f"/proc/{pids[i]}/task/{task}/children") as f:
                        pids.extend(int(p) for p in f.read().split())
            except OSError:
                pass
            i += 1
        return pids

    def pause(self) -> None:
        """Stopped (SIGSTOP, as a debugger, a paused virtual machine or a frozen disk
        leave it): connections are taken by the kernel and stay up, nothing answers."""
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGSTOP)
            except ProcessLookupError:
                pass

    def resume(self) -> None:
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass

    def admin(self, sql: str) -> None:
        import psycopg
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql)

    def make_template(self) -> None:
        """The database every test's is copied from, migrated once."""
        from trayjobs.store.postgres import PgRunStore
        self.admin(f"CREATE DATABASE {TEMPLATE}")
        PgRunStore(self.url(TEMPLATE)).close()

    def new_database(self) -> str:
        """A fresh, migrated database's URL."""
        name = f"t{os.getpid()}_{next(self._names)}"
        self.admin(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
        return self.url(name)

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        try:
            self.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        except Exception:
            pass  # the server is gone: so is the database

    def remove(self) -> None:
        if self.proc is not None:
            self.resume()  # a paused server's processes would stay, stopped, for ever
        self.kill()
        shutil.rmtree(self.folder, ignore_errors=True)


def skip_reason() -> str | None:
    if pg_bindir() is None:
        return ("PostgreSQL is not installed (Debian package postgresql; "
                "`bash packaging/dev.sh test` installs it)")
    try:
        import psycopg  # noqa: F401
        import psycopg_pool  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install -e '.[cluster]')"
    return None


_SESSION: PgServer | None = None


def session_server() -> PgServer:
    """The test session's server, started on first use (and removed at exit)."""
    global _SESSION
    if _SESSION is None:
        reason = skip_reason()
        if reason:
            pytest.skip(reason)
        server = PgServer(pg_bindir())
        server.start()
        server.make_template()
        import atexit
        atexit.register(server.remove)
        _SESSION = server
    return _SESSION


def own_server() -> PgServer:
    """A server of the calling test's own, started, to be stopped or restarted by it."""
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    server = PgServer(pg_bindir())
    server.start()
    return server
