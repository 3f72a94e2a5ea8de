"""The messages a job sends the engine, as bytes on its message pipe.

Most messages are a line of JSON each. A log entry, the one message a chatty
program sends in bulk (a command's output, up to 64 KiB of lines an entry), is
a frame instead: its text is sent as it is, not escaped into JSON and parsed
back (which cost more than everything else a line of output goes through):

    0x00 | ts: float64 | len(level): uint16 | len(text): uint32 | level | text

little-endian, the texts UTF-8 (``surrogatepass``: a lone surrogate job code
logged arrives as itself, to be escaped like any other). A JSON line never
starts with a zero byte, so the two kinds mix freely on one pipe.

A leaf module: the job process and the engine both import it, and it imports
neither.
"""

from __future__ import annotations

import json
import struct
from typing import Any

__all__ = ["encode", "encode_json", "Reader", "decode_all"]

_FRAME = b"\x00"
_HEAD = struct.Struct("<dHI")  # after the zero byte: ts, len(level), len(text)
_HEAD_SIZE = 1 + _HEAD.size
#: The keys a log entry has (``JobContext.log``); one with others travels as JSON.
_LOG_KEYS = frozenset({"t", "message", "level", "ts"})


def encode_json(msg: dict[str, Any]) -> bytes:
    """``msg`` as a line of JSON; ``ValueError`` if it holds what JSON cannot (a cycle,
    keys that are not text). Lone surrogates (names that are not UTF-8) pass as escapes."""
    try:
        return (json.dumps(msg, default=str) + "\n").encode()
    except (TypeError, ValueError, RecursionError) as exc:
        raise ValueError(str(exc) or type(exc).__name__) from None


def encode(msg: dict[str, Any]) -> bytes:
    """``msg`` as sent: a log entry as a frame, anything else as a line of JSON."""
    if msg.get("t") == "log" and msg.keys() <= _LOG_KEYS:
        text, level, ts = msg.get("message"), msg.get("level", "info"), msg.get("ts")
        if (isinstance(text, str) and isinstance(level, str)
                and isinstance(ts, (int, float)) and not isinstance(ts, bool)):
            data = text.encode("utf-8", "surrogatepass")
            name = level.encode("utf-8", "surrogatepass")
            if len(name) <= 0xFFFF and len(data) <= 0xFFFFFFFF:
                return b"".join((_FRAME, _HEAD.pack(float(ts), len(name), len(data)), name, data))
    return encode_json(msg)


class Reader:
    """Turns the bytes read from a message pipe, in pieces as they come, into messages.
    Lines that are not a JSON object are left out (and handed to ``on_bad``)."""

    def __init__(self, on_bad=None) -> None:
        self._buf = b""
        self._on_bad = on_bad

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        buf = self._buf + data if self._buf else data
        out: list[dict[str, Any]] = []
        pos, size = 0, len(buf)
        while pos < size:
            if buf[pos] == 0:
                if size - pos < _HEAD_SIZE:
                    break
                ts, nlevel, ntext = _HEAD.unpack_from(buf, pos + 1)
                start = pos + _HEAD_SIZE
                end = start + nlevel + ntext
                if end > size:
                    break
                level = buf[start:start + nlevel].decode("utf-8", "surrogatepass")
                text = buf[start + nlevel:end].decode("utf-8", "surrogatepass")
                out.append({"t": "log", "level": level, "message": text, "ts": ts})
                pos = end
                continue
            nl = buf.find(b"\n", pos)
            if nl < 0:
                break
            line = buf[pos:nl]
            pos = nl + 1
            try:
                msg = json.loads(line)
            except ValueError:
                msg = None
            if isinstance(msg, dict):
                out.append(msg)
            elif self._on_bad is not None:
                self._on_bad(line)
        self._buf = buf[pos:] if pos < size else b""
        return out


def decode_all(data: bytes) -> list[dict[str, Any]]:
    """The whole messages in ``data``."""
    return Reader().feed(data)
