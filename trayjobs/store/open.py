"""Open the run store a home uses: its own ``runs.db``, or the shared database that
``[cluster] database`` names. Every process (the app, ``trayjobs worker``, the CLI)
opens its store here, so all of them agree on where the history is."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..cluster import ClusterSpec
    from ..paths import Home
    from .api import RunStoreAPI

__all__ = ["open_store", "store_exists"]


def open_store(home: "Home", cluster: "ClusterSpec | None" = None, *,
               readonly: bool = False) -> "RunStoreAPI":
    """The run store for ``home`` under ``cluster`` (None: the home's own file)."""
    url = _url(cluster)
    if url is None:
        from . import RunStore
        return RunStore(home.runs_db, readonly=readonly)
    from ..cluster import sqlite_path
    if url.startswith("sqlite:"):
        from . import RunStore
        return RunStore(sqlite_path(url), readonly=readonly)
    from ..errors import UserError
    raise UserError(f"[cluster] database: {url.split(':', 1)[0]} is not supported yet")


def store_exists(home: "Home", cluster: "ClusterSpec | None" = None) -> bool:
    """Whether there is a history to read without creating one (a server always has one)."""
    url = _url(cluster)
    if url is None:
        return home.runs_db.exists()
    if url.startswith("sqlite:"):
        from pathlib import Path
        from ..cluster import sqlite_path
        return Path(sqlite_path(url)).exists()
    return True


def _url(cluster: "ClusterSpec | None") -> str | None:
    if cluster is None:
        return None
    from ..cluster import database_url
    return database_url(cluster)
