"""Valid CSV imports exactly, whatever its field sizes, line lengths, line breaks and headers;
malformed CSV fails for the reason it really has."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from test_import_support import KIND, connect, fail, params, rows, run, tables, write
from trayjobs.kinds.importer.schema import Namer


def _texts(home, table: str) -> list[tuple]:
    with connect(home) as conn:
        names = [r[1] for r in conn.execute(f'PRAGMA table_info("{table}")') if r[1] != "_import_id"]
        cols = ", ".join(f'CAST("{n}" AS TEXT)' for n in names)
        got = [tuple(r) for r in conn.execute(f'SELECT {cols} FROM "{table}" ORDER BY rowid')]
    conn.close()
    return got


# -- long fields and lines ----------------------------------------------------------------

@pytest.mark.parametrize("size", [131_073, 1_100_000, 3_000_000])
def test_a_field_longer_than_the_csv_modules_default_limit_imports_exactly(make_ctx, home,
                                                                           tmp_path, size):
    # Quoted with every awkward character in it, and unquoted; before and after other rows.
    body = ('x' * 1000 + '"" ,;\r\n\n\r') * (size // 1008)
    plain = "y" * size
    text = (f'id,text,n\r\n1,short,2\r\n2,"{body}",3\r\n3,{plain},4\r\n'
            f'4,"{body}"\r\n5,z,6\r\n')
    path = write(tmp_path / "long.csv", text)
    result, _ = run(make_ctx, path, table="t", on_bad_rows="quarantine")
    assert result["rows"] == 4 and result["rejected"] == 1
    assert _texts(home, "t") == [("1", "short", "2"), ("2", body.replace('""', '"'), "3"),
                                 ("3", plain, "4"), ("5", "z", "6")]
    with connect(home) as conn:
        (line, reason), = conn.execute("SELECT line, reason FROM _rejected").fetchall()
    conn.close()
    # Line numbers stay right after records that span lines: each piece of body holds 3.
    assert (line, reason) == (5 + 3 * (size // 1008), "too few fields: 2 instead of 3")


_MEASURE = textwrap.dedent("""
    import json, re, sys
    from pathlib import Path
    from trayjobs.context import JobContext
    from trayjobs.kinds.importer import ImportKind, ImportParams
    from trayjobs.paths import Home
    home = Home.under(sys.argv[2]).ensure()
    ctx = JobContext(run_id=1, job="j", home=home, sink=lambda m: None, files=[Path(sys.argv[1])])
    result = ImportKind().run(ctx, ImportParams(table="t", processed_dir="leave"))
    # This process's own peak (ru_maxrss would count the test process it was forked from).
    peak = int(re.search(r"VmHWM:\\s+(\\d+) kB", Path("/proc/self/status").read_text())[1])
    print(json.dumps([result["rows"], peak / 1024]))
""")


def _measure(path, home_dir) -> tuple[int, float]:
    """Rows imported and peak RSS (MB) of a whole process importing ``path``."""
    done = subprocess.run([sys.executable, "-c", _MEASURE, str(path), str(home_dir)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return tuple(json.loads(done.stdout))


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_a_20_mb_field_and_a_30_mb_line_import_within_the_memory_bound(home, tmp_path):
    field = "a,b\"c\r\n" * (20_000_000 // 7)  # one quoted field of 20 MB, line breaks in it
    quoted = field.replace('"', '""')
    one = write(tmp_path / "field.csv", f'id,text,n\n1,x,2\n2,"{quoted}",3\n3,y,4\n')
    # A 30 MB line: three 10 MB fields, one quoted, two not.
    ten = "z" * 10_000_000
    two = write(tmp_path / "line.csv", f'id,a,b,c\n1,"{ten}",{ten},{ten}\n2,p,q,r\n')
    for path, expected in [(one, [("1", "x", "2"), ("2", field, "3"), ("3", "y", "4")]),
                           (two, [("1", ten, ten, ten), ("2", "p", "q", "r")])]:
        work = tmp_path / f"home-{path.stem}"
        imported, peak = _measure(path, work)
        assert imported == len(expected)
        assert peak <= 150, f"{path.name}: peak RSS {peak:.0f} MB"
        from trayjobs.paths import Home
        got = _texts(Home.under(work), "t")
        assert got == expected


# -- line breaks inside quotes -----------------------------------------------------------

@pytest.mark.parametrize("pad", [0, 2_000_000], ids=["short", "long"])
def test_line_breaks_inside_quotes_are_kept_byte_exact(make_ctx, home, tmp_path, pad):
    long = "p" * pad
    values = [f"crlf\r\nin{long}", f"lf\nin{long}", f"cr\rin{long}", f"mixed\r\r\n\n\r{long}"]
    # Rows end with CRLF, LF and CR in turn: a row's own line end is not part of any value.
    ends = ["\r\n", "\n", "\r", "\r\n"]
    text = "id,v\r\n" + "".join(f'{i},"{v}"{e}' for i, (v, e) in enumerate(zip(values, ends)))
    path = write(tmp_path / "breaks.csv", text)
    result, _ = run(make_ctx, path, table="t")
    assert result["rows"] == 4
    assert [v for _, v in _texts(home, "t")] == values


# -- a quote never closed ----------------------------------------------------------------

@pytest.mark.parametrize("content, line", [
    # The quote swallows the next row: too few fields, said the importer of the next row.
    (b'id,name,note,amount\n1,a,b,1\n2,"b,c,2\n3,d,e,3\n', 3),
    # As wide as the others: would have imported the rest of the file as one value.
    (b'id,name,note,amount\n1,a,b,1\n2,b,c,"2\n3,d,e,3\n4,f,g,4\n', 3),
    # The record starts a line earlier, with a quoted line break closed properly.
    (b'id,name,note,amount\n1,"a\nb",c,"1\n2,d,e,2\n', 3),
    # Long enough to go past the csv module.
    (b'id,name\n1,"' + b"x" * 2_000_000 + b"\n2,y\n", 2),
])
def test_a_quote_never_closed_is_named_with_its_line(make_ctx, home, tmp_path, content, line):
    path = tmp_path / "q.csv"
    path.write_bytes(content)
    err, _ = fail(make_ctx, path, table="t")
    assert str(err).startswith(f"q.csv: line {line}: a quote opened on this line is never "
                               f"closed: the file ends inside it"), str(err)
    assert err.retry is False and "t" not in tables(home)


# -- duplicate header names ----------------------------------------------------------------

def test_duplicate_headers_keep_every_column_and_say_so(make_ctx, home, tmp_path):
    path = write(tmp_path / "dup.csv", "id,name,name,amount,Name,name_2\n1,a,b,1,c,d\n")
    result, ctx = run(make_ctx, path, table="t")
    columns = ["id", "name", "name_2", "amount", "Name_3", "name_2_2"]
    assert result["files"][0]["details"]["columns"] == columns
    assert rows(home, "t") == [dict(zip(columns, [1, "a", "b", 1, "c", "d"]))]
    logged = [m["message"] for m in ctx.sink if m["t"] == "log"]
    assert sum("repeats an earlier name" in m for m in logged) == 3, logged

    preview = KIND.run(make_ctx(files=[path], dry_run=True), params(table="t2"))
    assert preview["columns"] == columns
    assert preview["summary"].startswith("preview of dup.csv: 6 columns")
    assert preview["sample"] == [dict(zip(columns, [1, "a", "b", 1, "c", "d"]))]
    assert len(preview["files"][0]["notes"]) == 3


# -- wider than a table --------------------------------------------------------------------

def test_a_file_wider_than_a_table_fails_naming_the_limit_and_what_to_do(make_ctx, home,
                                                                         tmp_path):
    wide = write(tmp_path / "wide.csv", ",".join(f"c{i}" for i in range(2500)) + "\n"
                 + ",".join("1" for _ in range(2500)) + "\n")
    err, _ = fail(make_ctx, wide, table="t")
    assert str(err) == ("wide.csv: the file has 2,500 columns: more than the 2,000 a SQLite "
                        "table can hold, _import_id included; split the file into parts of at "
                        "most 1,999 columns, each into its own table, or leave out the columns "
                        "you do not need")
    assert err.retry is False and "t" not in tables(home)

    widest = write(tmp_path / "widest.csv", ",".join(f"c{i}" for i in range(1999)) + "\n"
                   + ",".join(str(i) for i in range(1999)) + "\n")
    result, _ = run(make_ctx, widest, table="t", run_id=2)
    assert result["rows"] == 1 and _texts(home, "t") == [tuple(str(i) for i in range(1999))]

    more = write(tmp_path / "more.csv", "c0,extra1,extra2\n1,2,3\n")
    err, _ = fail(make_ctx, more, table="t", run_id=3)
    assert "the file has 3 columns (2 of them new to table t, which has 2,000)" in str(err)


def test_json_records_wider_than_a_table_fail_the_same_way(make_ctx, home, tmp_path):
    record = {f"k{i}": i for i in range(2100)}
    path = write(tmp_path / "wide.ndjson", json.dumps({"a": 1}) + "\n" + json.dumps(record) + "\n")
    err, _ = fail(make_ctx, path, table="t")
    assert "the file has 2,101 columns: more than the 2,000 a SQLite table can hold" in str(err)
    assert "t" not in tables(home)


# -- every file's outcome when one fails ---------------------------------------------------

def test_a_failed_run_keeps_each_files_outcome(make_ctx, home, tmp_path):
    good = write(tmp_path / "good.csv", "id,v\n1,a\n2,b\n3,x,y\n")
    again = write(tmp_path / "again.csv", "id,v\n9,z\n")
    broken = write(tmp_path / "broken.csv", b'id,v\n1,"open\n')
    run(make_ctx, again, table="t", run_id=1)
    err, _ = fail(make_ctx, good, broken, tmp_path / "again.csv", table="t", run_id=2)
    assert err.retry is False
    result = err.result
    outcome = [(f["file"], f["status"], f["rows"], f["rejected"]) for f in result["files"]]
    assert outcome == [(str(good), "imported", 2, 1), (str(broken), "failed", 0, 0),
                       (str(again), "skipped", 0, 0)]
    assert result["files"][1]["message"].startswith("broken.csv: line 2: a quote opened")
    assert result["summary"] == ("2 rows imported into t, 1 rejected (table _rejected); "
                                 "1 file already imported; 1 of 3 files failed")
    assert result["rows"] == 2 and len(result["imports"]) == 1


@pytest.mark.timeout(20)
def test_a_header_of_one_name_repeated_a_hundred_thousand_times_fails_at_once(make_ctx, home,
                                                                              tmp_path):
    # Named one by one, each repeat searching its suffix from _2 up, this took hours.
    wide = write(tmp_path / "wide.csv", "a," * 100_000 + "z\n" + "1," * 100_000 + "2\n")
    err, ctx = fail(make_ctx, wide, table="t")
    assert str(err).startswith("wide.csv: the file has 100,001 columns: more than the 2,000 ")
    assert not [m for m in ctx.sink if "repeats an earlier name" in str(m)]
    assert "t" not in tables(home)

    preview = KIND.run(make_ctx(files=[wide], dry_run=True), params(table="t"))
    assert preview["files"] == [{"file": str(wide), "error": str(err)}]
    assert preview["summary"] == f"preview: no file can be imported; {err}"


@pytest.mark.timeout(20)
def test_many_repeats_of_one_header_name_are_named_in_linear_time():
    names = Namer().names(["a"] * 30_000 + ["a_2", "A"])
    assert names[:3] == ["a", "a_2", "a_3"] and names[-3:] == ["a_30000", "a_2_2", "A_30001"]


@pytest.mark.parametrize("long", [False, True], ids=["short", "past-the-csv-modules-limit"])
def test_a_quote_after_a_blank_quotes_its_field(make_ctx, home, tmp_path, long):
    # "1, "Smith, John", 5", as people and some programs write: the quote after the blank
    # was text, the comma inside split the field, and every row was set aside with "too
    # many fields: 4 instead of 3" (sqlite-utils stores ' "Smith' and ' John"').
    name = "Doe, Jane" + ("x" * 2_000_000 if long else "")
    path = write(tmp_path / "p.csv", f'id, name, n\n1, "Smith, John", 5\n2,  plain, 6\n'
                                     f'3, "{name}",7\n4, "say ""hi""", 8\n')
    result, _ = run(make_ctx, path)
    assert rows(home, "p") == [{"id": 1, "name": "Smith, John", "n": 5},
                               {"id": 2, "name": "plain", "n": 6},
                               {"id": 3, "name": name, "n": 7},
                               {"id": 4, "name": 'say "hi"', "n": 8}]
    assert result["rejected"] == 0
    # Blanks that quote nothing are kept where no quote follows a delimiter and a blank.
    run(make_ctx, write(tmp_path / "k.csv", 'id,name\n1, kept\n2,"a, b"\n'))
    assert rows(home, "k", "name") == [{"name": " kept"}, {"name": "a, b"}]
