"""Secrets: stored in a real Secret Service (GNOME Keyring on a private bus), read by the
job process at run time, masked in everything a run sends back."""

from __future__ import annotations

import contextlib
import gc
import json
import warnings
from pathlib import Path

import pytest

from helpers import trayjobs
from keyring_support import (private_bus, secret_service,  # noqa: F401 (fixtures)
                              secret_service_without_keyring)
from trayjobs import secrets
from trayjobs.engine.child import _Pipe
from trayjobs.engine.wire import decode_all
from trayjobs.kinds.command import CommandKind

VALUE = "tok-3f9a1c7e-very-secret"


def stored_in_the_service(name: str) -> str | None:
    """What the Secret Service itself holds for ``name``, read past our code."""
    import secretstorage

    conn = secretstorage.dbus_init()
    try:
        items = secretstorage.get_default_collection(conn).search_items(
            {"service": secrets.SERVICE, "username": name})
        return next((i.get_secret().decode() for i in items), None)
    finally:
        conn.close()


def files_holding(folder: Path, text: str) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and text.encode() in p.read_bytes()]


@pytest.fixture(autouse=True)
def _no_secret_left_revealed():
    yield
    secrets.forget_revealed()


# -- the command line, against the real keyring ---------------------------------------------

def test_set_list_delete_on_the_command_line(home, secret_service):
    out = trayjobs(home, "secret", "set", "nas-token", input=VALUE + "\n")
    assert out.returncode == 0, out.stderr
    assert "stored the secret 'nas-token'" in out.stdout and VALUE not in out.stdout
    assert trayjobs(home, "secret", "set", "mail", input="other-value").returncode == 0
    assert stored_in_the_service("nas-token") == VALUE  # the piped newline is not part of it

    out = trayjobs(home, "secret", "list")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["mail", "nas-token"]
    assert VALUE not in out.stdout + out.stderr
    assert files_holding(home.root, VALUE) == []  # the value is in the keyring alone

    # Setting again replaces the value, and lists the name once.
    assert trayjobs(home, "secret", "set", "nas-token", input="newer-value").returncode == 0
    assert stored_in_the_service("nas-token") == "newer-value"
    assert trayjobs(home, "secret", "list").stdout.split() == ["mail", "nas-token"]

    out = trayjobs(home, "secret", "delete", "nas-token")
    assert out.returncode == 0, out.stderr
    assert stored_in_the_service("nas-token") is None
    assert trayjobs(home, "secret", "list").stdout.split() == ["mail"]
    out = trayjobs(home, "secret", "delete", "nas-token")
    assert out.returncode != 0
    assert "there is no secret 'nas-token'" in out.stderr
    assert "trayjobs secret set nas-token" in out.stderr


def test_a_value_is_never_taken_from_the_command_line(home, secret_service):
    out = trayjobs(home, "secret", "set", "nas-token", VALUE)
    assert out.returncode == 2 and "unrecognized arguments" in out.stderr
    assert stored_in_the_service("nas-token") is None
    out = trayjobs(home, "secret", "set", "nas-token", input="")
    assert out.returncode != 0 and "empty" in out.stderr
    out = trayjobs(home, "secret", "set", ":names", input=VALUE)
    assert out.returncode != 0 and "cannot name a secret" in out.stderr


def test_list_with_nothing_stored(home, secret_service):
    out = trayjobs(home, "secret", "list")
    assert out.returncode == 0 and "no secrets stored yet" in out.stdout


# -- at run time ---------------------------------------------------------------------------

def test_a_command_gets_the_value_and_its_log_error_and_progress_show_stars(
        make_engine, secret_service, tmp_path, home):
    secrets.set_secret("nas-token", VALUE)
    got = tmp_path / "got"
    eng = make_engine(f"""
        [jobs.cmd]
        kind = "command"
        command = '''printf %s "$TOKEN" > '{got}'; echo "token is $TOKEN"; echo "PROGRESS 1/2 with $TOKEN"; echo "bad $TOKEN" >&2; exit 3'''
        env = {{ TOKEN = {{ secret = "nas-token" }}, PLAIN = "x" }}
        retry = {{ attempts = 1 }}
    """)
    rid = eng.submit("cmd")
    run = eng.watcher.wait(rid)
    assert got.read_text() == VALUE  # the program had the real value
    assert run["state"] == "failed"
    assert run["error"] == "exit code 3: bad ***"
    assert run["progress_message"] == "with ***"
    logs = [(l["level"], l["message"]) for l in eng.store.logs(rid)]
    assert ("info", "token is ***") in logs and ("warning", "bad ***") in logs
    shown = trayjobs(home, "show", str(rid), "--json").stdout
    assert "***" in shown and VALUE not in shown
    assert files_holding(home.root, VALUE) == []  # nor in the database, its WAL, the logs


def test_a_python_function_reads_a_secret_masked_in_its_prints_and_result(
        make_engine, secret_service, tmp_path):
    secrets.set_secret("api", "short")  # one secret read by the run, another one not
    secrets.set_secret("unused", "never-read-so-not-masked")
    script = tmp_path / "job.py"
    script.write_text(
        "def main(ctx):\n"
        "    key = ctx.secret('api')\n"
        "    print('the key is', key)\n"
        "    ctx.log('never-read-so-not-masked')\n"
        "    return {'summary': f'used {key}', 'detail': [{'k': key}]}\n")
    eng = make_engine(f"""
        [jobs.py]
        kind = "python"
        file = "{script}"
    """)
    run = eng.watcher.wait(eng.submit("py"))
    assert run["state"] == "succeeded", run
    assert run["result"]["summary"] == "used ***"
    assert run["result"]["detail"] == [{"k": "***"}]
    assert [l["message"] for l in eng.store.logs(run["id"])] == [
        "the key is ***", "never-read-so-not-masked"]


def test_an_unknown_secret_fails_the_run_at_once_saying_how_to_fix_it(make_engine, secret_service):
    eng = make_engine("""
        [jobs.cmd]
        kind = "command"
        command = ["true"]
        env = { TOKEN = { secret = "nas-token" } }
        retry = { attempts = 3, backoff = "1s" }
    """)
    run = eng.watcher.wait(eng.submit("cmd"))
    assert run["state"] == "failed" and run["attempt"] == 1  # no retry can help
    assert run["error"] == ("job 'cmd', key 'env.TOKEN': secret 'nas-token': there is no secret "
                            "'nas-token' in the system keyring; store it with "
                            "`trayjobs secret set nas-token`")


def test_check_reports_unknown_secrets_as_errors_of_their_jobs(home, secret_service):
    secrets.set_secret("known", VALUE)
    home.config_file.write_text(
        '[jobs.good]\nkind = "command"\ncommand = ["true"]\nenv = { A = { secret = "known" } }\n'
        '[jobs.bad]\nkind = "command"\ncommand = ["true"]\n'
        'env = { A = "x", B = { secret = "nope" } }\n')
    out = trayjobs(home, "check")
    assert out.returncode == 1, out.stderr
    assert "1 job OK, 1 error" in out.stdout
    assert ("job 'bad', key 'env.B': there is no secret 'nope' in the system keyring; store it "
            "with `trayjobs secret set nope`") in out.stderr
    assert "trayjobs.toml:8" in out.stderr  # the line of env
    assert "not checked" not in out.stderr


def test_a_name_no_secret_can_have_is_an_error_of_its_job_alone(home, private_bus):
    # ':names' (the keyring's own list of names) and a name over 200 characters once ended
    # trayjobs check as a whole, with no word of which job named them, nor of the others.
    home.config_file.write_text(
        '[jobs.list]\nkind = "command"\ncommand = ["true"]\nenv = { A = { secret = ":names" } }\n'
        f'[jobs.long]\nkind = "command"\ncommand = ["true"]\nenv = {{ A = {{ secret = "{"x" * 201}" }} }}\n'
        '[jobs.fine]\nkind = "command"\ncommand = ["true"]\n')
    out = trayjobs(home, "check")
    assert out.returncode == 1, out.stderr
    assert "1 job OK, 2 errors" in out.stdout, out.stdout
    assert ("job 'list', key 'env.A.secret': ':names' cannot name a secret: use up to 200 "
            "printable characters that do not start with ':'") in out.stderr
    assert "job 'long', key 'env.A.secret': 'xxx" in out.stderr


def test_a_secret_where_none_is_taken_says_where_one_goes(home):
    # "write text in quotes" was all that was said of a secret in a command's arguments.
    home.config_file.write_text(
        '[jobs.arg]\nkind = "command"\ncommand = ["curl", { secret = "tok" }]\n'
        '[jobs.param]\nkind = "python"\ncall = "os:getcwd"\nparams = { token = { secret = "tok" } }\n')
    out = trayjobs(home, "check")
    assert out.returncode == 1
    where = ('a secret is given as an environment variable of a command job, env = { NAME = '
             '{ secret = "tok" } }, or read by a python function with ctx.secret("tok")')
    assert f"job 'arg', key 'command.1': write text in quotes; {where}" in out.stderr, out.stderr
    assert f"job 'param', key 'params': parameter 'token': give its default as text, a number, " \
           f"true or false (got {{ secret = 'tok' }}); {where}" in out.stderr, out.stderr


# -- without a keyring -----------------------------------------------------------------------

NO_KEYRING = "no system keyring found: install and unlock GNOME Keyring or KWallet"


def test_without_a_keyring_the_command_line_says_what_to_do(home, private_bus):
    for args in (["set", "x"], ["list"], ["delete", "x"]):
        out = trayjobs(home, "secret", *args, input=VALUE)
        assert out.returncode != 0
        assert NO_KEYRING in out.stderr, out.stderr
        assert "PYTHON_KEYRING_BACKEND=keyrings.alt.file.PlaintextKeyring" in out.stderr
        assert "Traceback" not in out.stderr


def test_without_a_keyring_a_run_fails_naming_job_and_key_and_check_says_so_once(
        make_engine, home, private_bus):
    eng = make_engine("""
        [jobs.cmd]
        kind = "command"
        command = ["true"]
        env = { A = { secret = "one" }, B = { secret = "two" } }
    """)  # loading needs no keyring: secrets are read when a run starts
    assert eng.config.errors == []
    run = eng.watcher.wait(eng.submit("cmd"))
    assert run["state"] == "failed"
    assert run["error"].startswith(f"job 'cmd', key 'env.A': secret 'one': {NO_KEYRING}")
    out = trayjobs(home, "check")
    assert out.returncode == 0, out.stderr  # nothing known to be wrong
    assert out.stderr.count("note: secrets were not checked: no system keyring found") == 1


def test_a_keyring_named_but_not_installed_is_said_plainly(home, private_bus):
    out = trayjobs(home, "secret", "list",
                   env={"PYTHON_KEYRING_BACKEND": "keyrings.nowhere.file.PlaintextKeyring"})
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert "the keyring keyrings.nowhere.file.PlaintextKeyring cannot be loaded" in out.stderr


def test_a_keyring_started_after_the_process_looked_is_found(request, private_bus):
    import keyring
    with contextlib.suppress(KeyError):  # KeyError: this process has not looked yet
        keyring.backend.get_all_keyring.reset()
    keyring.core.init_backend()  # a process that looked first, with no keyring there
    with pytest.raises(secrets.NoKeyring):
        secrets.list_names()
    request.getfixturevalue("secret_service")  # the keyring starts (a login, say)
    secrets.set_secret("later", VALUE)
    assert secrets.list_names() == ["later"]
    assert secrets.get_secret("later") == VALUE


def test_a_secret_service_with_no_keyring_in_it_says_how_to_make_one(
        secret_service_without_keyring):
    # A desktop would ask for a password to create the "Login" keyring; with no one to ask
    # (no desktop session yet, a server), the prompt is dismissed at once.
    import keyring
    with contextlib.suppress(KeyError):  # KeyError: this process has not looked yet
        keyring.backend.get_all_keyring.reset()
    keyring.core.init_backend()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)  # keyring's unclosed connection
        with pytest.raises(secrets.SecretError) as err:
            secrets.set_secret("first", VALUE)
        text = str(err.value)
        # The error holds keyring's frames and so its connection: let go, collected here,
        # not in whichever test runs the collector next.
        del err
        gc.collect()
    assert text.startswith("the system keyring has no keyring to keep secrets in yet")
    assert "gnome-keyring-daemon --replace --unlock --components=secrets" in text
    assert ".." not in text


def test_a_keyring_that_stops_after_first_use_is_said_plainly(secret_service):
    secrets.set_secret("early", VALUE)  # the process has chosen the Secret Service
    secret_service.terminate()  # the keyring daemon stops; the app keeps running
    secret_service.wait(5)
    with warnings.catch_warnings():
        # keyring leaves its D-Bus connection unclosed when the service it opened it for is
        # gone; collected here, not in whichever test the collector happens to run in.
        warnings.simplefilter("ignore", ResourceWarning)
        with pytest.raises(secrets.NoKeyring):
            secrets.list_names()
        gc.collect()


# -- masking, in the one place every message passes --------------------------------------------

def test_every_text_a_run_sends_is_masked_but_not_the_protocol():
    secrets._remember("log")  # a value equal to a protocol word does not break the protocol
    secrets._remember("multi\nline value")
    secrets._remember("ab")  # short values are masked too (the README says what that costs)
    [msg] = decode_all(_Pipe.encode({"t": "log", "level": "info",
                                     "message": "log: ab, line value", "ts": 1.5}))
    assert msg == {"t": "log", "level": "info", "message": "***: ***, ***", "ts": 1.5}
    [done] = decode_all(_Pipe.encode({"t": "done", "result": {"summary": "multi\nline value",
                                                              "n": 3, "rows": ["xaby"]}}))
    assert done["result"] == {"summary": "***", "n": 3, "rows": ["x***y"]}
    secrets.forget_revealed()  # the job process is reused: the next run starts clean
    assert decode_all(_Pipe.encode({"t": "log", "message": "ab"}))[0]["message"] == "ab"


def test_a_secret_inside_another_is_masked_whole():
    secrets._remember("abcd")
    secrets._remember("xxabcdxx")
    assert secrets.mask("-xxabcdxx-abcd-") == "-***-***-"


def test_secret_references_are_found_wherever_the_params_hold_them():
    params = CommandKind.parse_params({"command": "true", "env": {
        "A": "plain", "B": {"secret": "one"}, "C": {"secret": "two"}}})
    assert secrets.secret_refs(params) == [("env.B", "one"), ("env.C", "two")]
    with pytest.raises(Exception, match="secret"):
        CommandKind.parse_params({"command": "true", "env": {"TOKEN": {"secrett": "nas"}}})


def test_without_a_keyring_check_says_a_pings_secret_was_not_checked(home, private_bus):
    # The heartbeat's secret was passed over in silence, as if known good.
    home.config_file.write_text('[jobs.cmd]\nkind = "command"\ncommand = ["true"]\n'
                                'ping = { secret = "ping-url" }\n', encoding="utf-8")
    out = trayjobs(home, "check")
    assert out.returncode == 0, out.stderr  # nothing known to be wrong
    assert ("note: job 'cmd', key 'ping': its secret was not checked: no system keyring found"
            in out.stderr), out.stderr
