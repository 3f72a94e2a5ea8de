"""What the person can do from the window and the tray, as the app's methods.

Each command runs on the service thread (the store, the queue and the jobs
file are never touched from the GUI thread) and reports back in the status
bar. Changes to the jobs file keep its comments and layout
(:mod:`trayjobs.config_edit`), are refused when they would break the file,
and reload the engine's config.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QPoint, Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QFileDialog

from ..config_edit import ConfigDocument
from ..paths import Home

__all__ = ["Commands", "autostart_enabled", "set_autostart"]

log = logging.getLogger(__name__)


def autostart_enabled() -> bool:
    try:
        from ..desktop import freedesktop, targets
    except ImportError:
        return False
    return freedesktop() and targets().autostart.exists()


def set_autostart(home: Home, on: bool) -> None:
    """Add or remove the login entry (freedesktop autostart) that starts trayjobs in the tray."""
    from ..desktop import install
    install(home, autostart=on)


class Commands:
    """Mixed into :class:`~.app.TrayApp`."""

    # -- runs -----------------------------------------------------------------------

    def _engine(self):
        if self.engine is None:
            self.status("trayjobs is still starting; try again in a moment")
        return self.engine

    def run_job(self, name: str, *, files: list[str] | None = None, dry_run: bool = False,
                trigger: str = "manual", show: bool = False) -> None:
        """``show``: open the run's details once it is submitted (the welcome page's
        buttons: a first try should show what happens, not only a status-bar line)."""
        eng = self._engine()
        if eng is None:
            return
        if not files and self._needs_files(name):
            self.ask_files(name, dry_run=dry_run, trigger=trigger)
            return
        what = "a preview of " if dry_run else ""

        def started(rid: int) -> None:
            self.status(f"Started {what}run {rid} of {name}")
            if show:
                self.open_run(rid)

        self.service.call(lambda: eng.submit(name, trigger=trigger, files=files, dry_run=dry_run),
                          started)

    def _needs_files(self, name: str) -> bool:
        from ..kinds.registry import get_kind
        job = self.engine.config.jobs.get(name)
        try:
            return job is not None and get_kind(job.kind).requires_files
        except KeyError:
            return False

    def ask_files(self, name: str, *, dry_run: bool = False, trigger: str = "manual") -> None:
        """Ask in the window which files to run ``name`` on (from its watched folder, if it
        has one); the run starts once they are chosen."""
        self.show_window()
        job = self.engine.config.jobs.get(name) if self.engine else None
        start = Path.home()
        if job is not None and job.common.watch is not None:
            folder = Path(job.common.watch.folder).expanduser()
            start = folder if folder.is_dir() else start
        what = "preview" if dry_run else "run"
        dlg = QFileDialog(self.window, f"Files to {what} {name} on", str(start))
        dlg.setObjectName("runFiles")
        dlg.setFileMode(QFileDialog.FileMode.ExistingFiles)
        patterns = [p for p in (job.common.watch.patterns if job is not None and
                                job.common.watch is not None else []) if p not in ("*", "*.*")]
        if patterns:  # the files its watched folder takes first; any file still one click away
            dlg.setNameFilters([f"Files {name} takes ({' '.join(patterns)})", "All files (*)"])
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.filesSelected.connect(lambda chosen: self.run_job(
            name, files=list(chosen), dry_run=dry_run, trigger=trigger))
        dlg.rejected.connect(lambda: self.status(f"{name} not started: it runs on files you "
                                                 f"choose (or drop on the window)"))
        dlg.open()
        self.file_dialog = dlg

    def run_job_with(self, name: str) -> None:
        """Open "Run with…" for ``name``: its parameters, set for one run."""
        eng = self._engine()
        if eng is None:
            return
        from .runwith import RunWithDialog, param_specs

        def open_dialog(specs) -> None:
            self.show_window()
            dlg = self._raise_open(RunWithDialog, lambda d: d.job == name)
            if dlg is not None:  # one per job, with what was typed in it (as the editor)
                self.run_with = dlg
                return
            dlg = RunWithDialog(self, name, specs, self.window)
            dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            dlg.show()
            self.run_with = dlg

        self.service.call(lambda: param_specs(eng.config.job(name)), open_dialog,
                          lambda exc: self.status(str(exc)))

    def cancel_run(self, run_id: int) -> None:
        eng = self._engine()
        if eng is not None:
            self.service.call(lambda: eng.cancel(run_id), lambda r: self.status(
                f"Run {run_id} cancelled" if r == "cancelled" else f"Asked run {run_id} to stop"))

    def apply_preview(self, run_id: int) -> None:
        """Run exactly what preview run ``run_id`` listed, and show the new run."""
        eng = self._engine()
        if eng is None:
            return

        def done(new: int) -> None:
            self.status(f"Applying the preview of run {run_id} as run {new}")
            self.open_run(new)

        self.service.call(lambda: eng.apply_preview(run_id), done,
                          lambda exc: self.status(str(exc)))

    def cancel_runs(self, run_ids: list[int]) -> None:
        for rid in run_ids:
            self.cancel_run(rid)

    def retry_runs(self, run_ids: list[int]) -> None:
        for rid in run_ids:
            self.retry_run(rid)

    def mark_seen(self, run_ids: list[int]) -> None:
        """Someone looked at these runs: out of "Needs attention", off the tray's badge."""
        eng = self._engine()
        if eng is None or not run_ids:
            return
        ids = list(run_ids)

        def mark() -> int:
            # Only runs that needed attention change what is shown (the "Needs attention"
            # filter, the tray's badge); a running or plainly successful run marked seen
            # (its details opened) changes nothing there, so nothing is read again.
            shown = eng.store.needing_attention(ids)
            return shown if eng.store.mark_seen(ids) else 0

        def done(shown: int) -> None:
            if shown:
                self.window.runs_model.reload()
                self.refresh_jobs()

        self.service.call(mark, done)

    def show_attention(self) -> None:
        self.show_window()
        self.window.show_runs_of(states=("attention",))

    def retry_run(self, run_id: int, *, on_done: Callable[[int], None] | None = None) -> None:
        eng = self._engine()
        if eng is None:
            return

        def done(new: int) -> None:
            self.status(f"Run {run_id} started again now" if new == run_id
                        else f"Run {run_id} retried as run {new}")
            if on_done:
                on_done(new)

        self.service.call(lambda: eng.retry(run_id), done)

    def undo_run(self, run_id: int, *, on_done: Callable[[Any], None] | None = None,
                 on_error: Callable[[Exception], None] | None = None) -> None:
        from ..engine.undo import undo_run
        eng = self._engine()
        if eng is None:
            return
        self.status(f"Undoing run {run_id}…")

        def failed(exc: Exception) -> None:
            self.status(str(exc))
            if on_error:
                on_error(exc)

        def done(r: dict[str, Any]) -> None:
            self.status(f"Run {run_id} undone: {r.get('summary', '')}")
            if on_done:
                on_done(r)

        self.service.call_slow(lambda: undo_run(eng, run_id), done, failed)

    # -- pausing --------------------------------------------------------------------

    def toggle_pause(self) -> None:
        eng = self._engine()
        if eng is None:
            return
        want = not self.paused
        self.service.call(lambda: eng.set_paused(want), lambda _r: self._set_paused(want))

    def _set_paused(self, paused: bool) -> None:
        self.paused = paused
        self.window.set_paused(paused)
        self.status("All jobs paused" if paused else "Jobs resumed")
        self._update_tray()
        self.refresh_jobs()

    def set_job_paused(self, name: str, paused: bool) -> None:
        eng = self._engine()
        if eng is not None:
            self.service.call(lambda: eng.set_paused(paused, job=name), lambda _r: (
                self.status(f"{name} {'paused' if paused else 'resumed'}"), self.refresh_jobs()))

    # -- the jobs file ----------------------------------------------------------------

    def _edit_config(self, edit: Callable[[ConfigDocument], Any], *, job: str | None = None,
                     settings: bool = False, on_done: Callable[[Any], None] | None = None,
                     on_error: Callable[[Exception], None] | None = None,
                     renamed: tuple[str, str] | None = None) -> None:
        """``renamed``: (old, new), a job the edit renames: its history's state (the files
        its watched folders ran, its schedule's place) goes with it, before the jobs file
        names it so, or the new name would take every file in its folder for new."""
        path, eng, watch = self.home.config_file, self.engine, self.config_watch
        if renamed is not None and renamed[0] == renamed[1]:
            renamed = None

        def work():
            doc = ConfigDocument.load(path)
            baseline = doc.validate()
            result = edit(doc)
            doc.check(job=job, settings=settings, baseline=baseline)
            watch.expect(doc.text)   # our own save is not a hand edit
            store = eng.store if eng is not None and renamed is not None else None
            if store is not None:
                store.rename_job(*renamed)
            try:
                doc.save(path)
            except BaseException:
                if store is not None:
                    store.rename_job(renamed[1], renamed[0])
                raise
            if eng is not None:
                eng.reload_config()
            return result

        def done(result: Any) -> None:
            self.refresh_jobs()
            if on_done:
                on_done(result)

        def failed(exc: Exception) -> None:
            self.status(f"Not saved: {exc}")
            if on_error:
                on_error(exc)

        self.service.call(work, done, failed)

    def set_job_enabled(self, name: str, enabled: bool) -> None:
        self._edit_config(lambda d: d.set_enabled(name, enabled), job=name,
                          on_done=lambda _r: self.status(
                              f"{name} {'enabled' if enabled else 'disabled'}"),
                          on_error=lambda _e: self.refresh_jobs())

    def save_job(self, name: str, values: dict[str, Any], *, old_name: str | None = None,
                 opened_with: Any = ..., on_saved: Callable[[Any], None] | None = None,
                 on_error: Callable[[Exception], None] | None = None) -> None:
        def done(r: Any) -> None:
            self.status(f"Saved {name}")
            self.window.jobs_page.select(name)
            if on_saved:
                on_saved(r)

        self._edit_config(lambda d: d.set_job(name, values, old_name=old_name,
                                                   opened_with=opened_with), job=name,
                          on_done=done, on_error=on_error,
                          renamed=(old_name, name) if old_name is not None else None)

    def duplicate_job(self, name: str) -> None:
        def done(new: str) -> None:
            self.status(f"Copied {name} as {new} (switched off until you enable it)")
            self.window.jobs_page.select(new)

        self._edit_config(lambda d: d.duplicate_job(name), on_done=done)

    def delete_job(self, name: str) -> None:
        self._edit_config(lambda d: d.delete_job(name),
                          on_done=lambda _r: self.status(f"Deleted {name}"))

    def edit_job(self, name: str | None) -> None:
        """Open the job editor (``None``: a new job) once the file has been read."""
        path = self.home.config_file

        def load():
            doc = ConfigDocument.load(path)
            return doc.original, (doc.job(name) if name else None)

        self.service.call(load, lambda r: self._open_editor(name, *r))

    def _open_editor(self, name: str | None, text: str, values: dict[str, Any] | None):
        from .editor import NEW_JOB_KIND, JobEditor
        self.show_window()
        dlg = self._raise_open(JobEditor, lambda e: e.old_name == name)
        if dlg is not None:  # one editor per job (and one for a new job)
            self.editor = dlg
            return dlg
        dlg = JobEditor(self, name=name, values=values or {"kind": NEW_JOB_KIND}, config_text=text,
                        parent=self.window)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.show()
        self.editor = dlg
        return dlg

    def config_edited(self) -> None:
        """The jobs file was changed by hand: reload it; its errors show in the banner."""
        eng = self.engine
        if eng is None:
            return
        self.service.call(eng.reload_config, lambda cfg: (
            self.status("Config file reloaded" + (f" with {len(cfg.errors)} problem(s)"
                                                  if cfg.errors else "")), self.refresh_jobs()))

    def save_settings(self, changes: dict[str, Any], autostart: bool | None, *,
                      on_error: Callable[[list[str]], None] | None = None) -> None:
        home = self.home

        def edit(doc: ConfigDocument) -> None:
            if changes:
                doc.set_settings(changes)
            if autostart is not None:
                set_autostart(home, autostart)

        self._edit_config(edit, settings=True,
                          on_done=lambda _r: (self.status("Settings saved"),
                                              self.window.settings_page.saved()),
                          on_error=lambda e: on_error and on_error([f"Not saved: {e}"]))

    def prune_history(self, values: dict[str, Any]) -> None:
        eng = self._engine()
        if eng is None:
            return

        def done(n: int) -> None:
            self.status(f"Removed {n:,} old run{'s' * (n != 1)} from the history")
            self.refresh()

        # A clean-up of a big history takes a while; one under way (the automatic one)
        # holds this one until it ends: said, so the button does not seem to do nothing.
        self.status("Waiting for the automatic clean-up of the history under way, then "
                    "cleaning up..." if getattr(eng, "pruning", False)
                    else "Cleaning up the history...")
        self.service.call_slow(lambda: eng.prune_history(keep_days=values["keep_days"],
                                                     keep_runs=values["keep_runs"],
                                                     keep_failed_days=values["keep_failed_days"]),
                          done)

    # -- files dropped on the window ------------------------------------------------------

    def offer_files(self, files: list[str], pos: QPoint | None = None) -> None:
        """Offer the jobs that take these files; the chosen one runs on them."""
        eng = self._engine()
        if eng is None:
            return

        def choices() -> list[str]:
            if hasattr(eng, "jobs_accepting"):
                return list(eng.jobs_accepting(files))
            from ..kinds.registry import get_kind
            return [j.name for j in eng.config.jobs.values()
                    if j.enabled and get_kind(j.kind).accepts_files]

        def offer(jobs: list[str]) -> None:
            if not jobs:
                self.status("No enabled job takes files: add an import job, then drop them again")
                return
            self.window.show_drop_choices(files, jobs, pos)

        self.service.call(choices, offer)

    # -- opening things ------------------------------------------------------------------

    def open_run(self, run_id: int):
        from .details import RunDetails
        self.show_window()
        self.mark_seen([run_id])  # its details are open: it has been looked at
        dlg = self._raise_open(RunDetails, lambda d: d.run_id == run_id)
        if dlg is not None:  # one details window per run
            self.details = dlg
            return dlg
        dlg = RunDetails(self, run_id, self.window)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.show()
        dlg.raise_()
        dlg.activateWindow()
        self.details = dlg
        return dlg

    def _raise_open(self, cls: type, match: Callable[[Any], bool]):
        """The open window of ``cls`` that ``match`` picks, brought to the front; or None."""
        for dlg in self.window.findChildren(cls):
            if dlg.isVisible() and match(dlg):
                dlg.setWindowState(dlg.windowState() & ~Qt.WindowState.WindowMinimized)
                dlg.raise_()
                dlg.activateWindow()
                return dlg
        return None

    def open_target(self, target) -> None:
        """Open what a notification points at: a run, or a filtered list of runs."""
        if not target:
            self.show_window()
            return
        what, arg = target
        if what == "run":
            self.open_run(int(arg))
        else:
            self.show_window()
            self.window.show_runs_of(job=arg.get("job"), states=tuple(arg.get("states") or ()),
                                     since=arg.get("since"))

    def show_failures(self) -> None:
        self.show_window()
        self.window.show_runs_of(states=("failed",))

    def open_latest_report(self) -> None:
        target = self.latest_report()
        if target:
            QDesktopServices.openUrl(QUrl.fromLocalFile(target))

    def open_data_folder(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.home.data_dir)))
