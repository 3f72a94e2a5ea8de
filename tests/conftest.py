"""Shared fixtures: every test gets its own trayjobs home under tmp_path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Widget tests render offscreen unless a test starts a display of its own.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from trayjobs.context import JobContext  # noqa: E402
from trayjobs.paths import Home  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"


from pg_support import ON_POSTGRES  # noqa: E402  (tests/ is on the path first)


@pytest.fixture(scope="session", autouse=True)
def bundle_build(request, tmp_path_factory):
    """The app bundle's build, started with the session when a selected test needs the
    bundle (see tests/bundle_support.py); None otherwise. In a pytest-xdist worker: the
    build the controller started for every worker (below)."""
    shared = getattr(request.config, "workerinput", {}).get("trayjobs_bundle")
    if shared:
        from bundle_support import BundleBuild
        yield BundleBuild.follow(Path(shared))
        return
    needed = any("bundle" in getattr(item, "fixturenames", ()) for item in request.session.items)
    if not needed:
        yield None
        return
    try:
        import PyInstaller  # noqa: F401
    except ImportError:
        yield None  # the bundle's fixture skips, saying why
        return
    from bundle_support import BundleBuild
    build = BundleBuild.start(tmp_path_factory.mktemp("bundle"))
    yield build
    build.stop()


# -- pytest-xdist's controller: one bundle build for all its workers ---------------------

_CONTROLLER_BUNDLE: dict = {}


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    """Where the bundle is built, told to each worker before it starts."""
    if "folder" not in _CONTROLLER_BUNDLE:
        import tempfile
        _CONTROLLER_BUNDLE["folder"] = Path(tempfile.mkdtemp(prefix="trayjobs-bundle-"))
    node.workerinput["trayjobs_bundle"] = str(_CONTROLLER_BUNDLE["folder"])


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node, ids):
    """Start the build once a worker has collected a bundle test: before any test runs."""
    from bundle_support import TEST_FILES, BundleBuild
    if "build" in _CONTROLLER_BUNDLE or not any(i.startswith(TEST_FILES) for i in ids):
        return
    try:
        import PyInstaller  # noqa: F401
    except ImportError:
        return  # the bundle's fixture skips, saying why
    _CONTROLLER_BUNDLE["build"] = BundleBuild.start(_CONTROLLER_BUNDLE["folder"])


def pytest_unconfigure(config):
    if "build" in _CONTROLLER_BUNDLE:
        _CONTROLLER_BUNDLE.pop("build").stop()
    if "folder" in _CONTROLLER_BUNDLE:
        import shutil
        shutil.rmtree(_CONTROLLER_BUNDLE.pop("folder"), ignore_errors=True)


@pytest.fixture
def test_database(monkeypatch):
    """On PostgreSQL: a fresh database for this test, which every home's processes use
    (``TRAYJOBS_TEST_DATABASE``), dropped after it; None on SQLite."""
    if not ON_POSTGRES:
        yield None
        return
    from pg_support import session_server
    server = session_server()
    url = server.new_database()
    monkeypatch.setenv("TRAYJOBS_TEST_DATABASE", url)
    yield url
    server.drop_database(url)


@pytest.fixture
def home(tmp_path, monkeypatch, test_database) -> Home:
    """A fresh, empty trayjobs home; ``TRAYJOBS_HOME`` points at it too."""
    h = Home.under(tmp_path / "home").ensure()
    monkeypatch.setenv("TRAYJOBS_HOME", str(h.root))
    return h


@pytest.fixture
def make_store(tmp_path, monkeypatch):
    """Open a run store as a test's code would open ``RunStore(path)``: that SQLite file, or
    with ``TRAYJOBS_TEST_STORE=postgres`` a PostgreSQL database of its own per path (the
    home's runs.db: the database the home's processes use). Closed after the test."""
    stores, databases = [], {}

    def make(path=None, *, readonly: bool = False):
        from trayjobs.store import RunStore
        if path is None:
            root = os.environ.get("TRAYJOBS_HOME")
            path = Home.under(root).runs_db if root else tmp_path / "runs.db"
        if not ON_POSTGRES:
            store = RunStore(path, readonly=readonly)
        else:
            from pg_support import session_server
            from trayjobs.store.postgres import PgRunStore
            key = str(path)
            if key not in databases:
                env = os.environ.get("TRAYJOBS_TEST_DATABASE")
                root = os.environ.get("TRAYJOBS_HOME")
                in_home = root and Path(path).resolve().is_relative_to(Path(root).resolve())
                databases[key] = env if env and in_home else session_server().new_database()
            store = PgRunStore(databases[key], readonly=readonly, migrate=False)
        stores.append(store)
        return store

    yield make
    for store in stores:
        try:
            store.close()
        except Exception:
            pass
    if ON_POSTGRES:
        from pg_support import session_server
        for url in databases.values():
            if url != os.environ.get("TRAYJOBS_TEST_DATABASE"):
                session_server().drop_database(url)


@pytest.fixture
def corpus() -> Path:
    """The third-party test corpora (csv-spectrum, JSONTestSuite) beside the repo."""
    if not CORPUS.is_dir():
        pytest.skip(f"third-party corpus not found at {CORPUS}")
    return CORPUS


class Recorder(list):
    """A real context sink that keeps every message a job sent."""

    def __call__(self, message: dict) -> None:
        self.append(message)

    def of(self, t: str) -> list[dict]:
        return [m for m in self if m["t"] == t]

    @property
    def logs(self) -> list[str]:
        return [m["message"] for m in self.of("log")]


@pytest.fixture
def make_ctx(home):
    """Build a real :class:`JobContext` whose messages are recorded on ``ctx.sink``."""

    def make(job: str = "job", *, run_id: int = 1, files=(), dry_run: bool = False,
             attempt: int = 1, max_attempts: int = 1, trigger: str = "manual") -> JobContext:
        return JobContext(run_id=run_id, job=job, home=home, sink=Recorder(),
                          attempt=attempt, max_attempts=max_attempts, trigger=trigger,
                          files=[Path(f) for f in files], dry_run=dry_run)

    return make


# -- engines ------------------------------------------------------------------------

import threading
import time
from textwrap import dedent

from trayjobs.engine.events import RunChanged
from trayjobs.store import FINAL_STATES


class RunWatcher:
    """Waits for runs to reach states, woken by the engine's own events (no polling)."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.cond = threading.Condition()
        self.seen: list[dict] = []
        engine.bus.subscribe(self._on_event)

    def _on_event(self, ev) -> None:
        if isinstance(ev, RunChanged):
            with self.cond:
                self.seen.append(ev.run)
                self.cond.notify_all()

    def wait(self, run_id: int, states=FINAL_STATES, timeout: float = 20.0) -> dict:
        states = (states,) if isinstance(states, str) else tuple(states)
        deadline = time.monotonic() + timeout
        stored_at = None
        with self.cond:
            while True:
                run = self.engine.store.get_run(run_id)
                if run is not None and run["state"] in states:
                    # The engine tells of an end just after its commit: the event too, so
                    # that what a test asserts of the events next holds (a run another
                    # process ran is told of by no event: not waited for long).
                    stored_at = stored_at or time.monotonic()
                    if time.monotonic() - stored_at > 2 or any(
                            r["id"] == run_id and r["state"] == run["state"]
                            for r in self.seen):
                        return run
                    self.cond.wait(0.05)
                    continue
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"run {run_id} did not reach {states} in {timeout} s; "
                                         f"it is {run and run['state']}: {run}")
                self.cond.wait(min(left, 0.5))

    def states_of(self, run_id: int) -> list[str]:
        out = []
        for r in self.seen:
            if r["id"] == run_id and (not out or out[-1] != r["state"]):
                out.append(r["state"])
        return out


@pytest.fixture
def write_config(home):
    def write(text: str) -> None:
        home.config_file.write_text(dedent(text), encoding="utf-8")
    return write


@pytest.fixture
def make_engine(home, write_config):
    """Start a real engine (consumer threads, job processes) on the temporary home."""
    from trayjobs.engine.engine import Engine

    engines = []

    def make(config: str | None = None, *, start: bool = True, **kw):
        if config is not None:
            write_config(config)
        kw.setdefault("grace", 1.0)
        kw.setdefault("mode", "worker")
        eng = Engine(home, **kw)
        eng.watcher = RunWatcher(eng)
        if start:
            eng.start()
        engines.append(eng)
        return eng

    yield make
    for eng in engines:
        if eng._started:
            eng.stop(timeout=5)
        eng.close()
