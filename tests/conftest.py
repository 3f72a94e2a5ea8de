"""Shared fixtures: every test gets its own trayjobs home under tmp_path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from trayjobs.context import JobContext
from trayjobs.paths import Home

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"


@pytest.fixture
def home(tmp_path, monkeypatch) -> Home:
    """A fresh, empty trayjobs home; ``TRAYJOBS_HOME`` points at it too."""
    h = Home.under(tmp_path / "home").ensure()
    monkeypatch.setenv("TRAYJOBS_HOME", str(h.root))
    return h


@pytest.fixture
def corpus() -> Path:
    """The third-party test corpora (csv-spectrum, JSONTestSuite) beside the repo."""
    if not CORPUS.is_dir():
        pytest.skip(f"third-party corpus not found at {CORPUS}")
    return CORPUS


class Recorder(list):
    """A real context sink that keeps every message a job sent."""

    def of(self, t: str) -> list[dict]:
        return [m for m in self if m["t"] == t]

    @property
    def logs(self) -> list[str]:
        return [m["message"] for m in self.of("log")]


@pytest.fixture
def make_ctx(home):
    """Build a real :class:`JobContext` whose messages are recorded on ``ctx.sink``."""

    def make(job: str = "job", *, run_id: int = 1, files=(), dry_run: bool = False,
             attempt: int = 1, max_attempts: int = 1, trigger: str = "manual") -> JobContext:
        return JobContext(run_id=run_id, job=job, home=home, sink=Recorder(),
                          attempt=attempt, max_attempts=max_attempts, trigger=trigger,
                          files=[Path(f) for f in files], dry_run=dry_run)

    return make
