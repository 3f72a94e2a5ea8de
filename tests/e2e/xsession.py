"""A private desktop for end-to-end runs of the real app: Xvfb, a session bus, dunst
(notifications) and an xfce4-panel holding only a system tray (StatusNotifierItem host).

Everything is started here, in the right order (display, bus, notification daemon,
tray host), with HOME and XDG_CONFIG_HOME in a temporary folder, so it works as root
on a machine without a display. The test process itself never creates a QApplication:
the app runs as a subprocess, and screenshots are taken by a short helper process.

Also used by ``packaging/screenshots.py``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["DesktopSession", "MISSING", "wait_for"]

TOOLS = ("Xvfb", "dbus-daemon", "dunst", "dunstctl", "xfce4-panel", "xdotool", "dbus-monitor")
MISSING = [t for t in TOOLS if shutil.which(t) is None]

_PANEL_XML = """<?xml version="1.0" encoding="UTF-8"?>
<channel name="xfce4-panel" version="1.0">
  <property name="configver" type="int" value="2"/>
  <property name="panels" type="array">
    <value type="int" value="1"/>
    <property name="dark-mode" type="bool" value="false"/>
    <property name="panel-1" type="empty">
      <property name="position" type="string" value="p=8;x=0;y=0"/>
      <property name="length" type="uint" value="100"/>
      <property name="position-locked" type="bool" value="true"/>
      <property name="icon-size" type="uint" value="22"/>
      <property name="size" type="uint" value="30"/>
      <property name="plugin-ids" type="array">
        <value type="int" value="1"/>
      </property>
    </property>
  </property>
  <property name="plugins" type="empty">
    <property name="plugin-1" type="string" value="systray">
      <property name="square-icons" type="bool" value="true"/>
    </property>
  </property>
</channel>
"""

_DUNSTRC = """[global]
    follow = none
    width = 360
    origin = top-right
    offset = 10x40
    font = DejaVu Sans 10
    frame_width = 1
    idle_threshold = 0
    show_age_threshold = -1
    sticky_history = yes
    history_length = 50
    mouse_left_click = do_action, close_current
[urgency_low]
    timeout = 0
[urgency_normal]
    timeout = 0
[urgency_critical]
    timeout = 0
"""

_GRAB = r"""
import sys
from PySide6.QtGui import QGuiApplication
app = QGuiApplication(sys.argv[:1])
screen = app.primaryScreen()
x, y, w, h = (int(v) for v in sys.argv[2:6]) if len(sys.argv) > 2 else (0, 0, -1, -1)
ok = screen.grabWindow(0, x, y, w, h).save(sys.argv[1], "PNG")
sys.exit(0 if ok else 1)
"""


def wait_for(pred, timeout: float = 20.0, interval: float = 0.05, what: str = "condition"):
    """Poll ``pred`` until it returns a true value (other processes: no event reaches us)."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout} s")
        time.sleep(interval)


class DesktopSession:
    def __init__(self, root: Path | None = None, *, size: str = "1024x768") -> None:
        self.root = Path(root or tempfile.mkdtemp(prefix="trayjobs-desktop-"))
        self.size = size
        self.procs: list[subprocess.Popen] = []
        self.env: dict[str, str] = {}
        self.display = ""
        self.bus_address = ""
        self._bus_pid: int | None = None
        self.notify_log = self.root / "notify-monitor.txt"
        self.logs = self.root / "logs"

    # -- start and stop ---------------------------------------------------------------

    def start(self) -> "DesktopSession":
        if MISSING:
            raise RuntimeError(f"missing programs for the desktop session: {', '.join(MISSING)}")
        self.logs.mkdir(parents=True, exist_ok=True)
        home = self.root / "home"
        config = home / ".config"
        (config / "dunst").mkdir(parents=True, exist_ok=True)
        (config / "dunst" / "dunstrc").write_text(_DUNSTRC)
        panel = config / "xfce4" / "xfconf" / "xfce-perchannel-xml"
        panel.mkdir(parents=True, exist_ok=True)
        (panel / "xfce4-panel.xml").write_text(_PANEL_XML)
        runtime = self.root / "runtime"
        runtime.mkdir(mode=0o700, exist_ok=True)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("DBUS_", "XDG_", "QT_", "WAYLAND")) and k != "DISPLAY"}
        env.update(HOME=str(home), XDG_CONFIG_HOME=str(config), XDG_RUNTIME_DIR=str(runtime),
                   XDG_DATA_HOME=str(home / ".local" / "share"),
                   XDG_CACHE_HOME=str(home / ".cache"), NO_AT_BRIDGE="1", LANG="C.UTF-8")
        self.env = env
        self._start_xvfb()
        self._start_bus()
        self._start_keyring()
        self._spawn("dunst", ["dunst", "-config", str(config / "dunst" / "dunstrc")])
        wait_for(lambda: self._has_name("org.freedesktop.Notifications"), 20,
                 what="dunst on the session bus")
        self._spawn("dbus-monitor", ["dbus-monitor",
                                     "interface='org.freedesktop.Notifications',member='Notify'"],
                    stdout=self.notify_log)
        self._spawn("xfce4-panel", ["xfce4-panel", "--disable-wm-check"])
        wait_for(self._host_registered, 40, 0.2, what="the xfce4-panel tray host")
        return self

    def _spawn(self, name: str, cmd: list[str], *, stdout: Path | None = None,
               env: dict[str, str] | None = None) -> subprocess.Popen:
        # The child keeps its own copies of the log file descriptors: ours close at once.
        with open(stdout or self.logs / f"{name}.log", "ab") as out, \
                open(self.logs / f"{name}.err", "ab") if stdout else open(os.devnull, "wb") as err:
            proc = subprocess.Popen(cmd, env=env or self.env, stdout=out,
                                    stderr=err if stdout else out, start_new_session=True)
        self.procs.append(proc)
        return proc

    def _start_xvfb(self) -> None:
        r, w = os.pipe()
        with open(self.logs / "Xvfb.log", "ab") as log:
            proc = subprocess.Popen(["Xvfb", "-displayfd", str(w), "-screen", "0",
                                     f"{self.size}x24", "-nolisten", "tcp", "-noreset"],
                                    pass_fds=(w,), env=self.env, stdout=subprocess.DEVNULL,
                                    stderr=log, start_new_session=True)
        os.close(w)
        self.procs.append(proc)
        data = b""
        with os.fdopen(r, "rb") as f:
            while not data.endswith(b"\n"):
                chunk = f.read(1)
                if not chunk:
                    raise RuntimeError("Xvfb did not start: " + (self.logs / "Xvfb.log").read_text())
                data += chunk
        self.display = f":{data.decode().strip()}"
        self.env["DISPLAY"] = self.display

    def _start_keyring(self) -> None:
        """The login keyring, unlocked as a desktop login does (its password on stdin);
        without it the first use of the Secret Service asks to create a keyring."""
        if shutil.which("gnome-keyring-daemon") is None:
            return
        with open(self.logs / "gnome-keyring.log", "ab") as log:
            proc = subprocess.Popen(["gnome-keyring-daemon", "--foreground", "--unlock",
                                     "--components=secrets"], env=self.env,
                                    stdin=subprocess.PIPE, stdout=log, stderr=log,
                                    start_new_session=True)
        self.procs.append(proc)
        proc.stdin.write(b"login-password")
        proc.stdin.close()
        wait_for(lambda: proc.poll() is not None or self._has_name("org.freedesktop.secrets"),
                 20, what="gnome-keyring on the session bus")

    def _start_bus(self) -> None:
        out = subprocess.run(["dbus-daemon", "--session", "--fork", "--print-address=1",
                              "--print-pid=1"], env=self.env, capture_output=True, text=True,
                             check=True, timeout=20)
        address, pid = out.stdout.split()[:2]
        self.bus_address, self._bus_pid = address, int(pid)
        self.env["DBUS_SESSION_BUS_ADDRESS"] = address

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for proc in reversed(self.procs):
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        self.procs.clear()
        if self._bus_pid:
            try:
                os.kill(self._bus_pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            self._bus_pid = None

    def __enter__(self) -> "DesktopSession":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- the app --------------------------------------------------------------------

    def start_app(self, home: Path, *args: str, log_name: str = "app") -> subprocess.Popen:
        """``python -m trayjobs --home HOME`` on this display and bus (xcb, real tray)."""
        env = dict(self.env, QT_QPA_PLATFORM="xcb", PYTHONUNBUFFERED="1")
        env.pop("TRAYJOBS_HOME", None)
        return self._spawn(log_name, [sys.executable, "-m", "trayjobs", "--home", str(home),
                                      *args], env=env)

    def run(self, *cmd: str, timeout: float = 30, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(list(cmd), env=self.env, capture_output=True, text=True,
                              timeout=timeout, check=check)

    # -- D-Bus ----------------------------------------------------------------------

    def _connect(self):
        from jeepney.io.blocking import open_dbus_connection
        return open_dbus_connection(bus=self.bus_address)

    def call(self, bus_name: str, path: str, interface: str, method: str,
             signature: str = "", body: tuple = ()) -> tuple:
        from jeepney import DBusAddress, new_method_call
        from jeepney.wrappers import unwrap_msg
        addr = DBusAddress(path, bus_name=bus_name, interface=interface)
        with self._connect() as conn:
            reply = conn.send_and_get_reply(new_method_call(addr, method, signature, body),
                                            timeout=10)
        return unwrap_msg(reply)

    def prop(self, bus_name: str, path: str, interface: str, name: str) -> Any:
        (variant,) = self.call(bus_name, path, "org.freedesktop.DBus.Properties", "Get", "ss",
                               (interface, name))
        return variant[1]

    def _has_name(self, name: str) -> bool:
        try:
            (names,) = self.call("org.freedesktop.DBus", "/org/freedesktop/DBus",
                                 "org.freedesktop.DBus", "ListNames")
        except Exception:
            return False
        return name in names

    def _host_registered(self) -> bool:
        try:
            return bool(self.prop("org.kde.StatusNotifierWatcher", "/StatusNotifierWatcher",
                                  "org.kde.StatusNotifierWatcher",
                                  "IsStatusNotifierHostRegistered"))
        except Exception:
            return False

    def tray_items(self) -> list[str]:
        try:
            return list(self.prop("org.kde.StatusNotifierWatcher", "/StatusNotifierWatcher",
                                  "org.kde.StatusNotifierWatcher", "RegisteredStatusNotifierItems"))
        except Exception:
            return []

    def tray_item(self, timeout: float = 20) -> tuple[str, str]:
        """(bus name, object path) of the (only) registered tray item."""
        item = wait_for(lambda: self.tray_items(), timeout, 0.1, what="a tray item")[0]
        name, _, path = item.partition("/")
        return name, "/" + path if path else "/StatusNotifierItem"

    def item_prop(self, name: str) -> Any:
        bus, path = self.tray_item()
        return self.prop(bus, path, "org.kde.StatusNotifierItem", name)

    # dbusmenu: the tray menu as the panel sees it

    def menu_layout(self) -> dict[str, Any]:
        bus, path = self.tray_item()
        menu = self.item_prop("Menu")
        self.call(bus, menu, "com.canonical.dbusmenu", "AboutToShow", "i", (0,))
        _rev, layout = self.call(bus, menu, "com.canonical.dbusmenu", "GetLayout", "iias",
                                 (0, -1, []))
        return _tree(layout)

    def menu_find(self, *labels: str) -> dict[str, Any]:
        """The menu item reached by following ``labels`` (mnemonic underscores ignored)."""
        node = self.menu_layout()
        bus, _path = self.tray_item()
        menu = self.item_prop("Menu")
        for i, label in enumerate(labels):
            if i:  # submenus are filled when they open
                self.call(bus, menu, "com.canonical.dbusmenu", "AboutToShow", "i", (node["id"],))
                _rev, layout = self.call(bus, menu, "com.canonical.dbusmenu", "GetLayout", "iias",
                                         (node["id"], -1, []))
                node = _tree(layout)
            found = [c for c in node["children"] if c["label"] == label
                     or c["label"].startswith(label + " ")]
            if not found:
                raise AssertionError(f"no menu item {label!r} in "
                                     f"{[c['label'] for c in node['children']]}")
            node = found[0]
        return node

    def menu_click(self, *labels: str) -> None:
        node = self.menu_find(*labels)
        bus, _path = self.tray_item()
        self.call(bus, self.item_prop("Menu"), "com.canonical.dbusmenu", "Event", "isvu",
                  (node["id"], "clicked", ("i", 0), 0))

    def activate_tray(self) -> None:
        """A left click on the icon, as the panel sends it."""
        bus, path = self.tray_item()
        self.call(bus, path, "org.kde.StatusNotifierItem", "Activate", "ii", (10, 10))

    # -- notifications ------------------------------------------------------------------

    def notify_calls(self) -> str:
        """What ``dbus-monitor`` saw of ``Notify`` calls (its text output)."""
        try:
            return self.notify_log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def dunst_history(self) -> list[dict[str, Any]]:
        out = self.run("dunstctl", "history").stdout
        data = json.loads(out or "{}").get("data") or [[]]
        return [{k: v.get("data") for k, v in n.items()} for n in data[0]]

    def dunst_displayed(self) -> int:
        return int(self.run("dunstctl", "count", "displayed").stdout.strip() or 0)

    # -- X ----------------------------------------------------------------------------

    def xdotool(self, *args: str, check: bool = True) -> str:
        return self.run("xdotool", *args, check=check).stdout.strip()

    def windows(self, name: str, *, visible: bool = True) -> list[str]:
        args = ["search"] + (["--onlyvisible"] if visible else []) + ["--name", name]
        out = self.xdotool(*args, check=False)
        return [w for w in out.split() if w]

    def geometry(self, window: str) -> tuple[int, int, int, int]:
        out = self.xdotool("getwindowgeometry", "--shell", window)
        vals = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        return int(vals["X"]), int(vals["Y"]), int(vals["WIDTH"]), int(vals["HEIGHT"])

    def grab(self, path: str | os.PathLike[str],
             rect: tuple[int, int, int, int] | None = None) -> Path:
        """Save the screen (or ``rect``: x, y, w, h) as a PNG file."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        env = dict(self.env, QT_QPA_PLATFORM="xcb")
        args = [str(v) for v in rect] if rect else []
        subprocess.run([sys.executable, "-c", _GRAB, str(path), *args], env=env, check=True,
                       timeout=60, capture_output=True)
        return path


def _tree(layout) -> dict[str, Any]:
    item_id, props, children = layout
    props = {k: v[1] for k, v in props.items()}
    return {"id": item_id, "label": re.sub(r"_(.)", r"\1", str(props.get("label", ""))),
            "enabled": props.get("enabled", True), "visible": props.get("visible", True),
            "submenu": props.get("children-display") == "submenu",
            "children": [_tree(c[1]) for c in children]}
