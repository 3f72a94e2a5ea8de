"""Cleanup jobs that a pattern, a location or a destination could turn against the user,
run as whole ``trayjobs run JOB --wait`` processes on real trees."""

from __future__ import annotations

import os
from pathlib import Path

from helpers import trayjobs
from test_cleanup_support import put, root, trash_dir  # noqa: F401

SLOW_NAME = "a" * 60 + "!"


def _job(name: str, location: Path, extra: str) -> str:
    return f'[jobs.{name}]\nkind = "cleanup"\nlocations = ["{location}"]\naction = "delete"\n{extra}\n'


def test_a_pattern_that_backtracks_forever_stops_the_run_and_picks_nothing(home, root):
    put(root, SLOW_NAME)
    put(root, "aaaa")
    home.config_file.write_text(
        _job("slow", root, "filters = [{ regex = '^(a|aa)+$' }]")
        + _job("nested", root, "filters = [{ regex = '^(a+)+$' }]"), encoding="utf-8")
    out = trayjobs(home, "run", "slow", "--wait", timeout=30)
    assert out.returncode != 0
    said = out.stdout + out.stderr
    assert "regex filter '^(a|aa)+$' took more than 1 s" in said, said
    assert "repeat inside a repeat" in said and "Traceback" not in said
    # the run stopped before acting on the folder: not even the name that matched is gone
    assert (root / SLOW_NAME).exists() and (root / "aaaa").exists()
    # the classic (a+)+ finishes at once on the same long name
    out = trayjobs(home, "run", "nested", "--wait", timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr
    assert (root / SLOW_NAME).exists() and not (root / "aaaa").exists()
