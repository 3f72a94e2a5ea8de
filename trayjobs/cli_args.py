"""Command-line values checked as argparse reads them: a number out of range is a usage
message naming the option, not a traceback from the store."""

from __future__ import annotations

import argparse

__all__ = ["MAX_ID", "RUN_ID", "whole", "given"]

#: The largest number SQLite stores as an integer: a run number past it is no run, and
#: reached the store as an OverflowError (a traceback).
MAX_ID = 2**63 - 1


def whole(low: int, high: int, what: str):
    """An argparse ``type``: a whole number from ``low`` to ``high``, else a message saying
    which (not a traceback, for one too large for the store)."""
    def parse(text: str) -> int:
        try:
            n = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not low <= n <= high:
            # "1 or more" for a number too large would be no help: it is one.
            span = f"of {low} or more" if high == MAX_ID and n < low else f"from {low} to {high}"
            raise argparse.ArgumentTypeError(f"{text} is not {what}: write a whole number "
                                             f"{span}")
        return n
    parse.__name__ = what
    return parse


def given(what: str):
    """An argparse ``type``: text that is not blank. An option given empty (``--job "$JOB"``
    with JOB unset) is a mistake; read as no option, it matched everything."""
    def parse(text: str) -> str:
        if not text.strip():
            raise argparse.ArgumentTypeError(f"empty; give {what} (or leave the option out)")
        return text
    parse.__name__ = what
    return parse


RUN_ID = whole(1, MAX_ID, "a run number")
