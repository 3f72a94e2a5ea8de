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
from ...errors import JobFailed
from ...textfmt import escape_undecodable
from .actions import Item, Skip, Workspace
from .actions.base import item_from_stat
from .actions.trash import reserve, send_to_trash, unreserve
from .archives import flush_archives
from .emptied import remove_emptied
from .filters import FilterEnv, combine
from .freedesktop import home_trash
from .actions.delete import PartlyDeleted
from .actions.move import trust_destination
from .dirs import Changed, LinkInTheWay, MountInTheWay, display, mount_points
from .fsops import MAX_NESTING, reason
from .journal import Journal, Row
from .params import CleanupParams
from .report import DONE_CAP, PLANNED_CAP, Tally, plural
from .safety import danger, expand, in_trash, inside
from .scan import Scope, list_dir, walk_files
from .templates import fixed_folder

__all__ = ["Runner"]

_LOGGED_SKIPS = 500  # skips beyond this are counted, not logged one by one (errors always are)
#: Skips that leave things as the job wants them: not worth a warning.
_HARMLESS_SKIPS = frozenset({"vanished", "already in place"})
_LISTED_ERRORS = 3  # errors quoted in a warning or failure; the log has them all


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
            scopes = self._scopes()
            self._log_start()
            if self.journal is not None:
                self._resume()
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
        return self._result()

    def _scopes(self) -> list[Scope]:
        skip = frozenset(os.path.realpath(p) for p in (home_trash(), self.ctx.home.data_dir))
        scopes: list[Scope] = []
        unusable: list[str] = []
        for loc in self.p.locations:
            root = os.path.realpath(expand(loc.path))
            why = danger(root)
            if why and not self.p.allow_dangerous_location:
                raise JobFailed(f"location {loc.path!r} {why} (it resolves to {root}); refusing to tidy it",
                                retry=False)
            why = in_trash(root)
            if why:
                raise JobFailed(f"location {loc.path!r} {why}", retry=False)
            if inside(root, tuple(skip)):
                raise JobFailed(f"location {loc.path!r} is inside trayjobs' own data; "
                                f"refusing to tidy it", retry=False)
            if not os.path.isdir(root):
                why = "is a file, not a folder" if os.path.lexists(root) else "not found"
                self.problem(loc.path, "error", f"location {why}")
                unusable.append(f"{loc.path} ({why})")
                continue
            if root not in (s.root for s in scopes):
                scopes.append(Scope(root, loc.depth, exclude=[*self.p.exclude, *loc.exclude],
                                    system=self.p.include_system_files, skip_dirs=skip))
        if not scopes:
            raise JobFailed("none of the locations exists as a folder: " + ", ".join(unusable), retry=False)
        self.roots = tuple(s.root for s in scopes)
        mounts = mount_points()
        for scope in scopes:
            scope.mounts = mounts
            self.ws.places.add(scope.root)
        self._trust_destination()
        return scopes

    def _trust_destination(self) -> None:
        """A destination outside the locations is resolved once, checked like a location, then
        reached only through its descriptor."""
        template = self.action.destination()
        if template is None:
            return
        as_file = self.action.destination_is_file
        for root in self.roots:
            fixed = fixed_folder(template, root, file=as_file)
            real = os.path.realpath(fixed)
            trash = in_trash(real)
            if trash:
                raise JobFailed(f"destination {template!r}: {display(real)} {trash}", retry=False)
            why = None if inside(real, (root,)) else danger(real)
            if why and not self.p.allow_dangerous_location:
                raise JobFailed(f"destination {template!r}: {display(real)} {why}; refusing to put files there "
                                f"(set allow_dangerous_location = true if you really mean it)", retry=False)
            try:
                trust_destination(template, root, self.ws, file=as_file)
            except OSError as exc:
                raise JobFailed(f"destination {template!r}: cannot use {display(fixed)}: {reason(exc)}",
                                retry=False) from None

    def _log_start(self) -> None:
        filters = f" {self.p.match} of: " + "; ".join(str(f) for f in self.p.filters) if self.p.filters else ""
        self.ctx.log(f"{'preview of a ' if self.dry else ''}cleanup of {', '.join(map(display, self.roots))}, "
                     f"{self.p.targets}{filters}; then {self.action.describe()}")

    def _resume(self) -> None:
        """A second attempt of the same run: settle the first one's journal and carry on from it."""
        assert self.journal is not None
        run_id = self.ctx.run_id
        self.seq = self.journal.next_seq(run_id)
        if self.seq == 1:
            return
        self.journal.reconcile(run_id)
        earlier = 0
        for row in self.journal.rows(run_id, status="done"):
            if row.dest and row.action in ("move", "copy", "rename", "archive", "mkdir"):
                self.produced.add(row.dest)
            if row.action in ("copy", "zip"):
                self.done_src.add(row.src)
            if row.action == (self.action.name if self.action.name != "archive" else "zip") \
                    and not (row.note or "").startswith("replaced"):
                earlier += 1
                self.tally.acted += 1
                self.tally.bytes += row.size or 0
        self.seq = self.journal.next_seq(run_id)
        self.ctx.log(f"resuming run {run_id}: an earlier attempt already did {earlier:,}")

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
            if e.path in chosen:
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
                        self.execute([item], count=False)
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
            self.execute(items)

    def _item(self, e: os.DirEntry, root: str) -> Item:
        st = e.stat(follow_symlinks=False)
        link = e.is_symlink()
        item = item_from_stat(e.path, root, st, is_dir=self.env.folders and not link, is_link=link)
        if item.is_dir:
            item.size = self.env.folder_size(e.path)
        return item

    def _holds_mount(self, folder: str, scope: Scope) -> bool:
        """A folder with a filesystem mounted inside is left whole: acting on it would cross the mount."""
        prefix = folder.rstrip(os.sep) + os.sep
        inner = sorted(m for m in scope.mounts if m.startswith(prefix))
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

    def execute(self, items: list[Item], *, count: bool = True) -> None:
        """Journal then do ``items`` (each after what it replaces, if anything)."""
        assert self.journal is not None
        batch: list[tuple[Item, list[Item]]] = []
        for item in items:
            steps = [s for s in (item.replaces, item) if s is not None]
            try:
                for s in steps:
                    if s.action == "trash":
                        reserve(s, self.ws)
            except OSError as exc:
                for s in steps:
                    unreserve(s)
                self.action_error(item.path, f"could not {item.action}: {reason(exc)}")
                continue
            for s in steps:
                self.number(s)
            batch.append((item, steps))
        if not batch:
            return
        self.journal.write(self.row(s, "pending") for _, steps in batch for s in steps)
        rows: list[Row] = []
        try:
            for n, (item, steps) in enumerate(batch):
                if self.ctx.cancelled:
                    rest = [s for _, later in batch[n:] for s in later]
                    for s in rest:
                        unreserve(s)
                    self.journal.write(rows)
                    self.journal.forget(self.row(s, "") for s in rest)
                    self.ctx.check_cancelled()
                if self._do_steps(item, steps, rows):
                    self.succeeded(item, count=count)
                self.journal_made_dirs(rows)
                self._progress()
        finally:
            self.ws.release()
        self.journal.write(rows)

    def _do_steps(self, item: Item, steps: list[Item], rows: list[Row]) -> bool:
        for s in steps:
            try:
                if s.action == "trash":
                    send_to_trash(s, self.ws)
                else:
                    self.action.apply(s, self.ws)
            except Skip as why:  # the destination cannot be reached safely
                unreserve(s)
                rows.append(self.row(s, "failed", str(why)))
                self.action_error(item.path, f"could not {item.action}: {why}")
                return False
            except OSError as exc:
                unreserve(s)
                if s is item.replaces and isinstance(exc, FileNotFoundError):
                    rows.append(self.row(s, "failed", "already gone"))
                    continue  # what was in the way went away by itself
                if isinstance(exc, PartlyDeleted):
                    self._partly_deleted(exc)
                rows.append(self.row(s, "failed", reason(exc)))
                if s is not item:
                    rows.append(self.row(item, "failed", "what is in the way could not be trashed"))
                self.failed(item, exc)
                return False
            rows.append(self.row(s, "done"))
        return True

    def _partly_deleted(self, exc: PartlyDeleted) -> None:
        """Say exactly what a delete that stopped half-way removed and what it left."""
        folder = exc.item.path
        for rel in exc.removed[:_LOGGED_SKIPS]:
            self.ctx.log(f"deleted {display(os.path.join(exc.item.folder, rel))}", "warning")
        for rel, why in exc.failed[:_LOGGED_SKIPS]:
            self.ctx.log(f"not deleted: {display(os.path.join(exc.item.folder, rel))}: {reason(why)}", "warning")
        hidden = max(0, len(exc.removed) - _LOGGED_SKIPS) + max(0, len(exc.failed) - _LOGGED_SKIPS)
        if hidden:
            self.ctx.log(f"... and {hidden:,} more lines about {display(folder)}", "warning")

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
                                   replaces=item.replaces and display(item.replaces.path))
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

    def _result(self) -> dict[str, Any]:
        t = self.tally
        summary = t.summary(done_verb=self.action.done_verb, plan_verb=self.action.plan_verb, dry=self.dry)
        if t.listed_more:
            self.ctx.log(f"... and {t.listed_more:,} more")
        self.ctx.log(summary)
        result = {
            "summary": summary,
            "dry_run": self.dry,
            "action": self.action.name,
            "targets": self.p.targets,
            "scanned": t.scanned,
            "acted": t.acted,
            "bytes": t.bytes,
            "skipped": dict(t.skipped),
            "errors": t.errors,
            "archives": t.archives,
            "folders_removed": t.folders_removed,
            "problems": t.problems,
            "planned" if self.dry else "done": t.listing,
            "listed_more": t.listed_more,
        }
        if self.dry:
            result["plan"] = self.plan  # what "Apply this preview" does, item by item
            result["plan_cut"] = self.plan_cut
        if self.ctx.plan is not None and not self.dry:
            result["from_preview"] = self.ctx.plan.get("from_run")
        if self.ripe_at is not None and not self.dry:
            # Items left for being modified just now: a watched job has no event to come
            # back for them, so the engine starts it again then.
            result["look_again_at"] = self.ripe_at + 1
        warnings = self._warnings()
        if warnings:
            result["warnings"] = warnings
        if not self.dry and t.acted == 0 and self.action_errors:
            raise JobFailed(f"{summary}. {self._errors_text()}", retry=False, result=result)
        return result

    def _errors_text(self) -> str:
        errors = [p for p in self.tally.problems if p["kind"] == "error"]
        text = "; ".join(f"{p['path']}: {p['reason']}" for p in errors[:_LISTED_ERRORS])
        more = self.tally.errors - min(len(errors), _LISTED_ERRORS)
        return text + (f"; and {more:,} more (see the log)" if more > 0 else "")

    def _warnings(self) -> list[str]:
        """Errors and skips beside what was done, each kind of them in one line."""
        t, out = self.tally, []
        if t.errors:
            out.append(f"{plural(t.errors, 'error')}: {self._errors_text()}")
        skipped = {why: n for why, n in t.skipped.items() if why not in _HARMLESS_SKIPS}
        if skipped:
            n = sum(skipped.values())
            why = ", ".join(f"{k:,} {w}" if len(skipped) > 1 else w
                            for w, k in sorted(skipped.items(), key=lambda kv: -kv[1]))
            out.append(f"{'would skip' if self.dry else 'skipped'} {plural(n, t.noun)} ({why}); "
                       f"they are left as they are")
        return out
