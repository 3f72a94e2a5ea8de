"""Text from runs made safe to leave for a channel or a terminal.

An alert quotes what jobs wrote: a run's error, its summary (the title of a delivered
report) and its warnings come from programs, and may hold colour codes and other escape
sequences (a terminal obeys them: moves the cursor, sets the window title or the
clipboard), a progress bar's carriage returns, NUL bytes, or a right-to-left override
that shows ``invoice\u202egnp.exe`` as ``invoiceexe.png``. Every :class:`~.channels.Message`
and every line ``trayjobs alerts log`` prints passes :func:`plain`. The outbox keeps what
was queued, unchanged.
"""

from __future__ import annotations

import re

from ..textfmt import final_state

__all__ = ["plain"]

#: Escape sequences: CSI (colours, cursor moves), OSC (window title, clipboard, links; up
#: to BEL or ST, or to the end of a cut-off text) and the two-character ones.
_SEQUENCE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]?|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[ -~]?)|\x9b[0-?]*[ -/]*[@-~]?")
#: Control characters (all but tab and line feed, C1 too) and the bidirectional embeddings,
#: overrides and isolates, which reorder what follows them.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _shown(m: re.Match) -> str:
    code = ord(m.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def plain(text: str, *, one_line: bool = False) -> str:
    """``text`` with escape sequences taken out, a line redrawn with carriage returns as it
    was left, and any other control character written as ``\\xNN`` / ``\\uNNNN`` (visible,
    obeyed by nothing). ``one_line``: line breaks and tabs become spaces (a title, a cell)."""
    if text.isascii() and text.isprintable():
        return text
    text = _SEQUENCE.sub("", text).replace("\u2028", "\n").replace("\u2029", "\n")
    if "\r" in text:
        text = "\n".join(final_state(line) for line in text.replace("\r\n", "\n").split("\n"))
    if one_line:
        text = " ".join(text.replace("\t", " ").split("\n"))
    return _CONTROL.sub(_shown, text)
