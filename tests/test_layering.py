"""The core never imports Qt; only trayjobs.ui does."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

from pathlib import Path

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


def _trayjobs_imports(path) -> set[str]:
    """Every trayjobs module ``path`` imports, also inside functions."""
    import ast
    package = path.relative_to(ROOT).parent.parts  # ('trayjobs', 'ui') for trayjobs/ui/x.py
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = list(package[: len(package) - node.level + 1]) if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            found.add(module)
            found.update(f"{module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {m for m in found if m.startswith("trayjobs")}


ROOT = Path(trayjobs.__file__).parent.parent


def test_the_window_does_not_import_the_demo_that_starts_it():
    # trayjobs.demo starts the app; the app importing the demo back made a cycle
    # (ui.welcome -> demo -> ui.app) just to reach the sample files
    ui = Path(trayjobs.__file__).parent / "ui"
    offenders = {str(p.relative_to(ROOT)) for p in ui.rglob("*.py")
                 if "trayjobs.demo" in _trayjobs_imports(p)}
    assert not offenders


def test_huey_does_not_bring_in_the_clients_of_storages_trayjobs_does_not_use(tmp_path):
    # With redis installed, Huey imported it (and asyncio, ssl, cryptography: ~8 MB of the
    # app's memory) for a Redis storage the SQLite queue never uses. A stand-in redis
    # package records whether it was imported; it stays importable for anyone else.
    fake = tmp_path / "redis"
    fake.mkdir()
    (fake / "__init__.py").write_text("import sys\nsys.redis_imported = True\n"
                                      "class ConnectionPool: pass\nclass Redis: pass\n")
    (fake / "exceptions.py").write_text("class ConnectionError(Exception): pass\n"
                                        "class TimeoutError(Exception): pass\n")
    code = ("import sys\nimport trayjobs._huey\n"
            "assert not getattr(sys, 'redis_imported', False), 'redis imported'\n"
            "assert 'redis' not in sys.modules\n"
            "import redis\nassert sys.redis_imported\n")
    env = dict(__import__("os").environ)
    env["PYTHONPATH"] = f"{tmp_path}:{ROOT}"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr
