"""``demo``: works in steps with progress; can be told to fail, hang or crash.

It exists to show (and test) what the engine does with a job: progress bars,
retries with backoff, timeouts and cancel of code that never checks, and a
job that takes its own process down.
"""

from __future__ import annotations

import ctypes
import os
import time
from typing import Any, Literal

from pydantic import Field

from ..context import JobContext
from ..errors import JobFailed
from .base import JobKind, KindParams
from .registry import register


class DemoParams(KindParams):
    steps: int = Field(10, ge=0, le=1_000_000, description="How many steps of work to do.")
    step_time: float = Field(0.1, ge=0, le=3600, description="Seconds each step takes.")
    fail_times: int = Field(0, ge=0, description="Fail the first N attempts, then succeed.")
    hang: bool = Field(False, description="Loop forever without ever checking for cancel.")
    crash: Literal["exit", "segfault", "memory"] | None = Field(
        None, description="Take the job's process down: os._exit, a segfault, or MemoryError.")


@register
class DemoKind(JobKind):
    name = "demo"
    summary = "Counts through steps with progress; can fail, hang or crash on purpose."
    Params = DemoParams
    idempotent = True

    def run(self, ctx: JobContext, params: DemoParams) -> dict[str, Any]:
        ctx.log(f"attempt {ctx.attempt} of {ctx.max_attempts}")
        if params.crash == "exit":
            os._exit(3)
        if params.crash == "segfault":
            ctx.log("about to dereference a null pointer")
            ctx.check_cancelled()
            ctypes.string_at(0)
        if params.crash == "memory":
            raise MemoryError("demo job asked to run out of memory")
        if params.hang:
            while True:  # never checks: only a hard stop ends this
                time.sleep(0.05)
        for step in range(params.steps):
            ctx.check_cancelled()
            if params.step_time:
                time.sleep(params.step_time)
            ctx.progress(step + 1, params.steps, f"step {step + 1} of {params.steps}", "steps")
            if ctx.attempt <= params.fail_times and step + 1 >= params.steps // 2:
                times = f"{params.fail_times} time{'s' * (params.fail_times != 1)}"
                raise JobFailed(f"failing on purpose (attempt {ctx.attempt}, "
                                f"told to fail {times})")
        return {"summary": f"{params.steps} step{'s' * (params.steps != 1)} done",
                "steps": params.steps}
