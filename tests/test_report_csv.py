"""Report CSVs open safely and correctly in a spreadsheet: no formulas, readable accents."""

from __future__ import annotations

import csv
import io
import sqlite3
from pathlib import Path

import pytest

from trayjobs.config import parse_config
from trayjobs.context import JobContext
from trayjobs.kinds.registry import get_kind

ReportKind = get_kind("report")

HOSTILE = ["=1+1", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)", "\t=1", "\r=1",
           "=HYPERLINK(\"http://x\")"]
QUERY = ("SELECT label, text_value, number, amount FROM cells ORDER BY id")


@pytest.fixture
def cells(home):
    conn = sqlite3.connect(home.default_data_db)
    conn.execute("CREATE TABLE cells (id INTEGER PRIMARY KEY, label TEXT, text_value TEXT, "
                 "number INTEGER, amount REAL)")
    rows = [(f"hostile {i}", v, None, None) for i, v in enumerate(HOSTILE)]
    rows += [("negative text", "-3", -3, -2.5), ("plus text", "+4.5e2", 7, 0.5),
             ("words", "Zürich – 日本語 · Ελληνικά", None, None),
             ("inner", "a=b, c-d @e", 0, 0.0),
             # an amount an import kept as text, separators and all: a number, not a formula
             ("grouped", "-1,234.50", None, None), ("not grouped", "-1,2+3", None, None)]
    conn.executemany("INSERT INTO cells (label, text_value, number, amount) VALUES (?, ?, ?, ?)",
                     rows)
    conn.commit()
    conn.close()


def run_csv(home, **options) -> Path:
    ctx = JobContext(run_id=1, job="cells", home=home, sink=[].append)
    params = ReportKind.parse_params({"formats": ["csv"], "sections": [
        {"title": "Cells", "query": QUERY}], **options})
    result = ReportKind().run(ctx, params)
    return Path(result["outputs"][0])


def cells_of(data: bytes, encoding: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode(encoding), newline="")))


def test_text_that_looks_like_a_formula_is_neutralised(home, cells):
    data = run_csv(home).read_bytes()
    rows = cells_of(data, "utf-8-sig")
    assert rows[0] == ["label", "text_value", "number", "amount"]
    by_label = {r[0]: r[1:] for r in rows[1:]}
    for i, value in enumerate(HOSTILE):
        assert by_label[f"hostile {i}"][0] == "'" + value
    # Numbers stay numbers, and so does text that is only a number.
    assert by_label["negative text"] == ["-3", "-3", "-2.5"]
    assert by_label["plus text"] == ["+4.5e2", "7", "0.5"]
    assert by_label["inner"] == ["a=b, c-d @e", "0", "0.0"]
    assert by_label["words"][0] == "Zürich – 日本語 · Ελληνικά"
    assert by_label["grouped"][0] == "-1,234.50"
    assert by_label["not grouped"][0] == "'-1,2+3"


def test_csv_starts_with_a_byte_order_mark_for_excel(home, cells):
    data = run_csv(home).read_bytes()
    assert data.startswith(b"\xef\xbb\xbflabel,")
    assert "Zürich – 日本語".encode("utf-8") in data


def test_column_names_are_neutralised_too(home, cells):
    ctx = JobContext(run_id=1, job="cells", home=home, sink=[].append)
    params = ReportKind.parse_params({"formats": ["csv"], "sections": [
        {"title": "Header", "query": 'SELECT 1 AS "=cmd()", 2 AS "-x", 3 AS "ok"'}]})
    path = Path(ReportKind().run(ctx, params)["outputs"][0])
    assert cells_of(path.read_bytes(), "utf-8-sig") == [["'=cmd()", "'-x", "ok"], ["1", "2", "3"]]


def test_both_can_be_switched_off_per_report(home, cells):
    cfg = parse_config("""
[jobs.cells]
kind = "report"
formats = ["csv"]
csv_formula_guard = false
csv_bom = false
[[jobs.cells.sections]]
title = "Cells"
query = "SELECT 1"
""")
    assert cfg.errors == []
    params = cfg.jobs["cells"].params
    assert params.csv_formula_guard is False and params.csv_bom is False
    data = run_csv(home, csv_formula_guard=False, csv_bom=False).read_bytes()
    assert data.startswith(b"label,")
    by_label = {r[0]: r[1:] for r in cells_of(data, "utf-8")[1:]}
    assert [by_label[f"hostile {i}"][0] for i in range(len(HOSTILE))] == HOSTILE


def test_a_query_that_never_ends_stops_at_csv_max_rows_and_says_so(home, cells):
    # A recursive query with no end: the CSV would grow until the disk is full.
    logs = []
    ctx = JobContext(run_id=1, job="cells", home=home, sink=logs.append)
    params = ReportKind.parse_params({"formats": ["csv", "html"], "sections": [
        {"title": "Forever", "csv_max_rows": 2500, "query":
         "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c"},
        {"title": "Cells", "query": QUERY, "csv_max_rows": len(HOSTILE) + 6}]})
    result = ReportKind().run(ctx, params)
    by_name = {Path(p).name: Path(p) for p in result["outputs"]}
    forever = next(p for n, p in by_name.items() if n.endswith("-forever.csv"))
    rows = cells_of(forever.read_bytes(), "utf-8-sig")
    assert rows[1:] == [[str(i)] for i in range(1, 2501)]
    assert result["warnings"] == ["section 'Forever': the query gives more than 2,500 rows; "
                                  "the report stops there (csv_max_rows: raise it, or narrow "
                                  "the query)"]  # exactly as many rows as the limit: no word
    assert any("more than 2,500 rows" in m.get("message", "") for m in logs
               if m.get("t") == "log")
    html = next(p for n, p in by_name.items() if n.endswith(".html")).read_text()
    assert "Only the first 2,500 rows are read" in html


def test_huge_cells_are_cut_in_the_page_and_whole_in_the_csv(home):
    # 20 rows of 300 kB text and blobs: the page must not grow to 12 MB (nor the
    # process hold every row), while the CSV keeps every character.
    conn = sqlite3.connect(home.default_data_db)
    conn.execute("CREATE TABLE big (t TEXT, b BLOB)")
    conn.executemany("INSERT INTO big VALUES (?, ?)",
                     [("é" * 300_000 + str(i), bytes(300_000)) for i in range(20)])
    conn.commit()
    conn.close()
    ctx = JobContext(run_id=1, job="big", home=home, sink=[].append)
    params = ReportKind.parse_params({"sections": [{"title": "Big", "query": "SELECT t, b FROM big"}]})
    result = ReportKind().run(ctx, params)
    html = Path(result["outputs"][0])
    assert html.suffix == ".html" and html.stat().st_size < 1_000_000
    text = html.read_text(encoding="utf-8")
    assert "é" * 2000 + "…" in text and "&lt;300,000 bytes&gt;" in text
    assert Path(result["outputs"][1]).read_bytes().startswith(b"%PDF")
    limit = csv.field_size_limit(1_000_000)  # the csv module's own default is 128 kB
    try:
        with open(result["sections"][0]["csv"], newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    finally:
        csv.field_size_limit(limit)
    assert len(rows) == 21 and rows[20][0] == "é" * 300_000 + "19"
    assert rows[1][1] == "00" * 300_000
