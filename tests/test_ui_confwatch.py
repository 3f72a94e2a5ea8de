"""The app's watch of the jobs file (Qt's file watcher)."""

from __future__ import annotations

import os

from trayjobs.ui.confwatch import ConfigWatcher


def test_a_link_pointed_at_another_file_is_watched_there(qtbot, tmp_path):
    # The watch stayed on the file first pointed to: edits of the new one went unseen.
    (tmp_path / "dots").mkdir()
    first, second = tmp_path / "dots" / "jobs.toml", tmp_path / "dots" / "other.toml"
    first.write_text("[jobs]\n")
    second.write_text("[jobs.c]\nkind = 'demo'\n")
    cfg = tmp_path / "trayjobs.toml"
    cfg.symlink_to(first)
    watch = ConfigWatcher(cfg, delay_ms=50)
    try:
        with qtbot.waitSignal(watch.changed, timeout=3000):
            first.write_text("[jobs.a]\nkind = 'demo'\n")
        with qtbot.waitSignal(watch.changed, timeout=3000):
            link = tmp_path / ".link"
            link.symlink_to(second)
            os.replace(link, cfg)
        with qtbot.waitSignal(watch.changed, timeout=3000):
            second.write_text("[jobs.d]\nkind = 'demo'\n")
    finally:
        watch.close()
