"""A data folder that cannot be written: a read-only filesystem (a tmpfs remounted
read-only, as a disk the kernel turned read-only after errors; needs root)."""

from __future__ import annotations

import os
import subprocess

import pytest

from helpers import trayjobs

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def test_a_read_only_data_folder_is_named_with_what_to_do(home, test_database):
    """`trayjobs runs`, `run` and `worker` ended in tracebacks ("unable to open database
    file", "Read-only file system: .../trayjobs.lock"). Now each names the folder, says it
    cannot be written, and what to do."""
    if test_database:
        pytest.skip("the history is on a server")
    point = home.data_dir
    if not IS_ROOT or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "none",
                                      str(point)], capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        home.config_file.write_text('[jobs.hello]\nkind = "command"\ncommand = "echo hi"\n')
        assert trayjobs(home, "run", "hello", "--wait").returncode == 0
        subprocess.run(["mount", "-o", "remount,ro", str(point)], check=True)
        for args in (("runs",), ("run", "hello"), ("worker",)):
            done = trayjobs(home, *args)
            assert done.returncode == 2, (args, done.stderr)
            assert "Traceback" not in done.stderr, (args, done.stderr)
            assert f"{point} cannot be written" in done.stderr, (args, done.stderr)
            assert "--home" in done.stderr, (args, done.stderr)
    finally:
        subprocess.run(["umount", "-l", str(point)], check=False)
