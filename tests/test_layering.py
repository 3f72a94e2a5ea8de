"""The core never imports Qt; only trayjobs.ui does."""

from __future__ import annotations

import pkgutil
import re
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


# SQL on the run store's tables, in any case and spacing: a statement that names them.
_RUNS_SQL = re.compile(r"\b(FROM|JOIN|UPDATE|INTO|TABLE)\s+\"?(runs|attempts|run_log)\b(?!_)"
                       r"|INDEXED\s+BY", re.IGNORECASE)
# Reaching past the store's methods into its connection.
_STORE_INSIDE = re.compile(r"\bstore\.(_execute|_query|_retrying|_lock|transaction)\b")


def _core_sources():
    for path in sorted((ROOT / "trayjobs").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if not rel.startswith("trayjobs/store/"):
            yield rel, path.read_text(encoding="utf-8")


def test_no_sql_on_the_runs_table_outside_the_store():
    # The run store is one interface (trayjobs.store.api) so that it can live in another
    # database: SQL on its tables anywhere else would tie that code to SQLite.
    offenders = [f"{rel}:{text.count(chr(10), 0, m.start()) + 1}: {m.group(0)}"
                 for rel, text in _core_sources()
                 for rx in (_RUNS_SQL, _STORE_INSIDE) for m in rx.finditer(text)]
    assert not offenders, "\n".join(offenders)


def test_the_scan_finds_sql_on_the_runs_table():
    assert _RUNS_SQL.search('x = db.execute("SELECT * FROM runs WHERE id = ?")')
    assert _RUNS_SQL.search("update  runs set state = 'queued'")
    assert _RUNS_SQL.search("SELECT min(due_at) FROM t INDEXED BY runs_scheduled")
    assert _STORE_INSIDE.search("self.store._execute('DELETE FROM app_state')")
    assert not _RUNS_SQL.search("SELECT * FROM runs_v1 WHERE state = 'failed'")
    assert not _RUNS_SQL.search("Time spent on runs from every job")


def test_the_rest_of_the_code_uses_only_the_run_store_api():
    import ast

    from trayjobs.store.api import RunStoreAPI
    allowed = {n for n in dir(RunStoreAPI) if not n.startswith("_")} | {"readonly"}
    used = {}
    for rel, text in _core_sources():
        if rel.startswith("trayjobs/kinds/importer/"):
            continue  # its ``store`` is the import database, not the run store
        for node in ast.walk(ast.parse(text)):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, (ast.Name, ast.Attribute))
                    and (getattr(node.value, "id", None) or getattr(node.value, "attr", None))
                    == "store"):
                used.setdefault(node.attr, rel)
    assert used and not {a: rel for a, rel in used.items() if a not in allowed}


def _keeps_the_signatures(cls) -> None:
    import inspect

    from trayjobs.store.api import RunStoreAPI
    for name, proto in inspect.getmembers(RunStoreAPI, inspect.isfunction):
        if name.startswith("_"):
            continue
        assert hasattr(cls, name), f"{cls.__name__} has no {name}"
        want = list(inspect.signature(proto).parameters)
        have = list(inspect.signature(getattr(cls, name)).parameters)
        if want != have and "filters" not in have and "kw" not in have:
            raise AssertionError(f"{cls.__name__}.{name}{have} is not the API's {want}")


def test_the_sqlite_store_keeps_the_whole_contract(tmp_path):
    from trayjobs.store import RunStore
    from trayjobs.store.api import RunStoreAPI
    store = RunStore(tmp_path / "runs.db")
    try:
        assert isinstance(store, RunStoreAPI)
    finally:
        store.close()
    _keeps_the_signatures(RunStore)


def test_the_postgresql_store_keeps_the_whole_contract():
    from trayjobs.store.api import RunStoreAPI
    from trayjobs.store.postgres import PgRunStore
    _keeps_the_signatures(PgRunStore)
    assert not [n for n in dir(RunStoreAPI) if not n.startswith("_") and n != "readonly"
                and not callable(getattr(PgRunStore, n, None))]
    # Its SQL on the runs is the shared SQL, rewritten; what it writes of its own stays in
    # trayjobs/store, like SQLite's.
    assert PgRunStore.__module__.startswith("trayjobs.store.")


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
