"""A big CSV file read in two parts at once (trayjobs/kinds/importer/split.py): the same
database, byte for byte, as one process reading it all, on the corpus and hostile files."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from test_import_support import KIND, params, write
from trayjobs.errors import JobFailed
from trayjobs.kinds.importer import split
from trayjobs.paths import Home

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
SPECTRUM = sorted((CORPUS / "csv-spectrum" / "csvs").glob("*.csv")) if CORPUS.is_dir() else []
CUT = "read by a second process"


@pytest.fixture
def splitting(monkeypatch):
    """Split any file, and wait for the helper to say where (a test file is small)."""
    monkeypatch.setattr(split, "MIN_SIZE", 0)
    monkeypatch.setattr(split, "WAIT", True)


def dump(db: Path) -> dict:
    """Everything the import wrote, as SQLite holds it (types and spelling included)."""
    conn = sqlite3.connect(db)
    try:
        out = {"schema": conn.execute("SELECT name, sql FROM sqlite_master WHERE name NOT LIKE "
                                      "'sqlite_%' ORDER BY name").fetchall()}
        for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                     "AND name NOT LIKE '\\_%' ESCAPE '\\'").fetchall():
            cols = [r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')]
            values = ", ".join(f'quote("{c}")' for c in cols)
            out[table] = conn.execute(f'SELECT rowid, {values} FROM "{table}" ORDER BY rowid'
                                      ).fetchall()
        out["_rejected"] = conn.execute("SELECT id, import_id, line, reason, raw, \"table\" "
                                        "FROM _rejected ORDER BY id").fetchall()
        out["_imports"] = conn.execute("SELECT id, rows, rejected, \"table\" FROM _imports "
                                       "ORDER BY id").fetchall()
        return out
    finally:
        conn.close()


def both(make_ctx, home: Home, path: Path, monkeypatch, **kw):
    """Import ``path`` read as a whole, then in two parts: (dump, logs, error) of each."""
    got = []
    for whole in (True, False):
        db = home.data_dir / f"{'whole' if whole else 'split'}.db"
        if whole:
            monkeypatch.setenv("TRAYJOBS_IMPORT_SPLIT", "0")
        else:
            monkeypatch.delenv("TRAYJOBS_IMPORT_SPLIT")
        ctx = make_ctx(files=[path])
        error = None
        try:
            KIND.run(ctx, params(table="t", database=str(db), **kw))
        except JobFailed as exc:
            error = str(exc)
        got.append((dump(db), " | ".join(ctx.sink.logs), error))
    assert not list((home.data_dir / split.PARTS_DIR).glob("*")), "a part file was left"
    return got


def padded(source: Path, target: Path, size: int = 400_000) -> Path:
    """``source``'s records repeated to ``size`` bytes under its header, as it spells them."""
    data = source.read_bytes()
    end = data.find(b"\n") + 1
    head, body = data[:end], data[end:]
    if body and not body.endswith((b"\n", b"\r")):
        body += b"\r\n" if b"\r\n" in data else b"\n"
    copies = max(1, size // max(len(body), 1))
    return write(target, head + body * copies)


@pytest.mark.parametrize("path", SPECTRUM, ids=[p.stem for p in SPECTRUM])
def test_corpus_file_split_equals_whole(corpus, splitting, make_ctx, home, path, tmp_path,
                                        monkeypatch):
    big = padded(path, tmp_path / f"{path.stem}.csv")
    (whole, _, err1), (parts, logs, err2) = both(make_ctx, home, big, monkeypatch)
    assert parts == whole and err1 == err2
    if path.stem not in ("empty", "empty_crlf") or big.stat().st_size > 1000:
        assert CUT in logs, logs


def _rows(n: int, start: int = 0, extra: str = "") -> str:
    return "".join(f"{i},name {i},{i * 1.5:.2f}{extra}\n" for i in range(start, start + n))


def test_quoted_line_breaks_across_the_middle(splitting, make_ctx, home, tmp_path, monkeypatch):
    # Quoted fields with line breaks (LF and CRLF) and many quotes all around the middle.
    body = "".join(f'{i},"line one\nline ""two""\r\n{i}",{i}.25\n' for i in range(12000))
    path = write(tmp_path / "q.csv", "id,text,amount\n" + body)
    (whole, _, _), (parts, logs, _) = both(make_ctx, home, path, monkeypatch)
    assert parts == whole and CUT in logs
    assert whole["t"][1][2] == "'line one\nline \"two\"\r\n1'"


def test_crlf_and_empty_lines(splitting, make_ctx, home, tmp_path, monkeypatch):
    body = "".join(f"{i},x{i},{i}\r\n" + ("\r\n" if i % 7 == 0 else "") for i in range(20000))
    path = write(tmp_path / "crlf.csv", "a,b,c\r\n" + body)
    (whole, _, _), (parts, logs, _) = both(make_ctx, home, path, monkeypatch)
    assert parts == whole and CUT in logs
    assert len(whole["t"]) == 20000


def test_a_quote_opened_before_the_middle_and_never_closed(splitting, make_ctx, home, tmp_path,
                                                          monkeypatch):
    path = write(tmp_path / "open.csv", "a,b,c\n" + _rows(8000) + '8000,"never closed,1\n'
                 + _rows(8000, 8001))
    (whole, _, err1), (parts, _, err2) = both(make_ctx, home, path, monkeypatch)
    assert parts == whole and err1 == err2
    assert "line 8,002" in err1 and "never closed" in err1


def test_stray_quotes_make_the_middle_no_boundary_then_the_file_is_read_whole(
        splitting, make_ctx, home, tmp_path, monkeypatch):
    # A quote inside an unquoted field is text: it makes the quote count odd, so the first
    # line end "outside quotes" by the count is inside a quoted field: caught, read whole.
    body = _rows(100) + 'x,ab"c,1\n' + "".join(f'{i},"a\n{i}",1\n' for i in range(20000))
    path = write(tmp_path / "stray.csv", "a,b,c\n" + body)
    (whole, _, err1), (parts, logs, err2) = both(make_ctx, home, path, monkeypatch)
    assert parts == whole and err1 == err2
    assert "reading it as a whole" in logs


def test_text_after_a_closing_quote_in_either_part(splitting, make_ctx, home, tmp_path,
                                                    monkeypatch):
    # Such a row is set aside, its lines as written, by whichever process reads it.
    body = (_rows(6000) + '6000,"na"me",1\n' + _rows(6000, 6001) + '12001,"two\nli"nes,2\n'
            + _rows(4000, 12002))
    path = write(tmp_path / "stray.csv", "a,b,c\n" + body)
    (whole, _, _), (parts, logs, _) = both(make_ctx, home, path, monkeypatch)
    assert parts == whole and CUT in logs
    assert [(line, raw) for _, _, line, _, raw, _ in whole["_rejected"]] == [
        (6002, '6000,"na"me",1'), (12003, '12001,"two\nli"nes,2')]


def test_types_rejects_and_columns_learned_in_the_second_part(splitting, make_ctx, home,
                                                             tmp_path, monkeypatch):
    first = "".join(f"{i},{i},,{i}.5,\n" for i in range(10000))
    # Second half: an integer column turns text, a real one too (its first half is written
    # as numbers: read again), two columns first filled (in the opposite order of their
    # position), and short rows set aside with their line numbers.
    second = "".join(f"{i},{'n/a' if i == 15000 else i},{'z' if i >= 14000 else ''},"
                     f"{'oops' if i == 16000 else f'{i}.5'},{'w' if i >= 12000 else ''}\n"
                     for i in range(10000, 20000))
    path = write(tmp_path / "types.csv", "id,n,late,amount,later\n" + first + "1,2\n" + second
                 + "3,4\n")
    (whole, wlogs, _), (parts, logs, _) = both(make_ctx, home, path, monkeypatch)
    assert parts == whole and CUT in logs
    assert [r[2] for r in whole["_rejected"]] == [10002, 20003]
    for warning in ("because of 1 cell (line 15,003: 'n/a') among 19,999 numbers",
                    "because of 1 cell (line 16,003: 'oops') among 19,999 numbers"):
        assert warning in wlogs and warning in logs
    assert "few fields" in whole["_rejected"][1][3]


def test_few_text_cells_warning_counts_both_parts(splitting, make_ctx, home, tmp_path,
                                                 monkeypatch):
    rows = "".join(f"{i},{'n/a' if i in (100, 15000) else i}\n" for i in range(20000))
    path = write(tmp_path / "few.csv", "id,qty\n" + rows)
    (whole, wlogs, _), (parts, logs, _) = both(make_ctx, home, path, monkeypatch)
    assert parts == whole and CUT in logs
    warning = "2 cells (line 102: 'n/a'; line 15,002: 'n/a') among 19,998 numbers"
    assert warning in wlogs and warning in logs


def test_an_error_past_the_middle_names_its_line(splitting, make_ctx, home, tmp_path,
                                                monkeypatch):
    path = write(tmp_path / "bad.csv", "a,b,c\n" + _rows(15000) + "x,y\n" + _rows(100))
    (whole, _, err1), (parts, logs, err2) = both(make_ctx, home, path, monkeypatch,
                                                 on_bad_rows="fail")
    assert err1 == err2 and "line 15,002" in err2 and "too few fields" in err2
    assert CUT in logs and parts == whole
    assert whole["_imports"] == [] and "t" not in whole


def test_a_non_utf8_byte_in_the_second_part(splitting, make_ctx, home, tmp_path, monkeypatch):
    data = ("a,b\n" + _rows(12000)).encode() + "12001,Gr\xfc\xdfe,1\n".encode("cp1252")
    path = write(tmp_path / "legacy.csv", data + ("a" * 10 + ",b,1\n").encode() * 100)
    (whole, _, err1), (parts, _, err2) = both(make_ctx, home, path, monkeypatch)
    assert parts == whole and err1 == err2


def test_appending_to_an_existing_table_with_other_columns(splitting, make_ctx, home,
                                                          tmp_path, monkeypatch):
    for name in ("whole.db", "split.db"):
        conn = sqlite3.connect(home.data_dir / name)
        conn.execute("CREATE TABLE t (b TEXT, extra REAL, a INTEGER)")
        conn.execute("INSERT INTO t VALUES ('old', 1.5, 7)")
        conn.commit()
        conn.close()
    path = write(tmp_path / "more.csv", "a,b,c\n" + _rows(20000))
    (whole, _, _), (parts, logs, _) = both(make_ctx, home, path, monkeypatch)
    assert parts == whole and CUT in logs


def test_a_table_with_a_unique_index_is_read_whole(splitting, make_ctx, home, tmp_path,
                                                  monkeypatch):
    for name in ("whole.db", "split.db"):
        conn = sqlite3.connect(home.data_dir / name)
        conn.execute("CREATE TABLE t (a INTEGER, b TEXT, c REAL)")
        conn.execute("CREATE UNIQUE INDEX t_a ON t (a)")
        conn.commit()
        conn.close()
    path = write(tmp_path / "dup.csv", "a,b,c\n" + _rows(10000) + _rows(10000))
    (whole, _, _), (parts, logs, _) = both(make_ctx, home, path, monkeypatch)
    assert parts == whole and CUT not in logs
    assert len(whole["_rejected"]) == 10000


def test_kill_9_mid_import_leaves_nothing_half_done(tmp_path, monkeypatch):
    """The importing process killed while both parts are read: no rows, no ledger entry, the
    helper gone with it, and its temporary database removed by the next import."""
    home = Home.under(tmp_path / "home").ensure()
    (home.config_dir / "trayjobs.toml").write_text(
        '[jobs.load]\nkind = "import"\ntable = "t"\nprocessed_dir = "leave"\n')
    body = "".join(f"{i},name {i},{i}.5\n" for i in range(1_200_000))
    path = write(tmp_path / "big.csv", "a,b,c\n" + body)
    assert path.stat().st_size > split.MIN_SIZE
    env = {**os.environ, "TRAYJOBS_HOME": str(home.root), "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.Popen([sys.executable, "-m", "trayjobs", "run", "load", "--file",
                             str(path), "--wait"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    parts = home.data_dir / split.PARTS_DIR
    deadline = time.monotonic() + 60
    while not list(parts.glob("part-*.db")) and time.monotonic() < deadline:
        time.sleep(0.02)
    helpers = _helpers(proc.pid)
    time.sleep(0.3)
    assert helpers, "the import should have a helper process"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in helpers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(p) for p in helpers), "the helper outlived the importer"
    db = home.data_dir / "data.db"
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*) FROM _imports").fetchone()[0] == 0
    assert not conn.execute("SELECT name FROM sqlite_master WHERE name = 't'").fetchall()
    conn.close()
    # The next import (of any file) removes what a dead importer left.
    left = parts / f"part-{_dead_pid()}-{split.machine_tag()}-0123456789ab.db"
    left.write_bytes(b"left")
    older = parts / f"part-{_dead_pid()}-0123456789ab.db"  # named as before the machine was
    older.write_bytes(b"left")
    # Another machine's, where the data folder is shared: its pid means nothing here.
    theirs = parts / f"part-{_dead_pid()}-0000000000-0123456789ab.db"
    theirs.write_bytes(b"theirs")
    small = write(tmp_path / "small.csv", "a,b\n1,2\n")
    subprocess.run([sys.executable, "-m", "trayjobs", "run", "load", "--file", str(small),
                    "--wait"], env=env, check=True, capture_output=True)
    assert list(parts.glob("part-*")) == [theirs], list(parts.iterdir())


def _helpers(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=,args=", "--ppid", str(pid)], capture_output=True,
                         text=True).stdout
    found = [int(line.split()[0]) for line in out.splitlines() if split.__name__ in line]
    for line in out.splitlines():  # the CLI may run the job in a child of its own
        found += _helpers(int(line.split()[0])) if split.__name__ not in line else []
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[-1][:1] != "Z"
    except OSError:
        return False


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_columns_first_filled_in_the_second_part_keep_their_order(splitting, make_ctx, home,
                                                                 tmp_path, monkeypatch):
    # Two columns empty in the first part get their first values in the second, the one
    # further right first: the table has them in that order, as one reader would add them.
    rows = "".join(f"{i},{'z' if i >= 14000 else ''},{i},{'w' if i >= 12000 else ''}\n"
                   for i in range(20000))
    path = write(tmp_path / "late.csv", "id,late,n,later\n" + rows)
    (whole, _, _), (parts, logs, _) = both(make_ctx, home, path, monkeypatch)
    assert parts == whole and CUT in logs and "reading" not in logs
    assert 'CREATE TABLE "t" (\n   "id" INTEGER,\n   "n" INTEGER' in dict(whole["schema"])["t"]
    assert dict(whole["schema"])["t"].index('"later"') < dict(whole["schema"])["t"].index('"late"')


@pytest.mark.parametrize("first, second", [
    ("text{i}", "{i}"),  # text, then integers: copied into a text column
    ("{i}", "{i}.25"),  # integers, then reals: the table's column widens
    ("{i}.5", "{i}"),  # reals, then integers
    ("", "{i}"),  # nothing, then integers: the column is added
    ("{i}", ""),  # integers, then nothing
])
def test_a_column_of_other_types_in_each_part(splitting, make_ctx, home, tmp_path,
                                             monkeypatch, first, second):
    rows = "".join(f"{i},{(first if i < 10000 else second).format(i=i)},x\n"
                   for i in range(20000))
    path = write(tmp_path / "mixed.csv", "id,v,w\n" + rows)
    (whole, _, _), (parts, logs, _) = both(make_ctx, home, path, monkeypatch)
    assert parts == whole and CUT in logs


def test_cancel_while_both_parts_are_read(splitting, make_ctx, home, tmp_path):
    """Cancelled mid-file: nothing written, the helper stopped, its database gone."""
    from trayjobs.errors import Cancelled

    body = "".join(f"{i},name {i},{i}.5\n" for i in range(300_000))
    path = write(tmp_path / "cancel.csv", "a,b,c\n" + body)
    ctx = make_ctx(files=[path])
    parts = home.data_dir / split.PARTS_DIR
    seen: list[int] = []

    recorder = ctx.sink

    def cancel_once_cut(message: dict) -> None:
        recorder(message)
        if message.get("t") == "log" and CUT in message["message"]:
            seen.extend(_helpers(os.getpid()))
            ctx.cancel_event.set()

    ctx.sink = cancel_once_cut
    with pytest.raises(Cancelled):
        KIND.run(ctx, params(table="t"))
    assert seen, "a helper should have been reading the second part"
    assert not any(_alive(p) for p in seen)
    assert not list(parts.glob("*"))
    conn = sqlite3.connect(home.default_data_db)
    assert conn.execute("SELECT count(*) FROM _imports").fetchone()[0] == 0
    assert not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 't'").fetchall()
    conn.close()


@pytest.mark.parametrize("name, text, kw", [
    ("semi.csv", "a;b;c\n" + "".join(f'{i};"x;{i}";{i}\n' for i in range(20000)), {}),
    ("tabs.tsv", "a\tb\tc\n" + "".join(f"{i}\tx {i}\t{i}.5\n" for i in range(20000)), {}),
    ("bare.csv", "".join(f"{i},x {i},{i}\n" for i in range(20000)), {"header": False}),
    ("bom.csv", "\ufeffa,b,c\n" + "".join(f"{i},é{i},{i}\n" for i in range(20000)), {}),
    ("cp1252.csv", ("a,b,c\n" + "".join(f"{i},Grüße {i},{i}\n" for i in range(20000))), {}),
    ("sep.csv", "sep=;\na;b;c\n" + "".join(f"{i};x,{i};{i}\n" for i in range(20000)), {}),
    (os.fsdecode(b"gro\xdf.csv"), "a,b,c\n" + "".join(f"{i},x {i},{i}\n" for i in range(20000)),
     {}),  # a name that is not UTF-8
])
def test_dialects_and_encodings(splitting, make_ctx, home, tmp_path, monkeypatch, name, text,
                                kw):
    path = write(tmp_path / name, text, encoding="cp1252" if "1252" in name else "utf-8")
    (whole, _, _), (parts, logs, _) = both(make_ctx, home, path, monkeypatch, **kw)
    assert parts == whole and CUT in logs and len(whole["t"]) == 20000


def test_a_non_utf8_byte_in_the_first_part_past_the_sniffed_head(splitting, make_ctx, home,
                                                                 tmp_path, monkeypatch):
    head = ("a,b,c\n" + _rows(16000)).encode()
    assert len(head) > 256 * 1024
    data = head + "16000,Gr\xfc\xdfe,1\n".encode("cp1252") + _rows(24000, 16001).encode()
    path = write(tmp_path / "late-legacy.csv", data)
    (whole, wlogs, err1), (parts, logs, err2) = both(make_ctx, home, path, monkeypatch)
    assert parts == whole and err1 == err2 and "cp1252" in wlogs and "cp1252" in logs
    assert CUT in logs.split("reading it as cp1252")[-1]  # the second pass splits too


def test_a_helper_that_cannot_run_leaves_the_file_to_one_reader(splitting, make_ctx, home,
                                                               tmp_path, monkeypatch):
    monkeypatch.setattr(split.sys, "executable", "/bin/false")
    path = write(tmp_path / "alone.csv", "a,b,c\n" + _rows(20000))
    (whole, _, err1), (parts, logs, err2) = both(make_ctx, home, path, monkeypatch)
    assert parts == whole and err1 == err2 is None and CUT not in logs


def test_fields_after_blanks_read_alike_in_both_parts(splitting, make_ctx, home, tmp_path,
                                                      monkeypatch):
    # ", " between fields: the second part is read passing over the blanks too.
    body = "".join(f'{i}, "Smith, {i}", {i}.5\n' for i in range(12000))
    path = write(tmp_path / "b.csv", "id, name, amount\n" + body)
    (whole, _, _), (parts, logs, _) = both(make_ctx, home, path, monkeypatch)
    assert parts == whole and CUT in logs
    assert whole["t"][0][1:4] == ("0", "'Smith, 0'", "0.5") and not whole["_rejected"]
