"""A job process's spare shell (trayjobs.engine.launcher): a program started from it gets
what a program started directly gets, and still dies with the process that started it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from textwrap import dedent

import pytest

from helpers import dies_with_its_starter, live_processes, wait_until
from trayjobs.engine import launcher
from trayjobs.kinds.command.process import BAD_INTERPRETER, _setpriv, exec_failure

PY = sys.executable

pytestmark = pytest.mark.skipif(
    not (sys.platform.startswith("linux") and _setpriv() and launcher._dash()),
    reason="spares need Linux, util-linux's setpriv and dash as /bin/sh")

# A process that keeps spares, as a job process does: it starts each program of its request
# in turn, the first the usual way and each next one from the spare the last one left, and
# prints one JSON line per program (its output, and whether the spare started it); with
# "hold", it prints the last one's pid at once and waits to be killed.
STARTER = dedent("""
    import json, os, sys, time
    from pathlib import Path
    from trayjobs.engine import launcher
    from trayjobs.kinds.command.process import ready_next, spawn
    launcher.want()
    programs, cwd, env, hold = json.loads(sys.stdin.readline())
    for n, argv in enumerate(programs):
        spare = None
        if n:
            spare = launcher.spare_pid(wait=10)
        p = spawn(argv, cwd=Path(cwd), env=env)
        if hold and n == len(programs) - 1:
            print(json.dumps({"spare": spare == p.pid, "pid": p.pid}), flush=True)
            time.sleep(60)
        out, err = p.communicate()
        print(json.dumps({"spare": spare == p.pid, "out": out.hex(), "err": err.hex()}),
              flush=True)
        ready_next()
        launcher.run_ended()  # as a job process does after each run
""")


def starter(tmp_path, programs, cwd, env, *, hold=False) -> subprocess.Popen:
    script = tmp_path / "starter.py"
    script.write_text(STARTER)
    proc = subprocess.Popen([PY, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    proc.stdin.write((json.dumps([programs, str(cwd), env, hold]) + "\n").encode())
    proc.stdin.close()
    proc.stdin = None
    return proc


def twice(tmp_path, argv, cwd, env) -> list[dict]:
    proc = starter(tmp_path, [argv, argv], cwd, env)
    out, _ = proc.communicate(timeout=60)
    runs = [json.loads(line) for line in out.splitlines()]
    assert [r["spare"] for r in runs] == [False, True], "the spare was not used"
    return [{"out": bytes.fromhex(r["out"]), "err": bytes.fromhex(r["err"])} for r in runs]


def test_a_program_from_the_spare_gets_the_environment_folder_and_stdin_it_would_directly(
        tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    odd = "quote ' \" $HOME `x` \\ and\nnew line, é, \udcff"  # a byte that is not UTF-8
    env = {"PATH": os.environ["PATH"], "A": odd, "EMPTY": "", "PWD": "/stale", "IFS": "x",
           "PPID": "12", "LINENO": "a"}
    dump = ("import json, os, sys; json.dump({'env': {k: os.fsencode(v).hex() for k, v in "
            "os.environ.items()}, 'cwd': os.getcwd(), 'argv': sys.argv[1:], "
            "'stdin': sys.stdin.read(), 'pgid': os.getpgid(0) == os.getpid()}, sys.stdout)")
    argv = [PY, "-c", dump, odd, "", "$A"]
    first, second = twice(tmp_path, argv, tmp_path / "link", env)
    assert first["err"] == second["err"] == b""
    assert json.loads(first["out"]) == json.loads(second["out"])
    seen = json.loads(second["out"])
    assert seen["cwd"] == str(tmp_path / "real")  # as chdir does: links resolved
    assert seen["argv"] == [odd, "", "$A"] and seen["stdin"] == "" and seen["pgid"]
    assert bytes.fromhex(seen["env"]["A"]) == os.fsencode(odd)
    assert set(seen["env"]) - {"LC_CTYPE"} == set(env)  # Python sets LC_CTYPE without a locale


def test_a_program_the_spare_cannot_start_says_why(tmp_path):
    script = tmp_path / "no-exec"
    script.write_text("echo never\n")  # not executable
    first, second = twice(tmp_path, [str(script)], tmp_path, {"PATH": os.environ["PATH"]})
    for run in (first, second):  # setpriv's words, then the shell's
        last = run["err"].decode().strip().splitlines()[-1]
        assert exec_failure([str(script)], 126, last, cwd=tmp_path, path=None) \
            == "Permission denied", last


def test_a_script_whose_interpreter_is_missing_says_so_from_the_spare_too(tmp_path):
    script = tmp_path / "bad-line"
    script.write_text("#!/no/such/interpreter\necho never\n")
    script.chmod(0o755)
    first, second = twice(tmp_path, [str(script)], tmp_path, {"PATH": os.environ["PATH"]})
    for run in (first, second):  # setpriv: "No such file or directory"; the shell: "not found"
        last = run["err"].decode().strip().splitlines()[-1]
        assert exec_failure([str(script)], 127, last, cwd=tmp_path, path=None) \
            == BAD_INTERPRETER, last


def test_names_a_shell_cannot_set_are_started_the_usual_way():
    assert launcher.take(["true"], "/", {"OPTIND": "1"}) is None
    assert launcher.take(["true"], "/", {"BASH_FUNC_f%%": "() { :; }"}) is None


def test_a_program_from_the_spare_dies_with_the_process_that_started_it(tmp_path):
    proc = starter(tmp_path, [["true"], ["sleep", "60"]], "/", dict(os.environ), hold=True)
    try:
        lines = [json.loads(proc.stdout.readline()) for _ in range(2)]
        assert lines[1]["spare"]
        pid = lines[1]["pid"]
        dies_with_its_starter(proc, pid, "sleep")
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()


@pytest.mark.parametrize("from_spare", [True, False], ids=["from the spare", "the first"])
def test_the_whole_group_of_a_program_dies_with_the_process_that_started_it(tmp_path,
                                                                            from_spare):
    # The lifeline kills the group the program leads, what it started in the background
    # included: a death signal (setpriv's, for a job process's first program) would reach
    # the program alone.
    programs = [["true"]] * from_spare + [["sh", "-c", "sleep 60 & sleep 61"]]
    proc = starter(tmp_path, programs, "/", dict(os.environ), hold=True)
    try:
        lines = [json.loads(proc.stdout.readline()) for _ in programs]
        assert lines[-1]["spare"] == from_spare
        group = lines[-1]["pid"]
        wait_until(lambda: len(live_processes(group=group)) == 3, what="sh and its two sleeps")
        os.kill(proc.pid, 9)
        proc.wait(10)
        wait_until(lambda: not live_processes(group=group), timeout=10,
                   what="the program's group gone with its starter")
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()


@pytest.mark.skipif(not shutil.which("ldconfig", path="/usr/sbin:/sbin")
                    or shutil.which("ldconfig", path=os.defpath),
                    reason="needs a program in /usr/sbin that is not in /bin:/usr/bin")
def test_without_path_a_spare_looks_programs_up_where_a_direct_start_does(tmp_path):
    # The shell's own default path has the sbin folders; Popen's (os.defpath) has not.
    code = dedent("""
        import os
        from pathlib import Path
        from trayjobs.engine import launcher
        from trayjobs.kinds.command.process import ready_next, spawn
        launcher.want()
        for n in range(2):
            spare = launcher.spare_pid(wait=10) if n else None
            try:
                p = spawn(["ldconfig", "--version"], cwd=Path("/"), env={})
            except FileNotFoundError:  # Popen's words, where setpriv is not used
                print("not found", flush=True)
                spawn(["true"], cwd=Path("/"), env={}).wait()  # a spare for the next
            else:
                p.wait()
                print(p.pid == spare, p.returncode, p.stderr.read().decode().strip(),
                      flush=True)
            ready_next()
            launcher.run_ended()
    """)
    out = subprocess.run([PY, "-c", code], capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert out.returncode == 0, out.stderr
    first, second = out.stdout.splitlines()
    # not found either way (Popen raises; setpriv, or the spare's shell, exit 127 saying so)
    assert first == "not found" or first.startswith("False 127 "), first
    assert second.startswith("True 127 ") and "ldconfig: not found" in second, second


def test_without_its_lifeline_a_spare_starts_through_setpriv_and_still_dies_with_its_starter(
        tmp_path):
    script = tmp_path / "run.py"
    script.write_text(dedent("""
        import json, os, sys, time
        from pathlib import Path
        from trayjobs.engine import launcher
        from trayjobs.kinds.command.process import ready_next, spawn
        launcher.want()

        def run(argv):
            p = spawn(argv, cwd=Path("/"), env=dict(os.environ))
            if argv[0] == "sleep":
                print(json.dumps({"pid": p.pid, "argv": p.args}), flush=True)
                time.sleep(60)
            p.wait()
            ready_next()
            launcher.run_ended()
            return p

        run(["true"])
        spare = launcher.spare_pid(wait=10)
        lifeline = launcher._spares.lifeline.proc
        lifeline.kill()  # gone: the spare it covers cannot be used
        lifeline.wait()
        assert run(["true"]).pid != spare
        assert launcher.spare_pid(wait=10)  # made through setpriv
        run(["sleep", "60"])
    """))
    proc = subprocess.Popen([PY, str(script)], stdout=subprocess.PIPE,
                            env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    try:
        line = json.loads(proc.stdout.readline())
        assert line["argv"] == ["sleep", "60"]  # the spare became it
        dies_with_its_starter(proc, line["pid"], "sleep")
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()


def test_a_spare_started_during_a_run_is_no_leftover_of_it(tmp_path):
    # A spare is started after a run, but one asked for by a run that came too soon may
    # still be starting while the next run goes: what the run leaves is stopped at its
    # end, the spare is not.
    script = tmp_path / "run.py"
    script.write_text(dedent("""
        import json, os, time
        from pathlib import Path
        from trayjobs.engine import launcher
        from trayjobs.kinds.command.process import ready_next, spare, spawn
        from trayjobs.leftovers import Leftovers
        launcher.want()
        leftovers = Leftovers(own=spare)
        p = spawn(["true"], cwd=Path("/"), env=dict(os.environ))
        leftovers.started(p.pid)
        p.wait()
        ready_next()
        launcher.run_ended()  # the spare starts while the run has not ended yet
        pid = launcher.spare_pid(wait=10)
        assert leftovers.stop(kill_at=time.monotonic() + 5, ended=lambda: True)
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        print(json.dumps({"spare": pid, "state": state, "still": launcher.spare_pid() == pid}))
    """))
    out = subprocess.run([PY, str(script)], capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout)
    assert seen["spare"] and seen["still"] and seen["state"] not in ("Z", "X"), seen


def test_a_program_starts_in_its_folder_after_the_process_s_own_folder_is_removed(tmp_path):
    # A worker started in a folder since removed: its job processes are still in it, and
    # cannot name it (getcwd fails), but a program with a folder of its own starts there.
    gone = tmp_path / "gone"
    gone.mkdir()
    code = dedent("""
        import os, sys
        from pathlib import Path
        from trayjobs.engine import launcher
        from trayjobs.kinds.command.process import ready_next, spawn
        launcher.want()
        os.rmdir(os.getcwd())
        for cwd in (sys.argv[1], sys.argv[1], "."):  # pwd cannot name "." either
            p = spawn(["pwd" if cwd != "." else "true"], cwd=Path(cwd), env=dict(os.environ))
            print(p.communicate()[0].decode().strip(), p.returncode, flush=True)
            ready_next()
            launcher.run_ended()
            launcher.spare_pid(wait=10)
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    out = subprocess.run([PY, "-c", code, str(tmp_path)], cwd=gone, capture_output=True,
                         text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[:2] == [f"{tmp_path} 0"] * 2
    assert out.stdout.splitlines()[2] == " 0"  # "." is the removed folder itself


def test_a_folder_the_program_cannot_enter_fails_its_start_as_without_a_spare(tmp_path):
    # Popen raises, which a run reports as "cannot start" without retries; a spare's cd
    # would only exit 126 with the shell's words.
    code = dedent("""
        import os, sys
        from pathlib import Path
        from trayjobs.engine import launcher
        from trayjobs.kinds.command.process import ready_next, spawn
        launcher.want()
        spawn(["true"], cwd=Path("/"), env=dict(os.environ)).wait()
        ready_next()
        launcher.run_ended()
        assert launcher.spare_pid(wait=10)
        try:
            p = spawn(["true"], cwd=Path(sys.argv[1]), env=dict(os.environ))
        except OSError as exc:
            print(type(exc).__name__)
        else:
            print(p.wait(), p.stderr.read().decode())
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    out = subprocess.run([PY, "-c", code, str(tmp_path / "gone")], capture_output=True,
                         text=True, timeout=60, env=env)
    assert out.stdout.strip() == "FileNotFoundError", out.stdout + out.stderr


def test_a_lifeline_that_stops_reading_counts_as_gone_and_never_blocks_a_run():
    import fcntl
    import signal
    import threading

    line = launcher._Lifeline()
    assert line.ready()
    os.kill(line.proc.pid, signal.SIGSTOP)  # it reads no more
    try:
        fcntl.fcntl(line.proc.stdin.fileno(), fcntl.F_SETPIPE_SZ, 4096)  # full sooner
        told: list[bool] = []
        t = threading.Thread(target=lambda: told.extend(line.tell(f"+{n}") for n in range(2000)),
                             daemon=True)
        t.start()
        t.join(10)
        assert not t.is_alive(), "a line to a lifeline that reads no more blocked"
        assert told[0] and not told[-1] and line.broken
    finally:
        os.kill(line.proc.pid, signal.SIGKILL)
        line.proc.wait()
        line.proc.stdin.close()
