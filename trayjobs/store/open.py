"""Open the run store a home uses: its own ``runs.db``, or the shared database that
``[cluster] database`` names (a ``sqlite:`` file or a ``postgresql://`` server). Every
process (the app, ``trayjobs worker``, the CLI, a report) opens its store here, so all
of them agree on where the history is.

``TRAYJOBS_TEST_DATABASE`` (for the test suite only: ``TRAYJOBS_TEST_STORE=postgres``
sets it per test) stands in for ``[cluster] database`` when the config names none."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..cluster import ClusterSpec
    from ..paths import Home
    from .api import RunStoreAPI

__all__ = ["open_store", "store_exists", "is_shared"]


def open_store(home: "Home", cluster: "ClusterSpec | None" = None, *,
               readonly: bool = False, connect: bool = True,
               timeout: float | None = None) -> "RunStoreAPI":
    """The run store for ``home`` under ``cluster`` (None: the home's own file).
    ``connect=False``: a server is not spoken to yet (the engine starts while it is down,
    and calls ``migrate()`` once it answers); a file is opened as always. ``timeout``:
    seconds a server's store waits for it (default: see :class:`PgRunStore`)."""
    url = _url(cluster)
    if url is None:
        from . import RunStore
        return RunStore(home.runs_db, readonly=readonly)
    from ..cluster import sqlite_path
    if url.startswith("sqlite:"):
        import sqlite3
        from . import RunStore
        try:
            return RunStore(sqlite_path(url), readonly=readonly)
        except (sqlite3.Error, OSError, ValueError) as exc:  # gone wrong since it was checked
            from ..errors import UserError
            raise UserError(f"the run history file {sqlite_path(url)} cannot be opened ({exc}): "
                            f"check [cluster] database and that its folder may be written"
                            ) from None
    try:
        from .postgres import PgRunStore
    except ImportError as exc:
        from ..errors import UserError
        raise UserError(f"[cluster] database is a PostgreSQL server, but the PostgreSQL client "
                        f"is not installed ({exc.name}): pip install 'trayjobs[cluster]'") from None
    return PgRunStore(url, readonly=readonly, migrate=connect, timeout=timeout)


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


def is_shared(home: "Home", cluster: "ClusterSpec | None" = None) -> bool:
    """Whether the history is somewhere other than the home's own ``runs.db``."""
    return _url(cluster) is not None


def _url(cluster: "ClusterSpec | None") -> str | None:
    url = None
    if cluster is not None:
        from ..cluster import database_url
        url = database_url(cluster)
    return url or os.environ.get("TRAYJOBS_TEST_DATABASE") or None
