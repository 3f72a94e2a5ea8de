"""Cleanup undo, crash recovery and cancel: the journal against the real disk."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from test_cleanup_support import (ROOT_DIR, cleanup, context, files, params, put, root, run,  # noqa: F401
                                  snapshot, trash_dir, trashed, tree, undo)
from trayjobs.errors import Cancelled
from trayjobs.kinds.cleanup import freedesktop, fsops, journal_path


def user_files(top) -> dict[str, tuple]:
    """The snapshot of everything but the trash and the app's own data."""
    return {k: v for k, v in snapshot(top).items() if k.split(os.sep)[0] not in ("xdg", "home")}


def statuses(ctx, run_id=1) -> dict[str, int]:
    """How many of the run's actions are in each state (its locations, kept for undo, left out)."""
    with sqlite3.connect(journal_path(ctx.home)) as db:
        return dict(db.execute("SELECT status, count(*) FROM actions WHERE run_id = ? AND action != 'location' "
                               "GROUP BY status", (run_id,)))


@pytest.fixture
def sample(root):
    tree(root, {"a.txt": "alpha", "b.log": "bb", "sub/c.txt": "c" * 100, "sub/deep/d.bin": b"\x00\x01",
                "sub/deep/e.txt": ("e", 50), "keep.me": "stay"})
    os.chmod(root / "a.txt", 0o600)
    return root


@pytest.mark.parametrize("action", ["trash", {"move": "{location}-moved/{year}"}, {"rename": "old-{name}"},
                                    {"copy": "../copies/{relative}"}, {"archive": "../old.zip"}])
def test_undo_restores_the_exact_tree(make_ctx, sample, tmp_path, trash_dir, action):
    before = user_files(tmp_path)
    raw = dict(locations=[{"path": str(sample), "recursive": True}], filters=[{"name": "keep.me", "not": True}],
               action=action, remove_empty_folders=True)
    result, ctx = run(make_ctx, **raw)
    assert result["acted"] == 5 and user_files(tmp_path) != before
    outcome, _ = undo(make_ctx, result, **raw)
    assert outcome["not_undone"] == 0, outcome["problems"]
    assert user_files(tmp_path) == before
    in_trash = {"old.zip"} if "archive" in action else set()
    assert trashed(trash_dir) == in_trash
    if trash_dir.exists():
        assert set(os.listdir(trash_dir / "info")) == {n + ".trashinfo" for n in in_trash}
    assert statuses(ctx) == {"undone": statuses(ctx)["undone"]}


def test_undo_of_an_overwrite_brings_back_what_was_replaced(make_ctx, root, tmp_path):
    dest = tmp_path / "dest"
    put(dest, "same.txt", "older one", age_days=100)
    put(root, "same.txt", "newer one")
    before = user_files(tmp_path)
    raw = dict(locations=[str(root)], action={"move": str(dest)}, conflict="overwrite")
    result, _ = run(make_ctx, **raw)
    assert (dest / "same.txt").read_text() == "newer one"
    outcome, _ = undo(make_ctx, result, **raw)
    assert outcome["summary"] == "undid 2 actions of run 1"
    assert user_files(tmp_path) == before


def test_undo_reports_what_it_cannot_undo_and_why(make_ctx, root, tmp_path, trash_dir):
    tree(root, {"emptied.txt": "1", "retaken.txt": "2", "fine.txt": "3", "changed.log": "4", "gone.tmp": "5"})
    raw = dict(locations=[str(root)], filters=[{"extension": "txt"}])
    result, _ = run(make_ctx, **raw)
    moved, _ = run(make_ctx, run_id=2, locations=[str(root)], filters=[{"extension": "log"}],
                   action={"move": str(tmp_path / "logs")})
    deleted, _ = run(make_ctx, run_id=3, locations=[str(root)], filters=[{"extension": "tmp"}], action="delete")
    os.unlink(trash_dir / "files" / "emptied.txt")      # the trash was emptied of it
    put(root, "retaken.txt", "someone made a new one")  # its place is taken again
    (tmp_path / "logs" / "changed.log").write_text("edited after the move")

    outcome, ctx = undo(make_ctx, result, **raw)
    assert outcome["summary"] == "undid 1 action of run 1, 2 could not be undone"
    reasons = {os.path.basename(p["path"]): p["reason"] for p in outcome["problems"]}
    assert reasons == {"emptied.txt": "no longer in the trash (was it emptied?)",
                       "retaken.txt": "something is at the original place again"}
    assert (root / "fine.txt").read_text() == "3"
    assert any("could not undo trash of" in line for line in ctx.sink.logs)

    outcome, _ = undo(make_ctx, moved, run_id=2, **raw)
    assert "changed after the run" in outcome["problems"][0]["reason"]
    outcome, _ = undo(make_ctx, deleted, run_id=3, **raw)
    assert outcome["problems"] == [{"path": str(root / "gone.tmp"), "action": "delete",
                                    "reason": "it was deleted permanently"}]


def test_undo_of_a_folder_copy_keeps_a_copy_changed_since(make_ctx, root, tmp_path):
    # undoing a copy deletes it for good: only a copy still as the run made it may go
    tree(root, {"proj/a.txt": "a", "proj/sub/b.txt": "b", "same/c.txt": "c"})
    past = time.time() - 10 * 86400
    for d in ("proj", "same"):
        os.utime(root / d, (past, past))
    raw = dict(locations=[str(root)], targets="folders", action={"copy": str(tmp_path / "backup")})
    result, _ = run(make_ctx, **raw)
    assert result["acted"] == 2, result
    put(tmp_path / "backup", "proj/sub/my-new-work.txt", "only here")
    outcome, _ = undo(make_ctx, result, **raw)
    assert outcome["undone"] == 1 and outcome["not_undone"] == 1, outcome
    assert "changed after the run" in outcome["problems"][0]["reason"], outcome
    assert (tmp_path / "backup" / "proj" / "sub" / "my-new-work.txt").read_text() == "only here"
    assert not (tmp_path / "backup" / "same").exists()  # the untouched copy went
    shutil.rmtree(tmp_path / "backup" / "proj")
    os.symlink(root / "proj", tmp_path / "backup" / "proj")  # the copy, replaced by a link
    outcome, _ = undo(make_ctx, result, **raw)
    assert outcome["problems"][0]["reason"].endswith("left where it is"), outcome
    assert os.path.islink(tmp_path / "backup" / "proj")


def test_undo_twice_and_undo_of_a_preview(make_ctx, root):
    put(root, "a.txt")
    result, _ = run(make_ctx, locations=[str(root)])
    assert undo(make_ctx, result, locations=[str(root)])[0]["undone"] == 1
    assert undo(make_ctx, result, locations=[str(root)])[0]["summary"] == "nothing to undo for run 1"
    preview, _ = run(make_ctx, run_id=2, dry=True, locations=[str(root)])
    assert "preview" in undo(make_ctx, preview, run_id=2, locations=[str(root)])[0]["summary"]


class Crash(BaseException):
    """Stands in for the process being killed: nothing after it runs."""


@pytest.mark.parametrize("action", ["trash", {"copy": "../copies"}, {"move": "../moved"}])
def test_a_second_attempt_finishes_the_run_without_doing_anything_twice(make_ctx, root, tmp_path, trash_dir,
                                                                         monkeypatch, action):
    for i in range(8):
        put(root, f"f{i}.txt", str(i))
    before = snapshot(root)
    real, real_fs, calls = freedesktop.rename_noreplace, fsops.rename_noreplace, []

    def crash_on_fourth(src, dst, real=real, **fds):
        calls.append(src)
        if len(calls) == 4:
            raise Crash()
        real(src, dst, **fds)
    monkeypatch.setattr(freedesktop, "rename_noreplace", lambda s, d, **fds: crash_on_fourth(s, d, **fds))
    monkeypatch.setattr(fsops, "rename_noreplace", lambda s, d, **fds: crash_on_fourth(s, d, real_fs, **fds))
    raw = dict(locations=[str(root)], action=action)
    with pytest.raises(Crash):
        run(make_ctx, run_id=5, **raw)
    monkeypatch.setattr(freedesktop, "rename_noreplace", real)
    monkeypatch.setattr(fsops, "rename_noreplace", real_fs)

    ctx = context(make_ctx, run_id=5)
    assert statuses(ctx, 5).get("pending")  # what the killed attempt left behind
    result = cleanup().run(ctx, params(**raw))
    assert result["acted"] == 8 and result["errors"] == 0 and not result["skipped"], result
    assert statuses(ctx, 5) == {"done": 8}
    if action == "trash":
        assert len(trashed(trash_dir)) == 8 and len(os.listdir(trash_dir / "info")) == 8
    else:
        where = tmp_path / ("copies" if "copy" in action else "moved")
        assert sorted(os.listdir(where)) == [f"f{i}.txt" for i in range(8)]  # no "(1)" twins
    undo(make_ctx, result, run_id=5, **raw)
    assert snapshot(root) == before


def test_cancel_between_files_leaves_a_consistent_journal(make_ctx, root, trash_dir):
    for i in range(10):
        put(root, f"f{i}.txt")
    before = snapshot(root)
    ctx = context(make_ctx)
    sink = ctx.sink

    def cancel_after_third(message):
        sink(message)
        if message["t"] == "log" and sum(m.startswith("trashed ") for m in sink.logs) == 3:
            ctx.cancel_event.set()
    ctx.sink = cancel_after_third
    with pytest.raises(Cancelled):
        cleanup().run(ctx, params(locations=[str(root)]))
    assert len(files(root)) == 7
    assert statuses(ctx) == {"done": 3}
    assert len(os.listdir(trash_dir / "info")) == 3  # the slots reserved for the rest were given back
    undo(make_ctx, {"dry_run": False}, locations=[str(root)])
    assert snapshot(root) == before


@pytest.mark.slow
def test_sigkill_mid_run_then_rerun_then_undo(make_ctx, root, trash_dir, home):
    for i in range(400):
        put(root, f"d{i % 4}/f{i}.txt", str(i))
    before = snapshot(root)
    child = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT_DIR)!r})
        from trayjobs.context import JobContext
        from trayjobs.paths import Home
        from trayjobs.kinds.registry import get_kind
        from trayjobs.kinds.cleanup import freedesktop
        real = freedesktop.rename_noreplace
        def slow(src, dst, **fds):
            time.sleep(0.003)
            real(src, dst, **fds)
        freedesktop.rename_noreplace = slow
        kind = get_kind("cleanup")()
        p = kind.parse_params({{"locations": [{{"path": {str(root)!r}, "recursive": True}}], "filters": [{{"name": "*"}}]}})
        kind.run(JobContext(run_id=9, job="tidy", home=Home.under({str(home.root)!r}), sink=lambda m: None), p)
    """)
    proc = subprocess.Popen([sys.executable, "-c", child], env=os.environ.copy())
    deadline = time.monotonic() + 30
    while len(trashed(trash_dir)) < 60 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert 0 < len(files(root)) < 400

    result, ctx = run(make_ctx, run_id=9, locations=[{"path": str(root), "recursive": True}])
    assert files(root) == set()
    assert result["acted"] == 400 and statuses(ctx, 9) == {"done": 400}
    assert len(trashed(trash_dir)) == 400 and len(os.listdir(trash_dir / "info")) == 400
    outcome, _ = undo(make_ctx, result, run_id=9, locations=[str(root)])
    assert outcome["undone"] == 400
    assert snapshot(root) == before


def test_the_journal_forgets_runs_after_half_a_year(make_ctx, root):
    from trayjobs.kinds.cleanup.journal import Journal
    put(root, "a.txt")
    put(root, "b.txt")
    result, ctx = run(make_ctx, locations=[str(root)], filters=[{"name": "a.txt"}])
    with sqlite3.connect(journal_path(ctx.home)) as db:
        db.execute("UPDATE actions SET ts = ts - 200 * 86400 WHERE run_id = 1")
    run(make_ctx, run_id=2, locations=[str(root)], filters=[{"name": "b.txt"}])
    assert statuses(ctx, 1) == {} and statuses(ctx, 2) == {"done": 1}
    j = Journal(journal_path(ctx.home))
    try:
        assert j.db.execute("PRAGMA user_version").fetchone() == (2,)
    finally:
        j.close()
    assert undo(make_ctx, result, locations=[str(root)])[0]["summary"] == \
        "nothing to undo for run 1: its journal was cleared (runs are kept for 180 days)"


def test_an_interrupted_undo_can_be_finished(make_ctx, root, monkeypatch):
    for i in range(6):
        put(root, f"f{i}.txt", str(i))
    before = snapshot(root)
    result, _ = run(make_ctx, locations=[str(root)])
    real, calls = freedesktop.rename_noreplace, []

    def crash_on_third(src, dst, **fds):
        calls.append(src)
        if len(calls) == 3:
            raise Crash()
        real(src, dst, **fds)
    monkeypatch.setattr(freedesktop, "rename_noreplace", crash_on_third)
    with pytest.raises(Crash):
        undo(make_ctx, result, locations=[str(root)])
    assert len(files(root)) == 2
    monkeypatch.setattr(freedesktop, "rename_noreplace", real)
    outcome, ctx = undo(make_ctx, result, locations=[str(root)])
    assert outcome["not_undone"] == 0 and outcome["undone"] == 4, outcome
    assert snapshot(root) == before and statuses(ctx) == {"undone": 6}
    # killed before it could record anything: the disk shows those items are back already
    with sqlite3.connect(journal_path(ctx.home)) as db:
        db.execute("UPDATE actions SET status = 'done'")
    outcome, _ = undo(make_ctx, result, locations=[str(root)])
    assert outcome["not_undone"] == 0 and outcome["undone"] == 6, outcome
    assert snapshot(root) == before


def test_cancelling_an_undo_records_what_was_put_back(make_ctx, root):
    for i in range(5):
        put(root, f"f{i}.txt", str(i))
    result, _ = run(make_ctx, locations=[str(root)])
    ctx = context(make_ctx)
    sink = ctx.sink

    def cancel_at_second_progress(message):
        sink(message)
        if message["t"] == "progress":
            ctx.cancel_event.set()
    ctx.sink = cancel_at_second_progress
    with pytest.raises(Cancelled):
        cleanup().undo(ctx, params(locations=[str(root)]), {"id": 1, "job": "tidy", "result": result})
    assert statuses(ctx) == {"done": 4, "undone": 1}  # the item under way was finished, then it stopped
    outcome, _ = undo(make_ctx, result, locations=[str(root)])
    assert outcome["undone"] == 4 and len(files(root)) == 5
