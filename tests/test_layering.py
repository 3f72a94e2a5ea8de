"""The core never imports Qt; only trayjobs.ui does."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import trayjobs


def test_core_modules_import_without_qt():
    core = [m.name for m in pkgutil.walk_packages(trayjobs.__path__, "trayjobs.")
            if not m.name.startswith("trayjobs.ui")]
    code = ("import sys\n" + "".join(f"import {m}\n" for m in core)
            + "bad = [m for m in sys.modules if m.startswith('PySide6')]\n"
              "assert not bad, bad\nprint(len(sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert len(core) >= 15
