"""The PyInstaller bundle: build it, then start it on a private X display with a real tray.

Slow (a build takes 20-60 s), so it is marked; it still runs in the full suite
(``bash packaging/dev.sh test``), which installs PyInstaller and the X tools. The build
starts with the session, beside the other tests (tests/bundle_support.py).
Deselect it with ``-m "not slow"`` while working on something else.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from helpers import wait_until
from trayjobs.desktop import APP_ID

pytestmark = [pytest.mark.slow, pytest.mark.xvfb, pytest.mark.timeout(600)]

X_TOOLS = ("Xvfb", "dbus-daemon", "dbus-send", "xfce4-panel", "xdotool")

PANEL_XML = """<?xml version="1.0" encoding="UTF-8"?>
<channel name="xfce4-panel" version="1.0">
  <property name="configver" type="int" value="2"/>
  <property name="panels" type="array">
    <value type="int" value="1"/>
    <property name="panel-1" type="empty">
      <property name="position" type="string" value="p=6;x=0;y=0"/>
      <property name="length" type="uint" value="100"/>
      <property name="size" type="uint" value="30"/>
      <property name="plugin-ids" type="array"><value type="int" value="1"/></property>
    </property>
  </property>
  <property name="plugins" type="empty">
    <property name="plugin-1" type="string" value="systray"/>
  </property>
</channel>
"""


def wait_for(pred, timeout: float, what: str):
    """Poll another process's state (no event reaches this one)."""
    return wait_until(pred, timeout, 0.1, what)


@pytest.fixture(scope="module")
def bundle(bundle_build) -> Path:
    """The one-folder bundle, built once for the session (started with it: see
    tests/bundle_support.py); the build's time is reported."""
    pytest.importorskip("PyInstaller", reason="PyInstaller is not installed: pip install -e '.[bundle]'")
    return bundle_build.result(timeout=540)


def test_bundle_leaves_out_unused_qt_and_carries_its_resources(bundle):
    exe = bundle / "trayjobs"
    assert exe.is_file() and os.access(exe, os.X_OK)
    names = {p.name for p in bundle.rglob("*")}
    unused = [n for n in names if re.match(
        r"libQt6(Qml|Quick|WebEngine|Pdf|Designer|Charts|3D|Multimedia|Sql|Test)", n)]
    assert unused == []
    for lib in ("libQt6Widgets", "libQt6Svg", "libQt6XcbQpa", "libQt6DBus"):
        assert any(n.startswith(lib) for n in names), lib
    assert "libqsvg.so" in names and "libqxcb.so" in names  # SVG icons; X11
    data = next(bundle.rglob("trayjobs/resources"))
    assert (data / "icons" / "trayjobs.svg").is_file()
    assert (data / "desktop" / f"{APP_ID}.desktop").is_file()
    size = sum(p.stat().st_size for p in bundle.rglob("*") if p.is_file() and not p.is_symlink())
    assert size < 300e6, f"{size / 1e6:.0f} MB"


def test_bundle_runs_commands_and_job_processes(bundle, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("QT_")}
    env["TRAYJOBS_HOME"] = str(tmp_path / "home")
    exe = str(bundle / "trayjobs")
    assert subprocess.run([exe, "--version"], capture_output=True, text=True, env=env,
                          timeout=60).stdout.startswith("trayjobs ")
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "trayjobs.toml").write_text(
        '[jobs.count]\nkind = "demo"\nsteps = 3\nstep_time = 0\n'
        '[jobs.activity]\nkind = "report"\nbuiltin = "job-activity"\n')
    for job in ("count", "activity"):  # a job process is the bundle's own executable
        out = subprocess.run([exe, "run", job, "--wait"], capture_output=True, text=True,
                             env=env, timeout=120)
        assert out.returncode == 0, out.stderr
        assert "succeeded" in out.stderr
    pdf = tmp_path / "home" / "reports" / "activity" / "activity-latest.pdf"
    assert pdf.read_bytes().startswith(b"%PDF")
    # The menu entry a bundle installs starts the bundle.
    xdg = dict(env, XDG_DATA_HOME=str(tmp_path / "data"), XDG_CONFIG_HOME=str(tmp_path / "config"))
    out = subprocess.run([exe, "install-desktop"], capture_output=True, text=True, env=xdg,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    entry = (tmp_path / "data" / "applications" / f"{APP_ID}.desktop").read_text()
    assert f"Exec={exe} --home " in entry
    assert (tmp_path / "data" / "icons" / "hicolor" / "48x48" / "apps" / f"{APP_ID}.png").is_file()


class XSession:
    """Xvfb, a private session bus and an xfce4-panel holding only a tray (an SNI host)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.procs: list[subprocess.Popen] = []
        self.bus_pid: int | None = None
        home = root / "home"
        panel = home / ".config" / "xfce4" / "xfconf" / "xfce-perchannel-xml"
        panel.mkdir(parents=True)
        (panel / "xfce4-panel.xml").write_text(PANEL_XML)
        runtime = root / "runtime"
        runtime.mkdir(mode=0o700)
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("DBUS_", "XDG_", "QT_", "WAYLAND")) and k != "DISPLAY"}
        self.env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
                        XDG_DATA_HOME=str(home / ".local" / "share"),
                        XDG_RUNTIME_DIR=str(runtime), NO_AT_BRIDGE="1", LANG="C.UTF-8")

    def start(self) -> "XSession":
        r, w = os.pipe()
        xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(w), "-screen", "0", "1024x768x24",
                                 "-nolisten", "tcp", "-noreset"], pass_fds=(w,),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(xvfb)
        os.close(w)
        with os.fdopen(r, "rb") as f:
            number = f.readline().decode().strip()  # read up to the newline, or Xvfb dies
        assert number, "Xvfb did not start"
        self.env["DISPLAY"] = f":{number}"
        bus = subprocess.run(["dbus-daemon", "--session", "--fork", "--print-address=1",
                              "--print-pid=1"], env=self.env, capture_output=True, text=True,
                             check=True, timeout=20)
        address, pid = bus.stdout.split()[:2]
        self.env["DBUS_SESSION_BUS_ADDRESS"], self.bus_pid = address, int(pid)
        self.procs.append(subprocess.Popen(["xfce4-panel", "--disable-wm-check"], env=self.env,
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_for(lambda: "true" in self.watcher_property("IsStatusNotifierHostRegistered"), 40,
                 "the tray host")
        return self

    def watcher_property(self, name: str) -> str:
        out = subprocess.run(
            ["dbus-send", "--session", "--print-reply", "--dest=org.kde.StatusNotifierWatcher",
             "/StatusNotifierWatcher", "org.freedesktop.DBus.Properties.Get",
             "string:org.kde.StatusNotifierWatcher", f"string:{name}"],
            env=self.env, capture_output=True, text=True, timeout=10)
        return out.stdout

    def bus_client_pids(self) -> set[int]:
        """Processes the bus started for us (xfconfd and the like): they are ours to stop."""
        names = subprocess.run(
            ["dbus-send", "--session", "--print-reply", "--dest=org.freedesktop.DBus",
             "/org/freedesktop/DBus", "org.freedesktop.DBus.ListNames"],
            env=self.env, capture_output=True, text=True, timeout=10).stdout
        pids = set()
        for name in re.findall(r'string "(:[0-9.]+)"', names):
            out = subprocess.run(
                ["dbus-send", "--session", "--print-reply", "--dest=org.freedesktop.DBus",
                 "/org/freedesktop/DBus", "org.freedesktop.DBus.GetConnectionUnixProcessID",
                 f"string:{name}"], env=self.env, capture_output=True, text=True, timeout=10)
            m = re.search(r"uint32 (\d+)", out.stdout)
            if m and int(m.group(1)) != os.getpid():
                pids.add(int(m.group(1)))
        return pids

    def stop(self) -> None:
        strays = self.bus_client_pids() - {p.pid for p in self.procs} if self.bus_pid else set()
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in reversed(self.procs):
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        for pid in [*strays, self.bus_pid]:
            if pid:
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass


@pytest.fixture
def xsession(tmp_path):
    missing = [t for t in X_TOOLS if shutil.which(t) is None]
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: bash packaging/dev.sh test installs them")
    session = XSession(tmp_path / "x").start()
    yield session
    session.stop()


def test_bundle_starts_on_a_desktop_with_its_tray_icon_and_window(bundle, xsession, tmp_path):
    from trayjobs.instance import InstanceLock
    from trayjobs.paths import Home

    home = Home.under(tmp_path / "home")  # empty: the first start sets up the example
    env = dict(xsession.env, TRAYJOBS_HOME=str(home.root))
    app_log = tmp_path / "app.log"
    log = open(app_log, "wb")
    start = time.monotonic()
    app = subprocess.Popen([str(bundle / "trayjobs")], env=env, stdout=log, stderr=log)

    def alive(value):
        assert app.poll() is None, app_log.read_text(errors="replace")[-3000:]
        return value

    try:
        window = wait_for(lambda: alive(subprocess.run(
            ["xdotool", "search", "--onlyvisible", "--pid", str(app.pid)], env=env,
            capture_output=True, text=True).stdout.split()), 90, "a visible trayjobs window")
        items = wait_for(lambda: alive(re.findall(r'string "([^"]+)"', xsession.watcher_property(
            "RegisteredStatusNotifierItems"))), 60, "a tray icon registered with the tray host")
        print(f"\nbundle: window and tray icon after {time.monotonic() - start:.1f} s")
        assert len(window) >= 1 and len(items) == 1
        # The example set-up works from the bundle: a CSV dropped into Inbox is imported
        # by a job process that is the bundle's own executable.
        wait_for(lambda: alive(InstanceLock(home).is_locked()), 60, "the engine running")
        inbox = home.root / "Inbox"
        (inbox / ".fruit.csv.part").write_text("id,name\n1,apple\n2,pear\n")
        os.replace(inbox / ".fruit.csv.part", inbox / "fruit.csv")
        wait_for(lambda: alive((inbox / "processed" / "fruit.csv").exists()), 60,
                 "the dropped CSV imported")
    finally:
        app.send_signal(signal.SIGTERM)  # a desktop logging out
        try:
            rc = app.wait(30)
        finally:
            if app.poll() is None:
                app.kill()
            log.close()
    assert rc == 0, app_log.read_text(errors="replace")[-3000:]
