"""The jobs file's watch: every change is seen, and nothing else wakes it."""

from __future__ import annotations

import os
import threading
import time

from trayjobs.engine import confwatch
from trayjobs.engine.confwatch import ConfigFileWatch


def test_an_idle_watch_does_not_read_the_file_again_and_again(tmp_path, monkeypatch):
    # Reading the file makes inotify "opened" events in its folder; reacting to them
    # read the file again ~5 times a second forever, a laptop's battery for nothing.
    cfg = tmp_path / "trayjobs.toml"
    cfg.write_text("[jobs]\n")
    reads = []
    real = confwatch._digest
    monkeypatch.setattr(confwatch, "_digest", lambda p: reads.append(1) or real(p))
    watch = ConfigFileWatch(cfg, lambda: None, settle=0.05)
    watch.start()
    try:
        cfg.read_bytes()  # someone else reading it is not a change either
        time.sleep(1.5)
    finally:
        watch.stop()
    assert len(reads) <= 1, f"the file was read {len(reads)} times while nothing changed"


def test_an_edit_and_an_editor_s_atomic_save_are_each_seen(tmp_path):
    cfg = tmp_path / "trayjobs.toml"
    cfg.write_text("[jobs]\n")
    seen = threading.Semaphore(0)
    watch = ConfigFileWatch(cfg, seen.release, settle=0.05)
    watch.start()
    try:
        cfg.write_text("[jobs.a]\nkind = 'demo'\n")
        assert seen.acquire(timeout=5), "an edit in place was not seen"
        tmp = tmp_path / ".trayjobs.toml.swp"
        tmp.write_text("[jobs.b]\nkind = 'demo'\n")
        os.replace(tmp, cfg)
        assert seen.acquire(timeout=5), "a save by renaming over the file was not seen"
    finally:
        watch.stop()


def test_a_named_pipe_in_the_file_s_place_does_not_stall_the_watch(tmp_path):
    # Reading a named pipe waits for a writer for ever: the watch's thread stopped there,
    # and the valid file saved after it was never loaded.
    cfg = tmp_path / "trayjobs.toml"
    cfg.write_text("[jobs]\n")
    seen = threading.Semaphore(0)
    watch = ConfigFileWatch(cfg, seen.release, settle=0.05)
    watch.start()
    try:
        cfg.unlink()
        os.mkfifo(cfg)
        assert seen.acquire(timeout=5), "the pipe in the file's place was not seen"
        tmp = tmp_path / ".trayjobs.toml.swp"
        tmp.write_text("[jobs.b]\nkind = 'demo'\n")
        os.replace(tmp, cfg)
        assert seen.acquire(timeout=5), "the file saved after the pipe was not seen"
    finally:
        if cfg.is_fifo():  # a watch blocked on it gets an empty pipe and goes on
            fd = os.open(cfg, os.O_RDWR | os.O_NONBLOCK)
            os.close(fd)
        watch.stop()


def test_a_jobs_file_that_is_a_link_is_watched_where_its_file_is(tmp_path):
    # Kept with one's dotfiles: edits there waited for the slow poll, a minute.
    (tmp_path / "home").mkdir()
    (tmp_path / "dots").mkdir()
    kept = tmp_path / "dots" / "jobs.toml"
    kept.write_text("[jobs]\n")
    cfg = tmp_path / "home" / "trayjobs.toml"
    cfg.symlink_to(kept)
    seen = threading.Semaphore(0)
    watch = ConfigFileWatch(cfg, seen.release, settle=0.05)
    watch.start()
    try:
        kept.write_text("[jobs.a]\nkind = 'demo'\n")
        assert seen.acquire(timeout=5), "an edit of the linked file was not seen"
        tmp = tmp_path / "dots" / ".jobs.toml.swp"
        tmp.write_text("[jobs.b]\nkind = 'demo'\n")
        os.replace(tmp, kept)
        assert seen.acquire(timeout=5), "a save by renaming over the linked file was not seen"
        # Pointed at another file: that one is watched from then on.
        other = tmp_path / "dots" / "other.toml"
        other.write_text("[jobs.c]\nkind = 'demo'\n")
        tmp = tmp_path / "home" / ".link"
        tmp.symlink_to(other)
        os.replace(tmp, cfg)
        assert seen.acquire(timeout=5), "the link pointed elsewhere was not seen"
        other.write_text("[jobs.d]\nkind = 'demo'\n")
        assert seen.acquire(timeout=5), "an edit of the file it points to now was not seen"
    finally:
        watch.stop()
