"""``max_memory``: a command's program and a python job's function are held to it, a run
that goes over fails saying so (and is not retried), and ``trayjobs check`` refuses a
value that is no limit."""

from __future__ import annotations

import sys
from textwrap import dedent

import pytest

from helpers import trayjobs
from trayjobs.config import parse_config

HOG = "b = bytearray(500_000_000); print('took', len(b))"


def test_a_program_over_its_limit_fails_saying_so_and_is_not_retried(make_engine):
    # Twice in one job process: its first program is started the usual way, the next one
    # from the spare shell it keeps; each is held to the limit.
    eng = make_engine(f"""
        [jobs.hog]
        kind = "command"
        command = [{sys.executable!r}, "-c", "{HOG}"]
        max_memory = "200 MB"
        retry = {{ attempts = 3, backoff = "1s" }}
    """, workers=1)
    for _ in range(2):
        run = eng.watcher.wait(eng.submit("hog"))
        assert run["state"] == "failed" and run["attempt"] == 1, run
        first = run["error"].splitlines()[0]
        assert first == ("the program used more than its memory limit of 200.0 MB "
                         "(max_memory = '200 MB'); raise max_memory in trayjobs.toml, or have "
                         "it take less (it ended with exit code 1): MemoryError")


def test_a_c_program_over_its_limit_in_a_shell_line_is_told_by_what_it_says(make_engine):
    # Each process of the line is held to the limit: grep, reading one line of 300 MB, is
    # refused the memory for it and says so.
    eng = make_engine("""
        [jobs.grep]
        kind = "command"
        command = "head -c 300000000 /dev/zero | tr '\\\\0' a | grep -c b"
        max_memory = "200 MB"
        retry = { attempts = 2, backoff = "1s" }
    """)
    run = eng.watcher.wait(eng.submit("grep"))
    assert run["state"] == "failed" and run["attempt"] == 1, run
    assert run["error"].splitlines()[0] == (
        "the program used more than its memory limit of 200.0 MB (max_memory = '200 MB'); "
        "raise max_memory in trayjobs.toml, or have it take less (it ended with exit code 2): "
        "grep: memory exhausted")


def test_a_program_within_its_limit_runs(make_engine):
    eng = make_engine(f"""
        [jobs.fits]
        kind = "command"
        command = [{sys.executable!r}, "-c", "b = bytearray(50_000_000); print('took', len(b))"]
        max_memory = "200 MB"
        [jobs.unlimited]
        kind = "command"
        command = [{sys.executable!r}, "-c", "{HOG}"]
    """)
    for job in ("fits", "unlimited"):
        run = eng.watcher.wait(eng.submit(job))
        assert run["state"] == "succeeded", run


def test_a_program_that_dies_as_it_meets_the_limit_is_said_perhaps_to_have(make_engine):
    # One that does not check what malloc gives it, aborting: not certain, said as likely.
    eng = make_engine(f"""
        [jobs.aborts]
        kind = "command"
        command = [{sys.executable!r}, "-c", "import os; os.abort()"]
        max_memory = "200 MB"
        retry = {{ attempts = 1 }}
    """)
    run = eng.watcher.wait(eng.submit("aborts"))
    assert run["error"] == "killed by SIGABRT (perhaps as it met its memory limit of 200.0 MB, " \
                           "max_memory)"


def test_a_function_over_its_limit_fails_saying_where_and_is_not_retried(make_engine, tmp_path):
    hog = tmp_path / "hog.py"
    hog.write_text(dedent("""
        import subprocess, sys

        def main(ctx):
            kept = bytearray(50_000_000)  # within the limit
            ctx.log("took 50 MB")
            more = bytearray(500_000_000)
            return "took 550 MB"

        def program(ctx):
            # what it starts is held to the limit too
            subprocess.run([sys.executable, "-c", "bytearray(500_000_000)"], check=True)
    """))
    eng = make_engine(f"""
        [jobs.hog]
        kind = "python"
        file = '{hog}'
        max_memory = "200 MB"
        retry = {{ attempts = 3, backoff = "1s" }}
        [jobs.program]
        kind = "python"
        file = '{hog}'
        function = "program"
        max_memory = "200 MB"
        retry = {{ attempts = 1 }}
    """)
    rid = eng.submit("hog")
    run = eng.watcher.wait(rid)
    assert run["state"] == "failed" and run["attempt"] == 1, run
    assert run["error"] == ("the job used more than its memory limit of 200.0 MB (max_memory = "
                            "'200 MB'); raise max_memory in trayjobs.toml, or have the function "
                            "take less; it ran out at hog.py line 7 (in main)")
    assert "took 50 MB" in [l["message"] for l in eng.store.logs(rid)]
    rid = eng.submit("program")
    run = eng.watcher.wait(rid)
    assert run["state"] == "failed"
    assert "MemoryError" in "\n".join(l["message"] for l in eng.store.logs(rid))


def test_a_function_without_a_limit_takes_what_it_needs(make_engine, tmp_path):
    hog = tmp_path / "hog.py"
    hog.write_text("def main(ctx):\n    return str(len(bytearray(500_000_000)))\n")
    eng = make_engine(f"""
        [jobs.hog]
        kind = "python"
        file = '{hog}'
    """)
    run = eng.watcher.wait(eng.submit("hog"))
    assert (run["state"], run["result"]["summary"]) == ("succeeded", "500000000")


@pytest.mark.parametrize("value, said", [
    ('"2 parsecs"', "'2 parsecs' is not a size; write e.g. '2 GB', '512 MiB' or '800 MB'"),
    ('"0 GB"', "a limit of 0 leaves the job no memory at all; leave max_memory out for no "
               "limit"),
    ('"-1GB"', "'-1GB' is negative: write the most the job may take, e.g. '2 GB'"),
    ('"900 TB"', "'900 TB' is more memory than any machine has (at most 64.0 TB)"),
    ('"5 KB"', "'5 KB' is less than a program needs to start (at least 10.0 MB)"),
    ("2000", "2000 has no unit: write it as text with one, e.g. '2000 MB' or '2000 GB'"),
    ('"2000"', "'2000' has no unit: write e.g. '2000 MB' or '2000 GB'"),
])
@pytest.mark.parametrize("kind", ['command = ["true"]', 'file = "/tmp/job.py"'])
def test_a_value_that_is_no_limit_is_refused_with_its_line(value, said, kind):
    text = f'[jobs.x]\nkind = "{"command" if "command" in kind else "python"}"\n{kind}\n' \
           f'max_memory = {value}\n'
    errors = [str(e) for e in parse_config(text).errors]
    assert len(errors) == 1 and errors[0].startswith(
        f"<config>:4, job 'x', key 'max_memory': {said}"), errors


def test_check_names_the_job_the_key_and_the_line(home):
    home.config_file.write_text(dedent("""
        [jobs.ok]
        kind = "command"
        command = ["true"]
        max_memory = "1.5 GiB"

        [jobs.bad]
        kind = "command"
        command = ["true"]
        max_memory = "2 gigs"
    """))
    out = trayjobs(home, "check")
    assert out.returncode == 1
    assert f"{home.config_file}:10, job 'bad', key 'max_memory': '2 gigs' is not a size" in \
        out.stderr, out.stderr
