"""A real Secret Service for tests: ``gnome-keyring-daemon`` on a private session bus.

The bus is a ``dbus-daemon`` of its own (the config of :mod:`dbus_support`: it activates
nothing of the machine's desktop), and the keyring daemon keeps its files in a
temporary folder, unlocked with a password given on its standard input, as a login
does. ``DBUS_SESSION_BUS_ADDRESS`` points at the bus for the test and for every
process it starts.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from dbus_support import _BUS_CONFIG
from helpers import wait_until

__all__ = ["private_bus", "secret_service", "secret_service_without_keyring"]

SECRETS_NAME = "org.freedesktop.secrets"


def _has_owner(address: str, name: str) -> bool:
    from jeepney import message_bus
    from jeepney.io.blocking import Proxy, open_dbus_connection

    with open_dbus_connection(bus=address) as conn:
        (owned,) = Proxy(message_bus, conn).NameHasOwner(name)
    return bool(owned)


@pytest.fixture
def private_bus(monkeypatch):
    """A session bus with nothing on it: no Secret Service, so no keyring."""
    pytest.importorskip("jeepney")
    if shutil.which("dbus-daemon") is None:
        pytest.skip("needs dbus-daemon (apt: dbus)")
    # A short folder: a unix socket path must stay under 108 bytes.
    folder = Path(tempfile.mkdtemp(prefix="tj-kr-"))
    config = folder / "bus.conf"
    config.write_text(_BUS_CONFIG.format(socket=folder / "socket"))
    proc = subprocess.Popen(["dbus-daemon", "--nofork", f"--config-file={config}",
                             "--print-address=1"], stdout=subprocess.PIPE, text=True)
    try:
        address = proc.stdout.readline().strip()  # printed once it listens
        if not address:
            raise RuntimeError(f"dbus-daemon did not start (exit {proc.wait(5)})")
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", address)
        # Nothing but the bus decides which keyring there is.
        monkeypatch.delenv("PYTHON_KEYRING_BACKEND", raising=False)
        monkeypatch.setenv("XDG_CONFIG_HOME", str(folder / "config"))
        yield folder
    finally:
        proc.terminate()
        proc.wait(5)
        proc.stdout.close()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def secret_service(private_bus):
    """GNOME Keyring's Secret Service, unlocked, on the private bus."""
    yield from _keyring_daemon(private_bus, b"test-login-password")


@pytest.fixture
def secret_service_without_keyring(private_bus):
    """GNOME Keyring's Secret Service with no keyring in it yet, as on a machine where no
    one has logged in to a desktop: creating one needs a prompt that no one answers."""
    yield from _keyring_daemon(private_bus, None)


def _keyring_daemon(private_bus: Path, password: bytes | None):
    if shutil.which("gnome-keyring-daemon") is None:
        pytest.skip("needs gnome-keyring-daemon (apt: gnome-keyring)")
    pytest.importorskip("keyring")
    address = os.environ["DBUS_SESSION_BUS_ADDRESS"]
    runtime = private_bus / "run"
    runtime.mkdir(mode=0o700)
    env = dict(os.environ, HOME=str(private_bus / "home"), XDG_DATA_HOME=str(private_bus / "data"),
               XDG_RUNTIME_DIR=str(runtime))
    # --unlock reads the login password from stdin and creates the login keyring with it.
    unlock = ["--unlock"] if password is not None else []
    proc = subprocess.Popen(["gnome-keyring-daemon", "--foreground", *unlock,
                             "--components=secrets"], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        proc.stdin.write(password or b"")
        proc.stdin.close()
        wait_until(lambda: proc.poll() is not None or _has_owner(address, SECRETS_NAME), 20)
        if proc.poll() is not None:
            raise RuntimeError(f"gnome-keyring-daemon exited ({proc.returncode}): "
                               f"{proc.stderr.read().decode(errors='replace')}")
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        proc.stderr.close()
