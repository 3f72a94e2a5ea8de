"""The job process's messages on the wire: log entries as frames, the rest as JSON lines."""

from __future__ import annotations

import os

import pytest

from trayjobs.engine.child import _Pipe
from trayjobs.engine.executor import _Messages
from trayjobs.engine.wire import Reader, decode_all, encode

BIG = "".join(f"{i}\n" for i in range(20_000))  # 109 KB: more than a pipe read of 64 KiB

MESSAGES = [
    {"t": "pgroup", "pgid": 123, "open": True, "grace": 3.0},
    {"t": "log", "message": "first", "level": "info", "ts": 1.25},
    {"t": "log", "message": BIG, "level": "warning", "ts": 2.5},
    {"t": "progress", "done": 3, "total": 10, "message": "a\nb", "unit": None, "ts": 3.0},
    {"t": "log", "message": "", "level": "info", "ts": 4.0},
    {"t": "log", "message": "naïve ✓ \\xff \x00 zero", "level": "niveau-é", "ts": 5.0},
    {"t": "log", "message": "{\"looks\": \"like json\"}\n", "level": "info", "ts": 6.0},
    {"t": "done", "result": {"summary": "ok", "lines": 3}},
]


def test_log_entries_travel_as_frames_and_other_messages_as_json():
    assert encode(MESSAGES[1])[:1] == b"\x00"
    assert encode(MESSAGES[0]).startswith(b"{") and encode(MESSAGES[0]).endswith(b"\n")
    # a log message with more than an entry's keys, or odd values, is JSON as before
    assert encode({"t": "log", "message": "x", "level": "info", "ts": 1.0, "extra": 1})[:1] == b"{"
    assert encode({"t": "log", "message": 5, "level": "info", "ts": 1.0})[:1] == b"{"
    assert encode({"t": "log", "message": "x", "level": "info", "ts": True})[:1] == b"{"
    assert decode_all(b"".join(map(encode, MESSAGES))) == MESSAGES


@pytest.mark.parametrize("piece", [1, 2, 7, 13, 4096, 65536, 1 << 20])
def test_messages_cut_anywhere_by_the_reads_arrive_whole_and_in_order(piece):
    data = b"".join(map(encode, MESSAGES))
    reader, out = Reader(), []
    for i in range(0, len(data), piece):
        out += reader.feed(data[i:i + piece])
    assert out == MESSAGES


def test_a_line_that_is_not_a_message_is_left_out_and_the_rest_read():
    bad = []
    reader = Reader(on_bad=bad.append)
    data = encode(MESSAGES[1]) + b"not json\n" + b"[1, 2]\n" + encode(MESSAGES[2])
    assert reader.feed(data) == [MESSAGES[1], MESSAGES[2]]
    assert bad == [b"not json", b"[1, 2]"]


def test_a_lone_surrogate_job_code_logged_arrives_escaped():
    # what os.fsdecode makes of a file name with the byte 0xff
    r, w = os.pipe()
    messages = _Messages()
    messages._open(r)
    pipe = _Pipe(w)
    try:
        pipe.send({"t": "log", "message": "file \udcff.txt", "level": "info", "ts": 1.0})
        assert messages.read(5) == [{"t": "log", "message": "file \\xff.txt", "level": "info",
                                     "ts": 1.0}]
    finally:
        pipe.close()
        os.close(r)


def test_a_job_process_pipe_holds_a_big_log_ahead_of_its_reader():
    r, w = os.pipe()
    messages = _Messages()
    messages._open(r)
    try:
        os.set_blocking(w, False)
        # 600 KB written without the reader reading: no EAGAIN (a pipe of 64 KiB would)
        data = encode({"t": "log", "message": "x" * 600_000, "level": "info", "ts": 1.0})
        assert os.write(w, data) == len(data)
        got = []
        while not got:
            got = messages.read(5)
        assert got[0]["message"] == "x" * 600_000
    finally:
        os.close(w)
        os.close(r)
