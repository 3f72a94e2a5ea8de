"""An import moves only what it imported or failed, and never into a dangerous folder.

``HOME`` is a fake home under ``tmp_path``; every test counts what changed outside the
files the run was given.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from test_import_support import KIND, fail, params, run, write
from test_watch_safety import snapshot


@pytest.fixture
def fake_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "users" / "someone"
    (home / "Inbox").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    return home


def test_a_folder_named_as_input_fails_and_stays_where_it_is(make_ctx, tmp_path):
    folder = tmp_path / "in" / "export.csv"
    write(folder / "inner.txt", "mine")
    before = snapshot(tmp_path / "in")
    error, ctx = fail(make_ctx, folder, processed_dir="processed", failed_dir="failed")
    assert "this is a folder, not a file" in str(error)
    assert snapshot(tmp_path / "in") == before
    assert any("left where it is" in m and "it is a folder" in m for m in ctx.sink.logs)


def test_a_pipe_named_as_input_fails_at_once_and_stays(make_ctx, tmp_path):
    (tmp_path / "in").mkdir()
    pipe = tmp_path / "in" / "feed.csv"
    os.mkfifo(pipe)  # reading it would wait for a writer forever
    before = snapshot(tmp_path / "in")
    error, _ = fail(make_ctx, pipe, processed_dir="processed", failed_dir="failed")
    assert "not a regular file" in str(error)
    assert snapshot(tmp_path / "in") == before


def test_a_file_replaced_after_the_run_read_it_is_not_moved(make_ctx, tmp_path):
    source = write(tmp_path / "in" / "export.csv", "id,name\n1,a\n")

    class Replacer(list):
        """The sink of a real context: a newer export lands under the same name just as the
        first one is imported."""

        def __call__(self, message: dict) -> None:
            self.append(message)
            if message["t"] == "log" and "imported into" in message.get("message", ""):
                write(source, "id,name\n1,a\n2,b-newer-and-not-imported\n")

        @property
        def logs(self) -> list[str]:
            return [m["message"] for m in self if m["t"] == "log"]

    ctx = make_ctx(files=[source])
    ctx.sink = Replacer()
    result = KIND.run(ctx, params(processed_dir="processed"))
    assert result["rows"] == 1
    assert "b-newer" in source.read_text()  # still there, for the next run
    assert not (tmp_path / "in" / "processed").exists()
    assert any("changed after this run read it" in m for m in ctx.sink.logs)


def test_a_relative_output_folder_that_lands_on_home_is_refused_at_run_time(make_ctx, fake_home):
    # Given with --file (or dropped), so no watch tells the config where files come from.
    source = write(fake_home / "Inbox" / "export.csv", "id,name\n1,a\n")
    (fake_home / "letter.txt").write_text("private")
    before = snapshot(fake_home)
    result, ctx = run(make_ctx, source, processed_dir="..")
    assert result["rows"] == 1
    assert snapshot(fake_home) == before
    assert any("left where it is" in m and "is your home folder itself" in m
               for m in ctx.sink.logs)


def test_the_opt_in_lets_it_move(make_ctx, fake_home):
    source = write(fake_home / "Inbox" / "export.csv", "id,name\n1,a\n")
    run(make_ctx, source, processed_dir="..", allow_dangerous_location=True)
    assert (fake_home / "export.csv").exists() and not source.exists()


def test_ordinary_moves_still_happen(make_ctx, fake_home):
    good = write(fake_home / "Inbox" / "good.csv", "id,name\n1,a\n")
    bad = write(fake_home / "Inbox" / "bad.csv", b"")
    error, _ = fail(make_ctx, good, bad, processed_dir="processed", failed_dir="failed")
    assert "empty" in str(error)
    assert (fake_home / "Inbox" / "processed" / "good.csv").exists()
    assert (fake_home / "Inbox" / "failed" / "bad.csv").exists()
    assert (fake_home / "Inbox" / "failed" / "bad.csv.error.txt").exists()


def test_links_waiting_in_the_failed_folder_are_not_written_through(make_ctx, tmp_path):
    # failed/ already holds links named like the note and the file a failed import puts
    # there, pointing out of it at names that do not exist yet: the note and the file go
    # under free names beside them, nothing is made where the links point.
    bad = write(tmp_path / "in" / "bad.csv", b"")
    failed = tmp_path / "in" / "failed"
    failed.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside / "planted-note.txt", failed / "bad.csv.error.txt")
    os.symlink(outside / "planted.csv", failed / "bad (2).csv")
    before = snapshot(outside)
    error, _ = fail(make_ctx, bad, failed_dir="failed")
    assert "empty" in str(error)
    assert snapshot(outside) == before
    assert not bad.exists()
    moved = [p for p in failed.iterdir() if not p.is_symlink()]
    assert sorted(p.name for p in moved) == ["bad (3).csv", "bad (3).csv.error.txt"]
    assert "was not imported" in (failed / "bad (3).csv.error.txt").read_text()


def test_a_move_to_a_full_drive_leaves_no_half_file_in_processed(make_ctx, tmp_path):
    # processed/ on another drive with too little room: the copy stops half-way. The file
    # stays where it was, whole, and processed/ holds no truncated copy that would pass
    # for it.
    from test_cleanup_hostile import mount_tmpfs
    source = write(tmp_path / "in" / "data.csv",
                   "id,name\n" + "".join(f"{i},name{i}\n" for i in range(120_000)))
    assert source.stat().st_size > 1_500_000
    with mount_tmpfs(tmp_path / "drive") as drive:
        result, ctx = run(make_ctx, source, processed_dir=str(drive / "processed"))
        assert result["rows"] == 120_000
        assert sorted(p.name for p in (drive / "processed").iterdir()) == []
        assert any("could not be moved" in m and "No space left" in m for m in ctx.sink.logs)
    assert source.read_text().count("\n") == 120_001


def test_a_retry_that_cannot_put_a_file_back_whole_leaves_no_half_of_it(tmp_path):
    # The failed file went to failed/ on another drive; its own folder has filled up since.
    # Putting it back stopped half-way and left a truncated copy where the file was, which
    # the retry would then import as if it were the file.
    from test_cleanup_hostile import mount_tmpfs
    from trayjobs.errors import UserError
    from trayjobs.kinds.importer.retry import files_for_retry
    body = "id,name\n" + "".join(f"{i},name{i}\n" for i in range(120_000))
    with mount_tmpfs(tmp_path / "drive") as drive:
        gone = drive / "in" / "data.csv"
        moved = write(tmp_path / "failed" / "data.csv", body)
        (drive / "in").mkdir()
        with open(drive / "filler", "wb") as fh:  # the drive fills up
            try:
                fh.write(b"\0" * (2 << 20))
            except OSError:
                pass
        run_ = {"id": 5, "inputs": {"files": [str(gone)]},
                "result": {"files": [{"file": str(gone), "status": "failed",
                                      "moved_to": str(moved)}]}}
        with pytest.raises(UserError, match="could not be put back"):
            files_for_retry(params(failed_dir=str(tmp_path / "failed")), run_)
        assert not os.path.lexists(gone)
        assert sorted(p.name for p in (drive / "in").iterdir()) == []
    assert moved.read_text() == body


def test_a_watched_file_swapped_for_a_link_before_its_run_is_not_read(make_ctx, home, tmp_path):
    # The watch took export.csv, a file; by the time its run starts (it waited for a
    # worker), a link to a file outside the folder is in its place. The run reads nothing
    # through it: the outside file's rows never reach the table.
    outside = write(tmp_path / "outside" / "secret.csv", "id,secret\n1,pin-1234\n")
    link = tmp_path / "in" / "export.csv"
    link.parent.mkdir()
    os.symlink(outside, link)
    before = snapshot(tmp_path / "outside")
    ctx = make_ctx("job", files=[link], trigger="watch")
    error, ctx = fail(make_ctx, link, ctx=ctx, failed_dir="failed")
    assert "is a link now" in str(error), error
    assert snapshot(tmp_path / "outside") == before
    from test_import_support import tables
    assert "export" not in tables(home)
    assert os.path.islink(tmp_path / "in" / "failed" / "export.csv")  # the link, set aside


def test_a_file_where_the_processed_folder_should_be_is_named_with_what_to_do(make_ctx, tmp_path):
    # "could not be moved to ...: File exists" left the person wondering which file
    source = write(tmp_path / "in" / "export.csv", "id,name\n1,a\n")
    blocker = write(tmp_path / "done", "my notes")
    for folder in (blocker, blocker / "sub"):
        result, ctx = run(make_ctx, source, processed_dir=str(folder))
        assert source.exists() and blocker.read_text() == "my notes"
        assert any(f"{blocker} is a file, not a folder; move it away or set processed_dir "
                   f"to a folder" in m for m in ctx.sink.logs), ctx.sink.logs


def test_a_failed_file_with_the_longest_name_is_moved_with_its_note_and_can_be_retried(make_ctx,
                                                                                       tmp_path):
    # NAME.error.txt of a 255-byte name is too long a name: the file went to failed/, yet
    # the log said it "could not be moved" and a retry could not find it.
    from trayjobs.kinds.importer.retry import files_for_retry
    name = "B" * 251 + ".csv"
    bad = write(tmp_path / "in" / name, b"")
    error, ctx = fail(make_ctx, bad, failed_dir="failed")
    assert not any("could not be moved" in m for m in ctx.sink.logs), ctx.sink.logs
    moved = tmp_path / "in" / "failed" / name
    assert moved.exists()
    notes = [p for p in moved.parent.iterdir() if p.name.endswith(".error.txt")]
    assert len(notes) == 1 and "was not imported" in notes[0].read_text()
    assert len(os.fsencode(notes[0].name)) <= 255
    files = files_for_retry(params(failed_dir="failed"), {
        "id": 1, "inputs": {"files": [str(bad)]}, "result": error.result})
    assert files == [str(bad)] and bad.exists()
    assert not notes[0].exists()  # the retry took the note away with the file


def test_a_file_with_the_longest_name_taken_in_processed_gets_a_numbered_name_that_fits(make_ctx,
                                                                                        tmp_path):
    # "NAME (2).csv" of a 255-byte name is no name a folder takes: the move failed
    name = "C" * 251 + ".csv"
    source = write(tmp_path / "in" / name, "id,name\n1,a\n")
    write(tmp_path / "in" / "processed" / name, "an earlier export")
    result, ctx = run(make_ctx, source, processed_dir="processed")
    assert not source.exists(), ctx.sink.logs
    moved = Path(result["files"][0]["moved_to"])
    assert moved.parent == tmp_path / "in" / "processed" and moved.name.endswith(" (2).csv")
    assert len(os.fsencode(moved.name)) <= 255
    assert (tmp_path / "in" / "processed" / name).read_text() == "an earlier export"
