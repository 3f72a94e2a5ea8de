"""The local spool: how runs ended while the run history's server could not be reached.

A run already executing when the server (PostgreSQL) goes away goes on to its end. That
end (the outcome, the result, the error, the log lines not stored yet, and whether the
engine was stopping) is written here, one file per attempt (``spool/run-ID-ATTEMPT.json``
in the data folder), fsynced before the engine goes on, so that neither a kill nor a
power cut loses it. When the server answers again (and, first of all, when the engine of
this home next starts, before it looks for lost runs) each file is replayed through the
engine's usual bookkeeping and then removed.

Replaying is exactly-once because the store's write is the compare-and-set
``end_attempt(expect=(worker, attempt))``: it writes only while the run is still
``running`` that attempt for the worker that claimed it. So:

* nobody touched the run meanwhile: the end is written, with its log lines and attempt
  row, and its hooks and alerts follow as for any end;
* another worker found this one's lease expired and recovered the run (it ended it
  ``interrupted``, perhaps resumed it as a new run): the run is theirs, and the spooled end
  is dropped, with a warning (writing it would make two ends of one attempt);
* the end was written but the engine died before removing the file: the second write
  finds the attempt ended and writes nothing.

The file is keyed by run id and attempt: an attempt has one end, so writing it twice
(an engine that spooled, then crashed and ran the same end again) replaces, never adds.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

__all__ = ["Spool"]

log = logging.getLogger(__name__)


class Spool:
    """Ends of attempts waiting for the run history, in ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _path(self, run_id: int, attempt: int) -> Path:
        return self.folder / f"run-{int(run_id)}-{int(attempt)}.json"

    def put(self, run_id: int, attempt: int, entry: dict[str, Any]) -> Path:
        """Keep ``entry`` for the attempt, durably: on disk (file and folder synced)
        before this returns."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self._path(run_id, attempt)
        tmp = path.with_suffix(".tmp")
        data = json.dumps(entry, default=str, ensure_ascii=False).encode()
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _sync_dir(self.folder)
        return path

    def entries(self) -> list[tuple[Path, dict[str, Any]]]:
        """The kept ends, oldest run first. A file that cannot be read (cut short by a
        full disk) is set aside as ``.bad``, with a warning, not replayed."""
        try:
            paths = [p for p in self.folder.iterdir() if p.suffix == ".json"]
        except (FileNotFoundError, NotADirectoryError):  # none kept (none could be)
            return []
        out = []
        for path in sorted(paths, key=_key):
            try:
                entry = json.loads(path.read_bytes())
                if not isinstance(entry, dict) or not isinstance(entry.get("run"), dict):
                    raise ValueError("not a spooled end")
            except FileNotFoundError:
                continue
            except (OSError, ValueError) as exc:
                log.warning("the spooled run end %s cannot be read (%s); set aside as .bad",
                            path, exc)
                try:
                    os.replace(path, path.with_suffix(".bad"))
                except OSError:
                    pass
                continue
            out.append((path, entry))
        return out

    def holds(self, run_id: int, attempt: int) -> bool:
        """Whether the end of this attempt is kept here, not yet written."""
        return self._path(run_id, attempt).exists()

    def remove(self, path: Path) -> None:
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        _sync_dir(self.folder)

    def __len__(self) -> int:
        try:
            return sum(1 for p in self.folder.iterdir() if p.suffix == ".json")
        except (FileNotFoundError, NotADirectoryError):
            return 0


def _key(path: Path) -> tuple[int, int]:
    parts = path.stem.split("-")
    try:
        return int(parts[1]), int(parts[2])
    except (IndexError, ValueError):
        return (1 << 62, 0)


def _sync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
