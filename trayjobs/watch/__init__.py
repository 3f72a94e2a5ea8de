"""Watched folders: run a job when files arrive in a folder, once they are complete.

:class:`~.manager.WatchManager` belongs to the engine (the app or ``trayjobs
worker``); :func:`~.match.jobs_accepting` tells the window which jobs could take
files dropped on it.
"""

from .manager import WatchManager
from .match import jobs_accepting

__all__ = ["WatchManager", "jobs_accepting"]
