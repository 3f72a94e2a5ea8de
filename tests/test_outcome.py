"""A run's outcome, not just its state: what finished but not as it should (rows rejected, a
file that gave nothing, a column a few cells turned to text, files left alone) ends
*succeeded with warnings*, never plain green; a cleanup whose every action failed fails.
Real engine, real job processes, real files and SQLite."""

from __future__ import annotations

import os
import time
from textwrap import dedent

import pytest

from helpers import trayjobs
from test_import_support import write
from trayjobs.store import outcome, state_matches

pytestmark = pytest.mark.slow


def test_import_problems_end_as_warnings_and_a_clean_import_stays_green(make_engine, tmp_path):
    inbox = tmp_path / "inbox"
    clean = write(inbox / "clean.csv", "id,amount\n1,2.5\n2,3\n")
    garbage = write(inbox / "garbage.csv", "%%%%garbage$$$$\n")
    binary = write(inbox / "binary.csv", bytes(range(256)) * 8)
    rejected = write(inbox / "rejected.csv", "id,amount\n1,10\n2,ten\n3,30\n,40\n5,50\n")
    widened = write(inbox / "widened.csv",
                    "id,amount\n" + "".join(f"{i},{i * 10}\n" for i in range(1, 50)) + "50,n/a\n")
    eng = make_engine("""
        [jobs.bank]
        kind = "import"
        processed_dir = "leave"
        failed_dir = "leave"
        [jobs.strict]
        kind = "import"
        processed_dir = "leave"
        pk = ["id"]
        types = { amount = "integer" }
    """)
    ok = eng.watcher.wait(eng.submit("bank", files=[clean]))
    assert (ok["state"], ok["warnings"], outcome(ok)) == ("succeeded", 0, "succeeded"), ok
    assert "warnings" not in ok["result"]

    # A text file that is no table: 0 rows and no table, said as a warning with why.
    junk = eng.watcher.wait(eng.submit("bank", files=[garbage]))
    assert (junk["state"], outcome(junk)) == ("succeeded", "warning"), junk
    assert junk["result"]["warnings"] == [
        "garbage.csv: no rows imported: it holds a header line and no records; "
        "is it the file you meant?"]
    # Binary data is no table at all: it fails, saying why.
    bad = eng.watcher.wait(eng.submit("bank", files=[binary]))
    assert bad["state"] == "failed" and "binary data, not text" in bad["error"], bad

    two = eng.watcher.wait(eng.submit("strict", files=[rejected]))
    assert (outcome(two), two["warnings"]) == ("warning", 1), two
    assert two["result"]["summary"] == "3 rows imported into rejected, 2 rejected (table _rejected)"
    assert two["result"]["warnings"] == [
        "rejected.csv: 2 of 5 rows rejected (set aside in table _rejected, with the reason "
        "for each)"]

    wide = eng.watcher.wait(eng.submit("bank", files=[widened]))
    assert outcome(wide) == "warning", wide
    [warning] = wide["result"]["warnings"]
    assert warning == ("widened.csv: column amount is text, not integer, because of 1 cell "
                       "(line 51: 'n/a') among 49 numbers; set types.amount = \"integer\" to set "
                       "such rows aside, or \"text\" to keep them as text without this warning")
    assert any(l["level"] == "warning" and "column amount is text" in l["message"]
               for l in eng.store.logs(wide["id"]))

    again = eng.watcher.wait(eng.submit("bank", files=[clean]))  # the same bytes again
    assert outcome(again) == "warning"
    assert again["result"]["warnings"][0].startswith("clean.csv: already imported: same content")

    # The store filters by outcome: "warning" is a success with warnings; "succeeded" any.
    warned = {junk["id"], two["id"], wide["id"], again["id"]}
    assert {r["id"] for r in eng.store.list_runs(state="warning")} == warned
    assert eng.store.count_runs(state="warning") == 4
    assert eng.store.count_runs(state=["failed", "warning"]) == 5
    assert eng.store.count_runs(state="succeeded") == 5
    assert eng.store.count_runs(job="strict", state="warning") == 1
    assert state_matches(wide, ["warning"]) and state_matches(wide, ["succeeded"])
    assert not state_matches(ok, ["warning"]) and state_matches(ok, ["succeeded"])


def test_any_kind_reports_warnings_through_its_result_and_then_still_follows(make_engine,
                                                                              tmp_path):
    (tmp_path / "sync.py").write_text(dedent("""
        def main(ctx):
            return {"summary": "synced 3 of 4 items", "warnings": "item 4 was locked"}
    """))
    (tmp_path / "after.py").write_text(dedent("""
        def main(ctx):
            return {"summary": "after", "parent": ctx.parent}
    """))
    eng = make_engine(f"""
        [jobs.sync]
        kind = "python"
        file = '{tmp_path / "sync.py"}'
        then = "after"
        on_failure = "after"
        [jobs.after]
        kind = "python"
        file = '{tmp_path / "after.py"}'
    """)
    run = eng.watcher.wait(eng.submit("sync"))
    assert (run["state"], run["warnings"], outcome(run)) == ("succeeded", 1, "warning"), run
    assert run["result"]["warnings"] == ["item 4 was locked"]  # one text: stored as a list
    # A success with warnings is a success: `then` follows it (once), and learns the warnings.
    [child] = [r for r in eng.store.list_runs(job="after") if r["parent_run"] == run["id"]]
    parent = eng.watcher.wait(child["id"])["result"]["parent"]
    assert (parent["state"], parent["hook"]) == ("succeeded", "then")
    assert parent["warnings"] == ["item 4 was locked"]


@pytest.fixture
def dated(tmp_path):
    """A folder with a.txt from 2020 and b.txt from 2021, and an archive folder whose 2020
    sub-folder is a link to elsewhere: moving a.txt there fails, b.txt goes fine."""
    root = tmp_path / "tidy"
    root.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "archive"
    dest.mkdir()
    os.symlink(outside, dest / "2020")
    for name, year in (("a.txt", 2020), ("b.txt", 2021)):
        (root / name).write_text(name)
        old = time.mktime((year, 6, 1, 12, 0, 0, 0, 0, -1))
        os.utime(root / name, (old, old))
    return root, dest


def test_a_cleanup_whose_every_action_failed_fails_at_once_and_a_partial_one_warns(
        make_engine, dated):
    root, dest = dated
    eng = make_engine(f"""
        [jobs.only-2020]
        kind = "cleanup"
        locations = ['{root}']
        filters = [{{ name = "a.txt" }}]
        action = {{ move = '{dest}/{{year}}' }}
        retry = {{ attempts = 3, backoff = 0 }}
        [jobs.both]
        kind = "cleanup"
        locations = ['{root}']
        filters = [{{ name = "*.txt" }}]
        action = {{ move = '{dest}/{{year}}' }}
        retry = {{ attempts = 3, backoff = 0 }}
    """)
    failed = eng.watcher.wait(eng.submit("only-2020"))
    assert failed["state"] == "failed" and failed["attempt"] == 1, failed  # not retried
    assert failed["error"].startswith("could not move anything: 1 error (see the log); "
                                      "2 files scanned. ")
    assert "a.txt: could not move:" in failed["error"]
    assert failed["result"]["problems"][0]["kind"] == "error"  # its result is kept

    partial = eng.watcher.wait(eng.submit("both"))
    assert (partial["state"], outcome(partial)) == ("succeeded", "warning"), partial
    assert partial["result"]["summary"] == "moved 1 file (5 B), 1 error"
    [warning] = partial["result"]["warnings"]
    assert warning.startswith(f"1 error: {root}/a.txt: could not move:")
    assert (dest / "2021" / "b.txt").exists() and (root / "a.txt").exists()


def test_the_cli_shows_warnings_and_filters_by_them(write_config, home, tmp_path):
    rejected = write(tmp_path / "in" / "pay.csv", "id,amount\n1,10\n2,ten\n")
    write_config("""
        [jobs.pay]
        kind = "import"
        processed_dir = "leave"
        types = { amount = "integer" }
    """)
    done = trayjobs(home, "run", "pay", "--file", str(rejected), "--wait")
    assert done.returncode == 0, done.stderr  # a success, with warnings printed
    run_id = int(done.stdout.split()[0])
    assert (f"run {run_id} succeeded with 1 warning: 1 row imported into pay, 1 rejected "
            f"(table _rejected)") in done.stderr
    assert "warning: pay.csv: 1 of 2 rows rejected" in done.stderr

    listed = trayjobs(home, "runs", "--state", "warning")
    assert listed.returncode == 0 and "succeeded with 1 warning" in listed.stdout, listed
    assert trayjobs(home, "runs", "--state", "failed").stdout.strip() == "no failed runs"
    shown = trayjobs(home, "show", str(run_id)).stdout
    assert f"run {run_id} · pay (import) · succeeded with 1 warning" in shown
    assert "warnings:\n  pay.csv: 1 of 2 rows rejected" in shown


def test_a_report_section_whose_database_is_missing_is_a_warning(home):
    from test_report_kind import run_report
    result, _ = run_report(home, formats=["html"], sections=[
        {"title": "Sales", "query": "SELECT 1 AS n", "database": "sales.db"}])
    assert result["warnings"] == [
        f"section 'Sales': no data yet: {home.data_dir / 'sales.db'} does not exist"]
