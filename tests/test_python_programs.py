"""The programs a python job's function starts are stopped as a command's program is: TERM
on cancel and timeout (whether or not the function looks), KILL after the job's
kill_grace, and nothing outlives the run; the run's log says which and how."""

from __future__ import annotations

from textwrap import dedent

import pytest

from helpers import wait_until


def script(path, text: str):
    path.write_text(dedent(text), encoding="utf-8")
    return path


def gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


# A program that cleans up on TERM, one that ignores it, one in a session of its own
# (setsid) and one double-forked, both cleaning up on TERM; the function waits for the
# stubborn one and never asks whether it is cancelled.
STARTS = """
    import subprocess, time
    from pathlib import Path

    DIR = Path({dir!r})
    CLEANS = "trap 'echo cleaned > {dir}/$0.cleaned; exit 0' TERM; echo $$ > {dir}/$0.pid; " \\
             "while :; do sleep 0.05; done"

    def main(ctx):
        subprocess.Popen(["sh", "-c", CLEANS, "child"])
        stubborn = subprocess.Popen(["sh", "-c", "trap '' TERM; echo $$ > {dir}/stubborn.pid; "
                                                 "exec sleep 300"])
        subprocess.run(["sh", "-c", 'setsid sh -c "$0" session &', CLEANS], check=True)
        subprocess.run(["sh", "-c", '(sh -c "$0" double &)', CLEANS], check=True)
        for name in ("child", "stubborn", "session", "double"):
            while not (DIR / f"{{name}}.pid").exists():
                time.sleep(0.01)
        print("started", flush=True)
        stubborn.wait()
        return "the stubborn one ended"
"""


@pytest.mark.parametrize("how", ["cancel", "timeout"])
def test_cancel_and_timeout_give_a_functions_programs_term_then_kill(make_engine, tmp_path,
                                                                     how):
    job = script(tmp_path / "starts.py", STARTS.format(dir=str(tmp_path)))
    extra = 'timeout = "2s"' if how == "timeout" else ""
    eng = make_engine(f"""
        [jobs.starts]
        kind = "python"
        file = '{job}'
        kill_grace = 0.5
        retry = {{ attempts = 1 }}
        {extra}
    """)
    rid = eng.submit("starts")
    wait_until(lambda: [l for l in eng.store.logs(rid) if l["message"] == "started"])
    pids = {name: int((tmp_path / f"{name}.pid").read_text())
            for name in ("child", "stubborn", "session", "double")}
    if how == "cancel":
        assert eng.cancel(rid) == "stopping"
    run = eng.watcher.wait(rid)
    assert run["state"] == {"cancel": "cancelled", "timeout": "failed"}[how]
    assert run["error"] == {"cancel": "cancelled", "timeout": "timed out after 2.0 s"}[how]
    # Those that clean up on TERM did, in the session apart and double-forked too ...
    for name in ("child", "session", "double"):
        assert (tmp_path / f"{name}.cleaned").read_text() == "cleaned\n", name
    # ... the one that ignores it was killed after the grace, and nothing is left.
    for name, pid in pids.items():
        wait_until(lambda: gone(pid), timeout=5, what=name)
    logs = {l["message"]: l for l in eng.store.logs(rid)}
    stopping = next(m for m in logs if m.startswith(
        "the run was stopped: stopping the programs the function started (TERM, then KILL "
        "after 500 ms): "))
    for pid in pids.values():
        assert f"(pid {pid})" in stopping
    killed = f"killed with KILL, as they had not stopped within 500 ms of TERM: sleep (pid " \
             f"{pids['stubborn']})"
    assert killed in logs
    assert logs[killed]["level"] == "warning"
    assert logs[killed]["ts"] - logs[stopping]["ts"] >= 0.45  # the grace was given


def test_what_a_function_leaves_running_gets_term_and_the_log_says_so(make_engine, tmp_path):
    job = script(tmp_path / "leaves.py", f"""
        import subprocess, time
        from pathlib import Path

        def main(ctx):
            subprocess.Popen(["sh", "-c", "trap 'echo cleaned > {tmp_path}/left.cleaned; "
                                          "exit 0' TERM; echo $$ > {tmp_path}/left.pid; "
                                          "while :; do sleep 0.05; done"])
            while not Path("{tmp_path}/left.pid").exists():
                time.sleep(0.01)
            return "left one behind"
    """)
    eng = make_engine(f"""
        [jobs.leaves]
        kind = "python"
        file = '{job}'
    """)
    rid = eng.submit("leaves")
    run = eng.watcher.wait(rid)
    assert run["state"] == "succeeded", run
    assert (tmp_path / "left.cleaned").read_text() == "cleaned\n"
    pid = int((tmp_path / "left.pid").read_text())
    assert gone(pid)
    first = eng.store.logs(rid)[0]
    assert first["message"].startswith(
        f"the function ended: stopping the programs the function started (TERM, then KILL "
        f"after 5.0 s): sh (pid {pid}), sleep (pid ")
    assert first["level"] == "warning"


def test_a_function_that_stops_when_asked_still_gives_its_programs_the_grace(make_engine,
                                                                              tmp_path):
    # It raises Cancelled at once; its program, which takes a moment to clean up, is not
    # killed as the job process ends.
    job = script(tmp_path / "asks.py", f"""
        import subprocess, time
        from pathlib import Path

        def main(ctx):
            subprocess.Popen(["sh", "-c", "trap 'sleep 0.3; echo cleaned > {tmp_path}/slow.cleaned; "
                                          "exit 0' TERM; echo $$ > {tmp_path}/slow.pid; "
                                          "while :; do sleep 0.05; done"])
            while not Path("{tmp_path}/slow.pid").exists():
                time.sleep(0.01)
            print("started", flush=True)
            while True:
                ctx.check_cancelled()
                time.sleep(0.01)
    """)
    eng = make_engine(f"""
        [jobs.asks]
        kind = "python"
        file = '{job}'
        kill_grace = 3
    """)
    rid = eng.submit("asks")
    wait_until(lambda: [l for l in eng.store.logs(rid) if l["message"] == "started"])
    assert eng.cancel(rid) == "stopping"
    run = eng.watcher.wait(rid)
    assert (run["state"], run["error"]) == ("cancelled", "cancelled")
    assert (tmp_path / "slow.cleaned").read_text() == "cleaned\n"
    assert gone(int((tmp_path / "slow.pid").read_text()))


def test_a_function_that_never_stops_is_killed_only_after_its_programs_grace(make_engine,
                                                                              tmp_path):
    # The engine's own grace here is 1 s: the job process is killed outright only a second
    # after the job's kill_grace, so its program has the time it takes to clean up.
    job = script(tmp_path / "deaf.py", f"""
        import subprocess, time
        from pathlib import Path

        def main(ctx):
            subprocess.Popen(["sh", "-c", "trap 'sleep 1.5; echo cleaned > {tmp_path}/slow.cleaned; "
                                          "exit 0' TERM; echo $$ > {tmp_path}/slow.pid; "
                                          "while :; do sleep 0.05; done"])
            while not Path("{tmp_path}/slow.pid").exists():
                time.sleep(0.01)
            print("started", flush=True)
            while True:
                time.sleep(0.05)
    """)
    eng = make_engine(f"""
        [jobs.deaf]
        kind = "python"
        file = '{job}'
        kill_grace = 3
    """)
    rid = eng.submit("deaf")
    wait_until(lambda: [l for l in eng.store.logs(rid) if l["message"] == "started"])
    assert eng.cancel(rid) == "stopping"
    run = eng.watcher.wait(rid)
    assert (run["state"], run["error"]) == (
        "cancelled", "cancelled (stopped forcibly: it did not respond within 4.0 s)")
    assert (tmp_path / "slow.cleaned").read_text() == "cleaned\n"
    assert gone(int((tmp_path / "slow.pid").read_text()))
