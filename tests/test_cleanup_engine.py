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


def test_applying_a_preview_does_exactly_what_it_listed(make_engine, root, trash_dir):
    import os

    from trayjobs.errors import UserError
    put(root, "a.zip", "a", age_days=40)
    put(root, "b.zip", "b", age_days=40)
    put(root, "c.zip", "c", age_days=40)
    eng = make_engine(f"""
        [jobs.tidy]
        kind = "cleanup"
        locations = ["{root}"]
        filters = [{{ age = "older than 30d" }}]
        preview = true
    """)
    preview = eng.watcher.wait(eng.submit("tidy"))  # the job is in preview mode
    assert preview["result"]["dry_run"] and len(preview["result"]["plan"]) == 3
    assert files(root) == {"a.zip", "b.zip", "c.zip"}
    # After the preview: a new matching file (not previewed), one changed, one as it was.
    put(root, "d.zip", "d", age_days=40)
    (root / "b.zip").write_text("bigger now")
    old = os.stat(root / "a.zip").st_mtime
    os.utime(root / "b.zip", (old, old))
    applied = eng.watcher.wait(eng.apply_preview(preview["id"]))
    assert applied["state"] == "succeeded", applied
    assert applied["inputs"]["plan"]["from_run"] == preview["id"]
    assert applied["result"]["from_preview"] == preview["id"] and not applied["result"]["dry_run"]
    assert trashed(trash_dir) == {"a.zip", "c.zip"}
    assert files(root) == {"b.zip", "d.zip"}
    assert any(p["reason"] == "changed since the preview" for p in applied["result"]["problems"])
    with pytest.raises(UserError, match="not a finished preview"):
        eng.apply_preview(applied["id"])



def test_a_preview_is_not_applied_once_its_job_does_something_else(make_engine, write_config, root,
                                                                     trash_dir):
    # the preview said "would trash"; the job now deletes: applying it would do what nobody saw
    put(root, "a.zip", "a", age_days=40)
    job = """
        [jobs.tidy]
        kind = "cleanup"
        locations = ["{root}"]
        filters = [{{ age = "older than 30d" }}]
        action = {action}
        preview = true
    """
    eng = make_engine(job.format(root=root, action='"trash"'))
    preview = eng.watcher.wait(eng.submit("tidy"))
    assert preview["result"]["dry_run"] and len(preview["result"]["plan"]) == 1, preview
    before = snapshot(root)
    write_config(job.format(root=root, action='"delete"'))
    eng.reload_config()
    applied = eng.watcher.wait(eng.apply_preview(preview["id"]))
    assert applied["state"] == "failed", applied
    assert "changed since the preview" in applied["error"] and "preview again" in applied["error"], applied
    assert "action 'trash' then, 'delete permanently' now" in applied["error"], applied["error"]
    assert snapshot(root) == before
    # as it was when previewed, it applies
    write_config(job.format(root=root, action='"trash"'))
    eng.reload_config()
    applied = eng.watcher.wait(eng.apply_preview(preview["id"]))
    assert applied["state"] == "succeeded", applied
    assert trashed(trash_dir) == {"a.zip"}


def test_a_run_is_undone_after_its_job_was_removed_or_changed(make_engine, write_config, root, trash_dir):
    # removing the job that trashed too much is the first thing a person does: undo must still work
    put(root, "first.txt", "1", age_days=40)
    eng = make_engine(f"""
        [jobs.tidy]
        kind = "cleanup"
        locations = ["{root}"]
        filters = [{{ age = "older than 30d" }}]
    """)
    first = eng.watcher.wait(eng.submit("tidy"))
    put(root, "second.txt", "2", age_days=40)
    second = eng.watcher.wait(eng.submit("tidy"))
    assert trashed(trash_dir) == {"first.txt", "second.txt"}, (first, second)
    from trayjobs.engine.undo import undo_run
    for run, config in ((first, ""), (second, '[jobs.tidy]\nkind = "demo"\n')):  # removed, then another kind
        write_config(config)
        eng.reload_config()
        assert undo_run(eng, run["id"])["summary"] == f"undid 1 action of run {run['id']}"
    assert files(root) == {"first.txt", "second.txt"}


def test_a_job_with_no_rules_and_preview_off_fails_its_runs_touching_nothing(
        make_engine, root, trash_dir):
    # trayjobs check and the editor refuse it; a hand-written file reaches the engine all
    # the same, and its next scheduled run would have emptied the folder.
    put(root, "a.zip", "a", age_days=40)
    put(root, "sub/b.log", "b", age_days=40)
    before = snapshot(root)
    eng = make_engine(f"""
        [jobs.everything]
        kind = "cleanup"
        locations = [{{ path = "{root}", recursive = true }}]
        filters = []
        retry = {{ attempts = 3, backoff = "1s" }}

        [jobs.every-item]
        kind = "cleanup"
        locations = [{{ path = "{root}", recursive = true }}]
        filters = [{{ name = "*" }}]
    """)
    preview = eng.watcher.wait(eng.submit("everything", dry_run=True))
    assert preview["state"] == "succeeded" and len(preview["result"]["planned"]) == 2, preview
    run = eng.watcher.wait(eng.submit("everything"))
    assert run["state"] == "failed" and run["attempt"] == 1, run
    assert run["error"].startswith("job 'everything', key 'filters': with no rules it would act "
                                   "on everything in its folders"), run["error"]
    assert snapshot(root) == before and not trashed(trash_dir)

    done = eng.watcher.wait(eng.submit("every-item"))
    assert done["state"] == "succeeded", done
    assert files(root) == set() and trashed(trash_dir) == {"a.zip", "b.log"}
