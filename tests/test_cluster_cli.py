"""``trayjobs cluster init|join|status|leave`` against a real redis-server and a shared
run history: the first machine prepares it, others join, status tells who is there."""

from __future__ import annotations

import json

import pytest

from helpers import start_worker, trayjobs, wait_until
from keyring_support import private_bus, secret_service  # noqa: F401  (fixtures)
from redis_support import redis_server  # noqa: F401  (a fixture)
from trayjobs.cluster_cli import hide_password
from trayjobs.config import load_config
from trayjobs.paths import Home

JOBS = """\
# my jobs
[jobs.hello]
kind = "command"
command = "echo hello"
"""


def machine(tmp_path, name: str) -> Home:
    home = Home.under(tmp_path / name).ensure()
    home.config_file.write_text(JOBS)
    return home


def test_init_join_status_and_leave(tmp_path, redis_server):  # noqa: F811
    db = f"sqlite:///{tmp_path / 'shared' / 'runs.db'}"
    first, second = machine(tmp_path, "nas"), machine(tmp_path, "laptop")

    # join before init: refused, nothing written
    refused = trayjobs(second, "cluster", "join", "--redis", redis_server.url(1),
                       "--database", db)
    assert refused.returncode != 0
    assert "cluster init" in refused.stderr
    assert "[cluster]" not in second.config_file.read_text()

    done = trayjobs(first, "cluster", "init", "--redis", redis_server.url(1), "--database", db)
    assert done.returncode == 0, done.stderr
    assert "answered in" in done.stdout and "cluster join" in done.stdout
    text = first.config_file.read_text()
    assert text.startswith("# my jobs") and "[jobs.hello]" in text  # kept as it was
    cfg = load_config(first.config_file)
    assert not cfg.errors and cfg.cluster.redis == redis_server.url(1)
    assert cfg.cluster.database == db

    joined = trayjobs(second, "cluster", "join", "--redis", redis_server.url(1),
                      "--database", db, "--host", "laptop")
    assert joined.returncode == 0, joined.stderr
    assert load_config(second.config_file).cluster.host == "laptop"

    # both machines run workers on the shared servers; status lists both
    workers = [start_worker(first), start_worker(second)]
    try:
        ran = trayjobs(second, "run", "hello", "--wait", timeout=90)
        assert ran.returncode == 0, ran.stderr

        def two_workers():
            out = trayjobs(first, "cluster", "status", "--json")
            data = json.loads(out.stdout)
            return data if len([w for w in data["workers"] if w["state"] == "running"]) == 2 \
                else None
        status = wait_until(two_workers, 30, interval=0.5, what="two live workers")
        assert status["queue"]["state"].startswith("Redis ")
        assert status["history"]["state"] == "reachable"
        assert status["problems"] == []
        assert {w["host"] for w in status["workers"]} >= {"laptop"}
        wait_until(lambda: (json.loads(trayjobs(first, "cluster", "status", "--json").stdout)
                   .get("lead") or {}).get("held"), 30, interval=0.5, what="a leader")
        shown = trayjobs(second, "cluster", "status")
        assert shown.returncode == 0 and "LAST HEARTBEAT" in shown.stdout
        assert "runs:" in shown.stdout and "fires the schedules" in shown.stdout
    finally:
        for w in workers:
            w.terminate()
            w.wait(30)

    left = trayjobs(second, "cluster", "leave")
    assert left.returncode == 0, left.stderr
    assert load_config(second.config_file).cluster.database is None
    assert "[jobs.hello]" in second.config_file.read_text()


def test_unreachable_servers_are_named_and_nothing_is_written(tmp_path, redis_server):  # noqa: F811
    home = machine(tmp_path, "laptop")
    port = redis_server.port
    redis_server.kill()
    out = trayjobs(home, "cluster", "init", "--redis", f"redis://127.0.0.1:{port}/0",
                   "--database", f"sqlite:///{tmp_path / 'runs.db'}")
    assert out.returncode != 0
    assert f"Redis server at redis://127.0.0.1:{port}/0 cannot be reached" in out.stderr
    # the line that waited for the answer is ended, not left open for the error
    assert out.stdout == f"queue:   redis://127.0.0.1:{port}/0: failed\n"
    assert home.config_file.read_text() == JOBS
    bad = trayjobs(home, "cluster", "init", "--redis", "http://x", "--database", "y")
    assert bad.returncode != 0 and "is not a Redis URL" in bad.stderr


def test_a_redis_that_wants_a_password_or_another_is_told_what_to_do(tmp_path,
                                                                     redis_server):  # noqa: F811
    import pytest
    from trayjobs.cluster_cli import _ping_redis
    from trayjobs.errors import UserError
    redis_server.client().config_set("requirepass", "s3cret")
    home = machine(tmp_path, "laptop")
    out = trayjobs(home, "cluster", "init", "--redis", redis_server.url(),
                   "--database", f"sqlite:///{tmp_path / 'runs.db'}")
    assert out.returncode != 0
    assert "the server asks for a password: write it in the URL as redis://:PASSWORD@" \
        in out.stderr
    assert home.config_file.read_text() == JOBS
    wrong = redis_server.url().replace("redis://", "redis://:nope@")
    with pytest.raises(UserError, match="the password .* in the URL is not the server's"):
        _ping_redis(wrong)
    assert "not the server's" in _ping_redis(wrong, quiet=True)  # cluster status


def test_tls_asked_of_a_redis_without_it_is_named(redis_server):  # noqa: F811
    import redis
    from trayjobs.cluster import redis_advice
    url = redis_server.url().replace("redis://", "rediss://")
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        client.ping()
    except redis.RedisError as exc:
        assert "does not answer in TLS: write redis://" in redis_advice(url, exc)
    else:
        raise AssertionError("a server without TLS answered in TLS")
    finally:
        client.close()


def test_redis_over_tls_with_a_certificate_of_ones_own(tmp_path):
    """A Redis server with a certificate signed by an authority of one's own: told as "does
    not answer in TLS: write redis://", which it does; it is the certificate this machine
    does not trust, and the URL names the authority's with ssl_ca_certs."""
    import shutil
    from redis_support import RedisServer, _free_port
    from tls_support import make_certificates
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    certs = make_certificates(tmp_path / "certs")
    (tmp_path / "redis").mkdir()
    server, tls_port = RedisServer(tmp_path / "redis"), _free_port()
    server.settings = ["--tls-port", str(tls_port), "--tls-cert-file", str(certs.cert),
                       "--tls-key-file", str(certs.key), "--tls-auth-clients", "no"]
    server.start()
    try:
        home = machine(tmp_path, "laptop")
        db = f"sqlite:///{tmp_path / 'runs.db'}"
        url = f"rediss://127.0.0.1:{tls_port}/0"
        out = trayjobs(home, "cluster", "init", "--redis", url, "--database", db)
        assert out.returncode != 0
        assert ("the server answers in TLS, but its certificate is not one this machine "
                "trusts") in out.stderr and "?ssl_ca_certs=/PATH/ca.crt" in out.stderr
        assert "does not answer in TLS" not in out.stderr, out.stderr
        out = trayjobs(home, "cluster", "init", "--redis", f"{url}?ssl_ca_certs={certs.ca}",
                       "--database", db)
        assert out.returncode == 0, out.stderr
    finally:
        server.kill()


def test_a_postgresql_certificate_that_cannot_be_checked_is_named_at_once(tmp_path,
                                                                          redis_server):  # noqa: F811
    """sslmode=verify-full without the authority's certificate: libpq's "root certificate
    file ... does not exist" was taken for a refused login ("check the user, password and
    database name"), and an authority that did not sign the server's for a server that
    cannot be reached (10 s of waiting, then "start it")."""
    import os
    import time
    from pg_support import own_server
    from tls_support import make_certificates
    server = own_server()
    try:
        certs = make_certificates(server.folder / "certs")
        if os.geteuid() == 0:  # the server reads them as postgres
            import pwd
            pw = pwd.getpwnam("postgres")
            for f in (certs.cert, certs.key, server.folder / "certs"):
                os.chown(f, pw.pw_uid, pw.pw_gid)
        certs.key.chmod(0o600)
        server.settings = ["ssl=on", f"ssl_cert_file={certs.cert}",
                           f"ssl_key_file={certs.key}"]
        server.restart()
        server.admin("CREATE DATABASE shared")
        home = machine(tmp_path, "laptop")
        other = make_certificates(tmp_path / "other")  # an authority that signed nothing
        base = server.url("shared") + "?sslmode=verify-full"
        for query in ("&sslrootcert=" + str(tmp_path / "none.crt"),
                      "&sslrootcert=" + str(other.ca)):
            started = time.monotonic()
            out = trayjobs(home, "cluster", "init", "--redis", redis_server.url(),
                           "--database", base + query)
            assert out.returncode != 0
            assert "cannot be checked against its certificate" in out.stderr, out.stderr
            assert "sslrootcert=/PATH/ca.crt" in out.stderr
            assert "password" not in out.stderr and "start it" not in out.stderr
            assert time.monotonic() - started < 8  # not the 10 s waited for a server
        assert home.config_file.read_text() == JOBS
        ok = trayjobs(home, "cluster", "init", "--redis", redis_server.url(),
                      "--database", f"{base}&sslrootcert={certs.ca}")
        assert ok.returncode == 0, ok.stderr
    finally:
        server.remove()


def test_passwords_are_never_printed():
    assert hide_password("redis://:s3cret@nas:6379/0") == "redis://:***@nas:6379/0"
    assert hide_password("postgresql://tj:s3cret@nas/tj?sslmode=require") == \
        "postgresql://tj:***@nas/tj?sslmode=require"
    assert hide_password("redis://nas:6379/0") == "redis://nas:6379/0"
    # written with characters a URL reserves, or as a parameter: hidden all the same
    assert "s3/cr" not in hide_password("postgresql://tj:s3/cr@t@nas/tj")
    assert "s3cr" not in hide_password("rediss://:s3cr#t@nas/0")
    assert hide_password("postgresql://tj@nas/tj?password=s3cret&sslmode=require") == \
        "postgresql://tj@nas/tj?password=***&sslmode=require"


def test_a_bad_url_is_refused_without_printing_its_password(tmp_path):
    """A password with a character URLs reserve (base64's /, say) cut the URL elsewhere:
    refused with what to do, and neither the refusal nor the config check prints it."""
    home = machine(tmp_path, "laptop")
    for redis, database in (
            ("redis://:Zm9v/YmFy@127.0.0.1:6379/0", "sqlite:////tmp/x/runs.db"),
            ("redis://127.0.0.1:6379/0", "postgresql://tj:Zm9v/YmFy@127.0.0.1/tj"),
            ("redis://127.0.0.1:6379/0", "postgresq://tj:Zm9vYmFy@127.0.0.1/tj"),
            ("htp://:Zm9vYmFy@127.0.0.1:6379/0", "sqlite:////tmp/x/runs.db")):
        out = trayjobs(home, "cluster", "join", "--redis", redis, "--database", database,
                       timeout=30)
        assert out.returncode != 0
        assert "Zm9v" not in out.stdout + out.stderr, out.stdout + out.stderr
        assert "***" in out.stderr
        assert home.config_file.read_text() == JOBS
    assert "percent-encoded" in trayjobs(
        home, "cluster", "join", "--redis", "redis://:Zm9v/YmFy@127.0.0.1:6379/0",
        "--database", "sqlite:////tmp/x/runs.db").stderr
    home.config_file.write_text('[cluster]\ndatabase = "postgresql://tj:Zm9v/YmFy@nas/tj"\n'
                                'redis = "htp://:Zm9vYmFy@nas/0"\n')
    checked = trayjobs(home, "check")
    assert checked.returncode != 0 and "cluster.database" in checked.stdout + checked.stderr
    assert "Zm9v" not in checked.stdout + checked.stderr


def test_a_password_given_as_a_parameter_goes_to_the_keyring_too(tmp_path, monkeypatch):
    from trayjobs import cluster_cli
    from trayjobs.secrets import UnknownSecret
    kept = {}
    monkeypatch.setattr("trayjobs.secrets.set_secret", lambda name, value: kept.update(
        {name: value}))
    monkeypatch.setattr("trayjobs.secrets.get_secret", lambda name: kept[name] if name in
                        kept else (_ for _ in ()).throw(UnknownSecret(name)))
    url = "postgresql://tj@nas/tj?password=s3cret"
    assert cluster_cli._keep(url, "database") == {"secret": "cluster-database"}
    assert kept == {"cluster-database": url}
    assert cluster_cli._keep("postgresql://tj@nas/tj", "database") == "postgresql://tj@nas/tj"


def test_the_home_server_compose_set_up(tmp_path, redis_server):  # noqa: F811
    """packaging/cluster: the compose file names the three services and what the worker
    needs; its entrypoint, run here on real servers, prepares the history and starts a
    worker that runs jobs."""
    import os
    import re
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    import yaml

    from trayjobs.instance import InstanceLock

    root = Path(__file__).resolve().parents[1]
    folder = root / "packaging" / "cluster"
    compose = yaml.safe_load((folder / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"redis", "postgres", "worker"}
    worker = services["worker"]
    assert set(worker["depends_on"]) == {"redis", "postgres"}
    assert {"TRAYJOBS_REDIS", "TRAYJOBS_DATABASE"} <= set(worker["environment"])
    assert (root / worker["build"]["dockerfile"]).exists()
    for src in re.findall(r"^COPY (\S+)", (folder / "Dockerfile").read_text(), re.M):
        assert (root / src).exists(), src
    env_keys = {ln.split("=")[0] for ln in (folder / "example.env").read_text().splitlines()
                if "=" in ln and not ln.startswith("#")}
    used = set(re.findall(r"\$\{(\w+)", (folder / "compose.yaml").read_text()))
    assert used <= env_keys, used - env_keys

    home = machine(tmp_path, "server")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "trayjobs").write_text(f"#!/bin/sh\nexec {sys.executable} -m trayjobs \"$@\"\n")
    (bin_dir / "trayjobs").chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}",
               TRAYJOBS_HOME=str(home.root), TRAYJOBS_REDIS=redis_server.url(2),
               TRAYJOBS_DATABASE=f"sqlite:///{tmp_path / 'shared.db'}")
    log = open(tmp_path / "entrypoint.log", "wb")
    proc = subprocess.Popen([shutil.which("sh"), str(folder / "entrypoint.sh")], env=env,
                            stdout=log, stderr=log)
    try:
        wait_until(lambda: InstanceLock(home).is_locked() or proc.poll() is not None, 60)
        assert proc.poll() is None, (tmp_path / "entrypoint.log").read_text()
        assert load_config(home.config_file).cluster.redis == redis_server.url(2)
        ran = trayjobs(home, "run", "hello", "--wait", timeout=90)
        assert ran.returncode == 0, ran.stderr
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


def test_join_keeps_the_cluster_settings_the_user_wrote(tmp_path, redis_server):  # noqa: F811
    """`join` (again) writes the URLs and `--host`; the lease and a host written by hand
    stay, with their comments."""
    db = f"sqlite:///{tmp_path / 'shared' / 'runs.db'}"
    first = machine(tmp_path, "nas")
    assert trayjobs(first, "cluster", "init", "--redis", redis_server.url(1),
                    "--database", db).returncode == 0
    laptop = machine(tmp_path, "laptop")
    laptop.config_file.write_text('[cluster]\nlease = "2m"    # the NAS sleeps its disks\n'
                                  'host = "nas"\n\n' + JOBS)
    out = trayjobs(laptop, "cluster", "join", "--redis", redis_server.url(1), "--database", db)
    assert out.returncode == 0, out.stderr
    cfg = load_config(laptop.config_file)
    assert not cfg.errors
    assert (cfg.cluster.lease, cfg.cluster.host, cfg.cluster.database) == (120, "nas", db)
    assert "# the NAS sleeps its disks" in laptop.config_file.read_text()
    # joined again with --host: that one changes, the lease stays
    out = trayjobs(laptop, "cluster", "join", "--redis", redis_server.url(1), "--database", db,
                   "--host", "laptop")
    assert out.returncode == 0, out.stderr
    cfg = load_config(laptop.config_file)
    assert (cfg.cluster.lease, cfg.cluster.host) == (120, "laptop")


def test_status_names_a_queue_that_cannot_be_reached_as_a_problem(tmp_path, redis_server):  # noqa: F811
    db = f"sqlite:///{tmp_path / 'shared' / 'runs.db'}"
    home = machine(tmp_path, "laptop")
    assert trayjobs(home, "cluster", "init", "--redis", redis_server.url(1),
                    "--database", db).returncode == 0
    redis_server.kill()
    out = trayjobs(home, "cluster", "status", "--json")
    assert out.returncode == 1
    data = json.loads(out.stdout)
    assert data["queue"]["state"].startswith("unreachable")
    assert any("Redis server cannot be reached" in p for p in data["problems"]), data
    shown = trayjobs(home, "cluster", "status")
    assert shown.returncode == 1 and "problem: the queue's Redis server" in shown.stderr
    # why is told once, among the problems; the queue's line says only that it is down
    assert "(unreachable)" in shown.stdout and "Connection refused" not in shown.stdout
    assert shown.stderr.count("Connection refused") == 1, shown.stderr


def test_join_changes_nothing_in_a_database_it_refuses(tmp_path, redis_server):  # noqa: F811
    """`join` on a database no `init` prepared leaves it as it was (no tables made there,
    no file created); one that a newer trayjobs changed is refused, naming what to do."""
    import psycopg
    from pg_support import session_server
    server = session_server()
    server.admin("CREATE DATABASE join_refused")
    url = server.url("join_refused")
    home = machine(tmp_path, "laptop")
    try:
        out = trayjobs(home, "cluster", "join", "--redis", redis_server.url(1), "--database", url)
        assert out.returncode != 0 and "cluster init" in out.stderr
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
                                ).fetchone()[0] == 0
        missing = tmp_path / "shared" / "runs.db"
        out = trayjobs(home, "cluster", "join", "--redis", redis_server.url(1),
                       "--database", f"sqlite:///{missing}")
        assert out.returncode != 0 and "cluster init" in out.stderr
        assert not missing.parent.exists()

        nas = machine(tmp_path, "nas")
        assert trayjobs(nas, "cluster", "init", "--redis", redis_server.url(1),
                        "--database", url).returncode == 0
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("INSERT INTO _migrations VALUES ('999_from_a_newer_trayjobs', 0)")
        out = trayjobs(home, "cluster", "join", "--redis", redis_server.url(1), "--database", url)
        assert out.returncode != 0
        assert "newer trayjobs" in out.stderr and "999_from_a_newer_trayjobs" in out.stderr
        assert home.config_file.read_text() == JOBS
    finally:
        server.drop_database(url)


def test_without_a_keyring_a_password_is_refused_before_the_servers_are_touched(
        tmp_path, redis_server):  # noqa: F811
    home = machine(tmp_path, "laptop")
    db = tmp_path / "shared" / "runs.db"
    out = trayjobs(home, "cluster", "init", env={
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        "TRAYJOBS_REDIS": f"redis://:s3cret@127.0.0.1:{redis_server.port}/0",
        "TRAYJOBS_DATABASE": f"sqlite:///{db}"})
    assert out.returncode != 0 and "no system keyring found" in out.stderr
    assert "s3cret" not in out.stdout + out.stderr
    assert not db.exists() and home.config_file.read_text() == JOBS


def test_a_host_name_with_spaces_is_refused_where_it_is_written(tmp_path):
    path = tmp_path / "trayjobs.toml"
    path.write_text('[jobs.a]\nkind = "demo"\nhost = "nas "\n[cluster]\nhost = "my nas"\n')
    errors = [str(e) for e in load_config(path).errors]
    assert any("job 'a', key 'host': 'nas ' is not a host name" in e for e in errors), errors
    assert any("key 'cluster.host': 'my nas' is not a host name" in e for e in errors), errors


@pytest.mark.parametrize("other", ["postgres", "web"])
def test_a_redis_url_where_another_server_listens_says_what_listens(tmp_path, other):
    """A Redis URL with PostgreSQL's port (or a web server's): said as such, by `cluster
    init` and by a worker's queue, rather than "Connection closed by server"."""
    from helpers import WebServer
    from trayjobs.cluster_cli import _ping_redis
    from trayjobs.errors import UserError
    from trayjobs.queue import Queue, QueueUnavailable
    pytest.importorskip("redis")
    web = None
    if other == "web":
        web = WebServer()
        port, what = web.port, "a web server"
    else:
        from pg_support import session_server
        port, what = session_server().port, "a PostgreSQL server"
    url = f"redis://:hush@127.0.0.1:{port}/0"
    try:
        with pytest.raises(UserError) as said:
            _ping_redis(url)
        says = f"the server at 127.0.0.1:{port} does not speak Redis ({what} listens there)"
        assert says in str(said.value) and "hush" not in str(said.value)
        queue = Queue(Home.under(tmp_path / "h"), redis=url)
        try:
            with pytest.raises(QueueUnavailable) as down:
                queue.ping()
        finally:
            queue.close()
        assert says in str(down.value) and says in down.value.advice
    finally:
        if web is not None:
            web.close()


def test_a_password_with_a_slash_after_its_at_or_a_stray_percent_is_refused():
    """"p@ss:w/rd" cut after its "/" looked like a user part with one "@" and went on to the
    driver, whose error (with a traceback) quoted the rest of the password; a "%" that
    starts no escape did the same. Both are refused first, saying what to write."""
    from trayjobs.cluster import check_database_url, check_redis_url
    for url, check in (("postgresql://tj:Qz@ss:w/Qy%x@127.0.0.1:5432/tj", check_database_url),
                       ("postgresql://tj:Qz%40ss%3Aw%2FQy%x@127.0.0.1:5432/tj",
                        check_database_url),
                       ("redis://:Qz@ss/Qy@127.0.0.1:6379/0", check_redis_url),
                       ("redis://:Qz100%@127.0.0.1:6379/0", check_redis_url)):
        with pytest.raises(ValueError) as refused:
            check(url)
        text = str(refused.value)
        assert "Qz" not in text and "Qy" not in text and "***" in text, text
        assert "%25" in text or "%40" in text
    check_database_url("postgresql://tj:p%40ss%3Aw%2Frd%25x@127.0.0.1:5432/tj")


def test_a_redis_database_that_is_not_a_number_is_refused():
    """The Redis client takes "/x" (or a letter O for a zero) as database 0, without a word:
    this machine would share another queue than the machines that wrote the number."""
    from trayjobs.cluster import check_redis_url
    for url in ("redis://:Qz@127.0.0.1:6379/x", "redis://127.0.0.1:6379/O",
                "rediss://nas/1/2"):
        with pytest.raises(ValueError, match="not a database number") as refused:
            check_redis_url(url)
        assert "Qz" not in str(refused.value)
    for url in ("redis://nas", "redis://nas/", "redis://nas:6379/3", "unix:///run/r.sock?db=2"):
        check_redis_url(url)


def test_leave_refuses_while_runs_go_here_that_its_restart_would_interrupt(tmp_path):
    """`leave` said "restart the app or worker": done at once, the runs it was running on
    the shared history ended interrupted there. It removed [cluster] first and named them
    after, in a note read once the restart had done it: now it refuses, saying what to do,
    and `--now` leaves anyway, naming them."""
    from trayjobs.config import load_config as load
    from trayjobs.store.open import open_store
    home = machine(tmp_path, "laptop")
    shared = tmp_path / "shared" / "runs.db"
    shared.parent.mkdir()
    home.config_file.write_text(f'[cluster]\ndatabase = "sqlite:///{shared}"\n\n'
                                '[jobs.slow]\nkind = "command"\ncommand = "sleep 30"\n')
    spec = load(home.config_file).cluster
    worker = start_worker(home)
    try:
        rid = int(trayjobs(home, "run", "slow", check=True).stdout)

        def state():
            store = open_store(home, spec)
            try:
                return store.get_run(rid)["state"]
            finally:
                store.close()
        wait_until(lambda: state() == "running", 30, what="the run running")
        refused = trayjobs(home, "cluster", "leave")
        assert refused.returncode == 1, refused.stderr
        assert f"({rid}) are running here" in refused.stderr, refused.stderr
        assert "cluster leave --now" in refused.stderr and "interrupted" in refused.stderr
        assert "[cluster]" in home.config_file.read_text()  # nothing changed
        out = trayjobs(home, "cluster", "leave", "--now")
        assert out.returncode == 0, out.stderr
        assert f"({rid}) are running here" in out.stdout and "interrupted" in out.stdout
        assert "[cluster]" not in home.config_file.read_text()
    finally:
        worker.terminate()
        worker.wait(30)
    # nothing runs here now: nothing to say
    home.config_file.write_text(f'[cluster]\ndatabase = "sqlite:///{shared}"\n')
    out = trayjobs(home, "cluster", "leave")
    assert out.returncode == 0 and "note:" not in out.stdout


def test_a_secret_that_holds_no_good_url_is_named_once_without_a_traceback(
        tmp_path, monkeypatch, capsys):
    """A secret for [cluster] holding a URL the check refuses raised ValueError: every
    command (`runs`, `worker`) ended with a traceback, and `cluster status` told it twice."""
    import argparse

    from trayjobs.cluster import ClusterSpec, database_url
    from trayjobs.cluster_cli import cmd_cluster
    from trayjobs.errors import UserError
    held = {"db": "postgresql://tj:Qz@ss:w/Qy@127.0.0.1/tj", "q": "postgresql://nas/tj"}
    monkeypatch.setattr("trayjobs.secrets.get_secret", lambda name: held[name])
    spec = ClusterSpec(redis={"secret": "q"}, database={"secret": "db"})
    with pytest.raises(UserError, match="trayjobs secret set db") as refused:
        database_url(spec)
    assert "Qz" not in str(refused.value) and "'db'" in str(refused.value)
    home = machine(tmp_path, "laptop")
    home.config_file.write_text('[cluster]\nredis = {secret = "q"}\n'
                                'database = {secret = "db"}\n')
    rc = cmd_cluster(home, argparse.Namespace(action="status", json=True))
    out = json.loads(capsys.readouterr().out)
    assert rc == 1 and len(out["problems"]) == 2, out["problems"]
    assert "secret set q" in out["problems"][0] and "secret set db" in out["problems"][1]
    assert out["queue"]["url"] == "the secret 'q'" and "Qz" not in json.dumps(out)


def test_the_compose_set_up_does_not_start_with_a_password_from_its_example():
    """example.env held "change-me-redis": copied as it is, both servers listened on the
    network with a password everyone can read. Every password compose requires (`:?`) is
    empty there, so an unedited copy stops compose with what to do."""
    import re
    from pathlib import Path
    folder = Path(__file__).resolve().parents[1] / "packaging" / "cluster"
    example = dict(ln.split("=", 1) for ln in (folder / "example.env").read_text().splitlines()
                   if "=" in ln and not ln.startswith("#"))
    required = dict(re.findall(r"\$\{(\w*PASSWORD\w*):\?([^}]*)\}",
                               (folder / "compose.yaml").read_text()))
    assert set(required) == {"REDIS_PASSWORD", "PG_PASSWORD"}
    for name, told in required.items():
        assert example[name].strip() == "", name
        assert "random password" in told and name in told


def test_the_keyring_of_one_user_keeps_each_homes_cluster_secret(tmp_path, monkeypatch):
    """The keyring is the user's, not the home's: a second home's `init` on another cluster
    overwrote "cluster-database", and the first home's next start used the other cluster's
    history. A jobs file that cannot be written back overwrote it too, then failed."""
    import argparse

    from trayjobs import cluster_cli
    from trayjobs.errors import UserError
    from trayjobs.secrets import UnknownSecret
    kept: dict[str, str] = {}
    monkeypatch.setattr("trayjobs.secrets.set_secret", lambda name, value: kept.update(
        {name: value}))

    def get(name):
        if name not in kept:
            raise UnknownSecret(name)
        return kept[name]
    monkeypatch.setattr("trayjobs.secrets.get_secret", get)
    one, two = "postgresql://tj:Qz1@nas/tj", "postgresql://tj:Qz2@office/tj"
    assert cluster_cli._keep(one, "database") == {"secret": "cluster-database"}
    assert cluster_cli._keep(two, "database") == {"secret": "cluster-database-2"}
    assert cluster_cli._keep(one, "database") == {"secret": "cluster-database"}  # the same
    assert kept == {"cluster-database": one, "cluster-database-2": two}
    # a home updates the secret its [cluster] names (a new password), whatever it holds
    three = "postgresql://tj:Qz3@office/tj"
    assert cluster_cli._keep(three, "database", mine="cluster-database-2") == \
        {"secret": "cluster-database-2"}
    assert kept["cluster-database-2"] == three and kept["cluster-database"] == one
    # Two homes that joined one cluster share its secret: one that joins another cluster
    # takes a name of its own, and the other home stays on its cluster.
    four = "postgresql://tj:Qz5@elsewhere/tj"
    assert cluster_cli._keep(four, "database", mine="cluster-database") == \
        {"secret": "cluster-database-3"}
    assert kept["cluster-database"] == one and kept["cluster-database-3"] == four
    # (while a new password for the same servers goes where both homes read it)
    assert cluster_cli._keep("postgresql://tj:Qz6@nas/tj", "database",
                             mine="cluster-database") == {"secret": "cluster-database"}
    assert kept["cluster-database"] == "postgresql://tj:Qz6@nas/tj"

    broken = machine(tmp_path, "broken")
    broken.config_file.write_text("[jobs.x\n")
    with pytest.raises(UserError, match="not valid TOML"):
        cluster_cli.cmd_cluster(broken, argparse.Namespace(
            action="init", redis="redis://:Qz@127.0.0.1:1/0", host=None,
            database="postgresql://tj:Qz4@127.0.0.1:1/tj"))
    assert "Qz4" not in "".join(kept.values())


def test_status_with_the_history_server_down_answers_within_seconds(tmp_path, monkeypatch):
    """`cluster status` waited the whole store timeout (10 s) for a server that takes no
    connections, where a person asks how things are now."""
    import socket
    import time
    pytest.importorskip("psycopg")
    monkeypatch.delenv("TRAYJOBS_STORE_TIMEOUT", raising=False)
    with socket.socket() as s:  # a port where nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    home = machine(tmp_path, "laptop")
    home.config_file.write_text(
        f'[cluster]\ndatabase = "postgresql://tj:Qz@127.0.0.1:{port}/tj"\n')
    started = time.monotonic()
    out = trayjobs(home, "cluster", "status", env={"TRAYJOBS_STORE_TIMEOUT": ""})
    assert time.monotonic() - started < 8
    assert out.returncode == 1 and "the run history cannot be reached" in out.stderr
    assert "Qz" not in out.stdout + out.stderr


@pytest.mark.parametrize("value, said", [
    ("", "an empty host name"),
    ("  ", "is not a host name"),
    ("my nas", "is not a host name"),
    ("n" * 201, "it has 201 characters, at most 200"),
    ("nas\x1b[2J", "is not a host name"),
    ("nas\u202e", "is not a host name"),
    ("nas*", "is not a host name"),
    ("a/b", "is not a host name"),
])
def test_a_bad_trayjobs_host_stops_every_command_saying_what_to_set(
        home, monkeypatch, capsys, value, said):
    """TRAYJOBS_HOST names this machine in queue keys, the workers' rows and every list of
    them: one no machine can go by is refused as a process starts, before anything is
    written under it."""
    from trayjobs.cli import main
    monkeypatch.setenv("TRAYJOBS_HOST", value)
    assert main(["--home", str(home.root), "jobs"]) == 2
    err = capsys.readouterr().err
    assert "TRAYJOBS_HOST" in err and said in err and "unset it" in err, err
    assert "\x1b" not in err and "\u202e" not in err  # shown escaped, never acted on
    assert len(err) < 400, err


def test_a_good_trayjobs_host_is_taken(home, monkeypatch, capsys):
    from trayjobs.cli import main
    monkeypatch.setenv("TRAYJOBS_HOST", "nas-2.lan_b")
    assert main(["--home", str(home.root), "jobs"]) == 0


@pytest.mark.parametrize("mistake, said", [
    ('databse = "sqlite:///{db}"', "key 'cluster.databse': unknown key; did you mean 'database'?"),
    ('database = "mysql://nas/tj"', "key 'cluster.database': 'mysql://nas/tj' is not a database URL"),
    ('database = "sqlite:///{db}"\nredis = 6379', "key 'cluster.redis': "),
])
def test_a_cluster_whose_servers_cannot_be_told_stops_what_would_use_them(
        tmp_path, mistake, said):
    """A mistake in [cluster] dropped the whole table: the worker started on this machine's
    own history and queue without a word, firing the schedules the cluster's lead fired too,
    and `runs` showed another history."""
    home = machine(tmp_path, "laptop")
    shared = tmp_path / "shared.db"
    home.config_file.write_text(f"[cluster]\n{mistake.format(db=shared)}\n\n" + JOBS)
    for command in (["worker"], ["runs"], ["run", "fast"]):
        out = trayjobs(home, *command, timeout=60)
        assert out.returncode == 2, (command, out.stdout, out.stderr)
        line = 2 + mistake.count("\n")
        assert out.stderr.startswith(f"trayjobs: [cluster] has a mistake (line {line}, ") \
            and said in out.stderr and "remove [cluster]" in out.stderr, out.stderr
    assert not home.runs_db.exists()  # nothing went to this machine's own history
    checked = trayjobs(home, "check")
    assert checked.returncode == 1 and said in checked.stderr, checked.stderr
    assert "Traceback" not in checked.stderr
    left = trayjobs(home, "cluster", "leave")
    assert left.returncode == 0 and "[cluster]" not in home.config_file.read_text()


def test_a_mistake_in_the_lease_or_host_keeps_the_servers(tmp_path):
    from trayjobs.cluster import DEFAULT_LEASE, clustered, database_url
    path = tmp_path / "trayjobs.toml"
    path.write_text('[cluster]\ndatabase = "sqlite:////srv/runs.db"\nlease = "soon"\n'
                    'host = "my nas"\n')
    cfg = load_config(path)
    assert len(cfg.errors) == 2
    assert database_url(cfg.cluster) == "sqlite:////srv/runs.db" and clustered(cfg.cluster)
    assert cfg.cluster.lease == DEFAULT_LEASE and cfg.cluster.host is None


def test_status_names_a_host_name_two_machines_go_by(tmp_path, capsys):
    """Two clones of one image both called "localhost" (or TRAYJOBS_HOST=nas set on both)
    share a job's host: its runs went to either machine, and status said nothing."""
    import argparse

    from trayjobs.cluster_cli import cmd_cluster
    from trayjobs.store.open import open_store
    home = machine(tmp_path, "laptop")
    home.config_file.write_text(f'[cluster]\ndatabase = "sqlite:///{tmp_path / "runs.db"}"\n')
    store = open_store(home, load_config(home.config_file).cluster)
    try:
        for ident in ("aaaa:4026531836:b1", "bbbb:4026531836:b2", "aaaa:4026531836:b1"):
            store.register_worker(host="nas", pid=1, version="1", mode="worker", lease=600,
                                  machine=f"{ident}:nas")
        store.register_worker(host="desk", pid=1, version="1", mode="worker", lease=600,
                              machine="cccc:4026531836:b3:desk")
    finally:
        store.close()
    cmd_cluster(home, argparse.Namespace(action="status", json=True))
    problems = json.loads(capsys.readouterr().out)["problems"]
    assert [p for p in problems if "host name" in p] == [
        "2 machines go by the host name 'nas': runs of jobs with host = 'nas' go to either; "
        "give each its own name ([cluster] host, or TRAYJOBS_HOST)"], problems


def test_a_worker_that_left_is_shown_leaving_not_without_a_queue(tmp_path, capsys):
    """A worker whose machine ran `cluster leave` (it beats until its restart) read "no
    queue", and status named it a problem: "check [cluster] redis on that machine", which
    has nothing to do with it. It reads "leaving", and is no problem."""
    import argparse

    from trayjobs.cli_views import cmd_workers
    from trayjobs.cluster_cli import cmd_cluster
    from trayjobs.engine.lease import LEFT
    from trayjobs.store.open import open_store
    home = machine(tmp_path, "laptop")
    home.config_file.write_text(f'[cluster]\ndatabase = "sqlite:///{tmp_path / "runs.db"}"\n')
    store = open_store(home, load_config(home.config_file).cluster)
    try:
        gone = store.register_worker(host="pi", pid=1, version="1", mode="worker", lease=600,
                                     machine="cccc:4026531836:b3:pi")
        store.set_worker_problem(gone, LEFT)
        down = store.register_worker(host="nas", pid=1, version="1", mode="worker",
                                     lease=600, machine="dddd:4026531836:b4:nas")
        store.set_worker_problem(down, "cannot reach its queue at redis://nas:6379/0 (refused)")
    finally:
        store.close()
    assert cmd_cluster(home, argparse.Namespace(action="status", json=True)) == 1
    data = json.loads(capsys.readouterr().out)
    assert {w["host"]: w["state"] for w in data["workers"]} == {"pi": "leaving",
                                                                 "nas": "no queue"}
    assert len(data["problems"]) == 1 and "nas" in data["problems"][0], data["problems"]
    cmd_workers(home, argparse.Namespace(all=False, json=False))
    shown = capsys.readouterr()
    assert "leaving" in shown.out
    assert ("worker 1 on pi has left the cluster (a restart completes it): it finishes the "
            "runs it runs and takes no new one") in shown.err


def test_a_run_pinned_to_another_host_waits_for_it_rather_than_run_here(
        tmp_path, redis_server):  # noqa: F811
    """With no worker running anywhere, `trayjobs run` of a job with host = "nas" typed on
    the laptop ran it on the laptop, where its files are not. It waits for a worker on
    the nas, and says so (`run`, `run --wait`, `show`); on the nas itself it runs here."""
    db = f"sqlite:///{tmp_path / 'shared' / 'runs.db'}"
    laptop = machine(tmp_path, "laptop")
    laptop.config_file.write_text(JOBS + '\n[jobs.photos]\nkind = "command"\n'
                                         'command = "echo sorted"\nhost = "nas"\n')
    assert trayjobs(laptop, "cluster", "init", "--redis", redis_server.url(),
                    "--database", db).returncode == 0
    here = {"TRAYJOBS_HOST": "laptop"}
    out = trayjobs(laptop, "run", "photos", env=here)
    assert out.returncode == 0, out.stderr
    rid = out.stdout.strip()
    assert (f"run {rid} waits for a worker on nas: none is running there; it starts when "
            f"one does") in out.stderr
    shown = trayjobs(laptop, "show", rid, env=here)
    assert "· queued" in shown.stdout, shown.stdout
    assert "waiting:  waits for a worker on nas: none is running there" in shown.stdout
    try:
        trayjobs(laptop, "run", "photos", "--wait", env=here, timeout=4)
    except Exception as exc:  # still waiting for the nas: the wait goes on
        assert "waits for a worker on nas: none is running there" in str(exc.stderr)
    else:
        raise AssertionError("`run --wait` ended while no worker ran on the nas")
    on_nas = trayjobs(laptop, "run", "photos", env={"TRAYJOBS_HOST": "nas"})
    assert on_nas.returncode == 0 and "succeeded: sorted" in on_nas.stderr, on_nas.stderr


def test_a_foreground_run_with_redis_down_runs_here_without_saying_it_waits(
        tmp_path, redis_server):  # noqa: F811
    """With the queue's Redis down and no worker, `trayjobs run` of a parallel job said
    "run 1 waits for the dispatchers: the queue's Redis server ... cannot be reached",
    then ran it here: it runs here, and says only that."""
    db = f"sqlite:///{tmp_path / 'shared' / 'runs.db'}"
    laptop = machine(tmp_path, "laptop")
    laptop.config_file.write_text(JOBS + 'overlap = "parallel"\n')
    assert trayjobs(laptop, "cluster", "init", "--redis", redis_server.url(),
                    "--database", db).returncode == 0
    redis_server.kill()
    out = trayjobs(laptop, "run", "hello")
    assert out.returncode == 0, out.stderr
    assert "so the run happens here" in out.stderr and "succeeded: hello" in out.stderr
    assert "waits for the dispatchers" not in out.stderr, out.stderr
    # Nor that the others hear of it later and that runs wait in the history; and what
    # lacks is a worker of the cluster that can take it, not one of this home.
    assert "hear of this" not in out.stderr and "wait in the history" not in out.stderr, \
        out.stderr
    assert ("No worker of the cluster can take the run now (none runs, or none reaches "
            "the queue), so the run happens here.") in out.stderr, out.stderr


def test_a_database_url_without_a_database_is_refused_by_init_and_join(
        tmp_path, redis_server):  # noqa: F811
    """`init` with postgresql://USER@HOST (the /DB forgotten) made the tables in the
    user's own database (`postgres`'s), and `join` with the right URL then said no `init`
    prepared it. Both refuse such a URL, saying where the database goes."""
    from pg_support import session_server
    server = session_server()
    home = machine(tmp_path, "laptop")
    no_db = server.url().rsplit("/", 1)[0]  # postgresql://postgres@127.0.0.1:PORT
    for action in ("init", "join"):
        out = trayjobs(home, "cluster", action, "--redis", redis_server.url(),
                       "--database", no_db)
        assert out.returncode != 0
        assert (f"{no_db!r} names no database: write it after the host, "
                f"postgresql://USER@HOST/DB") in out.stderr, out.stderr
        assert out.stdout == ""  # refused before any server is asked
    assert home.config_file.read_text() == JOBS
    ok = trayjobs(home, "cluster", "init", "--redis", redis_server.url(),
                  "--database", no_db + "?dbname=nowhere")
    assert "names no database" not in ok.stderr


def test_status_leaves_out_the_foreground_runs_that_ended(tmp_path):
    """Each `trayjobs run` in the foreground is a worker while it runs: status listed every
    one of the last day, stopped, around the few workers that matter."""
    home = machine(tmp_path, "laptop")
    db = f"sqlite:///{tmp_path / 'shared' / 'runs.db'}"
    (tmp_path / "shared").mkdir()
    home.config_file.write_text(JOBS + f'\n[cluster]\ndatabase = "{db}"\n')
    for _ in range(3):
        assert trayjobs(home, "run", "hello").returncode == 0
    data = json.loads(trayjobs(home, "cluster", "status", "--json").stdout)
    assert [w["mode"] for w in data["workers"]] == ["cli"] * 3  # all kept in the JSON
    shown = trayjobs(home, "cluster", "status")
    assert " cli " not in shown.stdout and "LAST HEARTBEAT" not in shown.stdout, shown.stdout
    assert ("(and 3 foreground `trayjobs run` that ended in the last day: `trayjobs "
            "workers` lists them)") in shown.stdout


def test_init_prints_a_join_that_keeps_the_passwords_out_of_the_command_line(
        tmp_path, redis_server, secret_service):  # noqa: F811
    """init printed `trayjobs cluster join --redis 'redis://:***@...'` "with the passwords
    in place of ***": on the command line, which the README advises against (the process
    list, the shell's history). It prints the README's way, which works as printed."""
    import os
    import subprocess
    import sys
    redis_server.client().config_set("requirepass", "s3cret")
    db = f"sqlite:///{tmp_path / 'shared' / 'runs.db'}"
    (tmp_path / "shared").mkdir()
    nas, laptop = machine(tmp_path, "nas"), machine(tmp_path, "laptop")
    url = redis_server.url().replace("redis://", "redis://:s3cret@")
    out = trayjobs(nas, "cluster", "init", env={"TRAYJOBS_REDIS": url,
                                                "TRAYJOBS_DATABASE": db})
    assert out.returncode == 0, out.stderr
    assert "s3cret" not in out.stdout and "--redis" not in out.stdout, out.stdout
    hint = out.stdout.split("on every other machine, run:\n", 1)[1].splitlines()[:2]
    assert hint[0] == "  read -rs -p 'Redis password: ' RP; echo"
    assert hint[1] == (f'  TRAYJOBS_REDIS="redis://:$RP@127.0.0.1:{redis_server.port}/0" '
                       f"TRAYJOBS_DATABASE='{db}' trayjobs cluster join")
    script = "\n".join(hint).replace("trayjobs cluster join",
                                     f"{sys.executable} -m trayjobs cluster join")
    done = subprocess.run(["bash", "-c", script], input="s3cret\n", capture_output=True,
                          text=True, timeout=60,
                          env=dict(os.environ, TRAYJOBS_HOME=str(laptop.root)))
    assert done.returncode == 0, done.stderr
    assert load_config(laptop.config_file).cluster.redis.secret == "cluster-redis"


def test_show_says_which_machine_ran_a_run(tmp_path):
    """Several machines share one history: `show` did not say where a run ran (the
    window's Activity has a Host column), so a failure could not be looked into there."""
    home = machine(tmp_path, "laptop")
    (tmp_path / "shared").mkdir()
    db = f"sqlite:///{tmp_path / 'shared' / 'runs.db'}"
    home.config_file.write_text(JOBS + f'\n[cluster]\ndatabase = "{db}"\n')
    ran = trayjobs(home, "run", "hello", env={"TRAYJOBS_HOST": "desk"})
    assert ran.returncode == 0, ran.stderr
    shown = trayjobs(home, "show", ran.stdout.strip())
    assert shown.returncode == 0, shown.stderr
    assert "  ran on:   desk (cli, pid " in shown.stdout, shown.stdout
    alone = machine(tmp_path, "alone")  # one machine: nothing to tell apart
    ran = trayjobs(alone, "run", "hello")
    assert "ran on" not in trayjobs(alone, "show", ran.stdout.strip()).stdout



def test_join_notes_the_runs_left_behind_only_when_there_are_some(tmp_path,
                                                                  redis_server):  # noqa: F811
    """Any command makes this machine's runs.db: `join` then said that the runs recorded
    before stayed there, on a machine that had recorded none."""
    (tmp_path / "shared").mkdir()
    db = f"sqlite:///{tmp_path / 'shared' / 'runs.db'}"
    nas, laptop, desk = (machine(tmp_path, n) for n in ("nas", "laptop", "desk"))
    assert trayjobs(nas, "cluster", "init", "--database", db,
                    "--redis", redis_server.url()).returncode == 0
    assert trayjobs(laptop, "jobs").returncode == 0 and laptop.runs_db.exists()
    joined = trayjobs(laptop, "cluster", "join", "--database", db, "--redis",
                      redis_server.url())
    assert joined.returncode == 0 and "note:" not in joined.stdout, joined.stdout
    assert trayjobs(desk, "run", "hello").returncode == 0
    joined = trayjobs(desk, "cluster", "join", "--database", db, "--redis", redis_server.url())
    assert joined.returncode == 0
    assert f"note: the runs this machine recorded before stay in {desk.runs_db}" \
        in joined.stdout


def test_status_without_a_keyring_says_so_once(tmp_path):
    """Both [cluster] URLs kept as secrets and no keyring (a server without a desktop):
    status said "no system keyring found: install ..." twice, once per secret."""
    home = machine(tmp_path, "nas")
    home.config_file.write_text(JOBS + '\n[cluster]\nredis = { secret = "cluster-redis" }\n'
                                'database = { secret = "cluster-database" }\n')
    out = trayjobs(home, "cluster", "status",
                   env={"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"})
    assert out.returncode == 1
    assert out.stderr.count("no system keyring found") == 1, out.stderr
    assert "the secret 'cluster-redis'" in out.stdout
    assert "the secret 'cluster-database'" in out.stdout


def test_a_cluster_secret_missing_from_the_keyring_says_to_join_again(tmp_path,
                                                                      secret_service):  # noqa: F811
    """The keyring lost the secret that holds [cluster]'s URL (another keyring, a new user
    account): every command said to store it with `trayjobs secret set`, which leaves a
    person to find the URL and its password by hand; joining again stores it, checked."""
    home = machine(tmp_path, "laptop")
    home.config_file.write_text(JOBS + '\n[cluster]\ndatabase = { secret = "cluster-database" }\n')
    out = trayjobs(home, "runs")
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert "there is no secret 'cluster-database'" in out.stderr, out.stderr
    assert "trayjobs cluster join" in out.stderr and "secret set cluster-database" in out.stderr
