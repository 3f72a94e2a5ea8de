"""A job renamed in the window is the same job: the files its watched folder already ran
are not run again under the new name, its schedule goes on where it was, and its runs
still to come (waiting, set for later) are the new name's. A real app and folder."""

from __future__ import annotations

import time

from ui_support import find_run, make_app, until  # noqa: F401

JOBS = """
[jobs.inbox]
kind = "command"
command = ["sh", "-c", "echo took"]
watch = {{ folder = "{folder}", patterns = ["*.txt"], settle = "0.2s" }}
"""


def _runs(ta, job):
    return [r for r in ta.window.runs_model.loaded_runs() if r["job"] == job]


def test_a_renamed_watching_job_does_not_run_the_files_it_ran_again(make_app, qtbot,
                                                                     tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for i in range(3):
        (inbox / f"f{i}.txt").write_text(str(i))
    ta = make_app(JOBS.format(folder=inbox))
    until(qtbot, lambda: (r := find_run(ta, "inbox")) and r["state"] == "succeeded",
          timeout=20_000)
    ran = len(_runs(ta, "inbox"))
    from trayjobs.config_edit import ConfigDocument
    values = ConfigDocument.load(ta.home.config_file).job("inbox")  # as the editor has it
    saved = []
    ta.save_job("mail", dict(values), old_name="inbox", on_saved=saved.append)
    until(qtbot, lambda: saved, timeout=10_000)
    until(qtbot, lambda: "mail" in ta.engine.config.jobs)
    qtbot.wait(3000)  # the new name's watch has looked at the folder
    assert _runs(ta, "mail") == [], "the files already run were run again"
    (inbox / "new.txt").write_text("new")
    until(qtbot, lambda: (r := find_run(ta, "mail")) and r["state"] == "succeeded",
          timeout=20_000)
    assert len(_runs(ta, "mail")) == 1 and len(_runs(ta, "inbox")) == ran
