"""The private desktop the end-to-end tests share: started once, before any app."""

from __future__ import annotations

from pathlib import Path

import pytest

from xsession import MISSING, DesktopSession

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


@pytest.fixture(scope="session")
def desktop(tmp_path_factory):
    if MISSING:
        pytest.skip(f"needs {', '.join(MISSING)} (packaging/dev.sh test installs them)")
    session = DesktopSession(tmp_path_factory.mktemp("desktop")).start()
    yield session
    session.stop()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
