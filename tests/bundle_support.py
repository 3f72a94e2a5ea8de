"""The app bundle of tests/test_packaging_bundle.py, built while the rest of the suite runs.

A PyInstaller build is a minute of CPU, most of it while the tests before the bundle's
wait on job processes, servers and timers. So when the bundle's tests are selected the
build starts with the session, at the lowest CPU priority (it takes only what the tests
leave idle), and the bundle's fixture waits for its end. Run alone, the bundle's tests
wait for the whole build, as before.

With pytest-xdist (``-n``) every worker process collects every test, so each would start a
build of its own: there the controller starts the one build once the workers have
collected (see tests/conftest.py), and the workers wait for the exit status it writes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "packaging" / "trayjobs.spec"

#: The test files whose tests use the ``bundle`` fixture. pytest-xdist's controller sees only
#: the ids of the tests its workers collected, not the fixtures they use.
TEST_FILES = ("tests/test_packaging_bundle.py",)

# Written by the shell that runs the build, after it: its exit status.
_SCRIPT = '"$@" >"$BUILD_LOG" 2>&1; echo $? >"$BUILD_RC.tmp"; mv "$BUILD_RC.tmp" "$BUILD_RC"'


def _lowest_priority() -> None:
    os.nice(19)


class BundleBuild:
    """One PyInstaller build of ``packaging/trayjobs.spec`` into ``out``, in the background:
    :meth:`start` starts it; :meth:`follow` waits, from another process, for one started."""

    def __init__(self, out: Path, proc: subprocess.Popen | None = None) -> None:
        self.out = out
        self.log = out / "build.log"
        self.rc = out / "build.rc"
        self.proc = proc

    @classmethod
    def start(cls, out: Path) -> "BundleBuild":
        out.mkdir(parents=True, exist_ok=True)
        (out / "build.started").write_text(repr(time.time()))
        command = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
                   "--distpath", str(out / "dist"), "--workpath", str(out / "work"), str(SPEC)]
        env = dict(os.environ, BUILD_LOG=str(out / "build.log"), BUILD_RC=str(out / "build.rc"))
        proc = subprocess.Popen(["sh", "-c", _SCRIPT, "sh", *command], cwd=ROOT, env=env,
                                stdin=subprocess.DEVNULL, preexec_fn=_lowest_priority,
                                start_new_session=True)  # stop() ends the build with its shell
        return cls(out, proc)

    @classmethod
    def follow(cls, out: Path) -> "BundleBuild":
        return cls(out)

    def result(self, timeout: float) -> Path:
        """The bundle's folder, once built; AssertionError with the build's log if it failed."""
        if not (self.out / "build.started").exists():
            raise AssertionError(f"no bundle is being built: tests/bundle_support.py's "
                                 f"TEST_FILES must list the files whose tests use it")
        waited = time.monotonic()
        deadline = waited + timeout
        while not self.rc.exists():
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"the bundle was not built in {timeout:.0f} s")
            time.sleep(0.5)  # the build is another process's child: its file is all we see
        output = self.log.read_text(errors="replace")
        assert self.rc.read_text().strip() == "0", output[-5000:]
        now = time.monotonic()
        took = self.rc.stat().st_mtime - float((self.out / "build.started").read_text())
        folder = self.out / "dist" / "trayjobs"
        size = sum(p.stat().st_size for p in folder.rglob("*")
                   if p.is_file() and not p.is_symlink())
        print(f"\nbundle built in {took:.0f} s (waited {now - waited:.0f} s "
              f"for it): {folder}, {size / 1e6:.0f} MB")
        return folder

    def stop(self) -> None:
        """Ends the build if this process started it and it still runs."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
