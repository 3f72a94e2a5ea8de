"""``[cluster] database`` decides where every process of a home keeps its run history:
the home's own ``runs.db`` by default, or a database the homes share."""

from __future__ import annotations

from textwrap import dedent

import pytest

from helpers import WebServer, trayjobs
from redis_support import redis_server  # noqa: F401  (a fixture)
from trayjobs.cluster import ClusterSpec
from trayjobs.config import load_config
from trayjobs.paths import Home
from trayjobs.store.open import open_store, store_exists


def shared_config(home: Home, db) -> None:
    home.ensure()
    home.config_file.write_text(dedent(f"""
        [cluster]
        database = "{db if str(db).startswith('postgresql:') else f'sqlite:///{db}'}"
        [jobs.hello]
        kind = "command"
        command = "echo hello"
    """))


def test_the_default_is_the_homes_own_file(tmp_path):
    home = Home.under(tmp_path / "h").ensure()
    assert not store_exists(home, ClusterSpec())
    store = open_store(home, ClusterSpec())
    try:
        assert store.path == home.runs_db
    finally:
        store.close()


def test_two_homes_sharing_a_database_see_one_history(tmp_path):
    db = tmp_path / "shared" / "runs.db"
    a, b = Home.under(tmp_path / "a"), Home.under(tmp_path / "b")
    shared_config(a, db)
    shared_config(b, db)
    done = trayjobs(a, "run", "hello", "--wait", timeout=90)
    assert done.returncode == 0, done.stderr
    assert db.exists() and not a.runs_db.exists()
    listed = trayjobs(b, "runs", "--json")
    assert listed.returncode == 0, listed.stderr
    assert '"job": "hello"' in listed.stdout and '"state": "succeeded"' in listed.stdout


def test_two_homes_on_one_postgresql_database_see_one_history(tmp_path, monkeypatch):
    from pg_support import session_server
    monkeypatch.delenv("TRAYJOBS_TEST_DATABASE", raising=False)
    server = session_server()
    url = server.new_database()
    try:
        a, b = Home.under(tmp_path / "a"), Home.under(tmp_path / "b")
        shared_config(a, url)
        shared_config(b, url)
        cluster = load_config(a.config_file).cluster
        store = open_store(a, cluster)
        assert type(store).__name__ == "PgRunStore" and store_exists(a, cluster)
        store.close()
        done = trayjobs(a, "run", "hello", "--wait", timeout=90)
        assert done.returncode == 0, done.stderr
        assert not a.runs_db.exists()
        listed = trayjobs(b, "runs", "--json")
        assert listed.returncode == 0, listed.stderr
        assert '"job": "hello"' in listed.stdout and '"state": "succeeded"' in listed.stdout
    finally:
        server.drop_database(url)


def test_a_postgresql_server_that_is_not_there_is_named(tmp_path, monkeypatch):
    from pg_support import _free_port, skip_reason
    if skip_reason():
        pytest.skip(skip_reason())
    monkeypatch.delenv("TRAYJOBS_TEST_DATABASE", raising=False)
    home = Home.under(tmp_path / "h")
    shared_config(home, f"postgresql://trayjobs:hush@127.0.0.1:{_free_port()}/runs")
    out = trayjobs(home, "runs", timeout=90, env={"TRAYJOBS_STORE_TIMEOUT": "1"})
    assert out.returncode != 0
    assert "cannot be reached" in out.stderr and "hush" not in out.stderr, out.stderr


def test_a_command_says_it_waits_for_the_history_server(tmp_path, monkeypatch):
    # Not silent for the whole timeout (10 s by default) while the server is down: after
    # a second, the command says what it waits for and for how long at most.
    from pg_support import _free_port, skip_reason
    if skip_reason():
        pytest.skip(skip_reason())
    monkeypatch.delenv("TRAYJOBS_TEST_DATABASE", raising=False)
    home = Home.under(tmp_path / "h")
    port = _free_port()
    shared_config(home, f"postgresql://trayjobs:hush@127.0.0.1:{port}/runs")
    out = trayjobs(home, "runs", timeout=90, env={"TRAYJOBS_STORE_TIMEOUT": "3"})
    assert out.returncode != 0
    first, *rest = out.stderr.splitlines()
    assert first == (f"trayjobs: waiting for the run history's PostgreSQL server at "
                     f"127.0.0.1:{port} (for up to 3 s)..."), out.stderr
    assert "cannot be reached" in out.stderr and out.stderr.count("waiting for") == 1


@pytest.mark.parametrize("url, says", [
    ("mysql://host/db", "is not a database URL"),
    ("sqlite:///relative/runs.db", "names no file"),
])
def test_a_bad_database_url_is_named(tmp_path, url, says):
    home = Home.under(tmp_path / "h").ensure()
    home.config_file.write_text(f'[cluster]\ndatabase = "{url}"\n')
    cfg = load_config(home.config_file)
    assert any(says in str(e) and "cluster.database" in str(e) for e in cfg.errors), cfg.errors


@pytest.mark.parametrize("other", ["web", "redis"])
def test_a_database_url_where_another_server_listens_fails_at_once(tmp_path, monkeypatch,
                                                                   request, other):
    """Not after the whole timeout: the command says the server there does not speak
    PostgreSQL, naming it without the password; a worker does not start on it either."""
    import time
    from pg_support import skip_reason
    if skip_reason():
        pytest.skip(skip_reason())
    monkeypatch.delenv("TRAYJOBS_TEST_DATABASE", raising=False)
    web = None
    if other == "web":
        web = WebServer()
        port = web.port
    else:
        port = request.getfixturevalue("redis_server").port
    try:
        home = Home.under(tmp_path / "h")
        shared_config(home, f"postgresql://trayjobs:hush@127.0.0.1:{port}/runs")
        for args in (("runs",), ("worker",)):
            started = time.monotonic()
            out = trayjobs(home, *args, timeout=90)
            took = time.monotonic() - started
            assert out.returncode != 0, out.stderr
            assert f"127.0.0.1:{port} does not speak PostgreSQL" in out.stderr, out.stderr
            assert "hush" not in out.stderr and "[cluster] database" in out.stderr
            assert ("a Redis server" if other == "redis" else "a web server") in out.stderr
            assert took < 6, (args, took)
    finally:
        if web is not None:
            web.close()


def test_a_user_that_may_not_create_the_tables_is_told_how_to_give_it_the_right(monkeypatch):
    """PostgreSQL 15 and later: a database made by `postgres`, a user made by createuser,
    and the public schema takes that user's tables no more: `cluster init` (and a worker)
    ended with psycopg's traceback."""
    import os

    from pg_support import session_server
    from trayjobs.errors import StoreBusy
    from trayjobs.store.postgres import PgRunStore
    server = session_server()
    name = f"noright{os.getpid()}"
    server.admin(f"CREATE ROLE {name} LOGIN")
    server.admin(f"CREATE DATABASE {name}")
    url = server.url(name).replace("postgres@", f"{name}@")
    try:
        with psycopg_conn(server.url(name)) as conn:  # as PostgreSQL 15 makes it
            conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        with pytest.raises(StoreBusy) as refused:
            PgRunStore(url).close()
        said = str(refused.value)
        assert "permission denied" in said and f'OWNER TO "{name}"' in said
        server.admin(f'ALTER DATABASE "{name}" OWNER TO "{name}"')
        PgRunStore(url).close()  # and then it works
        # another machine's user, not the one whose tables they are
        server.admin(f"CREATE ROLE {name}x LOGIN")
        with pytest.raises(StoreBusy, match="the user .* that `trayjobs cluster init` used"):
            PgRunStore(url.replace(f"{name}@", f"{name}x@")).close()
    finally:
        server.drop_database(server.url(name))
        server.admin(f"DROP ROLE IF EXISTS {name}")
        server.admin(f"DROP ROLE IF EXISTS {name}x")


def psycopg_conn(url: str):
    import psycopg
    return psycopg.connect(url, autocommit=True)


def test_a_database_url_with_a_setting_postgresql_does_not_take_fails_at_once(monkeypatch):
    """An unknown parameter ended with psycopg's traceback; a bad value (sslmode=requir)
    waited the whole timeout and said to start the server; a port past 65535 the same."""
    import time

    from pg_support import session_server
    from trayjobs.cluster import check_database_url, check_redis_url
    from trayjobs.errors import StoreBusy
    from trayjobs.store.postgres import PgRunStore
    url = session_server().url()
    for bad, says in ((f"{url}?foo=bar", "is not a URL PostgreSQL takes"),
                      (f"{url}?sslmode=requir", 'invalid sslmode value: "requir"')):
        started = time.monotonic()
        with pytest.raises(StoreBusy, match=says):
            PgRunStore(bad, timeout=10).close()
        assert time.monotonic() - started < 5
    for check, bad in ((check_database_url, "postgresql://tj:Qz@nas:99999/tj"),
                       (check_redis_url, "redis://:Qz@nas:70000/0")):
        with pytest.raises(ValueError, match="1 to 65535") as refused:
            check(bad)
        assert "Qz" not in str(refused.value)


def test_a_database_or_user_that_is_not_there_is_told_how_to_create_it():
    """"database "x" does not exist. Check the user, password and database name": the
    command that makes it was left for the user to find."""
    from pg_support import session_server
    from trayjobs.errors import StoreBusy
    from trayjobs.store.postgres import PgRunStore
    server = session_server()
    with pytest.raises(StoreBusy, match=r"createdb -O postgres nosuchdb"):
        PgRunStore(server.url("nosuchdb")).close()
    with pytest.raises(StoreBusy, match=r"createuser -P nosuchuser"):
        PgRunStore(server.url().replace("postgres@", "nosuchuser@")).close()
