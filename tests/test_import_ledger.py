"""The ledger: same content skipped, runs never doubled; modes, undo, cancel, preview."""

from __future__ import annotations

import os
import subprocess
from contextlib import contextmanager

import openpyxl
import pydantic
import pytest

from test_import_support import (KIND, connect, fail, ledger, params, rejected, rows, run, tables,
                                 write)
from trayjobs.errors import Cancelled
from trayjobs.kinds.importer import ImportParams


def test_same_content_is_skipped_even_renamed_and_changed_content_imported(make_ctx, home,
                                                                         tmp_path):
    first = write(tmp_path / "jan.csv", "id,v\n1,a\n2,b\n")
    run(make_ctx, first, table="t")
    copy = write(tmp_path / "copy of jan.csv", first.read_bytes())
    result, ctx = run(make_ctx, copy, run_id=2, table="t")
    assert result["summary"] == "0 rows imported; 1 file already imported"
    [entry] = result["files"]
    assert entry["status"] == "skipped"
    assert entry["message"].startswith("already imported: same content as jan.csv (run 1, ")
    assert entry["message"].endswith("2 rows in t); skipped (to import it again all the same, "
                                     "set reimport = true for the job)")
    assert len(rows(home, "t")) == 2
    write(tmp_path / "jan.csv", "id,v\n1,a\n2,b\n3,c\n")  # changed: imported per the mode
    result, _ = run(make_ctx, first, run_id=3, table="t")
    assert result["summary"] == "3 rows imported into t" and len(rows(home, "t")) == 5
    result, _ = run(make_ctx, copy, run_id=4, table="t", reimport=True)
    assert result["rows"] == 2 and len(rows(home, "t")) == 7
    assert [e["rows"] for e in ledger(home)] == [2, 3, 2]


def test_an_export_that_grew_since_its_import_is_said_to_repeat_its_rows(make_ctx, home,
                                                                        tmp_path):
    # The same export saved again with a row more: new content, so imported whole, and the
    # rows of the first import were in the table twice without a word.
    path = write(tmp_path / "bank.csv", "id,v\n1,a\n2,b\n")
    run(make_ctx, path, table="t")
    write(path, "id,v\n1,a\n2,b\n3,c\n")
    result, _ = run(make_ctx, path, run_id=2, table="t")
    assert result["warnings"] == [
        "bank.csv: it starts with the whole file as run 1 imported it, so those 2 rows are in "
        "t twice now; for a file that grows, use mode = \"upsert\" with a pk, or \"replace\" "
        "(undo this run with trayjobs undo 2)"]
    assert [r["id"] for r in rows(home, "t")] == [1, 2, 1, 2, 3]
    # Another file of the name, not starting so, is simply imported; as is a grown one
    # upserted by its key.
    write(path, "id,v\n9,z\n2,b\n3,c\n4,d\n")
    result, _ = run(make_ctx, path, run_id=3, table="t")
    assert not result.get("warnings")
    write(path, "id,v\n9,z\n2,b\n3,c\n4,d\n5,e\n")
    result, _ = run(make_ctx, path, run_id=4, table="u", mode="upsert", pk=["id"])
    result, _ = run(make_ctx, write(path, "id,v\n9,z\n2,b\n3,c\n4,d\n5,e\n6,f\n"),
                    run_id=5, table="u", mode="upsert", pk=["id"])
    assert not result.get("warnings") and len(rows(home, "u")) == 6


def test_a_file_whose_table_was_dropped_or_emptied_imports_again(make_ctx, home, tmp_path):
    path = write(tmp_path / "jan.csv", "id,v\n1,a\n2,b\n")
    run(make_ctx, path, table="t")
    with connect(home) as conn:
        conn.execute("DROP TABLE t")  # to start afresh: "already imported" would be untrue
    result, _ = run(make_ctx, path, run_id=2, table="t")
    assert result["summary"] == "2 rows imported into t" and len(rows(home, "t")) == 2
    with connect(home) as conn:
        conn.execute("DELETE FROM t")
    result, _ = run(make_ctx, path, run_id=3, table="t")
    assert result["rows"] == 2 and len(rows(home, "t")) == 2
    result, _ = run(make_ctx, path, run_id=4, table="t")  # rows there: skipped as before
    assert result["summary"] == "0 rows imported; 1 file already imported"


def test_a_run_done_again_never_doubles_rows(make_ctx, home, tmp_path):
    a = write(tmp_path / "a.csv", "n\n1\n2\n")
    b = write(tmp_path / "b.csv", "n\n3\n")
    run(make_ctx, a, run_id=7, table="t")  # an attempt that got as far as the first file
    result, ctx = run(make_ctx, a, b, run_id=7, table="t", processed_dir="processed")
    assert result["summary"] == "2 files: 3 rows imported into t"
    assert [f["status"] for f in result["files"]] == ["resumed", "imported"]
    assert "a.csv: already imported by this run (an earlier attempt): 2 rows" in ctx.sink.logs
    # ...and once more after the files were moved aside: found in the ledger by path
    again, _ = run(make_ctx, a, b, run_id=7, table="t")
    assert [f["status"] for f in again["files"]] == ["resumed", "resumed"]
    assert [r["n"] for r in rows(home, "t")] == [1, 2, 3]


def test_upsert_updates_by_key_and_undo_puts_old_rows_back(make_ctx, home, tmp_path):
    run(make_ctx, write(tmp_path / "v1.csv", "id,price\n1,10\n2,20\n"), table="p",
        mode="upsert", pk=["id"])
    second, _ = run(make_ctx, write(tmp_path / "v2.csv", "id,price,note\n2,25,up\n3,30,new\n"),
                    run_id=2, table="p", mode="upsert", pk=["id"])
    assert second["summary"] == "2 rows imported into p (1 new, 1 updated)"
    assert rows(home, "p", order="id") == [{"id": 1, "price": 10, "note": None},
                                          {"id": 2, "price": 25, "note": "up"},
                                          {"id": 3, "price": 30, "note": "new"}]
    done = KIND.undo(make_ctx(run_id=99), params(), {"id": 2, "job": "job", "result": second})
    assert done["summary"] == "removed 2 rows from p (1 file); put back 1 row it had updated"
    assert rows(home, "p", order="id") == [{"id": 1, "price": 10, "note": None},
                                          {"id": 2, "price": 20, "note": None}]
    KIND.undo(make_ctx(run_id=99), params(), {"id": 1, "job": "job", "result": {}})
    assert rows(home, "p") == [] and ledger(home) == []


def test_an_upsert_says_how_many_rows_are_new_updated_or_repeated_in_the_file(
        make_ctx, home, tmp_path):
    # "5 rows imported" for a table that gained 3 would not be the truth about the data.
    run(make_ctx, write(tmp_path / "v1.csv", "id,v\n3,old\n"), table="p", mode="upsert",
        pk=["id"])
    # Batches of 2: the one with the empty key is rolled back and written row by row.
    result, ctx = run(make_ctx, write(tmp_path / "v2.csv", "id,v\n1,a\n2,b\n1,c\n,x\n3,d\n"),
                      run_id=2, table="p", mode="upsert", pk=["id"], batch_size=2)
    assert result["summary"] == ("4 rows imported into p (2 new, 1 updated; 1 row repeated a "
                                 "key given before, the last one kept), 1 rejected (table "
                                 "_rejected)")
    [entry] = result["files"]
    assert {k: entry["details"][k] for k in ("new", "updated", "repeated")} == {
        "new": 2, "updated": 1, "repeated": 1}
    assert rows(home, "p", order="id") == [{"id": 1, "v": "c"}, {"id": 2, "v": "b"},
                                          {"id": 3, "v": "d"}]
    assert any(line.startswith("v2.csv: 4 rows imported into p (2 new, 1 updated; 1 row "
                               "repeated a key given earlier in the file") for line in ctx.sink.logs)


def test_upsert_on_an_existing_table_adds_a_unique_index(make_ctx, home, tmp_path):
    run(make_ctx, write(tmp_path / "a.csv", "code,n\nx,1\ny,2\n"), table="c")
    _, ctx = run(make_ctx, write(tmp_path / "b.csv", "code,n\ny,3\n"), run_id=2, table="c",
                 mode="upsert", pk=["code"])
    assert rows(home, "c") == [{"code": "x", "n": 1}, {"code": "y", "n": 3}]
    assert "b.csv: added unique index c_code_key so that rows can be matched on code" in ctx.sink.logs
    run(make_ctx, write(tmp_path / "dup.csv", "code,n\nz,1\nz,2\n"), run_id=3, table="d")
    err, _ = fail(make_ctx, write(tmp_path / "e.csv", "code,n\nz,5\n"), run_id=4, table="d",
                  mode="upsert", pk=["code"])
    assert str(err) == "e.csv: cannot upsert on code: table d already holds rows with the same code"


def test_insert_with_a_key_rejects_duplicates_and_empty_keys(make_ctx, home, tmp_path):
    result, _ = run(make_ctx, write(tmp_path / "k.csv", "id,v\n1,a\n1,b\n,c\n2,d\n"),
                    pk=["id"], batch_size=2)
    assert rows(home, "k") == [{"id": 1, "v": "a"}, {"id": 2, "v": "d"}]
    assert sorted((r["line"], r["reason"]) for r in rejected(home)) == [
        (3, "refused by the database: UNIQUE constraint failed: k.id"),
        (4, "the primary key id is empty")]
    assert result["summary"] == "2 rows imported into k, 2 rejected (table _rejected)"


def test_replace_mode_swaps_the_table_for_the_runs_files(make_ctx, home, tmp_path):
    a = write(tmp_path / "a.csv", "n\n1\n2\n")
    b = write(tmp_path / "b.csv", "n\n3\n")
    c = write(tmp_path / "c.csv", "n\n4\n")
    run(make_ctx, a, run_id=1, table="t", mode="replace")
    result, ctx = run(make_ctx, b, run_id=2, table="t", mode="replace")
    assert [r["n"] for r in rows(home, "t")] == [3]
    assert "b.csv: replacing the 2 rows of t" in ctx.sink.logs
    run(make_ctx, a, run_id=3, table="t", mode="replace")  # replaced before: not skipped
    assert [r["n"] for r in rows(home, "t")] == [1, 2]
    result, _ = run(make_ctx, a, c, run_id=4, table="t", mode="replace")
    assert [f["status"] for f in result["files"]] == ["skipped", "imported"]
    assert sorted(r["n"] for r in rows(home, "t")) == [1, 2, 4]  # a's rows belong to the run


def test_a_replace_by_a_file_without_rows_says_the_table_was_emptied(make_ctx, home, tmp_path):
    # An export that came out as its header line alone emptied the table, and the warning
    # asked only "is it the file you meant?", as if nothing had changed.
    run(make_ctx, write(tmp_path / "stock.csv", "n\n1\n2\n"), run_id=1, table="t", mode="replace")
    result, _ = run(make_ctx, write(tmp_path / "stock2.csv", "n\n"), run_id=2, table="t",
                    mode="replace")
    assert rows(home, "t") == []
    assert result["warnings"] == [
        "stock2.csv: no rows imported: it holds a header line and no records; is it the file "
        "you meant?",
        "stock2.csv: table t is empty now: mode = \"replace\" took out its 2 rows and this "
        "file put none in; trayjobs undo 2 names the files to import again for them"]
    # So is one whose every row was set aside (not when the table was empty already).
    result, _ = run(make_ctx, write(tmp_path / "stock3.csv", "n\nx\n"), run_id=3, table="t",
                    mode="replace", types={"n": "integer"})
    assert not any("is empty now" in w for w in result["warnings"])
    run(make_ctx, write(tmp_path / "stock4.csv", "n\n5\n"), run_id=4, table="t", mode="replace")
    result, _ = run(make_ctx, write(tmp_path / "stock5.csv", "n\nx\n"), run_id=5, table="t",
                    mode="replace", types={"n": "integer"})
    assert result["warnings"][-1] == (
        "stock5.csv: table t is empty now: mode = \"replace\" took out its 1 row and this "
        "file put none in; trayjobs undo 5 names the files to import again for them")
    # Not when a later file of the run fills it again.
    run(make_ctx, write(tmp_path / "stock6.csv", "n\n6\n"), run_id=6, table="t", mode="replace")
    result, _ = run(make_ctx, write(tmp_path / "head.csv", "n\n"),
                    write(tmp_path / "stock7.csv", "n\n7\n"), run_id=7, table="t", mode="replace")
    assert rows(home, "t") == [{"n": 7}]
    assert not any("is empty now" in w for w in result["warnings"])


def test_undo_removes_every_row_of_the_run_and_only_those(make_ctx, home, tmp_path):
    run(make_ctx, write(tmp_path / "keep.csv", "n\n0\n"), run_id=1, table="t")
    result, _ = run(make_ctx, write(tmp_path / "x.csv", "n\n1\n2\nbad,row\n"),
                    write(tmp_path / "y.json", '[{"k": "v"}]'), run_id=2, table="t")
    run(make_ctx, write(tmp_path / "z.csv", "n\n9\n"), run_id=2, job="other", table="t")
    assert result["summary"] == "2 files: 3 rows imported into t, 1 rejected (table _rejected)"
    done = KIND.undo(make_ctx(run_id=50), params(),
                     {"id": 2, "job": "job", "result": result, "inputs": {}})
    assert done["summary"] == "removed 3 rows from t (2 files)"
    assert [r["n"] for r in rows(home, "t")] == [0, 9]
    assert [e["run_id"] for e in ledger(home)] == [1, 2]  # job "other" has its own run 2
    assert rejected(home) == []
    again = KIND.undo(make_ctx(run_id=50), params(), {"id": 2, "job": "job", "result": {}})
    assert again["summary"] == "nothing to undo: run 2 left no imports in data.db"


def test_undo_of_a_replace_names_the_files_whose_rows_it_cannot_put_back(make_ctx, home,
                                                                         tmp_path):
    # The undo left the table empty and said only that the replaced rows were gone, not
    # that importing their file again brings them back (which is not skipped).
    first = write(tmp_path / "jan.csv", "n\n1\n2\n")
    run(make_ctx, first, run_id=1, table="t", mode="replace")
    result, _ = run(make_ctx, write(tmp_path / "feb.csv", "n\n3\n"), run_id=2, table="t",
                    mode="replace")
    done = KIND.undo(make_ctx(run_id=50), params(),
                     {"id": 2, "job": "job", "result": result, "inputs": {}})
    assert done["summary"] == ("removed 1 row from t (1 file); the rows it replaced in t were "
                               "not kept and cannot be put back: import jan.csv (run 1) again "
                               "to bring them back")
    assert rows(home, "t") == []
    again, _ = run(make_ctx, first, run_id=3, table="t", mode="replace")
    assert again["summary"] == "2 rows imported into t" and len(rows(home, "t")) == 2


def test_cancel_between_batches_leaves_the_table_untouched(make_ctx, home, tmp_path,
                                                         monkeypatch):
    monkeypatch.setattr("trayjobs.kinds.importer.runner.PROGRESS_INTERVAL", 0)
    first = write(tmp_path / "first.csv", "n\n1\n")
    big = write(tmp_path / "big.csv", "n\n" + "".join(f"{i}\n" for i in range(20_000)))
    ctx = make_ctx(files=[first, big])
    sink = ctx.sink

    def cancel_midway(msg):
        sink(msg)
        if msg["t"] == "progress" and msg["message"] == "1,000 rows · big.csv":
            ctx.cancel_event.set()
    ctx.sink = cancel_midway
    with pytest.raises(Cancelled):
        KIND.run(ctx, params(table="t", batch_size=500))
    assert [r["n"] for r in rows(home, "t")] == [1]
    assert [e["file"] for e in ledger(home)] == ["first.csv"]
    assert big.exists()


def test_progress_reports_bytes_and_rows(make_ctx, tmp_path):
    path = write(tmp_path / "p.csv", "n\n" + "".join(f"{i}\n" for i in range(10_000)))
    _, ctx = run(make_ctx, path, batch_size=100)
    progress = ctx.sink.of("progress")
    assert {m["unit"] for m in progress} == {"bytes"}
    assert progress[-1]["done"] == progress[-1]["total"] == path.stat().st_size
    assert progress[-1]["message"] == "10,000 rows · p.csv"
    stamps = [m["ts"] for m in progress]
    assert len(progress) <= 2 + 20 * (stamps[-1] - stamps[0] + 0.1)  # at most ~20 a second


def test_preview_shows_columns_types_rows_and_rejects_and_writes_nothing(make_ctx, home,
                                                                       tmp_path):
    path = write(tmp_path / "pv.csv", "id,amount,day\n1,2.5,2024-01-01\n2,,x\n3,oops\n")
    ctx = make_ctx(files=[path], dry_run=True)
    result = KIND.run(ctx, params(types={"day": "text"}, processed_dir="processed"))
    assert result["columns"] == ["id", "amount", "day"]
    assert result["types"] == {"id": "integer", "amount": "real", "day": "text"}
    assert result["sample"] == [{"id": 1, "amount": 2.5, "day": "2024-01-01"},
                                {"id": 2, "amount": None, "day": "x"}]
    assert result["rejects"] == [{"line": 4, "reason": "too few fields: 2 instead of 3",
                                  "raw": "3,oops"}]
    assert result["summary"].startswith("preview of pv.csv: 3 columns, 2 rows read, 1 would be")
    assert path.exists() and not home.default_data_db.exists() and tables(home) == set()
    one = write(tmp_path / "one.csv", "id\n1\n")
    result = KIND.run(make_ctx(files=[one], dry_run=True), params())
    assert result["summary"] == ("preview of one.csv: 1 column, 1 row read, 0 would be rejected "
                                 "-> table one")


def test_preview_shows_the_start_of_a_field_of_megabytes(make_ctx, home, tmp_path):
    # Whole, the field went into the result twice: a preview of 100 MB in the history.
    path = write(tmp_path / "long.csv", "id,note\n1," + "x" * 5_000_000 + "\n2,short\n")
    result = KIND.run(make_ctx(files=[path], dry_run=True), params())
    assert result["sample"] == [{"id": 1, "note": "x" * 4000 + "…"}, {"id": 2, "note": "short"}]
    # ... and of one that would be rejected, in the reason too.
    result = KIND.run(make_ctx(files=[path], dry_run=True), params(types={"note": "integer"}))
    reject = result["rejects"][0]  # "short" is no integer either
    assert reject["reason"] == ("note: 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx… "
                                "(4,999,942 more characters) is not integer (types.note)")
    assert len(reject["raw"]) < 4100


@pytest.mark.parametrize("raw, fragment", [
    ({"mode": "upsert"}, "mode 'upsert' needs pk"),
    ({"encoding": "klingon"}, "unknown encoding 'klingon'"),
    ({"delimiter": ";;"}, "delimiter must be a single character"),
    ({"table": "_imports"}, "is one of the importer's own tables"),
    ({"table": "sqlite_stat1"}, "reserved by SQLite"),
    ({"pk": ["id", "ID"]}, "pk lists a column twice"),
    ({"format": "json", "delimiter": ";"}, "delimiter applies to CSV/TSV, not to json: remove it"),
    ({"quotechar": ";", "delimiter": ";"}, "quotechar ';' is also the delimiter"),
    ({"quotechar": "\t", "format": "tsv"}, "quotechar '\\t' is also the delimiter"),
    ({"quotechar": "\n"}, "quotechar must be one character other than a line break"),
    ({"mode": "merge"}, "Input should be 'insert', 'upsert' or 'replace'"),
    ({"types": {"a": "date"}}, "Input should be 'integer', 'real' or 'text'"),
    ({"tabel": "x"}, "Extra inputs are not permitted"),
])
def test_inconsistent_settings_are_refused_when_loaded(raw, fragment):
    with pytest.raises(pydantic.ValidationError) as info:
        ImportParams.model_validate(raw)
    assert fragment in str(info.value)


def test_every_setting_is_described():
    for name, field in ImportParams.model_fields.items():
        assert field.description, name


def test_database_setting_and_a_file_named_twice(make_ctx, home, tmp_path):
    path = write(tmp_path / "a.csv", "n\n1\n")
    result, _ = run(make_ctx, path, path, database="bank.db")
    assert result["summary"] == "1 row imported into a"
    assert result["database"] == str(home.data_dir / "bank.db")
    elsewhere = tmp_path / "other" / "x.db"
    run(make_ctx, write(tmp_path / "b.csv", "n\n2\n"), run_id=2, database=str(elsewhere))
    assert elsewhere.exists() and not home.default_data_db.exists()

    # Named twice in other spellings (a "..", a link to its folder): still one file, moved
    # aside once, not "gone" the second time.
    (tmp_path / "link").symlink_to(tmp_path / "in")
    c = write(tmp_path / "in" / "c.csv", "n\n3\n")
    result, _ = run(make_ctx, c, tmp_path / "in" / ".." / "in" / "c.csv",
                    tmp_path / "link" / "c.csv", run_id=3, processed_dir="done")
    assert result["summary"] == "1 row imported into c"
    assert [f["status"] for f in result["files"]] == ["imported"]
    assert (tmp_path / "in" / "done" / "c.csv").exists()


def test_a_database_setting_that_names_no_file_fails_clearly_once(make_ctx, home, tmp_path):
    path = write(tmp_path / "a.csv", "n\n1\n")
    folder = tmp_path / "dbs"
    folder.mkdir()
    err, _ = fail(make_ctx, path, database=str(folder))
    assert str(err) == f"{folder}: this is a folder, not a database file; set database to a file"
    assert err.retry is False
    pipe = tmp_path / "feed.db"
    os.mkfifo(pipe)  # SQLite said only "disk I/O error"
    err, _ = fail(make_ctx, path, run_id=3, database=str(pipe))
    assert str(err) == (f"{pipe}: this is a named pipe, not a database file; set database to "
                        f"a file")
    assert err.retry is False
    blocker = write(tmp_path / "plain", "not a folder")
    err, _ = fail(make_ctx, path, run_id=2, database=str(blocker / "x.db"))
    assert str(err).startswith(f"{blocker / 'x.db'}: its folder cannot be made (")
    assert err.retry is False
    assert path.exists()



@contextmanager
def _read_only(folder):
    """``folder``, read-only for this process: by its mode, or for root (whom modes do not
    stop) as a read-only tmpfs mounted on it."""
    folder.mkdir()
    folder.chmod(0o555)
    mounted = False
    try:
        if os.access(folder, os.W_OK):
            mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "none",
                                      str(folder)], capture_output=True).returncode == 0
            if not mounted:
                pytest.skip("cannot make a folder read-only here")
        yield folder
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(folder)], check=False)
        folder.chmod(0o755)


def test_a_database_in_a_folder_that_cannot_be_written_fails_saying_so(make_ctx, home, tmp_path):
    path = write(tmp_path / "a.csv", "n\n1\n")
    with _read_only(tmp_path / "ro") as folder:
        err, _ = fail(make_ctx, path, database=str(folder / "x.db"))
    assert str(err) == (f"{folder / 'x.db'}: the database cannot be made: its folder cannot be "
                        f"written (read-only, or not yours); set database to a file in a "
                        f"folder you can write to")
    assert err.retry is False
    assert not (folder / "x.db").exists() and path.exists()

def test_a_database_that_is_no_sqlite_file_says_what_to_do_and_is_left_alone(make_ctx,
                                                                             tmp_path):
    notes = tmp_path / "notes.db"
    notes.write_text("my notes, not a database\n")
    path = write(tmp_path / "a.csv", "n\n1\n")
    err, _ = fail(make_ctx, path, database=str(notes))
    assert str(err) == (f"{notes}: the database file is damaged or not an SQLite database "
                        f"(file is not a database); it is left as it is: set database to "
                        f"another file, or restore this one from a backup")
    assert notes.read_text() == "my notes, not a database\n" and path.exists()


def test_two_runs_of_the_same_file_at_once_import_it_once(make_ctx, home, tmp_path,
                                                          monkeypatch):
    # Both look the file up before either writes; the second to get the database must
    # find the first one's import there, not add the rows again.
    from trayjobs.kinds.importer.store import Store
    path = write(tmp_path / "a.csv", "n\n1\n2\n")
    real_begin, begun, other = Store.begin, {}, []

    def begin(store):
        begun[id(store)] = begun.get(id(store), 0) + 1
        if begun[id(store)] == 2 and not other:  # run 1 is about to write the file
            other.append(None)
            other[0] = run(make_ctx, path, run_id=2, table="t")[0]
        real_begin(store)

    monkeypatch.setattr(Store, "begin", begin)
    result, _ = run(make_ctx, path, run_id=1, table="t")
    assert other[0]["summary"] == "2 rows imported into t"
    assert result["summary"] == "0 rows imported; 1 file already imported"
    assert len(rows(home, "t")) == 2 and [e["run_id"] for e in ledger(home)] == [2]


@pytest.mark.parametrize("head", ["sep=;\n", "\n\n"])
def test_a_fix_file_has_the_header_a_reimport_needs(make_ctx, home, tmp_path, head):
    # Fix and re-import writes the rejected rows under the file's header line: not under an
    # Excel "sep=;" line alone (the first rejected row would be the header), nor none at all
    # because the file starts with blank lines.
    from trayjobs.kinds.importer.browse import write_fix_file
    path = write(tmp_path / "s.csv", head + "id;amount\n1;1.5\n2;lots\n")
    run(make_ctx, path, table="t", types={"amount": "real"})
    [entry] = ledger(home)
    fix = write_fix_file(home.default_data_db, entry, path)
    assert fix.read_text(encoding="utf-8") == head.strip("\n") + (
        "\n" if head.strip() else "") + "id;amount\n2;lots\n"
    fix.write_text(fix.read_text(encoding="utf-8").replace("lots", "7.5"), encoding="utf-8")
    run(make_ctx, fix, run_id=2, table="t", types={"amount": "real"})
    assert rows(home, "t") == [{"id": 1, "amount": 1.5}, {"id": 2, "amount": 7.5}]


def test_a_fix_file_keeps_a_column_name_with_a_line_break(make_ctx, home, tmp_path):
    # A spreadsheet saved as CSV has names such as "Amount" over "(EUR)" in one cell: the
    # fix file's header was the name's first line alone, a quote never closed.
    from trayjobs.kinds.importer.browse import write_fix_file
    path = write(tmp_path / "s.csv", 'id,"Amount\r\n(EUR)"\r\n1,5\r\n2,lots\r\n')
    run(make_ctx, path, table="t", types={"Amount (EUR)": "integer"})
    [entry] = ledger(home)
    fix = write_fix_file(home.default_data_db, entry, path)
    assert fix.read_bytes() == b'id,"Amount\r\n(EUR)"\n2,lots\n'
    fix.write_bytes(fix.read_bytes().replace(b"lots", b"7"))
    result, _ = run(make_ctx, fix, run_id=2, table="t", types={"Amount (EUR)": "integer"})
    assert result["summary"] == "1 row imported into t"
    assert rows(home, "t", '"id", "Amount (EUR)" AS a') == [{"id": 1, "a": 5},
                                                              {"id": 2, "a": 7}]


@pytest.mark.parametrize("name, content, fixed", [
    # one rejected JSON record: a lone object, which no JSON file of records is
    ("r.json", '[{"id": 1, "q": 5}, {"id": 2, "q": "lots"}]', "r.jsonl"),
    ("r.ndjson", '{"id": 1, "q": 5}\n{"id": 2, "q": "lots"}\n', "r.jsonl"),
    ("r.csv.gz", "id,q\n1,5\n2,lots\n", "r.csv"),  # written as plain text
    ("r.xlsx", None, "r.jsonl"),  # a sheet's rows are written as JSON objects
])
def test_a_fix_file_of_any_format_imports_back_into_the_table(make_ctx, home, tmp_path, name,
                                                               content, fixed):
    from trayjobs.kinds.importer.browse import write_fix_file
    path = tmp_path / name
    if content is None:
        book = openpyxl.Workbook()
        for row in (["id", "q"], [1, 5], [2, "lots"]):
            book.active.append(row)
        book.save(path)
    else:
        write(path, content)
    run(make_ctx, path, types={"q": "integer"})
    [entry] = ledger(home)
    fix = write_fix_file(home.default_data_db, entry, path)
    assert fix.name == fixed
    fix.write_text(fix.read_text(encoding="utf-8").replace('"lots"', "7").replace("lots", "7"),
                   encoding="utf-8")
    result, _ = run(make_ctx, fix, run_id=2, types={"q": "integer"})
    assert result["summary"] == "1 row imported into r"
    assert rows(home, "r") == [{"id": 1, "q": 5}, {"id": 2, "q": 7}]


@pytest.mark.parametrize("encoding", ["cp1250", "utf-16"])
def test_a_fix_file_reads_back_in_the_encoding_the_job_sets(make_ctx, home, tmp_path,
                                                            encoding):
    # The fix file was written in UTF-8 whatever the file's encoding: a job that sets
    # encoding = "cp1250" (as the guess's warning says to) read the corrected rows back as
    # "KrakĂłw", and set aside one whose bytes cp1250 has no letter for.
    from trayjobs.kinds.importer.browse import write_fix_file
    path = write(tmp_path / "pl.csv", "city;amount\nMěsto;2\nŁódź;1,5\nKraków;x\n",
                 encoding=encoding)
    run(make_ctx, path, table="t", encoding=encoding, types={"amount": "integer"})
    [entry] = ledger(home)
    fix = write_fix_file(home.default_data_db, entry, path)
    plain = "utf-16-le" if encoding == "utf-16" else encoding  # no BOM before each piece
    data = fix.read_bytes()  # corrected as an editor does, keeping the file's encoding
    for wrong, right in (("1,5", "15"), (";x", ";7")):
        data = data.replace(wrong.encode(plain), right.encode(plain))
    fix.write_bytes(data)
    result, _ = run(make_ctx, fix, run_id=2, table="t", encoding=encoding,
                    types={"amount": "integer"})
    assert result["summary"] == "2 rows imported into t"
    assert rows(home, "t", "city, amount") == [
        {"city": "Město", "amount": 2}, {"city": "Łódź", "amount": 15},
        {"city": "Kraków", "amount": 7}]


def test_a_run_looks_up_each_of_its_files_by_index_not_by_scanning_its_imports(tmp_path):
    # Each file of a run is looked up among the run's imports (done by an earlier attempt?):
    # by (run_id, job) alone that was a scan of all the run's files so far, for each file,
    # and 50,000 files took hours.
    from trayjobs.kinds.importer.store import Store
    store = Store(tmp_path / "data.db")
    try:
        store.conn.execute("CREATE INDEX _imports_by_run ON _imports (run_id, job)")
        store.close()
        store = Store(tmp_path / "data.db")  # a database of an older version: replaced
        sent: list[str] = []
        store.conn.set_trace_callback(sent.append)
        store.imported_by_run(1, "job", "/in/a.csv")
        store.conn.set_trace_callback(None)
        plan = " ".join(r[3] for r in store.conn.execute("EXPLAIN QUERY PLAN " + sent[-1]))
        assert "INDEX _imports_by_run_path (run_id=? AND job=? AND path=?)" in plan, plan
        names = {r[0] for r in store.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = '_imports'")}
        assert "_imports_by_run" not in names
    finally:
        store.close()
