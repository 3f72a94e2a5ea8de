"""A report job's folder is its own, and ``keep`` deletes nothing it did not write."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from trayjobs.context import JobContext
from trayjobs.kinds.registry import get_kind
from trayjobs.kinds.report.files import job_key, slugify

ReportKind = get_kind("report")
SECTIONS = [{"title": "Numbers", "query": "SELECT n FROM numbers"},
            {"title": "Count", "query": "SELECT count(*) AS c FROM numbers"}]


@pytest.fixture
def numbers(home):
    conn = sqlite3.connect(home.default_data_db)
    conn.execute("CREATE TABLE numbers (n)")
    conn.executemany("INSERT INTO numbers VALUES (?)", [(1,), (2,)])
    conn.commit()
    conn.close()


def run(home, job, run_id, **raw):
    ctx = JobContext(run_id=run_id, job=job, home=home, sink=[].append)
    params = ReportKind.parse_params({"sections": SECTIONS, "keep": 1, **raw})
    return ReportKind().run(ctx, params)


def test_jobs_whose_names_slug_alike_keep_their_own_reports(home, numbers):
    jobs = ["weekly-report", "weekly_report", "Weekly report", "WEEKLY REPORT", "日本", "中国"]
    outputs: dict[str, list[str]] = {}
    for round_ in range(3):
        for i, job in enumerate(jobs):
            result = run(home, job, run_id=10 * round_ + i + 1, formats=["html", "csv"])
            outputs[job] = result["outputs"]
    for job, out in outputs.items():
        # Each job's newest report survived every other job's pruning.
        assert len(out) == 3 and all(Path(p).is_file() for p in out), job
        folder = Path(out[0]).parent
        assert len(list(folder.iterdir())) == 6  # this report + its latest copies, nothing else
    assert len({Path(out[0]).parent for out in outputs.values()}) == len(jobs)
    assert (home.reports_dir / "weekly-report" / "weekly-report-latest.html").is_file()


def test_keys_are_unique_and_readable():
    assert job_key("weekly-report") == "weekly-report"
    assert job_key("imported-data") == "imported-data"
    names = ["weekly_report", "Weekly report", "weekly--report", "weekly-report-", "日本", "中国",
             "x" * 100, "x" * 99 + "y", "café", "cafe\u0301"]
    keys = [job_key(n) for n in names]
    assert len(set(keys)) == len(keys)
    for name, key in zip(names, keys):
        slug, _, digest = key.rpartition("_")
        assert slug == slugify(name) and len(digest) == 8
        # Never another job's plain name: a plain name is a slug, and slugs hold no "_".
        assert slugify(key) != key


def test_keep_leaves_files_that_only_look_like_reports(home, numbers, tmp_path):
    folder = home.reports_dir / "spending"
    folder.mkdir(parents=True)
    outside = tmp_path / "outside.html"
    outside.write_text("not a report")
    strangers = ["spending-latest-notes.TXT", "spending-latest.html.bak",
                 "spending-2020-01-01T0000-My Notes.csv", "spending-2020-01-01T0000.html.orig",
                 "spending-2020-01-01T0000-budget.xlsx", "spending-latest-Budget.csv"]
    for name in strangers:
        (folder / name).write_text("mine")
    os.symlink(outside, folder / "spending-2020-01-01T0000.html")
    (folder / "spending-2020-01-01T0001.pdf").mkdir()
    ours = folder / "spending-2020-01-01T0002.html"
    ours.write_text("an old report of this job")
    os.utime(ours, (0, 0))

    for run_id in (1, 2):
        result = run(home, "spending", run_id)
    assert not ours.exists()  # a file this job wrote, beyond keep
    for name in strangers:
        assert (folder / name).read_text() == "mine", name
    assert (folder / "spending-2020-01-01T0000.html").is_symlink()
    assert outside.read_text() == "not a report"
    assert (folder / "spending-2020-01-01T0001.pdf").is_dir()
    assert all(Path(p).is_file() for p in result["outputs"])


def test_a_file_or_folder_in_the_way_fails_once_saying_what_to_move(home, numbers):
    # Another attempt finds the same file in the way: one attempt, naming it, no traceback.
    from trayjobs.errors import JobFailed
    home.reports_dir.mkdir(parents=True, exist_ok=True)
    (home.reports_dir / "sums").write_text("mine", encoding="utf-8")
    with pytest.raises(JobFailed, match=r"reports/sums is not a folder; move it away") as exc:
        run(home, "sums", 1)
    assert exc.value.retry is False
    assert (home.reports_dir / "sums").read_text(encoding="utf-8") == "mine"

    # A link to a folder elsewhere (a disk not mounted yet, say) is written through once
    # there; while it is not, "not a folder" sent the person looking for a file.
    (home.reports_dir / "sums").unlink()
    (home.reports_dir / "sums").symlink_to(home.root / "usb-stick" / "reports")
    with pytest.raises(JobFailed, match=r"reports/sums is a link to \S+/usb-stick/reports, "
                                        r"which does not exist; create that folder") as exc:
        run(home, "sums", 1)
    assert exc.value.retry is False and not (home.root / "usb-stick").exists()

    (home.reports_dir / "sums").unlink()
    (home.reports_dir / "sums" / "sums-latest.html").mkdir(parents=True)
    with pytest.raises(JobFailed, match=r"sums-latest\.html is a folder in the way") as exc:
        run(home, "sums", 2)
    assert exc.value.retry is False
    assert not list((home.reports_dir / "sums").glob(".*"))  # no hidden copy left behind


def test_a_link_in_place_of_the_latest_copys_scratch_name_is_not_written_through(home, numbers,
                                                                                 tmp_path):
    # The latest copy is written to a hidden name first: a link waiting there (to the
    # person's own file) had the report written into that file, and then became the
    # "latest" report itself.
    mine = tmp_path / "mine.html"
    mine.write_text("my own page")
    folder = home.reports_dir / "weekly"
    folder.mkdir(parents=True)
    os.symlink(mine, folder / ".weekly-latest.html.tmp")
    run(home, "weekly", run_id=1, formats=["html"])
    assert mine.read_text() == "my own page"
    latest = folder / "weekly-latest.html"
    assert not latest.is_symlink() and "<html" in latest.read_text()


def test_a_disk_that_fills_up_as_the_report_is_put_in_place_leaves_no_half_report(home, numbers):
    # The report's files were moved in, then the disk filled up copying them to their
    # "-latest" names: the run failed with a bare "[Errno 28]", leaving its own files and
    # half of the latest copies behind for a retry to add to.
    import shutil
    import subprocess
    folder = home.reports_dir
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "none",
                                            str(folder)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        outputs = run(home, "weekly", run_id=1, formats=["html", "csv"])["outputs"]
        pages = sum(-(-Path(p).stat().st_size // 4096) for p in outputs)
        shutil.rmtree(folder / "weekly")
        free = shutil.disk_usage(folder).free
        with open(folder / "filler", "wb") as fh:  # room for the report once, not twice
            fh.write(b"\0" * (free - (pages + 1) * 4096))
        from trayjobs.errors import JobFailed
        with pytest.raises(JobFailed) as failed:
            run(home, "weekly", run_id=2, formats=["html", "csv"])
        assert f"cannot write the report to {folder / 'weekly'}" in str(failed.value)
        assert "No space left on device" in str(failed.value)
        assert failed.value.retry is not False
        assert sorted(p.name for p in (folder / "weekly").iterdir()) == []
        (folder / "filler").unlink()
        again = run(home, "weekly", run_id=3, formats=["html", "csv"])["outputs"]
        assert len(list((folder / "weekly").iterdir())) == 2 * len(again)
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_an_old_report_that_cannot_be_deleted_is_a_warning_not_a_failed_report(home, numbers):
    # keep = 1 could not delete an older report (marked immutable): the new report was
    # written whole, yet the run failed, as if no report had been made.
    import subprocess
    first = run(home, "weekly", run_id=1, formats=["html"])["outputs"][0]
    if os.geteuid() != 0 or subprocess.run(["chattr", "+i", first],
                                           capture_output=True).returncode:
        pytest.skip("cannot mark a file immutable here")
    try:
        result = run(home, "weekly", run_id=2, formats=["html"])
    finally:
        subprocess.run(["chattr", "-i", first], check=True)
    assert Path(result["outputs"][0]).is_file() and Path(first).is_file()
    assert any(Path(first).name in w and "could not be deleted" in w
               for w in result.get("warnings", [])), result
