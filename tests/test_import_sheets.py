"""Spreadsheets: .xlsx, .xlsm, .xls and .ods workbooks, written for real in tmp_path."""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import zipfile
from pathlib import Path

import msoffcrypto.format.ooxml
import openpyxl
import pytest
import xlwt

from test_import_support import KIND, fail, ledger, params, rejected, rows, run, schema, tables

from trayjobs.kinds.importer.sheets import cell_value


def xlsx(path: Path, sheets: dict[str, list[list]], *, merges: dict[str, list[str]] = {},
         start: str = "A1") -> Path:
    """A workbook with ``sheets`` (name -> rows), the first cell of each at ``start``."""
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    col0, row0 = openpyxl.utils.cell.coordinate_from_string(start)
    col0 = openpyxl.utils.column_index_from_string(col0)
    for name, data in sheets.items():
        ws = wb.create_sheet(name)
        for r, values in enumerate(data):
            for c, value in enumerate(values):
                if value is not None:
                    ws.cell(row=row0 + r, column=col0 + c, value=value)
        for cells in merges.get(name, []):
            ws.merge_cells(cells)
    wb.save(path)
    return path


def with_cached_values(path: Path, values: dict[str, str]) -> Path:
    """Put the value a spreadsheet program would have saved beside each formula."""
    out = io.BytesIO()
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename.startswith("xl/worksheets/"):
                text = data.decode()
                for ref, value in values.items():
                    text = re.sub(rf'(<c r="{ref}"[^>]*>)(<f>[^<]*</f>)<v ?/>',
                                  rf"\g<1>\g<2><v>{value}</v>", text)
                data = text.encode()
            dst.writestr(item, data)
    path.write_bytes(out.getvalue())
    return path


def ods(path: Path, rows_xml: str, *, name: str = "Sheet1") -> Path:
    """A minimal OpenDocument spreadsheet: ``rows_xml`` is the table's rows."""
    content = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
        f'<office:body><office:spreadsheet><table:table table:name="{name}">{rows_xml}'
        '</table:table></office:spreadsheet></office:body></office:document-content>')
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
        'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
        '<manifest:file-entry manifest:full-path="/" manifest:media-type='
        '"application/vnd.oasis.opendocument.spreadsheet"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
        '</manifest:manifest>')
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.spreadsheet")
        z.writestr("META-INF/manifest.xml", manifest)
        z.writestr("content.xml", content)
    return path


def ods_row(*cells: str) -> str:
    return "<table:table-row>" + "".join(cells) + "</table:table-row>"


def s(text: str) -> str:
    return f'<table:table-cell office:value-type="string"><text:p>{text}</text:p></table:table-cell>'


def n(value: float) -> str:
    return f'<table:table-cell office:value-type="float" office:value="{value}"/>'


SHOP = [["id", "name", "price"], [1, "Zoë", 2.5], [2, "Ünal €", None]]
SHOP_ROWS = [{"id": 1, "name": "Zoë", "price": 2.5}, {"id": 2, "name": "Ünal €", "price": None}]


# -- sheets and tables -----------------------------------------------------------------------

def test_first_sheet_by_default_with_the_file_name_as_table(make_ctx, home, tmp_path):
    path = xlsx(tmp_path / "Shop 2024.xlsx", {"Items": SHOP, "Other": [["x"], [1]]})
    result, ctx = run(make_ctx, path)
    assert result["summary"] == "2 rows imported into shop_2024"
    assert rows(home, "shop_2024") == SHOP_ROWS
    assert schema(home, "shop_2024") == {"id": "INTEGER", "name": "TEXT", "price": "REAL",
                                         "_import_id": "INTEGER"}
    assert "Shop 2024.xlsx [Items]: XLSX, sheet 1 'Items' -> table shop_2024" in ctx.sink.logs
    assert "shop_2024_other" not in tables(home)



def test_by_default_hidden_sheets_and_chart_sheets_are_passed_over(make_ctx, home, tmp_path):
    # The sheet the spreadsheet program opens on, not a hidden lookup list before it.
    path = xlsx(tmp_path / "book.xlsx", {"Lookup": [["code"], [7]], "Items": SHOP})
    wb = openpyxl.load_workbook(path)
    wb["Lookup"].sheet_state = "hidden"
    wb.create_chartsheet("Chart", 0)
    wb.save(path)
    result, ctx = run(make_ctx, path)
    assert rows(home, "book") == SHOP_ROWS
    assert "book.xlsx [Items]: XLSX, sheet 3 'Items' -> table book" in ctx.sink.logs
    run(make_ctx, path, run_id=2, table="by_number", sheet=2)  # a number counts every sheet
    assert rows(home, "by_number") == [{"code": 7}]

def test_star_takes_every_non_empty_sheet_into_its_own_table(make_ctx, home, tmp_path):
    path = xlsx(tmp_path / "book.xlsx", {"Items": SHOP, "Q1 - 2024": [["a"], [1], [2]],
                                         "Empty": [], "q1 2024": [["b"], ["x"]]})
    result, ctx = run(make_ctx, path, sheet="*")
    assert result["summary"] == "5 rows imported into book_items, book_q1_2024, book_q1_2024_2"
    assert rows(home, "book_items") == SHOP_ROWS
    assert rows(home, "book_q1_2024") == [{"a": 1}, {"a": 2}]
    assert rows(home, "book_q1_2024_2") == [{"b": "x"}]
    assert not {t for t in tables(home) if "empty" in t}
    # One ledger entry per sheet, each with its own import id on its rows.
    assert [(e["table"], e["rows"], e["format"]) for e in ledger(home)] == [
        ("book_items", 2, "xlsx"), ("book_q1_2024", 2, "xlsx"), ("book_q1_2024_2", 1, "xlsx")]
    [file] = result["files"]
    assert [s["details"]["sheet"] for s in file["details"]["sheets"]] == [
        "Items", "Q1 - 2024", "q1 2024"]
    assert result["imports"] == [1, 2, 3]
    # With a job table, that is the prefix.
    run(make_ctx, path, run_id=2, sheet="*", table="Stock", reimport=True)
    assert {"Stock_items", "Stock_q1_2024"} <= tables(home)


def test_sheet_by_number_and_by_name(make_ctx, home, tmp_path):
    path = xlsx(tmp_path / "book.xlsx", {"One": [["a"], [1]], "Two": [["b"], [2]]})
    run(make_ctx, path, sheet=2, table="by_number")
    assert rows(home, "by_number") == [{"b": 2}]
    run(make_ctx, path, run_id=2, sheet="One", table="by_name")
    assert rows(home, "by_name") == [{"a": 1}]
    run(make_ctx, path, run_id=3, sheet="two", table="any_case")
    assert rows(home, "any_case") == [{"b": 2}]
    err, _ = fail(make_ctx, path, run_id=4, sheet="Three")
    assert str(err) == "book.xlsx: there is no sheet 'Three': the sheets are 'One', 'Two'"
    err, _ = fail(make_ctx, path, run_id=5, sheet=3)
    assert str(err) == "book.xlsx: there is no sheet 3: the workbook has 2 ('One', 'Two')"


def test_an_empty_first_sheet_names_the_sheets_that_hold_data(make_ctx, home, tmp_path):
    # A blank "Sheet1" left before the data: the file failed with "sheet 'Sheet1' is
    # empty" alone, which said neither where the data was nor how to take it.
    path = xlsx(tmp_path / "book.xlsx", {"Sheet1": [], "Sales": [["a"], [1]],
                                         "Notes": [], "Stock": [["b"], [2]]})
    err, _ = fail(make_ctx, path)
    assert str(err) == ("book.xlsx [Sheet1]: sheet 'Sheet1', the first the workbook shows, "
                        "is empty; the sheets with data are 'Sales', 'Stock': set sheet = "
                        "\"Sales\" for the job (or the name of another), or sheet = \"*\" to "
                        "import each into a table of its own")
    run(make_ctx, path, run_id=2, sheet="Sales")
    assert rows(home, "book") == [{"a": 1}]
    # A sheet asked for by name that is empty says just that; so does a workbook of
    # empty sheets.
    err, _ = fail(make_ctx, path, run_id=3, sheet="Notes", table="notes")
    assert str(err) == "book.xlsx [Notes]: sheet 'Notes' is empty"
    one = xlsx(tmp_path / "one.xlsx", {"Sheet1": [], "Data": [["a"], [1]]})
    err, _ = fail(make_ctx, one, run_id=5)
    assert str(err) == ("one.xlsx [Sheet1]: sheet 'Sheet1', the first the workbook shows, is "
                        "empty; the sheet with data is 'Data': set sheet = \"Data\" for the job")
    blank = xlsx(tmp_path / "blank.xlsx", {"Sheet1": [], "Sheet2": []})
    err, _ = fail(make_ctx, blank, run_id=4)
    assert str(err) == ("blank.xlsx [Sheet1]: every sheet of the workbook is empty ('Sheet1', "
                        "'Sheet2')")


@pytest.mark.parametrize("kw, message", [
    ({"sheet": 0}, "sheets are numbered from 1"),
    ({"sheet": ""}, "sheet must not be empty"),
    ({"sheet": True}, "sheet is a name, a number"),
    ({"format": "csv", "sheet": 1}, "sheet applies to spreadsheets, not to csv"),
    ({"header_row": 2, "header": False}, "with header = false there is none"),
])
def test_sheet_keys_are_checked(kw, message):
    with pytest.raises(ValueError, match=message):
        params(**kw)


# -- cells -------------------------------------------------------------------------------

def test_dates_times_durations_booleans_and_numbers(make_ctx, home, tmp_path):
    path = xlsx(tmp_path / "cells.xlsx", {"S": [
        ["n", "x", "when", "day", "at", "took", "ok", "big"],
        [1, 1.0, dt.datetime(2024, 1, 5, 13, 30, 15), dt.date(2024, 2, 29), dt.time(8, 15),
         dt.timedelta(days=1, hours=2, minutes=3), True, 2**60],
        [2.0, 2.25, dt.datetime(2024, 1, 6, 0, 0, 1, 500000), dt.date(1999, 12, 31),
         dt.time(0, 0, 1, 500000), dt.timedelta(seconds=1.5), False, 12345678901],
    ]})
    run(make_ctx, path)
    assert rows(home, "cells") == [
        {"n": 1, "x": 1.0, "when": "2024-01-05T13:30:15", "day": "2024-02-29", "at": "08:15:00",
         "took": "PT26H3M", "ok": 1, "big": float(2**60)},
        {"n": 2, "x": 2.25, "when": "2024-01-06T00:00:01.500", "day": "1999-12-31",
         "at": "00:00:01.500", "took": "PT1.5S", "ok": 0, "big": 12345678901}]
    assert schema(home, "cells") == {"n": "INTEGER", "x": "REAL", "when": "TEXT", "day": "TEXT",
                                     "at": "TEXT", "took": "TEXT", "ok": "INTEGER",
                                     "big": "REAL", "_import_id": "INTEGER"}


@pytest.mark.parametrize("value, stored", [
    ("", None), ("x", "x"), (3.0, 3), (-0.5, -0.5), (1e300, 1e300), (True, True),
    (dt.timedelta(0), "PT0S"), (dt.timedelta(hours=-1, seconds=-2), "-PT1H2S"),
    (dt.timedelta(minutes=90), "PT1H30M"), (dt.datetime(2024, 3, 1, 9), "2024-03-01T09:00:00"),
])
def test_cell_values(value, stored):
    assert cell_value(value) == stored


def test_formulas_give_their_cached_values(make_ctx, home, tmp_path):
    path = xlsx(tmp_path / "f.xlsx", {"S": [["a", "twice", "label", "never"],
                                            [21, "=A2*2", '=IF(A2>1,"big","small")', "=A2+1"]]})
    with_cached_values(path, {"B2": "42", "C2": "big"})  # D2: never calculated
    text = zipfile.ZipFile(path).read("xl/worksheets/sheet1.xml").decode()
    assert "<f>A2*2</f><v>42</v>" in text
    run(make_ctx, path)
    assert rows(home, "f") == [{"a": 21, "twice": 42, "label": "big", "never": None}]


def test_merged_cells_take_the_top_left_value(make_ctx, home, tmp_path):
    path = xlsx(tmp_path / "m.xlsx", {"S": [
        ["region", "city", "sales"],
        ["North", "Oslo", 10],
        [None, "Bergen", 20],
        ["South", "Rome", 30],
        ["see notes", None, 40],
    ]}, merges={"S": ["A2:A3", "A5:B5"]})
    run(make_ctx, path)
    assert rows(home, "m") == [
        {"region": "North", "city": "Oslo", "sales": 10},
        {"region": "North", "city": "Bergen", "sales": 20},
        {"region": "South", "city": "Rome", "sales": 30},
        {"region": "see notes", "city": "see notes", "sales": 40}]


def test_title_rows_are_skipped_and_row_numbers_are_the_sheets(make_ctx, home, tmp_path):
    # The table starts at C5 below a merged title and a note; the header is row 5.
    path = xlsx(tmp_path / "t.xlsx", {"S": [
        ["Sales report 2024", None, None, None],
        ["made on", dt.date(2024, 3, 1), None, None],
        [None, None, None, None],
        ["id", "item", "qty", "note"],
        [1, "pen", 3, None],
        ["two", "ink", 5, "late"],
    ]}, merges={"S": ["C1:F1"]}, start="C2")
    result, ctx = run(make_ctx, path, types={"id": "integer"})
    assert rows(home, "t") == [{"id": 1, "item": "pen", "qty": 3, "note": None}]
    [bad] = rejected(home)
    assert bad["line"] == 7 and bad["table"] == "t"
    assert bad["raw"] == '{"id": "two", "item": "ink", "qty": 5, "note": "late"}'
    # Told where the header is: the row above is data no more.
    run(make_ctx, path, run_id=2, table="from_row_3", header_row=3)
    assert rows(home, "from_row_3")[0] == {"made on": "id", "2024-03-01": "item",
                                          "column_3": "qty", "column_4": "note"}
    err, _ = fail(make_ctx, path, run_id=3, table="x", header_row=4)
    assert str(err) == ("t.xlsx [S]: row 4 of sheet 'S' is empty; set header_row to the row "
                        "that holds the column names")


def test_a_header_narrower_than_its_rows_left_out_as_a_title_is_said(make_ctx, home, tmp_path):
    # Three names over rows of eight cells: the heuristic takes the first data row for the
    # header; the row it left out is named, with the setting that keeps it.
    path = xlsx(tmp_path / "n.xlsx", {"S": [["id", "name", "note"]] +
                                           [[i, f"n{i}", "x", 1, 2, 3, 4, 5] for i in range(4)]})
    result, _ = run(make_ctx, path)
    warning = ("n.xlsx [S]: row 1 ('id', 'name', 'note') was taken for a title above the "
               "table and left out; if it holds the column names, set header_row = 1")
    assert warning in result["warnings"]
    preview = KIND.run(make_ctx(files=[path], dry_run=True), params())
    assert warning.split(": ", 1)[1] in preview["files"][0]["notes"]
    run(make_ctx, path, run_id=2, table="kept", header_row=1)
    assert len(rows(home, "kept")) == 4
    # A title line (even with a date beside it) is left out without a word.
    titled = xlsx(tmp_path / "t.xlsx", {"S": [["Sales 2024", dt.date(2024, 3, 1)],
                                              ["id", "item", "qty"], [1, "pen", 3]]})
    result, _ = run(make_ctx, titled, run_id=3)
    assert not result.get("warnings")


def test_no_header_names_columns_by_position(make_ctx, home, tmp_path):
    path = xlsx(tmp_path / "nh.xlsx", {"S": [[1, "a"], [2, "b"]]})
    run(make_ctx, path, header=False)
    assert rows(home, "nh") == [{"column_1": 1, "column_2": "a"}, {"column_1": 2, "column_2": "b"}]


def test_empty_rows_and_trailing_empty_columns_are_ignored(make_ctx, home, tmp_path):
    path = xlsx(tmp_path / "e.xlsx", {"S": [["a", "b", None, None], [1, 2, None, None],
                                            [None] * 4, [3, 4, "", ""], [None] * 4]})
    wb = openpyxl.load_workbook(path)
    ws = wb["S"]
    ws["H40"].number_format = "0.00"  # formatting far below and to the right, no value
    ws["G30"] = ""
    wb.save(path)
    run(make_ctx, path)
    assert rows(home, "e") == [{"a": 1, "b": 2}, {"a": 3, "b": 4}]
    # A value right of the header gets a column of its own.
    path = xlsx(tmp_path / "wide.xlsx", {"S": [["a", "b"], [1, 2, None, "x"]]})
    _, ctx = run(make_ctx, path, run_id=2)
    assert rows(home, "wide") == [{"a": 1, "b": 2, "column_3": None, "column_4": "x"}]


# -- other formats ---------------------------------------------------------------------------


def test_a_stray_value_far_right_of_the_table_is_named_where_it_is(make_ctx, home, tmp_path):
    path = xlsx(tmp_path / "w.xlsx", {"Items": [["a", "b"], [1, 2], [3, 4]]})
    wb = openpyxl.load_workbook(path)
    wb["Items"].cell(row=3, column=2500, value="oops")
    wb.save(path)
    err, _ = fail(make_ctx, path, table="t")
    assert str(err).startswith(
        "w.xlsx [Items]: the file has 2,500 columns (row 3 has a value in column CRD, right "
        "of the 2 columns of the header in row 1: if it is a stray cell, delete it): more "
        "than the 2,000 a SQLite table can hold")
    err, _ = fail(make_ctx, path, run_id=2, table="t", header=False)
    assert str(err).startswith("w.xlsx [Items]: the file has 2,500 columns: more than")
    assert "t" not in tables(home)

def test_xls(make_ctx, home, tmp_path):
    book = xlwt.Workbook()
    sheet = book.add_sheet("Old")
    dates = xlwt.easyxf(num_format_str="YYYY-MM-DD")
    for c, name in enumerate(["id", "name", "day", "ok", "price"]):
        sheet.write(0, c, name)
    sheet.write(1, 0, 1), sheet.write(1, 1, "Zoë"), sheet.write(1, 2, dt.date(2024, 2, 29), dates)
    sheet.write(1, 3, True), sheet.write(1, 4, 2.5)
    sheet.write(2, 0, 2), sheet.write(2, 1, "Ünal"), sheet.write(2, 2, dt.date(2023, 1, 1), dates)
    sheet.write(2, 3, False)
    sheet.write(3, 0, 3), sheet.write_merge(3, 3, 1, 2, "merged")
    path = tmp_path / "old.xls"
    book.save(str(path))
    result, ctx = run(make_ctx, path)
    assert result["summary"] == "3 rows imported into old"
    assert rows(home, "old") == [
        {"id": 1, "name": "Zoë", "day": "2024-02-29", "ok": 1, "price": 2.5},
        {"id": 2, "name": "Ünal", "day": "2023-01-01", "ok": 0, "price": None},
        {"id": 3, "name": "merged", "day": "merged", "ok": None, "price": None}]
    assert "old.xls [Old]: XLS, sheet 1 'Old' -> table old" in ctx.sink.logs


def test_ods(make_ctx, home, tmp_path):
    path = ods(tmp_path / "calc.ods", "".join([
        ods_row(s("id"), s("name"), s("day"), s("ok")),
        ods_row(n(1), s("Zoë"),
                '<table:table-cell office:value-type="date" office:date-value="2024-02-29"/>',
                '<table:table-cell office:value-type="boolean" office:boolean-value="true"/>'),
        ods_row(n(2.5), s("Ünal"), "<table:table-cell/>",
                '<table:table-cell office:value-type="boolean" office:boolean-value="false"/>'),
        '<table:table-row table:number-rows-repeated="1000"><table:table-cell '
        'table:number-columns-repeated="50"/></table:table-row>',
    ]), name="Calc")
    result, _ = run(make_ctx, path)
    assert result["summary"] == "2 rows imported into calc"
    assert rows(home, "calc") == [{"id": 1, "name": "Zoë", "day": "2024-02-29", "ok": 1},
                                  {"id": 2.5, "name": "Ünal", "day": None, "ok": 0}]


def test_error_cells_are_stored_as_empty_and_named_in_a_warning(make_ctx, home, tmp_path):
    # calamine reads #DIV/0! as an empty cell: the warning says which cells were errors.
    book = xlsx(tmp_path / "err.xlsx", {"Intro": [["x"], [1]], "Data": [
        ["id", "ratio", "look"], [1, 0.5, "x"], [2, "#DIV/0!", "#N/A"], [3, 1.5, "#REF!"]]})
    result, _ = run(make_ctx, book, sheet="Data")
    assert rows(home, "err", "ratio, look") == [{"ratio": 0.5, "look": "x"},
                                                {"ratio": None, "look": None},
                                                {"ratio": 1.5, "look": None}]
    assert result["files"][0]["warnings"] == [
        "err.xlsx [Data]: 3 cells hold an error value instead of a result (B3 (#DIV/0!), "
        "C3 (#N/A), C4 (#REF!)), stored as empty (NULL): fix the formulas in the spreadsheet "
        "and save it to import the values"]
    result, _ = run(make_ctx, book, run_id=2, table="intro", sheet="Intro")  # none there
    assert result["files"][0]["warnings"] == []
    error = ('<table:table-cell xmlns:calcext="urn:org:documentfoundation:names:experimental:'
             'calc:xmlns:calcext:1.0" table:formula="of:=1/0" office:value-type="string" '
             'office:string-value="" calcext:value-type="error"{}><text:p>#DIV/0!</text:p>'
             '</table:table-cell>')
    path = ods(tmp_path / "calc.ods", "".join([
        ods_row(s("id"), s("a"), s("b")),
        '<table:table-row table:number-rows-repeated="2">' + n(1) + n(2) + n(3) + "</table:table-row>",
        ods_row(n(4), error.format(' table:number-columns-repeated="2"'))]), name="Calc")
    result, _ = run(make_ctx, path, run_id=3)
    assert rows(home, "calc", "id, a, b")[-1] == {"id": 4, "a": None, "b": None}
    assert result["files"][0]["warnings"] == [
        "calc.ods [Calc]: 2 cells hold an error value instead of a result (B4 (#DIV/0!), "
        "C4 (#DIV/0!)), stored as empty (NULL): fix the formulas in the spreadsheet and "
        "save it to import the values"]


def test_xlsm_and_a_misnamed_workbook(make_ctx, home, tmp_path):
    path = xlsx(tmp_path / "macro.xlsm", {"S": SHOP})
    run(make_ctx, path)
    assert rows(home, "macro") == SHOP_ROWS
    other = tmp_path / "export.dat"
    other.write_bytes(path.read_bytes())
    err, _ = fail(make_ctx, other, run_id=2)
    assert "a spreadsheet? name it .xlsx or .ods, or set format" in str(err)
    run(make_ctx, other, run_id=3, format="xlsx")
    assert rows(home, "export") == SHOP_ROWS
    # A name that is not UTF-8 (calamine opens only paths that are).
    odd = tmp_path / os.fsdecode(b"b\xf6ok.xlsx")
    odd.write_bytes(path.read_bytes())
    run(make_ctx, odd, run_id=4, table="odd")
    assert rows(home, "odd") == SHOP_ROWS


def test_an_xls_that_is_really_csv_is_read_as_csv(make_ctx, home, tmp_path):
    path = tmp_path / "bank.xls"
    path.write_text("id;amount\n1;2.5\n")
    result, ctx = run(make_ctx, path)
    assert rows(home, "bank") == [{"id": 1, "amount": 2.5}]
    assert any(m.startswith("bank.xls: CSV, UTF-8") for m in ctx.sink.logs)


# -- the ledger, undo, preview, progress -----------------------------------------------------

def test_same_workbook_again_is_skipped_and_undo_removes_every_sheet(make_ctx, home, tmp_path):
    path = xlsx(tmp_path / "book.xlsx", {"A": [["a"], [1]], "B": [["b"], [2], [3]]})
    first, _ = run(make_ctx, path, sheet="*")
    again, ctx = run(make_ctx, path, run_id=2, sheet="*")
    assert again["summary"] == "0 rows imported; 1 file already imported"
    assert rows(home, "book_b") == [{"b": 2}, {"b": 3}]
    assert sum("already imported: same content as book.xlsx" in m for m in ctx.sink.logs) == 2
    # The same run once more (a retry) finds both sheets done: nothing doubles.
    retry, _ = run(make_ctx, path, sheet="*")
    assert retry["rows"] == 3 and rows(home, "book_a") == [{"a": 1}]
    done = KIND.undo(make_ctx(run_id=99), params(), {"id": 1, "job": "job", "result": first})
    assert done["summary"] == "removed 3 rows from book_a, book_b (2 files)"
    assert rows(home, "book_a") == [] and rows(home, "book_b") == [] and ledger(home) == []


def test_preview_shows_each_sheet_and_writes_nothing(make_ctx, home, tmp_path):
    path = xlsx(tmp_path / "pv.xlsx", {"Items": SHOP, "More": [["when"], [dt.date(2024, 1, 2)]]})
    ctx = make_ctx(files=[path], dry_run=True)
    result = KIND.run(ctx, params(sheet="*"))
    assert result["summary"] == ("preview of pv.xlsx [Items]: 3 columns, 2 rows read, 0 would be "
                                 "rejected -> table pv_items")
    items, more = result["files"]
    assert items["types"] == {"id": "integer", "name": "text", "price": "real"}
    assert items["sample"] == SHOP_ROWS and items["sheet"] == "Items"
    assert more["table"] == "pv_more" and more["sample"] == [{"when": "2024-01-02"}]
    assert not Path(home.default_data_db).exists()


def test_progress_counts_rows_of_each_sheet(make_ctx, home, tmp_path):
    data = [["i"]] + [[i] for i in range(50)]
    path = xlsx(tmp_path / "p.xlsx", {"S": data})
    _, ctx = run(make_ctx, path, batch_size=10)
    messages = [m["message"] for m in ctx.sink.of("progress")]
    assert messages[0] == "10 of 51 rows · p.xlsx [S]"
    last = ctx.sink.of("progress")[-1]
    assert last["done"] == last["total"] == path.stat().st_size


# -- bad workbooks ---------------------------------------------------------------------------

def test_a_password_protected_workbook_fails_clearly(make_ctx, home, tmp_path):
    plain = xlsx(tmp_path / "plain.xlsx", {"S": SHOP})
    out = io.BytesIO()
    with open(plain, "rb") as f:
        msoffcrypto.format.ooxml.OOXMLFile(f).encrypt("secret", out)
    path = tmp_path / "locked.xlsx"
    path.write_bytes(out.getvalue())
    err, ctx = fail(make_ctx, path, failed_dir="failed")
    assert str(err) == ("locked.xlsx: the workbook is password-protected; save it without a "
                        "password")
    assert (tmp_path / "failed" / "locked.xlsx").exists()
    assert "locked" not in tables(home)


@pytest.mark.parametrize("name", ["cut.xlsx", "cut.ods", "cut.xls"])
def test_a_damaged_workbook_fails_clearly(make_ctx, home, tmp_path, name):
    if name.endswith(".xls"):
        book = xlwt.Workbook()
        book.add_sheet("S").write(0, 0, "a")
        good = tmp_path / "good.xls"
        book.save(str(good))
    elif name.endswith(".ods"):
        good = ods(tmp_path / "good.ods", ods_row(s("a")) + ods_row(n(1)))
    else:
        good = xlsx(tmp_path / "good.xlsx", {"S": SHOP})
    data = good.read_bytes()
    path = tmp_path / name
    path.write_bytes(data[:len(data) // 2])
    err, ctx = fail(make_ctx, path)
    assert str(err).startswith(f"{name}: the workbook is damaged or not a spreadsheet: ")
    assert "Traceback" not in str(err)
    assert ledger(home) == [] if Path(home.default_data_db).exists() else True


def test_one_bad_sheet_fails_the_file_but_not_the_other_sheets(make_ctx, home, tmp_path):
    path = xlsx(tmp_path / "book.xlsx", {"A": [["id"], [1]], "B": [["other"], [2]]})
    err, ctx = fail(make_ctx, path, sheet="*", pk=["id"])
    assert str(err) == ("book.xlsx [B]: there is no column 'id' for the primary key (pk); "
                        "the columns are: other")
    assert rows(home, "book_a") == [{"id": 1}] and "book_b" not in tables(home)
