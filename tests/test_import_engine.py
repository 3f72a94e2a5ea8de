"""The import kind in a real job process: through the engine, and killed mid-file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from trayjobs.errors import UserError

from test_import_support import ledger, rows, run, tables, write

pytestmark = pytest.mark.slow


def test_run_and_undo_through_the_engine(make_engine, home, tmp_path):
    inbox = tmp_path / "inbox"
    old = write(inbox / "bank-jan.csv", "id,amount,payee\n1,-12.50,Bakery\n2,1500,Salary\n")
    new = write(inbox / "bank-feb.csv", "id,amount,payee\n2,1550,Salary\n3,-40,Shoes\n")
    broken = write(inbox / "bank-mar.csv", b"")
    eng = make_engine("""
        [jobs.bank]
        kind = "import"
        table = "transactions"
        mode = "upsert"
        pk = "id"  # one column, as for sqlite-utils: the same as ["id"]
    """)
    first = eng.watcher.wait(eng.submit("bank", files=[old]))
    assert first["state"] == "succeeded", first
    assert first["result"]["summary"] == "2 rows imported into transactions"
    second = eng.watcher.wait(eng.submit("bank", files=[new, broken]))
    assert second["state"] == "failed", second
    assert second["error"] == ("2 rows imported into transactions (1 new, 1 updated); 1 of 2 "
                               "files failed. bank-mar.csv: the file is empty (0 bytes)")
    assert second["attempt"] == 1 and second["traceback"] is None  # not retried, no traceback
    # The failed run still says what became of each file.
    assert [(f["file"], f["status"], f["rows"]) for f in second["result"]["files"]] == [
        (str(new), "imported", 2), (str(broken), "failed", 0)]
    assert second["result"]["summary"] == second["error"].split(". ")[0]
    assert (inbox / "processed" / "bank-feb.csv").exists()
    assert (inbox / "failed" / "bank-mar.csv.error.txt").exists()
    assert rows(home, "transactions", "id, amount", order="id") == [
        {"id": 1, "amount": -12.5}, {"id": 2, "amount": 1550.0}, {"id": 3, "amount": -40.0}]

    from trayjobs.engine.undo import undo_run
    outcome = undo_run(eng, second["id"])
    assert outcome["summary"] == ("removed 2 rows from transactions (1 file); "
                                  "put back 1 row it had updated")
    assert rows(home, "transactions", "id, amount", order="id") == [
        {"id": 1, "amount": -12.5}, {"id": 2, "amount": 1500.0}]


def test_retry_of_a_failed_import_puts_its_file_back_and_imports_it(make_engine, home,
                                                                    tmp_path):
    inbox = tmp_path / "inbox"
    good = write(inbox / "jan.csv", "id,amount\n1,2\n")
    bad = write(inbox / "feb.csv", b"")
    eng = make_engine("""
        [jobs.bank]
        kind = "import"
        table = "t"
        retry = { attempts = 1 }
    """)
    first = eng.watcher.wait(eng.submit("bank", files=[good, bad]))
    assert first["state"] == "failed", first
    assert not bad.exists() and (inbox / "failed" / "feb.csv.error.txt").exists()
    assert (inbox / "processed" / "jan.csv").exists()
    # The failed run's log says why once, not twice.
    errors = [l["message"] for l in eng.store.logs(first["id"]) if l["level"] == "error"]
    assert len(errors) == len(set(errors)), errors
    # Fixed in failed/ (as the .error.txt says), then retried: put back, only it imported.
    (inbox / "failed" / "feb.csv").write_text("id,amount\n3,4\n")
    second = eng.watcher.wait(eng.retry(first["id"]))
    assert second["state"] == "succeeded", second
    assert second["inputs"]["files"] == [str(bad)]
    assert second["result"]["summary"] == "1 row imported into t"
    assert (inbox / "processed" / "feb.csv").exists()
    assert sorted(p.name for p in (inbox / "failed").iterdir()) == []
    # Nothing left to do: the retry says exactly why.
    with pytest.raises(UserError, match=r"its files were imported \(feb.csv\)"):
        eng.retry(second["id"])


def test_retry_says_why_when_the_moved_file_is_gone(make_engine, tmp_path):
    bad = write(tmp_path / "inbox" / "feb.csv", b"")
    eng = make_engine("""
        [jobs.bank]
        kind = "import"
    """)
    first = eng.watcher.wait(eng.submit("bank", files=[bad]))
    assert first["state"] == "failed"
    (tmp_path / "inbox" / "failed" / "feb.csv").unlink()
    with pytest.raises(UserError, match=r"feb.csv is neither at .* nor in .*failed any more"):
        eng.retry(first["id"])


_CHILD = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from trayjobs.context import JobContext
    from trayjobs.paths import Home
    from trayjobs.kinds.importer import ImportKind, ImportParams

    def sink(msg):
        if msg["t"] == "progress":
            print(json.dumps(msg), flush=True)

    home = Home.under(sys.argv[1])
    ctx = JobContext(run_id=5, job="big", home=home, sink=sink, files=[Path(sys.argv[2])])
    ImportKind().run(ctx, ImportParams(processed_dir="leave", table="t", batch_size=500))
""")


def test_killed_mid_file_leaves_nothing_and_the_rerun_is_exact(make_ctx, home, tmp_path,
                                                                monkeypatch):
    monkeypatch.setattr("trayjobs.kinds.importer.runner.PROGRESS_INTERVAL", 0)
    n = 300_000
    path = write(tmp_path / "big.csv", "id,v\n" + "".join(f"{i},{i % 97}\n" for i in range(n)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(home.root), str(path)],
                             stdout=subprocess.PIPE, text=True, env=env)
    try:
        for line in child.stdout:
            done_rows = int(json.loads(line)["message"].split()[0].replace(",", ""))
            if done_rows >= 20_000:  # well into the file, some batches written
                child.send_signal(signal.SIGKILL)
                break
    finally:
        child.wait(timeout=30)
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    assert "t" not in tables(home)  # the journal rolled the open transaction back
    assert ledger(home) == []
    result, _ = run(make_ctx, path, run_id=5, job="big", table="t")
    assert result["rows"] == n and len(rows(home, "t", "id")) == n


def test_cli_run_with_a_file_then_undo(home, write_config, tmp_path):
    from helpers import trayjobs

    write_config("""
        [jobs.bank]
        kind = "import"
        table = "transactions"
    """)
    path = write(tmp_path / "jan.csv", "id,amount\n1,2.5\n2,x,y\n3,-1\n")
    done = trayjobs(home, "run", "bank", "--file", str(path), "--wait")
    assert done.returncode == 0, done.stderr
    assert ("run 1 succeeded with 1 warning: 2 rows imported into transactions, 1 rejected "
            "(table _rejected)\nwarning: jan.csv: 1 of 3 rows rejected" in done.stderr)
    assert (tmp_path / "processed" / "jan.csv").exists()
    assert rows(home, "transactions") == [{"id": 1, "amount": 2.5}, {"id": 3, "amount": -1.0}]
    undone = trayjobs(home, "undo", "1")
    assert undone.returncode == 0, undone.stderr
    assert undone.stdout.strip() == "removed 2 rows from transactions (1 file)"
    assert "removed 2 rows" not in undone.stderr  # said once, not again as a log line
    assert rows(home, "transactions") == [] and ledger(home) == []


def test_the_imported_data_report_reads_the_ledger_and_quarantine(make_ctx, home, tmp_path):
    import csv as csvmod

    from trayjobs.context import JobContext
    from trayjobs.kinds.report import ReportKind

    run(make_ctx, write(tmp_path / "bank.csv", "id,amount\n1,2.5\n2\n3,4\n"), table="transactions")
    ctx = JobContext(run_id=2, job="imported", home=home, sink=[].append)
    result = ReportKind().run(ctx, ReportKind.parse_params({"builtin": "imported-data",
                                                            "formats": ["html", "csv"]}))

    def part(name):
        path = next(p for p in result["outputs"] if p.endswith(f"-{name}.csv"))
        with open(path, newline="", encoding="utf-8-sig") as f:  # report CSVs start with a BOM
            return list(csvmod.DictReader(f))
    assert part("tables") and part("tables")[0]["Table"] == "transactions"
    assert part("tables")[0]["Rows"] == "2" and part("tables")[0]["Rejected"] == "1"
    assert [r["File"] for r in part("imports")] == ["bank.csv"]
    assert [(r["Line"], r["Reason"]) for r in part("rejected-rows")] == [
        ("3", "too few fields: 1 instead of 2")]


def test_a_loop_of_links_fails_the_file_at_once_not_after_every_retry(make_engine, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a.csv").symlink_to("b.csv")
    (inbox / "b.csv").symlink_to("a.csv")
    eng = make_engine("""
        [jobs.bank]
        kind = "import"
        table = "t"
        retry = { attempts = 3, backoff = "1s" }
    """)
    run = eng.watcher.wait(eng.submit("bank", files=[inbox / "a.csv"]))
    assert run["state"] == "failed" and run["attempt"] == 1, run
    assert run["error"] == "a.csv: the file could not be read (Too many levels of symbolic links)"
