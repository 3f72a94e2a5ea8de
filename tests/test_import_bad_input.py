"""Bad input: bad rows are set aside with line and reason, bad files fail clearly, nothing
of the source is lost or changed."""

from __future__ import annotations

import codecs
import hashlib
import os

import pytest

from test_import_support import KIND, fail, params, rejected, rows, run, schema, tables, write
from trayjobs.errors import JobFailed

MESSY = ('id,note\n'
         '1,"spans\nthree\nlines"\n'
         '2,ok,extra\n'
         '3\n'
         '4,"nul \x00 inside"\n'
         '\n'
         '5,fine\n')


def test_bad_rows_are_quarantined_with_line_reason_and_raw_text(make_ctx, home, tmp_path):
    result, _ = run(make_ctx, write(tmp_path / "m.csv", MESSY))
    assert result["summary"] == "2 rows imported into m, 3 rejected (table _rejected)"
    assert rows(home, "m") == [{"id": 1, "note": "spans\nthree\nlines"}, {"id": 5, "note": "fine"}]
    assert rejected(home) == [
        {"file": "m.csv", "line": 5, "reason": "too many fields: 3 instead of 2",
         "raw": "2,ok,extra", "table": "m"},
        {"file": "m.csv", "line": 6, "reason": "too few fields: 1 instead of 2", "raw": "3",
         "table": "m"},
        {"file": "m.csv", "line": 7, "reason": "contains a NUL byte",
         "raw": "4,nul \\x00 inside", "table": "m"}]



def test_a_nul_in_a_header_name_is_a_warning_naming_the_column(make_ctx, home, tmp_path):
    # A row with a NUL is set aside; a header cannot be, so the run says what it did.
    result, ctx = run(make_ctx, write(tmp_path / "h.csv", "id,na\x00me,\x00\n1,a,b\n"),
                      table="t")
    assert rows(home, "t") == [{"id": 1, "na me": "a", "column_3": "b"}]
    assert result["warnings"] == [
        "h.csv: column 2's name 'na\\x00me' holds a NUL byte: called it na me",
        "h.csv: column 3's name '\\x00' holds a NUL byte: called it column_3"]
    logs = ctx.sink.logs
    assert sum("holds a NUL byte: called it na me" in m for m in logs) == 1  # said once


def test_a_header_byte_that_does_not_decode_is_a_warning(make_ctx, home, tmp_path):
    result, _ = run(make_ctx, write(tmp_path / "h.csv", b"id,caf\xe9\n1,a\n"),
                    table="t", encoding="utf-8")
    assert rows(home, "t") == [{"id": 1, "caf": "a"}]
    assert result["warnings"] == [
        "h.csv: column 2's name 'caf\\xe9' holds bytes that are not text in the file's "
        "encoding: called it caf"]


def test_rows_ending_in_a_delimiter_import_when_the_extra_fields_are_empty(make_ctx, home,
                                                                          tmp_path):
    # Some exports end every record, not the header, with a delimiter.
    result, _ = run(make_ctx, write(tmp_path / "t.csv", "id;note\r\n1;a;\r\n2;;;\r\n3;c;x\r\n"))
    assert result["summary"] == "2 rows imported into t, 1 rejected (table _rejected)"
    assert rows(home, "t") == [{"id": 1, "note": "a"}, {"id": 2, "note": None}]
    assert [(r["line"], r["reason"]) for r in rejected(home)] == [
        (4, "too many fields: 3 instead of 2")]


def test_a_header_ending_in_a_delimiter_leaves_its_rows_whole(make_ctx, home, tmp_path):
    # The other way round: the header ends with a delimiter, the records do not. Every
    # row was rejected ("too few fields: 2 instead of 3") for a column without a name.
    text = "id;note;\r\n1;a\r\n2;b;x\r\n3\r\n"
    result, _ = run(make_ctx, write(tmp_path / "h.csv", text))
    assert result["summary"] == "2 rows imported into h, 1 rejected (table _rejected)"
    assert rows(home, "h") == [{"id": 1, "note": "a", "column_3": None},
                               {"id": 2, "note": "b", "column_3": "x"}]
    assert [(r["line"], r["reason"]) for r in rejected(home)] == [
        (4, "too few fields: 1 instead of 3")]


def test_the_header_line_repeated_by_joined_files_is_set_aside(make_ctx, home, tmp_path):
    # Exports joined one after another (cat jan.csv feb.csv), each with its header line and
    # byte order mark: the second header went in as a row, and made every column text.
    part = "id,amount,zip\r\n1,2.5,01234\r\n"
    data = b"".join(b"\xef\xbb\xbf" + part.replace("1,", f"{n},").encode() for n in (1, 2, 3))
    result, _ = run(make_ctx, write(tmp_path / "all.csv", data))
    assert schema(home, "all")["id"] == "INTEGER" and schema(home, "all")["amount"] == "REAL"
    assert rows(home, "all") == [{"id": n, "amount": 2.5, "zip": "01234"} for n in (1, 2, 3)]
    assert [(r["line"], r["reason"], r["raw"]) for r in rejected(home)] == [
        (line, "the header line again (files joined one after another?)", "\ufeffid,amount,zip")
        for line in (3, 5)]
    assert result["summary"] == "3 rows imported into all, 2 rejected (table _rejected)"


@pytest.mark.parametrize("name", ["z.csv", "z.ndjson"])
def test_text_ending_in_nul_bytes_is_told_from_binary_data(make_ctx, home, tmp_path, name):
    # A file cut short by a crash or an interrupted copy ends in zeros: it failed as
    # "binary data, not text", which it is not, and said nothing of what to do.
    body = "a,b\n1,2\n" if name.endswith(".csv") else '{"a": 1}\n'
    err, _ = fail(make_ctx, write(tmp_path / name, body.encode() + b"\0" * 4096))
    assert str(err) == (
        f"{name}: byte {len(body)}: the text ends here and NUL bytes follow (4,096 in the "
        f"first 64 KB), as in a file cut short by a crash or an interrupted copy: copy or "
        f"export the file again, or cut the NUL bytes off its end")


@pytest.mark.parametrize("name, what", [
    ("book.xlsb", "an Excel binary workbook (.xlsb), which is not read: save it from Excel as "
                  ".xlsx"),
    ("book.numbers", "an Apple Numbers document, which is not read: export it from Numbers as "
                     ".xlsx or .csv")])
def test_workbooks_of_formats_not_read_say_what_to_save_them_as(make_ctx, home, tmp_path,
                                                                  name, what):
    # They failed as "a ZIP archive (a spreadsheet? name it .xlsx...)": renamed, they fail
    # again, as damaged workbooks.
    zipped = b"PK\x03\x04" + bytes(range(256)) * 8
    err, _ = fail(make_ctx, write(tmp_path / name, zipped))
    assert str(err) == f"{name}: byte 0: this is {what}"
    # Text under such a name is read as the text it is.
    run(make_ctx, write(tmp_path / f"t{name}", "a,b\n1,2\n"), run_id=2, table="t")
    assert rows(home, "t") == [{"a": 1, "b": 2}]


def test_on_bad_rows_fail_stops_the_file_and_keeps_the_table(make_ctx, home, tmp_path):
    run(make_ctx, write(tmp_path / "good.csv", "id,note\n9,before\n"), table="m")
    err, _ = fail(make_ctx, write(tmp_path / "m.csv", MESSY), run_id=2, table="m",
                  on_bad_rows="fail")
    assert str(err) == 'm.csv: line 5: too many fields: 3 instead of 2 (on_bad_rows = "fail")'
    assert err.retry is False
    assert rows(home, "m") == [{"id": 9, "note": "before"}]
    assert rejected(home) == []


def test_header_only_file_imports_nothing_and_says_so(make_ctx, home, tmp_path):
    result, _ = run(make_ctx, write(tmp_path / "h.csv", "a,b,c\n\n"))
    assert result["summary"] == "0 rows imported into h (header only)"
    assert "h" not in tables(home)


@pytest.mark.parametrize("name, content, message", [
    ("e.csv", b"", "e.csv: the file is empty (0 bytes)"),
    ("w.csv", b"  \n\n \r\n", "w.csv: the file holds no data, only blank lines or spaces"),
    ("w.json", b" \n ", "w.json: the file holds no data, only blank lines or spaces"),
    ("p.csv", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4,
     "p.csv: byte 0: this is binary data, not text: it looks like a PNG image"),
    ("r.csv", bytes((i * 7919) % 256 for i in range(4000)), "r.csv: byte "),
    ("x.csv", b"<!DOCTYPE html>\n<html><body>a,b</body></html>\n",
     "x.csv: line 1: this is not a table: it looks like HTML or XML"),
    # A bank's "Excel export": a web page named .xls. The message named no way out.
    ("bank.xls", b"<html><body><table><tr><td>a</td></tr></table></body></html>\n",
     "bank.xls: line 1: this is not a table: it looks like HTML or XML, saved under a "
     "spreadsheet's name as some exports are; open it in a spreadsheet program and save it "
     "as .xlsx or .csv"),
    ("prose.txt", ("It was a bright cold day in April, and the clocks were striking thirteen. "
                   "Winston Smith, his chin nuzzled into his breast in an effort to escape the "
                   "vile wind, slipped quickly through the glass doors of Victory Mansions.\n"
                   "Though not quickly enough to prevent a swirl of gritty dust from entering "
                   "along with him. The hallway smelt of boiled cabbage and old rag mats.\n"
                   "At one end of it a coloured poster, too large for indoor display, had been "
                   "tacked to the wall. It depicted simply an enormous face, more than a metre "
                   "wide: the face of a man of about forty-five.\n").encode(),
     "prose.txt: line 1: this does not look like a table"),
    ("b.json", b'[{"a": 1},\n {"a": 2},\n {"a": 3 "b": 4}]',
     "b.json: line 3, column 10: not valid JSON: expected ',' delimiter"),
    ("q.csv", b'a,b\n1,"never closed\n' + b"x,y\n" * 40_000,
     "q.csv: line 2: a quote opened on this line is never closed: the file ends inside it "
     "(at line 40,002)"),
])
def test_file_level_problems_fail_with_file_place_and_reason(make_ctx, home, tmp_path, name,
                                                             content, message):
    path = tmp_path / name
    path.write_bytes(content)
    err, _ = fail(make_ctx, path, table="t")
    assert str(err).startswith(message), str(err)
    assert err.retry is False
    assert "t" not in tables(home)
    assert path.read_bytes() == content  # untouched, left in place (failed_dir = "leave")


def test_missing_file_and_folder(make_ctx, tmp_path):
    err, _ = fail(make_ctx, tmp_path / "gone.csv", tmp_path)
    assert f"gone.csv: the file does not exist (any more)" in str(err)
    assert f"{tmp_path.name}: this is a folder, not a file" in str(err)


def _big_csv(tmp_path, rows_=30_000):
    return write(tmp_path / "big.csv", "id,v\n" + "".join(f"{i},{i * 2}\n" for i in range(rows_)))


def test_a_file_that_disappears_mid_read_fails_and_leaves_no_rows(make_ctx, home, tmp_path):
    path = _big_csv(tmp_path)
    ctx = make_ctx(files=[path])
    sink = ctx.sink

    def vanish(msg):
        sink(msg)
        if msg["t"] == "progress" and path.exists() and msg["done"]:
            path.unlink()
    ctx.sink = vanish
    err, _ = fail(make_ctx, path, ctx=ctx, batch_size=1000, failed_dir="failed")
    assert str(err) == "big.csv: the file disappeared while it was being read"
    assert "big" not in tables(home)


def test_a_file_that_grows_mid_read_fails_and_stays_for_a_retry(make_ctx, home, tmp_path):
    path = _big_csv(tmp_path)
    ctx = make_ctx(files=[path])
    sink = ctx.sink
    grown = []

    def grow(msg):
        sink(msg)
        if msg["t"] == "progress" and msg["done"] and not grown:
            with open(path, "a") as f:
                f.write("99999,1\n")
            grown.append(True)
    ctx.sink = grow
    err, _ = fail(make_ctx, path, ctx=ctx, batch_size=1000, failed_dir="failed")
    assert str(err).startswith("big.csv: the file changed while it was being read (size ")
    assert err.retry is True
    assert path.exists() and not (tmp_path / "failed").exists()
    assert "big" not in tables(home)


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_files_are_moved_aside_unchanged_with_an_error_note(make_ctx, home, tmp_path):
    good = write(tmp_path / "in" / "good.csv", "a\n1\n")
    bad = write(tmp_path / "in" / "bad.json", '[{"a": 1} {"a": 2}]')
    write(tmp_path / "in" / "processed" / "good.csv", "an older file of that name\n")
    sums = {p.name: _sha(p) for p in (good, bad)}
    ctx = make_ctx(files=[good, bad])
    with pytest.raises(JobFailed) as info:
        KIND.run(ctx, params(processed_dir="processed", failed_dir="failed"))
    assert str(info.value).startswith("1 row imported into good; 1 of 2 files failed. ")
    assert "bad.json: line 1, column 11: not valid JSON: expected ',' or ']' but found '{'" in str(info.value)
    moved = tmp_path / "in" / "processed" / "good (2).csv"
    failed = tmp_path / "in" / "failed" / "bad.json"
    assert not good.exists() and not bad.exists()
    assert _sha(moved) == sums["good.csv"] and _sha(failed) == sums["bad.json"]
    note = (tmp_path / "in" / "failed" / "bad.json.error.txt").read_text(encoding="utf-8")
    assert note.startswith("bad.json was not imported.\n\nbad.json: line 1, column 11: not valid")
    assert "run 1" in note
    assert rows(home, "good") == [{"a": 1}]


def test_file_names_that_are_not_utf8_import_and_fail_like_any(make_ctx, home, tmp_path):
    # Names from an old archive or a Windows share: os.fsdecode gives lone surrogates,
    # which SQLite refuses (the run failed, and was retried, on the ledger's insert).
    good = write(tmp_path / "in" / os.fsdecode(b"caf\xe9.csv"), "a\n1\n2,x\n")
    bad = write(tmp_path / "in" / os.fsdecode(b"d\xe9j\xe0.json"), '[{"a": 1} {"a": 2}]')
    with pytest.raises(JobFailed) as info:
        KIND.run(make_ctx(files=[good, bad], job="jobs"),
                 params(table="t", processed_dir="processed", failed_dir="failed"))
    assert str(info.value).startswith("1 row imported into t, 1 rejected (table _rejected); "
                                      "1 of 2 files failed. ")
    assert info.value.retry is False
    assert rows(home, "t") == [{"a": 1}]
    assert [r["file"] for r in rejected(home)] == ["caf\\xe9.csv"]
    note = tmp_path / "in" / "failed" / os.fsdecode(b"d\xe9j\xe0.json.error.txt")
    assert note.read_text(encoding="utf-8").startswith("d\\xe9j\\xe0.json was not imported.")
    assert (tmp_path / "in" / "processed" / good.name).exists()


def test_one_failed_file_does_not_undo_the_others(make_ctx, home, tmp_path):
    a = write(tmp_path / "a.csv", "n\n1\n2\n")
    b = write(tmp_path / "b.csv", b"")
    c = write(tmp_path / "c.csv", "n\n3\n")
    err, ctx = fail(make_ctx, a, b, c, table="t")
    assert str(err) == ("3 rows imported into t; 1 of 3 files failed. "
                        "b.csv: the file is empty (0 bytes)")
    assert [r["n"] for r in rows(home, "t")] == [1, 2, 3]
    assert "b.csv: the file is empty (0 bytes)" in ctx.sink.logs


def test_processed_folder_can_be_absolute(make_ctx, home, tmp_path):
    path = write(tmp_path / "a.csv", "n\n1\n")
    done = tmp_path / "elsewhere"
    result, _ = run(make_ctx, path, processed_dir=str(done))
    assert (done / "a.csv").exists() and not path.exists()
    assert result["files"][0]["moved_to"] == str(done / "a.csv")
    assert os.listdir(tmp_path) == ["home", "elsewhere"] or set(os.listdir(tmp_path)) == {
        "home", "elsewhere"}


def test_a_file_locked_mid_read_fails_with_the_offset_and_stays(make_ctx, home, tmp_path,
                                                                monkeypatch):
    from trayjobs.kinds.importer import streams

    path = _big_csv(tmp_path)
    real_read1 = streams.ByteTap.read1
    calls = []

    def locked_after_a_while(self, size=-1):
        calls.append(size)
        if len(calls) > 5:  # another program locks the file (as Windows does)
            raise PermissionError(13, "Permission denied")
        return real_read1(self, size)
    monkeypatch.setattr(streams.ByteTap, "read1", locked_after_a_while)
    err, _ = fail(make_ctx, path, batch_size=500, failed_dir="failed")
    assert str(err).startswith("big.csv: byte ")
    assert str(err).endswith(": the file could not be read (Permission denied)")
    assert err.retry is True and path.exists() and "big" not in tables(home)


def test_a_file_saved_over_mid_read_with_the_same_size_and_time_fails(make_ctx, home, tmp_path):
    # Saved by a rename, as editors and sync tools save, with its size and time kept: the
    # run read the old file, and would have moved the new one aside as imported.
    path = _big_csv(tmp_path)
    other = write(tmp_path / "other.csv", path.read_text().replace("id,v\n1,", "id,v\n7,"))
    ctx = make_ctx(files=[path])
    sink = ctx.sink

    def swap(msg):
        sink(msg)
        if msg["t"] == "progress" and msg["done"] and other.exists():
            st = path.stat()
            os.utime(other, ns=(st.st_atime_ns, st.st_mtime_ns))
            os.replace(other, path)
    ctx.sink = swap
    err, _ = fail(make_ctx, path, ctx=ctx, batch_size=1000, failed_dir="failed",
                  processed_dir="processed")
    assert str(err) == ("big.csv: the file changed while it was being read (another file was "
                        "saved in its place); import it again once it is complete")
    assert err.retry is True
    assert path.exists() and not (tmp_path / "processed").exists()
    assert "big" not in tables(home)


def test_a_row_with_bytes_that_do_not_decode_says_so_before_its_field_count(make_ctx, home,
                                                                          tmp_path):
    # A UTF-16 file cut after an odd byte: its last "row" is that byte.
    text = "id,name\n1,Zoë\n2,Łódź\n"
    path = write(tmp_path / "u.csv", codecs.BOM_UTF16_LE + text.encode("utf-16-le") + b"x")
    result, _ = run(make_ctx, path, table="t")
    assert rows(home, "t") == [{"id": 1, "name": "Zoë"}, {"id": 2, "name": "Łódź"}]
    assert [(r["line"], r["reason"], r["raw"]) for r in rejected(home)] == [
        (4, "holds bytes that are not utf-16", "\\x78")]


def test_a_file_written_again_as_it_is_read_is_tried_again(make_ctx, home, tmp_path,
                                                          monkeypatch):
    # An export saved over the file just as the run read it: emptied first, then
    # written. Read in that moment, it failed for good with "the file holds no data",
    # which was not so: what went wrong reading a file that changed is the change.
    from trayjobs.kinds.importer import runner

    path = _big_csv(tmp_path)
    planned = runner.plan_file

    def saved_over(p, params):
        p.write_bytes(b"")
        return planned(p, params)

    monkeypatch.setattr(runner, "plan_file", saved_over)
    err, _ = fail(make_ctx, path, failed_dir="failed")
    assert str(err).startswith("big.csv: the file changed while it was being read (size ")
    assert err.retry is True
    assert path.exists() and not (tmp_path / "failed").exists()


def test_a_one_column_files_rows_with_commas_say_what_to_set(make_ctx, home, tmp_path):
    # A list of names, one a line, whose values hold commas unquoted (as a program that
    # separates with ";" writes it): such rows were set aside with "too many fields: 2
    # instead of 1", which says nothing of the delimiter to set.
    path = write(tmp_path / "names.csv", "name\nDoe\nSmith, John\n")
    run(make_ctx, path)
    assert [r["reason"] for r in rejected(home)] == [
        'too many fields: 2 instead of 1 (the header line names one column: if its values '
        'hold commas, set delimiter = "\\t", or another character the file does not hold)']
    run(make_ctx, path, run_id=2, table="again", delimiter="\t", reimport=True)
    assert rows(home, "again", "name") == [{"name": "Doe"}, {"name": "Smith, John"}]
