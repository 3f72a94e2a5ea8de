"""The python kind: a function of the user's runs in a real job process with the run's
context; its return value is the result, its exception the error."""

from __future__ import annotations

import os
from pathlib import Path
from textwrap import dedent

import pytest

from helpers import trayjobs, wait_until
from trayjobs.errors import UserError
from trayjobs.kinds.python import as_result


def script(path, text: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dedent(text), encoding="utf-8")
    return path


SYNC = """
    def main(ctx):
        for i in range(3):
            ctx.check_cancelled()
            ctx.progress(i + 1, 3, f"item {i + 1}", "items")
        ctx.log(f"month is {ctx.params['month']}")
        print("a line printed by the function")
        return f"synced 3 items ({ctx.trigger})"
"""


def test_a_function_in_a_file_reports_progress_logs_and_returns_the_summary(make_engine, tmp_path):
    sync = script(tmp_path / "scripts" / "sync.py", SYNC)
    eng = make_engine(f"""
        [jobs.sync]
        kind = "python"
        file = '{sync}'
        params = {{ month = "last_month" }}
    """)
    run = eng.watcher.wait(eng.submit("sync"))
    assert run["state"] == "succeeded", run
    assert run["result"] == {"summary": "synced 3 items (manual)"}
    assert (run["progress_done"], run["progress_total"], run["progress_unit"]) == (3, 3, "items")
    logs = [l["message"] for l in eng.store.logs(run["id"])]
    assert "month is last_month" in logs and "a line printed by the function" in logs


def test_call_imports_from_path_and_a_dict_result_keeps_its_fields(make_engine, tmp_path):
    script(tmp_path / "lib" / "mytasks" / "__init__.py", "")
    script(tmp_path / "lib" / "mytasks" / "nightly.py", """
        from pathlib import Path

        def run(ctx):
            names = sorted(Path(f).name for f in ctx.files)
            return {"summary": f"{len(names)} files", "names": names}
    """)
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("a")
    b.write_text("b")
    eng = make_engine(f"""
        [jobs.nightly]
        kind = "python"
        call = "mytasks.nightly:run"
        path = '{tmp_path / "lib"}'
    """)
    run = eng.watcher.wait(eng.submit("nightly", files=[a, b]))
    assert run["state"] == "succeeded", run
    assert run["result"] == {"summary": "2 files", "names": ["a.txt", "b.txt"]}


def test_an_exception_is_the_error_with_the_functions_traceback(make_engine, tmp_path):
    bad = script(tmp_path / "bad.py", """
        def main(ctx):
            ctx.log("starting")
            return 1 / 0
    """)
    eng = make_engine(f"""
        [jobs.bad]
        kind = "python"
        file = '{bad}'
        retry = {{ attempts = 1 }}
    """)
    run = eng.watcher.wait(eng.submit("bad"))
    assert run["state"] == "failed"
    assert run["error"] == "ZeroDivisionError: division by zero"
    assert f'File "{bad}", line 4, in main' in run["traceback"]


def test_an_exception_of_megabytes_is_kept_by_its_start_and_end(make_engine, tmp_path):
    # A whole response or table in an exception's message went into the history, each list
    # of runs, `trayjobs show` and the alerts, whole.
    from trayjobs.engine.child import ERROR_LIMIT, TRACEBACK_LIMIT
    bad = script(tmp_path / "huge.py", """
        def main(ctx):
            raise ValueError("START" + "x" * 10_000_000 + "END")
    """)
    eng = make_engine(f"""
        [jobs.huge]
        kind = "python"
        file = '{bad}'
        retry = {{ attempts = 1 }}
    """)
    run = eng.watcher.wait(eng.submit("huge"))
    assert run["state"] == "failed"
    assert run["error"].startswith("ValueError: STARTxxx") and run["error"].endswith("xxxEND")
    assert "characters left out" in run["error"] and len(run["error"]) < ERROR_LIMIT + 100
    assert run["traceback"].rstrip().endswith("xxxEND")
    assert len(run["traceback"]) < TRACEBACK_LIMIT + 100


def test_an_edited_script_is_read_afresh_on_the_next_run(make_engine, tmp_path):
    # Job processes are reused between runs; one that ran user code is not.
    job = script(tmp_path / "lib" / "edited.py", "def main(ctx):\n    return 'first version'\n")
    eng = make_engine(f"""
        [jobs.edit]
        kind = "python"
        call = "edited:main"
        path = '{job.parent}'
    """, workers=1)
    assert eng.watcher.wait(eng.submit("edit"))["result"]["summary"] == "first version"
    job.write_text("def main():\n    return None\n")
    run = eng.watcher.wait(eng.submit("edit"))
    assert run["result"] == {"summary": "edited:main finished"}


def test_dry_run_only_when_the_job_says_the_function_honours_it(make_engine, tmp_path):
    job = script(tmp_path / "job.py", """
        def main(ctx):
            return "would change nothing" if ctx.dry_run else "changed things"
    """)
    eng = make_engine(f"""
        [jobs.plain]
        kind = "python"
        file = '{job}'

        [jobs.careful]
        kind = "python"
        file = '{job}'
        dry_run = true
    """)
    with pytest.raises(UserError, match="'plain' .*has no dry run.*set dry_run = true"):
        eng.submit("plain", dry_run=True)
    assert eng.store.list_runs(job="plain") == []
    run = eng.watcher.wait(eng.submit("careful", dry_run=True))
    assert run["result"]["summary"] == "would change nothing"


def test_an_interrupted_python_run_is_resumed_only_when_the_job_says_idempotent(make_engine, tmp_path):
    job = script(tmp_path / "job.py", "def main(ctx):\n    return 'ok'\n")
    eng = make_engine(f"""
        [jobs.once]
        kind = "python"
        file = '{job}'

        [jobs.again]
        kind = "python"
        file = '{job}'
        idempotent = true
    """, start=False)
    for name in ("once", "again"):
        eng.store.insert_run(name, kind="python", trigger="manual", state="interrupted")
    eng.lock.acquire("worker")
    try:
        resumed = eng.recover()
    finally:
        eng.lock.release()
    assert [eng.store.get_run(r)["job"] for r in resumed] == ["again"]


def test_check_names_the_job_and_key_of_a_missing_file_module_or_function(home, tmp_path):
    good = script(tmp_path / "good.py", "import os\n\ndef main(ctx):\n    pass\n")
    script(tmp_path / "lib" / "pkg" / "__init__.py", "raise RuntimeError('never imported')\n")
    script(tmp_path / "lib" / "pkg" / "tasks.py", "def nightly(ctx):\n    pass\n")
    home.config_file.write_text(dedent(f"""
        [jobs.good]
        kind = "python"
        file = '{good}'

        [jobs.good-call]
        kind = "python"
        call = "pkg.tasks:nightly"
        path = '{tmp_path / "lib"}'

        [jobs.stdlib]
        kind = "python"
        call = "os:getcwd"

        [jobs.no-file]
        kind = "python"
        file = '{tmp_path / "missing.py"}'

        [jobs.no-module]
        kind = "python"
        call = "nosuchpackage.tasks:nightly"

        [jobs.no-function]
        kind = "python"
        file = '{good}'
        function = "mian"

        [jobs.no-function-in-module]
        kind = "python"
        call = "pkg.tasks:weekly"
        path = '{tmp_path / "lib"}'

        [jobs.both]
        kind = "python"
        call = "os:getcwd"
        file = '{good}'
    """))
    out = trayjobs(home, "check")
    assert out.returncode == 1
    err = out.stderr
    assert "job 'no-file', key 'file': " in err and "missing.py' does not exist" in err
    assert "job 'no-module', key 'call': cannot import 'nosuchpackage.tasks'" in err
    assert "job 'no-function', key 'function': " in err and "did you mean 'main'?" in err
    assert "job 'no-function-in-module', key 'call': pkg.tasks defines no function 'weekly'" in err
    assert "job 'both'" in err and "not both or neither" in err
    for ok in ("'good'", "'good-call'", "'stdlib'"):
        assert f"job {ok}" not in err
    assert "3 jobs OK, 5 errors" in out.stdout


def test_check_catches_a_folder_a_function_that_needs_more_than_ctx_and_a_generator(
        home, tmp_path):
    two = script(tmp_path / "two.py", "def main(ctx, extra):\n    pass\n")
    kw = script(tmp_path / "kw.py", "def main(ctx, *, limit):\n    pass\n")
    gen = script(tmp_path / "gen.py", "def main(ctx):\n    yield 1\n")
    # Fine: defaults, no context at all, a generator defined inside, a decorated function.
    ok = script(tmp_path / "ok.py", """
        import functools
        def main(ctx, extra=1, *, limit=2):
            def rows():
                yield 1
            return sum(rows())
        def bare():
            pass
        @functools.lru_cache
        def wrapped(a, b):
            pass
    """)
    jobs = {"folder": f"file = '{tmp_path}'", "two": f"file = '{two}'", "kw": f"file = '{kw}'",
            "gen": f"file = '{gen}'", "ok": f"file = '{ok}'",
            "bare": f"file = '{ok}'\nfunction = 'bare'",
            "wrapped": f"file = '{ok}'\nfunction = 'wrapped'"}
    home.config_file.write_text("".join(f'[jobs.{name}]\nkind = "python"\n{keys}\n'
                                        for name, keys in jobs.items()))
    out = trayjobs(home, "check")
    assert out.returncode == 1
    err = out.stderr
    assert f"job 'folder', key 'file': '{tmp_path}' is a folder, not a Python file" in err
    assert ("job 'two', key 'function': " in err
            and "main(ctx, extra) needs 2 arguments, but a job's function is given the run's "
                "context alone, as its one positional argument: declare it def main(ctx), or "
                "def main() if it needs nothing; read 'extra' from ctx.params" in err)
    assert "job 'kw', key 'function': " in err and "main(ctx, limit) needs 2 arguments " \
        "(limit only by name)" in err and "give it a default" in err
    assert "job 'gen', key 'function': " in err and "main is a generator" in err
    assert "3 jobs OK, 4 errors" in out.stdout, err
    run = trayjobs(home, "run", "folder", "--wait")
    assert run.returncode == 1
    assert "job 'folder': file = " in run.stdout + run.stderr
    assert "is a folder, not a Python file" in run.stdout + run.stderr


def test_a_name_that_is_no_function_fails_the_run_saying_what_it_is(home, tmp_path):
    five = script(tmp_path / "five.py", "main = 5\n")
    home.config_file.write_text(f'[jobs.five]\nkind = "python"\nfile = \'{five}\'\n'
                                f'retry = {{ attempts = 1 }}\n')
    run = trayjobs(home, "run", "five", "--wait")
    assert run.returncode == 1
    assert (f"job 'five': {five}:main is an int (5), not a function; name a function with "
            f"'function'") in run.stderr


def test_a_class_named_as_the_function_is_refused_by_check_and_by_the_run(home, tmp_path):
    # Calling it made an object: the run "succeeded" having run nothing of the job.
    job = script(tmp_path / "cls.py", """
        class Nightly:
            def __init__(self, ctx=None):
                self.ctx = ctx
            @staticmethod
            def run(ctx):
                return "ran"
    """)
    home.config_file.write_text(
        f'[jobs.cls]\nkind = "python"\nfile = \'{job}\'\nfunction = "Nightly"\n'
        f'retry = {{ attempts = 1 }}\n'
        f'[jobs.method]\nkind = "python"\nfile = \'{job}\'\nfunction = "Nightly.run"\n')
    out = trayjobs(home, "check")
    assert out.returncode == 1 and "1 job OK, 1 error" in out.stdout, out.stdout + out.stderr
    assert ("job 'cls', key 'function': " in out.stderr and "Nightly is a class, not a "
            "function; name a function with 'function'" in out.stderr), out.stderr
    run = trayjobs(home, "run", "cls", "--wait")
    assert run.returncode == 1
    assert (f"job 'cls': {job}:Nightly is a class, not a function; name a function with "
            f"'function' (a class's static or class method: 'Class.method')") in run.stderr
    method = trayjobs(home, "run", "method", "--wait")
    assert method.returncode == 0 and "succeeded: ran" in method.stderr, method.stderr


@pytest.mark.parametrize("value, result", [
    (None, {"summary": "f finished"}),
    ("done", {"summary": "done"}),
    ({"summary": "s", "n": 1}, {"summary": "s", "n": 1}),
    ({"n": 1}, {"summary": "f finished", "n": 1}),
    (42, {"summary": "42", "value": 42}),
    ({"summary": 42, "n": 1}, {"summary": "42", "n": 1}),  # text, as lists need it
    ({"summary": None}, {"summary": "f finished"}),
])
def test_return_values_become_results(value, result):
    assert as_result(value, "f") == result


def test_async_functions_run_generators_are_refused_and_long_summaries_cut(make_engine,
                                                                            tmp_path):
    tasks = script(tmp_path / "tasks.py", """
        import asyncio

        async def fetch(ctx):
            await asyncio.sleep(0)
            ctx.progress(1, 1, "fetched")
            return "fetched 1 page"

        def items(ctx):
            yield 1

        def chatty(ctx):
            return {"summary": "x" * 100_000, "n": 1}
    """)
    eng = make_engine("".join(f"""
        [jobs.{name}]
        kind = "python"
        file = '{tasks}'
        function = "{name}"
        retry = {{ attempts = 1 }}
    """ for name in ("fetch", "items", "chatty")))
    fetched = eng.watcher.wait(eng.submit("fetch"))
    assert (fetched["state"], fetched["result"]) == ("succeeded", {"summary": "fetched 1 page"})
    items = eng.watcher.wait(eng.submit("items"))
    assert items["state"] == "failed"
    assert "job 'items'" in items["error"] and "generator (it uses yield)" in items["error"]
    chatty = eng.watcher.wait(eng.submit("chatty"))
    summary = chatty["result"]["summary"]
    assert chatty["state"] == "succeeded" and chatty["result"]["n"] == 1
    assert len(summary) < 1100 and summary.endswith("(100,000 characters in all)")


def test_what_a_function_leaves_running_ends_with_its_run(make_engine, tmp_path):
    # Its process is not reused after a python run: what the function started goes with it,
    # also a program in a session of its own and one daemonized by a program it ran.
    pids = tmp_path / "pids"
    job = script(tmp_path / "leaves.py", f"""
        import subprocess

        def main(ctx):
            own = subprocess.Popen(["sleep", "300"], start_new_session=True)
            subprocess.run(["sh", "-c", "setsid sh -c 'echo $$ > {pids}.2; exec sleep 300' & "
                                        "while [ ! -s {pids}.2 ]; do sleep 0.01; done"], check=True)
            open('{pids}.1', "w").write(str(own.pid))
            return "left two behind"
    """)
    eng = make_engine(f"""
        [jobs.leaves]
        kind = "python"
        file = '{job}'
    """)
    run = eng.watcher.wait(eng.submit("leaves"))
    assert run["state"] == "succeeded", run
    for n in (1, 2):
        pid = int((tmp_path / f"pids.{n}").read_text())
        wait_until(lambda: gone(pid), timeout=5)


def gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_a_function_and_its_programs_read_an_empty_stdin(make_engine, tmp_path):
    # The job process's stdin carries the engine's requests: job code that reads its stdin
    # (input(), a program that prompts) would wait on it, or take a cancel meant for it.
    job = script(tmp_path / "reads.py", """
        import subprocess, sys

        def main(ctx):
            program = subprocess.run(["cat"], capture_output=True, text=True, timeout=5)
            return f"{sys.stdin.read()!r} {program.stdout!r}"
    """)
    eng = make_engine(f"""
        [jobs.reads]
        kind = "python"
        file = '{job}'
        timeout = "3s"
        retry = {{ attempts = 1 }}
    """)
    run = eng.watcher.wait(eng.submit("reads"))
    assert run["state"] == "succeeded", run
    assert run["result"]["summary"] == "'' ''"


def test_a_result_too_big_for_the_history_is_kept_in_a_file_of_the_run(make_engine, tmp_path):
    # A function returning a whole table: each list of runs would read megabytes.
    table = script(tmp_path / "table.py", """
        def main(ctx):
            rows = [{"n": i, "name": f"row {i}", "token": ctx.params["token"]}
                    for i in range(20000)]
            return {"summary": "20,000 rows", "rows": rows}
    """)
    eng = make_engine(f"""
        [jobs.table]
        kind = "python"
        file = '{table}'
        params = {{ token = "t0k3n" }}
    """)
    run = eng.watcher.wait(eng.submit("table"))
    assert run["state"] == "succeeded", run
    result = run["result"]
    kept = result["result_file"]
    assert result["summary"] == "20,000 rows" and result["outputs"] == [kept]
    assert run["warnings"] == 1 and kept in result["warnings"][0]
    assert "too big for the run history" in result["warnings"][0]
    import json
    from pathlib import Path
    whole = json.loads(Path(kept).read_text(encoding="utf-8"))
    assert whole["summary"] == "20,000 rows" and len(whole["rows"]) == 20000
    assert whole["rows"][123] == {"n": 123, "name": "row 123", "token": "t0k3n"}
    assert len(json.dumps(eng.store.get_run(run["id"])["result"])) < 2000


def test_check_says_what_a_pipe_or_a_file_with_a_nul_byte_is(home, tmp_path):
    import os
    os.mkfifo(tmp_path / "pipe.py")  # reading it to check it would wait for ever
    (tmp_path / "nul.py").write_bytes(b"def main(ctx):\n    return '\x00'\n")
    home.config_file.write_text(
        f'[jobs.pipe]\nkind = "python"\nfile = \'{tmp_path / "pipe.py"}\'\n'
        f'[jobs.nul]\nkind = "python"\nfile = \'{tmp_path / "nul.py"}\'\n')
    out = trayjobs(home, "check")
    assert out.returncode == 1
    assert f"job 'pipe', key 'file': '{tmp_path / 'pipe.py'}' is not a regular file" in out.stderr
    assert (f"job 'nul', key 'file': {tmp_path / 'nul.py'} has a syntax error: source code "
            "string cannot contain null bytes") in out.stderr


def test_an_empty_folder_in_path_is_refused_by_check(home):
    # "" would be the current folder of whatever process runs the job.
    home.config_file.write_text('[jobs.p]\nkind = "python"\ncall = "os:getcwd"\n'
                                'path = ["~/scripts", ""]\n')
    out = trayjobs(home, "check")
    assert out.returncode == 1
    assert "job 'p', key 'path': empty; give a path" in out.stderr


def test_one_write_of_a_great_many_lines_ends(home, tmp_path):
    # 5 million lines in one write (blank ones, which are not logged, so only the
    # splitting counts): cut a line at a time, this never ended before the timeout.
    job = script(tmp_path / "lines.py", """
        import sys
        def main(ctx):
            sys.stdout.write("\\n" * 5_000_000 + "the end\\n")
            return "written"
    """)
    home.config_file.write_text(f'[jobs.lines]\nkind = "python"\nfile = \'{job}\'\n'
                                f'timeout = "5s"\nretry = {{ attempts = 1 }}\n')
    out = trayjobs(home, "run", "lines", "--wait")
    assert out.returncode == 0, out.stderr
    rid = out.stdout.split()[0]
    assert trayjobs(home, "show", rid, check=True).stdout.rstrip().endswith("info    the end")


def test_a_line_printed_in_a_great_many_pieces_ends(home, tmp_path):
    # Two million dots, each written on its own, then the line's end.
    job = script(tmp_path / "dots.py", """
        import sys
        def main(ctx):
            for _ in range(2_000_000):
                sys.stdout.write(".")
            print("end")
            return "dotted"
    """)
    home.config_file.write_text(f'[jobs.dots]\nkind = "python"\nfile = \'{job}\'\n'
                                f'timeout = "8s"\nretry = {{ attempts = 1 }}\n'
                                f'log_head = 3_000_000\n')  # the line is kept whole
    out = trayjobs(home, "run", "dots", "--wait")
    assert out.returncode == 0, out.stderr
    rid = out.stdout.split()[0]
    shown = trayjobs(home, "show", rid, check=True).stdout
    assert shown.rstrip().endswith("info    " + "." * 2_000_000 + "end")


def test_sys_exit_0_is_a_success_and_another_code_a_failure(make_engine, tmp_path):
    # A script turned into a function often ends with sys.exit(): 0 (or none) is how it
    # says it went well, as it would to a shell.
    script(tmp_path / "done.py", """
        import sys
        def main(ctx):
            ctx.log("all done")
            sys.exit(0)
    """)
    script(tmp_path / "bad.py", """
        import sys
        def main(ctx):
            sys.exit(3)
    """)
    eng = make_engine(f"""
        [jobs.done]
        kind = "python"
        file = '{tmp_path / "done.py"}'
        [jobs.bad]
        kind = "python"
        file = '{tmp_path / "bad.py"}'
        retry = {{ attempts = 1 }}
    """)
    run = eng.watcher.wait(eng.submit("done"))
    assert run["state"] == "succeeded", run
    assert "all done" in [l["message"] for l in eng.store.logs(run["id"])]
    bad = eng.watcher.wait(eng.submit("bad"))
    assert bad["state"] == "failed" and "sys.exit(3)" in bad["error"], bad


def test_sys_exit_in_an_async_function_says_the_same_as_in_a_plain_one(make_engine, tmp_path):
    # Raised out of asyncio.run(), sys.exit(0) failed the run as "SystemExit: 0".
    job = script(tmp_path / "aexit.py", """
        import sys
        async def done(ctx):
            sys.exit(0)
        async def bad(ctx):
            sys.exit(3)
    """)
    eng = make_engine("".join(f"""
        [jobs.{name}]
        kind = "python"
        file = '{job}'
        function = "{name}"
        retry = {{ attempts = 1 }}
    """ for name in ("done", "bad")))
    done = eng.watcher.wait(eng.submit("done"))
    assert (done["state"], done["result"]["summary"]) == ("succeeded", f"{job}:done finished")
    bad = eng.watcher.wait(eng.submit("bad"))
    assert (bad["state"], bad["error"]) == ("failed", f"{job}:bad called sys.exit(3)"), bad


def test_a_syntax_error_met_at_run_time_is_not_retried(make_engine, tmp_path):
    # The file was fine for `check`, then saved half-edited: retrying the same file with
    # backoff cannot help; the run fails at once, saying where the error is.
    path = script(tmp_path / "edit.py", "def main(ctx):\n    return 1\n")
    eng = make_engine(f"""
        [jobs.edit]
        kind = "python"
        file = '{path}'
        retry = {{ attempts = 3, backoff = "1s" }}
    """)
    path.write_text("def main(ctx):\n    return (1\n", encoding="utf-8")
    run = eng.watcher.wait(eng.submit("edit"))
    assert run["state"] == "failed" and run["attempt"] == 1, run
    assert "syntax error at line 2" in run["error"] and str(path) in run["error"], run["error"]


CHATTY = """
    import sys, tracemalloc

    def main(ctx):
        tracemalloc.start()
        line = "x" * 186
        for i in range(ctx.params["lines"]):
            print(f"line {i:07d} {line}")
        print("an error at the end", file=sys.stderr)
        peak = tracemalloc.get_traced_memory()[1]
        return {"summary": "printed", "peak": peak}
"""


def test_a_python_job_that_prints_a_lot_keeps_a_head_and_a_tail_of_it(make_engine, tmp_path):
    # 6 MB of print(): the run's log keeps the first and last megabyte, as a command's
    # does, and says how much it left out; the job process holds no more than the tail.
    job = script(tmp_path / "chatty.py", CHATTY)
    eng = make_engine(f"""
        [jobs.chatty]
        kind = "python"
        file = '{job}'
        params = {{ lines = 30_000 }}
    """)
    run = eng.watcher.wait(eng.submit("chatty"))
    assert run["state"] == "succeeded", run
    logs = eng.store.logs(run["id"], limit=1_000_000)
    printed = [l["message"] for l in logs if l["message"].startswith("line ")]
    assert all(len(m) == 199 for m in printed)  # whole lines: none cut at the gap
    assert 1_999_000 < 200 * (len(printed) + 1) <= 2_000_000, len(printed)
    assert printed[0] == "line 0000000 " + "x" * 186
    assert printed[-1] == "line 0029999 " + "x" * 186
    left_out = [(i, l) for i, l in enumerate(logs) if "of output left out here" in l["message"]]
    assert len(left_out) == 1 and left_out[0][1]["level"] == "warning"
    at, note = left_out[0]
    assert note["message"] == "[4.0 MB of output left out here]", note
    assert logs[at - 1]["message"].startswith("line 0004999 ")
    assert logs[at + 1]["message"].startswith("line 002")
    assert logs[-1]["message"] == "an error at the end" and logs[-1]["level"] == "warning"
    assert run["result"]["peak"] < 4_000_000, run["result"]["peak"]


def test_log_head_and_log_tail_bound_what_a_python_job_prints(make_engine, tmp_path):
    job = script(tmp_path / "chatty.py", CHATTY)
    eng = make_engine(f"""
        [jobs.chatty]
        kind = "python"
        file = '{job}'
        params = {{ lines = 5_000 }}
        log_head = 1_000
        log_tail = 500
    """)
    run = eng.watcher.wait(eng.submit("chatty"))
    assert run["state"] == "succeeded", run
    messages = [l["message"] for l in eng.store.logs(run["id"])]
    assert messages[:5] == [f"line {i:07d} " + "x" * 186 for i in range(5)]
    assert messages[5] == "[998.6 KB of output left out here]"
    assert messages[6:] == [f"line {i:07d} " + "x" * 186 for i in (4998, 4999)] + [
        "an error at the end"]
    assert run["result"]["peak"] < 200_000, run["result"]["peak"]


def test_what_a_function_logs_through_ctx_log_shares_the_bounds_of_what_it_prints(
        make_engine, tmp_path):
    # ctx.log in a loop would otherwise put every line in the run history.
    job = script(tmp_path / "logger.py", """
        def main(ctx):
            for i in range(20_000):
                if i % 2:
                    print(f"printed {i:05d}")
                else:
                    ctx.log(f"logged {i:05d}", "warning" if i == 19_998 else "info")
            return {"summary": "done", "ratio": float("nan")}
    """)
    eng = make_engine(f"""
        [jobs.logger]
        kind = "python"
        file = '{job}'
        log_head = 60
        log_tail = 45
    """)
    run = eng.watcher.wait(eng.submit("logger"))
    assert run["state"] == "succeeded", run
    logs = eng.store.logs(run["id"])
    messages = [l["message"] for l in logs]
    assert messages[:4] == ["logged 00000", "printed 00001", "logged 00002", "printed 00003"]
    assert messages[4].endswith("of output left out here]"), messages
    assert messages[5:8] == ["printed 19997", "logged 19998", "printed 19999"], messages
    assert logs[6]["level"] == "warning"
    # The job process's own note on the result comes after, whole.
    assert "ratio" in messages[8] and len(messages) == 9, messages


def test_a_progress_bar_redrawn_with_carriage_returns_is_logged_once_as_its_last_state(
        make_engine, tmp_path):
    # tqdm and the like: each redraw flushed was a line of the log, a thousand of them.
    job = script(tmp_path / "bar.py", """
        import sys
        def main(ctx):
            for i in range(1, 1001):
                print(f"\\rcopying {i / 10:.0f}%", end="", flush=True, file=sys.stderr)
            print(file=sys.stderr)
            print("windows line\\r")
            sys.stdout.write("a\\rb\\r")
            sys.stdout.write("\\nlast line")
            sys.stdout.flush()
            return "done"
    """)
    eng = make_engine(f"""
        [jobs.bar]
        kind = "python"
        file = '{job}'
    """)
    run = eng.watcher.wait(eng.submit("bar"))
    assert run["state"] == "succeeded", run
    logs = [(l["message"], l["level"]) for l in eng.store.logs(run["id"])]
    assert logs == [("copying 100%", "warning"), ("windows line", "info"), ("b", "info"),
                    ("last line", "info")], logs


def test_a_printed_line_too_long_to_keep_is_not_held_whole(home):
    # A million dots written one at a time with no line end: only the end of the line that
    # the tail can keep is held, and logged, after a note of how much was left out.
    from trayjobs.context import JobContext
    from trayjobs.engine.child import _LogStream, _Printed
    sent: list[dict] = []
    ctx = JobContext(run_id=1, job="dots", home=home, sink=sent.append)
    out = _Printed(ctx, head=1000, tail=1000)
    stream = _LogStream(out, "info")
    stream.write("a short line\n")
    held = 0
    for _ in range(1_000_000):
        stream.write(".")
        held = max(held, stream._size)
    stream.write("end\n")
    stream.finish()
    out.close()
    assert held <= 2 * 1000 + 4096
    assert [m["message"] for m in sent[:2]] == ["a short line", "[999.0 KB of output left out here]"]
    assert sent[2]["message"] == "." * 996 + "end" and len(sent) == 3


def test_the_kept_end_of_what_a_failing_function_printed_is_in_its_log(make_engine, tmp_path):
    job = script(tmp_path / "fails.py", """
        def main(ctx):
            for i in range(100):
                print(f"line {i}")
            raise RuntimeError("it broke")
    """)
    eng = make_engine(f"""
        [jobs.fails]
        kind = "python"
        file = '{job}'
        retry = {{ attempts = 1 }}
        log_head = 20
        log_tail = 20
    """)
    run = eng.watcher.wait(eng.submit("fails"))
    assert run["state"] == "failed" and "it broke" in run["error"], run
    messages = [l["message"] for l in eng.store.logs(run["id"])]
    assert messages[:2] == ["line 0", "line 1"], messages
    assert messages[2].endswith("of output left out here]")
    assert messages[3:5] == ["line 98", "line 99"], messages


def _strict_json(text: str):
    import json

    def refuse(name):
        raise ValueError(f"{name} is not JSON")
    return json.loads(text, parse_constant=refuse)


def test_nan_and_infinity_in_a_result_are_stored_as_null_with_a_warning(home, tmp_path):
    # NaN is no JSON: stored as it was, the history's result could not be read by a strict
    # reader (a report's, `show --json` piped on, PostgreSQL's jsonb).
    job = script(tmp_path / "ratio.py", """
        def main(ctx):
            return {"summary": "ok", "ratio": float("nan"),
                    "by_month": {"2026-01": 1.5, "2026-02": float("inf")},
                    "deltas": [1, float("-inf")]}
    """)
    home.config_file.write_text(f'[jobs.ratio]\nkind = "python"\nfile = \'{job}\'\n')
    out = trayjobs(home, "run", "ratio", "--wait")
    assert out.returncode == 0, out.stderr
    shown = _strict_json(trayjobs(home, "show", out.stdout.split()[0], "--json", check=True).stdout)
    result = shown["run"]["result"]
    assert result == {"summary": "ok", "ratio": None, "by_month": {"2026-01": 1.5, "2026-02": None},
                      "deltas": [1, None]}
    warnings = [l["message"] for l in shown["log"] if l["level"] == "warning"]
    assert warnings == ["the result's ratio (NaN), by_month.2026-02 (inf) and deltas[1] (-inf) "
                        "are no JSON numbers: stored as null"], warnings
    for line in trayjobs(home, "runs", "--json", check=True).stdout.splitlines():
        _strict_json(line)


def test_show_and_runs_json_write_a_nan_kept_in_the_history_as_null(home, make_store):
    # Results stored before they were made finite still hold NaN: what the command line
    # prints as JSON is JSON all the same.
    store = make_store(home.runs_db)
    rid = store.create_run("old", kind="python", trigger="manual", state="succeeded")
    store.update_run(rid, result={"summary": "ok", "ratio": float("nan")})
    shown = _strict_json(trayjobs(home, "show", str(rid), "--json", check=True).stdout)
    assert shown["run"]["result"] == {"summary": "ok", "ratio": None}
    listed = trayjobs(home, "runs", "--json", check=True).stdout.splitlines()
    assert _strict_json(listed[0])["result"]["ratio"] is None


def test_what_the_programs_a_function_starts_write_is_in_its_log(make_engine, tmp_path):
    # subprocess.run() and os.system() write to the job process's own stdout and stderr,
    # not through print(): that output went to /dev/null, or to the job process's log file.
    job = script(tmp_path / "shells.py", """
        import os, subprocess, sys

        def main(ctx):
            subprocess.run(["sh", "-c", "echo program out; echo program err >&2"], check=True)
            os.system("printf 'bad \\\\377 byte\\\\n'")
            os.write(1, b"written to fd 1\\n")
            subprocess.run(["echo", "given sys.stdout"], stdout=sys.stdout, check=True)
            print("printed", flush=True)
            return "ok"
    """)
    eng = make_engine(f"""
        [jobs.shells]
        kind = "python"
        file = '{job}'
    """)
    run = eng.watcher.wait(eng.submit("shells"))
    assert run["state"] == "succeeded", run
    logs = [(l["level"], l["message"]) for l in eng.store.logs(run["id"])]
    # In the order written, but for stdout and stderr, two pipes (as a command's are).
    assert ("warning", "program err") in logs
    assert [e for e in logs if e[0] == "info"] == [
        ("info", "program out"), ("info", "bad \\xff byte"), ("info", "written to fd 1"),
        ("info", "given sys.stdout"), ("info", "printed")], logs


def test_code_written_for_a_terminal_finds_what_sys_stdout_has(make_engine, tmp_path):
    # sys.stdout.buffer for bytes, reconfigure() for an encoding: common in scripts, and an
    # AttributeError failed the run.
    job = script(tmp_path / "term.py", """
        import io, sys

        def main(ctx):
            sys.stdout.reconfigure(encoding="utf-8", line_buffering=True)
            sys.stdout.buffer.write(b"raw \\xff bytes\\n")
            sys.stdout.buffer.flush()
            wrapped = io.TextIOWrapper(sys.stderr.buffer, encoding="utf-8", write_through=True)
            wrapped.write("through a wrapper\\n")
            return f"{sys.stdout.encoding} {sys.stdout.isatty()}"
    """)
    eng = make_engine(f"""
        [jobs.term]
        kind = "python"
        file = '{job}'
    """)
    run = eng.watcher.wait(eng.submit("term"))
    assert run["state"] == "succeeded", run
    assert run["result"]["summary"] == "utf-8 False"
    logs = [(l["level"], l["message"]) for l in eng.store.logs(run["id"])]
    assert ("info", "raw \\xff bytes") in logs and ("warning", "through a wrapper") in logs


def test_a_result_keyed_by_dates_paths_or_tuples_keeps_them_as_text(make_engine, tmp_path):
    # A count per day is a dict keyed by dates: JSON takes only text keys, and the run
    # failed; the keys are stored as their text, as such values are.
    job = script(tmp_path / "pairs.py", """
        from datetime import date
        from pathlib import Path
        def main(ctx):
            return {"summary": "paired", (1, 2): "a tuple", date(2026, 12, 1): 3,
                    Path("/tmp/x"): {"b": 1}, 7: "seven", None: "none"}
    """)
    eng = make_engine(f"""
        [jobs.pairs]
        kind = "python"
        file = '{job}'
    """)
    run = eng.watcher.wait(eng.submit("pairs"))
    assert run["state"] == "succeeded", run
    assert run["result"] == {"summary": "paired", "(1, 2)": "a tuple", "2026-12-01": 3,
                             "/tmp/x": {"b": 1}, "7": "seven", "null": "none"}


def test_check_tells_a_name_set_to_a_plain_value_from_a_function(home, tmp_path):
    # `main = 5` passed `trayjobs check` and failed every run.
    five = script(tmp_path / "five.py", "main = 5\nlater = 'x'\ndef later(ctx):\n    return 1\n"
                                        "maybe = 1\nif True:\n    maybe = print\n")
    home.config_file.write_text(
        f'[jobs.five]\nkind = "python"\nfile = \'{five}\'\n'
        f'[jobs.later]\nkind = "python"\nfile = \'{five}\'\nfunction = "later"\n'
        f'[jobs.maybe]\nkind = "python"\nfile = \'{five}\'\nfunction = "maybe"\n',
        encoding="utf-8")
    out = trayjobs(home, "check")
    assert out.returncode == 1
    assert (f"job 'five', key 'function': {five}: main is 5, not a function; name a function "
            f"with 'function'") in out.stderr
    assert "2 jobs OK, 1 error" in out.stdout, out.stdout + out.stderr


def test_a_script_that_exits_or_misses_a_module_as_it_loads_says_so_and_is_not_retried(
        make_engine, tmp_path):
    # Both failed as "SystemExit: 0" or "ModuleNotFoundError: ...", and were retried: the
    # next attempt loads the same file in the same environment.
    exits = script(tmp_path / "exits.py", """
        import sys
        print("working at the top level")
        sys.exit(0)
    """)
    missing = script(tmp_path / "missing.py", """
        import no_such_module_here

        def main(ctx):
            return "never"
    """)
    eng = make_engine(f"""
        [jobs.exits]
        kind = "python"
        file = '{exits}'
        [jobs.missing]
        kind = "python"
        file = '{missing}'
    """)
    run = eng.watcher.wait(eng.submit("exits"))
    assert run["state"] == "failed" and run["attempt"] == 1, run
    assert (f"{exits} called sys.exit(0) as it was loaded: code at its top level runs when the "
            f"job loads it; put the work in a function, def main(ctx)") in run["error"]
    run = eng.watcher.wait(eng.submit("missing"))
    assert run["state"] == "failed" and run["attempt"] == 1, run
    assert (f"{missing} imports 'no_such_module_here', which is not installed in trayjobs' "
            f"environment") in run["error"]


def test_a_programs_long_output_reaches_the_log_whole_and_in_order(make_engine, tmp_path):
    # Handing on one piece read from the pipe is writing a line, which looks for more to
    # read first: a later piece was handed on inside an earlier one, cutting lines apart.
    job = script(tmp_path / "counts.py", """
        import subprocess

        def main(ctx):
            subprocess.run(["seq", "1", "60000"], check=True)
            subprocess.run(["sh", "-c", "seq 1 3000 >&2"], check=True)
            return "counted"
    """)
    eng = make_engine(f"""
        [jobs.counts]
        kind = "python"
        file = '{job}'
    """)
    run = eng.watcher.wait(eng.submit("counts"))
    assert run["state"] == "succeeded", run
    logs = eng.store.logs(run["id"], limit=100_000)
    assert [l["message"] for l in logs if l["level"] == "info"] == [
        str(n) for n in range(1, 60001)]
    assert [l["message"] for l in logs if l["level"] == "warning"] == [
        str(n) for n in range(1, 3001)]


def test_a_child_forked_while_a_programs_output_is_read_can_print(make_engine, tmp_path):
    # The lock that orders printed lines and a program's output may be held by a reading
    # thread as the function forks (multiprocessing): the child's first print() waited on
    # it for ever.
    job = script(tmp_path / "forks.py", """
        import os, subprocess, sys, time

        def main(ctx):
            chatter = subprocess.Popen(["sh", "-c", "yes 'some output' | head -c 20000000"])
            hung = 0
            for _ in range(40):
                pid = os.fork()
                if pid == 0:
                    print("from the child")
                    sys.stdout.flush()
                    os._exit(0)
                for _ in range(200):  # 2 s
                    if os.waitpid(pid, os.WNOHANG)[0]:
                        break
                    time.sleep(0.01)
                else:
                    os.kill(pid, 9)
                    os.waitpid(pid, 0)
                    hung += 1
            chatter.wait()
            return f"{hung} hung"
    """)
    eng = make_engine(f"""
        [jobs.forks]
        kind = "python"
        file = '{job}'
        log_head = 1000
        log_tail = 1000
        timeout = "60s"
    """)
    run = eng.watcher.wait(eng.submit("forks"), timeout=90)
    assert run["state"] == "succeeded", run
    assert run["result"]["summary"] == "0 hung"


def test_a_copy_the_function_forks_that_returns_too_does_not_report_the_run(make_engine, tmp_path):
    # os.fork() returns in both processes: the copy returning (or raising) went on as the job
    # process and sent the run's end first, so the run took the copy's result.
    job = script(tmp_path / "forks.py", """
        import os

        def main(ctx):
            pid = os.fork()
            if pid == 0:
                return "from the copy"
            os.waitpid(pid, 0)
            return "from the parent"

        def raises(ctx):
            pid = os.fork()
            if pid == 0:
                raise ValueError("in the copy")
            os.waitpid(pid, 0)
            return "from the parent"
    """)
    eng = make_engine(f"""
        [jobs.forks]
        kind = "python"
        file = '{job}'
        retry = {{ attempts = 1 }}
        [jobs.raises]
        kind = "python"
        file = '{job}'
        function = "raises"
        retry = {{ attempts = 1 }}
    """)
    run = eng.watcher.wait(eng.submit("forks"), timeout=30)
    assert (run["state"], run["result"]["summary"]) == ("succeeded", "from the parent"), run
    run = eng.watcher.wait(eng.submit("raises"), timeout=30)
    assert (run["state"], run["result"]["summary"]) == ("succeeded", "from the parent"), run
    assert any("ValueError: in the copy" in l["message"] for l in eng.store.logs(run["id"]))


def test_a_returned_generator_or_a_function_needing_more_than_ctx_fails_at_once(make_engine,
                                                                               tmp_path):
    # A returned (x for x in ...) did none of its work, yet the run succeeded with
    # "<generator object ...>" for a summary; a function needing more than the context
    # (a plain method's self, say) failed with a bare TypeError at each of its attempts.
    job = script(tmp_path / "odd.py", """
        def lazy(ctx):
            return (print("worked") for _ in range(3))

        def needs(ctx, folder):
            return "ran"

        class Nightly:
            def run(self, ctx):
                return "ran"
    """)
    eng = make_engine("".join(f"""
        [jobs.{name}]
        kind = "python"
        file = '{job}'
        function = "{function}"
    """ for name, function in (("lazy", "lazy"), ("needs", "needs"),
                               ("method", "Nightly.run"))))
    lazy = eng.watcher.wait(eng.submit("lazy"))
    assert (lazy["state"], lazy["attempt"]) == ("failed", 1), lazy
    assert f"{job}:lazy returned a generator, so the work in it never ran" in lazy["error"]
    needs = eng.watcher.wait(eng.submit("needs"))
    assert (needs["state"], needs["attempt"]) == ("failed", 1), needs
    assert f"{job}:needs(ctx, folder) cannot be called: a job's function is given the run's " \
        f"context alone, as its one positional argument: declare it def needs(ctx), or " \
        f"def needs() if it needs nothing; read 'folder' from ctx.params" in needs["error"], \
        needs["error"]
    method = eng.watcher.wait(eng.submit("method"))
    assert (method["state"], method["attempt"]) == ("failed", 1), method
    assert "looks like a plain method (it takes 'self'): make it a @staticmethod" in \
        method["error"], method["error"]


def test_a_module_in_path_named_as_one_imported_already_says_so(make_engine, tmp_path):
    # call = "json:main" with a json.py in path found Python's json, imported already:
    # "json has no 'main'", while check, reading the folder, had found the function.
    script(tmp_path / "mine" / "json.py", """
        def main(ctx):
            return "mine"
    """)
    eng = make_engine(f"""
        [jobs.shadowed]
        kind = "python"
        call = "json:main"
        path = '{tmp_path / "mine"}'
    """)
    run = eng.watcher.wait(eng.submit("shadowed"))
    assert (run["state"], run["attempt"]) == ("failed", 1), run
    assert (f"{tmp_path / 'mine' / 'json.py'} cannot be imported as 'json': trayjobs' Python "
            f"has a module of that name imported already") in run["error"], run["error"]
    assert "rename yours" in run["error"]


def test_a_file_that_is_not_utf8_says_so_and_how_to_name_its_encoding(home, tmp_path):
    # "(unicode error) 'utf-8' codec can't decode byte 0xe9 in position 3" was the message.
    job = tmp_path / "latin.py"
    job.write_bytes(b'def main(ctx):\n    return "caf\xe9"\n')
    home.config_file.write_text(f'[jobs.latin]\nkind = "python"\nfile = \'{job}\'\n')
    said = (f"{job} is not UTF-8 text at line 2 (Python reads its files as UTF-8); save it as "
            f"UTF-8, or name its encoding on its first line: # -*- coding: latin-1 -*-")
    out = trayjobs(home, "check")
    assert out.returncode == 1 and f"job 'latin', key 'file': {said}" in out.stderr, out.stderr
    run = trayjobs(home, "run", "latin", "--wait")
    assert run.returncode == 1 and f"failed: job 'latin': {said}\n" in run.stderr, run.stderr


def test_a_spawn_pool_finds_the_function_of_the_jobs_file(make_engine, tmp_path):
    # The file was loaded as a module no other process could import: the workers of a
    # spawn pool (the default on macOS and Windows) failed to read each task, and the run
    # waited until its timeout.
    job = script(tmp_path / "squares.py", """
        import multiprocessing

        def square(x):
            return x * x

        def main(ctx):
            with multiprocessing.get_context("spawn").Pool(1) as pool:
                return f"{sum(pool.map(square, range(10)))} in all"
    """)
    eng = make_engine(f"""
        [jobs.squares]
        kind = "python"
        file = '{job}'
        timeout = "20s"
        retry = {{ attempts = 1 }}
    """)
    run = eng.watcher.wait(eng.submit("squares"), timeout=40)
    assert (run["state"], run["result"]["summary"]) == ("succeeded", "285 in all"), run


def test_a_script_without_py_at_the_end_of_its_name_runs(make_engine, tmp_path):
    # Python found no loader for ~/bin/sync-notes: check said OK and the run failed with
    # "AttributeError: 'NoneType' object has no attribute 'loader'", retried.
    job = script(tmp_path / "bin" / "sync-notes", """
        def main(ctx):
            return "synced"
    """)
    eng = make_engine(f"""
        [jobs.sync]
        kind = "python"
        file = '{job}'
    """)
    run = eng.watcher.wait(eng.submit("sync"))
    assert (run["state"], run["result"]["summary"]) == ("succeeded", "synced"), run


def test_a_script_that_parses_its_arguments_sees_none(make_engine, tmp_path):
    # sys.argv was the job process's own: argparse found the number of its message pipe,
    # and the run failed with "unrecognized arguments: 9" and sys.exit(2).
    job = script(tmp_path / "limited.py", """
        import argparse, sys

        def main(ctx):
            parser = argparse.ArgumentParser()
            parser.add_argument("--limit", type=int, default=5)
            return f"limit {parser.parse_args().limit}, argv {sys.argv}"
    """)
    eng = make_engine(f"""
        [jobs.limited]
        kind = "python"
        file = '{job}'
        retry = {{ attempts = 1 }}
    """)
    run = eng.watcher.wait(eng.submit("limited"))
    assert run["state"] == "succeeded", run
    assert run["result"]["summary"] == f"limit 5, argv {[str(job)]}"


def test_a_whole_number_too_long_for_python_to_write_is_stored_as_text(make_engine, tmp_path):
    # Over 4,300 digits str() raises ValueError: the run failed, and was retried, each time.
    job = script(tmp_path / "big.py", """
        def main(ctx):
            return 7 ** 6000

        def nested(ctx):
            return {"summary": "big", "n": [-(10 ** 5000)], 10 ** 4400: "key"}

        def huge(ctx):
            return {"summary": "huge", "n": 10 ** 300_000}
    """)
    eng = make_engine("".join(f"""
        [jobs.{name}]
        kind = "python"
        file = '{job}'
        function = "{name}"
        retry = {{ attempts = 3, backoff = "0s" }}
    """ for name in ("main", "nested", "huge")))
    import sys
    digits = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        expected, minus = str(7 ** 6000), str(-(10 ** 5000))
    finally:
        sys.set_int_max_str_digits(digits)
    run = eng.watcher.wait(eng.submit("main"))
    assert (run["state"], run["attempt"]) == ("succeeded", 1), run
    assert run["result"]["value"] == expected
    assert run["result"]["summary"].startswith(expected[:900])
    assert run["result"]["warnings"] == [
        f"the result's value is a whole number of {len(expected):,} digits, more than JSON "
        f"readers take: stored as text"]
    run = eng.watcher.wait(eng.submit("nested"))
    assert (run["state"], run["attempt"]) == ("succeeded", 1), run
    assert run["result"]["n"] == [minus] and run["result"]["1" + "0" * 4400] == "key"
    run = eng.watcher.wait(eng.submit("huge"))
    assert (run["state"], run["attempt"]) == ("succeeded", 1), run
    assert run["result"]["n"] == "<a whole number of about 300,001 digits>"


@pytest.mark.parametrize("value, result", [
    ({1, 2}, {"summary": "[1, 2]", "value": [1, 2]}),
    ({"summary": "s", "tags": frozenset({"b", "a"})}, {"summary": "s", "tags": ["a", "b"]}),
    ((1, (2, 3)), {"summary": "[1, [2, 3]]", "value": [1, [2, 3]]}),
])
def test_sets_and_tuples_are_stored_as_lists(value, result):
    assert as_result(value, "f") == result


def test_a_result_that_cannot_be_said_is_named_or_refused_not_retried(make_engine, tmp_path):
    job = script(tmp_path / "odd.py", """
        class Mute:
            def __str__(self):
                raise RuntimeError("no text")
            __repr__ = __str__

        def mute(ctx):
            return {"summary": "ran", "thing": Mute()}

        def cycle(ctx):
            rows = []
            rows.append({"rows": rows})
            return {"summary": "ran", "rows": rows}
    """)
    eng = make_engine("".join(f"""
        [jobs.{name}]
        kind = "python"
        file = '{job}'
        function = "{name}"
        retry = {{ attempts = 3, backoff = "0s" }}
    """ for name in ("mute", "cycle")))
    run = eng.watcher.wait(eng.submit("mute"))
    assert (run["state"], run["attempt"]) == ("succeeded", 1), run
    assert run["result"] == {"summary": "ran", "thing": "<Mute object>"}
    run = eng.watcher.wait(eng.submit("cycle"))
    assert (run["state"], run["attempt"]) == ("failed", 1), run
    assert run["error"] == ("the job's result could not be stored: it holds itself (at "
                            "rows[0].rows); return data that holds no reference to itself")


def test_a_context_asked_for_by_name_only_says_how_to_declare_it(make_engine, home, tmp_path):
    # def main(*, ctx): told "give the other parameters defaults", which it has none of.
    job = script(tmp_path / "kwonly.py", "def main(*, ctx):\n    return 'ran'\n")
    lam = script(tmp_path / "lam.py", "nightly = lambda ctx, day: None\n")
    eng = make_engine(f"""
        [jobs.kwonly]
        kind = "python"
        file = '{job}'
        retry = {{ attempts = 3, backoff = "0s" }}

        [jobs.lam]
        kind = "python"
        file = '{lam}'
        function = "nightly"
    """)
    run = eng.watcher.wait(eng.submit("kwonly"))
    said = ("a job's function is given the run's context alone, as its one positional "
            "argument (not by name, which `*` asks for): declare it def main(ctx), or "
            "def main() if it needs nothing")
    assert (run["state"], run["attempt"]) == ("failed", 1), run
    assert run["error"] == f"job 'kwonly': {job}:main(*, ctx) cannot be called: {said}"
    out = trayjobs(home, "check")
    assert out.returncode == 1
    assert f"{job}: main(ctx) needs 1 argument (ctx only by name), but {said}" in out.stderr
    # Named as the job names it: a lambda's own name is "<lambda>".
    run = eng.watcher.wait(eng.submit("lam"))
    assert "declare it def nightly(ctx), or def nightly() if it needs nothing; read 'day' " \
        "from ctx.params" in run["error"], run["error"]


@pytest.mark.parametrize("call, said", [
    ("tasks:", "'tasks:' names no function after the colon: write 'tasks:function'"),
    (":nightly", "':nightly' names no module before the colon: write "
                 "'package.module:nightly'"),
    ("tasks.nightly.run", "'tasks.nightly.run' has no colon: write 'tasks.nightly:run', the "
                          "module, a colon, then the function"),
    ("tasks : run", "'tasks : run' has spaces around the colon: write 'tasks:run'"),
    ("tasks:run:now", "'tasks:run:now' has more than one colon"),
    ("my-tasks:run", "'my-tasks:run' is not 'package.module:function': each part is a "
                     "Python name"),
])
def test_a_call_that_is_not_module_colon_function_says_what_is_wrong(call, said):
    from trayjobs.config import parse_config
    [err] = parse_config(f'[jobs.j]\nkind = "python"\ncall = "{call}"\n').errors
    assert f"job 'j', key 'call': {said}" in str(err)


def test_a_function_that_ends_its_process_is_interrupted_not_run_again(make_engine, tmp_path):
    # os._exit() takes the job process with it, as a crash would: what the function did is
    # unknown, so a job that does not say running it twice is safe is not run again.
    count = tmp_path / "count"
    fn = script(tmp_path / "quit.py", f"""
        import os

        def main(ctx):
            with open({str(count)!r}, "a") as f:
                f.write("x")
            os._exit(3)
    """)
    eng = make_engine(f"""
        [jobs.quit]
        kind = "python"
        file = '{fn}'
        retry = {{ attempts = 3, backoff = "0s" }}
    """)
    run = eng.watcher.wait(eng.submit("quit"))
    assert run["state"] == "interrupted" and run["attempt"] == 1, run
    assert "not run again by itself" in run["error"] and count.read_text() == "x"



def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"  # a zombie: ended
    except OSError:
        return True


def test_a_crash_after_os_system_started_a_program_in_the_background_ends_the_run(
        make_engine, tmp_path):
    # os.system() passes the job process's files on: its message pipe, whose end tells the
    # engine that the process died, stayed open in "sleep 300 &", and the run stayed
    # "running" for as long as the sleep did
    marker = tmp_path / "bg.pid"
    fn = script(tmp_path / "bg.py", f"""
        import os

        def main(ctx):
            os.system("sleep 300 >/dev/null 2>&1 & echo $! > {marker}")
            os._exit(3)
    """)
    eng = make_engine(f"""
        [jobs.bg]
        kind = "python"
        file = '{fn}'
        retry = {{ attempts = 1 }}
    """)
    try:
        run = eng.watcher.wait(eng.submit("bg"), timeout=20)
        assert run["state"] == "interrupted", run
        assert "exited unexpectedly with code 3" in run["error"]
        # and the program, in the job process's group, went with it
        pid = int(marker.read_text())
        wait_until(lambda: _gone(pid), timeout=10, what="the background program stopped")
    finally:
        if marker.exists():
            try:
                os.kill(int(marker.read_text()), 9)
            except ProcessLookupError:
                pass

def test_a_relative_file_or_path_is_refused_whatever_folder_trayjobs_starts_in(home, tmp_path):
    # Taken in the folder trayjobs happened to be started from, they passed check there and
    # failed the same job when the app or worker started elsewhere.
    import os
    import subprocess
    import sys
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "job.py").write_text("def main(ctx):\n    return 'ran'\n")
    home.config_file.write_text(
        '[jobs.by-file]\nkind = "python"\nfile = "scripts/job.py"\n'
        '[jobs.by-call]\nkind = "python"\ncall = "job:main"\npath = ["scripts"]\n')
    out = subprocess.run([sys.executable, "-m", "trayjobs", "check"], cwd=tmp_path, text=True,
                         capture_output=True, env=dict(os.environ, TRAYJOBS_HOME=str(home.root)))
    assert out.returncode == 1, out.stderr
    assert ("job 'by-file', key 'file': 'scripts/job.py' is a relative path; write it in full, "
            "starting with / or ~") in out.stderr
    assert ("job 'by-call', key 'path': 'scripts' is a relative path; write it in full, "
            "starting with / or ~") in out.stderr


def test_a_shell_script_or_a_program_as_file_is_told_to_be_a_command_job(home, tmp_path):
    # "has a syntax error at line 2: invalid syntax. Perhaps you forgot a comma?" was said of
    # a shell script, and "source code string cannot contain null bytes" of a program.
    script = tmp_path / "backup.sh"
    script.write_text("#!/bin/sh\nrsync -a ~/src/ /dst/\n")
    program = tmp_path / "tool"
    program.write_bytes(b"\x7fELF\x02\x01\x01\x00\x00\x00")
    home.config_file.write_text(
        f'[jobs.sh]\nkind = "python"\nfile = \'{script}\'\n'
        f'[jobs.prog]\nkind = "python"\nfile = \'{program}\'\n')
    out = trayjobs(home, "check")
    assert out.returncode == 1
    assert (f"job 'sh', key 'file': {script} is not Python: its first line runs it with "
            f"/bin/sh; run it as a command job: kind = \"command\", command = [\"{script}\"]"
            ) in out.stderr, out.stderr
    assert (f"job 'prog', key 'file': {program} is not Python but a program; run it as a "
            f"command job: kind = \"command\", command = [\"{program}\"]") in out.stderr
    run = trayjobs(home, "run", "sh", "--wait")
    assert run.returncode == 1
    assert f"failed: job 'sh': {script} is not Python: its first line runs it with /bin/sh" \
        in run.stderr, run.stderr
