"""First run: with no jobs file yet, set up a small example that works right away.

The example is five jobs around two folders a person can find in their file
manager:

- ``Inbox``: files dropped here are imported into ``data.db`` (job ``import-inbox``);
- ``Scratch``: files not changed for 30 days go to the trash once a day (job
  ``clean-scratch``), in preview mode until the user switches it on;
- weekly "Imported data" and "Job activity" reports (jobs ``imported-data`` and
  ``job-activity``), which can also be made any time from the tray menu;
- a command of one's own (job ``scratch-size``): ``du`` tells how much Scratch
  holds, run only when asked, as a start for a backup or sync script.

The folders live in ``~/trayjobs/`` for a normal installation, and directly in
the home folder when everything is kept under one folder (``TRAYJOBS_HOME`` or
``--home``), so a trial never writes outside it.

Setting up happens once per home: never over an existing jobs file, and not
again after the user deleted the jobs file on purpose (a small record in the
data folder remembers it was done, and what the welcome view should show).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import tomlkit

from .paths import Home

__all__ = ["ExampleSetup", "ensure_first_run", "example_setup", "example_config", "workspace_dir",
           "dismiss_welcome", "IMPORT_JOB", "CLEANUP_JOB", "DATA_REPORT", "ACTIVITY_REPORT",
           "COMMAND_JOB", "INBOX_PATTERNS"]

IMPORT_JOB = "import-inbox"
CLEANUP_JOB = "clean-scratch"
DATA_REPORT = "imported-data"
ACTIVITY_REPORT = "job-activity"
COMMAND_JOB = "scratch-size"
#: What the Inbox imports; anything else dropped there is left alone.
INBOX_PATTERNS = ["*.csv", "*.tsv", "*.json", "*.jsonl", "*.ndjson", "*.csv.gz", "*.tsv.gz",
                  "*.xlsx", "*.xlsm", "*.xls", "*.ods"]

_RECORD = "example-setup.json"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExampleSetup:
    """Where the example set-up's folders and files are."""

    home: Home
    inbox: Path
    scratch: Path
    created: bool = False          # made by this very call
    welcome: bool = True           # the welcome view has not been dismissed

    @property
    def workspace(self) -> Path:
        return self.inbox.parent

    @property
    def database(self) -> Path:
        return self.home.default_data_db

    @property
    def reports(self) -> Path:
        return self.home.reports_dir

    @property
    def config_file(self) -> Path:
        return self.home.config_file


def workspace_dir(home: Home) -> Path:
    """The folder that holds Inbox and Scratch: the home itself when it is one folder,
    else ``~/trayjobs`` (visible, next to Documents and Downloads)."""
    if home.root is not None:
        return home.root
    return Path.home() / "trayjobs"


def ensure_first_run(home: Home) -> ExampleSetup | None:
    """Create the example set-up if this home has never had a jobs file.

    Returns the set-up (``created`` tells whether it was made now), or ``None``
    when the home has a jobs file of its own. Safe to call on every start.
    """
    record = home.data_dir / _RECORD
    if home.config_file.exists() or record.exists():
        return example_setup(home)
    workspace = workspace_dir(home)
    inbox, scratch = workspace / "Inbox", workspace / "Scratch"
    try:
        home.ensure()
        for folder in (inbox, scratch):
            folder.mkdir(parents=True, exist_ok=True)
        # "x": never replace a jobs file, even one written a moment ago by another process
        with open(home.config_file, "x", encoding="utf-8") as f:
            f.write(example_config(inbox, scratch))
    except FileExistsError as exc:
        if Path(exc.filename or "") == home.config_file:
            return example_setup(home)
        log.warning("no example set-up: %s", exc)
        return None
    except OSError as exc:  # an example is a nicety: the app starts without it
        log.warning("no example set-up: %s", exc)
        return None
    _write_record(record, {"inbox": str(inbox), "scratch": str(scratch), "welcome": True})
    return ExampleSetup(home, inbox, scratch, created=True)


def example_setup(home: Home) -> ExampleSetup | None:
    """The example set-up made for this home earlier, or ``None`` if there is none."""
    try:
        data = json.loads((home.data_dir / _RECORD).read_text(encoding="utf-8"))
        return ExampleSetup(home, Path(data["inbox"]), Path(data["scratch"]),
                            welcome=bool(data.get("welcome", True)))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def dismiss_welcome(home: Home) -> None:
    """Remember that the user has read the welcome view."""
    record = home.data_dir / _RECORD
    setup = example_setup(home)
    if setup is not None:
        _write_record(record, {"inbox": str(setup.inbox), "scratch": str(setup.scratch),
                               "welcome": False})


def _write_record(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
    os.replace(tmp, path)


def _shown(path: Path) -> str:
    """A path as the user would write it: ``~/trayjobs/Inbox`` under the home folder."""
    try:
        return "~/" + path.relative_to(Path.home()).as_posix()
    except ValueError:
        return path.as_posix()


def _q(text: str) -> str:
    """A TOML string, escaped as TOML needs (quotes, backslashes, control characters)."""
    return tomlkit.string(text).as_string()


def example_config(inbox: Path, scratch: Path) -> str:
    """The commented jobs file of the example set-up."""
    patterns = ", ".join(_q(p) for p in INBOX_PATTERNS)
    return f"""\
# trayjobs jobs file.
#
# trayjobs wrote this example on its first start. Change anything: the app reloads
# this file when you save it, and `trayjobs check` tells you about mistakes (with
# the line and the key). Each [jobs.NAME] table is one job; the README's
# "Reference" lists every key of every kind of job.

[settings]
workers = 2                  # how many runs may execute at once
notify_failures = true       # a desktop notification when a run fails for good


# Inbox: CSV, TSV and JSON files and spreadsheets (.xlsx, .xls, .ods) dropped here
# are imported into data.db (in trayjobs' data folder), one table per file name
# (a spreadsheet's first sheet): "bank-2024.csv" fills the table bank_2024. Each
# file then moves to Inbox/processed, or to Inbox/failed with a NAME.error.txt
# saying why. The same file dropped twice is imported once, rows that do not fit
# are set aside (the _rejected table), and `trayjobs undo RUN` takes a run's rows
# out again.
[jobs.{IMPORT_JOB}]
kind = "import"
description = "Import files dropped into Inbox into data.db"
watch = {{ folder = {_q(_shown(inbox))}, patterns = [{patterns}] }}
# table = "transactions"     # one table for every file, instead of one per file name
# then = ["{DATA_REPORT}"]   # remake the "Imported data" report after each import


# Scratch: a place for files you need only for a while. Once a day, what has not
# changed for 30 days goes to the trash (and can be restored, or the whole run
# undone from its details). It starts as a preview: a run only lists what it
# would trash. Set preview = false to switch it on.
[jobs.{CLEANUP_JOB}]
kind = "cleanup"
description = "Trash files in Scratch not changed for 30 days"
every = "1d"
locations = [{{ path = {_q(_shown(scratch))}, recursive = true }}]
filters = [{{ age = "older than 30d" }}]
action = "trash"
remove_empty_folders = true
preview = true


# Reports: HTML (with charts), a CSV per section and a PDF in trayjobs' reports
# folder, <job>-latest.html being the newest. Make one any time from the tray
# menu (Run now) or the window. A report missed while the computer was off is
# made once at the next start.
[jobs.{DATA_REPORT}]
kind = "report"
description = "Tables, rows and rejected rows in data.db"
builtin = "imported-data"
cron = "0 9 * * mon"         # Mondays at 09:00

[jobs.{ACTIVITY_REPORT}]
kind = "report"
description = "Runs, failures and retries of every job"
builtin = "job-activity"
cron = "0 9 * * mon"


# Your own programs and scripts are jobs too: their output goes to the run's log,
# and Cancel stops them. This one only reads: it tells how much Scratch holds,
# when you run it (no schedule). Use it as a start for a backup or sync of your
# own, e.g. command = ["rsync", "-a", "--info=progress2", "~/Pictures/", "/mnt/backup/"]
# with cron = "0 2 * * *".
[jobs.{COMMAND_JOB}]
kind = "command"
description = "How much Scratch holds"
command = ["du", "-sh", {_q(_shown(scratch))}]
"""
