"""The PDF prints every script: CJK through a fallback font, and a character no font
has as a visible placeholder that the run's log names, never as nothing."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from trayjobs.context import JobContext
from trayjobs.kinds.registry import get_kind
from trayjobs.kinds.report.pdf import find_fonts

ReportKind = get_kind("report")
NOWHERE = "\U0010fffd"  # the last private-use code point: no font draws it

pytestmark = pytest.mark.skipif(find_fonts() is None, reason="needs a TrueType main font")


def pdf_text(path: Path) -> str:
    assert shutil.which("pdftotext"), "pdftotext (poppler-utils) reads the PDFs in these tests"
    return subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], check=True,
                          capture_output=True, text=True).stdout


def cjk_font_installed() -> bool:
    out = subprocess.run(["fc-list", ":charset=4e2d 3042 c11c", "file"], capture_output=True,
                         text=True).stdout if shutil.which("fc-list") else ""
    return bool(out.strip())


@pytest.fixture
def cities(home):
    conn = sqlite3.connect(home.default_data_db)
    conn.execute("CREATE TABLE cities (name TEXT, visits INTEGER)")
    conn.executemany("INSERT INTO cities VALUES (?, ?)", [
        ("東京", 3), ("北京", 4), ("서울", 5), ("ひらがな", 2), ("Zürich", 1)])
    conn.commit()
    conn.close()


def run_pdf(home, **raw) -> tuple[Path, list[dict]]:
    messages: list[dict] = []
    ctx = JobContext(run_id=1, job="cities", home=home, sink=messages.append)
    result = ReportKind().run(ctx, ReportKind.parse_params({"formats": ["pdf"], **raw}))
    return Path(result["outputs"][0]), messages


def warnings(messages) -> list[str]:
    return [m["message"] for m in messages if m.get("level") == "warning"]


def test_chinese_japanese_and_korean_are_printed(home, cities):
    assert cjk_font_installed(), "no CJK font: install fonts-wqy-zenhei (packaging/dev.sh does)"
    path, messages = run_pdf(home, title="訪問レポート", sections=[
        {"title": "都市", "query": "SELECT name AS 名前, visits FROM cities"},
        {"title": "グラフ", "show": "bar", "query": "SELECT name, visits FROM cities"},
        {"title": "합계", "show": "figure", "query": "SELECT sum(visits) AS 합계 FROM cities"}])
    text = pdf_text(path)
    for word in ("訪問レポート", "都市", "名前", "東京", "北京", "서울", "ひらがな", "Zürich",
                 "グラフ", "합계"):
        assert word in text, word
    # The bar chart's labels (SVG text) too: each city name appears in table and chart.
    assert text.count("서울") == 2 and text.count("東京") == 2
    assert "\ufffd" not in text and warnings(messages) == []


def test_a_character_no_font_has_is_a_placeholder_and_logged_once(home, cities):
    path, messages = run_pdf(home, title=f"Odd {NOWHERE} title", sections=[
        {"title": "Odd", "query": f"SELECT name || ' {NOWHERE}' AS name, visits FROM cities"},
        {"title": "Chart", "show": "bar",
         "query": f"SELECT name || '{NOWHERE}', visits FROM cities"}])
    text = pdf_text(path)
    assert "Odd \ufffd title" in text
    assert "Zürich \ufffd" in text and text.count("\ufffd") >= 1 + 5 + 5
    logged = [w for w in warnings(messages) if "U+10FFFD" in w]
    assert len(logged) == 1 and "placeholder" in logged[0]


def test_hebrew_and_arabic_read_right_to_left(home):
    # fpdf2 draws characters left to right as stored: "שלום" came out as "םולש", every
    # Hebrew or Arabic name in the PDF backwards (the HTML, laid out by a browser, was right).
    conn = sqlite3.connect(home.default_data_db)
    conn.execute("CREATE TABLE people (name TEXT, city TEXT)")
    conn.executemany("INSERT INTO people VALUES (?, ?)",
                     [("שלום כהן", "תל אביב"), ("سلام", "عمان"), ("Ann", "Zürich")])
    conn.commit()
    conn.close()
    path, _ = run_pdf(home, title="אנשים", sections=[
        {"title": "Names", "query": "SELECT name, city, 'order 12 הזמנה' AS note FROM people"}])
    text = pdf_text(path)  # pdftotext puts what is drawn back into reading order
    for word in ("אנשים", "שלום כהן", "תל אביב", "سلام", "عمان", "Zürich", "12"):
        assert word in text, word
    assert "םולש" not in text and "םישנא" not in text
