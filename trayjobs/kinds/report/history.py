"""The run history as a report reads it (``database = "runs"``): the view ``runs_v1``.

In the home's own ``runs.db`` the report opens the file read-only, as any other. A
history kept on a server (``[cluster] database = "postgresql://..."``) is read through the
run store, page by page, into a SQLite file of the run's own that holds ``runs_v1`` and
nothing else: a report's SQL is SQLite's wherever the runs are, so the same report works on
one machine and on several.
"""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path
from typing import Callable

__all__ = ["RunsHistory"]

PAGE = 5000


class RunsHistory:
    """Where a report run finds ``runs_v1``: made on first use, removed by :meth:`close`."""

    def __init__(self, home, *, cancelled: Callable[[], bool] | None = None) -> None:
        self.home = home
        self.home_file = home.runs_db.expanduser().absolute()
        self._cancelled = cancelled
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._path: Path | None = None

    def path(self) -> Path:
        if self._path is None:
            self._path = self._copy() if self._shared() else self.home_file
        return self._path

    def _cluster(self):
        from ...config import load_config
        from ...engine.control import last_good_path
        return load_config(self.home.config_file, last_good=last_good_path(self.home)).cluster

    def _shared(self) -> bool:
        from ...store.open import is_shared
        return is_shared(self.home, self._cluster())

    def _copy(self) -> Path:
        from ...errors import Cancelled
        from ...store.migrations import RUNS_V1_COLUMNS
        from ...store.open import open_store
        self._tmp = tempfile.TemporaryDirectory(prefix="trayjobs-report-")
        path = Path(self._tmp.name) / "runs.db"
        store = open_store(self.home, self._cluster(), readonly=True)
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            cols = ", ".join(RUNS_V1_COLUMNS)
            conn.execute(f"CREATE TABLE runs_v1 ({cols})")
            insert = (f"INSERT INTO runs_v1 ({cols}) VALUES"
                      f" ({', '.join('?' * len(RUNS_V1_COLUMNS))})")
            after = 0
            conn.execute("BEGIN")
            while rows := store.runs_view(after_id=after, limit=PAGE):
                if self._cancelled is not None and self._cancelled():
                    raise Cancelled()
                conn.executemany(insert, [tuple(r[c] for c in RUNS_V1_COLUMNS) for r in rows])
                after = rows[-1]["id"]
            conn.execute("COMMIT")
        finally:
            conn.close()
            store.close()
        return path

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        self._path = None
