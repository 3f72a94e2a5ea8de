"""The ``command`` kind: real programs, real pipes, real process groups."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from textwrap import dedent

import pytest

from pg_support import ON_POSTGRES
from helpers import live_processes, start_worker, trayjobs, wait_run, wait_until
from trayjobs.durations import format_size
from trayjobs.errors import Cancelled, JobFailed, UserError
from trayjobs.kinds.command import CommandKind, output_dir
from trayjobs.kinds.command.progress import Progress, parse_progress
from trayjobs.store.open import open_store

PY = sys.executable


def run_kind(ctx, **params):
    return CommandKind().run(ctx, CommandKind.parse_params(params))


def lines_of(ctx) -> list[str]:
    """The logged lines (lines that arrive together are one log entry)."""
    return [line for entry in ctx.sink.logs for line in entry.split("\n")]


def progress_of(ctx) -> list[tuple]:
    return [(m["done"], m["total"], m["message"]) for m in ctx.sink.of("progress")]


def members(pgid: int) -> list[int]:
    """The live processes of a process group (zombies waiting for a reaper are not)."""
    return live_processes(group=pgid)


# -- progress from output -----------------------------------------------------------------

@pytest.mark.parametrize("line, expected", [
    ("copying photos... 42%", Progress(42, 100, "copying photos...", "%")),
    ("  1,234,567  45%   10.00MB/s    0:00:12 (xfr#3, to-chk=7/10)",
     Progress(45, 100, "1,234,567 bytes at 10.00MB/s, 0:00:12 (xfr#3, to-chk=7/10)", "%")),
    ("PROGRESS 3/10 three of ten", Progress(3, 10, "three of ten", protocol=True)),
    ("PROGRESS 3/10", Progress(3, 10, None, protocol=True)),
    ('{"progress": 3, "total": 10, "message": "rows"}', Progress(3, 10, "rows", protocol=True)),
    ('{"progress": 7}', Progress(7, None, None, protocol=True)),
])
def test_progress_formats_are_read(line, expected):
    assert parse_progress(line) == expected


@pytest.mark.parametrize("line", ["done", "150%", "50% of the time it works", '{"total": 3}',
                                  "PROGRESS three/ten", "{not json, \"progress\"",
                                  '{"progress": NaN, "total": 10}', '{"progress": 1e999}',
                                  '{"progress": 3, "total": Infinity}',
                                  '{"progress": 1%s}' % ("0" * 400),
                                  "PROGRESS 1%s/2" % ("0" * 400)])
def test_other_lines_are_no_progress(line):
    assert parse_progress(line) is None


@pytest.mark.parametrize("printed, expected", [
    (r"PROGRESS 1/4 first\n", (1, 4, "first")),
    (r'{"progress": 2, "total": 4, "message": "second"}\n', (2, 4, "second")),
    (r"     262,144  75%%   10.00MB/s    0:00:01 (xfr#3, to-chk=1/4)\r",
     (75, 100, "262,144 bytes at 10.00MB/s, 0:00:01 (xfr#3, to-chk=1/4)")),
    (r"copying 40%%\n", (40, 100, "copying")),
])
def test_a_program_reports_progress_in_each_form(make_ctx, printed, expected):
    ctx = make_ctx("p")
    result = run_kind(ctx, command=f"printf 'starting\\n'; printf '{printed}'; printf 'done\\n'")
    assert result["exit_code"] == 0
    assert progress_of(ctx)[-1] == expected
    # Lines written for trayjobs become progress only; the rest is logged.
    protocol = printed.startswith(("PROGRESS", "{"))
    assert len(lines_of(ctx)) == (2 if protocol else 3) - printed.endswith("\\r")


def test_a_progress_line_with_a_number_too_big_for_a_float_is_logged_not_fatal(make_ctx):
    ctx = make_ctx("huge")
    huge = "1" + "0" * 400
    result = run_kind(ctx, command=f"""printf '{{"progress": {huge}}}\\nPROGRESS 2/4\\ndone\\n'""")
    assert result["exit_code"] == 0 and result["summary"] == "done"
    assert progress_of(ctx) == [(2, 4, None)]
    assert lines_of(ctx) == [f'{{"progress": {huge}}}', "done"]


def test_a_silent_program_shows_elapsed_time(make_ctx, tmp_path):
    ctx = make_ctx("quiet")
    run_kind(ctx, command=[PY, "-c", "import time; time.sleep(1.3)"])
    ticks = ctx.sink.of("progress")
    assert ticks and ticks[0]["total"] is None
    assert ticks[0]["message"].startswith("running for 1")


def test_a_redrawn_line_is_logged_once_in_its_final_state(make_ctx):
    ctx = make_ctx("bar")
    run_kind(ctx, command=r"printf '10%%\r20%%\r30%%\rcopied all\n'")
    assert lines_of(ctx) == ["copied all"]
    assert [p[0] for p in progress_of(ctx)][-1] == 30



@pytest.mark.parametrize("size", [300_000, 3_000_000])
def test_a_long_line_in_the_kept_tail_loses_neither_its_end_nor_the_lines_after(make_ctx, size):
    # a line too long for one log entry, past the head, is logged in pieces at the end:
    # each counted with a newline it does not have, which once ran the log out of room
    ctx = make_ctx("tail")
    program = f"import sys; sys.stdout.write('a' * {size} + '\\nlast words\\n')"
    result = run_kind(ctx, command=[PY, "-c", program], log_head=1000)
    lines = lines_of(ctx)
    assert lines[-1] == "last words" and result["summary"] == "last words"
    kept = sum(len(line) for line in lines if set(line) == {"a"})
    assert kept + result["left_out_bytes"] == size


def test_a_line_ending_with_cr_lf_across_two_reads_is_logged(make_ctx):
    script = ("import os, time; os.write(1, b'copied 3 files\\r'); time.sleep(0.3); "
              "os.write(1, b'\\n')")
    result = run_kind(make_ctx("crlf"), command=[PY, "-c", script])
    assert result["summary"] == "copied 3 files"

# -- output -----------------------------------------------------------------------------

def test_stdout_and_stderr_are_logged_apart(make_ctx):
    ctx = make_ctx("both")
    run_kind(ctx, command="echo out; echo err >&2")
    levels = {m["message"]: m["level"] for m in ctx.sink.of("log")}
    assert levels == {"out": "info", "err": "warning"}


def test_binary_output_never_breaks_the_log(make_ctx):
    ctx = make_ctx("bin")
    data = bytes(range(256)) * 40 + b"\n\xff\xfeend\n"
    result = run_kind(ctx, command=[PY, "-c", f"import sys; sys.stdout.buffer.write({data!r})"])
    assert result["exit_code"] == 0
    text = "\n".join(ctx.sink.logs)
    assert "\\xff\\xfeend" in text
    json.dumps(ctx.sink)  # every message still travels as JSON


def test_long_output_keeps_head_and_tail_and_says_what_was_left_out(make_ctx):
    ctx = make_ctx("long")
    result = run_kind(ctx, command=[PY, "-c", "for i in range(20000): print(f'line {i:05}')"],
                      log_head=1200, log_tail=1200)
    entries = ctx.sink.logs  # lines that arrive together are one entry
    logs = [line for entry in entries for line in entry.split("\n")]
    assert logs[0] == "line 00000" and logs[-1] == "line 19999"
    gap = next(m for m in logs if "left out" in m)
    kept = len(logs) - 1
    assert gap == f"[{format_size((20000 - kept) * 11)} of output left out here]"
    i = logs.index(gap)
    assert int(logs[i - 1][5:]) + 20000 - kept + 1 == int(logs[i + 1][5:])  # exactly the middle left out
    assert 150 < kept < 250  # about 100 lines of 11 bytes at each end
    assert result["lines"] is None  # the middle is not read: its size is told, not its lines
    assert result["output_bytes"] == 20000 * 11
    assert result["left_out_bytes"] == (20000 - kept) * 11


def test_lines_that_arrive_together_are_one_log_entry(make_ctx):
    # 100,000 lines as 100,000 log rows took seconds; as entries per read they take milliseconds
    ctx = make_ctx("many")
    result = run_kind(ctx, command=["seq", "100000"])
    entries = [m for m in ctx.sink.logs]
    lines = [line for entry in entries for line in entry.split("\n")]
    assert lines == [str(i) for i in range(1, 100001)]
    assert len(entries) < 200 and result["lines"] == 100000


def test_blank_lines_are_logged_as_written_and_counted(make_ctx):
    ctx = make_ctx("blanks")
    result = run_kind(ctx, command=r"printf '\none\n\n  \n\ttwo  \n \t\nthree\n\n'; "
                                   r"printf '\n\nerr\n \n' >&2; printf '\n \n' >&2")
    out = [m["message"] for m in ctx.sink.of("log") if m["level"] == "info"]
    err = [m["message"] for m in ctx.sink.of("log") if m["level"] == "warning"]
    assert "\n".join(out) == "\none\n\n  \n\ttwo  \n \t\nthree\n"
    assert "\n".join(err).strip() == "err"  # an entry of nothing but blank lines: not logged
    assert result["lines"] == 14


def test_progress_among_plain_lines_is_read_from_the_latest(make_ctx):
    # a chunk of lines is read for progress from its end: the last percentage counts
    ctx = make_ctx("pct")
    script = "for i in range(1, 2001): print(f'file {i}: {i * 100 // 2000}%')"
    result = run_kind(ctx, command=[PY, "-c", script])
    assert result["lines"] == 2000 and len(lines_of(ctx)) == 2000
    assert progress_of(ctx)[-1] == (100, 100, "file 2000")


def test_a_large_output_keeps_exact_lines_at_both_ends(make_ctx):
    # 3 million lines (20 MB) arrive in many chunks; the head and the tail are whole lines,
    # the middle is measured, and it takes well under the seconds it took line by line
    ctx = make_ctx("large")
    started = time.monotonic()
    result = run_kind(ctx, command=["seq", "3000000"], log_head=100_000, log_tail=100_000)
    took = time.monotonic() - started
    logs = lines_of(ctx)
    gap = next(i for i, m in enumerate(logs) if "left out" in m)
    head, tail = logs[:gap], logs[gap + 1:]
    assert head == [str(i) for i in range(1, len(head) + 1)]
    assert tail == [str(i) for i in range(3_000_001 - len(tail), 3_000_001)]
    size = sum(len(str(i)) + 1 for i in range(1, 3_000_001))
    left_out = size - sum(len(x) + 1 for x in head + tail)
    assert logs[gap] == f"[{format_size(left_out)} of output left out here]"
    assert 90_000 < sum(len(x) + 1 for x in head) <= 100_000
    assert 90_000 < sum(len(x) + 1 for x in tail) <= 100_000
    assert result["output_bytes"] == size and result["left_out_bytes"] == left_out
    assert result["summary"] == "3000000"
    assert took < 10, took


def test_long_output_defaults_keep_a_megabyte_at_each_end(make_ctx):
    params = CommandKind.parse_params({"command": "true"})
    assert params.log_head == params.log_tail == 1_000_000


@pytest.mark.skipif(ON_POSTGRES, reason="counts the commits of the SQLite connection")
def test_a_batch_of_log_lines_is_one_commit(home):
    """Many lines a second reach the store in batches; a batch is one transaction, not a
    commit per line (which made 100,000 lines take minutes)."""
    store = open_store(home)
    rid = store.create_run("j", kind="command", trigger="cli")
    commits = []
    store.conn.set_trace_callback(lambda sql: commits.append(sql) if sql == "COMMIT" else None)
    store.add_logs(rid, [(1.0, "info", f"line {i}") for i in range(500)])
    assert len(commits) == 1
    with pytest.raises(Exception):  # a bad line in the middle: the batch is all or nothing
        store.add_logs(rid, [(1.0, "info", "ok"), (1.0, "info", object()), (1.0, "info", "ok")])
    assert len(store.logs(rid)) == 500
    store.close()


# -- exit codes --------------------------------------------------------------------------

def test_a_failing_program_fails_with_its_code_and_last_stderr_lines(make_ctx):
    ctx = make_ctx("fail")
    script = "for i in $(seq 1 30); do echo problem $i >&2; done; echo fine; exit 4"
    with pytest.raises(JobFailed) as exc:
        run_kind(ctx, command=script)
    message = str(exc.value)
    assert message.startswith("exit code 4: problem 30\n")  # what a list of runs shows
    assert message.splitlines()[1:] == [f"problem {i}" for i in range(11, 31)]
    assert exc.value.retry



def test_a_complaint_written_in_pieces_before_a_flood_is_the_error(make_ctx):
    # stderr unbuffered, as C's is: the program's name and the reason are writes of their
    # own, each read alone, and the flood of stdout after them is far more than the log keeps
    script = dedent("""
        import os, sys
        for piece in (b"tool: ", b"cannot open 'x'", b": Permission denied", b"\\n"):
            os.write(2, piece)
            os.write(1, b"".join(b"row %06d\\n" % i for i in range(20_000)))
        sys.exit(2)
    """)
    with pytest.raises(JobFailed) as exc:
        run_kind(make_ctx("pieces"), command=[PY, "-c", script],
                 log_head=1000, log_tail=1000)
    assert str(exc.value) == "exit code 2: tool: cannot open 'x': Permission denied"

def test_a_successful_run_is_summed_up_by_the_programs_last_line(make_ctx):
    result = run_kind(make_ctx("ok"), command="echo copying; echo 'sent 1.2 GB in 3 files'")
    assert result["summary"] == "sent 1.2 GB in 3 files"
    result = run_kind(make_ctx("quiet"), command="true")
    assert result["summary"].startswith("done in ")
    result = run_kind(make_ctx("rsync"), command="echo some vanished; exit 24", success_codes=[0, 24])
    assert result["summary"] == "some vanished (exit code 24)"


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_progress_lines_past_the_head_are_never_the_summary_nor_the_error(make_ctx, stream):
    # each file told, then its progress for trayjobs: far more than the log keeps, and
    # what is left out is still read for the last words, which are never progress lines
    script = dedent(f"""
        import sys
        for i in range(20_000):
            print(f"file {{i}} skipped", file=sys.{stream})
            print('{{"progress": %d, "total": 20000}}' % i, file=sys.{stream})
            print("PROGRESS %d/20000" % i, file=sys.{stream})
        sys.exit(int(sys.argv[1]))
    """)
    # the kept tail holds the last progress lines only
    result = run_kind(make_ctx("ok"), command=[PY, "-c", script, "0"],
                      log_head=1000, log_tail=40)
    assert result["summary"] == "file 19999 skipped" and result["left_out_bytes"] > 0
    with pytest.raises(JobFailed) as exc:
        run_kind(make_ctx("fail"), command=[PY, "-c", script, "3"],
                 log_head=1000, log_tail=40)
    if stream == "stderr":
        assert str(exc.value).splitlines() == ["exit code 3: file 19999 skipped"] + [
            f"file {i} skipped" for i in range(19_980, 20_000)]
    else:
        assert str(exc.value) == "exit code 3"

@pytest.mark.parametrize("command, message", [
    ("0 2 * * * ~/bin/backup.sh --all > /tmp/log 2>&1",
     'program named "0": write its schedule as cron = "0 2 * * *" and the command alone, '
     'command = "~/bin/backup.sh --all > /tmp/log 2>&1"'),
    ("*/15 9-17 * * mon-fri ~/bin/sync",
     'program named "*/15": write its schedule as cron = "*/15 9-17 * * mon-fri" and the '
     'command alone, command = "~/bin/sync"'),
    ("@daily ~/bin/backup.sh", 'write its schedule as cron = "0 0 * * *" and the command alone'),
    ("@reboot ~/bin/start", "write its schedule as at_login = true and the command alone"),
])
def test_a_whole_crontab_line_as_the_command_is_refused(command, message):
    # It passed the check, then ran "0" (not found), or with "* * * * *" the first file of
    # cwd, with the others as its arguments.
    from trayjobs.config import parse_config
    cfg = parse_config(f'[jobs.cmd]\nkind = "command"\ncommand = {json.dumps(command)}\n')
    assert [(e.key, message in e.message) for e in cfg.errors] == [("command", True)], \
        cfg.errors
    assert cfg.errors[0].message.startswith("this is a whole crontab line")


@pytest.mark.parametrize("command", ["7z a out.7z ~/docs", "echo 0 2 * * * x", "1 2 3 4 5",
                                     "2to3 -w *.py"])
def test_a_command_that_only_looks_like_cron_fields_is_kept(command):
    from trayjobs.config import parse_config
    cfg = parse_config(f'[jobs.cmd]\nkind = "command"\ncommand = {json.dumps(command)}\n')
    assert not cfg.errors and "cmd" in cfg.jobs


def test_success_codes_are_successes(make_ctx):
    result = run_kind(make_ctx("rsync"), command="exit 24", success_codes=[0, 24])
    assert result["exit_code"] == 24
    with pytest.raises(JobFailed, match="exit code 0"):
        run_kind(make_ctx("rsync"), command="true", success_codes=[24])


@pytest.mark.parametrize("code, attempts", [(75, 3), (2, 1), ("signal", 1)])
def test_retry_codes_retry_those_exit_codes_alone(make_engine, tmp_path, code, attempts):
    # As a queue's "retry on these errors only": a bad input (exit 2) or a crash is not
    # run again, where a "try again later" (75) is.
    count = tmp_path / "count"
    end = "kill -SEGV $$" if code == "signal" else f"exit {code}"
    eng = _engine_job(make_engine, f"""
        command = "echo x >> '{count}'; {end}"
        retry = {{ attempts = 3, backoff = "1s", max_backoff = "1s", jitter = false }}
        retry_codes = [75]
    """)
    run = eng.watcher.wait(eng.submit("cmd"), timeout=30)
    assert run["state"] == "failed"
    assert len(count.read_text().splitlines()) == attempts
    assert len(eng.store.attempts(run["id"])) == attempts
    if attempts == 1:
        assert run["error"].endswith("; not tried again: only exit code 75 is (retry_codes)")


def test_retry_codes_leave_a_timeout_to_be_tried_again(make_engine, tmp_path):
    count = tmp_path / "count"
    eng = _engine_job(make_engine, f"""
        command = "echo x >> '{count}'; sleep 30"
        timeout = "1s"
        kill_grace = 0.2
        retry = {{ attempts = 2, backoff = "1s", jitter = false }}
        retry_codes = [75]
    """)
    run = eng.watcher.wait(eng.submit("cmd"), timeout=30)
    assert (run["state"], run["error"]) == ("failed", "timed out after 1.0 s")
    assert len(count.read_text().splitlines()) == 2


def test_retry_codes_in_success_codes_or_in_retry_are_config_errors():
    from trayjobs.config import parse_config
    cfg = parse_config('[jobs.cmd]\nkind = "command"\ncommand = "true"\n'
                       'success_codes = [0, 75]\nretry_codes = [75, 1]\n')
    assert [(e.job, e.key, e.message) for e in cfg.errors] == [
        ("cmd", "retry_codes", "75: in success_codes too, so never tried again; take it out "
                               "of one of the two")]
    cfg = parse_config('[jobs.cmd]\nkind = "command"\ncommand = "true"\n'
                       'retry = { attempts = 3, retry_on = [75] }\n')
    assert [(e.key, e.message) for e in cfg.errors] == [
        ("retry.retry_on", "unknown key; the exit codes to retry are a command job's "
                           "retry_codes, written beside retry: retry_codes = [75]")]


def test_a_program_killed_by_a_signal_says_so(make_ctx):
    with pytest.raises(JobFailed, match="killed by SIGSEGV"):
        run_kind(make_ctx("segv"), command="kill -SEGV $$")


def test_a_program_that_dumped_core_says_so(make_ctx, tmp_path):
    # As a shell says "Aborted (core dumped)": where to look for what happened.
    import resource
    if resource.getrlimit(resource.RLIMIT_CORE)[1] == 0:
        pytest.skip("core dumps are not allowed here")
    script = f"ulimit -c unlimited; exec {PY} -c 'import os; os.abort()'"
    with pytest.raises(JobFailed) as info:
        run_kind(make_ctx("abort"), command=["sh", "-c", script], cwd=str(tmp_path))
    assert str(info.value) == "killed by SIGABRT (core dumped)"
    for core in tmp_path.glob("core*"):  # megabytes each
        core.unlink()
    with pytest.raises(JobFailed) as info:  # no core: nothing said of one
        run_kind(make_ctx("abort"), command=["sh", "-c", script.replace("unlimited", "0")],
                 cwd=str(tmp_path))
    assert str(info.value) == "killed by SIGABRT"


def test_a_program_killed_by_sigkill_says_who_may_have_done_it(make_ctx):
    # the out-of-memory killer's work looked like any signal's
    with pytest.raises(JobFailed) as info:
        run_kind(make_ctx("oom"), command=[PY, "-c", "import os; os.kill(os.getpid(), 9)"])
    assert str(info.value) == ("killed by SIGKILL (from outside: often the out-of-memory "
                               "killer, when the system ran short of memory)")


@pytest.mark.parametrize("command", [
    "sleep 5 & kill -KILL $!; wait $!",          # a shell line: its last program was killed
    [PY, "-c", "import sys; sys.exit(137)"],     # a script ending with such a shell's code
])
def test_an_exit_code_over_128_names_the_signal_a_shell_means_by_it(make_ctx, command):
    with pytest.raises(JobFailed) as info:
        run_kind(make_ctx("shell-killed"), command=command)
    assert str(info.value).startswith(
        "exit code 137 (128 + 9: as a shell reports a program killed by SIGKILL")


# -- the program's environment -------------------------------------------------------------

def test_the_program_gets_the_run_details_files_and_an_output_dir(make_ctx, tmp_path):
    a, b = tmp_path / "a b.csv", tmp_path / "c.csv"
    ctx = make_ctx("env-job", run_id=42, files=[a, b], attempt=2, trigger="watch")
    script = dedent("""
        import json, os, sys
        keys = [k for k in os.environ if k.startswith("TRAYJOBS_") or k == "MINE"]
        out = os.path.join(os.environ["TRAYJOBS_OUTPUT_DIR"], "env.json")
        with open(out, "w") as f:
            json.dump({"env": {k: os.environ[k] for k in keys}, "argv": sys.argv[1:]}, f)
    """)
    result = run_kind(ctx, command=[PY, "-c", script, "~/x", "{files}", "end"],
                      env={"MINE": "mine ~"})
    out = output_dir(ctx)
    assert out == ctx.home.data_dir / "outputs" / "42"
    assert result["outputs"] == [str(out / "env.json")]
    data = json.loads((out / "env.json").read_text())
    assert data["argv"] == [str(Path.home() / "x"), str(a), str(b), "end"]
    env = data["env"]
    assert env["TRAYJOBS_RUN_ID"] == "42" and env["TRAYJOBS_JOB"] == "env-job"
    assert env["TRAYJOBS_TRIGGER"] == "watch" and env["TRAYJOBS_ATTEMPT"] == "2"
    assert env["TRAYJOBS_FILES"] == f"{a}\n{b}"
    assert json.loads(env["TRAYJOBS_PARAMS"]) == {}
    assert env["TRAYJOBS_SCHEDULED_FOR"] == ""
    assert env["MINE"] == "mine ~"


def test_files_in_a_shell_command_are_quoted(make_ctx, tmp_path):
    f = tmp_path / "it's here.txt"
    f.write_text("x")
    ctx = make_ctx("sh", files=[f])
    run_kind(ctx, command='ls {files}; echo "$TRAYJOBS_FILES"', cwd=str(tmp_path))
    assert lines_of(ctx) == [str(f), str(f)]


def test_a_file_name_with_a_line_break_is_not_split_in_trayjobs_files(make_ctx, tmp_path):
    # One per line, "a.txt<newline>keep.txt" read as two files: the second a relative name,
    # which a script removing its inputs would remove from its own folder (the home).
    odd = tmp_path / "a.txt\nkeep.txt"
    odd.write_text("x")
    plain = tmp_path / "b.txt"
    plain.write_text("y")
    ctx = make_ctx("lines", files=[odd, plain])
    result = run_kind(ctx, command='printf "%s" "$TRAYJOBS_FILES" > "$TRAYJOBS_OUTPUT_DIR/f"; '
                                   'for f in {files}; do test -e "$f" || exit 3; done')
    listed = Path(result["outputs"][0]).read_text().split("\n")
    assert listed == [str(plain)]
    warned = [m["message"] for m in ctx.sink.of("log") if m.get("level") == "warning"]
    assert any("a.txt\\nkeep.txt" in w and "left out of TRAYJOBS_FILES" in w for w in warned), warned


# -- many input files, long arguments and variables ---------------------------------------

def _many(tmp_path, n: int = 3000) -> list[Path]:
    # 3000 names of 70-odd characters: over 200 KB, more than one argument or environment
    # variable may hold on Linux (128 KB), far less than all of them together may
    return [tmp_path / f"photo_from_the_long_holiday_trip_number_{i:05d}.jpg" for i in range(n)]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux's limit of one string")
def test_many_input_files_reach_a_program_that_takes_them_as_arguments(make_ctx, tmp_path):
    # A drop of 3000 photos failed "cannot start: Argument list too long", whatever the
    # command: TRAYJOBS_FILES held them all in one variable, more than Linux lets one hold.
    files = _many(tmp_path)
    ctx = make_ctx("many", files=files)
    result = run_kind(ctx, command=[PY, "-c", "import sys; print(len(sys.argv) - 1)",
                                    "{files}"])
    assert result["summary"] == "3000"
    warned = [m["message"] for m in ctx.sink.of("log") if m.get("level") == "warning"]
    assert any("TRAYJOBS_FILES" in w and "{files}" in w for w in warned), warned


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux's limit of one string")
def test_many_input_files_reach_a_shell_command(make_ctx, tmp_path):
    # the command line with the names quoted in it is one argument of sh -c: too long
    files = _many(tmp_path)
    files[7] = tmp_path / "it's \"odd\" $HOME.jpg"
    ctx = make_ctx("many-sh", files=files)
    result = run_kind(ctx, command='n=0; for f in {files}; do n=$((n+1)); done; echo "$n"; '
                                   'printf "%s\\n" {files} | sed -n 8p')
    said = [m["message"] for m in ctx.sink.of("log") if m.get("level") == "info"]
    assert "\n".join(said).split("\n") == ["3000", str(files[7])]
    assert result["exit_code"] == 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux's limit of one string")
def test_too_many_files_for_trayjobs_files_fail_saying_so(make_ctx, tmp_path):
    # a program that reads its files from TRAYJOBS_FILES alone cannot be given them all:
    # said, not run with none (which it would take for nothing to do)
    ctx = make_ctx("many-env", files=_many(tmp_path))
    with pytest.raises(JobFailed) as info:
        run_kind(ctx, command=[PY, "-c", "print('ran')"])
    message = str(info.value)
    assert "3,000 input files" in message and "TRAYJOBS_FILES" in message
    assert "{files}" in message and info.value.retry is False
    assert lines_of(ctx) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux's limit of one string")
def test_a_variable_too_long_for_the_system_is_named(make_ctx):
    ctx = make_ctx("big-env")
    with pytest.raises(JobFailed) as info:
        run_kind(ctx, command=[PY, "-c", "print('ran')"], env={"BIG": "d" * 140_000})
    message = str(info.value)
    assert "'BIG'" in message and "Argument list too long" in message, message
    assert info.value.retry is False


def test_a_file_in_place_of_the_outputs_folder_fails_saying_what_to_move(make_ctx):
    # Every command job failed with "NotADirectoryError: [Errno 20] Not a directory:
    # '.../outputs/5'", tried again each time, naming neither the file nor what to do.
    ctx = make_ctx("blocked", run_id=5)
    blocker = output_dir(ctx).parent
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("not a folder")
    with pytest.raises(JobFailed) as failed:
        run_kind(ctx, command="echo ran > \"$HOME/ran-anyway\"")
    assert str(failed.value) == (f"the run's output folder {output_dir(ctx)} cannot be made: "
                                 f"{blocker} is a file, not a folder; move it away")
    assert failed.value.retry is False
    assert blocker.read_text() == "not a folder"


def test_cwd_defaults_to_home_and_expands(make_ctx):
    ctx = make_ctx("pwd")
    run_kind(ctx, command="pwd")
    assert lines_of(ctx) == [str(Path.home())]


def test_no_outputs_leave_no_folder(make_ctx):
    ctx = make_ctx("none", run_id=7)
    assert run_kind(ctx, command="true")["outputs"] == []
    assert not output_dir(ctx).exists()


def test_outputs_too_deep_to_list_do_not_fail_a_program_that_succeeded(make_ctx):
    """A program that left folders nested past the longest path the system takes (4096
    bytes) in its output folder exited 0: listing its outputs must not fail the run (it
    was failed with "File name too long" and the program run again on each retry)."""
    ctx = make_ctx("deep", run_id=9)
    script = dedent("""
        import os
        os.chdir(os.environ["TRAYJOBS_OUTPUT_DIR"])
        open("top.txt", "w").write("x")
        for _ in range(30):
            os.mkdir("d" * 200)
            os.chdir("d" * 200)
        open("deep.txt", "w").write("x")
        print("wrote them")
    """)
    result = run_kind(ctx, command=[PY, "-c", script])
    assert result["exit_code"] == 0
    assert result["outputs"] == [str(output_dir(ctx) / "top.txt")]
    warned = [m["message"] for m in ctx.sink.of("log") if m.get("level") == "warning"]
    assert any("could not all be listed" in w and "File name too long" in w for w in warned)


# -- bad input ---------------------------------------------------------------------------

def test_bad_input_fails_at_once_naming_job_key_and_remedy(make_ctx, tmp_path):
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    cases = [
        ({"command": ["no-such-program-xyz"]}, "'command'", "not found on PATH; install it"),
        ({"command": [str(tmp_path / "gone.sh")]}, "'command'", "does not exist"),
        ({"command": [str(script)]}, "'command'", "make it executable (chmod +x)"),
        ({"command": [str(tmp_path)]}, "'command'", f"{str(tmp_path)!r} is a folder, not a program"),
        ({"command": "true", "cwd": str(tmp_path / "nowhere")}, "'cwd'", "create it or change cwd"),
        # a file where the folder should be: it is there, so "does not exist" would mislead
        ({"command": "true", "cwd": str(script)}, "'cwd'", f"{script} is a file, not a folder"),
    ]
    for params, key, remedy in cases:
        with pytest.raises(JobFailed) as exc:
            run_kind(make_ctx("backup"), **params)
        assert str(exc.value).startswith(f"job 'backup', key {key}:"), exc.value
        assert remedy in str(exc.value)
        assert exc.value.retry is False
    with pytest.raises(Exception, match="unknown|extra"):
        CommandKind.parse_params({"command": "true", "comand": "x"})
    with pytest.raises(Exception, match="give the program"):
        CommandKind.parse_params({"command": []})



@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux's limit of one string")
def test_check_names_a_variable_or_argument_too_long_to_give_a_program():
    params = CommandKind.parse_params({"command": ["echo", "a" * 200_000, "short"],
                                       "env": {"BIG": "d" * 140_000, "SMALL": "x"}})
    said = dict(CommandKind.problems(params))
    assert set(said) == {"command", "env.BIG"}
    assert "argument 1 is 200.0 KB, more than the system takes in one" in said["command"]
    assert "is 140.0 KB, more than the system lets one variable hold" in said["env.BIG"]

def test_check_reports_what_it_can_see_before_a_run(home, tmp_path):
    home.config_file.write_text(dedent(f"""
        [jobs.ok]
        kind = "command"
        command = ["true"]
        [jobs.missing]
        kind = "command"
        command = ["no-such-program-xyz", "-a"]
        [jobs.nowhere]
        kind = "command"
        command = "true"
        cwd = "{tmp_path / 'nowhere'}"
        [jobs.afile]
        kind = "command"
        command = "true"
        cwd = "{home.config_file}"
    """))
    out = trayjobs(home, "check")
    assert out.returncode == 1, out.stderr  # each would fail its run: errors of those jobs alone
    assert "1 job OK, 3 errors" in out.stdout
    assert "job 'missing', key 'command': the program 'no-such-program-xyz' was not found" in out.stderr
    assert "job 'nowhere', key 'cwd'" in out.stderr
    assert f"job 'afile', key 'cwd': {home.config_file} is a file, not a folder" in out.stderr


def test_check_looks_for_the_program_on_the_path_the_job_gives_it(home, tmp_path):
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "mytool").write_text("#!/bin/sh\necho mytool ran\n")
    (tools / "mytool").chmod(0o755)
    home.config_file.write_text(dedent(f"""
        [jobs.own-path]
        kind = "command"
        command = ["mytool"]
        env = {{ PATH = "{tools}" }}
        [jobs.elsewhere]
        kind = "command"
        command = ["mytool"]
    """))
    out = trayjobs(home, "check")
    # The run finds it on the job's own PATH: check must not call that an error.
    assert "job 'own-path'" not in out.stderr, out.stderr
    assert "job 'elsewhere', key 'command': the program 'mytool' was not found" in out.stderr
    assert trayjobs(home, "run", "own-path", "--wait").returncode == 0


def test_a_relative_cwd_is_refused_whatever_folder_trayjobs_starts_in(home, tmp_path):
    # "work" was taken in the folder trayjobs happened to be started from: check passed
    # there, and the same job failed when the app or worker started elsewhere.
    (tmp_path / "work").mkdir()
    home.config_file.write_text('[jobs.rel]\nkind = "command"\ncommand = "pwd"\ncwd = "work"\n'
                                '[jobs.own]\nkind = "command"\ncommand = "pwd"\ncwd = "~"\n')
    out = subprocess.run([sys.executable, "-m", "trayjobs", "check"], cwd=tmp_path, text=True,
                         capture_output=True, env=dict(os.environ, TRAYJOBS_HOME=str(home.root)))
    assert out.returncode == 1, out.stderr
    assert ("job 'rel', key 'cwd': 'work' is a relative path; write it in full, starting "
            "with / or ~") in out.stderr
    assert "job 'own'" not in out.stderr
    # $HOME is no relative path: what it is, is a variable that is not expanded here
    home.config_file.write_text('[jobs.var]\nkind = "command"\ncommand = "pwd"\ncwd = "$HOME/work"\n')
    out = trayjobs(home, "check")
    assert ("job 'var', key 'cwd': '$HOME/work' starts with a variable, which is not expanded "
            "here; write the path in full, starting with / or ~") in out.stderr, out.stderr


@pytest.mark.parametrize("body, key, message", [
    ('command = ["echo", "a\\u0000b"]', "command", "cannot hold a NUL character"),
    ('command = ["true"]\nenv = { "A=B" = "x" }', "env", "'A=B' cannot be an environment variable's name"),
    ('command = ["true"]\nenv = { "" = "x" }', "env", "'' cannot be an environment variable's name"),
    ('command = ["true"]\nenv = { N = 5 }', "env.N", "write text in quotes"),
    ('command = ["true"]\nsuccess_codes = [0, 256, -1]', "success_codes", "256, -1: a program's exit code is 0 to 255"),
])
def test_what_the_system_would_refuse_at_run_time_is_a_config_error(body, key, message):
    # Each once failed its run with a bare "ValueError: illegal environment variable name"
    # or "embedded null byte", or could never match an exit code.
    from trayjobs.config import parse_config
    cfg = parse_config(f'[jobs.cmd]\nkind = "command"\n{body}\n')
    errors = [(e.job, e.key, e.message) for e in cfg.errors]
    assert len(errors) == 1 and errors[0][:2] == ("cmd", key), errors
    assert message in errors[0][2]


# -- through the engine: live log, cancel, timeout, dry run, recovery ----------------------

def _engine_job(make_engine, body: str, **kw):
    return make_engine("[jobs.cmd]\nkind = \"command\"\n" + dedent(body), **kw)


def test_output_reaches_the_log_while_the_program_runs(make_engine, tmp_path):
    go = tmp_path / "go"
    eng = _engine_job(make_engine, f"""
        command = "echo first; while [ ! -e '{go}' ]; do sleep 0.02; done; echo last"
    """)
    rid = eng.submit("cmd")
    wait_until(lambda: [l for l in eng.store.logs(rid) if l["message"] == "first"])
    assert eng.store.get_run(rid)["state"] == "running"
    go.touch()
    run = eng.watcher.wait(rid)
    assert run["state"] == "succeeded"
    assert [l["message"] for l in eng.store.logs(rid)] == ["first", "last"]


STUBBORN = ("echo $$ > '{pid}'; trap '' TERM; sleep 1000 & "
            "echo started; wait; wait")


def _stubborn_pgid(tmp_path) -> tuple[str, Path]:
    pid = tmp_path / "pgid"
    return STUBBORN.format(pid=pid), pid


@pytest.mark.parametrize("how", ["cancel", "timeout"])
def test_cancel_and_timeout_stop_a_process_tree_that_ignores_term(make_engine, tmp_path, how):
    script, pid_file = _stubborn_pgid(tmp_path)
    extra = 'timeout = "1s"' if how == "timeout" else ""
    eng = _engine_job(make_engine, f"""
        command = "{script}"
        kill_grace = 0.5
        retry = {{ attempts = 1 }}
        {extra}
    """)
    rid = eng.submit("cmd")
    wait_until(lambda: [l for l in eng.store.logs(rid) if l["message"] == "started"])
    pgid = int(pid_file.read_text())
    assert len(members(pgid)) == 2  # the shell and its sleep
    if how == "cancel":
        assert eng.cancel(rid) == "stopping"
    run = eng.watcher.wait(rid)
    assert run["state"] == {"cancel": "cancelled", "timeout": "failed"}[how]
    assert run["error"] == {"cancel": "cancelled", "timeout": "timed out after 1.0 s"}[how]
    assert not members(pgid)  # what is left are zombies, waiting for init to reap them
    lines = [l["message"] for l in eng.store.logs(rid)]
    assert "stopping the program (TERM, then KILL after 500 ms)" in lines
    assert "the program did not stop within 500 ms of TERM: killed (KILL)" in lines


def test_a_program_that_stops_at_term_is_not_said_to_be_killed(make_engine, tmp_path):
    eng = _engine_job(make_engine, """
        command = "echo started; sleep 300"
        kill_grace = 5
        retry = { attempts = 1 }
    """)
    rid = eng.submit("cmd")
    wait_until(lambda: [l for l in eng.store.logs(rid) if l["message"] == "started"])
    assert eng.cancel(rid) == "stopping"
    assert eng.watcher.wait(rid)["state"] == "cancelled"
    assert not [l for l in eng.store.logs(rid) if "KILL)" in l["message"]
                and "did not stop" in l["message"]]


def test_a_killed_job_process_takes_its_program_along(make_engine, tmp_path):
    """The engine stops the groups a job process reported, should that process die."""
    script, pid_file = _stubborn_pgid(tmp_path)
    eng = _engine_job(make_engine, f"""
        command = "{script}"
        retry = {{ attempts = 1 }}
    """)
    rid = eng.submit("cmd")
    wait_until(lambda: [l for l in eng.store.logs(rid) if l["message"] == "started"])
    pgid = int(pid_file.read_text())
    job_process = int(Path(f"/proc/{pgid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    os.kill(job_process, signal.SIGKILL)
    run = eng.watcher.wait(rid)
    assert run["state"] == "interrupted" and "crashed" in run["error"]  # not run again
    wait_until(lambda: not members(pgid), timeout=10)


def test_a_run_cancelled_before_its_program_starts_does_not_start_it(make_ctx, tmp_path):
    # A cancel that came before the attempt began (between the claim and the start, or a
    # Ctrl-C then): a program that may not be safe to run is not started to be stopped.
    ran = tmp_path / "ran"
    ctx = make_ctx("late")
    ctx.cancel_event.set()
    with pytest.raises(Cancelled):
        run_kind(ctx, command=f"touch '{ran}'; sleep 5")
    assert not ran.exists()


# -- what a program daemonizes out of its process group -------------------------------------

#: Programs that leave a process running in a session of its own, its pid in {pid}, then exit.
WAIT_PID = "while [ ! -s '{pid}' ]; do sleep 0.01; done"
DAEMONS = {
    "setsid": "setsid sleep 300 & echo $! > '{pid}'; echo started",
    "double fork": "( setsid sh -c 'echo $$ > \"{pid}\"; exec sleep 300' & ); "
                   + WAIT_PID + "; echo started",
    "ignores TERM": "setsid sh -c 'trap \"\" TERM; echo $$ > \"{pid}\"; exec sleep 300' & "
                    + WAIT_PID + "; echo started",
    # the daemon's own daemon, in a session of its own again: orphaned when the first goes
    "daemon of a daemon": "setsid sh -c 'setsid sleep 300 & echo $! > \"{pid}\"; wait' & "
                          + WAIT_PID + "; echo started",
}


def gone(pid: int) -> bool:
    """No live process ``pid`` (a zombie is dead for our purpose)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


@pytest.mark.parametrize("how", DAEMONS)
def test_what_a_program_daemonizes_is_stopped_and_reaped_when_it_exits(make_ctx, tmp_path, how):
    pid_file = tmp_path / "daemon.pid"
    ctx = make_ctx("daemon")
    started = time.monotonic()
    result = run_kind(ctx, command=DAEMONS[how].format(pid=pid_file), kill_grace=0.3)
    took = time.monotonic() - started
    assert result["summary"] == "started"
    daemon = int(pid_file.read_text())
    # Stopped, and reaped here (it was reparented to this process): no zombie is left.
    assert not Path(f"/proc/{daemon}").exists()
    if how == "ignores TERM":
        assert took >= 0.3  # KILL only after the grace
    assert any(line.startswith("stopping what the program left running in the background: ")
               for line in lines_of(ctx)), lines_of(ctx)


def test_only_the_runs_own_leftovers_are_stopped_and_no_exit_status_is_taken(make_ctx, tmp_path):
    # Children this process had before the run are not the run's: one that lives on is left
    # alone, and one that exits meanwhile keeps its exit status for its own wait().
    lives = subprocess.Popen(["sleep", "60"])
    exits = subprocess.Popen(["sh", "-c", "sleep 0.1; exit 7"])
    try:
        pid_file = tmp_path / "daemon.pid"
        ctx = make_ctx("daemon")
        run_kind(ctx, command=DAEMONS["setsid"].format(pid=pid_file) + "; sleep 0.3")
        assert gone(int(pid_file.read_text()))
        assert lives.poll() is None
        assert exits.wait(5) == 7
    finally:
        lives.kill()
        lives.wait()


#: A background job of a shell line (`tool &`), in the program's own group, that cleans up
#: on TERM; the line exits at once, leaving it running. Its pid in {pid}, its clean-up
#: writes {done}.
BACKGROUND_JOB = ("sh -c 'trap \"echo cleaned >> \\\"{done}\\\"; exit 0\" TERM; "
                  "echo $$ > \"{pid}\"; while :; do sleep 0.05; done' >/dev/null 2>&1 & "
                  + WAIT_PID + "; echo started")


def test_a_background_job_left_running_in_its_group_is_asked_to_stop_and_named(
        make_ctx, tmp_path):
    # crontab's "tool > /dev/null 2>&1 &": once killed (KILL) without a word, so the run
    # said "succeeded" and neither the log nor the program's own clean-up knew of it.
    pid_file, done = tmp_path / "job.pid", tmp_path / "cleaned"
    ctx = make_ctx("background")
    result = run_kind(ctx, command=BACKGROUND_JOB.format(pid=pid_file, done=done),
                      kill_grace=5)
    assert result["summary"] == "started"
    job = int(pid_file.read_text())
    assert not Path(f"/proc/{job}").exists()  # stopped and reaped here
    assert done.read_text() == "cleaned\n"  # TERM first: its trap ran
    assert any(line.startswith("stopping what the program left running in the background: sh "
                               f"(pid {job})") and "`wait`" in line
               for line in lines_of(ctx)), lines_of(ctx)


def test_a_job_process_asks_a_background_job_to_stop(make_engine, tmp_path):
    pid_file, done = tmp_path / "job.pid", tmp_path / "cleaned"
    eng = _engine_job(make_engine, f"""
        command = {json.dumps(BACKGROUND_JOB.format(pid=pid_file, done=done))}
        retry = {{ attempts = 1 }}
    """)
    run = eng.watcher.wait(eng.submit("cmd"))
    assert run["state"] == "succeeded"
    wait_until(done.exists, timeout=5)
    job = int(pid_file.read_text())
    assert any(l["message"].startswith(f"stopping what the program left running in the "
                                       f"background: sh (pid {job})")
               for l in eng.store.logs(run["id"]))


def test_a_cancel_names_no_background_job_of_the_program_as_left_behind(make_ctx, tmp_path):
    # The program ends at the cancel's TERM, its background job (which ignores TERM) is
    # killed with the group once the grace is up: no leftover of the program's own end,
    # whose "end the line with `wait`" would be no advice here.
    started = tmp_path / "started"
    ctx = make_ctx("cancelled")
    command = (f"sh -c 'trap \"\" TERM; exec sleep 300' & touch '{started}'; "
               f"trap 'exit 143' TERM; wait")
    import threading
    threading.Thread(target=lambda: (wait_until(started.exists), ctx.cancel_event.set()),
                     daemon=True).start()
    with pytest.raises(Cancelled):
        run_kind(ctx, command=command, kill_grace=0.2)
    assert not [line for line in lines_of(ctx) if "in the background" in line], lines_of(ctx)
    # (the job it left, which holds its output, had the KILL: said so)
    assert ("what it left running (holding its output) did not stop within 200 ms of TERM: "
            "killed (KILL)") in lines_of(ctx)


def test_a_daemon_that_exits_on_its_own_is_reaped(make_ctx, tmp_path):
    pid_file = tmp_path / "daemon.pid"
    ctx = make_ctx("daemon")
    run_kind(ctx, command=f"setsid sh -c 'echo $$ > \"{pid_file}\"' & "
                          f"{WAIT_PID.format(pid=pid_file)}; sleep 0.1")
    assert not Path(f"/proc/{int(pid_file.read_text())}").exists()  # no zombie left here
    assert not any(line.startswith("stopping") for line in lines_of(ctx))


@pytest.mark.parametrize("how", ["end", "cancel", "timeout"])
def test_a_job_process_stops_what_its_program_daemonized(make_engine, tmp_path, how):
    pid_file = tmp_path / "daemon.pid"
    script = DAEMONS["ignores TERM"].format(pid=pid_file)
    if how != "end":
        script += "; sleep 300"
    extra = 'timeout = "1s"' if how == "timeout" else ""
    eng = _engine_job(make_engine, f"""
        command = '''{script}'''
        kill_grace = 0.3
        retry = {{ attempts = 1 }}
        {extra}
    """)
    rid = eng.submit("cmd")
    wait_until(lambda: [l for l in eng.store.logs(rid) if l["message"] == "started"])
    daemon = int(pid_file.read_text())
    if how == "cancel":
        assert eng.cancel(rid) == "stopping"
    run = eng.watcher.wait(rid)
    assert run["state"] == {"end": "succeeded", "cancel": "cancelled", "timeout": "failed"}[how]
    assert "stopped forcibly" not in (run["error"] or "")  # within the job's own grace
    wait_until(lambda: gone(daemon), timeout=5)


def test_a_command_run_right_after_another_still_stops_what_it_left(make_engine, tmp_path):
    # The second run's start takes the children its process had at the first one's end as
    # its own, without a look at /proc: what the second leaves running is still found.
    pid_file = tmp_path / "daemon.pid"
    eng = make_engine(f"""
        [jobs.plain]
        kind = "command"
        command = ["true"]
        [jobs.daemon]
        kind = "command"
        command = {json.dumps(DAEMONS["setsid"].format(pid=pid_file))}
        kill_grace = 0.3
    """, workers=1)
    for job in ("plain", "plain", "daemon"):
        assert eng.watcher.wait(eng.submit(job))["state"] == "succeeded", job
    daemon = int(pid_file.read_text())
    wait_until(lambda: gone(daemon), timeout=5)


def test_children_a_run_between_two_command_runs_started_are_not_leftovers():
    # In a job process: a command run ends, a run of another kind starts a process it keeps
    # (a plug-in's server, reused run after run), a command run follows. That process was
    # there before the program started: it is not the program's to stop.
    from trayjobs import leftovers

    def command_run(argv):
        leftovers.run_begins()
        left = leftovers.Leftovers()
        proc = subprocess.Popen(argv)
        left.started(proc.pid)
        proc.wait()
        assert left.stop(kill_at=time.monotonic() + 1, ended=lambda: True)

    command_run(["true"])
    leftovers.run_begins()
    kept = subprocess.Popen(["sleep", "60"])
    try:
        command_run(["true"])
        assert kept.poll() is None
    finally:
        kept.kill()
        kept.wait()


def test_dry_run_is_refused_unless_the_job_gives_a_dry_run_command(make_engine):
    eng = make_engine("""
        [jobs.plain]
        kind = "command"
        command = "echo real"
        [jobs.previewable]
        kind = "command"
        command = "echo real"
        dry_run_command = ["echo", "would do it"]
    """)
    with pytest.raises(UserError, match="'plain' \\(command\\) has no dry run"):
        eng.submit("plain", dry_run=True)
    run = eng.watcher.wait(eng.submit("previewable", dry_run=True))
    assert run["state"] == "succeeded" and run["result"]["dry_run"] is True
    assert [l["message"] for l in eng.store.logs(run["id"])] == ["would do it"]


def test_dry_run_refusal_on_the_command_line(home):
    home.config_file.write_text('[jobs.plain]\nkind = "command"\ncommand = "true"\n')
    out = trayjobs(home, "run", "plain", "--dry-run")
    assert out.returncode == 2 and "has no dry run" in out.stderr
    # ... and says how to give it one
    assert "add a dry_run_command" in out.stderr


@pytest.mark.parametrize("resume, rerun", [("report", False), ("rerun", True)])
def test_an_interrupted_command_is_rerun_only_when_the_job_says_so(make_engine, resume, rerun):
    eng = _engine_job(make_engine, f"""
        command = "echo started; sleep 30"
        resume = "{resume}"
    """)
    rid = eng.submit("cmd")
    wait_until(lambda: [l for l in eng.store.logs(rid) if l["message"] == "started"])
    eng.stop()
    run = eng.store.get_run(rid)
    assert run["state"] == "interrupted"
    # What its error says is what happens at the next start.
    said = ("it resumes when trayjobs starts again" if rerun else
            f"it is not run again by itself, as its job does not say that running it twice "
            f"is safe: retry it (`trayjobs retry {rid}`")
    assert said in run["error"], run["error"]
    eng2 = make_engine(start=False)
    assert bool(eng2.recover()) is rerun


def test_is_idempotent_and_can_dry_run_come_from_the_params():
    p = CommandKind.parse_params
    assert CommandKind.idempotent is False
    assert not CommandKind.is_idempotent(p({"command": "x"}))
    assert CommandKind.is_idempotent(p({"command": "x", "resume": "rerun"}))
    assert not CommandKind.can_dry_run(p({"command": "x"}))
    assert CommandKind.can_dry_run(p({"command": "x", "dry_run_command": "x -n"}))


# -- a real worker killed with SIGKILL -------------------------------------------------------

def test_kill_9_of_the_worker_leaves_no_orphan(home, tmp_path):
    script, pid_file = _stubborn_pgid(tmp_path)
    daemon_file = tmp_path / "daemon.pid"
    daemon = DAEMONS["ignores TERM"].format(pid=daemon_file).replace("echo started", "")
    home.config_file.write_text(dedent(f"""
        [jobs.cmd]
        kind = "command"
        command = '''{daemon}{script}'''
    """))
    worker = start_worker(home)
    try:
        rid = int(trayjobs(home, "run", "cmd", check=True).stdout)
        wait_run(home, rid, "running")
        pgid = int(wait_until(lambda: pid_file.exists() and pid_file.read_text().strip()))
        wait_until(lambda: len(members(pgid)) >= 2)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)
    finally:
        if worker.poll() is None:
            worker.kill()
    wait_until(lambda: not members(pgid), timeout=15)
    wait_until(lambda: gone(int(daemon_file.read_text())), timeout=5)  # out of the group too
    # Not re-run at the next start: a command is not known to be safe to repeat.
    worker = start_worker(home)
    try:
        assert wait_run(home, rid, "interrupted")["state"] == "interrupted"
        store = open_store(home)
        assert [r for r in store.list_runs(job="cmd") if r["trigger"] == "recovered"] == []
        store.close()
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(20)



def test_a_hooked_one_off_run_knows_its_time_its_params_and_its_parent(make_engine, tmp_path):
    # the environment a command sees when a schedule (here a one-off) and a hook started it
    script = tmp_path / "dump.py"
    script.write_text("import json, os, sys\n"
                      "env = {k: v for k, v in os.environ.items() if k.startswith('TRAYJOBS_')}\n"
                      f"out = os.path.join({str(tmp_path)!r}, env['TRAYJOBS_JOB'] + '.json')\n"
                      "json.dump(env, open(out + '.tmp', 'w'))\n"
                      "os.replace(out + '.tmp', out)  # whole, or not there yet\n"
                      "sys.exit(int(sys.argv[1]))\n")
    eng = make_engine(f"""
        [jobs.first]
        kind = "command"
        command = ["{PY}", "{script}", "3"]
        params = {{ month = "last" }}
        on_failure = ["second"]
        retry = {{ attempts = 1 }}

        [jobs.second]
        kind = "command"
        command = ["{PY}", "{script}", "0"]
    """)
    due = time.time() + 0.5
    rid = eng.submit("first", params={"month": "2026-10"}, due_at=due)
    first = eng.watcher.wait(rid, timeout=30)
    assert first["state"] == "failed"
    env = json.loads((tmp_path / "first.json").read_text())
    assert json.loads(env["TRAYJOBS_PARAMS"]) == {"month": "2026-10"}
    when = datetime.fromisoformat(env["TRAYJOBS_SCHEDULED_FOR"])
    assert when.tzinfo is not None and abs(when.timestamp() - due) < 1
    assert env["TRAYJOBS_PARENT_RUN"] == ""
    wait_until(lambda: (tmp_path / "second.json").exists(), timeout=30)
    child = json.loads((tmp_path / "second.json").read_text())
    assert child["TRAYJOBS_PARENT_RUN"] == str(rid) and child["TRAYJOBS_TRIGGER"] == "chain"
    parent = json.loads(child["TRAYJOBS_PARENT"])
    assert parent["job"] == "first" and parent["state"] == "failed" and "exit code 3" in parent["error"]


def test_show_follow_prints_the_output_while_the_program_runs(make_engine, home, tmp_path):
    go = tmp_path / "go"
    eng = _engine_job(make_engine, f"""
        command = "echo first; while [ ! -e '{go}' ]; do sleep 0.02; done; echo last; exit 3"
        retry = {{ attempts = 1 }}
    """)
    rid = eng.submit("cmd")
    follow = subprocess.Popen([PY, "-m", "trayjobs", "show", str(rid), "--follow"],
                              env=dict(os.environ, TRAYJOBS_HOME=str(home.root)),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        seen = []
        while not any(line.rstrip().endswith("info    first") for line in seen):
            line = follow.stdout.readline()
            assert line, "show --follow ended before the program's first line"
            seen.append(line)
        assert eng.store.get_run(rid)["state"] == "running"  # seen while it runs
        go.touch()
        out, err = follow.communicate(timeout=30)
    finally:
        follow.kill()
    assert "last" in out and follow.returncode == 1
    assert f"run {rid} failed: exit code 3" in err


def test_a_program_found_once_is_looked_for_where_it_was_then_gone_is_said(tmp_path,
                                                                           monkeypatch):
    # Before each start a job process asks whether the program is there: a walk of PATH
    # the first time, then a look at the file found; one removed since is said missing in
    # the same words as a program never found.
    import shutil
    from trayjobs.kinds.command import process
    folder = tmp_path / "bin"
    folder.mkdir()
    program = folder / "tool"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    path = f"{tmp_path / 'empty'}:{folder}"
    walks = []
    which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda *a, **kw: walks.append(a) or which(*a, **kw))
    assert process.startable("tool", cwd=tmp_path, path=path) is None
    assert process.startable("tool", cwd=tmp_path, path=path) is None
    assert len(walks) == 1
    program.unlink()
    said = process.startable("tool", cwd=tmp_path, path=path)
    assert said == process.find_program("tool", cwd=tmp_path, path=path) is not None
    assert "was not found on PATH" in said


@pytest.mark.parametrize("resume", ["report", "rerun"])
def test_a_command_whose_job_process_dies_is_run_again_only_when_the_job_says_so(
        make_engine, tmp_path, resume):
    # The job process killed under a running program (the out-of-memory killer, say): as
    # after the app's own crash, a command is not run a second time unless running it
    # twice is safe, whatever its retries.
    count = tmp_path / "count"
    eng = _engine_job(make_engine, f"""
        command = "echo x >> '{count}'; if [ $(wc -l < '{count}') -eq 1 ]; then kill -9 $PPID; sleep 30; fi"
        resume = "{resume}"
        retry = {{ attempts = 3, backoff = "0s" }}
    """)
    run = eng.watcher.wait(eng.submit("cmd"), timeout=60)
    if resume == "rerun":
        assert run["state"] == "succeeded" and run["attempt"] == 2, run
        assert count.read_text() == "x\nx\n"
    else:
        assert run["state"] == "interrupted" and run["attempt"] == 1, run
        assert "killed by SIGKILL" in run["error"] and "not run again by itself" in run["error"]
        assert count.read_text() == "x\n"
