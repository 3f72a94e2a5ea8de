"""Real reports from real data: the HTML, every CSV and the PDF are opened and checked."""

from __future__ import annotations

import os

import csv
import json
import re
import shutil
import sqlite3
import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import date, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest

from trayjobs.config import parse_config
from trayjobs.context import JobContext
from trayjobs.errors import Cancelled, JobFailed
from trayjobs.kinds.registry import get_kind
from trayjobs.kinds.report.charts import PALETTE
from trayjobs.kinds.report.pdf import find_fonts
from trayjobs.kinds.report.periods import resolve_period

ReportKind = get_kind("report")


def run_report(home, job="spending", *, run_id=1, cancel=False, **raw):
    messages: list[dict] = []
    ctx = JobContext(run_id=run_id, job=job, home=home, sink=messages.append)
    if cancel:
        ctx.cancel_event.set()
    return ReportKind().run(ctx, ReportKind.parse_params(raw)), messages


class Page(HTMLParser):
    """The parts of a report page the tests look at, per <section id=...>."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.sections: dict[str, dict] = {}
        self._section = None
        self._cell: list[str] | None = None
        self._figure_value = False
        self.title_text = ""
        self._in = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        self._in.append(tag)
        if tag == "section":
            self._section = {"text": [], "rows": [], "svg": 0, "bars": 0, "figures": []}
            self.sections[a["id"]] = self._section
        elif self._section is None:
            return
        elif tag == "svg":
            self._section["svg"] += 1
        elif tag == "rect" and a.get("fill") == PALETTE[0]:
            self._section["bars"] += 1
        elif tag == "tr":
            self._section["rows"].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "div" and a.get("class") == "value":
            self._figure_value = True

    def handle_endtag(self, tag):
        while self._in and self._in.pop() != tag:
            pass
        if tag in ("td", "th") and self._cell is not None and self._section is not None:
            self._section["rows"][-1].append("".join(self._cell))
            self._cell = None
        elif tag == "section":
            self._section = None

    def handle_data(self, data):
        if self._in and self._in[-1] == "h1":
            self.title_text += data
        if self._section is None:
            return
        self._section["text"].append(data)
        if self._cell is not None:
            self._cell.append(data)
        if self._figure_value:
            self._section["figures"].append(data)
            self._figure_value = False

    def section(self, title_fragment: str) -> dict:
        key = next(k for k in self.sections if title_fragment in k)
        s = self.sections[key]
        s["all_text"] = " ".join(" ".join(s["text"]).split())
        return s


def pdf_text(path: Path, *, first_page_only=False) -> str:
    data = path.read_bytes()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    if shutil.which("pdftotext"):
        args = ["pdftotext", "-enc", "UTF-8"] + (["-l", "1"] if first_page_only else [])
        return subprocess.run(args + [str(path), "-"], check=True, capture_output=True,
                              text=True).stdout
    pypdf = pytest.importorskip("pypdf", reason="needs pdftotext or pypdf to read PDFs")
    pages = pypdf.PdfReader(str(path)).pages
    return "\n".join(p.extract_text() for p in (pages[:1] if first_page_only else pages))


def read_csv(path) -> list[list[str]]:
    """The cells as a spreadsheet reads them (the byte order mark is not a character)."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        return list(csv.reader(f))


def as_csv(rows) -> list[list[str]]:
    return [["" if v is None else str(v) for v in row] for row in rows]


@pytest.fixture
def spending(home):
    """An import database with a week of transactions, some with HTML and accents in them."""
    today = date.today()
    conn = sqlite3.connect(home.default_data_db)
    conn.execute("CREATE TABLE transactions (day TEXT, amount REAL, category TEXT, shop TEXT)")
    rows = []
    for back in range(12):  # 12 days: 7 inside last_7_days, 5 before it
        day = (today - timedelta(days=back)).isoformat()
        rows += [(day, 10.25 * (back + 1), "food", "Café Zürich"),
                 (day, 100.5 + back, "<script>alert('x')</script>", "<b>Bold & Co</b>")]
    conn.executemany("INSERT INTO transactions VALUES (?, ?, ?, ?)", rows)
    conn.commit()
    conn.close()
    return home.default_data_db


SECTIONS = [
    {"title": "Spending per day", "show": "bar",
     "query": "SELECT day, round(sum(amount), 2) AS total FROM transactions "
              "WHERE day BETWEEN :start AND :end GROUP BY day ORDER BY day"},
    {"title": "By category", "show": "line",
     "query": "SELECT category, sum(amount) AS total, count(*) AS n FROM transactions "
              "WHERE day BETWEEN :start AND :end GROUP BY 1 ORDER BY 1"},
    {"title": "Total", "show": "figure",
     "query": "SELECT sum(amount) AS \"Spent\", count(*) AS \"Payments\" FROM transactions "
              "WHERE day BETWEEN :start AND :end"},
    {"title": "Every payment", "max_rows": 5,
     "query": "SELECT day, amount, category, shop FROM transactions ORDER BY day DESC, amount"},
    {"title": "Refunds", "query": "SELECT * FROM transactions WHERE amount < 0 AND day >= :start"},
]


def test_custom_report_writes_html_csv_and_pdf(home, spending):
    result, messages = run_report(home, title="Weekly spending", sections=SECTIONS, keep=3)
    folder = home.reports_dir / "spending"
    html, pdf, *csvs = (Path(p) for p in result["outputs"])
    assert html.suffix == ".html" and pdf.suffix == ".pdf" and len(csvs) == len(SECTIONS)
    assert all(p.parent == folder and p.is_file() for p in (html, pdf, *csvs))
    assert re.fullmatch(r"spending-\d{4}-\d\d-\d\dT\d{4}\.html", html.name)
    assert result["latest"] == str(folder / "spending-latest.html")
    assert Path(result["latest"]).read_bytes() == html.read_bytes()
    assert (folder / "spending-latest.pdf").read_bytes() == pdf.read_bytes()
    rows = sum(s["rows"] for s in result["sections"])
    assert result["summary"] == f"Weekly spending: 5 sections, {rows} rows → {html.name}"

    # Each CSV holds exactly what its query returns, every row (not only those shown).
    conn = sqlite3.connect(spending)
    values = resolve_period("last_7_days").params()
    for section, path in zip(SECTIONS, csvs):
        cur = conn.execute(section["query"], values)
        expected = [[d[0] for d in cur.description]] + as_csv(cur.fetchall())
        assert read_csv(path) == expected, section["title"]
    assert len(read_csv(csvs[3])) == 1 + 24

    text = html.read_text(encoding="utf-8")
    page = Page(text)
    assert page.title_text == "Weekly spending"
    # Self-contained: no scripts, stylesheets or images fetched, no URL but the SVG namespace.
    assert not [t for t, _ in page.tags if t in ("script", "link", "img", "iframe", "object")]
    for tag, attrs in page.tags:
        for name in ("href", "src"):
            assert not re.match(r"\w+:", attrs.get(name) or ""), (tag, attrs)
    assert set(re.findall(r"\w+://[^\s\"')]+", text)) == {"http://www.w3.org/2000/svg"}

    per_day = page.section("spending-per-day")
    assert per_day["svg"] == 1 and per_day["bars"] == 7  # one bar per day of the period
    table = per_day["rows"]  # the chart's data table
    assert table[0] == ["day", "total"]
    assert [r[0] for r in table[1:]] == [(date.today() - timedelta(days=b)).isoformat()
                                         for b in range(6, -1, -1)]
    svg = re.search(r"<svg.*?</svg>", text, re.S).group(0)
    ET.fromstring(svg)  # well-formed

    assert page.section("by-category")["svg"] == 1
    total = page.section("total")
    spent = conn.execute("SELECT sum(amount) FROM transactions WHERE day BETWEEN ? AND ?",
                         (values["start"], values["end"])).fetchone()[0]
    assert total["figures"] == [f"{spent:,.2f}", "14"]

    every = page.section("every-payment")
    assert len(every["rows"]) == 1 + 5 and "first 5 of 24 rows" in every["all_text"]
    # HTML in the data is shown as text, never as markup.
    assert "<script>alert('x')</script>" in [c for r in every["rows"] for c in r]
    assert "<b>Bold & Co</b>" in [c for r in every["rows"] for c in r]
    assert "<script>alert" not in text and "<b>Bold" not in text
    assert "Café Zürich" in text

    refunds = page.section("refunds")
    assert "No data for this period." in refunds["all_text"] and refunds["rows"] == []

    first_page = pdf_text(pdf, first_page_only=True)
    assert first_page.lstrip().startswith("Weekly spending")
    whole = pdf_text(pdf)
    for expected in ("Spending per day", "Café Zürich", "No data for this period.",
                     "<script>alert('x')</script>", f"{spent:,.2f}",
                     values["start"]):  # the first day appears only as the chart's axis label
        assert expected in whole
    if find_fonts():
        assert b"/FontFile2" in pdf.read_bytes()  # a TrueType font embedded, not a core font

    assert json.loads(json.dumps(result)) == result  # the engine stores it as JSON

    progress = [m for m in messages if m["t"] == "progress"]
    assert [m["message"] for m in progress[:5]] == [s["title"] for s in SECTIONS]
    assert progress[-1]["done"] == progress[-1]["total"] == len(SECTIONS) + 1


@pytest.mark.parametrize("query, message", [
    # A typo, or the wrong database: which one it read, and what it holds.
    ("SELECT * FROM nope", "no such table: nope in "),
    ("SELECT * FROM nope", "data.db (its tables and views: transactions)"),
    ("SELECT missing_column FROM transactions", "no such column: missing_column"),
    ("SELECT day FORM transactions", 'near "transactions": syntax error'),
    # What to write instead: the names a query has.
    ("SELECT :nope", "binding parameter :nope; a report's query can use :start, :end, "
                     ":start_ts, :end_ts, :days"),
    ("SELECT ?", "a report's query can use :start, :end, :start_ts, :end_ts, :days"),
])
def test_bad_query_fails_naming_the_section_and_sqlites_message(home, spending, query, message):
    run_report(home, title="T", sections=SECTIONS[:1])
    folder = home.reports_dir / "spending"
    before = sorted(p.name for p in folder.iterdir())
    broken = {"title": "Broken bit", "query": query}
    with pytest.raises(JobFailed) as info:
        run_report(home, title="T", sections=[SECTIONS[0], broken])
    assert str(info.value).startswith("section 'Broken bit': ")
    assert message in str(info.value)
    assert info.value.retry is False
    assert sorted(p.name for p in folder.iterdir()) == before  # nothing half-written


def test_a_chart_needs_two_columns_and_numbers(home, spending):
    with pytest.raises(JobFailed, match=r"section 'Lonely': a bar chart needs at least two columns"):
        run_report(home, sections=[{"title": "Lonely", "show": "bar",
                                    "query": "SELECT day FROM transactions"}])
    with pytest.raises(JobFailed, match=r"section 'Words'.*'shop' hold none"):
        run_report(home, sections=[{"title": "Words", "show": "line",
                                    "query": "SELECT day, shop FROM transactions"}])


def test_text_with_a_decimal_comma_is_not_read_as_a_number_ten_times_larger(home, spending):
    # An import from a spreadsheet set to another locale keeps "1,5" (one and a half) as
    # text. Its commas were dropped as if thousands separators: a figure showed 15 and a
    # chart drew bars of 15 and 1.2345 (from "1.234,50"), numbers the data never held.
    conn = sqlite3.connect(spending)
    conn.execute("CREATE TABLE weights (item TEXT, kg TEXT)")
    conn.executemany("INSERT INTO weights VALUES (?, ?)",
                     [("apples", "1,5"), ("sand", "1.234,50"), ("pears", "1,234.50")])
    conn.commit()
    conn.close()
    result, _ = run_report(home, sections=[
        {"title": "Kilos", "show": "figure", "format": {"kg": "number"},
         "query": "SELECT kg FROM weights WHERE item = 'apples'"},
        {"title": "Chart", "show": "bar", "query": "SELECT item, kg FROM weights"}])
    page = Page(Path(result["outputs"][0]).read_text(encoding="utf-8"))
    assert page.sections["s1-kilos"]["figures"] == ["1,5"]
    chart = Path(result["outputs"][0]).read_text(encoding="utf-8").split('id="s2-chart"')[1]
    assert ">1.2k</text>" in chart  # "1,234.50" still reads as a number
    assert ">15</text>" not in chart and ">1.23</text>" not in chart
    assert "1,5" in pdf_text(Path(result["outputs"][1]))


def test_a_chart_whose_values_are_all_null_says_so_instead_of_failing(home, spending):
    # A week where every amount is NULL (sum() of nothing) is an answer, not a broken query.
    result, _ = run_report(home, sections=[
        {"title": "Refunds", "show": "bar",
         "query": "SELECT day, sum(NULL) AS refunds FROM transactions GROUP BY day"},
        SECTIONS[0]])
    html = Path(result["outputs"][0]).read_text(encoding="utf-8")
    assert "No numbers to chart for this period: &#39;refunds&#39; hold only empty values." in html
    pdf = Path(result["outputs"][1]).read_bytes()
    assert pdf.startswith(b"%PDF") and len(pdf) > 2000
    assert [s["rows"] for s in result["sections"]][0] == 12


def test_infinite_values_show_as_infinity_in_charts_figures_and_formats(home, spending):
    # 1e999 is infinity to SQLite: a duration of it raised OverflowError (three attempts).
    result, _ = run_report(home, sections=[
        {"title": "Huge", "show": "bar", "query": "SELECT 'a', 1e999 UNION ALL SELECT 'b', 5"},
        {"title": "Took", "show": "figure", "query": "SELECT 1e999 AS took",
         "format": {"took": "duration"}}])
    html = Path(result["outputs"][0]).read_text(encoding="utf-8")
    assert '<div class="value">∞</div>' in html
    assert Path(result["outputs"][1]).read_bytes().startswith(b"%PDF")


def test_charts_of_extreme_and_tiny_numbers_are_drawn_with_their_own_values(home, spending):
    # The span of ±1e308 overflowed and that of 5e-324 had no step: the run failed with
    # "template default.html.j2: ValueError: math domain error"; bars of 0.000123 and
    # -0.004 were labelled "0" and "-0".
    result, _ = run_report(home, sections=[
        {"title": "Extremes", "show": "line",
         "query": "SELECT 'a', 1.7976931348623157e308 "
                  "UNION ALL SELECT 'b', -1.7976931348623157e308"},
        {"title": "Denormal", "show": "bar", "query": "SELECT 'a', 5e-324 UNION ALL SELECT 'b', 0"},
        {"title": "Small", "show": "bar",
         "query": "SELECT 'a', 0.000123 UNION ALL SELECT 'b', -0.004"},
        {"title": "Stacked", "show": "bar", "stack": True,  # adds up to infinity
         "query": "SELECT 'a', 1e308, 1e308 UNION ALL SELECT 'b', -1e308, -1e308"}])
    html = Path(result["outputs"][0]).read_text(encoding="utf-8")
    svgs = {part.split("</h2>")[0].split(">")[-1]: part.split("<svg", 1)[1]
            for part in html.split("<section")[1:]}
    assert "1.8e+308" in svgs["Extremes"] and "-1.8e+308" in svgs["Extremes"]
    assert "nan" not in svgs["Extremes"] and "inf" not in svgs["Extremes"]
    assert "4.94e-324" in svgs["Denormal"]
    assert ">0.000123<" in svgs["Small"] and ">-0.004<" in svgs["Small"]
    assert ">-0<" not in svgs["Small"]
    assert "nan" not in svgs["Stacked"] and "inf" not in svgs["Stacked"]
    assert Path(result["outputs"][1]).read_bytes().startswith(b"%PDF")


def test_a_month_as_the_period_reads_that_month(home, tmp_path):
    db = tmp_path / "sales.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE sales (day TEXT, amount REAL)")
    conn.executemany("INSERT INTO sales VALUES (?, ?)", [
        ("2024-01-31", 1), ("2024-02-01", 10), ("2024-02-29", 20), ("2024-03-01", 100)])
    conn.commit()
    conn.close()
    result, _ = run_report(home, database=str(db), period="2024-02", formats=["html", "csv"],
                           sections=[{"title": "Feb", "query": "SELECT sum(amount) AS total "
                                      "FROM sales WHERE day BETWEEN :start AND :end"}])
    assert read_csv(result["sections"][0]["csv"]) == [["total"], ["30.0"]]
    assert "February 2024" in Path(result["outputs"][0]).read_text(encoding="utf-8")


def test_a_negative_duration_keeps_its_sign(home, spending):
    # It showed as "0 ms": a week that took 90 s less than the last looked unchanged.
    result, _ = run_report(home, sections=[
        {"title": "Change", "query": "SELECT 'this week' AS week, -90 AS change, 90 AS took",
         "format": {"change": "duration", "took": "duration"}}])
    html = Path(result["outputs"][0]).read_text(encoding="utf-8")
    assert '<td class="num">-1 min 30 s</td><td class="num">1 min 30 s</td>' in html
    assert "-1 min 30 s" in pdf_text(Path(result["outputs"][1]))


def test_amounts_are_rounded_as_sqlite_rounds_them(home, spending):
    # 2.675 is stored as 2.67499999...: shown to two decimals it read "2.67" where the
    # database's own round() and printf() say 2.68, and a total of 1.005 read "1.00".
    amounts = [2.675, 1.005, -2.675, 1234.565, 999.995, 0.125 + 1]
    conn = sqlite3.connect(spending)
    conn.execute("CREATE TABLE prices (amount REAL)")
    conn.executemany("INSERT INTO prices VALUES (?)", [(a,) for a in amounts])
    conn.commit()
    sqlite_says = [r[0] for r in conn.execute("SELECT printf('%.2f', amount) FROM prices")]
    conn.close()
    assert sqlite_says[:2] == ["2.68", "1.01"]
    result, _ = run_report(home, sections=[
        {"title": "Prices", "query": "SELECT amount FROM prices"},
        {"title": "Chart", "show": "bar", "query": "SELECT rowid, amount FROM prices LIMIT 2"}])
    html = Path(result["outputs"][0]).read_text(encoding="utf-8")
    shown = [row[0] for row in Page(html).sections["s1-prices"]["rows"][1:]]
    assert [s.replace(",", "") for s in shown] == sqlite_says and shown[3] == "1,234.57"
    assert ">2.68</text>" in html and ">1.01</text>" in html  # the bars' values
    assert "2.68" in pdf_text(Path(result["outputs"][1]))


def test_a_chart_heading_is_never_left_alone_at_the_foot_of_a_pdf_page(home, spending):
    # A table above pushed the chart to the next page and left its heading behind.
    for rows in range(20, 34, 3):
        result, _ = run_report(home, formats=["pdf"], sections=[
            {"title": "Rows", "max_rows": rows, "query": "SELECT day, amount FROM transactions"},
            {"title": "Chart here", "show": "bar",
             "query": "SELECT 'only bar', 123456 AS total"}])
        pages = pdf_text(Path(result["outputs"][0])).split("\f")
        with_heading = [i for i, page in enumerate(pages) if "Chart here" in page]
        with_bar = [i for i, page in enumerate(pages) if "only bar" in page]
        assert with_heading == with_bar, rows


def test_the_value_of_a_bar_down_to_the_axis_is_not_printed_over_its_label(home, spending):
    result, _ = run_report(home, formats=["html"], sections=[
        {"title": "Down", "show": "bar",
         "query": "SELECT 'neg', -123456 UNION ALL SELECT 'pos', 10"}])
    html = Path(result["outputs"][0]).read_text(encoding="utf-8")
    svg = ET.fromstring(html[html.index("<svg"):html.index("</svg>") + 6])
    baseline = {el.text: float(el.get("y")) for el in svg.iter("{http://www.w3.org/2000/svg}text")}
    # An 11 px text sits above its baseline: the value's must end above the label's top.
    assert baseline["-123.5k"] < baseline["neg"] - 11


def test_a_pdf_table_does_not_break_a_heading_word(home, spending):
    # The job-activity table's "Succeeded" printed as "Succeede" over "d".
    row = {"Job": "'syntax'", "Kind": "'report'", "Runs": 7, "Succeeded": 3, "Failed": 4,
           "Stopped": 0, "Retried": 0, "Retries": 0, "Average": "'565 ms'",
           "Longest": "'1.4 s'", "Last": "'2026-12-04 17:58:12'"}
    names = list(row)
    query = "SELECT " + ", ".join(f"{value} AS {name}" for name, value in row.items())
    result, _ = run_report(home, formats=["pdf"], sections=[{"title": "Wide", "query": query}])
    words = pdf_text(Path(result["outputs"][0])).split()
    assert all(name in words for name in names), words


def test_a_figure_of_no_value_shows_a_dash_not_an_empty_card(home, spending):
    result, _ = run_report(home, sections=[
        {"title": "Total", "show": "figure",
         "query": "SELECT sum(amount) AS spent, count(*) AS n, '' AS blank "
                  "FROM transactions WHERE 0"}])
    html = Path(result["outputs"][0]).read_text(encoding="utf-8")
    assert re.findall(r'<div class="value">(.*?)</div>', html) == ["—", "0", ""]
    assert "—" in pdf_text(Path(result["outputs"][1]))


def test_text_that_is_not_utf8_is_shown_with_a_placeholder_and_a_warning(home, tmp_path):
    # A file another program wrote in Latin-1: the report failed on its first such cell.
    db = tmp_path / "latin.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE shops (name TEXT)")
    conn.execute("INSERT INTO shops VALUES (CAST(x'436166e9' AS TEXT)), ('Zürich')")
    conn.commit()
    conn.close()
    result, _ = run_report(home, database=str(db),
                           sections=[{"title": "Shops", "query": "SELECT name FROM shops"}])
    assert result["warnings"] == ["section 'Shops': 1 text value not in UTF-8; bytes that "
                                  "could not be read are shown as �"]
    csv_text = Path(result["sections"][0]["csv"]).read_text(encoding="utf-8-sig")
    assert csv_text.splitlines() == ["name", "Caf�", "Zürich"]


def test_config_errors_name_the_section(home):
    text = """
[jobs.r1]
kind = "report"
period = "last_fortnight"
[[jobs.r1.sections]]
title = "Cleanup"
query = "DELETE FROM transactions"
[[jobs.r1.sections]]
title = "Two"
query = "SELECT 1; SELECT 2"
[[jobs.r1.sections]]
title = "Pie"
query = "SELECT 1"
show = "pie"
[jobs.r2]
kind = "report"
title = "Nothing to show"
[jobs.ok]
kind = "report"
builtin = "job-activity"
then = ["r2"]
"""
    cfg = parse_config(text)
    errors = [str(e) for e in cfg.errors]
    assert list(cfg.jobs) == ["ok"]
    assert any("unknown period 'last_fortnight'" in e and "last_N_days" in e for e in errors)
    assert any("section 'Cleanup': only SELECT queries" in e and "not DELETE" in e for e in errors)
    assert any("section 'Two'" in e and "several statements" in e for e in errors)
    assert any("'pie' is not one of the choices" in e for e in errors)
    assert any("job 'r2'" in e and "a report needs sections" in e for e in errors)


def test_a_table_missing_from_an_empty_database_says_it_holds_none(home, tmp_path):
    (tmp_path / "new.db").write_bytes(b"")  # touched, or a download that did not finish
    with pytest.raises(JobFailed, match=r"section 'S': no such table: sales in \S+new\.db "
                                        r"\(it holds no tables: is it the database you meant\?\)"):
        run_report(home, database=str(tmp_path / "new.db"), formats=["csv"],
                   sections=[{"title": "S", "query": "SELECT * FROM sales"}])
    assert (tmp_path / "new.db").read_bytes() == b""


def test_a_database_that_is_a_folder_is_not_no_data_yet(home):
    # "no data yet: ... does not exist" was said of a folder: the data will never come.
    (home.data_dir / "sales.db").mkdir(parents=True)
    with pytest.raises(JobFailed, match=r"sales\.db: it is a folder; set database to a "
                                        r"SQLite file") as exc:
        run_report(home, database="sales.db", sections=[{"title": "S", "query": "SELECT 1"}])
    assert exc.value.retry is False


def test_a_database_that_is_another_kind_of_file_says_what_to_set(home):
    home.data_dir.mkdir(parents=True, exist_ok=True)
    (home.data_dir / "sales.csv").write_text("day,amount\n2026-11-03,12.5\n" * 100)
    with pytest.raises(JobFailed, match=r"sales\.csv: file is not a database; set database "
                                        r"to a SQLite file") as exc:
        run_report(home, database="sales.csv", sections=[{"title": "S", "query": "SELECT 1"}])
    assert exc.value.retry is False


def test_builtins_on_a_fresh_home_say_there_is_no_data_yet(home):
    for builtin, title in (("job-activity", "Job activity"), ("imported-data", "Imported data")):
        result, _ = run_report(home, job=builtin, builtin=builtin)
        assert result["summary"].startswith(f"{title}: no data yet → ")
        html = Path(result["outputs"][0])
        page = Page(html.read_text(encoding="utf-8"))
        assert page.title_text == title
        assert "No data yet" in html.read_text(encoding="utf-8")
        assert pdf_text(Path(result["outputs"][1]), first_page_only=True).lstrip().startswith(title)
    assert not home.runs_db.exists() and not home.default_data_db.exists()


def test_keep_prunes_old_reports_and_leaves_other_files(home, spending):
    folder = home.reports_dir / "spending"
    folder.mkdir(parents=True)
    (folder / "my notes.txt").write_text("mine")
    outputs = []
    for run_id in range(1, 5):
        result, _ = run_report(home, run_id=run_id, sections=SECTIONS[:2], keep=2)
        outputs.append(result["outputs"])
    names = sorted(p.name for p in folder.iterdir())
    kept = sorted(Path(p).name for p in outputs[-2] + outputs[-1])
    latest = ["spending-latest-by-category.csv", "spending-latest-spending-per-day.csv",
              "spending-latest.html", "spending-latest.pdf"]
    assert names == sorted(kept + latest + ["my notes.txt"])
    assert all(not Path(p).exists() for p in outputs[0] + outputs[1])
    # A later report with fewer sections leaves no stale latest CSV behind.
    run_report(home, run_id=9, sections=SECTIONS[:1], formats=["csv"], keep=2)
    assert sorted(p.name for p in folder.glob("spending-latest*")) == [
        "spending-latest-spending-per-day.csv"]


def test_csv_only_report(home, spending):
    result, _ = run_report(home, sections=SECTIONS[:1], formats=["csv"])
    assert [Path(p).suffix for p in result["outputs"]] == [".csv"]
    assert result["latest"].endswith("spending-latest-spending-per-day.csv")


def test_custom_template_is_sandboxed_and_escaped(home, spending):
    (home.config_dir / "mine.html.j2").write_text(
        '{% extends "default.html.j2" %}{% block footer %}<footer id="mine">'
        '{{ report.title }} by {{ report.job }}: '
        '{% for s in sections %}[{{ s.title }}={{ s.total_rows }}]{% endfor %}</footer>'
        '{% endblock %}', encoding="utf-8")
    result, _ = run_report(home, title="<i>Mine</i>", template="mine.html.j2",
                           sections=SECTIONS[2:4], formats=["html"])
    text = Path(result["outputs"][0]).read_text(encoding="utf-8")
    assert '<footer id="mine">&lt;i&gt;Mine&lt;/i&gt; by spending: [Total=1][Every payment=24]' in text
    assert "<i>Mine" not in text

    (home.config_dir / "evil.html.j2").write_text(
        "{{ ''.__class__.__mro__[1].__subclasses__() }}", encoding="utf-8")
    with pytest.raises(JobFailed, match=r"template .*evil\.html\.j2.*unsafe"):
        run_report(home, template="evil.html.j2", sections=SECTIONS[:1])
    (home.config_dir / "broken.html.j2").write_text("line one\n{% if %}", encoding="utf-8")
    with pytest.raises(JobFailed, match=r"broken\.html\.j2, line 2"):
        run_report(home, template="broken.html.j2", sections=SECTIONS[:1])
    with pytest.raises(JobFailed, match="not found"):
        run_report(home, template="missing.html.j2", sections=SECTIONS[:1])
    # there, but no file: "not found" sent the person looking for a file they can see
    (home.config_dir / "folder.html.j2").mkdir()
    os.mkfifo(home.config_dir / "pipe.html.j2")
    with pytest.raises(JobFailed, match=r"folder\.html\.j2 is a folder, not a template file"):
        run_report(home, template="folder.html.j2", sections=SECTIONS[:1])
    with pytest.raises(JobFailed, match=r"pipe\.html\.j2 is a named pipe, not a template file"):
        run_report(home, template="pipe.html.j2", sections=SECTIONS[:1])


def test_a_template_that_fails_as_it_renders_fails_once_naming_it_and_its_line(home, spending):
    # Errors of the template's own code (1/0) or of its file (not UTF-8) are the
    # person's to fix: one attempt, the template and line named, no traceback.
    (home.config_dir / "divide.html.j2").write_text(
        '{% extends "default.html.j2" %}\n{% block footer %}{{ 1 / 0 }}{% endblock %}',
        encoding="utf-8")
    with pytest.raises(JobFailed, match=r"divide\.html\.j2, line 2: ZeroDivisionError") as exc:
        run_report(home, template="divide.html.j2", sections=SECTIONS[:1])
    assert exc.value.retry is False
    # A name the template does not have (a typo) is such an error too: its line was left out.
    (home.config_dir / "typo.html.j2").write_text(
        '{% extends "default.html.j2" %}\n{% block footer %}\n{{ report.titel }}{% endblock %}',
        encoding="utf-8")
    with pytest.raises(JobFailed, match=r"typo\.html\.j2, line 3: 'dict object' has no "
                                        r"attribute 'titel'") as exc:
        run_report(home, template="typo.html.j2", sections=SECTIONS[:1])
    assert exc.value.retry is False
    (home.config_dir / "latin1.html.j2").write_bytes("caf\xe9 {{ report.title }}".encode("latin-1"))
    with pytest.raises(JobFailed, match=r"latin1\.html\.j2: not UTF-8 text.*save it as UTF-8") as exc:
        run_report(home, template="latin1.html.j2", sections=SECTIONS[:1])
    assert exc.value.retry is False
    assert not list((home.reports_dir / "spending").glob("spending-*"))  # nothing half-written


def test_a_cancelled_report_stops_and_leaves_no_files(home, spending):
    with pytest.raises(Cancelled):
        run_report(home, cancel=True, sections=SECTIONS)
    assert list((home.reports_dir / "spending").iterdir()) == []


def test_sections_may_read_another_database(home, spending, tmp_path):
    other = tmp_path / "elsewhere.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE sales (n)")
    conn.executemany("INSERT INTO sales VALUES (?)", [(1,), (2,), (3,)])
    conn.commit()
    conn.close()
    result, _ = run_report(home, sections=[
        {"title": "Sales", "database": str(other), "query": "SELECT sum(n) AS n FROM sales"},
        {"title": "Missing", "database": str(tmp_path / "absent.db"), "query": "SELECT 1"},
        SECTIONS[2]])
    csvs = [Path(p) for p in result["outputs"] if p.endswith(".csv")]
    assert read_csv(csvs[0]) == [["n"], ["6"]]
    text = Path(result["outputs"][0]).read_text(encoding="utf-8")
    assert "No data yet" in Page(text).section("missing")["all_text"]
    assert not (tmp_path / "absent.db").exists()
    assert result["warnings"] == [f"section 'Missing': no data yet: {tmp_path / 'absent.db'} "
                                  f"does not exist"]
    # A folder that is not there either is more likely a typo than data still to come.
    result, _ = run_report(home, sections=[
        {"title": "Typo", "database": str(tmp_path / "slaes" / "x.db"), "query": "SELECT 1"}])
    assert result["warnings"] == [f"section 'Typo': no data yet: {tmp_path / 'slaes' / 'x.db'} "
                                  f"does not exist (nor does its folder {tmp_path / 'slaes'}: "
                                  f"check the path)"]
    assert not (tmp_path / "slaes").exists()


def test_pdf_without_a_truetype_font_falls_back_to_core_fonts(home, spending, monkeypatch):
    import trayjobs.kinds.report.pdf as pdf_module

    monkeypatch.setattr(pdf_module, "find_fonts", lambda: None)
    sections = [SECTIONS[0],
                {"title": "Shops ☕", "query": "SELECT DISTINCT shop FROM transactions"}]
    result, messages = run_report(home, title="Résumé – 日本 “quoted”", formats=["pdf"],
                                  sections=sections)
    text = pdf_text(Path(result["outputs"][0]))
    assert text.lstrip().startswith('Résumé - ?? "quoted"')
    assert "Café Zürich" in text and "Shops ?" in text
    # What became "?" is said once, by name; the typographic quotes and dash were not lost.
    logged = [m["message"] for m in messages if m.get("level") == "warning"]
    assert len(logged) == 1 and all(f"U+{ord(c):04X}" in logged[0] for c in "日本☕")
    assert "U+201C" not in logged[0]
    assert b"/FontFile2" not in Path(result["outputs"][0]).read_bytes()


def test_a_pdf_table_stops_at_its_cap_and_says_so_while_the_html_shows_max_rows(
        home, spending, monkeypatch):
    # The real cap is 1,000 rows (max_rows = 100000 took two minutes); 20 keeps this quick.
    from trayjobs.kinds.report import pdf as pdf_module
    monkeypatch.setattr(pdf_module, "PDF_MAX_ROWS", 20, raising=False)
    query = ("WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 30) "
             "SELECT 'row ' || i AS name, i AS n FROM c")
    result, messages = run_report(home, formats=["html", "pdf"], sections=[
        {"title": "Many", "query": query, "max_rows": 1000}])
    html, pdf = (Path(p) for p in result["outputs"])
    text = " ".join(pdf_text(pdf).split())
    assert "row 20 " in text and "row 21 " not in text
    assert "first 20 of 30 rows · a PDF table stops at 20 rows: the HTML shows 30" in text
    assert "row 30<" in html.read_text(encoding="utf-8")
    assert any("PDF: section 'Many' prints its first 20 rows" in m.get("message", "")
               for m in messages)
    assert "warnings" not in result  # the job asked for it: said, not a warning every run


def test_a_cancel_while_the_pdf_is_drawn_stops_it_within_a_few_cells(home, spending, monkeypatch):
    import fpdf
    pages_after_cancel = []
    real_add_page = fpdf.FPDF.add_page

    def add_page(self, *a, **kw):
        if ctx.cancel_event.is_set():
            pages_after_cancel.append(1)
        return real_add_page(self, *a, **kw)

    monkeypatch.setattr(fpdf.FPDF, "add_page", add_page)

    def sink(message: dict) -> None:  # cancel as the big table's turn in the PDF comes
        if "writing the PDF: Every payment" in str(message.get("message")):
            ctx.cancel_event.set()

    ctx = JobContext(run_id=1, job="spending", home=home, sink=sink)
    # 1,000 rows: some 25 pages, seconds of layout when the table's block ends
    params = ReportKind.parse_params({"formats": ["pdf"], "sections": [
        {"title": "Every payment", "max_rows": 1000,
         "query": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)"
                  " SELECT i, t.* FROM n, (SELECT * FROM transactions LIMIT 1) AS t"}]})
    with pytest.raises(Cancelled):
        ReportKind().run(ctx, params)
    assert ctx.cancel_event.is_set()
    assert len(pages_after_cancel) <= 1  # not the table's 25 pages
    assert list((home.reports_dir / "spending").iterdir()) == []


def test_a_report_without_sections_names_its_own_table_header():
    # It said [[jobs.NAME.sections]]: the person had to work out what NAME stands for.
    cfg = parse_config('[jobs."weekly sales"]\nkind = "report"\n[jobs.plain]\nkind = "report"\n')
    errors = [str(e) for e in cfg.errors]
    assert any('[[jobs."weekly sales".sections]]' in e for e in errors), errors
    assert any("[[jobs.plain.sections]]" in e for e in errors), errors
    assert not any("jobs.NAME" in e for e in errors), errors


def test_a_database_another_program_is_writing_to_fails_to_be_retried(home, monkeypatch):
    # Locked while the report opened it: "database is locked" failed for good (no retry),
    # though the lock passes with the other program's write.
    from trayjobs.kinds.report import readonly
    monkeypatch.setattr(readonly, "BUSY_TIMEOUT", 0.2)
    db = home.data_dir / "sales.db"
    db.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("CREATE TABLE t (n)")
    conn.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(JobFailed, match="another program is writing to it") as exc:
            run_report(home, database="sales.db", formats=["html"],
                       sections=[{"title": "S", "query": "SELECT n FROM t"}])
        assert exc.value.retry
    finally:
        conn.execute("COMMIT")
        conn.close()
    result, _ = run_report(home, database="sales.db", formats=["html"],
                           sections=[{"title": "S", "query": "SELECT n FROM t"}])
    assert result["sections"][0]["rows"] == 0


def test_a_database_a_crashed_program_left_half_written_says_so_and_stays_as_it_was(home):
    # A writer killed inside its transaction leaves a hot journal that only a connection
    # that may write can roll back. The report said "attempt to write a readonly database",
    # as if it had tried to write, and nothing of what to do.
    db = home.data_dir / "shop.db"
    db.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE t (n)")
    conn.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(3)])
    conn.commit()
    conn.close()
    crash = ("import os, sqlite3, sys\n"
             "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
             "c.execute('PRAGMA cache_size = 1'); c.execute('BEGIN'); c.execute('DELETE FROM t')\n"
             "c.executemany('INSERT INTO t VALUES (?)', [(os.urandom(900),)] * 400)\n"
             "os._exit(9)\n")
    subprocess.run([sys.executable, "-c", crash, str(db)], check=False, timeout=60)
    journal = db.with_name("shop.db-journal")
    before = (db.read_bytes(), journal.read_bytes())
    assert before[1]  # a hot journal: the crash left the write half done
    with pytest.raises(JobFailed, match=r"stopped midway and left its -journal file beside "
                                        r"it; open the database once with that program, or "
                                        r"with sqlite3") as exc:
        run_report(home, database="shop.db", formats=["csv"],
                   sections=[{"title": "S", "query": "SELECT count(*) FROM t"}])
    assert exc.value.retry is False
    assert (db.read_bytes(), journal.read_bytes()) == before  # nothing rolled back or changed
    assert sqlite3.connect(db).execute("SELECT count(*) FROM t").fetchone() == (3,)


def test_the_rows_shown_of_a_long_table_are_counted_as_the_total_is(home, spending):
    # "Showing the first 5000 of 12,000 rows": the one number without its separator.
    result, _ = run_report(home, formats=["html"], sections=[
        {"title": "Many", "max_rows": 5000, "query": "WITH RECURSIVE n(x) AS (SELECT 1 "
         "UNION ALL SELECT x + 1 FROM n WHERE x < 12000) SELECT x FROM n"}])
    html = Path(result["outputs"][0]).read_text(encoding="utf-8")
    assert "Showing the first 5,000 of 12,000 rows; the CSV has them all." not in html
    assert "Showing the first 5,000 of 12,000 rows." in html  # no CSV written


def test_a_format_for_a_column_the_query_does_not_give_is_a_warning(home, spending):
    # { Took = "duration" } for a column named "took": the seconds showed unformatted and
    # nothing said why.
    result, _ = run_report(home, formats=["html"], sections=[
        {"title": "Times", "query": "SELECT 90 AS took, 2 AS n",
         "format": {"Took": "duration", "n": "number"}},
        {"title": "Fine", "query": "SELECT 90 AS took", "format": {"took": "duration"}}])
    assert result["warnings"] == [
        "section 'Times': format names 'Took', which the query does not give (its columns: "
        "took, n); names must match exactly"]
    assert '<td class="num">1 min 30 s</td>' in Path(result["outputs"][0]).read_text("utf-8")


def test_a_column_named_by_a_long_text_is_cut_in_the_pdf_not_fatal(home, spending):
    # An import names columns after a file's header, which may be a sentence or a pasted
    # paragraph: the PDF failed ("The row with index 0 is too high and cannot be rendered on
    # a single page"), on every attempt, and so did the run.
    name = "Please describe, in your own words, what happened " * 200
    result, _ = run_report(home, formats=["pdf", "csv"], sections=[
        {"title": "Survey", "query": f'SELECT \'fine\' AS "{name}", 3 AS n'}])
    pdf, csv_file = (Path(p) for p in result["outputs"])
    assert "Please describe, in your own words" in pdf_text(pdf)
    assert read_csv(csv_file)[0] == [name, "n"]  # the CSV keeps the whole name


def test_a_cell_of_many_short_lines_is_cut_in_the_pdf_not_fatal(home, spending):
    # A list kept in one cell ("x\nx\n..."), 160 characters but 80 lines: a row taller than
    # a page, and the PDF failed on every attempt.
    result, _ = run_report(home, formats=["pdf", "csv"], sections=[
        {"title": "Lists", "query": "SELECT 'first' || replace(hex(zeroblob(100)), '00', "
                                    "char(10) || 'x') AS items, 1 AS n"}])
    pdf, csv_file = (Path(p) for p in result["outputs"])
    assert "first" in pdf_text(pdf)
    assert read_csv(csv_file)[1][0].count("\n") == 100  # the CSV keeps every line


def test_pdf_figures_too_wide_for_their_card_shrink_instead_of_running_together(home, spending):
    # Four large amounts in a row: each ran past its card into the next, and pdftotext (as a
    # reader) saw "1,234,567,890.12" and its neighbour as one number.
    cols = ", ".join(f"{k}234567890.125 AS \"Total {k}\"" for k in range(1, 5))
    result, _ = run_report(home, formats=["pdf"], sections=[
        {"title": "Totals", "show": "figure", "query": f"SELECT {cols}, '{'w' * 300}' AS word"}])
    words = pdf_text(Path(result["outputs"][0])).split()
    for k in range(1, 5):
        assert f"{k},234,567,890.13" in words  # each number whole, and by itself
    assert any(w.startswith("www") and w.endswith("…") for w in words)
