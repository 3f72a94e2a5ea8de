"""The CLI as a user runs it: real processes on a real home."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from textwrap import dedent

import pytest

from helpers import start_worker, trayjobs, wait_run
from trayjobs.textfmt import when

CONFIG = dedent("""
    [jobs.count]
    kind = "demo"
    steps = 5
    step_time = 0.01
    every = "1h"

    [jobs.fails]
    kind = "demo"
    steps = 2
    step_time = 0
    fail_times = 9
    retry = { attempts = 2, backoff = "0.2s", jitter = false }

    [jobs.broken]
    kind = "demo"
    cron = "0 25 * * *"
""")


def test_run_wait_without_an_app_runs_in_the_foreground(home):
    home.config_file.write_text(CONFIG)
    ok = trayjobs(home, "run", "count", "--wait")
    assert ok.returncode == 0, ok.stderr
    run_id = int(ok.stdout)
    assert "run happens here" in ok.stderr
    assert f"run {run_id} succeeded: 5 steps done" in ok.stderr
    bad = trayjobs(home, "run", "fails", "--wait")
    assert bad.returncode == 1
    assert "attempt 1/2 failed" in bad.stderr
    assert f"details: trayjobs show {int(bad.stdout)}" in bad.stderr


def test_runs_show_and_json(home):
    home.config_file.write_text(CONFIG)
    rid = int(trayjobs(home, "run", "fails", "--wait").stdout)
    listing = trayjobs(home, "runs", "--state", "failed").stdout
    assert "fails" in listing and "told to fail 9 times" in listing
    shown = trayjobs(home, "show", str(rid)).stdout
    assert "attempt:  2 of up to 2" in shown
    assert "1. " in shown and "retrying: failing on purpose" in shown
    data = json.loads(trayjobs(home, "show", str(rid), "--json").stdout)
    assert data["run"]["state"] == "failed" and len(data["attempts"]) == 2
    lines = trayjobs(home, "runs", "--json").stdout.splitlines()
    assert json.loads(lines[0])["id"] == rid


def test_a_reader_that_stops_early_gets_no_traceback(home):
    # `trayjobs show RUN | head`: the pipe closes while the log is being written.
    import os
    import subprocess
    import sys
    home.config_file.write_text('[jobs.chatty]\nkind = "command"\ncommand = "seq 200000"\n')
    rid = trayjobs(home, "run", "chatty", "--wait", check=True).stdout.split()[0]
    proc = subprocess.Popen([sys.executable, "-m", "trayjobs", "show", rid],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=dict(os.environ, TRAYJOBS_HOME=str(home.root)))
    assert proc.stdout.readline().startswith(f"run {rid} ".encode())
    proc.stdout.close()  # as head does
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(30) == 128 + signal.SIGPIPE
    assert err == ""


def test_waiting_on_a_run_another_process_runs_ends_soon_after_it_does(home, capsys):
    # `trayjobs run JOB --wait` with the app running: a run that ends within milliseconds
    # is reported within milliseconds, not at the next of fixed 0.2 s looks.
    import threading
    import time

    from trayjobs.cli_follow import follow
    from trayjobs.engine.control import Control
    home.config_file.write_text('[jobs.quick]\nkind = "demo"\nsteps = 0\n')
    ctl = Control(home)
    try:
        rid = ctl.store.create_run("quick", kind="demo", trigger="cli")
        ended = []

        def finish() -> None:
            time.sleep(0.03)
            ctl.store.claim(rid, pid=1)
            ctl.store.end_attempt(rid, state="succeeded", result={"summary": "quick"})
            ended.append(time.monotonic())

        threading.Thread(target=finish).start()
        assert follow(ctl, rid) == 0
        noticed = time.monotonic()
    finally:
        ctl.close()
    assert noticed - ended[0] < 0.12
    assert f"run {rid} succeeded: quick" in capsys.readouterr().err


def test_a_foreground_run_another_worker_took_first_is_followed_to_its_end(home, capsys):
    # In a cluster the run's message reaches Redis too: a worker of another machine may
    # claim it before this process does. The command then waits for that worker's end.
    import threading
    import time

    from trayjobs.cli_follow import end_inline
    from trayjobs.engine.control import Control
    home.config_file.write_text('[jobs.quick]\nkind = "demo"\nsteps = 0\n')
    ctl = Control(home)
    try:
        rid = ctl.store.create_run("quick", kind="demo", trigger="cli")
        taken = ctl.store.claim(rid, pid=1, worker_id=7)

        def finish() -> None:
            time.sleep(0.05)
            ctl.store.end_attempt(rid, state="succeeded", result={"summary": "done on nas"})

        threading.Thread(target=finish).start()
        assert end_inline(ctl, taken) == 0
    finally:
        ctl.close()
    err = capsys.readouterr().err
    assert f"run {rid} was taken by another worker" in err and "following it there" in err
    assert f"run {rid} succeeded: done on nas" in err


def test_check_and_jobs_show_errors_but_list_good_jobs(home):
    home.config_file.write_text(CONFIG + '[jobs.hooked]\nkind = "demo"\nthen = ["nope"]\n')
    check = trayjobs(home, "check")
    assert check.returncode == 1
    assert "job 'broken', key 'cron': cron '0 25 * * *': hour 25 is out of range 0-23" in check.stderr
    assert "2 jobs OK, 2 errors" in check.stdout
    jobs = trayjobs(home, "jobs")
    assert jobs.returncode == 0
    assert "count   demo  Every hour" in jobs.stdout
    assert "hour 25" in jobs.stderr and "names 'nope', which is not a job" in jobs.stderr
    # A job listed although it has an error says so in its row, not only below the table.
    assert re.search(r"^hooked +demo +Manual +config error \(below\)", jobs.stdout, re.M)


def test_jobs_lists_what_a_due_run_waits_for(home):
    home.config_file.write_text(dedent("""
        [settings]
        pause_on_battery = true
        [jobs.backup]
        kind = "demo"
        cron = "0 2 * * *"
        when = { idle = "5m" }
        [jobs.plain]
        kind = "demo"
    """))
    jobs = trayjobs(home, "jobs")
    assert re.search(r"^backup +demo +Daily at 02:00 · when on AC power, idle for 5 min +",
                     jobs.stdout, re.M), jobs.stdout
    # A run a person starts does not wait: a job only run by hand has nothing to wait for.
    assert re.search(r"^plain +demo +Manual *$", jobs.stdout, re.M)


def test_jobs_with_only_broken_jobs_does_not_say_there_are_none(home):
    home.config_file.write_text('[jobs.backup]\nkind = "command"\ncomand = "echo hi"\n')
    jobs = trayjobs(home, "jobs")
    assert "no jobs defined yet" not in jobs.stdout
    assert "has errors (below)" in jobs.stdout
    assert "key 'comand': unknown key; did you mean 'command'?" in jobs.stderr


def test_unknown_job_and_run_are_clear_errors(home):
    home.config_file.write_text(CONFIG)
    r = trayjobs(home, "run", "nope")
    assert r.returncode == 2
    assert "there is no job called 'nope' (jobs: count, fails)" in r.stderr
    r = trayjobs(home, "show", "999")
    assert r.returncode == 2 and "there is no run 999" in r.stderr


#: A long job that checks for cancel, for a worker to be busy with.
SPIN = dedent("""
    [jobs.spin]
    kind = "demo"
    steps = 100000
    step_time = 0.05
""")


def test_commands_reach_a_running_worker(home):
    # A long job that checks for cancel: stopping code that never checks (the grace
    # period waited out, then a kill) is test_engine's, not what reaches the worker.
    home.config_file.write_text(CONFIG + SPIN)
    worker = start_worker(home)
    try:
        waited = trayjobs(home, "run", "count", "--wait")
        assert waited.returncode == 0 and "run happens here" not in waited.stderr
        assert wait_run(home, int(waited.stdout))["pid"] == worker.pid
        spin = int(trayjobs(home, "run", "spin").stdout)
        wait_run(home, spin, "running")
        assert "asked to stop" in trayjobs(home, "cancel", str(spin)).stdout
        assert wait_run(home, spin)["state"] == "cancelled"
        again = int(trayjobs(home, "retry", str(spin)).stdout)
        assert again != spin
        wait_run(home, again, "running")
        trayjobs(home, "cancel", str(again))
        assert wait_run(home, again)["state"] == "cancelled"
        assert "paused all jobs" in trayjobs(home, "pause").stdout
        assert "paused" in trayjobs(home, "jobs").stdout
        assert "resumed all jobs" in trayjobs(home, "resume").stdout
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(20)


def test_run_of_a_job_that_works_on_files_asks_for_them(home, write_config):
    write_config("""
        [jobs.inbox]
        kind = "import"
        database = "~/x.db"
    """)
    out = trayjobs(home, "run", "inbox", "--wait")
    assert out.returncode != 0 and "works on files: give them with --file PATH" in out.stderr
    assert "Traceback" not in out.stderr
    # An empty --file is no file: it would be the current folder, imported whole.
    out = trayjobs(home, "run", "inbox", "--file", "", "--wait")
    assert out.returncode == 2, out.stdout
    assert ("job 'inbox': an input file was given as empty text (--file \"\"); give the "
            "file's path") in out.stderr


def test_run_with_tens_of_thousands_of_files_parses_at_once():
    # argparse's time grows with the square of the options: 50,000 --file took minutes.
    import time
    from trayjobs.cli import _parse, build_parser
    files = [f"/in/{i:05d}.csv" for i in range(50_000)]
    argv = ["--home", "/h", "run", "inbox", "--wait", *[a for f in files for a in ("--file", f)]]
    started = time.monotonic()
    args = _parse(argv)
    assert time.monotonic() - started < 2  # argparse alone: 100 s on a busy machine
    assert args.file == files and args.job == "inbox" and args.wait and args.home == "/h"
    # The same as argparse's answer, whatever else is on the line.
    for argv in (["run", "j", "--file", "a", "--dry-run", "--file", "run"],
                 ["run", "j", "--file=a", "--file", "b"], ["run", "j"], ["jobs"],
                 ["run", "j", "--param", "k=v", "--file", "a", "--in", "5m"]):
        assert vars(_parse(argv)) == vars(build_parser().parse_args(argv)), argv
    for argv in (["jobs", "--file", "a"], ["run", "j", "--file"], ["run", "j", "--file", "-x"]):
        with pytest.raises(SystemExit):
            _parse(argv)


def test_show_gives_progress_while_it_means_something(home):
    home.config_file.write_text(dedent("""
        [jobs.quiet]
        kind = "command"
        command = "sleep 1.5"
    """))
    rid = int(trayjobs(home, "run", "quiet", "--wait").stdout)
    shown = trayjobs(home, "show", str(rid)).stdout
    assert "succeeded" in shown
    assert "running for" not in shown and "progress:" not in shown  # it went all the way


def test_show_of_a_retried_run_counts_from_its_first_attempt(home, make_store, capsys):
    # A run's started_at is its last attempt's: shown alone, a run that failed three times
    # over half a minute read "started 18:35:56 ... (5.0 s)", against the alert's "32 s".
    home.config_file.write_text('[jobs.flaky]\nkind = "demo"\n')
    store = make_store()
    rid = store.create_run("flaky", kind="demo", trigger="manual", max_attempts=2)
    store.claim(rid)
    store.end_attempt(rid, state="retrying", error="boom", next_attempt_at=0)
    assert store.requeue_retry(rid, early=True)
    store.claim(rid)
    store.end_attempt(rid, state="failed", error="boom again")
    from trayjobs.cli import main
    assert main(["--home", str(home.root), "show", str(rid)]) == 0  # in-process: fast
    shown = capsys.readouterr().out
    first, last = (a["started_at"] for a in store.attempts(rid))
    assert f"  started:  {when(first, seconds=True)} (attempt 2 at " \
           f"{when(last, seconds=True)})" in shown
    assert " in all, the last attempt " in shown


def test_runs_lists_a_retried_run_from_its_first_attempt(home, make_store, capsys, monkeypatch):
    home.config_file.write_text('[jobs.flaky]\nkind = "demo"\n')
    store = make_store()
    t0 = time.time() - 600

    def at(t: float) -> None:
        monkeypatch.setattr(store, "now", lambda: t)

    at(t0)
    rid = store.create_run("flaky", kind="demo", trigger="manual", max_attempts=2)
    store.claim(rid)
    at(t0 + 1)
    store.end_attempt(rid, state="retrying", error="boom", next_attempt_at=0)
    assert store.requeue_retry(rid, early=True)
    at(t0 + 30)
    store.claim(rid)
    at(t0 + 35)
    store.end_attempt(rid, state="failed", error="boom again")
    from trayjobs.cli import main
    assert main(["--home", str(home.root), "runs"]) == 0
    line = next(l for l in capsys.readouterr().out.splitlines() if l.startswith(str(rid)))
    assert f" {when(t0)} " in line and " 35 s " in line and "5.0 s" not in line


def test_the_wait_bar_shows_whole_numbers_and_no_rate_for_steps_done_before_it(monkeypatch):
    import io
    import sys

    from trayjobs.cli_follow import Bar

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    err = Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    monkeypatch.setenv("COLUMNS", "100")
    bar = Bar(enabled=True)
    bar.update(2.0, 24.0, "notes", "n10.md")  # as the store gives them: floats
    bar.close()
    shown = err.getvalue()
    assert "2/24" in shown and "24.0" not in shown
    # Two steps done before this process looked are no rate: "?", not "209715.20 notes/s".
    assert "? notes/s" in shown and not re.search(r"\d notes/s", shown)


def test_show_prints_the_whole_log_of_a_run_that_printed_many_lines(home, tmp_path):
    # The store gives a run's log out 10,000 lines at a time: show reads every page.
    (tmp_path / "many.py").write_text(
        "def main(ctx):\n    for i in range(10_050):\n        print('line', i)\n")
    home.config_file.write_text(
        f'[jobs.many]\nkind = "python"\nfile = \'{tmp_path / "many.py"}\'\n')
    rid = trayjobs(home, "run", "many", "--wait", check=True).stdout.splitlines()[0]
    shown = trayjobs(home, "show", rid, check=True).stdout
    assert "info    line 0\n" in shown and shown.rstrip().endswith("info    line 10049")
    as_json = json.loads(trayjobs(home, "show", rid, "--json", check=True).stdout)
    assert [l["message"] for l in as_json["log"]][-1] == "line 10049"


def test_show_prints_a_huge_log_as_it_reads_it(home, make_store):
    # All of a 100 MB log was read, then formatted, then printed: 970 MB of memory, and
    # nothing on the screen (or down a pipe to less) for 10 s.
    import subprocess
    import sys
    store = make_store(home.runs_db)
    rid = store.create_run("big", kind="demo", trigger="manual", state="succeeded")
    line = "x" * 290
    for start in range(0, 200_000, 50_000):
        store.add_logs(rid, [(1.0 + i, "info", f"{i:06d} {line}")
                             for i in range(start, start + 50_000)])
    store.add_logs(rid, [(300_000.0, "info", "the end")])
    store.close()
    # Its peak as the kernel counts it since it became Python (getrusage's would count the
    # test process's memory too, as it was when forked).
    probe = ("import runpy, sys; sys.argv = ['trayjobs', 'show', sys.argv[1]]\n"
             "try:\n    runpy.run_module('trayjobs', run_name='__main__')\n"
             "finally:\n    sys.stderr.write('maxrss %s\\n' % next(l.split()[1] for l in"
             " open('/proc/self/status') if l.startswith('VmHWM:')))")
    out = subprocess.run([sys.executable, "-c", probe, str(rid)], capture_output=True,
                         text=True, timeout=120, env=dict(os.environ, TRAYJOBS_HOME=str(home.root)))
    lines = out.stdout.splitlines()
    assert lines[0].startswith(f"run {rid} · big") and "log:" in lines
    printed = lines[lines.index("log:") + 1:]
    assert len(printed) == 200_001 and printed[0].endswith(f"000000 {line}")
    assert printed[-1].endswith("the end")
    rss_mb = int(out.stderr.split("maxrss ")[-1]) / 1024
    assert rss_mb < 150, f"{rss_mb:.0f} MB for a {200_000 * 300 / 1e6:.0f} MB log"


def _wait_catches(proc, sig) -> None:
    """Until ``proc`` has a handler for ``sig`` (its SigCgt mask in /proc says so): signalled
    before, it would die of it whatever the code under test does."""
    from helpers import wait_until

    def catches() -> bool:
        with open(f"/proc/{proc.pid}/status") as f:
            mask = next(int(ln.split()[1], 16) for ln in f if ln.startswith("SigCgt:"))
        return bool(mask & (1 << (int(sig) - 1)))
    wait_until(catches, timeout=30, what=f"a handler for {sig.name}")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_term_while_waiting_for_a_workers_run_leaves_it_going_and_says_so(home, sig):
    # Ctrl-C, typed, asks the run to stop; TERM and HUP (a closed terminal, `timeout`, a
    # logout) end the wait, not the run the worker goes on with, and the command says so.
    import os
    import subprocess
    import sys
    home.config_file.write_text(CONFIG + SPIN)
    worker = start_worker(home)
    try:
        env = dict(os.environ, TRAYJOBS_HOME=str(home.root))
        proc = subprocess.Popen([sys.executable, "-m", "trayjobs", "run", "spin", "--wait"],
                                env=env, text=True, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        rid = int(proc.stdout.readline())
        wait_run(home, rid, "running")
        _wait_catches(proc, sig)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 128 + sig, (proc.returncode, err)
        assert f"stopped waiting for run {rid}; it goes on" in err, err
        assert f"trayjobs cancel {rid}" in err, err
        assert "Traceback" not in err, err
        assert wait_run(home, rid, "running")["state"] == "running"  # still going
        follower = subprocess.Popen([sys.executable, "-m", "trayjobs", "show", str(rid),
                                     "--follow"], env=env, text=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        follower.stdout.readline()
        _wait_catches(follower, sig)  # following now
        follower.send_signal(sig)
        out, err = follower.communicate(timeout=20)
        assert follower.returncode == 128 + sig, (follower.returncode, err)
        assert f"stopped following run {rid}; it goes on" in err, err
        assert wait_run(home, rid, "running")["state"] == "running"
        trayjobs(home, "cancel", str(rid))
        assert wait_run(home, rid)["state"] == "cancelled"
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(20)


def test_tables_line_up_names_in_wide_or_combining_characters(home):
    # len() counted 日本 as two columns and "e" + accent as two: the rest of the row shifted.
    from trayjobs.textfmt import text_width
    home.config_file.write_text('[jobs."日本"]\nkind = "demo"\n[jobs."cafe\u0301s"]\nkind = "demo"\n'
                                '[jobs.plain]\nkind = "demo"\n', encoding="utf-8")
    lines = trayjobs(home, "jobs").stdout.splitlines()
    starts = {text_width(line[:line.index("demo")]) for line in lines if "demo" in line}
    assert len(starts) == 1 and len([l for l in lines if "demo" in l]) == 3, lines
    assert text_width("日本") == 4 and text_width("cafe\u0301") == 4


@pytest.mark.parametrize("where", ["a-file", "a-file/below", "missing-parent"])
def test_a_home_that_cannot_be_a_folder_is_told_without_a_traceback(tmp_path, where):
    # `jobs`, `run` and `worker` ended in FileExistsError or NotADirectoryError tracebacks.
    (tmp_path / "a-file").write_text("not a folder")
    root = tmp_path / where
    if where == "missing-parent":  # a parent that cannot be made: under a file
        root = tmp_path / "a-file" / "x" / "y"
    env = dict(os.environ, TRAYJOBS_HOME=str(root))
    for args in (["jobs"], ["run", "x"], ["worker"]):
        out = subprocess.run([sys.executable, "-m", "trayjobs", *args], capture_output=True,
                             text=True, timeout=60, env=env)
        assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
        assert (f"trayjobs: cannot use {root} for trayjobs' files: {tmp_path / 'a-file'} is a "
                f"file, not a folder; give trayjobs a folder it can write to with --home DIR "
                f"or TRAYJOBS_HOME") in out.stderr, out.stderr


def test_jobs_in_a_new_home_says_where_to_add_them_and_how_to_get_examples(home):
    out = trayjobs(home, "jobs", check=True).stdout
    assert f"no jobs defined yet; add some to {home.config_file}" in out
    assert "start the app or `trayjobs worker` once" in out


@pytest.mark.parametrize("how", ["deleted", "deleted and made again"])
def test_a_worker_whose_data_folder_is_deleted_says_so_and_stops(home, how):
    # It ran on unseen: `trayjobs run` and the app look for its lock in the data folder,
    # and its runs went to files no one could open again. Replaced: deleted, and made
    # again at once (any trayjobs command makes it) before the worker looked.
    import shutil
    home.config_file.write_text(CONFIG + SPIN)
    worker = start_worker(home)
    try:
        spin = int(trayjobs(home, "run", "spin").stdout)
        wait_run(home, spin, "running")
        shutil.rmtree(home.data_dir)
        if how != "deleted":
            home.data_dir.mkdir()
            (home.data_dir / "trayjobs.lock").write_text("")
        assert worker.wait(30) == 1
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(10)
    log = (home.log_dir / "worker-test.log").read_text()
    # (Deleted alone, the worker's own next write there may have made it again first.)
    assert f"the data folder {home.data_dir} was {how}" in log, log
    assert "while this worker ran: other trayjobs processes can no longer see it" in log
    assert "start `trayjobs worker` again" in log and "Traceback" not in log, log


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_a_worker_whose_run_history_is_deleted_says_so_and_stops(home, how, test_database):
    # It ran on with the file it had open, no one else's: a command made a new history in
    # its place, and a run put there waited, queued, for as long as the worker ran.
    if test_database:
        pytest.skip("the history is on a server")
    home.config_file.write_text(CONFIG + SPIN)
    worker = start_worker(home)
    try:
        spin = int(trayjobs(home, "run", "spin").stdout)
        wait_run(home, spin, "running")
        for side in ("", "-wal", "-shm"):
            (home.data_dir / (home.runs_db.name + side)).unlink(missing_ok=True)
        if how == "replaced":  # a backup put back, say
            home.runs_db.write_bytes(b"")
        assert worker.wait(30) == 1
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(10)
    log = (home.log_dir / "worker-test.log").read_text()
    assert f"the run history {home.runs_db} was {how} while this worker ran" in log, log
    assert "start `trayjobs worker` again" in log and "Traceback" not in log, log


def test_show_says_where_a_run_that_failed_stopped_and_not_that_it_still_runs(home):
    home.config_file.write_text(dedent("""
        [jobs.part]
        kind = "command"
        command = "echo PROGRESS 3/10 copying; exit 2"
        retry = { attempts = 1 }

        [jobs.quiet]
        kind = "command"
        command = "sleep 1.5; exit 2"
        retry = { attempts = 1 }
    """))
    part = trayjobs(home, "run", "part", "--wait").stdout.strip()
    shown = trayjobs(home, "show", part).stdout
    assert "  stopped:  3 of 10 · copying" in shown and "progress:" not in shown, shown
    quiet = trayjobs(home, "run", "quiet", "--wait").stdout.strip()
    shown = trayjobs(home, "show", quiet).stdout
    assert "failed" in shown and "running for" not in shown, shown


@pytest.mark.parametrize("args, said", [
    # "write a whole number of 1 or more": it is one; what is wrong is its size.
    (["show", "99999999999999999999"], "argument run: 99999999999999999999 is not a run number: "
                                       "write a whole number from 1 to 9223372036854775807"),
    (["cancel", "0"], "argument run: 0 is not a run number: write a whole number of 1 or more"),
    (["runs", "--limit", "99999999999999999999"], "argument --limit: 99999999999999999999 is "
                                                  "not a number of runs"),
    (["worker", "--workers", "-5"], "argument --workers: -5 is not a number of workers: write "
                                    "a whole number from 1 to 16"),
    (["alerts", "log", "--run", "1e30"], "argument --run: '1e30' is not a run number"),
    (["alerts", "log", "--limit", "99999999999999999999"], "is not a number of alerts"),
])
def test_numbers_out_of_range_are_usage_messages_not_tracebacks(home, capsys, args, said):
    """A run number past SQLite's integers ended `show`, `cancel`, `runs --limit` and
    `alerts log` with an OverflowError; `worker --workers -5` started a worker that ran
    nothing."""
    from trayjobs.cli import main
    with pytest.raises(SystemExit) as stopped:
        main(["--home", str(home.root), *args])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert said in err and "Traceback" not in err, err


@pytest.mark.parametrize("args, option", [
    (["runs", "--job", ""], "--job"), (["runs", "--state", " "], "--state"),
    (["jobs", "--tag", ""], "--tag"), (["stats", "--job", ""], "--job"),
    (["stats", "--tag", ""], "--tag"), (["alerts", "log", "--channel", ""], "--channel"),
])
def test_an_empty_filter_is_refused_not_read_as_no_filter(home, capsys, args, option):
    """`trayjobs runs --job "$JOB"` with JOB unset listed the runs of every job, as if no
    --job had been given; a script took them for that job's."""
    from trayjobs.cli import main
    with pytest.raises(SystemExit) as stopped:
        main(["--home", str(home.root), *args])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}: empty; " in err, err


@pytest.mark.parametrize("args", [["jobs"], ["run", "x"], ["trayjobs://run/1"]])
def test_an_empty_home_option_is_refused_not_the_current_folder(tmp_path, monkeypatch, capsys,
                                                                args):
    """`--home "$DIR"` with DIR unset made the current folder a home: data, logs and reports
    folders appeared wherever the command was typed."""
    from trayjobs.cli import main
    monkeypatch.chdir(tmp_path)
    assert main(["--home", "", *args]) == 2
    assert "--home is empty; give a folder" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_every_commands_help_prints(home):
    """`trayjobs --help` ended in a traceback: one command's help said "5 %", which argparse
    reads as a format. Each command's help is printed, and the top one by the real CLI."""
    import argparse

    from trayjobs.cli import build_parser

    def helps(parser):
        yield parser.format_help()
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    yield from helps(sub)
    assert all(helps(build_parser()))
    out = trayjobs(home, "--help")
    assert out.returncode == 0 and "slowest 5 %," in out.stdout, out.stderr


def test_following_a_run_no_app_or_worker_will_start_says_so(home):
    # It waited without a word for a run that nothing was going to start.
    import subprocess
    import sys
    home.config_file.write_text(CONFIG)
    rid = int(trayjobs(home, "run", "count", "--in", "1h").stdout.split()[0])
    env = dict(os.environ, TRAYJOBS_HOME=str(home.root))
    follower = subprocess.Popen([sys.executable, "-m", "trayjobs", "show", str(rid),
                                 "--follow"], env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        said = follower.stderr.readline()
    finally:
        follower.send_signal(signal.SIGINT)
        follower.communicate(timeout=20)
    assert said == (f"no trayjobs app or worker is running for this home: run {rid} goes on "
                    f"when one starts (trayjobs worker, or the app), or in the `trayjobs run "
                    f"--wait` that started it, if that still waits; Ctrl-C stops following\n")
    worker = start_worker(home)
    try:  # with one running, nothing is said
        follower = subprocess.Popen([sys.executable, "-m", "trayjobs", "show", str(rid),
                                     "--follow"], env=env, text=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        follower.stdout.readline()
        _wait_catches(follower, signal.SIGTERM)  # following now
        follower.send_signal(signal.SIGTERM)
        out, err = follower.communicate(timeout=20)
        assert "no trayjobs app or worker" not in err, err
    finally:
        trayjobs(home, "cancel", str(rid))
        worker.send_signal(signal.SIGTERM)
        worker.wait(20)


def test_running_a_job_of_a_file_that_cannot_be_read_says_why(home):
    # "there is no job called 'a' (no jobs are defined)" was said of a file that defines it
    # but has a TOML mistake: the person looked for a job that is plainly there.
    home.config_file.write_text('[jobs.a]\nkind = "demo"\nsteps = 1\ndescription = "a \\q"\n')
    out = trayjobs(home, "run", "a", "--wait")
    assert out.returncode != 0
    assert "no jobs are defined" not in out.stderr, out.stderr
    assert (f"{home.config_file}:4: there is no job called 'a' while the file cannot be "
            f"read: not valid TOML") in out.stderr, out.stderr


def test_the_demo_told_to_fail_once_says_once(home):
    home.config_file.write_text('[jobs.once]\nkind = "demo"\nsteps = 1\nstep_time = 0\n'
                                'fail_times = 1\nretry = { attempts = 1 }\n')
    bad = trayjobs(home, "run", "once", "--wait")
    assert bad.returncode == 1
    assert "failing on purpose (attempt 1, told to fail 1 time)" in bad.stderr
