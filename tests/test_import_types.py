"""Column names and types: detection, widening, explicit types, columns added later."""

from __future__ import annotations

import json
import random

import pytest

from test_import_support import connect, fail, rejected, rows, run, schema, write
from trayjobs.kinds.importer import schema as types


def test_types_are_detected_and_empty_cells_are_null(make_ctx, home, tmp_path):
    csv = ("id,amount,zip,day,note,big,exp,neg_zero\n"
           "1,12.50,08123,2024-01-31,hello,12345678901234567890,1e5,-0\n"
           "2,-3,10115,2024-02-01,,7,2.5E-3,3\n"
           "3,,01067,,x,,,\n")
    run(make_ctx, write(tmp_path / "t.csv", csv))
    assert schema(home, "t") == {"id": "INTEGER", "amount": "REAL", "zip": "TEXT", "day": "TEXT",
                                 "note": "TEXT", "big": "TEXT", "exp": "REAL",
                                 "neg_zero": "REAL", "_import_id": "INTEGER"}
    got = rows(home, "t")
    assert got[0] == {"id": 1, "amount": 12.5, "zip": "08123", "day": "2024-01-31",
                      "note": "hello", "big": "12345678901234567890", "exp": 100000.0,
                      "neg_zero": -0.0}
    assert got[2] == {"id": 3, "amount": None, "zip": "01067", "day": None, "note": "x",
                      "big": None, "exp": None, "neg_zero": None}


def test_a_type_widens_when_later_rows_need_it(make_ctx, home, tmp_path):
    lines = ["n,m"] + [f"{i},{i}" for i in range(10)] + ["2.5,x"] + [f"{i},{i}" for i in range(3)]
    result, ctx = run(make_ctx, write(tmp_path / "w.csv", "\n".join(lines) + "\n"), batch_size=4)
    assert schema(home, "w")["n"] == "REAL" and schema(home, "w")["m"] == "TEXT"
    got = rows(home, "w")
    assert [r["n"] for r in got[:3]] == [0.0, 1.0, 2.0] and got[10]["n"] == 2.5
    assert [r["m"] for r in got[9:12]] == ["9", "x", "0"]  # integers keep their spelling
    assert any("column m: integer -> text (line 12 has 'x')" in m for m in ctx.sink.logs)


def test_real_turning_text_reads_the_file_again_to_keep_spelling(make_ctx, home, tmp_path):
    lines = ["price"] + ["1.50", "2.25", "1e3"] * 5 + ["n/a"]
    result, ctx = run(make_ctx, write(tmp_path / "p.csv", "\n".join(lines) + "\n"), batch_size=4)
    assert result["rows"] == 16 and schema(home, "p")["price"] == "TEXT"
    assert [r["price"] for r in rows(home, "p")][:4] == ["1.50", "2.25", "1e3", "1.50"]
    assert any("reading the file again" in m for m in ctx.sink.logs)
    assert len(rows(home, "p")) == 16  # the first pass left nothing behind


def test_explicit_types_win_and_misfits_are_rejected(make_ctx, home, tmp_path):
    csv = "n,amount,code\n 7 ,1.5,1\n007,abc,2\n7.5,.5,3\n8,1e2,4\n"
    result, _ = run(make_ctx, write(tmp_path / "x.csv", csv),
                    types={"n": "integer", "amount": "real", "code": "text"})
    assert schema(home, "x") == {"n": "INTEGER", "amount": "REAL", "code": "TEXT",
                                 "_import_id": "INTEGER"}
    assert rows(home, "x") == [{"n": 7, "amount": 1.5, "code": "1"},
                               {"n": 8, "amount": 100.0, "code": "4"}]
    assert [(r["line"], r["reason"]) for r in rejected(home)] == [
        (3, "amount: 'abc' is not a number (types.amount = real)"),
        (4, "n: '7.5' is not an integer (types.n = integer)")]
    assert result["summary"] == "2 rows imported into x, 2 rejected (table _rejected)"


def test_a_type_set_for_no_column_is_said(make_ctx, home, tmp_path):
    # A misspelt name had no effect and no word: "12" went in as the number 12.
    result, _ = run(make_ctx, write(tmp_path / "y.csv", "id,amount\n1,12\n"),
                    types={"amout": "text", "id": "integer"})
    assert result["warnings"] == ["y.csv: types.amout names no column of the file or of table "
                                  "y (its columns: id, amount); the setting had no effect"]
    assert rows(home, "y") == [{"id": 1, "amount": 12}]


def test_later_files_add_columns_and_widen_existing_ones(make_ctx, home, tmp_path):
    first = write(tmp_path / "a.csv", "id,qty\n1,5\n2,6\n")
    second = write(tmp_path / "b.csv", "ID,qty,colour\n3,many,red\n")
    run(make_ctx, first, second, table="stock")
    assert schema(home, "stock") == {"id": "INTEGER", "qty": "TEXT", "_import_id": "INTEGER",
                                     "colour": "TEXT"}
    assert rows(home, "stock") == [{"id": 1, "qty": "5", "colour": None},
                                   {"id": 2, "qty": "6", "colour": None},
                                   {"id": 3, "qty": "many", "colour": "red"}]


def test_numbers_of_earlier_files_keep_every_digit_when_their_column_turns_text(
        make_ctx, home, tmp_path):
    # The rebuild to TEXT had SQLite write each REAL with 15 digits: 70304.0762065631.
    run(make_ctx, write(tmp_path / "a.csv", "id,v\n1,70304.07620656314\n2,0.1\n3,\n"),
        table="t")
    run(make_ctx, write(tmp_path / "b.csv", "id,v\n4,n/a\n"), run_id=2, table="t")
    assert schema(home, "t")["v"] == "TEXT"
    assert [r["v"] for r in rows(home, "t")] == ["70304.07620656314", "0.1", None, "n/a"]


def test_a_column_empty_at_first_gets_its_type_when_values_come(make_ctx, home, tmp_path):
    lines = ["id,late,never"] + [f"{i},," for i in range(50)] + ["50,42,", "51,43,"]
    run(make_ctx, write(tmp_path / "s.csv", "\n".join(lines) + "\n"), batch_size=8)
    assert schema(home, "s") == {"id": "INTEGER", "_import_id": "INTEGER", "late": "INTEGER",
                                 "never": "TEXT"}
    assert [r["late"] for r in rows(home, "s")][-3:] == [None, 42, 43]


def test_header_names_are_cleaned_and_made_unique(make_ctx, home, tmp_path):
    csv = "name,Name,, amount ,_import_id,x\u0000y\n1,2,3,4,5,6\n"
    _, ctx = run(make_ctx, write(tmp_path / "h.csv", csv))
    assert list(schema(home, "h")) == ["name", "Name_2", "column_3", "amount", "_import_id_2",
                                       "x y", "_import_id"]
    assert rows(home, "h") == [{"name": 1, "Name_2": 2, "column_3": 3, "amount": 4,
                                "_import_id_2": 5, "x y": 6}]
    notes = [m for m in ctx.sink.logs if "called it" in m]
    assert "h.csv: column 3 has no name: called it column_3" in notes
    assert "h.csv: column 2 'Name' repeats an earlier name or a reserved one: called it Name_2" in notes
    assert len(notes) == 5


def test_json_values_keep_their_json_types(make_ctx, home, tmp_path):
    records = [{"i": 1, "f": 1.5, "b": True, "s": "1", "nested": {"k": [1, 2]}, "big": 2**70,
                "mixed": 1},
               {"i": None, "f": 2, "b": False, "s": "x", "nested": [1, "é"], "big": 5,
                "mixed": "one"}]
    run(make_ctx, write(tmp_path / "j.json", json.dumps(records)))
    assert schema(home, "j") == {"i": "INTEGER", "f": "REAL", "b": "INTEGER", "s": "TEXT",
                                 "nested": "TEXT", "big": "TEXT", "mixed": "TEXT",
                                 "_import_id": "INTEGER"}
    assert rows(home, "j") == [
        {"i": 1, "f": 1.5, "b": 1, "s": "1", "nested": '{"k": [1, 2]}',
         "big": str(2**70), "mixed": "1"},
        {"i": None, "f": 2.0, "b": 0, "s": "x", "nested": '[1, "é"]', "big": "5",
         "mixed": "one"}]


def test_json_floats_in_a_text_column_keep_every_digit(make_ctx, home, tmp_path):
    # SQLite writes a REAL as text with 15 digits: 70304.07620656314 became 70304.0762065631.
    exact = [70304.07620656314, 0.1, 1e-7, 2.5]
    mixed = [{"v": "n/a"}] + [{"v": x} for x in exact]
    run(make_ctx, write(tmp_path / "m.json", json.dumps(mixed)))
    assert [r["v"] for r in rows(home, "m")] == ["n/a", *map(repr, exact)]
    # Text only after the first batch was written as REAL: the file is read again.
    late = [{"v": x} for x in exact] + [{"v": "n/a"}]
    body = "".join(json.dumps(r) + "\n" for r in late)
    result, ctx = run(make_ctx, write(tmp_path / "l.ndjson", body), run_id=2, batch_size=2)
    assert [r["v"] for r in rows(home, "l")] == [*map(repr, exact), "n/a"]
    assert any("reading the file again" in m for m in ctx.sink.logs)


@pytest.mark.parametrize("ext", ["ndjson", "json"])
def test_json_numbers_too_large_for_a_float_are_kept_as_written(make_ctx, home, tmp_path, ext):
    # 1e400 decodes to infinity; like CSV's "1e400" and integers beyond 64 bits, it is
    # kept as text, as written, wherever it is: a number column, a later batch of a column
    # that is text already (set so: no cells counted), a column set to a number type
    # (rejected, naming the value).
    cases = {"n": ("2.5", "1.0", "1e400"), "t": ('"n/a"', "0.5", "-1E+400"),
             "r": ("1.5", "1", "1e400"), "i": ("1", "2", "1e400")}
    got = {}
    for run_id, (column, values) in enumerate(cases.items(), start=1):
        records = [f'{{"{column}": {v}}}' for v in values]
        text = "\n".join(records) if ext == "ndjson" else "[" + ",\n".join(records) + "]"
        _, ctx = run(make_ctx, write(tmp_path / f"{column}.{ext}", text), run_id=run_id,
                     batch_size=2, types={"r": "real", "i": "integer", "t": "text"})
        got[column] = [r[column] for r in rows(home, column)]
        assert any("too large for a floating-point number" in m for m in ctx.sink.logs)
    assert got == {"n": ["2.5", "1.0", "1e400"], "t": ["n/a", "0.5", "-1E+400"],
                   "r": [1.5, 1.0], "i": [1, 2]}
    assert [r["reason"] for r in rejected(home)] == [
        "r: '1e400' is not a number (types.r = real)",
        "i: '1e400' is not an integer (types.i = integer)"]


@pytest.mark.parametrize("ext", ["csv", "ndjson", "json"])
def test_numbers_too_small_for_a_float_are_kept_as_written(make_ctx, home, tmp_path, ext):
    # 1e-400 reads as 0.0 (below the smallest float, 5e-324): stored so, a measurement
    # became zero and -1E-999 lost its sign. Kept as text, as 1e400 is; a zero written
    # with an exponent (0e-500) or many digits is a zero and stays a number, in a later
    # batch too.
    values = {"tiny": ["2.5", "1e-400", "-1E-999"], "zero": ["0.5", "0e-500", "0." + "0" * 400]}
    got = {}
    for run_id, (column, cells) in enumerate(values.items(), start=1):
        if ext == "csv":
            text = f"{column}\n" + "".join(f"{v}\n" for v in cells)
        else:
            records = [f'{{"{column}": {v}}}' for v in cells]
            text = "\n".join(records) if ext == "ndjson" else "[" + ",\n".join(records) + "]"
        run(make_ctx, write(tmp_path / f"{column}.{ext}", text), run_id=run_id, batch_size=2)
        got[column] = [r[column] for r in rows(home, column)]
    assert got == {"tiny": ["2.5", "1e-400", "-1E-999"], "zero": [0.5, 0.0, 0.0]}
    assert schema(home, "tiny")["tiny"] == "TEXT" and schema(home, "zero")["zero"] == "REAL"


BIG = 2**53 + 1  # a REAL holds it as 2**53


@pytest.mark.parametrize("ext", ["csv", "ndjson"])
def test_whole_numbers_a_real_would_round_make_their_column_text(make_ctx, home, tmp_path, ext):
    def body(values):
        if ext == "csv":
            return "v\n" + "".join(f"{v}\n" for v in values)
        return "".join(f'{{"v": {v}}}\n' for v in values)

    # In one batch; a big number after fractions were written (read again); and across
    # files, both ways round (the table's rows are looked at).
    cases = {"one": [[BIG, 1.5]], "later": [[1.5, 2], [BIG]], "after": [[BIG], [1.5]],
             "tables": [[BIG]], "tables2": [[1.5]]}
    for n, (name, values) in enumerate(cases.items(), start=1):
        flat = [v for batch in values for v in batch]
        table = name.rstrip("2")
        result, _ = run(make_ctx, write(tmp_path / f"{name}.{ext}", body(flat)), run_id=n,
                        table=table, batch_size=len(values[0]))
        if name in ("one", "tables2"):
            assert "a REAL to keep exactly" in result["files"][0]["warnings"][0]
    got = {t: [r["v"] for r in rows(home, t)] for t in ("one", "later", "after", "tables")}
    assert got == {"one": [str(BIG), "1.5"], "later": ["1.5", "2", str(BIG)],
                   "after": [str(BIG), "1.5"], "tables": [str(BIG), "1.5"]}
    assert schema(home, "after")["v"] == "TEXT"
    result, _ = run(make_ctx, write(tmp_path / f"set.{ext}", body([BIG, 1.5])), run_id=9,
                    table="set", types={"v": "real"})
    assert rows(home, "set") == [{"v": float(BIG)}, {"v": 1.5}]
    assert result["files"][0]["warnings"] == []


def test_a_rebuild_keeps_each_columns_collation(make_ctx, home, tmp_path):
    # COLLATE NOCASE was dropped by the rebuild: "= 'a'" no longer found 'A', and a
    # column's own change (here "code" to text) lost it too.
    _own_table(home, 'CREATE TABLE tags (id INTEGER, name TEXT COLLATE NOCASE, '
                     '"the code" INTEGER COLLATE RTRIM, note COLLATE NOCASE, n INTEGER);'
                     "INSERT INTO tags VALUES (1, 'Alpha', 7, 'X', 1);")
    run(make_ctx, write(tmp_path / "g.csv", "id,name,the code,n\n2,beta,x ,y\n"),
        table="tags")
    assert schema(home, "tags") == {"id": "INTEGER", "name": "TEXT", "the code": "TEXT",
                                    "note": "", "n": "TEXT", "_import_id": "INTEGER"}
    conn = connect(home)
    try:
        found = conn.execute("SELECT id FROM tags WHERE name = 'ALPHA' AND note = 'x' "
                             "UNION ALL SELECT id FROM tags WHERE \"the code\" = 'x'"
                             ).fetchall()
    finally:
        conn.close()
    assert [tuple(r) for r in found] == [(1,), (2,)]


def test_json_fractions_beside_a_whole_number_a_real_would_round_keep_every_digit(
        make_ctx, home, tmp_path):
    # The column turns text in the batch that holds both: its fractions were written by
    # SQLite, with 15 digits ("0.3", "1.26904792870006e+306").
    fractions = ["0.30000000000000004", "1.2690479287000647e+306"]
    cases = {"one": [[BIG, *fractions]], "later": [fractions, [BIG]],
             "after": [[BIG, BIG], fractions]}
    for n, (name, values) in enumerate(cases.items(), start=1):
        flat = [v for batch in values for v in batch]
        run(make_ctx, write(tmp_path / f"{name}.ndjson", "".join(f'{{"v": {v}}}\n'
                                                                 for v in flat)),
            run_id=n, batch_size=len(values[0]))
        assert [r["v"] for r in rows(home, name)] == [str(v) for v in flat], name


def test_pk_column_must_exist(make_ctx, home, tmp_path):
    err, _ = fail(make_ctx, write(tmp_path / "k.csv", "a,b\n1,2\n"), mode="upsert", pk=["id"])
    assert str(err) == "k.csv: there is no column 'id' for the primary key (pk); the columns are: a, b"


def test_batch_check_agrees_with_value_by_value_check():
    # The fast whole-column patterns must decide exactly like classify_text would.
    rnd = random.Random(7)
    alphabet = "0123456789-.eE+x \x1f"
    for _ in range(50_000):
        values = ["".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, rnd.choice([4, 22]))))
                  for _ in range(rnd.randint(1, 5))]
        for level in ("empty", "integer", "real"):
            slow = level
            for v in values:
                slow = types.wider(slow, types.classify_text(v))
            assert types.scan_text(values, level) == slow, (values, level)
            if level != "empty":
                assert types.misfits_text(values, level) == [
                    i for i, v in enumerate(values) if not types.fits_text(v, level)]


def test_an_explicit_type_wider_than_the_tables_widens_it(make_ctx, home, tmp_path):
    run(make_ctx, write(tmp_path / "a.csv", "zip\n10115\n"), table="z")
    _, ctx = run(make_ctx, write(tmp_path / "b.csv", "zip\n01067\n"), run_id=2, table="z",
                 types={"zip": "text"})
    assert schema(home, "z")["zip"] == "TEXT"
    assert rows(home, "z") == [{"zip": "10115"}, {"zip": "01067"}]
    assert "b.csv: column zip: integer -> text (types.zip = text)" in ctx.sink.logs


def _own_table(home, sql: str) -> None:
    """A table the user made, with declared types, a constraint and a trigger of their own."""
    home.default_data_db.parent.mkdir(parents=True, exist_ok=True)
    conn = connect(home)
    conn.executescript(sql)
    conn.close()


def _schema_sql(home) -> list[str]:
    conn = connect(home)
    try:
        return [r[0] for r in conn.execute("SELECT sql FROM sqlite_master WHERE name NOT LIKE "
                                           "'\\_%' ESCAPE '\\' ORDER BY name")]
    finally:
        conn.close()


def test_a_users_table_keeps_its_triggers_when_a_column_widens(make_ctx, home, tmp_path):
    _own_table(home, "CREATE TABLE stock (id INTEGER, qty REAL);"
                     "CREATE TABLE log (id INTEGER);"
                     "CREATE TRIGGER stock_log AFTER INSERT ON stock "
                     "BEGIN INSERT INTO log VALUES (new.id); END;"
                     "INSERT INTO stock VALUES (1, 2.5);")
    run(make_ctx, write(tmp_path / "s.csv", "id,qty\n2,many\n"), table="stock")
    assert schema(home, "stock")["qty"] == "TEXT"
    run(make_ctx, write(tmp_path / "t.csv", "id,qty\n3,4\n"), run_id=2, table="stock")
    assert [r["id"] for r in rows(home, "log")] == [1, 2, 3]  # the trigger still fires


def test_a_without_rowid_table_is_not_rebuilt_and_the_error_says_what_to_do(make_ctx, home,
                                                                           tmp_path):
    _own_table(home, "CREATE TABLE codes (code TEXT PRIMARY KEY, qty REAL) WITHOUT ROWID;"
                     "INSERT INTO codes VALUES ('a', 2.5);")
    run(make_ctx, write(tmp_path / "new.csv", "code,qty,note\nb,1,x\n"), table="codes")
    err, _ = fail(make_ctx, write(tmp_path / "s.csv", "code,qty\nc,many\n"), run_id=2,
                  table="codes")
    assert str(err) == (
        "s.csv: column qty of table codes would have to change from real to text, which means "
        "rebuilding the table, and a WITHOUT ROWID table cannot be rebuilt by the import; set "
        "types.qty = \"real\" to set the rows that do not fit aside, or change the column's "
        "type yourself (make the table again with qty TEXT and copy its rows over)")
    run(make_ctx, write(tmp_path / "s.csv", "code,qty\nc,many\n"), run_id=3, table="codes",
        types={"qty": "real"})
    assert rows(home, "codes", "code, qty, note", order="code") == [
        {"code": "a", "qty": 2.5, "note": None}, {"code": "b", "qty": 1.0, "note": "x"}]
    assert [r["reason"] for r in rejected(home)] == ["qty: 'many' is not a number (types.qty = real)"]



def test_a_table_with_generated_columns_keeps_them_and_the_errors_say_what_to_do(
        make_ctx, home, tmp_path):
    table = ("CREATE TABLE pay (a INTEGER, twice INTEGER GENERATED ALWAYS AS (a * 2), "
             "c INTEGER, kept INTEGER AS (c + 1) STORED)")
    _own_table(home, table + "; INSERT INTO pay (a, c) VALUES (1, 2);")
    run(make_ctx, write(tmp_path / "ok.csv", "a,c\n5,6\n"), table="pay")
    # The rebuild that would make c text would drop the generated columns: refused.
    err, _ = fail(make_ctx, write(tmp_path / "s.csv", "a,c\n7,many\n"), run_id=2, table="pay")
    assert str(err) == (
        "s.csv: column c of table pay would have to change from integer to text, which means "
        "rebuilding the table, and a table with generated columns (twice, kept) cannot be "
        "rebuilt by the import; set types.c = \"integer\" to set the rows that do not fit "
        "aside, or change the column's type yourself (make the table again with c TEXT and "
        "copy its rows over)")
    err, _ = fail(make_ctx, write(tmp_path / "g.csv", "a,TWICE\n8,9\n"), run_id=3, table="pay")
    assert str(err) == (
        "g.csv: column 'TWICE' (column 2 of the file) is a generated column of table pay, "
        "computed by the database from others: no file can fill it; leave it out of the "
        "file, or import into another table (set table)")
    [sql] = [s for s in _schema_sql(home) if s.startswith("CREATE TABLE pay")]
    assert sql == table[:-1] + ', "_import_id" INTEGER)'  # only the provenance column added
    assert rows(home, "pay", "a, twice, c, kept") == [
        {"a": 1, "twice": 2, "c": 2, "kept": 3}, {"a": 5, "twice": 10, "c": 6, "kept": 7}]


def test_a_virtual_table_fails_the_file_untouched(make_ctx, home, tmp_path):
    _own_table(home, "CREATE VIRTUAL TABLE notes USING fts5(title, body);"
                     "INSERT INTO notes VALUES ('x', 'y');")
    err, _ = fail(make_ctx, write(tmp_path / "n.csv", "title,body\na,b\n"), table="notes",
                  mode="replace")
    assert str(err) == (
        "n.csv: 'notes' in the database is a virtual table (USING fts5), which cannot take "
        "the _import_id column every imported table has; import into another table (set "
        "table) and copy the rows over with SQL")
    assert rows(home, "notes", "title, body") == [{"title": "x", "body": "y"}]

def test_a_users_numeric_column_takes_text_without_a_rebuild(make_ctx, home, tmp_path):
    # DATE, DECIMAL, BOOLEAN: NUMERIC affinity, which holds text as it is.
    table = ("CREATE TABLE pay (id INTEGER PRIMARY KEY, day DATE, amount DECIMAL(10,2) "
             "CHECK (amount >= 0), paid BOOLEAN, who VARCHAR(10))")
    _own_table(home, table + "; INSERT INTO pay VALUES (1, '2023-01-01', 5.5, 1, 'pre');")
    result, _ = run(make_ctx, write(tmp_path / "p.csv", "id,day,amount,paid,who\n"
                                    "2,2024-02-29,1.25,yes,a\n"), table="pay")
    assert not result.get("warnings")
    [sql] = [s for s in _schema_sql(home) if s.startswith("CREATE TABLE pay")]
    assert sql == table[:-1] + ', "_import_id" INTEGER)'  # only the provenance column added
    assert rows(home, "pay") == [
        {"id": 1, "day": "2023-01-01", "amount": 5.5, "paid": 1, "who": "pre"},
        {"id": 2, "day": "2024-02-29", "amount": 1.25, "paid": "yes", "who": "a"}]


def test_a_rebuild_for_one_column_keeps_the_others_declared_types(make_ctx, home, tmp_path):
    # The rebuild that makes "n" TEXT made DATE, DECIMAL and BOOLEAN columns REAL (and
    # the untyped one TEXT): the next file's '007' was stored as 7.0, and its text in
    # "day" rebuilt the table again, saying "changed from real to text".
    _own_table(home, "CREATE TABLE pay (id INTEGER PRIMARY KEY, n INTEGER, day DATE, "
                     "amount DECIMAL(10,2), paid BOOLEAN, who VARCHAR(10), raw);"
                     "INSERT INTO pay VALUES (1, 5, '2023-01-01', 5.5, 1, 'pre', x'00ff');")
    result, _ = run(make_ctx, write(tmp_path / "p.csv", "id,n,day\n2,x,20240102\n"),
                    table="pay")
    assert result["warnings"] == [
        "p.csv: column n of table pay changed from integer to text because of 1 cell "
        "(line 2: 'x'); set types.n = \"integer\" to set such rows aside, "
        "or \"text\" to keep them as text without this warning"]
    assert schema(home, "pay") == {"id": "INTEGER", "n": "TEXT", "day": "DATE",
                                   "amount": "DECIMAL(10,2)", "paid": "BOOLEAN",
                                   "who": "VARCHAR(10)", "raw": "", "_import_id": "INTEGER"}
    result, _ = run(make_ctx, write(tmp_path / "q.csv", "id,day,amount\n3,someday,007\n"),
                    table="pay")
    assert not result.get("warnings")
    assert rows(home, "pay", "id, n, day, amount, raw") == [
        {"id": 1, "n": "5", "day": "2023-01-01", "amount": 5.5, "raw": b"\x00\xff"},
        {"id": 2, "n": "x", "day": 20240102, "amount": None, "raw": None},
        {"id": 3, "n": None, "day": "someday", "amount": 7, "raw": None}]


def test_a_column_changed_by_a_file_says_how_many_numbers_it_held_in_words(make_ctx, home,
                                                                           tmp_path):
    # "because of 1 cell (line 3: 'x') among 1 numbers"
    run(make_ctx, write(tmp_path / "a.csv", "id,v\n1,10\n"), table="t")
    result, _ = run(make_ctx, write(tmp_path / "b.csv", "id,v\n2,5\n3,x\n"), table="t",
                    run_id=2)
    assert result["warnings"] == [
        "b.csv: column v of table t changed from integer to text because of 1 cell (line 3: "
        "'x') among 1 number; set types.v = \"integer\" to set such rows aside, or \"text\" to "
        "keep them as text without this warning"]
