"""The cleanup kind through the real engine: config file, job process, stored result, undo."""

from __future__ import annotations

import pytest

from test_cleanup_support import files, put, root, snapshot, trash_dir, trashed  # noqa: F401

pytestmark = pytest.mark.slow


def test_preview_run_and_undo_through_the_engine(make_engine, root, trash_dir):
    put(root, "old.zip", "z", age_days=40)
    put(root, "sub/old.log", "l", age_days=40)
    put(root, "sub/precious.keep", "k", age_days=40)
    put(root, "new.zip", "n", age_days=1)
    before = snapshot(root)
    eng = make_engine(f"""
        [jobs.tidy]
        kind = "cleanup"
        locations = [{{ path = "{root}", recursive = true }}]
        filters = [{{ age = "older than 30d" }}, {{ name = "*.keep", not = true }}]
        remove_empty_folders = true
    """)

    preview = eng.watcher.wait(eng.submit("tidy", dry_run=True))
    assert preview["state"] == "succeeded", preview
    assert preview["result"]["summary"] == "preview: would trash 2 files (2 B), 0 errors; nothing was touched"
    assert sorted(e["path"] for e in preview["result"]["planned"]) == [str(root / "old.zip"),
                                                                       str(root / "sub" / "old.log")]
    assert snapshot(root) == before

    done = eng.watcher.wait(eng.submit("tidy"))
    assert done["state"] == "succeeded", done
    assert done["result"]["summary"] == "trashed 2 files (2 B), 0 errors"
    assert files(root) == {"new.zip", "sub/precious.keep"}
    assert trashed(trash_dir) == {"old.zip", "old.log"}  # the job process used the test's trash

    from trayjobs.engine.undo import undo_run
    outcome = undo_run(eng, done["id"])
    assert outcome["summary"] == f"undid 2 actions of run {done['id']}"
    assert snapshot(root) == before
