"""Where trayjobs keeps its state.

Everything lives under one *home*. By default that is the platform's usual
config, data and log directories (through platformdirs); ``TRAYJOBS_HOME=DIR``
or ``--home DIR`` puts all of it under ``DIR`` instead, which is what the
tests and ``make demo`` style trials use.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

__all__ = ["Home", "resolve_home"]

APP_NAME = "trayjobs"


@dataclass(frozen=True)
class Home:
    """The set of directories one trayjobs installation uses."""

    config_dir: Path
    data_dir: Path
    log_dir: Path
    reports_dir: Path
    root: Path | None = None  # set when everything lives under one folder

    @property
    def config_file(self) -> Path:
        return self.config_dir / "trayjobs.toml"

    @property
    def runs_db(self) -> Path:
        """Our own run history database (never Huey's)."""
        return self.data_dir / "runs.db"

    @property
    def queue_db(self) -> Path:
        """Huey's queue database; only :mod:`trayjobs.queue` opens it."""
        return self.data_dir / "queue.db"

    @property
    def default_data_db(self) -> Path:
        """Where imports go unless a job names another database."""
        return self.data_dir / "data.db"

    def run_outputs(self, run_id: int) -> Path:
        """The folder of a run's own files (``$TRAYJOBS_OUTPUT_DIR`` of a command, a result
        too big for the history), listed among its outputs."""
        return self.data_dir / "outputs" / str(run_id)

    def ensure(self) -> "Home":
        """Create the folders; a :class:`~trayjobs.errors.UserError` saying which and why
        when one cannot be (a file in the way, a read-only or missing place)."""
        for d in (self.config_dir, self.data_dir, self.log_dir, self.reports_dir):
            try:
                d.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                from .errors import UserError
                # The file in the way may be the folder's, or one of its parents'.
                in_way = next((p for p in (d, *d.parents) if p.exists() and not p.is_dir()),
                              None)
                where, why = ((in_way, "is a file, not a folder") if in_way is not None else
                              (exc.filename or d, f"cannot be created ({exc.strerror or exc})"))
                raise UserError(f"cannot use {d} for trayjobs' files: {where} {why}; give "
                                f"trayjobs a folder it can write to with --home DIR or "
                                f"TRAYJOBS_HOME") from None
        return self

    def to_dict(self) -> dict[str, str]:
        return {
            "config_dir": str(self.config_dir),
            "data_dir": str(self.data_dir),
            "log_dir": str(self.log_dir),
            "reports_dir": str(self.reports_dir),
            "root": str(self.root) if self.root else "",
        }

    @classmethod
    def from_dict(cls, d: dict[str, str]) -> "Home":
        return cls(
            config_dir=Path(d["config_dir"]),
            data_dir=Path(d["data_dir"]),
            log_dir=Path(d["log_dir"]),
            reports_dir=Path(d["reports_dir"]),
            root=Path(d["root"]) if d.get("root") else None,
        )

    @classmethod
    def under(cls, root: str | os.PathLike[str]) -> "Home":
        root = Path(root).expanduser().resolve()
        return cls(
            config_dir=root,
            data_dir=root / "data",
            log_dir=root / "logs",
            reports_dir=root / "reports",
            root=root,
        )


def resolve_home(home: str | os.PathLike[str] | None = None) -> Home:
    """The home to use: an explicit folder, else ``$TRAYJOBS_HOME``, else the platform dirs."""
    if home is None:
        home = os.environ.get("TRAYJOBS_HOME") or None
    if home is not None:
        return Home.under(home)
    dirs = platformdirs.PlatformDirs(APP_NAME, appauthor=False)
    data = Path(dirs.user_data_dir)
    return Home(
        config_dir=Path(dirs.user_config_dir),
        data_dir=data,
        log_dir=Path(dirs.user_log_dir),
        reports_dir=data / "reports",
    )
