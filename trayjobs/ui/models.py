"""The window's table models (one per list): see :mod:`.jobs_model` and :mod:`.runs_model`."""

from __future__ import annotations

from .jobs_model import JOB_ROLE, JobsModel
from .runs_model import PROGRESS_ROLE, RUN_ROLE, RunFilter, RunsModel

__all__ = ["JobsModel", "RunsModel", "RunFilter", "RUN_ROLE", "PROGRESS_ROLE", "JOB_ROLE"]
