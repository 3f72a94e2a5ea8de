"""The app bundle of tests/test_packaging_bundle.py, built while the rest of the suite runs.

A PyInstaller build is a minute of CPU, most of it while the tests before the bundle's
wait on job processes, servers and timers. So when the bundle's tests are selected the
build starts with the session, at the lowest CPU priority (it takes only what the tests
leave idle), and the bundle's fixture waits for its end. Run alone, the bundle's tests
wait for the whole build, as before.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "packaging" / "trayjobs.spec"


def _lowest_priority() -> None:
    os.nice(19)


class BundleBuild:
    """One PyInstaller build of ``packaging/trayjobs.spec`` into ``out``, in the background."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.log = out / "build.log"
        self.started = time.monotonic()
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
                 "--distpath", str(out / "dist"), "--workpath", str(out / "work"), str(SPEC)],
                cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                preexec_fn=_lowest_priority)

    def result(self, timeout: float) -> Path:
        """The bundle's folder, once built; AssertionError with the build's log if it failed."""
        waited = time.monotonic()
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError(f"the bundle was not built in {timeout:.0f} s") from None
        output = self.log.read_text(errors="replace")
        assert rc == 0, output[-5000:]
        now = time.monotonic()
        folder = self.out / "dist" / "trayjobs"
        size = sum(p.stat().st_size for p in folder.rglob("*")
                   if p.is_file() and not p.is_symlink())
        print(f"\nbundle built in {now - self.started:.0f} s (waited {now - waited:.0f} s "
              f"for it): {folder}, {size / 1e6:.0f} MB")
        return folder

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
