"""A secret a command prints is masked in its run's log, error and summary however its
output is cut: a line logged in pieces, the head and tail, a value written in two writes."""

from __future__ import annotations

import sys
from textwrap import dedent

import pytest

from keyring_support import private_bus, secret_service  # noqa: F401 (fixtures)
from trayjobs import secrets

PY = sys.executable
VALUE = "tok-3f9a1c7e-very-secret"


@pytest.fixture(autouse=True)
def _no_secret_left_revealed():
    yield
    secrets.forget_revealed()


def _run(make_engine, tmp_path, program: str, extra: str = ""):
    """``program`` (Python, the value in ``T``) run as a command with the secret."""
    secrets.set_secret("tok", VALUE)
    script = tmp_path / "prog.py"
    script.write_text("import os, sys, time\nT = os.environ['TOKEN']\n"
                      "out, err = sys.stdout.buffer, sys.stderr.buffer\n" + dedent(program))
    eng = make_engine(dedent(f"""
        [jobs.cmd]
        kind = "command"
        command = ["{PY}", "{script}"]
        env = {{ TOKEN = {{ secret = "tok" }} }}
        retry = {{ attempts = 1 }}
    """) + extra)
    run = eng.watcher.wait(eng.submit("cmd"), timeout=60)
    logs = "\n".join(r["message"] for r in eng.store.logs(run["id"]))
    return run, logs


def _leaks(text: str) -> bool:
    """Any piece of the value, 6 characters or more, in ``text``."""
    return any(VALUE[i:i + 6] in text for i in range(len(VALUE) - 5))


def test_a_value_written_in_two_writes_is_masked(make_engine, tmp_path, secret_service):
    run, logs = _run(make_engine, tmp_path, """
        out.write(b"token " + T[:10].encode()); out.flush(); time.sleep(0.2)
        out.write(T[10:].encode() + b" done\\n"); out.flush()
    """)
    assert "token *** done" in logs and not _leaks(logs)


def test_a_value_across_the_cut_of_a_long_line_is_masked(make_engine, tmp_path, secret_service):
    run, logs = _run(make_engine, tmp_path, """
        out.write(b"x" * 70000 + T[:10].encode()); out.flush(); time.sleep(0.2)
        out.write(T[10:].encode() + b" done\\n"); out.flush()
    """)
    assert not _leaks(logs)


def test_a_value_where_the_tail_begins_in_a_long_line_is_masked(
        make_engine, tmp_path, secret_service):
    run, logs = _run(make_engine, tmp_path, """
        out.write(b"x" * 70000 + T.encode() + b"y" * (100000 - 10) + b"\\n")
    """, "log_head = 0\nlog_tail = 100000\n")
    assert "left out" in logs and not _leaks(logs)


def test_a_value_at_the_end_of_a_long_last_line_is_masked_in_the_summary(
        make_engine, tmp_path, secret_service):
    run, logs = _run(make_engine, tmp_path, """
        out.write(b"x" * 190 + T.encode() + b"\\n")
    """)
    assert run["state"] == "succeeded"
    assert not _leaks(run["result"]["summary"]) and not _leaks(logs)


def test_a_value_at_the_end_of_a_long_stderr_line_is_masked_in_the_error(
        make_engine, tmp_path, secret_service):
    run, logs = _run(make_engine, tmp_path, """
        err.write(b"x" * 190 + T.encode() + b"\\n"); sys.exit(2)
    """)
    assert run["state"] == "failed"
    assert not _leaks(run["error"]) and not _leaks(logs)


def test_a_value_in_a_stderr_line_left_out_is_masked_in_the_error(
        make_engine, tmp_path, secret_service):
    run, logs = _run(make_engine, tmp_path, """
        err.write(b"y" * 65530 + T.encode()); err.flush(); time.sleep(0.2)
        out.write(b"z" * 300000 + b"\\n"); out.flush(); time.sleep(0.2)
        err.write(b"\\nfatal\\n"); sys.exit(2)
    """, "log_head = 0\nlog_tail = 1000\n")
    assert run["state"] == "failed"
    assert not _leaks(run["error"]) and not _leaks(logs)


def test_a_value_fed_a_byte_at_a_time_is_masked_and_a_mere_start_of_one_is_kept(make_ctx):
    from trayjobs.kinds.command.output import OutputLog

    secrets._remember(VALUE)
    ctx = make_ctx("bytes")
    out = OutputLog(ctx, head=1 << 20, tail=1 << 20, on_progress=lambda p: None)
    data = f"a {VALUE} b\n{VALUE[:-1]}\n{VALUE[:5]}".encode()
    for b in data:
        out.feed("stdout", bytes([b]))
    out.close()
    assert "\n".join(ctx.sink.logs) == f"a *** b\n{VALUE[:-1]}\n{VALUE[:5]}"
    assert out.output_bytes == len(data)  # the program's bytes, not the masked ones


def _python_run(make_engine, tmp_path, body: str):
    """A python job whose ``main(ctx)`` (``T`` the secret's value) is ``body``."""
    secrets.set_secret("tok", VALUE)
    script = tmp_path / "job.py"
    script.write_text("def main(ctx):\n    T = ctx.secret('tok')\n" + body.lstrip("\n"))
    eng = make_engine(dedent(f"""
        [jobs.fn]
        kind = "python"
        file = '{script}'
        retry = {{ attempts = 1 }}
    """))
    run = eng.watcher.wait(eng.submit("fn"), timeout=60)
    return run, "\n".join(r["message"] for r in eng.store.logs(run["id"]))


def test_a_value_a_function_prints_across_a_flush_is_masked(make_engine, tmp_path,
                                                            secret_service):
    run, logs = _python_run(make_engine, tmp_path, """
    print("token", T[:10], end="", flush=True)
    print(T[10:], "done")
    """)
    assert run["state"] == "succeeded" and "***" in logs and not _leaks(logs), logs


def test_a_long_summary_is_masked_before_it_is_cut(make_engine, tmp_path, secret_service):
    # The summary is cut to 1,000 characters: a value across the cut left its start.
    run, logs = _python_run(make_engine, tmp_path, """
    return "x" * 990 + T + " and more"
    """)
    assert run["state"] == "succeeded" and not _leaks(run["result"]["summary"]), run["result"]
