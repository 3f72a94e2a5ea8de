"""An import followed by the built-in "Imported data" report, PDF included."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from trayjobs.context import JobContext
from trayjobs.kinds.importer import ImportKind
from trayjobs.kinds.report import ReportKind


def test_imported_data_report_reads_the_real_ledger(home, tmp_path):
    src = tmp_path / "bank export.csv"
    src.write_text("id,date,amount,payee\n1,2026-11-02,12.50,Bakery\n2,2026-11-03,x,Grocer,extra\n"
                   "3,2026-11-05,1200,Salary\n", encoding="utf-8")
    ctx = JobContext(run_id=7, job="bank", home=home, sink=[].append, files=[src])
    imported = ImportKind().run(ctx, ImportKind.parse_params({"table": "transactions"}))
    assert imported["summary"].startswith("2 rows imported into transactions, 1 rejected")

    ctx = JobContext(run_id=8, job="imported", home=home, sink=[].append)
    result = ReportKind().run(ctx, ReportKind.parse_params({"builtin": "imported-data"}))
    pdf = next(p for p in result["outputs"] if p.endswith(".pdf"))
    html = next(p for p in result["outputs"] if p.endswith(".html"))
    from pathlib import Path
    page = Path(html).read_text(encoding="utf-8")
    assert "bank export.csv" in page and "transactions" in page
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext not installed")
    text = subprocess.run(["pdftotext", "-layout", pdf, "-"], capture_output=True,
                          text=True, check=True).stdout
    assert text.lstrip().startswith("Imported data")
    assert "bank export.csv" in text
    assert "Rejected rows" in text


def test_a_table_named_with_a_leading_underscore_is_in_the_report(home, tmp_path):
    # The report passed over every table whose name starts with "_", as it does the
    # importer's own: an import job's `table = "_staging"` was counted nowhere.
    import csv
    src = tmp_path / "bank.csv"
    src.write_text("id,amount\n1,12.5\n2,3\n", encoding="utf-8")
    ctx = JobContext(run_id=1, job="bank", home=home, sink=[].append, files=[src])
    ImportKind().run(ctx, ImportKind.parse_params({"table": "_staging",
                                                  "processed_dir": "leave"}))
    ctx = JobContext(run_id=2, job="imported", home=home, sink=[].append)
    result = ReportKind().run(ctx, ReportKind.parse_params({"builtin": "imported-data",
                                                            "formats": ["csv"]}))

    def part(name):
        path = next(p for p in result["outputs"] if p.endswith(f"-{name}.csv"))
        with open(path, encoding="utf-8-sig", newline="") as f:
            return list(csv.DictReader(f))
    assert [(r["Table"], r["Rows"]) for r in part("tables")] == [("_staging", "2")]
    assert part("overview")[0]["Tables"] == "1" and part("overview")[0]["Rows"] == "2"
