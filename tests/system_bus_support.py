"""A private system bus with stand-ins for UPower, NetworkManager and logind.

The bus is a real ``dbus-daemon`` (the config of :mod:`dbus_support`: it activates
nothing of the machine's desktop); ``DBUS_SYSTEM_BUS_ADDRESS``, the standard variable,
points at it, for the test and every process it starts. The stand-ins are small
jeepney services that own the real names, publish the real objects, interfaces and
properties (those trayjobs reads), answer ``Properties.Get``/``GetAll`` and emit
``PropertiesChanged`` when a test changes a property, as the real services do:

* :class:`FakeUPower`: ``org.freedesktop.UPower`` (``OnBattery``) and its DisplayDevice
  (``org.freedesktop.UPower.Device``: ``Percentage``, ``State``, ``IsPresent``, ``Type``);
* :class:`FakeNetworkManager`: ``org.freedesktop.NetworkManager`` (``State``,
  ``Connectivity``, ``Metered``, ``ActiveConnections``), each active connection
  (``Connection.Active``: ``Id``, ``Type``, ``Devices``, ``State``) and device
  (``Device``: ``Metered``);
* :class:`FakeLogind`: ``org.freedesktop.login1.Manager``: ``Inhibit`` returns a real file
  descriptor (the write end of a pipe; the lock lasts while it is open anywhere, as
  logind's does), ``ListInhibitors`` lists the locks still held, and ``IdleHint`` /
  ``IdleSinceHint``.

The module runs on its own too (``python tests/system_bus_support.py ADDRESS``), for the
bench: it serves UPower and NetworkManager and reads commands on its standard input
(``battery 18``, ``ac``).
"""

from __future__ import annotations

import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dbus_support import _BUS_CONFIG  # noqa: E402

__all__ = ["Service", "FakeUPower", "FakeNetworkManager", "FakeLogind", "SystemBus",
           "system_bus", "start_bus"]

PROPS = "org.freedesktop.DBus.Properties"


class Service:
    """Owns ``name`` on the bus at ``address`` and serves objects' properties and
    methods. ``objects``: path -> interface -> property -> (signature, value)."""

    def __init__(self, address: str, name: str,
                 objects: dict[str, dict[str, dict[str, tuple[str, Any]]]], *,
                 methods: dict[tuple[str, str], Callable] | None = None,
                 fds: bool = False) -> None:
        from jeepney import message_bus
        from jeepney.io.blocking import Proxy, open_dbus_connection

        self.name = name
        self.objects = objects
        self.methods = methods or {}
        self.conn = open_dbus_connection(bus=address, enable_fds=fds)
        (result,) = Proxy(message_bus, self.conn).RequestName(name, 4)  # DO_NOT_QUEUE
        if result != 1:
            raise RuntimeError(f"could not own {name} on the test bus (reply {result})")
        self._lock = threading.RLock()
        self._closed = False
        self._close_after_reply: list[int] = []  # fds a reply hands over
        self.calls: list[tuple[str, str, tuple]] = []
        self._thread = threading.Thread(target=self._serve, name=f"fake-{name}", daemon=True)
        self._thread.start()

    def _send(self, msg) -> None:
        with self._lock:
            self.conn.send(msg)

    def _serve(self) -> None:
        from jeepney import HeaderFields, MessageType, new_error, new_method_return

        while True:
            try:
                msg = self.conn.receive()
            except (OSError, EOFError, ValueError):
                return  # closed
            h = msg.header
            if h.message_type is not MessageType.method_call:
                continue
            path = h.fields.get(HeaderFields.path)
            iface = h.fields.get(HeaderFields.interface)
            member = h.fields.get(HeaderFields.member)
            with self._lock:
                self.calls.append((iface, member, tuple(msg.body)))
                obj = self.objects.get(path)
                try:
                    if iface == PROPS and obj is not None and member in ("Get", "GetAll"):
                        props = obj.get(msg.body[0])
                        if props is None:
                            reply = new_error(msg, "org.freedesktop.DBus.Error.UnknownInterface")
                        elif member == "GetAll":
                            reply = new_method_return(msg, "a{sv}", (dict(props),))
                        elif msg.body[1] in props:
                            reply = new_method_return(msg, "v", (props[msg.body[1]],))
                        else:
                            reply = new_error(msg, "org.freedesktop.DBus.Error.UnknownProperty")
                    elif (iface, member) in self.methods:
                        sig, body = self.methods[(iface, member)](msg)
                        reply = new_method_return(msg, sig, body)
                    elif obj is None:
                        reply = new_error(msg, "org.freedesktop.DBus.Error.UnknownObject")
                    else:
                        reply = new_error(msg, "org.freedesktop.DBus.Error.UnknownMethod")
                except Exception as exc:
                    reply = new_error(msg, "org.freedesktop.DBus.Error.Failed", "s", (str(exc),))
                self._send(reply)
                for fd in self._close_after_reply:  # the client has its copy now
                    os.close(fd)
                self._close_after_reply.clear()

    def set(self, path: str, iface: str, **values: Any) -> None:
        """Change properties and emit ``PropertiesChanged`` for them, as the service does."""
        from jeepney import DBusAddress, new_signal
        with self._lock:
            props = self.objects[path][iface]
            changed = {k: (props[k][0], v) for k, v in values.items()}
            props.update(changed)
            self._send(new_signal(DBusAddress(path, interface=PROPS), "PropertiesChanged",
                                  "sa{sv}as", (iface, changed, [])))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.conn.sock.shutdown(socket.SHUT_RDWR)  # wakes the serving thread
        except OSError:
            pass
        self._thread.join(5)
        self.conn.close()


UPOWER = "org.freedesktop.UPower"
DISPLAY_DEVICE = "/org/freedesktop/UPower/devices/DisplayDevice"
DEVICE = "org.freedesktop.UPower.Device"
#: UPower device states: charging, discharging, fully charged.
CHARGING, DISCHARGING, FULL = 1, 2, 4


class FakeUPower(Service):
    def __init__(self, address: str, *, on_battery: bool = False, percentage: float = 80.0,
                 battery: bool = True) -> None:
        super().__init__(address, UPOWER, {
            "/org/freedesktop/UPower": {UPOWER: {
                "OnBattery": ("b", on_battery), "DaemonVersion": ("s", "1.90.2"),
                "LidIsClosed": ("b", False), "LidIsPresent": ("b", True)}},
            DISPLAY_DEVICE: {DEVICE: {
                "Type": ("u", 2 if battery else 0), "IsPresent": ("b", battery),
                "Percentage": ("d", float(percentage if battery else 0)),
                "State": ("u", DISCHARGING if on_battery else CHARGING),
                "NativePath": ("s", ""), "PowerSupply": ("b", True)}},
        }, methods={(UPOWER, "GetDisplayDevice"): lambda msg: ("o", (DISPLAY_DEVICE,))})

    def unplug(self, percentage: float | None = None) -> None:
        """The charger is pulled: the battery discharges (at ``percentage``)."""
        if percentage is not None:
            self.set(DISPLAY_DEVICE, DEVICE, Percentage=float(percentage))
        self.set(DISPLAY_DEVICE, DEVICE, State=DISCHARGING)
        self.set("/org/freedesktop/UPower", UPOWER, OnBattery=True)

    def plug_in(self) -> None:
        """The charger is plugged in again."""
        self.set(DISPLAY_DEVICE, DEVICE, State=CHARGING)
        self.set("/org/freedesktop/UPower", UPOWER, OnBattery=False)

    def charge(self, percentage: float) -> None:
        self.set(DISPLAY_DEVICE, DEVICE, Percentage=float(percentage))


NM = "org.freedesktop.NetworkManager"
NM_PATH = "/org/freedesktop/NetworkManager"
ACTIVE = "org.freedesktop.NetworkManager.Connection.Active"
NM_DEVICE = "org.freedesktop.NetworkManager.Device"
#: NMMetered: unknown, yes, no, guess-yes, guess-no.
METERED_UNKNOWN, METERED_YES, METERED_NO, GUESS_YES, GUESS_NO = range(5)
WIFI, ETHERNET, GSM = "802-11-wireless", "802-3-ethernet", "gsm"


class FakeNetworkManager(Service):
    """``connections``: (Id, Type, the device's Metered) of each active connection."""

    def __init__(self, address: str, *, connections=(("Home", WIFI, GUESS_NO),),
                 connectivity: int = 4, state: int = 70) -> None:
        super().__init__(address, NM, {NM_PATH: {NM: {
            "State": ("u", state), "Connectivity": ("u", connectivity),
            "Metered": ("u", METERED_UNKNOWN), "ActiveConnections": ("ao", []),
            "PrimaryConnection": ("o", "/"), "NetworkingEnabled": ("b", True),
            "Version": ("s", "1.46.0")}}})
        self._serial = 0
        self.set_connections(connections, connectivity=connectivity, state=state)

    def set_connections(self, connections, *, connectivity: int = 4, state: int = 70) -> None:
        """Replace the active connections, as connecting and disconnecting do."""
        with self._lock:
            for path in [p for p in self.objects if p != NM_PATH]:
                del self.objects[path]
            paths = []
            primary_metered = METERED_UNKNOWN
            for i, (cid, ctype, metered) in enumerate(connections):
                self._serial += 1
                active = f"{NM_PATH}/ActiveConnection/{self._serial}"
                device = f"{NM_PATH}/Devices/{self._serial}"
                self.objects[active] = {ACTIVE: {
                    "Id": ("s", cid), "Type": ("s", ctype), "Devices": ("ao", [device]),
                    "State": ("u", 2), "Default": ("b", i == 0), "Uuid": ("s", f"uuid-{i}")}}
                self.objects[device] = {NM_DEVICE: {
                    "Metered": ("u", metered), "Interface": ("s", f"if{i}"),
                    "State": ("u", 100)}}
                paths.append(active)
                if i == 0:
                    primary_metered = metered
            self.set(NM_PATH, NM, ActiveConnections=paths, Metered=primary_metered,
                     Connectivity=connectivity if connections else 1,
                     State=state if connections else 20,
                     PrimaryConnection=paths[0] if paths else "/")


LOGIN1 = "org.freedesktop.login1"
LOGIN1_PATH = "/org/freedesktop/login1"
MANAGER = "org.freedesktop.login1.Manager"


class FakeLogind(Service):
    """Inhibitor locks as logind keeps them: ``Inhibit`` hands out the write end of a
    pipe and keeps the read end; a lock is gone once its read end sees the end of the
    pipe, that is once every copy of the write end is closed (its holder let go, or
    was killed)."""

    def __init__(self, address: str, *, idle: bool = False, idle_since: float = 0.0) -> None:
        self.inhibitors: list[dict[str, Any]] = []
        super().__init__(address, LOGIN1, {LOGIN1_PATH: {MANAGER: {
            "IdleHint": ("b", idle), "IdleSinceHint": ("t", int(idle_since * 1e6)),
            "IdleSinceHintMonotonic": ("t", 0), "BlockInhibited": ("s", ""),
            "DelayInhibited": ("s", "")}}}, fds=True, methods={
            (MANAGER, "Inhibit"): self._inhibit,
            (MANAGER, "ListInhibitors"): self._list})

    def _inhibit(self, msg):
        what, who, why, mode = msg.body
        if mode not in ("block", "delay"):
            raise ValueError(f"invalid mode {mode!r}")
        r, w = os.pipe()
        sender = msg.header.fields.get(__import__("jeepney").HeaderFields.sender)
        self.inhibitors.append({"what": what, "who": who, "why": why, "mode": mode,
                                "fd": r, "sender": sender})
        self._close_after_reply.append(w)
        return "h", (w,)

    def held(self) -> list[dict[str, Any]]:
        """The locks still held (those whose pipe has not ended)."""
        with self._lock:
            alive = []
            for lock in self.inhibitors:
                r, _, _ = select.select([lock["fd"]], [], [], 0)
                if r and os.read(lock["fd"], 1) == b"":
                    os.close(lock["fd"])
                    continue
                alive.append(lock)
            self.inhibitors = alive
            return list(alive)

    def _list(self, msg):
        return "a(ssssuu)", ([(i["what"], i["who"], i["why"], i["mode"], os.getuid(), 0)
                               for i in self.held()],)

    def set_idle(self, idle: bool, since: float | None = None) -> None:
        self.set(LOGIN1_PATH, MANAGER, IdleHint=idle,
                 IdleSinceHint=int((since if since is not None else time.time()) * 1e6))


def list_inhibitors(address: str) -> list[tuple]:
    """What ``ListInhibitors`` says on the bus, asked as any client would."""
    from jeepney import DBusAddress, new_method_call
    from jeepney.io.blocking import open_dbus_connection
    from jeepney.wrappers import unwrap_msg
    with open_dbus_connection(bus=address) as conn:
        msg = new_method_call(DBusAddress(LOGIN1_PATH, bus_name=LOGIN1, interface=MANAGER),
                              "ListInhibitors")
        (found,) = unwrap_msg(conn.send_and_get_reply(msg, timeout=5))
    return found


def start_bus(folder: Path) -> tuple[subprocess.Popen, str]:
    config = folder / "bus.conf"
    config.write_text(_BUS_CONFIG.format(socket=folder / "socket"))
    proc = subprocess.Popen(["dbus-daemon", "--nofork", f"--config-file={config}",
                             "--print-address=1"], stdout=subprocess.PIPE, text=True)
    address = proc.stdout.readline().strip()  # printed once it listens
    if not address:
        raise RuntimeError(f"dbus-daemon did not start (exit {proc.wait(5)})")
    return proc, address


class SystemBus:
    def __init__(self, address: str) -> None:
        self.address = address
        self.services: list[Service] = []

    def _add(self, service: Service):
        self.services.append(service)
        return service

    def upower(self, **kw) -> FakeUPower:
        return self._add(FakeUPower(self.address, **kw))

    def network(self, **kw) -> FakeNetworkManager:
        return self._add(FakeNetworkManager(self.address, **kw))

    def logind(self, **kw) -> FakeLogind:
        return self._add(FakeLogind(self.address, **kw))

    def inhibitors(self) -> list[tuple]:
        return list_inhibitors(self.address)

    def close(self) -> None:
        for s in self.services:
            s.close()


@pytest.fixture
def system_bus(monkeypatch):
    """A private bus standing for the system bus (``DBUS_SYSTEM_BUS_ADDRESS`` names it),
    with no services on it until the test starts the stand-ins it wants."""
    pytest.importorskip("jeepney")
    if shutil.which("dbus-daemon") is None:
        pytest.skip("needs dbus-daemon (apt: dbus)")
    folder = Path(tempfile.mkdtemp(prefix="tj-sys-"))  # a socket path stays short
    proc, address = start_bus(folder)
    bus = SystemBus(address)
    try:
        monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", address)
        yield bus
    finally:
        bus.close()
        proc.terminate()
        proc.wait(5)
        proc.stdout.close()
        shutil.rmtree(folder, ignore_errors=True)


def _serve_for_bench(address: str) -> None:
    """Serve UPower (on battery) and NetworkManager until standard input ends; each line
    is a command: ``battery PERCENT`` unplugs, ``ac`` plugs in; each is answered ``ok``
    once the signal is sent."""
    upower = FakeUPower(address, on_battery=True, percentage=50)
    net = FakeNetworkManager(address)
    print("ready", flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        if cmd[0] == "battery":
            upower.unplug(float(cmd[1]) if len(cmd) > 1 else None)
        elif cmd[0] == "ac":
            upower.plug_in()
        print(f"ok {time.time():.6f}", flush=True)
    upower.close()
    net.close()


if __name__ == "__main__":
    _serve_for_bench(sys.argv[1])
