"""A command's output on its way to the run log: cut into chunks anywhere, kept at head and
tail to the byte, stdout and stderr apart and in order, binary junk, a line longer than a
log entry; and how the program is started and its output folder kept."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from textwrap import dedent

import pytest

from pg_support import ON_POSTGRES

from helpers import dies_with_its_starter
from trayjobs.durations import format_size
from trayjobs.errors import JobFailed
from trayjobs.kinds.command import CommandKind, output_dir
from trayjobs.kinds.command.output import ENTRY, MAX_LINE, OutputLog

PY = sys.executable
WIDTH = 6  # "00042\n"


def _numbers(n: int, start: int = 0) -> bytes:
    return b"".join(b"%05d\n" % i for i in range(start, start + n))


def _output(ctx, data: bytes, *, piece: int, head: int, tail: int,
            stream: str = "stdout") -> OutputLog:
    out = OutputLog(ctx, head=head, tail=tail, on_progress=lambda p: None)
    for i in range(0, len(data), piece):
        out.feed(stream, data[i:i + piece])
    out.close()
    return out


def _logged(ctx) -> list[str]:
    return [line for entry in ctx.sink.logs for line in entry.split("\n")]


# -- head and tail, to the byte, however the output was cut -------------------------------

@pytest.mark.parametrize("piece", [1, 5, 6, 7, 4096, 1 << 20])
@pytest.mark.parametrize("lines, left_out", [
    (100, 0),      # exactly the head
    (160, 0),      # exactly head and tail
    (161, 1),      # one line more: the first line after the head is left out
    (1000, 840),
])
def test_head_and_tail_are_kept_to_the_line_at_their_bounds(make_ctx, piece, lines, left_out):
    ctx = make_ctx("ht")
    out = _output(ctx, _numbers(lines), piece=piece, head=100 * WIDTH, tail=60 * WIDTH)
    logged = _logged(ctx)
    gap = [m for m in logged if "left out" in m]
    kept = [int(m) for m in logged if m not in gap]
    assert out.left_out_bytes == left_out * WIDTH and out.output_bytes == lines * WIDTH
    if left_out:
        assert out.lines == lines - left_out  # what was left out is not read, nor counted
        assert gap == [f"[{format_size(left_out * WIDTH)} of output left out here]"]
        assert logged.index(gap[0]) == 100  # between the head and the tail
        assert kept == list(range(100)) + list(range(lines - 60, lines))
    else:
        assert out.lines == lines
        assert gap == [] and kept == list(range(lines))


@pytest.mark.parametrize("head", [1 << 20, 30])
def test_lines_ending_with_cr_lf_cut_anywhere_are_logged(make_ctx, head):
    # a program written for Windows ends its lines "\r\n"; a read may end between the two
    text = b"".join(b"line %d\r\n" % i for i in range(40))
    for cut in range(1, 12):
        ctx = make_ctx(f"crlf{cut}")
        out = _output(ctx, text, piece=cut, head=head, tail=1 << 20)
        assert _logged(ctx) == [f"line {i}" for i in range(40)], cut
        assert out.last_line == "line 39"


def test_a_line_longer_than_the_head_is_kept_whole_in_the_tail(make_ctx):
    ctx = make_ctx("one")
    long = b"y" * 1000 + b"\n"
    out = _output(ctx, _numbers(3) + long + _numbers(3, 3), piece=64, head=20, tail=2000)
    assert _logged(ctx) == ["00000", "00001", "00002", "y" * 1000, "00003", "00004", "00005"]
    assert out.left_out_bytes == 0 and out.lines == 7



@pytest.mark.parametrize("head, tail", [(1 << 20, 1 << 20), (1000, 1 << 20)])
@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_a_long_line_whose_newline_comes_in_the_next_read_adds_no_blank_line(
        make_ctx, head, tail, stream):
    # print(big) writes the text, then its newline apart: a line longer than a log entry
    # was logged as it came, and the newline read next began the next entry, a blank line
    # in the log ("\nsecond"), and the line was counted twice
    ctx = make_ctx("nl")
    out = OutputLog(ctx, head=head, tail=tail, on_progress=lambda p: None)
    for data in (b"a" * (MAX_LINE + 5), b"b" * (MAX_LINE + 5), b"\nsecond\n", b"third\n"):
        out.feed(stream, data)
    out.close()
    logged = [m for m in _logged(ctx) if "left out" not in m]
    assert "" not in logged
    assert "".join(logged[:-2]) == "a" * (MAX_LINE + 5) + "b" * (MAX_LINE + 5)
    assert logged[-2:] == ["second", "third"]
    if not out.left_out_bytes:
        assert out.lines == 3

@pytest.mark.parametrize("seed", range(6))
def test_two_streams_past_the_head_keep_whole_lines_in_order(make_ctx, seed):
    # stdout and stderr interleaved in pieces of any size: what is logged is whole lines of
    # each stream, in the order they came, the head first, then the last lines of both
    import random
    rnd = random.Random(seed)
    ctx = make_ctx(f"two{seed}")
    out = OutputLog(ctx, head=300, tail=rnd.choice([120, 400, 2000]), on_progress=lambda p: None)
    sent = {"stdout": [], "stderr": []}
    pending = {"stdout": b"", "stderr": b""}
    fed = {"stdout": b"", "stderr": b""}
    arrived = []  # whole lines in the order their ends were fed

    def feed(stream, data):
        out.feed(stream, data)
        *lines, fed[stream] = (fed[stream] + data).split(b"\n")
        arrived.extend(line.decode() for line in lines)

    for i in range(3000):
        stream = rnd.choice(["stdout", "stderr"])
        pending[stream] += f"{stream[3:]} {i}\n".encode()
        sent[stream].append(f"{stream[3:]} {i}")
        if rnd.random() < 0.3:
            data, cut = pending[stream], rnd.randint(1, len(pending[stream]))
            feed(stream, data[:cut])
            pending[stream] = data[cut:]
    for stream, data in pending.items():
        feed(stream, data)
    out.close()
    logged = [(e["level"], line) for e in ctx.sink.of("log")
              for line in e["message"].split("\n")]
    gap = [i for i, (_, m) in enumerate(logged) if "left out" in m]
    assert len(gap) == 1 and out.left_out_bytes > 0
    rest = logged[:gap[0]] + logged[gap[0] + 1:]
    for stream, level in (("stdout", "info"), ("stderr", "warning")):
        mine = [m for lv, m in rest if lv == level]
        # every line whole, each stream's lines in order: the head's then the tail's
        assert all(m in sent[stream] for m in mine)
        idx = [sent[stream].index(m) for m in mine]
        assert idx == sorted(idx)
    tail = [m for _, m in logged[gap[0] + 1:]]
    assert tail and tail[-1] == arrived[-1]  # the tail runs to the very end of the output
    assert out.stderr_tail[-1] == sent["stderr"][-1]


def test_past_the_head_the_last_stderr_lines_and_progress_are_still_read(make_ctx):
    # a program that complains early, then floods stdout: its complaint is the run's error
    # though the log leaves it out, and a percentage in the flood is reported as it comes
    ctx = make_ctx("flood")
    seen = []
    out = OutputLog(ctx, head=100, tail=200, on_progress=seen.append)
    out.feed("stdout", _numbers(20))
    out.feed("stderr", b"warning: disk almost full\n")
    out.feed("stdout", _numbers(5000, 20))
    out.feed("stdout", _numbers(3000, 5020) + b"copied 42%\n")
    assert seen and seen[-1].done == 42
    out.feed("stdout", _numbers(5000, 8020))
    for pct in (45, 46):  # rsync --info=progress2 redraws its line, one write a state
        out.feed("stdout", b"\r  1,234,567  %d%%   10.00MB/s    0:00:05 (xfr#1, to-chk=0/1)" % pct)
        assert seen[-1].done == pct
    out.feed("stdout", b"\n")
    out.close()
    assert list(out.stderr_tail) == ["warning: disk almost full"]
    assert "warning: disk almost full" not in _logged(ctx)
    assert out.last_line.startswith("1,234,567  46%") and out.lines < 100
    assert _logged(ctx)[-1] == out.last_line.join(["  ", ""])  # the line as it was left


def test_a_stderr_line_where_the_head_ends_is_in_the_error_once(make_ctx):
    ctx = make_ctx("edge")
    out = OutputLog(ctx, head=10, tail=4, on_progress=lambda p: None)
    out.feed("stdout", b"a\nbb\nccc\n")
    out.feed("stderr", b"err1\nerr2\n")  # past the head, and more than the tail holds
    out.feed("stdout", b"d\n")
    out.close()
    assert list(out.stderr_tail) == ["err1", "err2"] and out.last_line == "d"
    assert _logged(ctx) == ["a", "bb", "ccc", "[10 B of output left out here]", "d"]


@pytest.mark.parametrize("piece", [1, 3, 7, 4096])
def test_a_stderr_line_written_in_pieces_before_a_flood_is_in_the_error(make_ctx, piece):
    # C's stderr is unbuffered: "prog: " and the reason are writes of their own; the flood
    # of stdout after them drops each piece alone, and the line must still be read whole
    ctx = make_ctx("pieces")
    out = OutputLog(ctx, head=100, tail=200, on_progress=lambda p: None)
    out.feed("stdout", _numbers(20))
    errors = b"".join(b"cp: cannot stat 'file%d': No such file or directory\n" % i
                      for i in range(30))
    for i in range(0, len(errors), piece):
        out.feed("stderr", errors[i:i + piece])
        out.feed("stdout", _numbers(3))  # each piece dropped alone by the flood after it
    out.feed("stdout", _numbers(5000))
    out.close()
    assert list(out.stderr_tail) == [f"cp: cannot stat 'file{i}': No such file or directory"
                                     for i in range(10, 30)]


def test_a_stderr_line_cut_where_the_tail_begins_is_in_the_error(make_ctx):
    # its start left out, its end kept: the tail leaves the line out, the error keeps it
    ctx = make_ctx("cut")
    out = OutputLog(ctx, head=10, tail=30, on_progress=lambda p: None)
    out.feed("stdout", b"a\n" + _numbers(100))
    out.feed("stderr", b"fatal: the disk ")
    out.feed("stdout", _numbers(100))
    out.feed("stderr", b"is full\n")
    out.feed("stdout", _numbers(3))
    out.close()
    assert list(out.stderr_tail) == ["fatal: the disk is full"]
    assert "fatal" not in "".join(_logged(ctx))


def test_a_last_stderr_line_without_a_newline_left_out_is_in_the_error(make_ctx):
    ctx = make_ctx("unended")
    out = OutputLog(ctx, head=10, tail=4, on_progress=lambda p: None)
    out.feed("stdout", _numbers(100))
    out.feed("stderr", b"fatal: the disk ")
    out.feed("stderr", b"is full")
    out.close()
    assert list(out.stderr_tail) == ["fatal: the disk is full"]
    assert out.last_line == "fatal: the disk is full"


@pytest.mark.parametrize("piece", [4096, 1 << 20])
@pytest.mark.parametrize("tail", [MAX_LINE, MAX_LINE + 1, MAX_LINE + 5, 1 << 20])
def test_lines_exactly_max_line_long_are_whole_lines(make_ctx, piece, tail):
    # not longer than a log entry: never cut in pieces, nor their newline left as a blank line
    ctx = make_ctx("exact")
    line = (b"0123456789" * MAX_LINE)[:MAX_LINE]
    data = b"12345\n" + line + b"\n" + line + b"\nend\n"
    out = _output(ctx, data, piece=piece, head=100, tail=tail)
    logged = [m for m in _logged(ctx) if "left out" not in m]
    assert set(logged) <= {"12345", line.decode(), "end"}
    assert logged[0] == "12345" and logged[-1] == "end"
    assert sum(len(m) + 1 for m in logged) + out.left_out_bytes == len(data)


@pytest.mark.parametrize("piece", [1 << 16, 1 << 18])
def test_a_line_longer_than_a_log_entry_where_the_head_ends_loses_no_byte(make_ctx, piece):
    # the head takes a piece of it, the tail the rest: every byte logged or told left out
    ctx = make_ctx("piece")
    line = b"".join(b"%07d," % i for i in range(30_000))  # 240 KB
    out = _output(ctx, line + b"\nend\n", piece=piece, head=1000, tail=1 << 20)
    logged = _logged(ctx)
    assert out.left_out_bytes == 0 and logged[-1] == "end"
    assert logged[0] == line[:1000].decode()  # the head
    assert "".join(logged[:-1]) == line.decode()


@pytest.mark.parametrize("piece", [1 << 16, 1 << 18])
def test_a_line_longer_than_head_and_tail_keeps_pieces_at_both_ends(make_ctx, piece):
    # minified JSON, a dump with no newline: its end is kept as its start is, in pieces
    ctx = make_ctx("huge")
    line = b"".join(b"%07d," % i for i in range(200_000))  # 1.6 MB, no newline
    out = _output(ctx, line + b"\nend\n", piece=piece, head=ENTRY * 3, tail=ENTRY * 3)
    logged = _logged(ctx)
    gap = next(i for i, m in enumerate(logged) if "left out" in m)
    head, tail = "".join(logged[:gap]), "".join(logged[gap + 1:-1])
    assert logged[-1] == "end" and line.decode().startswith(head)  # empty if read at once
    assert line.decode().endswith(tail) and len(tail) == ENTRY * 3 - len("\nend\n")
    assert out.left_out_bytes == len(line) - len(head) - len(tail)


@pytest.mark.parametrize("piece", [1 << 16, 1 << 18])
@pytest.mark.parametrize("head, tail", [(1000, 1 << 20), (ENTRY * 3 + 1, ENTRY * 3 + 2),
                                        (0, 100_001)])
def test_a_long_line_of_text_is_cut_between_characters(make_ctx, piece, head, tail):
    # each piece, in the head, the tail or where a line too long for an entry is cut, is
    # text: no escapes of half a character at either side of a cut
    ctx = make_ctx("utf8")
    line = ("日本語のテキスト" * 100_000).encode()  # 2.4 MB, 3 bytes a character
    out = _output(ctx, line + b"\nend\n", piece=piece, head=head, tail=tail)
    logged = _logged(ctx)
    assert all("\\x" not in m for m in logged), [m[:5] + m[-5:] for m in logged if "\\x" in m]
    gap = next((i for i, m in enumerate(logged) if "left out" in m), 0)
    kept = "".join(m for m in logged[:-1] if "left out" not in m)
    assert line.decode().startswith("".join(logged[:gap])) and logged[-1] == "end"
    assert len(kept.encode()) + out.left_out_bytes == len(line)


def test_a_line_longer_than_a_log_entry_is_logged_whole(make_ctx):
    # longer than an entry and than what one read of a pipe holds, with no newline to cut at
    ctx = make_ctx("long")
    line = (b"0123456789" * (3 * ENTRY // 10))[:3 * ENTRY - 7]
    out = _output(ctx, b"before\n" + line + b"\nafter\n", piece=1 << 18, head=1 << 22,
                  tail=1 << 20)
    logged = _logged(ctx)
    assert logged[0] == "before" and logged[-1] == "after"
    assert "".join(logged[1:-1]) == line.decode()  # in pieces of at most 64 KiB, none lost
    assert out.lines == 3 or out.lines == 2 + len(logged[1:-1])


# -- a real program through a real engine ------------------------------------------------------

def _engine_job(make_engine, body: str, **kw):
    return make_engine("[jobs.cmd]\nkind = \"command\"\nretry = { attempts = 1 }\n"
                       + dedent(body), **kw)


def test_stdout_and_stderr_reach_the_stored_log_apart_and_in_order(make_engine, tmp_path):
    script = tmp_path / "talk.py"
    script.write_text(dedent("""
        import sys, time
        for i in range(3):
            print(f"out {i}", flush=True)
            time.sleep(0.15)
            print(f"err {i}", file=sys.stderr, flush=True)
            time.sleep(0.15)
        sys.stdout.write("".join(f"bulk {j}\\n" for j in range(50_000)))
    """))
    eng = _engine_job(make_engine, f'command = ["{PY}", "{script}"]')
    run = eng.watcher.wait(eng.submit("cmd"), timeout=60)
    assert run["state"] == "succeeded" and run["result"]["lines"] == 50_006
    rows = eng.store.logs(run["id"])
    lines = [(r["level"], line) for r in rows for line in r["message"].split("\n")]
    assert lines[:6] == [("info", "out 0"), ("warning", "err 0"), ("info", "out 1"),
                         ("warning", "err 1"), ("info", "out 2"), ("warning", "err 2")]
    assert lines[6:] == [("info", f"bulk {j}") for j in range(50_000)]
    assert len(rows) < 100  # lines that arrive together are stored together


def test_binary_junk_reaches_the_stored_log_escaped(make_engine, tmp_path):
    junk = bytes(range(256)) * 300 + b"\n\xff\xfe tail \xc3\n"
    script = tmp_path / "junk.py"
    script.write_text(f"import sys; sys.stdout.buffer.write({junk!r}); "
                      f"sys.stderr.buffer.write(b'bad \\xe2\\x82 end\\n')")
    eng = _engine_job(make_engine, f'command = ["{PY}", "{script}"]')
    run = eng.watcher.wait(eng.submit("cmd"), timeout=60)
    assert run["state"] == "succeeded"
    text = "\n".join(r["message"] for r in eng.store.logs(run["id"]))
    assert "\\xff\\xfe tail \\xc3" in text and "bad \\xe2\\x82 end" in text
    # A NUL is text like any other: the frame carries it as it is; PostgreSQL's text
    # cannot hold one, and its store writes it escaped.
    assert ("\\x00" if ON_POSTGRES else "\x00") in text


# -- how the program is started ----------------------------------------------------------------

@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_the_program_dies_with_the_process_that_started_it(tmp_path):
    starter = tmp_path / "starter.py"
    starter.write_text(dedent("""
        import os, sys, time
        from pathlib import Path
        from trayjobs.kinds.command.process import spawn
        p = spawn(["sleep", "60"], cwd=Path("/"), env=dict(os.environ))
        print(p.pid, flush=True)
        time.sleep(60)
    """))
    proc = subprocess.Popen([PY, str(starter)], stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    try:
        pid = int(proc.stdout.readline())
        dies_with_its_starter(proc, pid, "sleep")
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()


def test_a_program_that_cannot_be_started_says_why(make_ctx, tmp_path):
    script = tmp_path / "bad-interpreter"
    script.write_text("#!/no/such/interpreter\necho never\n")
    script.chmod(0o755)
    ctx = make_ctx("bad")
    with pytest.raises(JobFailed) as err:
        CommandKind().run(ctx, CommandKind.parse_params({"command": [str(script)]}))
    assert str(err.value) == (f"job 'bad', key 'command': cannot start {str(script)!r}: "
                              f"the interpreter its first line (#!) names is not there")
    assert err.value.retry is False


# -- the output folder -------------------------------------------------------------------------

def test_an_empty_output_folder_is_handed_on_to_the_next_run(make_ctx):
    script = 'ls -A "$TRAYJOBS_OUTPUT_DIR" | wc -l; test -d "$TRAYJOBS_OUTPUT_DIR" && echo there'
    first, second = make_ctx("a", run_id=1), make_ctx("a", run_id=2)
    params = CommandKind.parse_params({"command": script})
    assert CommandKind().run(first, params)["outputs"] == []
    spare = output_dir(first).parent / ".empty"
    assert not output_dir(first).exists() and spare.is_dir()
    CommandKind().run(second, params)
    assert [line.strip() for line in _logged(second)] == ["0", "there"]
    assert not output_dir(second).exists() and spare.is_dir()


def test_files_of_an_earlier_run_of_that_number_are_moved_aside_not_listed(make_ctx):
    # run 5 of another history (before `cluster join` or `leave`) wrote a report here
    ctx = make_ctx("a", run_id=5)
    old = output_dir(ctx) / "report.csv"
    old.parent.mkdir(parents=True)
    old.write_text("last year's")
    params = CommandKind.parse_params({"command": 'echo new > "$TRAYJOBS_OUTPUT_DIR/new.txt"'})
    result = CommandKind().run(ctx, params)
    assert result["outputs"] == [str(output_dir(ctx) / "new.txt")]
    [aside] = output_dir(ctx).parent.glob("5.earlier-*")
    assert (aside / "report.csv").read_text() == "last year's"  # kept, not deleted
    assert any(f"moved to {aside}" in line for line in _logged(ctx))


def test_a_link_in_place_of_the_output_folder_is_not_written_through(make_ctx, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    ctx = make_ctx("a", run_id=6)
    output_dir(ctx).parent.mkdir(parents=True)
    output_dir(ctx).symlink_to(elsewhere)
    params = CommandKind.parse_params({"command": 'echo x > "$TRAYJOBS_OUTPUT_DIR/x.txt"'})
    assert CommandKind().run(ctx, params)["outputs"] == [str(output_dir(ctx) / "x.txt")]
    assert list(elsewhere.iterdir()) == []
    [aside] = output_dir(ctx).parent.glob("6.earlier-*")
    assert aside.is_symlink()


def test_a_retry_keeps_what_its_first_attempt_wrote(make_ctx):
    ctx = make_ctx("a", run_id=8, attempt=2)
    (output_dir(ctx)).mkdir(parents=True)
    (output_dir(ctx) / "part1.txt").write_text("from attempt 1")
    params = CommandKind.parse_params({"command": 'echo 2 > "$TRAYJOBS_OUTPUT_DIR/part2.txt"'})
    outputs = CommandKind().run(ctx, params)["outputs"]
    assert outputs == [str(output_dir(ctx) / n) for n in ("part1.txt", "part2.txt")]
    assert not list(output_dir(ctx).parent.glob("8.earlier-*"))


def test_a_folder_with_empty_folders_in_it_is_not_handed_on(make_ctx):
    ctx = make_ctx("a", run_id=3)
    params = CommandKind.parse_params({"command": 'mkdir "$TRAYJOBS_OUTPUT_DIR/sub"'})
    assert CommandKind().run(ctx, params)["outputs"] == []
    assert (output_dir(ctx) / "sub").is_dir()
    assert not (output_dir(ctx).parent / ".empty").exists()
