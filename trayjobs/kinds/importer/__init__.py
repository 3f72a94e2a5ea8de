"""``import``: load CSV, TSV, JSON, JSON Lines and spreadsheet files into SQLite tables.

Each file is one transaction: afterwards the table holds all of its good rows
or none of them. Rows that cannot be stored are set aside in ``_rejected``
with their line and reason; every stored row carries its ``_import_id``, the
file's entry in the ``_imports`` ledger, which is what makes "already
imported" and undo work. The modules, in the order a file meets them:

- :mod:`.sniff`, :mod:`.plan`: format, encoding, CSV dialect, target table
- :mod:`.streams`, :mod:`.readers` (:mod:`.csvreader`, :mod:`.jsonreaders`),
  :mod:`.jsonstream`: bytes to batches of rows
- :mod:`.sheets`: workbooks (.xlsx, .xlsm, .xls, .ods), a sheet to batches of rows
- :mod:`.schema`: column names and types
- :mod:`.load` (:mod:`.inserts`), :mod:`.store`: the table, the ledger and the quarantine
- :mod:`.runner`, :mod:`.results`, :mod:`.files`: the run over all files, what became of
  each; moving them aside
- :mod:`.undo`, :mod:`.preview`, :mod:`.retry`: undo a run; the dry run; a retry's files

Loading the config needs only :mod:`.params`: the modules that do the work (and
sqlite-utils with them) are imported when a run or an undo starts, so listing
jobs or checking the config does not pay for them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...context import JobContext
from ...errors import JobFailed
from ..base import JobKind
from ..registry import register
from .params import ImportParams

__all__ = ["ImportKind", "ImportParams"]


@register
class ImportKind(JobKind):
    name = "import"
    summary = ("Loads CSV, TSV, JSON, JSON Lines and spreadsheet (.xlsx, .xls, .ods) files into a "
               "SQLite table, one transaction per file (per sheet).")
    Params = ImportParams
    plural = "imports"
    undo_note = ("The rows it imported are removed from the table (and rows it replaced "
                 "come back).")
    idempotent = True  # the ledger skips files a run already committed
    supports_dry_run = True
    supports_undo = True
    accepts_files = True
    requires_files = True
    in_process = True  # each file is one transaction, and it checks for cancel per batch

    def run(self, ctx: JobContext, params: ImportParams) -> dict[str, Any]:
        if ctx.dry_run:
            from .preview import preview
            return preview(ctx, params)
        from .runner import ImportRun
        return ImportRun(ctx, params).execute()

    @classmethod
    def changed_something(cls, result: dict[str, Any]) -> bool:
        return bool(result.get("imports"))

    @classmethod
    def retry_inputs(cls, params: ImportParams, run: dict[str, Any]) -> list[str] | None:
        from .retry import files_for_retry
        return files_for_retry(params, run)

    def undo(self, ctx: JobContext, params: ImportParams, run: dict[str, Any]) -> dict[str, Any]:
        from .problems import FileProblem
        from .runner import database_path
        from .store import Store
        from .undo import undo_run
        result = run.get("result") if isinstance(run.get("result"), dict) else {}
        database = Path(result["database"]) if result.get("database") else database_path(ctx, params)
        if not database.exists():
            return {"summary": f"nothing to undo: {database} does not exist"}
        ids = {int(i) for i in result.get("imports") or [] if i is not None}
        try:
            store = Store(database)
        except FileProblem as exc:
            raise JobFailed(f"{database}: {exc}", retry=exc.retry) from None
        try:
            outcome = undo_run(store, int(run["id"]), str(run.get("job") or ctx.job), ids)
        finally:
            store.close()
        ctx.log(outcome["summary"])
        return outcome
