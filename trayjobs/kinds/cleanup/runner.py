"""One cleanup run: scan, filter, plan, journal, act; a preview stops after planning.

Work goes folder by folder. The items a folder yields are planned (their
destination decided, conflicts resolved), journalled as ``pending`` in one
transaction, acted on one by one with a cancel check between each, and
journalled as ``done``/``failed``. Archives are the exception: their items
are gathered during the scan and written at the end, a zip at a time.

A run where every action it tried failed fails (not retried: the same files
would fail again), keeping its result. Errors and skips beside actions that
worked are warnings in the result, so the run ends *succeeded with warnings*.
"""

from __future__ import annotations

import os
import time
from typing import Any

from ...context import JobContext
from ...durations import parse_duration
from ...textfmt import escape_undecodable
from .acting import execute
from .actions import Item, Skip, Workspace
from .actions.base import item_from_stat
from .archives import flush_archives
from .emptied import remove_emptied
from .filters import FilterEnv, combine
from .dirs import Changed, LinkInTheWay, MountInTheWay, display, mount_points
from .fsops import MAX_NESTING, reason
from .journal import Journal, Row
from .locations import resolve_scopes
from .outcome import result_of
from .params import CleanupParams
from .report import DONE_CAP, PLANNED_CAP, Tally
from .safety import inside
from .scan import Scope, list_dir, walk_files

__all__ = ["Runner"]

_LOGGED_SKIPS = 500  # skips beyond this are counted, not logged one by one (errors always are)


class Runner:
    def __init__(self, ctx: JobContext, params: CleanupParams, *, journal: Journal | None) -> None:
        self.ctx, self.p, self.journal = ctx, params, journal
        self.dry = bool(ctx.dry_run or (params.preview and ctx.plan is None))
        self.action = params.action
        self.ws = Workspace(conflict=params.conflict, dry_run=self.dry)
        self.env = FilterEnv(now=time.time(), folders=params.targets == "folders")
        self.pred = combine(list(params.filters), params.match, self.env)
        self.tally = Tally(noun="folder" if self.env.folders else "file")
        self.cap = PLANNED_CAP if self.dry else DONE_CAP
        self.recent = parse_duration(params.skip_recent)
        self.produced: set[str] = set()   # what this run created: never picked up again
        self._made: list[str] = []         # files written, not yet told (ctx.produced)
        self.ripe_at: float | None = None  # when the first item left for being recent is not
        self.touched: set[str] = set()    # folders this run took something out of
        self.done_src: set[str] = set()   # copied/archived by an earlier attempt of this run
        self.handled: set[str] = set()    # items taken in hand: a location inside another gives them again
        self.groups: dict[str, list[Item]] = {}
        self.roots: tuple[str, ...] = ()
        self.seq = 1
        self.action_errors = 0  # actions tried that failed (not read errors, not skips)
        # Applying a preview: only its items, each as it was then (path -> (size, mtime_ns)).
        plan = ctx.plan
        self.only = None if plan is None or self.dry else {
            i["path"]: (i["size"], i["mtime_ns"]) for i in plan.get("items") or []}
        self.plan: list[dict[str, Any]] = []  # a preview's items, for applying it later
        self.plan_cut = False
        self._last_progress = 0.0

    # -- the run -----------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        try:
            scopes = resolve_scopes(self)
            self._log_start()
            if self.journal is not None:
                self._resume()
                self._journal_locations()
            for scope in scopes:
                self.env.root = scope.root
                if self.env.folders:
                    self._visit_folders(scope, scope.root, 0)
                else:
                    for folder, matched, entries in walk_files(scope, self.pred, produced=self.produced,
                                                               on_error=self._read_error, between=self._scanned,
                                                               folders=self.ws.places):
                        self._handle(scope, folder, matched, entries)
            flush_archives(self)
            if self.p.remove_empty_folders:
                remove_emptied(self)
        finally:
            self.ws.close()
            self._tell_made()
        self._progress(force=True)
        return result_of(self)

    def _log_start(self) -> None:
        filters = f" {self.p.match} of: " + "; ".join(str(f) for f in self.p.filters) if self.p.filters else ""
        self.ctx.log(f"{'preview of a ' if self.dry else ''}cleanup of {', '.join(map(display, self.roots))}, "
                     f"{self.p.targets}{filters}; then {self.action.describe()}")

    def _carry(self, row) -> None:
        """What an earlier attempt did, as this one goes on: what it wrote is this run's
        output (no new arrival), and what it copied is not copied again."""
        if row.dest and row.action in ("move", "copy", "rename", "archive", "mkdir"):
            self.produced.add(row.dest)
        if row.action in ("copy", "zip"):
            self.done_src.add(row.src)

    def _resume(self) -> None:
        """A second attempt of the same run: settle the first one's journal and carry on from it.
        A run resuming one a crash interrupted (``ctx.resumes``) settles that run's journal
        too, and copies (or archives) nothing it had copied already."""
        assert self.journal is not None
        earlier_run = self.ctx.resumes
        if earlier_run is not None and earlier_run != self.ctx.run_id:
            self.journal.reconcile(earlier_run)
            did = 0
            for row in self.journal.rows(earlier_run, status="done"):
                self._carry(row)
                did += row.action in ("copy", "zip")
            if did:
                self.ctx.log(f"resuming run {earlier_run}: it had already copied or archived "
                             f"{did:,}; those are left as they are")
        run_id = self.ctx.run_id
        self.seq = self.journal.next_seq(run_id)
        if all(row.action == "location" for row in self.journal.rows(run_id)):
            return  # no earlier attempt, or one that did nothing
        self.journal.reconcile(run_id)
        earlier = 0
        for row in self.journal.rows(run_id, status="done"):
            self._carry(row)
            if row.action == (self.action.name if self.action.name != "archive" else "zip") \
                    and not (row.note or "").startswith("replaced"):
                earlier += 1
                self.tally.acted += 1
                self.tally.bytes += row.size or 0
        self.seq = self.journal.next_seq(run_id)
        self.ctx.log(f"resuming run {run_id}: an earlier attempt already did {earlier:,}")

    def _journal_locations(self) -> None:
        """The run's locations, for undo: below them, as here, it crosses no link and no mount
        point (one that appeared since the run is not written through)."""
        assert self.journal is not None
        if self.dry or any(r.action == "location" for r in self.journal.rows(self.ctx.run_id)):
            return
        rows = []
        for root in self.roots:
            here = Item(root, os.path.basename(root), os.path.dirname(root), root, True, False, 0, 0.0, 0, 0,
                        action="location")
            self.number(here)
            rows.append(self.row(here, "done"))
        self.journal.write(rows)

    # -- scanning ----------------------------------------------------------------

    def _scanned(self, n: int) -> None:
        self.tally.scanned += n
        self.tick()

    def _test(self, e: os.DirEntry) -> bool:
        try:
            return self.pred(e)
        except OSError as exc:
            self._read_error(e.path, exc)
            return False

    def _visit_folders(self, scope: Scope, folder: str, depth: int) -> None:
        """``targets = "folders"``: check each folder when first seen and again once its content was tidied."""
        self.tick()
        try:
            entries = list_dir(folder, self.ws.places)
        except OSError as exc:
            self._read_error(folder, exc)
            return
        subdirs = []
        for e in entries:
            try:
                if scope.keep(e) and e.is_dir(follow_symlinks=False) and e.path not in scope.skip_dirs \
                        and e.path not in self.produced:
                    if e.path in scope.mounts:
                        self._read_error(e.path, MountInTheWay(e.path))
                        continue
                    subdirs.append(e)
            except OSError:
                continue
        self.tally.scanned += len(subdirs)
        matched = [e for e in subdirs if self._test(e)]
        self._handle(scope, folder, matched, entries)
        if depth >= scope.max_depth:
            return
        if depth >= MAX_NESTING:  # targets = "folders" recurses
            self.ctx.log(f"not entering {display(folder)}: nested too deep", "warning")
            return
        chosen = {e.path for e in matched}
        for e in subdirs:
            if e.path in chosen or e.path in scope.dest_dirs:
                continue
            before = len(self.env.gone)
            self._visit_folders(scope, e.path, depth + 1)
            # emptied by what was just done inside it? ("empty" cascades upwards)
            if len(self.env.gone) != before:
                self.env.changed(e.path)
                if self._test(e):
                    self._handle(scope, folder, [e], entries)

    def _handle(self, scope: Scope, folder: str, matched: list[os.DirEntry], entries: list[os.DirEntry]) -> None:
        if not matched:
            return
        if not inside(folder, self.roots):  # a folder swapped for a link while we were busy
            for e in matched:
                self.problem(e.path, "skip", "outside the locations")
            return
        names = {x.name for x in entries}
        items: list[Item] = []
        for e in matched:
            if e.path in self.handled:
                continue
            self.handled.add(e.path)
            if self.only is not None and escape_undecodable(e.path) not in self.only:
                continue  # not in the preview being applied
            try:
                item = self._item(e, scope.root)
                if self.only is not None and self.only[escape_undecodable(e.path)] != (
                        item.size, item.mtime_ns):
                    raise Skip("changed since the preview")
                if item.is_dir and self._holds_mount(item.path, scope):
                    continue
                self._check_in_use(item, names)
                if item.path in self.done_src:  # copied or archived by an earlier attempt
                    if self.action.name == "archive" and self.action.removes_source:
                        item.action = "trash"  # only the trashing of the original is left
                        execute(self, [item], count=False)
                    continue
                self.action.plan(item, self.ws)
            except Skip as why:
                self.problem(e.path, "skip", str(why))
                continue
            except LinkInTheWay as exc:  # a preview's destination: the error the run would give
                self.action_error(e.path, f"could not {self.action.name}: the destination {exc.strerror}")
                continue
            except OSError as exc:
                self._read_error(e.path, exc)
                continue
            item.action = self.action.name
            items.append(item)
        if not items:
            return
        if self.action.name == "archive":
            for item in items:
                self.groups.setdefault(item.dest, []).append(item)
        elif self.dry:
            for item in items:
                self.succeeded(item)
        else:
            execute(self, items)

    def _item(self, e: os.DirEntry, root: str) -> Item:
        st = e.stat(follow_symlinks=False)
        link = e.is_symlink()
        item = item_from_stat(e.path, root, st, is_dir=self.env.folders and not link, is_link=link)
        if item.is_dir:
            item.size = self.env.folder_size(e.path)
        return item

    def _holds_mount(self, folder: str, scope: Scope) -> bool:
        """A folder with a filesystem mounted inside is left whole: acting on it would cross the
        mount, or take it along (into the trash, where emptying the trash would empty it too).
        Asked again of each folder: a mount made since the run started counts as well."""
        prefix = folder.rstrip(os.sep) + os.sep
        inner = sorted(m for m in mount_points() | scope.mounts if m.startswith(prefix))
        if inner:
            self.problem(folder, "error", f"holds a mount point ({display(inner[0])}); left whole, "
                                          f"a mount point is never crossed")
        return bool(inner)

    def _check_in_use(self, item: Item, names: set[str]) -> None:
        if self.recent and self.env.now - item.mtime < self.recent \
                and not (item.is_dir and item.path in self.touched):
            ripe = item.mtime + self.recent
            self.ripe_at = ripe if self.ripe_at is None else min(self.ripe_at, ripe)
            raise Skip("in use")
        n = item.name
        locks = ("~$" + n, "~$" + n[2:], f".~lock.{n}#")  # an office program has it open
        if any(lock in names and lock != n for lock in locks):
            raise Skip("in use")

    # -- acting ------------------------------------------------------------------

    def row(self, s: Item, status: str, note: str | None = None) -> Row:
        return Row(self.ctx.run_id, s.seq, self.ctx.job, s.action, s.path, s.dest,
                   s.slot.info if s.slot else None, s.is_dir, s.size, s.mtime_ns, status, note or s.note)

    def number(self, step: Item) -> None:
        step.seq = self.seq
        self.seq += 1

    def journal_made_dirs(self, rows: list[Row]) -> None:
        for d in self.ws.made_dirs:
            made = Item(d, os.path.basename(d), os.path.dirname(d), d, True, False, 0, 0.0, 0, 0,
                        action="mkdir", dest=d)
            self.number(made)
            rows.append(self.row(made, "done"))
            self.produced.add(d)
        self.ws.made_dirs.clear()

    def succeeded(self, item: Item, *, count: bool = True) -> None:
        if count and self.dry:
            if len(self.plan) < PLANNED_CAP:
                # as stored text (a name that is not UTF-8 escaped), compared the same way
                self.plan.append({"path": escape_undecodable(item.path), "size": item.size,
                                  "mtime_ns": item.mtime_ns})
            else:
                self.plan_cut = True
        if count:
            verb = self.action.plan_verb if self.dry else self.action.done_verb
            entry = self.tally.add(display(item.path), verb, item.dest and display(item.dest), item.size,
                                   item.mtime, cap=self.cap,
                                   replaces=item.replaces and display(item.replaces.path),
                                   replaces_link=bool(item.replaces and item.replaces.is_link))
            if entry is not None:
                self.ctx.log(self.tally.line(entry))
        if item.action == "trash" or (count and self.action.removes_source):
            self.env.gone.add(item.path)
            self.touched.add(item.folder)
        if item.dest and item.action in ("move", "copy", "rename"):
            self.produced.add(item.dest)
        if count and not self.dry and item.dest and item.action in ("move", "copy", "rename",
                                                                      "archive"):
            self._made.append(item.dest)
            if len(self._made) >= 500:
                self._tell_made()

    def _tell_made(self) -> None:
        """The files this run wrote, so that the job's own watch does not start it again
        for them (told in batches, at most ~20 times a second, and at the end)."""
        made, self._made = self._made, []
        self.ctx.produced(made)

    # -- reporting ---------------------------------------------------------------

    def problem(self, path: str, kind: str, why: str) -> None:
        path = display(path)
        self.tally.problem(path, kind, why)
        if kind == "error" or sum(self.tally.skipped.values()) <= _LOGGED_SKIPS:
            self.ctx.log(f"{'skipped' if kind == 'skip' else 'error'}: {path}: {why}",
                         "warning" if kind == "error" else "info")

    def action_error(self, path: str, why: str) -> None:
        """An action that was tried and failed."""
        self.action_errors += 1
        self.problem(path, "error", why)

    def failed(self, item: Item, exc: OSError) -> None:
        if isinstance(exc, FileNotFoundError):
            self.problem(item.path, "skip", "vanished")
        elif isinstance(exc, FileExistsError):
            self.problem(item.path, "skip", "already exists")
        elif reason(exc) == "in use":
            self.problem(item.path, "skip", "in use")
        elif isinstance(exc, Changed):
            self.problem(item.path, "skip", "changed since it was scanned")
        elif isinstance(exc, (LinkInTheWay, MountInTheWay)):
            self.action_error(item.path, f"could not {item.action}: {exc.strerror}")
        else:
            self.action_error(item.path, f"could not {item.action}: {reason(exc)}")

    def _read_error(self, path: str, exc: OSError) -> None:
        if isinstance(exc, FileNotFoundError):
            self.problem(path, "skip", "vanished")
        elif isinstance(exc, (LinkInTheWay, MountInTheWay)):
            self.problem(path, "error", f"not entered: {exc.strerror}")
        else:
            self.problem(path, "error", f"could not read: {reason(exc)}")

    def tick(self, *_: Any) -> None:
        self.ctx.check_cancelled()
        self._progress()

    def _progress(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last_progress >= 0.05:  # at most ~20 updates a second
            self._last_progress = now
            self._tell_made()
            verb = self.action.plan_verb if self.dry else self.action.done_verb
            noun = self.tally.noun + "s"
            self.ctx.progress(self.tally.scanned, None,
                              f"scanned {self.tally.scanned:,} {noun}, {verb} {self.tally.acted:,}", noun)
