"""JSON arrays read as a stream, and JSON Lines with bad lines."""

from __future__ import annotations

import json
import random

import pytest

from test_import_support import fail, rejected, rows, run, schema, tables, write


def _records(n: int) -> list[dict]:
    rnd = random.Random(11)
    return [{"id": i, "x": rnd.choice([12345678901, 0.000123, -7, "a\u00e9\U0001f600\"", None]),
             "nested": {"k": [i, "v"]} if i % 3 else [], "s": "y" * rnd.randint(0, 40)}
            for i in range(n)]


@pytest.mark.parametrize("chunk", [1, 7, 64, 1 << 20])
def test_json_array_is_read_in_chunks_without_changing_a_value(make_ctx, home, tmp_path,
                                                               monkeypatch, chunk):
    monkeypatch.setattr("trayjobs.kinds.importer.jsonstream._CHUNK", chunk)
    records = _records(300)
    text = json.dumps({"meta": {"pages": [1, 2]}, "items": records}, indent=1, ensure_ascii=False)
    result, _ = run(make_ctx, write(tmp_path / "api.json", text), table="t", batch_size=64)
    assert result["rows"] == 300
    got = rows(home, "t", "id, x, nested, s", order="id")
    assert [r["id"] for r in got] == list(range(300))
    assert [r["x"] for r in got] == [str(r["x"]) if r["x"] is not None else None for r in records]
    assert [json.loads(r["nested"]) for r in got] == [r["nested"] for r in records]


def test_json_key_picks_the_array_and_problems_are_named(make_ctx, home, tmp_path):
    two = write(tmp_path / "two.json", '{"a": [{"x": 1}], "b": [{"y": 2}, {"y": 3}]}')
    err, _ = fail(make_ctx, two, table="t")
    assert str(err) == ("two.json: line 1, column 25: the object holds more than one array of "
                        "records ('a' and 'b'); set json_key to choose")
    run(make_ctx, two, run_id=2, table="t", json_key="b")
    assert rows(home, "t") == [{"y": 2}, {"y": 3}]
    err, _ = fail(make_ctx, two, run_id=3, table="u", json_key="c")
    assert str(err) == "two.json: the JSON object has no key 'c' (its keys: 'a', 'b')"


def test_an_object_without_records_says_how_to_hold_them(make_ctx, tmp_path):
    # One record on its own: the error said what the file was not, not what it holds or
    # what a file of records looks like.
    err, _ = fail(make_ctx, write(tmp_path / "one.json", '{"id": 1, "tags": {"a": [1, 2]}}'))
    assert str(err) == (
        "one.json: line 1: not a list of records: a JSON object without an array of objects "
        "among its values (its keys: 'id', 'tags'); put the records, one record too, in an "
        "array ([{...}, {...}]): the whole file, or the value of one of its keys")


def test_records_nested_deeper_are_reached_by_a_json_key_path(make_ctx, home, tmp_path):
    # An API's answer holds its records further down ({"response": {"data": [...]}}): the
    # error said to move them up, and json_key could name only a key of the top object.
    api = write(tmp_path / "api.json", '{"status": "ok", "response": {"meta": {"n": 2}, '
                                       '"data": [{"id": 1}, {"id": 2}]}, "x": [1]}')
    err, _ = fail(make_ctx, api)
    assert str(err) == (
        "api.json: line 1: not a list of records: a JSON object without an array of objects "
        "among its values (its keys: 'status', 'response', 'x'); its records may be the "
        "array under response.data: set json_key = \"response.data\" for the job")
    result, _ = run(make_ctx, api, run_id=2, json_key="response.data")
    assert rows(home, "api") == [{"id": 1}, {"id": 2}]
    err, _ = fail(make_ctx, api, run_id=3, table="u", json_key="response.items")
    assert str(err) == ("api.json: the JSON object has no key 'response.items' (under "
                        "'response', its keys: 'meta', 'data')")
    err, _ = fail(make_ctx, api, run_id=4, table="u", json_key="response.meta")
    assert str(err).endswith("the value under 'response.meta' is an object, not an array of "
                             "records")
    # A key that holds a dot itself is still named whole.
    dotted = write(tmp_path / "dotted.json", '{"a.b": [{"x": 1}], "a": {"b": [{"x": 2}]}}')
    run(make_ctx, dotted, run_id=5, json_key="a.b")
    assert rows(home, "dotted") == [{"x": 1}]


def test_odd_elements_after_records_are_rejected_alone(make_ctx, home, tmp_path):
    text = '[\n{"a": 1},\n7,\n{},\n{"a": 2},\n"s"\n]'
    result, _ = run(make_ctx, write(tmp_path / "odd.json", text))
    assert result["summary"] == "2 rows imported into odd, 3 rejected (table _rejected)"
    assert [(r["line"], r["reason"], r["raw"]) for r in rejected(home)] == [
        (3, "not a record: the array holds a number here, not an object", "7"),
        (4, "an empty record: the object has no fields", "{}"),
        (6, "not a record: the array holds a string here, not an object", '"s"')]


def test_elements_before_the_first_record_are_rejected_alone(make_ctx, home, tmp_path):
    text = '[\n7,\n"s",\n{"a": 1},\n[2],\n{"a": 2}\n]'
    result, _ = run(make_ctx, write(tmp_path / "lead.json", text), table="t")
    assert result["summary"] == "2 rows imported into t, 3 rejected (table _rejected)"
    assert rows(home, "t") == [{"a": 1}, {"a": 2}]
    assert [(r["line"], r["reason"], r["raw"]) for r in rejected(home)] == [
        (2, "not a record: the array holds a number here, not an object", "7"),
        (3, "not a record: the array holds a string here, not an object", '"s"'),
        (5, "not a record: the array holds an array here, not an object", "[2]")]


def test_an_array_without_any_record_still_fails(make_ctx, home, tmp_path, monkeypatch):
    err, _ = fail(make_ctx, write(tmp_path / "n.json", '[\n1,\n2\n]'), table="t")
    assert str(err) == ("n.json: line 2: not a list of records: the array (line 1) holds a "
                        "number, not objects")
    # A long run of non-records is not held in memory waiting for one: the file fails.
    monkeypatch.setattr("trayjobs.kinds.importer.jsonstream._LEAD", 3)
    err, _ = fail(make_ctx, write(tmp_path / "m.json", '[1, 2, 3, 4, 5, {"a": 1}]'),
                  run_id=2, table="t")
    assert str(err) == ("m.json: line 1: not a list of records: the array (line 1) holds a "
                        "number, not objects (nor do the next 3)")
    err, _ = fail(make_ctx, write(tmp_path / "b.json", '[1, 2, 3, 4, 5, {"a": 1'),
                  run_id=3, table="t")
    assert "b.json: line 1, column 24: not valid JSON" in str(err)  # broken: said as such
    assert "t" not in tables(home)


@pytest.mark.parametrize("name", ["k.json", "k.ndjson"])
def test_a_key_that_is_not_valid_unicode_names_a_column_with_a_warning(make_ctx, home,
                                                                      tmp_path, name):
    text = '{"a": 1}\n{"\\ud800x": 2, "a": 3}\n'
    if name.endswith(".json"):
        text = "[" + text.replace("}\n{", "},\n{") + "]"
    result, _ = run(make_ctx, write(tmp_path / name, text), table="t")
    assert rows(home, "t") == [{"a": 1, "x": None}, {"a": 3, "x": 2}]
    assert result["warnings"] == [f"{name}: column 2's name '\\ud800x' holds text that is "
                                  f"not valid Unicode (a lone surrogate): called it x"]


@pytest.mark.parametrize("chunk", [7, 13, 4099, 1 << 20])
def test_a_record_nested_too_deeply_to_decode_is_rejected_alone(make_ctx, home, tmp_path,
                                                                monkeypatch, chunk):
    # Valid JSON, but deeper than the decoder recurses: set aside, like such a JSON line.
    monkeypatch.setattr("trayjobs.kinds.importer.jsonstream._CHUNK", chunk)
    deep = '[{"k": "s\\"]", "n": -1.5e3, "t": true}, ' * 3000 + "null" + "]" * 3000
    text = f'[{{"a": 1}},\n{{"a": {deep}}},\n{{"a": 3}}]'
    result, _ = run(make_ctx, write(tmp_path / "deep.json", text), table="t")
    assert result["summary"] == "2 rows imported into t, 1 rejected (table _rejected)"
    assert rows(home, "t") == [{"a": 1}, {"a": 3}]
    [bad] = rejected(home)
    assert (bad["line"], bad["reason"]) == (2, "not readable JSON: nested too deeply")
    assert bad["raw"].startswith('{"a": [{"k": "s\\"]", "n": -1.5e3')
    # Broken inside, it is broken JSON: the file fails, at the place.
    broken = text.replace("null", "nul", 1)
    err, _ = fail(make_ctx, write(tmp_path / "b.json", broken), run_id=2, table="u")
    assert str(err) == (f"b.json: line 2, column {broken.split(chr(10))[1].index('nul') + 1:,}: "
                        f"not valid JSON: expected value")


def test_a_record_larger_than_the_limit_fails_the_file(make_ctx, tmp_path, monkeypatch):
    monkeypatch.setattr("trayjobs.kinds.importer.jsonstream._MAX_ELEMENT", 1000)
    monkeypatch.setattr("trayjobs.kinds.importer.jsonstream._CHUNK", 100)
    err, _ = fail(make_ctx, write(tmp_path / "huge.json", '[{"a": "' + "x" * 5000 + '"}]'))
    assert str(err) == "huge.json: line 1, column 2: a single JSON value is larger than 1,000 bytes"


NDJSON = ('{"id": 1, "v": "a"}\n'
          '\n'
          '{"id": 2, "v": "b", "extra": true}\n'
          '{"id": 3, "v": "c"\n'
          '[1, 2]\n'
          '{}\n'
          '{"v": "e", "id": 5}\n'
          '{"id": 6, "v": "\\ud800"}\n'
          '{"id": 7, "v": NaN}\n'
          '  {"id": 8, "v": "h"}  \n')


def test_ndjson_bad_lines_are_rejected_with_their_line(make_ctx, home, tmp_path):
    result, _ = run(make_ctx, write(tmp_path / "ev.ndjson", NDJSON))
    assert rows(home, "ev") == [{"id": 1, "v": "a", "extra": None},
                                {"id": 2, "v": "b", "extra": 1},
                                {"id": 5, "v": "e", "extra": None},
                                {"id": 8, "v": "h", "extra": None}]
    assert [(r["line"], r["reason"]) for r in rejected(home)] == [
        (4, "not valid JSON: expected ',' delimiter (column 19)"),
        (5, "not a record: the line holds an array, not an object"),
        (6, "an empty record: the object has no fields"),
        (9, "not valid JSON: NaN is not valid JSON"),
        (8, "holds text that is not valid Unicode (a lone surrogate)")]
    assert result["summary"] == "4 rows imported into ev, 5 rejected (table _rejected)"


def test_a_line_that_goes_on_after_its_record_says_with_what(make_ctx, home, tmp_path):
    # A JSON array's lines without its brackets: each record but the last ends in a comma,
    # which was rejected as "extra data", the json module's words.
    run(make_ctx, write(tmp_path / "c.ndjson", '{"a": 1},\n{"a": 2} {"a": 3}\n{"a": 4}\n'))
    assert rows(home, "c") == [{"a": 4}]
    assert [(r["line"], r["reason"]) for r in rejected(home)] == [
        (1, "not valid JSON: a comma after the record; JSON Lines hold one record on each "
            "line, with nothing between them (column 9)"),
        (2, "not valid JSON: more text after the record ('{\"a\": 3}'); JSON Lines hold one "
            "record on each line, with nothing between them (column 10)")]


def test_json_lines_files_joined_with_their_byte_order_marks(make_ctx, home, tmp_path):
    # cat a.jsonl b.jsonl: the second file's byte order mark begins a line, which was
    # rejected as "expected value (column 1)".
    data = b"".join(b'\xef\xbb\xbf{"n": %d}\r\n{"n": %d}\r\n' % (i, i + 1) for i in (1, 3))
    result, _ = run(make_ctx, write(tmp_path / "j.jsonl", data))
    assert rows(home, "j") == [{"n": 1}, {"n": 2}, {"n": 3}, {"n": 4}] and rejected(home) == []


def test_lines_that_only_parse_together_are_not_taken_as_records(make_ctx, home, tmp_path):
    # Read as one array these five lines give five objects, but lines 2-4 are not records.
    text = '{"ok": 1}\n{"a": [{}\n{}]}\n{"x": 1}, {"y": 2}\n{"ok": 2}\n'
    result, _ = run(make_ctx, write(tmp_path / "tricky.ndjson", text))
    assert rows(home, "tricky") == [{"ok": 1}, {"ok": 2}]
    assert [r["line"] for r in rejected(home)] == [2, 3, 4]



def test_a_json_array_named_jsonl_is_read_as_the_array_it_is(make_ctx, home, tmp_path):
    # Line by line, "[" and the records' trailing commas set all but the last aside.
    run(make_ctx, write(tmp_path / "a.jsonl", '[\n  {"id": 1},\n  {"id": 2}\n]\n'))
    assert rows(home, "a") == [{"id": 1}, {"id": 2}] and rejected(home) == []

@pytest.mark.parametrize("name", ["items.json", "items.ndjson", "items"])
def test_objects_printed_one_after_another_are_records(make_ctx, home, tmp_path, name):
    # What jq '.[]' prints (without -c): whole objects over several lines each. Such a
    # file failed, as JSON with "more text after the end of the document", as JSON Lines
    # with "expected property name" on its first line.
    records = [{"id": 1, "tags": ["a"]}, {"id": 2, "name": "Zoë"}, {"id": 3}]
    text = "".join(json.dumps(r, indent=2, ensure_ascii=False) + "\n" for r in records)
    result, _ = run(make_ctx, write(tmp_path / name, text + "7\n"), batch_size=2)
    assert rows(home, "items") == [{"id": 1, "tags": '["a"]', "name": None},
                                   {"id": 2, "tags": None, "name": "Zoë"},
                                   {"id": 3, "tags": None, "name": None}]
    assert [(r["line"], r["reason"], r["raw"]) for r in rejected(home)] == [
        (14, "not a record: the file holds a number here, not an object", "7")]
    assert result["files"][0]["details"]["format"] == "json"


def test_ndjson_that_is_not_json_lines_fails_the_file(make_ctx, tmp_path):
    err, _ = fail(make_ctx, write(tmp_path / "notes.jsonl", "hello\nworld\n"))
    assert str(err) == ("notes.jsonl: line 1: not JSON Lines (one JSON object per line): "
                        "not valid JSON: expected value (column 1)")


def test_new_keys_in_later_records_become_columns(make_ctx, home, tmp_path):
    lines = [json.dumps({"id": i}) for i in range(10)] + [json.dumps({"id": 10, "tag": "x"})]
    run(make_ctx, write(tmp_path / "k.ndjson", "\n".join(lines)), batch_size=3)
    assert schema(home, "k") == {"id": "INTEGER", "_import_id": "INTEGER", "tag": "TEXT"}
    assert rows(home, "k")[-2:] == [{"id": 9, "tag": None}, {"id": 10, "tag": "x"}]


def test_preview_of_json_shows_values_as_they_would_be_stored(make_ctx, home, tmp_path):
    from test_import_support import KIND, params

    path = write(tmp_path / "api.json",
                 '{"items": [{"id": 1, "tags": ["a"], "price": "9.5"}, {"id": "x2", "price": 3}, 5]}')
    result = KIND.run(make_ctx(files=[path], dry_run=True), params(types={"price": "real"}))
    assert result["types"] == {"id": "text", "tags": "text", "price": "real"}
    assert result["sample"] == [{"id": "1", "tags": '["a"]', "price": 9.5},
                                {"id": "x2", "tags": None, "price": 3.0}]
    assert result["rejects"] == [{"line": 1, "raw": "5",
                                  "reason": "not a record: the array holds a number here, not an object"}]
    assert not home.default_data_db.exists()


@pytest.mark.parametrize("name", ["late.ndjson", "late.json"])
def test_a_key_that_appears_only_after_the_first_batch_still_upserts(make_ctx, home, tmp_path,
                                                                    name):
    # The first batch's records have no "id": they are rejected as keyless, not the file.
    records = [{"v": i} for i in range(4)] + [{"id": i, "v": i} for i in range(4, 8)]
    text = ("\n".join(map(json.dumps, records)) if name.endswith("ndjson")
            else json.dumps(records, indent=0))
    path = write(tmp_path / name, text)
    result, _ = run(make_ctx, path, table="t", mode="upsert", pk=["id"], batch_size=3)
    assert result["rows"] == 4 and result["rejected"] == 4
    assert rows(home, "t", "id, v") == [{"id": i, "v": i} for i in range(4, 8)]
    assert {r["reason"] for r in rejected(home)} == {"the primary key id is empty"}
    records = [{"v": 40, "id": 4}, {"v": 50, "id": 5}]
    run(make_ctx, write(tmp_path / "again.ndjson", "\n".join(map(json.dumps, records))),
        run_id=2, table="t", mode="upsert", pk=["id"])
    assert [r["v"] for r in rows(home, "t", "v", order="id")] == [40, 50, 6, 7]


def test_a_key_that_no_record_has_fails_the_file_at_its_end(make_ctx, home, tmp_path):
    path = write(tmp_path / "nokey.ndjson", "\n".join(json.dumps({"v": i}) for i in range(5)))
    err, _ = fail(make_ctx, path, table="t", mode="upsert", pk=["ID"], batch_size=2)
    assert str(err) == ("nokey.ndjson: no record has the key 'ID' for the primary key (pk); "
                        "the keys are: v")
    assert "t" not in tables(home)
