"""The jobs file: ``trayjobs.toml`` in the config dir, read into validated jobs.

One broken job never stops the others from loading: each job is validated on
its own and its problems are collected as :class:`~trayjobs.errors.ConfigError`
values that name the file, the line, the job and the key. ``trayjobs check``
and the window show them.

The parts: :mod:`.base` (limits, shared keys, the strict base of every table),
:mod:`.tables` (``retry``, ``watch``, ``when``), :mod:`.job` (one job and its run
parameters), :mod:`.settings`, :mod:`.hooks` (loops and long chains), :mod:`.messages`
(errors in plain words), :mod:`.locate` (the line of a key, for them), :mod:`.parse` (the
text into a :class:`Config`) and :mod:`.loading` (the file from disk). Import from here: the parts may move.
"""

from __future__ import annotations

from .base import (DEFAULT_IGNORE, HOOK_KEYS, HOOK_OUTCOMES, MAX_FILE_BYTES, MAX_NESTING,
                   MIN_EVERY, OUTPUT_FOLDER_KEYS, PATH_KEYS, Duration, RunParam, _duration)
from .hooks import MAX_CHAIN, hook_cycles, long_hook_chains
from .job import JobCommon, JobConfig, parse_param_value
from .loading import load_config, read_jobs_file
from .messages import _messages
from .parse import _hostile, check_jobs, parse_config
from .result import Config
from .settings import Settings
from .tables import RetryPolicy, WatchSpec, When

__all__ = ["Config", "JobConfig", "Settings", "RetryPolicy", "WatchSpec", "When", "load_config",
           "parse_config", "parse_param_value", "check_jobs", "hook_cycles", "DEFAULT_IGNORE",
           "HOOK_KEYS", "HOOK_OUTCOMES", "OUTPUT_FOLDER_KEYS", "MAX_NESTING", "PATH_KEYS",
           "MAX_FILE_BYTES", "MIN_EVERY", "read_jobs_file"]
