"""trayjobs: a desktop tray app that runs your local background jobs.

The package is split in two: everything outside :mod:`trayjobs.ui` is the
core (config, run store, queue, scheduler, watcher, job kinds, CLI, worker)
and never imports Qt. The UI imports the core; the core never imports the UI.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
