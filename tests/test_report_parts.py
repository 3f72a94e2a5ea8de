"""The report's parts on their own: periods, charts, cell formatting, file names."""

from __future__ import annotations

import csv
import sqlite3
import xml.etree.ElementTree as ET
from datetime import date, datetime

import pytest

from helpers import trayjobs

from trayjobs.kinds.report.charts import PALETTE, Series, chart_svg, compact_number, nice_ticks
from trayjobs.kinds.report.files import slugify
from trayjobs.kinds.report.params import ReportParams
from trayjobs.kinds.report.periods import resolve_period
from trayjobs.kinds.report.view import display

SVG = "{http://www.w3.org/2000/svg}"
SATURDAY = date(2026, 11, 21)


@pytest.mark.parametrize("name, first, last", [
    ("today", "2026-11-21", "2026-11-21"),
    ("yesterday", "2026-11-20", "2026-11-20"),
    ("last_7_days", "2026-11-15", "2026-11-21"),
    ("last_30_days", "2026-10-23", "2026-11-21"),
    ("this_week", "2026-11-16", "2026-11-21"),
    ("last_week", "2026-11-09", "2026-11-15"),
    ("month_to_date", "2026-11-01", "2026-11-21"),
    ("this_month", "2026-11-01", "2026-11-21"),
    ("last_month", "2026-10-01", "2026-10-31"),
    ("quarter_to_date", "2026-10-01", "2026-11-21"),
    ("this_quarter", "2026-10-01", "2026-11-21"),
    ("last_quarter", "2026-07-01", "2026-09-30"),
    ("year_to_date", "2026-01-01", "2026-11-21"),
    ("last_year", "2025-01-01", "2025-12-31"),
    ("2026-02-01..2026-02-28", "2026-02-01", "2026-02-28"),
    ("2024-02", "2024-02-01", "2024-02-29"),  # a month, as README's `period = "2026-10"`
    ("2026-12", "2026-12-01", "2026-12-31"),
])
def test_periods(name, first, last):
    p = resolve_period(name, today=SATURDAY)
    values = p.params()
    assert (values["start"], values["end"]) == (first, last)
    assert values["start_ts"] == datetime.fromisoformat(first).timestamp()
    assert values["days"] == (date.fromisoformat(last) - date.fromisoformat(first)).days + 1


def test_last_month_in_january_and_all_time():
    p = resolve_period("last_month", today=date(2027, 1, 3))
    assert (p.first, p.last) == (date(2026, 12, 1), date(2026, 12, 31))
    # `trayjobs run --help` offers period=last_quarter: in January it is last year's Q4.
    p = resolve_period("last_quarter", today=date(2027, 1, 3))
    assert (p.first, p.last, p.label) == (date(2026, 10, 1), date(2026, 12, 31),
                                          "Q4 2026 · 1 Oct – 31 Dec 2026")
    ReportParams.model_validate({"builtin": "job-activity", "period": "last_quarter"})
    everything = resolve_period("all_time", today=SATURDAY).params()
    assert everything["start"] < "1900" and everything["end"] > "9000"
    assert everything["start_ts"] < 0 < 4e9 < everything["end_ts"]


@pytest.mark.parametrize("bad", ["last_fortnight", "last_0_days", "2026-02-10..2026-02-01",
                                 "2026-02-30..2026-03-01", "", "2026-13"])
def test_bad_periods_are_refused_at_load_time(bad):
    with pytest.raises(ValueError, match="period"):
        ReportParams.model_validate({"builtin": "job-activity", "period": bad})


def test_too_many_days_says_how_many_are_allowed():
    # Not "unknown period": the name is right, the number is not.
    with pytest.raises(ValueError, match="must be between 1 and 3660"):
        resolve_period("last_99999_days")
    with pytest.raises(ValueError, match=r"write the earlier day first: 2026-01-01\.\.2026-12-31"):
        resolve_period("2026-12-31..2026-01-01")


def bars(svg: str) -> list[ET.Element]:
    root = ET.fromstring(svg)
    return [r for r in root.iter(f"{SVG}rect") if r.get("fill") in PALETTE and
            r.get("y") != "9"]  # legend swatches sit at the top


def test_bar_chart_draws_one_bar_per_value_and_escapes_labels():
    svg = chart_svg("bar", ["a <b>", "b & c", "c"], [Series("n", [1, 5, 2.5])])
    drawn = bars(svg)
    assert len(drawn) == 3
    heights = [float(r.get("height")) for r in drawn]
    assert heights[1] == pytest.approx(heights[0] * 5, rel=1e-3)
    texts = [t.text for t in ET.fromstring(svg).iter(f"{SVG}text")]
    assert "a <b>" in texts and "b & c" in texts


def test_stacked_bars_and_negative_values():
    svg = chart_svg("bar", ["x", "y"], [Series("ok", [3, 4]), Series("bad", [1, None])],
                    stacked=True)
    drawn = bars(svg)
    assert len(drawn) == 3
    x_of = {r.get("x") for r in drawn}
    assert len(x_of) == 2  # stacked: one column per category
    neg = chart_svg("bar", ["x", "y"], [Series("delta", [-2, 3])])
    texts = [t.text for t in ET.fromstring(neg).iter(f"{SVG}text")]
    assert "-2" in texts and "0" in texts


def test_line_chart_breaks_at_missing_values_and_thins_labels():
    labels = [f"2026-01-{d:02d}" for d in range(1, 31)]
    values = [float(d) for d in range(30)]
    values[10] = None
    svg = chart_svg("line", labels, [Series("v", values)])
    root = ET.fromstring(svg)
    assert len(list(root.iter(f"{SVG}polyline"))) == 2
    shown = [t.text for t in root.iter(f"{SVG}text") if t.text in labels]
    assert 3 <= len(shown) < 30 and shown[0] == labels[0]


def test_ticks_and_compact_numbers():
    assert nice_ticks(0, 97) == [0, 20, 40, 60, 80, 100]
    assert nice_ticks(-3, 7)[0] <= -3 and nice_ticks(-3, 7)[-1] >= 7
    assert nice_ticks(0, 0) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert [compact_number(v) for v in (0, 12, 1500, 2_000_000, 0.25, -3_400)] == [
        "0", "12", "1.5k", "2M", "0.25", "-3.4k"]


@pytest.mark.parametrize("value, fmt, shown", [
    (None, None, ""), (2026, None, "2026"), (123456, None, "123,456"), (1234.5, None, "1,234.50"),
    (3.14159, None, "3.14"), (0.125, None, "0.125"), (5.0, None, "5"), ("012", None, "012"),
    (b"\x00\x01", None, "<2 bytes>"), (90, "duration", "1 min 30 s"),
    (1_500_000, "size", "1.5 MB"), (0.256, "percent", "25.6 %"), (42, "text", "42"),
    ("1234.5", "number", "1,234.50"),
    # SQLite reads 1e999 as infinity; integers past 2**53 keep every digit.
    (float("inf"), "duration", "∞"), (float("-inf"), "size", "-∞"), (float("inf"), None, "∞"),
    (2**63 - 1, None, "9,223,372,036,854,775,807"),
    # Shown as stored: no digits a float never held, none lost from a number kept as text,
    # and nothing short of one shown as "1".
    (1e308, None, "1e+308"), (-1.5e20, "number", "-1.5e+20"),
    ("12345678901234567890", "number", "12,345,678,901,234,567,890"),
    ("-98,765,432,109,876,543,210", "number", "-98,765,432,109,876,543,210"),
    ("a\x1bb\x00c\td\r", None, "a\u241bb\u2400c\u2192d\u240d"), ("two\nlines", None, "two\nlines"),
    (0.99999, None, "0.99999"), (-0.9999, None, "-0.9999"), (0.0, None, "0"),
    # rounded from the number as it reads, as SQLite rounds: 2.675 is 2.67499999... in binary
    (2.675, None, "2.68"), (-1.005, None, "-1.01"), (999.995, None, "1,000.00"),
    ("1,5", "number", "1,5"), ("1.234,50", "number", "1.234,50"), ("1_000", "number", "1_000"),
    # formats too: no hundreds of digits a float never held
    (1e300, "size", "1e+288 TB"), (-1e300, "percent", "-1e+302 %"), (2.5e12, "size", "2.5 TB"),
    ("1e30", "number", "1e+30"), ("-1.5e20", "number", "-1.5e+20"),
])
def test_cell_display(value, fmt, shown):
    assert display(value, fmt) == shown


def test_slugs():
    assert slugify("Weekly spending (Café)") == "weekly-spending-cafe"
    assert slugify("日本") == "report"


def test_a_range_ending_on_the_last_date_there_is_includes_that_day(home, tmp_path):
    """9999-12-31 has no day after it: :end_ts used to be its own midnight, leaving it out."""
    db = tmp_path / "far.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE t (at REAL)")
    conn.executemany("INSERT INTO t VALUES (?)", [
        (datetime(9999, 12, 30, 12).timestamp(),), (datetime(9999, 12, 31, 0, 0, 1).timestamp(),),
        (datetime(9999, 12, 31, 23, 59).timestamp(),)])
    conn.commit()
    conn.close()
    home.config_file.write_text(f"""
[jobs.far]
kind = "report"
database = '{db}'
period = "9999-12-31..9999-12-31"
formats = ["csv"]
[[jobs.far.sections]]
title = "n"
query = "SELECT count(*) AS n FROM t WHERE at >= :start_ts AND at < :end_ts"
""", encoding="utf-8")
    out = trayjobs(home, "run", "far", "--wait")
    assert out.returncode == 0, out.stdout + out.stderr
    (written,) = (home.reports_dir / "far").glob("far-2*.csv")
    rows = list(csv.reader(written.read_text(encoding="utf-8-sig").splitlines()))
    assert rows == [["n"], ["2"]]
    assert resolve_period("all_time").params()["end_ts"] > datetime(9999, 12, 31, 23, 59).timestamp()
