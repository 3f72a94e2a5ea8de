"""Malformed input the forgiving readers would take silently: the user is told, with the
line or record, and nothing of the file is lost or changed on the way in."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from test_import_support import fail, rejected, rows, run, tables, write


STRAY = ('id,name,note\n'
         '1,"abc"def",x\n'
         '2,"ok, fine",y\n'
         '3,"spaced" ,z\n'
         '4,"two\nlines"tail,w\n'
         '5,plain"quote,v\n')


def test_text_after_a_closing_quote_rejects_the_row_as_written(make_ctx, home, tmp_path):
    # The csv module (and so csvkit, sqlite-utils, pandas) reads "abc"def" as abcdef"
    # without a word: a row with a doubtful field is set aside like one with too many fields.
    result, _ = run(make_ctx, write(tmp_path / "q.csv", STRAY))
    assert result["summary"] == "3 rows imported into q, 2 rejected (table _rejected)"
    assert rows(home, "q") == [{"id": 2, "name": "ok, fine", "note": "y"},
                               {"id": 3, "name": "spaced ", "note": "z"},
                               {"id": 5, "name": 'plain"quote', "note": "v"}]
    reason = ("text after the closing quote of a quoted field ({}): a quote inside a quoted "
              "field must be doubled (\"\"), so what the field holds is not certain; if the file "
              "quotes no field (its quotes are all text), set quotechar = \"\"")
    assert rejected(home) == [
        {"file": "q.csv", "line": 2, "reason": reason.format('"abc"def"'),
         "raw": '1,"abc"def",x', "table": "q"},
        {"file": "q.csv", "line": 5, "reason": reason.format('lines"tail'),
         "raw": '4,"two\nlines"tail,w', "table": "q"}]


def test_a_quote_escaped_with_a_backslash_is_named_so(make_ctx, home, tmp_path):
    # MySQL's and PHP's exports write \" for a quote in a field: every such row was set
    # aside saying quotes must be doubled, as if the file were broken by hand.
    text = 'id,note\n1,"say \\"hi\\" now"\n2,"plain"\n'
    run(make_ctx, write(tmp_path / "b.csv", text))
    assert rows(home, "b") == [{"id": 2, "note": "plain"}]
    [bad] = rejected(home)
    assert bad["reason"] == (
        'text after the closing quote of a quoted field ("say \\"hi\\" now"): a quote inside '
        'a quoted field must be doubled (""); this one is escaped with a backslash (\\"), as '
        'some exports (MySQL, PHP) write: export the file again with quotes doubled (MySQL: '
        'FIELDS ESCAPED BY \'\'), or correct the rows set aside (Data page: Fix and '
        're-import)')
    assert bad["raw"] == '1,"say \\"hi\\" now"'


def test_text_after_a_closing_quote_fails_the_file_when_bad_rows_do(make_ctx, home, tmp_path):
    err, _ = fail(make_ctx, write(tmp_path / "q.csv", STRAY), on_bad_rows="fail")
    assert str(err).startswith('q.csv: line 2: text after the closing quote of a quoted '
                               'field ("abc"def")')


def test_a_stray_quote_through_the_cli(home, write_config, tmp_path):
    from helpers import trayjobs

    write_config("""
        [jobs.q]
        kind = "import"
        table = "t"
        processed_dir = "leave"
    """)
    path = write(tmp_path / "q.csv", 'id;name\r\n1;"a"b"\r\n2;"c"\r\n')
    done = trayjobs(home, "run", "q", "--file", str(path), "--wait")
    assert done.returncode == 0, done.stderr
    assert "1 row imported into t, 1 rejected" in done.stderr
    assert rows(home, "t") == [{"id": 2, "name": "c"}]
    assert [(r["line"], r["raw"]) for r in rejected(home)] == [(2, '1;"a"b"')]


@pytest.mark.parametrize("name, content, lines", [
    ("d.ndjson", '{"id": 1, "q": 5}\n{"id": 2, "q": 6, "q": 7}\n{"id": 3, "q": 8}\n'
                 '{"id": 4, "q": 9, "id": 5}\n', [2, 4]),
    ("d.json", '[{"id": 1, "q": 5},\n {"id": 2, "q": 6,\n  "q": 7},\n {"id": 3, "q": 8},\n'
               ' {"id": 4, "q": 9, "id": 5}]', [2, 5]),
])
def test_a_key_given_twice_in_a_record_is_named_in_a_warning(make_ctx, home, tmp_path, name,
                                                            content, lines):
    result, _ = run(make_ctx, write(tmp_path / name, content))
    # The last value is kept, as every JSON reader keeps it; the lost one is said.
    assert rows(home, "d") == [{"id": 1, "q": 5}, {"id": 2, "q": 7}, {"id": 3, "q": 8},
                               {"id": 5, "q": 9}]
    assert result["warnings"] == [
        f"{name}: 2 records give a key twice in one object: line {lines[0]} ('q'), line "
        f"{lines[1]} ('id'); only the last value of such a key is imported, the earlier one "
        f"is lost"]


@pytest.mark.parametrize("line", ['{"id": 2, "q" : 6, "q": 7}', '{"id": 2, "q": 6, "q"\t:7}'])
def test_a_key_given_twice_with_blanks_before_its_colon_is_named_too(make_ctx, home, tmp_path,
                                                                     line):
    result, _ = run(make_ctx, write(tmp_path / "d.ndjson", '{"id": 1, "q": 5}\n' + line + "\n"))
    assert rows(home, "d") == [{"id": 1, "q": 5}, {"id": 2, "q": 7}]
    assert "1 record gives a key twice in one object: line 2 ('q')" in result["warnings"][0]


def test_a_string_holding_a_quote_and_a_colon_is_no_key(make_ctx, home, tmp_path):
    result, _ = run(make_ctx, write(tmp_path / "s.ndjson", '{"id": 1, "note": "say \\":\\" "}\n'))
    assert rows(home, "s") == [{"id": 1, "note": 'say ":" '}]
    assert "warnings" not in result


def test_a_clean_json_file_has_no_duplicate_key_warning(make_ctx, home, tmp_path):
    result, _ = run(make_ctx, write(tmp_path / "c.ndjson", '{"a": {"b": 1}, "b": 2}\n'))
    assert "warnings" not in result


@pytest.mark.parametrize("table, prefix", [(None, "book"), ("t", "t")])
def test_the_rejected_rows_of_each_sheet_go_back_into_that_sheets_table(make_ctx, home, tmp_path,
                                                                        table, prefix):
    # With sheet = "*" each sheet has a table of its own: its fix file must go back there,
    # not into the table the file's (or the job's) name gives, and not share one fix file.
    import openpyxl

    from test_import_support import ledger
    from trayjobs.kinds.importer.browse import write_fix_file

    path = tmp_path / "book.xlsx"
    book = openpyxl.Workbook()
    book.active.title = "Sales"
    for row in (["id", "q"], [1, 5], [2, "lots"]):
        book.active.append(row)
    costs = book.create_sheet("Costs")
    for row in (["id", "q"], [7, "many"], [8, 9]):
        costs.append(row)
    book.save(path)
    settings = {"sheet": "*", "types": {"q": "integer"}, "table": table}
    run(make_ctx, path, **settings)
    fixes = [write_fix_file(home.default_data_db, entry, path) for entry in ledger(home)]
    assert [f.name for f in fixes] == [f"{prefix}_sales.jsonl", f"{prefix}_costs.jsonl"]
    for fix, value in zip(fixes, ("3", "4")):
        fix.write_text(fix.read_text(encoding="utf-8").replace('"lots"', value)
                       .replace('"many"', value), encoding="utf-8")
        run(make_ctx, fix, run_id=2, **settings)
    assert rows(home, f"{prefix}_sales") == [{"id": 1, "q": 5}, {"id": 2, "q": 3}]
    assert rows(home, f"{prefix}_costs") == [{"id": 8, "q": 9}, {"id": 7, "q": 4}]
    assert prefix not in tables(home)


def test_xls_error_cells_are_named_in_a_warning_as_in_xlsx(make_ctx, home, tmp_path):
    # calamine reads an .xls error cell as empty, as it reads an .xlsx one: say so too.
    import re

    import xlwt

    book = xlwt.Workbook()
    book.add_sheet("Intro").write(0, 0, "x")
    sheet = book.add_sheet("Data")
    for c, name in enumerate(["id", "ratio"]):
        sheet.write(0, c, name)
    sheet.write(1, 0, 1), sheet.row(1).set_cell_error(1, "#DIV/0!")  # typed in as such
    sheet.write(2, 0, 2), sheet.write(2, 1, xlwt.Formula("1/0"))
    sheet.write(3, 0, 3), sheet.row(3).set_cell_error(1, 0x2A)  # #N/A
    sheet.write(4, 0, 4), sheet.write(4, 1, 0.5)
    path = tmp_path / "e.xls"
    book.save(str(path))
    # xlwt saves no result for the formula: give it the #DIV/0! that Excel would save.
    data = bytearray(path.read_bytes())
    record = re.compile(rb"\x06\x00..\x02\x00\x01\x00", re.S)  # the FORMULA record of B3
    at = record.search(data).end() + 2  # past its format index: the saved result
    data[at:at + 8] = b"\x02\x00\x07\x00\x00\x00\xff\xff"
    path.write_bytes(bytes(data))
    result, _ = run(make_ctx, path, sheet="Data")
    assert rows(home, "e", "ratio") == [{"ratio": None}] * 3 + [{"ratio": 0.5}]
    assert result["files"][0]["warnings"] == [
        "e.xls [Data]: 3 cells hold an error value instead of a result (B2 (#DIV/0!), "
        "B3 (#DIV/0!), B4 (#N/A)), stored as empty (NULL): fix the formulas in the "
        "spreadsheet and save it to import the values"]
    result, _ = run(make_ctx, path, run_id=2, sheet="Intro", table="intro")  # none there
    assert result["files"][0]["warnings"] == []


def test_a_raw_control_character_in_a_json_string_is_named(make_ctx, home, tmp_path):
    # The json module says "Invalid control character at", the place given apart.
    err, _ = fail(make_ctx, write(tmp_path / "n.json", '[{"a": 1},\n {"a": "x\x00y"}]'))
    assert str(err) == ("n.json: line 2, column 10: not valid JSON: a raw NUL byte inside a "
                        "string, which JSON only allows written as an escape (\\t, \\n, "
                        "\\u0000)")
    run(make_ctx, write(tmp_path / "t.ndjson", '{"a": "x\ty"}\n{"a": 2}\n'))
    assert [r["reason"] for r in rejected(home)] == [
        "not valid JSON: a raw tab inside a string, which JSON only allows written as an "
        "escape (\\t, \\n, \\u0000) (column 9)"]


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
@pytest.mark.parametrize("text", ["ид,имя\n1,Анна\n2,Юлия\n",
                                  "品名,産地\nりんご,青森\nみかん,愛媛\n"])
def test_utf16_without_a_bom_is_read_whatever_its_script(make_ctx, home, tmp_path, codec, text):
    # Latin text in UTF-16 has a zero byte in every other place; Cyrillic or Japanese text
    # has few, and was refused as "binary data".
    _, ctx = run(make_ctx, write(tmp_path / "u.csv", text, encoding=codec))
    header, *lines = text.splitlines()
    got = rows(home, "u", ", ".join(f'CAST("{n}" AS TEXT)' for n in header.split(",")))
    assert [tuple(r.values()) for r in got] == [tuple(line.split(",")) for line in lines]
    assert any(f"{codec.upper()} (no BOM)" in m for m in ctx.sink.logs)


def test_a_sheet_whose_header_row_is_blank_says_its_first_row_became_the_header(make_ctx, home,
                                                                              tmp_path):
    # Cells of spaces read as empty, so the blank header row is passed over like an empty
    # row, and the first row of data made the column names without a word.
    import openpyxl

    path = tmp_path / "s.xlsx"
    book = openpyxl.Workbook()
    for row in ([" ", "  "], [1, 2.5], [3, 4]):
        book.active.append(row)
    book.save(path)
    result, _ = run(make_ctx, path)
    assert result["files"][0]["warnings"] == [
        "s.xlsx [Sheet]: row 2 (1, 2.5) was taken for the header, but holds numbers only: if "
        "it is a row of data (the header row above it blank, or none), set header = false, "
        "or header_row to the row with the column names"]
    run(make_ctx, path, run_id=2, header=False, table="t")
    assert rows(home, "t") == [{"column_1": 1, "column_2": 2.5}, {"column_1": 3, "column_2": 4}]


def test_text_after_a_closing_quote_in_a_long_field_or_the_header(make_ctx, home, tmp_path):
    # A field longer than the csv module takes is read apart: the same rule holds there,
    # and the reason names the field by its start and end, not its megabytes.
    long = "x" * 1_100_000  # past CSV_FIELD_LIMIT
    path = write(tmp_path / "l.csv", f'id,"na"me",n\n1,"{long}"tail,2\n3,ok,4\n')
    result, _ = run(make_ctx, path)
    assert rows(home, "l") == [{"id": 3, 'name"': "ok", "n": 4}]
    [bad] = rejected(home)
    assert bad["line"] == 2 and bad["reason"].startswith(
        'text after the closing quote of a quoted field ("' + "x" * 24 + "…" + "x" * 14
        + '"tail): ')
    assert result["files"][0]["warnings"][-1] == (
        'l.csv: the header line (id,"na"me",n) has text after a closing quote ("na"me"): its '
        "column names are read as 'id', 'name\"', 'n'")


def test_a_json_string_never_closed_is_named_where_it_starts(make_ctx, home, tmp_path):
    # The json module says "Unterminated string starting at", the place given apart.
    err, _ = fail(make_ctx, write(tmp_path / "u.json", '[{"a": 1},\n {"a": "open}]'))
    assert str(err) == ("u.json: line 2, column 8: not valid JSON: a string that is never "
                        "closed starts here")
    run(make_ctx, write(tmp_path / "u.ndjson", '{"a": "open}\n{"a": 2}\n'), table="t")
    assert [r["reason"] for r in rejected(home)] == [
        "not valid JSON: a string that is never closed starts here (column 7)"]


def test_a_tsv_whose_quotes_are_text_is_told_to_turn_quoting_off(make_ctx, home, tmp_path):
    # A tab-separated export quotes nothing: a value starting with a quote ("open) failed
    # the file with advice (close it, double it) that would change the data; no quoting is
    # the fix, and the error now names it.
    path = write(tmp_path / "q.tsv", 'name\tnote\nTV\t55" screen\nBook\t"Dune" by Herbert\n'
                                     'Tag\t"open\nLast\tok\n')
    err, _ = fail(make_ctx, path)
    assert str(err).endswith('if the file quotes no field (its quotes are all text), set '
                             'quotechar = ""')
    run(make_ctx, path, run_id=2, quotechar="")
    assert rows(home, "q") == [{"name": "TV", "note": '55" screen'},
                               {"name": "Book", "note": '"Dune" by Herbert'},
                               {"name": "Tag", "note": '"open'}, {"name": "Last", "note": "ok"}]


def test_a_rejected_row_keeps_the_start_of_its_long_field(make_ctx, home, tmp_path):
    # The row is written out from its first 4,000 characters; a comma far into the field
    # still has it quoted, as the file has it.
    long = "y" * 3_000_000 + ",z"
    run(make_ctx, write(tmp_path / "r.csv", f'id,note\n1,"{long}",extra\n2,ok\n'))
    [bad] = rejected(home)
    assert bad["reason"] == "too many fields: 3 instead of 2"
    assert bad["raw"] == '1,"' + "y" * 3997 + f"… ({len(long) + 10 - 4000:,} more characters)"


def _available_memory() -> int:
    try:
        with open("/proc/meminfo") as f:
            return next(int(ln.split()[1]) * 1024 for ln in f if ln.startswith("MemAvailable:"))
    except (OSError, StopIteration):
        return 0


@pytest.mark.slow
@pytest.mark.skipif(_available_memory() < 6 * 2**30,
                    reason="needs about 2.2 GB of memory for its 2 GB field, with room to spare")
def test_a_field_of_2_gb_in_a_rejected_row_is_no_crash():
    # Python's csv writer crashes the process (SIGSEGV) on a field of 2**31 characters or
    # more: such a row, which SQLite refuses ("string or blob too big"), killed the run.
    code = ("from trayjobs.kinds.importer.csvreader import CsvReader\n"
            "from trayjobs.kinds.importer.sniff import CsvDialect\n"
            "from types import SimpleNamespace\n"
            "me = SimpleNamespace(dialect=CsvDialect(',', '\"', 2))\n"
            "raw = CsvReader.raw(me, ['1', 'x' * 2**31])\n"
            "print(raw[:4], raw[4000:])\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    assert (done.returncode, done.stdout) == (
        0, "1,xx … (2,147,479,650 more characters)\n")


def test_a_value_longer_than_sqlite_stores_is_named_as_such(make_ctx, home, tmp_path,
                                                          monkeypatch):
    # SQLite stores 1,000,000,000 bytes at most in one value (lowered here to 100,000); a
    # longer field was "refused by the database: string or blob too big", and one past
    # 2 GB said "holds a number too large for SQLite".
    from trayjobs.kinds.importer import store

    opened = store.Store.__init__

    def low_limit(self, path):
        opened(self, path)
        self.conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 100_000)

    monkeypatch.setattr(store.Store, "__init__", low_limit)
    run(make_ctx, write(tmp_path / "v.csv", f"id,note\n1,{'n' * 150_000}\n2,ok\n"))
    assert rows(home, "v", "id, note") == [{"id": 2, "note": "ok"}]
    assert [r["reason"] for r in rejected(home)] == [
        "holds a value too long for SQLite: 150,000 characters, where SQLite stores 100,000 "
        "bytes at most in one value"]


def test_a_line_too_long_for_any_record_fails_the_file_as_it_is_read(make_ctx, home, tmp_path,
                                                                    monkeypatch):
    # A line is read whole before a row of it is seen: a file of 2 GB without a line
    # break took 4.7 GB before anything was said. Past SQLite's longest value (lowered
    # here to 20,000 bytes) the file fails where that line starts, nothing written.
    from trayjobs.kinds.importer import plan

    monkeypatch.setattr(plan, "CSV_LINE_LIMIT", 20_000)
    path = write(tmp_path / "one.csv", "id,note\n1,a\r2,b\r\n" + "3,x" * 9000 + "\n4,ok\n")
    err, _ = fail(make_ctx, path)
    assert str(err) == (
        "one.csv: byte 17: a line of more than 20,000 bytes starts here, longer than SQLite "
        "stores in one value: no CSV or TSV record is that long; the file has no line breaks "
        "from here on (another format under a .csv name, or lines ended by a character that "
        "is no line break?)")
    assert "one" not in tables(home)
    # Lines up to the limit import; JSON, minified on one line, knows no such limit.
    run(make_ctx, write(tmp_path / "fits.csv", "id,note\n1," + "y" * 19_990 + "\n"))
    assert rows(home, "fits", "length(note) AS n") == [{"n": 19_990}]
    run(make_ctx, write(tmp_path / "j.json", json.dumps([{"id": i} for i in range(3000)])))
    assert len(rows(home, "j")) == 3000
