"""One run of an import job: each file in its own transaction, then set aside.

For each file: look it up in the ledger (this run already did it? the same
bytes already in the table?), plan it (format, encoding, dialect), then load
it. A file that fails at file level is rolled back and reported; the others go
on. The run fails at the end, naming every failed file, if any did.

What went in but not quite as the file said is a warning in the result
(``warnings``), which makes the run end *succeeded with warnings*: rows set
aside in ``_rejected``, a file that gave no rows at all, a file skipped as
already imported, a column a few cells turned to text, a file left in place.
"""

from __future__ import annotations

import errno
import gc
import hashlib
import os
import sqlite3
import stat
import subprocess
import time
from contextlib import contextmanager
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Iterator

from ...context import JobContext
from ...errors import JobFailed
from ...textfmt import path_text
from .browse import fix_name, fixed_run
from .files import NotMoved, move_aside
from .load import TableWriter
from .params import ImportParams
from .plan import Plan, open_reader, plan_file
from .problems import FileProblem, Restart
from .readers import NotABoundary
from .results import FileResult, imports_of, plural, summarize, warnings_of, whole_workbook
from .sheets import SHEET_FORMATS
from .sniff import Encoding, guess_legacy
from .split import PARTS_DIR, Helper, Unsplit, clean_parts, may_split, spawn, stop_helper
from .store import Store, store_problem
from .streams import FileStamp, check_unchanged, hash_file

__all__ = ["ImportRun", "FileResult", "database_path"]

_MAX_PASSES = 20
#: Seconds between progress reports: enough for a smooth bar, not a flood of messages.
PROGRESS_INTERVAL = 0.05


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while rows stream through.

    Every batch allocates thousands of row lists, which makes the collector run
    again and again over live data (about 5 % of an import's time); the loop makes
    no reference cycles, and whatever else does is collected once it resumes.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size if path.is_file() else 0
    except OSError:
        return 0


def database_path(ctx: JobContext, params: ImportParams) -> Path:
    if params.database:
        # A bare name lives in the data folder, like data.db; the job's process has no
        # meaningful working directory to resolve it against.
        return ctx.home.data_dir / Path(params.database).expanduser()
    return ctx.home.default_data_db


def _identity(path: Path) -> Any:
    """What tells two names of one file apart from two files: its device and inode."""
    try:
        info = path.stat()
    except OSError:
        return path  # opening it will say what is wrong
    return (info.st_dev, info.st_ino)


#: Errors reading a file that trying again soon will not clear.
_LASTING = frozenset({errno.ELOOP, errno.ENOTDIR, errno.EISDIR, errno.ENAMETOOLONG,
                      errno.EACCES, errno.EPERM})


class _Progress:
    """Bytes done of all files, at most ~20 times a second."""

    def __init__(self, ctx: JobContext, total: int) -> None:
        self.ctx, self.total, self.base, self._last = ctx, total, 0, 0.0

    def __call__(self, done: int, rows: int, name: str, *, force: bool = False,
                 of: int | None = None) -> None:
        now = time.monotonic()
        if force or now - self._last >= PROGRESS_INTERVAL:
            self._last = now
            count = f"{rows:,} of {plural(of, 'row')}" if of else plural(rows, 'row')
            self.ctx.progress(self.base + done, self.total, f"{count} · {name}", "bytes")


class ImportRun:
    def __init__(self, ctx: JobContext, params: ImportParams) -> None:
        self.ctx, self.params = ctx, params
        self.database = database_path(ctx, params)
        self.results: list[FileResult] = []
        self._kept: dict[str, set[int]] = {}  # table -> imports this run found already there
        self._seen: dict[Path, FileStamp] = {}  # each file as this run read it
        self._spare: subprocess.Popen | None = None  # a helper started early (see split.py)

    def execute(self) -> dict[str, Any]:
        ctx = self.ctx
        # The same file named twice is one file, imported (and counted) once, however it
        # was spelled ("..", a link to its folder): the first name is the one moved aside.
        named: dict[Any, Path] = {}
        for f in ctx.files:
            path = Path(f).expanduser().absolute()
            named.setdefault(_identity(path), path)
        paths = list(named.values())
        if not paths:
            raise JobFailed("no files to import: run the job with --file PATH, or drop files "
                            "on it in the window", retry=False)
        try:
            store = Store(self.database)
        except FileProblem as exc:
            raise JobFailed(f"{self.database}: {exc}", retry=exc.retry) from None
        clean_parts(ctx.home.data_dir / PARTS_DIR)  # of an import killed with its helper
        sizes = [_size(p) for p in paths]
        progress = _Progress(ctx, sum(sizes))
        try:
            for path, size in zip(paths, sizes):
                result = self._one(store, path, progress)
                self.results.append(result)
                self._set_aside(path, result)
                progress.base += size
                progress(0, result.rows, result.name, force=True)
        finally:
            store.close()
        return self._finish()

    # -- one file -----------------------------------------------------------------------
    def _one(self, store: Store, path: Path, progress: _Progress) -> FileResult:
        ctx, params = self.ctx, self.params
        try:
            earlier = store.imported_by_run(ctx.run_id, ctx.job, str(path))
            if earlier is None and ctx.resumes is not None:
                # The interrupted run we resume may have finished this file (and moved it)
                # just before it was cut off.
                earlier = store.imported_by_run(ctx.resumes, ctx.job, str(path))
            if earlier and not path.exists():
                return self._resumed(path, earlier)
            if self._spare is None and may_split(path, params):
                self._spare = spawn(path, params)  # it starts while the file is hashed
            stamp = self._seen[path] = self._hash(path)
            # A workbook's sheets are imports of their own: each is looked up by itself.
            if earlier and earlier["sha256"] == stamp.sha256 and (
                    earlier["format"] not in SHEET_FORMATS):
                return self._resumed(path, earlier)
            plan = plan_file(path, params)
            if plan.sheets:
                return self._workbook(store, path, plan, stamp, progress)
            plan = self._fix_of(store, plan)
            table = self._table_spelling(store, plan.table)
            same = self._same(store, plan, table, stamp)
            if same:
                return same
            ctx.log(f"{path.name}: {plan.describe()} -> table {table}")
            grown = self._grown(store, plan, table, stamp)
            result = self._load(store, path, plan, table, stamp, progress)
            if grown and result.status == "imported":
                result.warnings.append(f"{path.name}: {grown}")
            return result
        except sqlite3.Error as exc:  # reading the ledger: locked for too long, damaged...
            problem = store_problem(exc)
        except FileProblem as exc:
            problem = self._changed(path) or exc
        finally:
            if self._spare is not None:  # not used: not a file to read in parts after all
                stop_helper(self._spare)
                self._spare = None
        ctx.log(problem.for_file(path.name), "error")
        return FileResult(str(path), "failed", message=problem.for_file(path.name),
                          retry=problem.retry)

    def _changed(self, path: Path) -> FileProblem | None:
        """That the file changed since it was hashed, if it did: what went wrong reading
        it then (an export written again in its place, read as empty or cut mid-row) is
        no fault of the file, and another attempt reads it whole."""
        stamp = self._seen.get(path)
        if stamp is None:
            return None
        try:
            check_unchanged(path, stamp)
        except FileProblem as exc:
            return exc
        return None

    def _fix_of(self, store: Store, plan: Plan) -> Plan:
        """A fix file (rejected rows, corrected: see :func:`.browse.write_fix_file`) goes
        into the table its rows came from: a sheet's rows into the sheet's table, which
        its name alone does not give when the job sets ``table``."""
        run_id = fixed_run(plan.path)
        if run_id is None:
            return plan
        for entry in store.rejecting_imports(run_id, self.ctx.job):
            if fix_name(Path(entry["path"]), entry["format"], entry["table"]) == plan.path.name:
                if entry["table"] and entry["table"] != plan.table:
                    self.ctx.log(f"{plan.label}: the rows run {run_id} set aside from "
                                 f"{entry['file']} go back into table {entry['table']}")
                    return replace(plan, table=entry["table"])
                break
        return plan

    def _same(self, store: Store, plan: Plan, table: str, stamp: FileStamp) -> FileResult | None:
        """Skipped: the same bytes were imported into ``table`` before."""
        same = None if self.params.reimport else store.same_content(stamp.sha256, table)
        if not same:
            return None
        self._kept.setdefault(table, set()).add(same["id"])
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(same["imported_at"]))
        msg = (f"already imported: same content as {same['file']} (run {same['run_id']}, "
               f"{when}, {plural(same['rows'] or 0, 'row')} in {table}); skipped (to import "
               f"it again all the same, set reimport = true for the job)")
        self.ctx.log(f"{plan.label}: {msg}")
        return FileResult(str(plan.path), "skipped", table, import_id=same["id"], message=msg)

    def _workbook(self, store: Store, path: Path, plan: Plan, stamp: FileStamp,
                  progress: _Progress) -> FileResult:
        """Each chosen sheet as an import of its own: its table, its ledger entry, its
        transaction. The file fails if a sheet does; the sheets done before stay done, and
        a second try skips them as already imported."""
        results = []
        for n, choice in enumerate(plan.sheets):
            one = replace(plan, sheet=choice, table=choice.table)
            share = stamp.size / len(plan.sheets)
            at = progress.base
            progress.base += round(n * share)
            try:
                results.append(self._sheet(store, one, stamp, progress, share))
            except sqlite3.Error as exc:
                problem = store_problem(exc)
            except FileProblem as exc:
                problem = exc
            else:
                continue
            finally:
                progress.base = at
            self.ctx.log(problem.for_file(one.label), "error")
            results.append(FileResult(str(path), "failed", choice.table,
                                      message=problem.for_file(one.label), retry=problem.retry,
                                      details={"sheet": choice.name}))
        return whole_workbook(path, plan, results)

    def _grown(self, store: Store, plan: Plan, table: str, stamp: FileStamp) -> str | None:
        """An export that grew since it was imported (its old bytes, then more) would put
        its old rows in the table a second time: said, as appending is what insert does."""
        if self.params.mode != "insert" or plan.format not in ("csv", "tsv", "ndjson") or (
                plan.path.name.lower().endswith(".gz")):
            return None
        before = store.grown_from(plan.path.name, table, stamp.size)
        if before is None:
            return None
        digest, left = hashlib.sha256(), before["size"]
        with open(plan.path, "rb") as f:
            while left > 0 and (chunk := f.read(min(left, 1 << 20))):
                digest.update(chunk)
                left -= len(chunk)
        if digest.hexdigest() != before["sha256"]:
            return None
        return (f"it starts with the whole file as run {before['run_id']} imported it, so "
                f"those {plural(before['rows'], 'row')} are in {table} twice now; for a file "
                f"that grows, use mode = \"upsert\" with a pk, or \"replace\" (undo this run "
                f"with trayjobs undo {self.ctx.run_id})")

    def _sheet(self, store: Store, plan: Plan, stamp: FileStamp, progress: _Progress,
               share: float) -> FileResult:
        ctx, path = self.ctx, plan.path
        table = self._table_spelling(store, plan.table)
        for run_id in (ctx.run_id, ctx.resumes):
            earlier = None if run_id is None else store.imported_by_run(run_id, ctx.job,
                                                                        str(path), table)
            if earlier and earlier["sha256"] == stamp.sha256:
                result = self._resumed(path, earlier)
                result.details["sheet"] = plan.sheet.name
                return result
        result = self._same(store, plan, table, stamp)
        if result is None:
            ctx.log(f"{plan.label}: {plan.describe()} -> table {table}")
            result = self._load(store, path, plan, table, stamp, progress, share=share)
        result.details["sheet"] = plan.sheet.name
        return result

    def _hash(self, path: Path) -> FileStamp:
        try:
            if self.ctx.trigger == "watch" and path.is_symlink():
                # The watch hands over no link (it would read what the link points to):
                # one here took the file's place after the watch took it.
                raise FileProblem(f"this is a link now (to {path_text(os.readlink(path))}), "
                                  f"not the file that arrived; a watched folder's links are "
                                  f"not followed", retry=False)
            if path.is_dir():
                raise FileProblem("this is a folder, not a file")
            if not stat.S_ISREG(path.stat().st_mode):  # reading a FIFO would wait forever
                raise FileProblem("this is not a regular file (a pipe, socket or device)")
            return hash_file(path, check=self.ctx.check_cancelled)
        except FileNotFoundError:
            raise FileProblem("the file does not exist (any more)") from None
        except OSError as exc:
            # A disk or network share may answer later; a loop of links or a name that is
            # no file will not, nor a permission until someone changes it.
            raise FileProblem(f"the file could not be read ({exc.strerror or exc})",
                              retry=exc.errno not in _LASTING) from None

    def _resumed(self, path: Path, earlier: dict[str, Any]) -> FileResult:
        by = ("this run (an earlier attempt)" if earlier["run_id"] == self.ctx.run_id
              else f"run {earlier['run_id']}, which this run resumes")
        msg = f"already imported by {by}: {plural(earlier['rows'], 'row')}"
        self.ctx.log(f"{path.name}: {msg}")
        return FileResult(str(path), "resumed", earlier["table"], rows=earlier["rows"] or 0,
                          rejected=earlier["rejected"] or 0, import_id=earlier["id"], message=msg)

    @staticmethod
    def _table_spelling(store: Store, table: str) -> str:
        row = store.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND "
                                 "name = ? COLLATE NOCASE", (table,)).fetchone()
        return row[0] if row else table

    def _load(self, store: Store, path: Path, plan: Plan, table: str, stamp: FileStamp,
              progress: _Progress, *, share: float | None = None) -> FileResult:
        hints: dict[str, str] = {}
        whole = False  # read as a whole, not in two parts at once (see split.py)
        for _ in range(_MAX_PASSES):
            try:
                return self._pass(store, path, plan, table, stamp, progress, hints,
                                  stamp.size if share is None else share, whole=whole)
            except Restart as again:
                whole = whole or isinstance(again, Unsplit)
                self.ctx.log(f"{plan.label}: {again.why}; reading the file again")
                hints.update(again.types)
                if again.encoding:
                    plan = Plan(plan.path, plan.format,
                                Encoding(again.encoding, f"{again.encoding} (detected)",
                                         guessed=True, examples=again.examples),
                                plan.dialect, plan.table, exact_numbers=plan.exact_numbers)
                if again.exact_numbers:
                    plan = replace(plan, exact_numbers=True)
        raise FileProblem("the column types kept changing while reading; set types for the job")

    def _pass(self, store: Store, path: Path, plan: Plan, table: str, stamp: FileStamp,
              progress: _Progress, hints: dict[str, str], size: float, *,
              whole: bool = False) -> FileResult:
        ctx, params, name = self.ctx, self.params, plan.label
        try:
            store.begin()
            # Looked up again now that no other writer can come in: another run may have
            # imported the same bytes since this one looked (a CLI run beside a watch).
            same = self._same(store, plan, table, stamp)
        except sqlite3.Error as exc:
            store.rollback()
            raise store_problem(exc) from None
        if same:
            store.rollback()
            return same
        helper: Helper | None = None
        try:
            first_in_run = not store.run_touched(ctx.run_id, ctx.job, table)
            removed = 0
            import_id = store.start_import(
                run_id=ctx.run_id, job=ctx.job, file=path.name, path=str(path), size=stamp.size,
                mtime=stamp.mtime_ns / 1e9, sha256=stamp.sha256, table=table, mode=params.mode,
                format=plan.format, encoding=plan.encoding.codec, rows=0, rejected=0)
            if params.mode == "replace" and first_in_run:
                removed = store.empty_table(table, import_id, keep=self._kept.get(table, set()))
                ctx.log(f"{name}: replacing the {plural(removed, 'row')} of {table}")
            redetect = guess_legacy if plan.encoding.ascii_start else None
            spare, self._spare = self._spare, None
            if not whole:
                helper = Helper.start(spare, store, plan, table=table, import_id=import_id,
                                      params=params, hints=hints,
                                      parts_dir=ctx.home.data_dir / PARTS_DIR)
            elif spare is not None:
                stop_helper(spare)
            with open_reader(plan, params, redetect=redetect) as (reader, position):
                of = getattr(reader, "total_rows", None)
                writer = TableWriter(
                    store, reader, table=table, mode=params.mode, pk=params.pk,
                    types=params.types, hints=hints, import_id=import_id,
                    on_bad=params.on_bad_rows, log=lambda m: ctx.log(f"{name}: {m}"),
                    reject=lambda rows: store.reject(rows, import_id=import_id,
                                                     run_id=ctx.run_id, file=path.name,
                                                     table=table))
                writer.start()
                scale = 1.0  # of the whole file's progress: the first part's, once cut
                with _collector_paused():
                    try:
                        for batch in reader.batches():
                            ctx.check_cancelled()
                            writer.write(batch)
                            if helper is not None and helper.boundary is None:
                                scale = self._cut(reader, helper, stamp.size, name) or scale
                            progress(min(round(position() * scale * size), round(size)),
                                     writer.rows, name, of=of)
                    except NotABoundary:
                        raise Unsplit("the file's middle is not where a record ends") from None
                if helper is not None and isinstance(helper.boundary, tuple):
                    self._second_part(store, reader, writer, helper, helper.boundary[1],
                                      table=table, import_id=import_id, file=path.name)
                writer.finish()
            check_unchanged(path, stamp)
            upserted = store.upserted() if params.mode == "upsert" else None
            store.finish_import(import_id, rows=writer.rows, rejected=writer.rejected)
            if helper is not None:
                helper.close(store)
            store.commit()
        except sqlite3.Error as exc:
            store.rollback()
            raise store_problem(exc) from None
        except BaseException:
            if helper is not None:
                helper.close(store)
            store.rollback()
            raise
        finally:
            if helper is not None:
                helper.close_after(store)
        note = self._note(reader, writer)
        guess = plan.encoding.guess_warning()
        warnings = [*([guess] if guess else []), *getattr(reader, "warnings", ()),
                    *writer.widened, *writer.warnings]
        emptied = None
        if removed and not writer.rows:
            # An export that came out empty (its header alone) leaves no table: say so
            # (unless a later file of the run fills it: see _finish).
            emptied = (f"table {table} is empty now: mode = \"replace\" took out its "
                       f"{plural(removed, 'row')} and this file put none in; trayjobs undo "
                       f"{ctx.run_id} names the files to import again for them")
            warnings.append(emptied)
        for warning in warnings:
            ctx.log(f"{name}: {warning}", "warning")
        done = f"{plural(writer.rows, 'row')} imported into {table}"
        details = {}
        if upserted is not None:
            # An upsert's rows are not all new rows of the table: say what became of them.
            replaced, repeated = upserted
            details = {"new": writer.rows - replaced - repeated, "updated": replaced,
                       "repeated": repeated}
            if replaced or repeated:  # (all new: the plain count says it)
                done += f" ({details['new']:,} new, {replaced:,} updated"
                if repeated:
                    done += (f"; {plural(repeated, 'row')} repeated a key given earlier in "
                             f"the file, the last one kept")
                done += ")"
        if writer.rejected:
            done += f", {writer.rejected:,} rejected (table _rejected)"
        ctx.log(f"{name}: {done}{f' ({note})' if note else ''}")
        return FileResult(str(path), "imported", table, writer.rows, writer.rejected, import_id,
                          message=done, note=note,
                          warnings=[f"{name}: {w}" for w in warnings],
                          details={"format": plan.format, "encoding": plan.encoding.codec,
                                   "columns": [c.name for c in writer.columns], **details,
                                   **({"emptied": f"{name}: {emptied}"} if emptied else {})})

    def _cut(self, reader: Any, helper: Helper, size: int, name: str) -> float | None:
        """Stop reading where the helper's part starts, once it said where: the share of
        the file this reader has to go through as a scale for progress, or None."""
        found = helper.poll()
        if found is None:
            return None
        if found and reader.tap.stop_at(found[0]):
            reader.part_end = True
            self.ctx.log(f"{name}: lines {found[1] + 1:,} on are read by a second process "
                         f"at the same time")
            return size / max(found[0], 1)
        helper.boundary = False  # no place to cut, or read past it already: read it all
        return None

    def _second_part(self, store: Store, reader: Any, writer: TableWriter, helper: Helper,
                     lines_before: int, *, table: str, import_id: int, file: str) -> None:
        """Take in the helper's part of the file: its types, counts and rows."""
        if reader.lines_read != lines_before:
            raise Unsplit(f"the file's first part has {reader.lines_read:,} lines, not "
                          f"{lines_before:,}")
        summary = helper.wait(self.ctx.check_cancelled)
        try:
            columns = helper.attach(store, table)
            writer.absorb(summary, columns)
            helper.copy_into(store, table, run_id=self.ctx.run_id, file=file,
                             import_id=import_id)
        except sqlite3.IntegrityError as exc:
            raise Unsplit(f"the table refused the second part's rows at once ({exc})") from None

    @staticmethod
    def _note(reader: Any, writer: TableWriter) -> str:
        if writer.rows or writer.rejected:
            return ""
        stream = getattr(reader, "stream", None)
        if stream is not None:
            return "the array of records is empty"
        return "header only" if reader.fields and getattr(reader, "dialect", None) else "no records"

    def _set_aside(self, path: Path, result: FileResult) -> None:
        params, ctx = self.params, self.ctx
        if result.status == "failed" and result.retry:
            return  # locked or still being written: leave it for the next attempt
        folder = params.failed_dir if result.status == "failed" else params.processed_dir
        try:
            moved = move_aside(path, folder, run_id=ctx.run_id, job=ctx.job,
                               error=result.message if result.status == "failed" else None,
                               seen=self._seen.get(path),
                               allow_dangerous=params.allow_dangerous_location)
        except NotMoved as exc:
            why = f"left where it is, not moved to {folder}: {exc}"
        except OSError as exc:
            why = f"could not be moved to {folder}: {exc.strerror or exc}"
        else:
            why = None
        if why is not None:
            ctx.log(f"{path.name}: {why}", "warning")
            result.warnings.append(f"{path.name}: {why}")
            return
        if moved is not None:
            result.moved_to = str(moved)
            ctx.log(f"{path.name}: moved to {moved.parent}")

    # -- the whole run ------------------------------------------------------------------
    def _finish(self) -> dict[str, Any]:
        for n, early in enumerate(self.results):
            emptied = early.details.pop("emptied", None)
            for sheet in early.details.get("sheets", ()):  # (a workbook's own, as they were)
                sheet["details"].pop("emptied", None)
            if emptied and any(r.table == early.table and r.rows and r.status == "imported"
                               for r in self.results[n + 1:]):
                early.warnings.remove(emptied)  # a later file filled the table again
        summary = summarize(self.results)
        result = {"summary": summary, "database": str(self.database),
                  "rows": sum(r.rows for r in self.results if r.status != "skipped"),
                  "rejected": sum(r.rejected for r in self.results if r.status != "skipped"),
                  "imports": [i for r in self.results for i in imports_of(r)],
                  "files": [asdict(r) for r in self.results]}
        warnings = [w for r in self.results for w in warnings_of(r)]
        if warnings:
            result["warnings"] = warnings
        failed = [r for r in self.results if r.status == "failed"]
        if failed:
            reasons = "; ".join(r.message for r in failed)
            message = reasons if len(self.results) == 1 else f"{summary}. {reasons}"
            # Kept with the failed run: where its files went, for Retry and Undo.
            raise JobFailed(message, retry=all(r.retry for r in failed), result=result)
        return result
