"""Formats, compression, encodings, delimiters and line endings."""

from __future__ import annotations

import codecs
import gzip

import pytest

from test_import_support import KIND, fail, params, rejected, rows, run, schema, tables, write

RECORDS = [{"id": 1, "name": "Zoë", "price": 2.5}, {"id": 2, "name": "Ünal €", "price": None}]


@pytest.mark.parametrize("name, content", [
    ("shop.csv", "id,name,price\n1,Zoë,2.5\n2,Ünal €,\n"),
    ("shop.tsv", "id\tname\tprice\n1\tZoë\t2.5\n2\tÜnal €\t\n"),
    ("shop.json", '[{"id": 1, "name": "Zoë", "price": 2.5},\n {"id": 2, "name": "Ünal €", "price": null}]'),
    ("shop.json", '{"meta": {"n": 2}, "items": [{"id": 1, "name": "Zoë", "price": 2.5},'
                  ' {"id": 2, "name": "Ünal €", "price": null}]}'),
    ("shop.ndjson", '{"id": 1, "name": "Zoë", "price": 2.5}\n{"id": 2, "name": "Ünal €", "price": null}\n'),
    ("shop.jsonl", '{"id": 1, "name": "Zoë", "price": 2.5}\r\n{"id": 2, "name": "Ünal €"}\r\n'),
])
@pytest.mark.parametrize("gz", [False, True])
def test_every_format_plain_and_gzipped(make_ctx, home, tmp_path, name, content, gz):
    path = write(tmp_path / (name + (".gz" if gz else "")), content)
    result, _ = run(make_ctx, path)
    assert result["summary"] == "2 rows imported into shop"
    assert rows(home, "shop") == RECORDS
    assert schema(home, "shop") == {"id": "INTEGER", "name": "TEXT", "price": "REAL",
                                    "_import_id": "INTEGER"}


@pytest.mark.parametrize("content, delimiter", [
    ("a;b;c\n1;x,y;3\n4;z;6\n", ";"),
    ("a|b|c\n1|x,y|3\n4|z|6\n", "|"),
    ("a\tb\tc\n1\tx,y\t3\n4\tz\t6\n", "\t"),
    ("a,b,c\n1,\"x,y\",3\n4,z,6\n", ","),
])
def test_delimiter_is_sniffed(make_ctx, home, tmp_path, content, delimiter):
    result, ctx = run(make_ctx, write(tmp_path / "d.txt", content))
    assert rows(home, "d") == [{"a": 1, "b": "x,y", "c": 3}, {"a": 4, "b": "z", "c": 6}]
    assert any(m.startswith("d.txt: CSV, UTF-8,") for m in ctx.sink.logs)


@pytest.mark.parametrize("content", [
    "sep=;\na;b;c\n1;x,y;3\n4;z;6\n",
    "sep=|\r\na|b|c\r\n1|x,y|3\r\n4|z|6\r\n",
    "sep=,\na,b,c\n1,\"x,y\",3\n4,z,6\n",
])
def test_excels_sep_line_names_the_delimiter_and_is_no_record(make_ctx, home, tmp_path, content):
    result, ctx = run(make_ctx, write(tmp_path / "d.csv", content))
    assert rows(home, "d") == [{"a": 1, "b": "x,y", "c": 3}, {"a": 4, "b": "z", "c": 6}]
    assert result["rejected"] == 0
    assert any("sep= line" in m for m in ctx.sink.logs)
    # Without a header the line is still not a record, and line numbers stay the file's.
    bad = content.replace("4", "4" + content[4], 1)
    run(make_ctx, write(tmp_path / "e.csv", bad), run_id=2, header=False)
    assert rows(home, "e")[0] == {"column_1": "a", "column_2": "b", "column_3": "c"}
    assert [r["line"] for r in rejected(home)] == [4]


def test_lines_above_the_header_are_said_not_silently_made_the_header(make_ctx, home,
                                                                      tmp_path):
    # A bank's export with its account above the table: the first line became the header,
    # the real one a row, and the run simply succeeded.
    bank = ("Kontonummer:;123456789;;\nZeitraum:;01.01.2024 - 31.01.2024;;\n\n"
            "Buchungstag;Empfaenger;Zweck;Betrag\n02.01.2024;Miete GmbH;Januar;-850,00\n")
    result, _ = run(make_ctx, write(tmp_path / "bank.csv", bank))
    assert result["warnings"] == [
        "bank.csv: line 4 (Buchungstag;Empfaenger;Zweck;Betrag) looks like the header, not "
        "line 1 (Kontonummer:;123456789;;), which fills 2 of its fields: if the lines above "
        "it are a title or notes, remove them"]
    # A title line: every row has more fields than it, and is rejected; now it says why.
    result, _ = run(make_ctx, write(tmp_path / "t.csv", "Sales 2024\nid,name,amount\n1,a,5\n"),
                    run_id=2)
    assert "line 2 (id,name,amount) looks like the header, not line 1 (Sales 2024)" in (
        result["warnings"][-1])
    # An ordinary file says nothing.
    result, _ = run(make_ctx, write(tmp_path / "o.csv", "id,name,note\n1,a,b c\nx,y,z\n"),
                    run_id=3)
    assert not result.get("warnings")


def test_a_header_line_of_numbers_only_is_said_to_be_maybe_a_row(make_ctx, home, tmp_path):
    # A sensor log or export without a header line: its first row became the column names
    # ("1.5", "20") and the run succeeded without a word, one row short.
    path = write(tmp_path / "log.csv", "1.5,20,-3\n2.5,21,-4\n")
    result, _ = run(make_ctx, path)
    assert result["warnings"] == [
        "log.csv: line 1 (1.5,20,-3) was taken for the header, but holds numbers only: if "
        "it is a row of data (a file without a header line), set header = false"]
    run(make_ctx, path, run_id=2, table="log2", header=False, reimport=True)
    assert rows(home, "log2") == [{"column_1": 1.5, "column_2": 20, "column_3": -3},
                                  {"column_1": 2.5, "column_2": 21, "column_3": -4}]
    # Years as column names beside a name are a header.
    result, _ = run(make_ctx, write(tmp_path / "p.csv", "region,2023,2024\nnorth,1,2\n"),
                    run_id=3)
    assert not result.get("warnings")


@pytest.mark.parametrize("batch_size", [1, 2, 2000])
def test_dos_end_of_file_mark_is_no_record(make_ctx, home, tmp_path, batch_size):
    # Old DOS programs end their exports with Ctrl+Z: it was a row, set aside (the run
    # ended with a warning) or, in a file of one column, imported, the column made text.
    result, _ = run(make_ctx, write(tmp_path / "two.csv", "a,b\r\n1,2\r\n3,4\r\n\x1a"),
                    batch_size=batch_size)
    assert result["summary"] == "2 rows imported into two" and not result.get("warnings")
    run(make_ctx, write(tmp_path / "one.csv", "a\r\n1\r\n2\r\n\x1a"), run_id=2,
        batch_size=batch_size)
    assert rows(home, "one") == [{"a": 1}, {"a": 2}]
    assert schema(home, "one")["a"] == "INTEGER"


def test_single_quotes_are_sniffed_and_settings_override(make_ctx, home, tmp_path):
    path = write(tmp_path / "q.csv", "a,b\n'x, y',1\n'z',2\n")
    run(make_ctx, path)
    assert rows(home, "q") == [{"a": "x, y", "b": 1}, {"a": "z", "b": 2}]
    # Told otherwise: no quoting, semicolon as delimiter, so each line is one field.
    run(make_ctx, path, run_id=2, table="raw", delimiter=";", quotechar="")
    assert rows(home, "raw") == [{"a,b": "'x, y',1"}, {"a,b": "'z',2"}]


def test_a_quotechar_the_file_uses_as_delimiter_is_not_sniffed_as_delimiter(make_ctx, home,
                                                                            tmp_path):
    # Quote and delimiter the same character would merge records without a word.
    path = write(tmp_path / "s.csv", "a;b;c\n1;;2\n3;x;4\n")
    err, _ = fail(make_ctx, path, quotechar=";")
    assert "quotechar ';' is the file's delimiter" in str(err)
    err, _ = fail(make_ctx, write(tmp_path / "t.tsv", "a\tb\n1\t2\n"), quotechar="\t")
    assert "quotechar '\\t' is the file's delimiter" in str(err)
    assert not {"s", "t"} & tables(home)


def test_no_header_row(make_ctx, home, tmp_path):
    run(make_ctx, write(tmp_path / "n.csv", "1,a\n2,b\n"), header=False)
    assert rows(home, "n") == [{"column_1": 1, "column_2": "a"}, {"column_1": 2, "column_2": "b"}]


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_line_endings(make_ctx, home, tmp_path, newline):
    text = newline.join(["k,v", "1,\"two", "lines\"", "2,x", ""])
    run(make_ctx, write(tmp_path / "le.csv", text))
    assert rows(home, "le") == [{"k": 1, "v": f"two{newline}lines"}, {"k": 2, "v": "x"}]


@pytest.mark.parametrize("encoding, bom", [
    ("utf-8", b""), ("utf-8", codecs.BOM_UTF8), ("utf-16-le", codecs.BOM_UTF16_LE),
    ("utf-16-be", codecs.BOM_UTF16_BE), ("utf-16-le", b""),
])
def test_unicode_encodings(make_ctx, home, tmp_path, encoding, bom):
    text = "Name,Ort\nZoë,Köln\n李,東京\n"
    run(make_ctx, write(tmp_path / "u.csv", bom + text.encode(encoding)))
    assert rows(home, "u") == [{"Name": "Zoë", "Ort": "Köln"}, {"Name": "李", "Ort": "東京"}]
    assert rejected(home) == []


def test_legacy_code_page_is_detected(make_ctx, home, tmp_path):
    text = "Händler;Betrag;Notiz\nBäckerei Müller;3,50;Brötchen für 2 €\nCafé;2,00;Crème brûlée\n"
    result, ctx = run(make_ctx, write(tmp_path / "bank.csv", text, encoding="cp1252"))
    assert rows(home, "bank", "Händler, Notiz") == [
        {"Händler": "Bäckerei Müller", "Notiz": "Brötchen für 2 €"},
        {"Händler": "Café", "Notiz": "Crème brûlée"}]
    assert any("cp1252 (detected)" in m for m in ctx.sink.logs)


@pytest.mark.parametrize("text", [
    "Name;Betrag\nMüller;12,50 €\nGrüße;3\n",  # was read as Mac Roman: "M¸ller", "Gr¸ﬂe"
    "Ort;Betrag\nKöln;12,50 €\nGöttingen;3\n",  # Mac Roman: "Kˆln" ("ˆ" is a modifier)
    "Name;Betrag\nMálaga;12,50 €\nMálaga;5 × 3\n",  # Mac Roman: "M·laga"
    "a;b\nq;“quoted” €5\n",  # Mac Roman: "ìquotedî Ä5"
    "a\n“x”\n",  # Mac Roman: "ìxî"
])
def test_short_cp1252_export_is_not_taken_for_another_code_page(make_ctx, home, tmp_path, text):
    run(make_ctx, write(tmp_path / "k.csv", text, encoding="cp1252"))
    header, *lines = text.splitlines()
    names = header.split(";")
    assert [tuple(r.values()) for r in rows(home, "k", ", ".join(names))] == [
        tuple(line.split(";")) for line in lines]



@pytest.mark.parametrize("text", [
    "Nazwa;Miasto\nŁódź;Kraków\nŚwiętokrzyskie;Gdańsk\n",  # was "£ódŸ", "Œwiêtokrzyskie"
    "Imię;Nazwisko\nZofia;Żółć\nJerzy;Wąsik\n",  # was "¯ó³æ", "W¹sik"
    "Název;Cena\nČesnek;25\nŘepa;12\n",  # was "Èesnek", "Øepa": letters, but of 3 languages
    "Město;Počet\nÚstí nad Labem;3\nČeské Budějovice;4\n",  # was "Mìsto", "Budìjovice"
    "Ime;Grad\nĐurđa Šimić;Zagreb\nČedomir;Niš\n",
    "Név;Város\nŐri Ödön;Győr\nÜllői;Pécs\n",
    # the README's example: was read as cp1251, "Јуdџ", "Zaїуіж", Cyrillic inside Latin words
    "miasto;slowo\nŁódź;Zażółć\n",
])
def test_short_central_european_text_is_cp1250_not_cp1252(make_ctx, home, tmp_path, text):
    _, ctx = run(make_ctx, write(tmp_path / "p.csv", text, encoding="cp1250"))
    header, *lines = text.splitlines()
    got = rows(home, "p", ", ".join(f'CAST("{n}" AS TEXT)' for n in header.split(";")))
    assert [tuple(r.values()) for r in got] == [tuple(line.split(";")) for line in lines]
    assert any("cp1250 (detected)" in m for m in ctx.sink.logs)


@pytest.mark.parametrize("text", [
    "Nazwa;Miasto\nŁódź;Kraków\nŚwiętokrzyskie;Gdańsk\n",  # as cp1250: "ŁódĽ", "¦więtokrzyskie"
    "Imię;Nazwisko\nZofia;Żółć\nJerzy;Wąsik\n",  # as cp1250: "Wˇsik"
    "Město;Popis\nPlzeň;Příliš žluťoučký kůň\n",  # as cp1250: "Přílią ľlu»oučký"
    "Mesto;Popis\nŽilina;Ľubovňa, šťastný\n",
    "Ime;Grad\nĐurđa Šimić;Zagreb\nČedomir;Niš\n",
])
def test_iso8859_2_text_is_not_read_as_cp1250(make_ctx, home, tmp_path, text):
    # ISO 8859-2 (Latin-2, Unix's Central European page) has ą ś ź š ž ť where cp1250 has
    # other letters and signs; cp1250 has its own there in 0x80-0x9F, where ISO 8859-2 has
    # control characters. These were stored in cp1250's reading without a word.
    _, ctx = run(make_ctx, write(tmp_path / "p.csv", text, encoding="iso8859_2"))
    header, *lines = text.splitlines()
    got = rows(home, "p", ", ".join(f'CAST("{n}" AS TEXT)' for n in header.split(";")))
    assert [tuple(r.values()) for r in got] == [tuple(line.split(";")) for line in lines]
    assert any("iso8859-2 (detected)" in m for m in ctx.sink.logs)


@pytest.mark.parametrize("encoding, text", [
    ("cp1254", "id;şehir;açıklama\n1;İstanbul;Boğaziçi köprüsü, güzel şehir\n"
               "2;Ankara;Başkent, ılık hava\n"),  # as cp1257: "Żstanbul", "aēżklama"
    ("cp1257", "id;miestas;aprašymas\n1;Šiauliai;Gražus miestas šiaurėje\n"
               "2;Kaunas;Ąžuolų giria, žąsys\n"),
])
def test_turkish_and_baltic_code_pages_are_told_apart(make_ctx, home, tmp_path, encoding,
                                                     text):
    _, ctx = run(make_ctx, write(tmp_path / "c.csv", text, encoding=encoding))
    header, *lines = text.splitlines()
    got = rows(home, "c", ", ".join(f'CAST("{n}" AS TEXT)' for n in header.split(";")))
    assert [tuple(r.values()) for r in got] == [tuple(line.split(";")) for line in lines]
    assert any(f"{encoding} (detected)" in m for m in ctx.sink.logs)


@pytest.mark.parametrize("encoding", ["cp866", "iso8859_5"])
def test_dos_and_iso_cyrillic_are_detected(make_ctx, home, tmp_path, encoding):
    text = "Имя;Город;Сумма\nИван Петров;Москва;1000\nОльга Смирнова;Тверь;2000\n"
    _, ctx = run(make_ctx, write(tmp_path / "c.csv", text, encoding=encoding))
    got = rows(home, "c", '"Имя", "Город"')
    assert [tuple(r.values()) for r in got] == [("Иван Петров", "Москва"),
                                                ("Ольга Смирнова", "Тверь")]


@pytest.mark.parametrize("text", [
    "name;city\nJosé García;Señor Núñez\n", "nom;ville\nFrançois;Besançon\nŒuvre;Noël\n",
    "a;b\nélève à la crème;Città più però\n", "a\nSøren Kjærgård\nSão João\nÅsa Örjan\n",
])
def test_western_text_stays_cp1252_beside_cp1250(make_ctx, home, tmp_path, text):
    _, ctx = run(make_ctx, write(tmp_path / "w.csv", text, encoding="cp1252"))
    header, *lines = text.splitlines()
    got = rows(home, "w", ", ".join(f'"{n}"' for n in header.split(";")))
    assert [tuple(r.values()) for r in got] == [tuple(line.split(";")) for line in lines]


@pytest.mark.parametrize("encoding, text", [
    ("cp932", "品名,産地,価格\nりんご,青森,120\nみかん,愛媛,80\n"),  # Japanese Excel's CSV
    # Names in half-width katakana, as Japanese banks write them: one byte each, they
    # were no Japanese text to the detector, and the file was read as cp1252 or cp1251.
    ("cp932", "口座,名義\n123,ﾔﾏﾀﾞ ﾀﾛｳ\n456,ｽｽﾞｷ ﾊﾅｺ\n"),
    ("cp932", "id,氏名,カナ\n1,山田太郎,ﾔﾏﾀﾞ ﾀﾛｳ\n2,鈴木花子,ｽｽﾞｷ ﾊﾅｺ\n"),
    ("euc_jp", "品名,産地,価格\nりんご,青森,120\nみかん,愛媛,80\n"),
    ("gb18030", "名称,城市,金额\n张伟,北京,100\n李娜,上海,200\n"),
    ("big5", "名稱,城市,金額\n張偉,臺北,100\n李娜,高雄,200\n"),
    ("cp949", "이름,도시,금액\n김철수,서울,100\n이영희,부산,200\n"),
])
def test_east_asian_code_pages_are_detected(make_ctx, home, tmp_path, encoding, text):
    # Read as cp1252 they were stored as mojibake ("\x8eR\x93c..."), without a word.
    run(make_ctx, write(tmp_path / "e.csv", text, encoding=encoding))
    header, *lines = text.splitlines()
    got = rows(home, "e", ", ".join(f'CAST("{n}" AS TEXT)' for n in header.split(",")))
    assert [tuple(r.values()) for r in got] == [tuple(line.split(",")) for line in lines]


@pytest.mark.parametrize("encoding, words", [
    ("cp932", ["日本語のテキスト", "東京"]), ("gb18030", ["北京市朝阳区", "上海"]),
    ("cp1251", ["Иван Петров", "Москва"]), ("cp1252", ["café crème", "Müller"]),
    ("cp1253", ["Αθήνα", "Θεσσαλονίκη"]), ("cp1250", ["Łódź", "Zażółć gęślą jaźń"])])
def test_a_code_page_past_a_long_ascii_start_is_told_as_at_the_start(make_ctx, home,
                                                                      tmp_path, encoding,
                                                                      words):
    # The first non-ASCII byte comes after 256 KB of ASCII: the 4 KB of ASCII read with
    # it made Japanese text look as tidy in cp1252 as in cp932, so it was stored as
    # mojibake ("“ú–{Œê‚ÌƒeƒLƒXƒg").
    lines = [f"{i},plain" for i in range(30_000)] + [f"{30_000 + n},{w}" for n, w in
                                                     enumerate(words)]
    path = write(tmp_path / "late.csv", "id,note\n" + "\n".join(lines) + "\n",
                 encoding=encoding)
    run(make_ctx, path)
    assert rows(home, "late", "note", order="id")[-2:] == [{"note": w} for w in words]


@pytest.mark.parametrize("encoding, text", [
    ("cp1251", "Имя;Город;Сумма\nИван Петров;Москва;1000\nОльга Смирнова;Тверь;2000\n"),
    ("cp1252", "Händler;Betrag;Notiz\nBäckerei Müller;3,50;Brötchen für 2 €\n"
               "Café;2,00;Crème brûlée\n"),
])
def test_single_byte_text_is_not_taken_for_east_asian(make_ctx, home, tmp_path, encoding, text):
    _, ctx = run(make_ctx, write(tmp_path / "s.csv", text, encoding=encoding))
    assert any(f"{encoding} (detected)" in m for m in ctx.sink.logs)


@pytest.mark.parametrize("text", ["Код;Товар\n1;Молоко\n2;Хлеб\n3;Сыр\n",
                                  "ид;имя\n1;Анна\n2;Юлия\n3;Олег\n"])
def test_a_short_cyrillic_file_is_not_read_as_accented_latin(make_ctx, home, tmp_path, text):
    # Too short for the detector to rate any reading, it was cp1252: "Êîä;Òîâàð".
    run(make_ctx, write(tmp_path / "c.csv", text, encoding="cp1251"))
    header, *lines = text.splitlines()
    got = rows(home, "c", ", ".join(f'CAST("{n}" AS TEXT)' for n in header.split(";")))
    assert [tuple(r.values()) for r in got] == [tuple(line.split(";")) for line in lines]

def test_a_guessed_code_page_is_a_warning_naming_words_as_read(make_ctx, home, tmp_path):
    # Turkish in cp1254 reads without an error as Baltic cp1257 ("Żstanbul"): a code page
    # told from the text alone can be wrong, and only the words show it.
    text = "id;şehir\n1;İstanbul\n2;Boğaziçi köprüsü\n"
    path = write(tmp_path / "tr.csv", text, encoding="cp1254")
    result, _ = run(make_ctx, path, table="t")
    [warning] = result["warnings"]
    codec = warning.split("read as ")[1].split(",")[0]
    words = ", ".join(repr(w) for w in "şehir İstanbul Boğaziçi".encode("cp1254")
                      .decode(codec).split())
    other = "cp1250" if codec == "cp1252" else "cp1252"
    assert warning == (f"tr.csv: not UTF-8: the text was read as {codec}, a guess ({words}); "
                       f"if letters look wrong, set the job's encoding to the file's code page "
                       f'(encoding = "{other}", say), or encoding = "{codec}" if they are right')
    preview = KIND.run(make_ctx(files=[path], dry_run=True), params())
    assert preview["files"][0]["notes"] == [warning.removeprefix("tr.csv: ")]
    # Set, the encoding is no guess: the words are right and nothing is said.
    result, _ = run(make_ctx, path, run_id=2, table="u", encoding="cp1254")
    assert "warnings" not in result
    assert rows(home, "u", "şehir") == [{"şehir": "İstanbul"}, {"şehir": "Boğaziçi köprüsü"}]


def test_a_code_page_found_past_an_ascii_start_is_a_warning_too(make_ctx, home, tmp_path):
    lines = [f"{i},plain text {i}" for i in range(30_000)] + ["30000,café crème"]
    path = write(tmp_path / "late.csv", "id,note\n" + "\n".join(lines) + "\n",
                 encoding="cp1252")
    result, _ = run(make_ctx, path)
    assert result["warnings"] == [
        "late.csv: not UTF-8: the text was read as cp1252, a guess ('café', 'crème'); if "
        "letters look wrong, set the job's encoding to the file's code page (encoding = "
        "\"cp1250\", say), or encoding = \"cp1252\" if they are right"]


def test_encoding_can_be_set(make_ctx, home, tmp_path):
    path = write(tmp_path / "l.csv", "a\nÿ\n", encoding="latin-1")
    run(make_ctx, path, encoding="latin-1")
    assert rows(home, "l") == [{"a": "ÿ"}]


def test_legacy_bytes_after_a_long_ascii_start_restart_the_file(make_ctx, home, tmp_path):
    # The first 256 KB are plain ASCII, so they read as UTF-8; the cp1252 "é" far
    # down must not become a rejected row: the file is read again as cp1252.
    lines = [f"{i},plain text {i}" for i in range(30_000)] + ["30000,café"]
    path = write(tmp_path / "late.csv", "id,note\n" + "\n".join(lines) + "\n", encoding="cp1252")
    result, ctx = run(make_ctx, path)
    assert result["rows"] == 30_001 and result["rejected"] == 0
    assert rows(home, "late", "note", order="id DESC LIMIT 1") == [{"note": "café"}]
    assert any("reading the file again" in m for m in ctx.sink.logs)


def test_damaged_bytes_in_a_utf8_file_reject_only_their_rows(make_ctx, home, tmp_path):
    body = "id,name\n1,Zoë\n2,Ünal\n".encode() + b"3,bad \xff byte\n" + "4,Łukasz\n".encode()
    result, _ = run(make_ctx, write(tmp_path / "dmg.csv", body))
    assert result["summary"] == "3 rows imported into dmg, 1 rejected (table _rejected)"
    assert [r["name"] for r in rows(home, "dmg")] == ["Zoë", "Ünal", "Łukasz"]
    [bad] = rejected(home)
    assert bad["line"] == 4 and bad["raw"] == "3,bad \\xff byte"
    assert bad["reason"] == "holds bytes that are not utf-8"


def test_ndjson_hiding_in_a_json_file_is_recognised(make_ctx, home, tmp_path):
    run(make_ctx, write(tmp_path / "events.json", '{"a": 1}\n{"a": 2}\n'))
    assert rows(home, "events") == [{"a": 1}, {"a": 2}]


def test_damaged_gzip_fails_with_the_offset(make_ctx, home, tmp_path):
    good = gzip.compress(("a,b\n" + "1,2\n" * 50_000).encode())
    path = tmp_path / "d.csv.gz"
    path.write_bytes(good[: len(good) // 2])
    err, _ = fail(make_ctx, path)
    assert str(err).startswith("d.csv.gz: byte ")
    assert "the gzip data is damaged or cut short" in str(err)
    assert "d" not in tables(home)


@pytest.mark.parametrize("name, content", [
    ("u.json", '[{"Name": "Zoë", "Ort": "Köln"}, {"Name": "李", "Ort": "東京"}]'),
    ("u.ndjson", '{"Name": "Zoë", "Ort": "Köln"}\r\n{"Name": "李", "Ort": "東京"}\r\n'),
])
@pytest.mark.parametrize("bom, encoding", [(codecs.BOM_UTF8, "utf-8"),
                                           (codecs.BOM_UTF16_LE, "utf-16-le"),
                                           (codecs.BOM_UTF16_BE, "utf-16-be")])
def test_json_in_unicode_encodings(make_ctx, home, tmp_path, name, content, bom, encoding):
    run(make_ctx, write(tmp_path / name, bom + content.encode(encoding)), table="u")
    assert rows(home, "u") == [{"Name": "Zoë", "Ort": "Köln"}, {"Name": "李", "Ort": "東京"}]
