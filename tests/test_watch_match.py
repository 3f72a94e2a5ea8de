"""Which files a watch takes, which jobs a drop is offered to, and why a folder is unavailable
(no threads here: names, a scan of a real folder, and the config)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from trayjobs.config import WatchSpec, parse_config
from trayjobs.watch import jobs_accepting
from trayjobs.watch.folder import describe, folder_problem
from trayjobs.watch.match import Matcher, own_folders

ROOT = Path("/data/inbox")


def matcher(excluded=(), **spec) -> Matcher:
    spec.setdefault("folder", str(ROOT))
    return Matcher(ROOT, WatchSpec(**spec), excluded)


def wants(m: Matcher, rel: str) -> bool:
    return m.wants(os.path.join(str(ROOT), *rel.split("/")))


@pytest.mark.parametrize("name", ["a.part", "a.csv.crdownload", "a.tmp", "~$book.xlsx",
                                  ".~lock.book.ods#", ".hidden.csv", "a.csv.swp", "a.csv~"])
def test_partial_downloads_temporary_and_hidden_names_are_ignored(name):
    assert not wants(matcher(), name)
    assert wants(matcher(ignore=[]), name)  # the list is configurable


def test_patterns_ignore_case_and_a_slash_matches_the_path_below_the_folder():
    m = matcher(patterns=["*.csv", "*.json"], recursive=True)
    assert wants(m, "bank.csv") and wants(m, "EXPORT.CSV") and wants(m, "x/y.json")
    assert not wants(m, "notes.txt")
    assert wants(matcher(patterns=["2024/*.csv"], recursive=True), "2024/jan.csv")
    assert not wants(matcher(patterns=["2024/*.csv"], recursive=True), "2023/jan.csv")


def test_sub_folders_only_when_recursive_and_never_hidden_ones():
    assert not wants(matcher(), "sub/a.csv")
    assert wants(matcher(recursive=True), "sub/a.csv")
    assert not wants(matcher(recursive=True), ".git/a.csv")
    assert not matcher().wants("/data/other/a.csv")


def test_the_jobs_own_output_folders_wherever_they_are():
    m = matcher(["processed", "done/failed", "/archive/bank"], recursive=True)
    assert not wants(m, "processed/a.csv")
    assert not wants(m, "sub/processed/a.csv")  # beside a file in a sub-folder
    assert not wants(m, "PROCESSED/a.csv")
    assert not wants(m, "done/failed/a.csv") and wants(m, "done/a.csv")
    assert wants(m, "processed-2024/a.csv")
    assert not Matcher(ROOT, WatchSpec(folder=str(ROOT), recursive=True),
                       ["../done"]).wants("/data/done/a.csv")
    inside = Matcher(ROOT, WatchSpec(folder=str(ROOT), recursive=True), [str(ROOT / "arch")])
    assert not inside.wants(str(ROOT / "arch" / "a.csv")) and inside.wants(str(ROOT / "a.csv"))


def test_own_folders_read_from_the_import_kind_and_left_out_when_files_stay():
    cfg = parse_config("""
        [jobs.a]
        kind = "import"
        [jobs.b]
        kind = "import"
        processed_dir = "leave"
        failed_dir = "/srv/failed"
        [jobs.c]
        kind = "demo"
    """)
    assert [own_folders(cfg.jobs[n]) for n in "abc"] == [["processed", "failed"],
                                                         ["/srv/failed"], []]


def test_a_scan_skips_ignored_and_excluded_folders_and_reads_only_matching_files(tmp_path):
    for rel in ["a.csv", "b.txt", "c.csv.part", "sub/d.csv", "sub/processed/e.csv",
                "processed/f.csv", ".cache/g.csv", "failed/h.csv"]:
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "sub")  # a linked folder is not followed
    spec = WatchSpec(folder=str(tmp_path), patterns=["*.csv"], recursive=True)
    found = sorted(os.path.relpath(p, tmp_path)
                   for p, _ in Matcher(tmp_path, spec, ["processed", "failed"]).scan())
    assert found == ["a.csv", os.path.join("sub", "d.csv")]
    flat = WatchSpec(folder=str(tmp_path), patterns=["*.csv"])
    assert [os.path.basename(p) for p, _ in Matcher(tmp_path, flat).scan()] == ["a.csv"]


def test_a_name_that_is_not_utf8_is_left_out_and_said_once(tmp_path, caplog):
    # the run store keeps file versions as text: such a name stopped every file of the watch
    bad = os.fsdecode(b"bad\xff.csv")
    (tmp_path / bad).write_text("x")
    (tmp_path / "good.csv").write_text("x")
    m = Matcher(tmp_path, WatchSpec(folder=str(tmp_path), patterns=["*.csv"]))
    assert [os.path.basename(p) for p, _ in m.scan()] == ["good.csv"]
    assert not m.wants(str(tmp_path / bad))
    said = [r.getMessage() for r in caplog.records if "bad\\xff.csv" in r.getMessage()]
    assert len(said) == 1 and "not valid UTF-8" in said[0], said


def test_why_a_folder_is_unavailable(tmp_path):
    (tmp_path / "file").write_text("x")
    assert folder_problem(tmp_path) is None
    assert folder_problem(tmp_path / "missing") == "the folder does not exist"
    assert folder_problem(tmp_path / "file") == "it is a file, not a folder"
    assert folder_problem(tmp_path / "file" / "below") == (
        "a part of its path is a file, not a folder")
    assert describe(PermissionError(errno.EACCES, "Permission denied")) == "permission denied"
    assert "max_user_watches" in describe(OSError(errno.ENOSPC, "No space left on device"))
    assert describe(OSError(errno.EIO, "Input/output error")) == (
        "the drive is not available (Input/output error)")


DROP_CONFIG = """
    [jobs.bank]
    kind = "import"
    watch = { folder = "~/Inbox", patterns = ["*.csv"] }
    [jobs.anything]
    kind = "import"
    [jobs.json]
    kind = "import"
    watch = { folder = "~/Inbox", patterns = ["*.json", "*.ndjson"] }
    [jobs.off]
    kind = "import"
    enabled = false
    [jobs.tidy]
    kind = "demo"
    watch = { folder = "~/Inbox" }
"""


def test_jobs_accepting_dropped_files():
    cfg = parse_config(DROP_CONFIG)
    assert not cfg.errors, cfg.errors
    assert jobs_accepting(cfg, ["/tmp/a.csv", "/tmp/B.CSV"]) == ["bank", "anything"]
    assert jobs_accepting(cfg, [Path("/tmp/a.json")]) == ["json", "anything"]
    assert jobs_accepting(cfg, ["/tmp/a.csv", "/tmp/b.json"]) == ["anything"]
    assert jobs_accepting(cfg, []) == []


def test_the_engine_offers_dropped_files_and_reports_no_watch_before_start(make_engine):
    eng = make_engine(DROP_CONFIG, start=False)
    assert eng.jobs_accepting(["/tmp/x.csv"]) == ["bank", "anything"]
    assert eng.watch_status() == {}
