"""What the desktop's system services say, kept up to date from their signals.

:class:`SystemWatch` holds one connection to the system bus (jeepney, on threads of
its own) and follows three services:

* UPower (``org.freedesktop.UPower``): ``OnBattery``, and the ``Percentage`` of its
  DisplayDevice, the battery the desktop shows;
* NetworkManager (``org.freedesktop.NetworkManager``): ``State``, ``Connectivity``,
  ``Metered`` and each of its ``ActiveConnections`` (its ``Id``, ``Type`` and its
  devices' ``Metered``);
* logind (``org.freedesktop.login1``): ``IdleHint`` and ``IdleSinceHint``.

It reads each once, then only listens: every ``PropertiesChanged`` (and a service
appearing or going, ``NameOwnerChanged``) updates the facts and calls ``on_change``,
so a waiting run starts within moments of its condition turning true, and nothing is
polled. The mount table is followed too (``/proc/self/mountinfo`` wakes a ``poll``
when something is mounted), for ``path_exists``.

The bus is the system bus, or the one ``DBUS_SYSTEM_BUS_ADDRESS`` names (the standard
variable; tests point it at a bus of their own). A service that is not there is
*unknown*, with the reason, until it appears.
"""

from __future__ import annotations

import logging
import os
import queue
import select
import threading
import time
from typing import Any, Callable

from .base import Facts

__all__ = ["SystemWatch", "UPOWER", "NM", "LOGIN1", "DISPLAY_DEVICE"]

log = logging.getLogger(__name__)

UPOWER = "org.freedesktop.UPower"
UPOWER_PATH = "/org/freedesktop/UPower"
DISPLAY_DEVICE = "/org/freedesktop/UPower/devices/DisplayDevice"
NM = "org.freedesktop.NetworkManager"
NM_PATH = "/org/freedesktop/NetworkManager"
LOGIN1 = "org.freedesktop.login1"
LOGIN1_PATH = "/org/freedesktop/login1"
PROPS = "org.freedesktop.DBus.Properties"
CALL_TIMEOUT = 5.0
#: Signals coming faster than this (seconds) are acted on together.
GATHER = 0.1
#: A service that did not answer is asked again after this many seconds (while it does
#: not): one that hung a moment sends no signal to say it is back.
LOOK_AGAIN = 30.0
#: UPower device type: a battery.
_BATTERY = 2

# source: (service name, the path its objects live under)
_SERVICES = {"power": (UPOWER, UPOWER_PATH), "network": (NM, NM_PATH),
             "idle": (LOGIN1, LOGIN1_PATH)}
_MISSING = {"power": "no UPower service on the system bus",
            "network": "no NetworkManager service on the system bus",
            "idle": "no logind service on the system bus"}


class SystemWatch:
    def __init__(self, on_change: Callable[[], None], *, bus: str = "SYSTEM",
                 mounts: str = "/proc/self/mountinfo") -> None:
        self.on_change = on_change
        self.bus = bus
        self.mounts = mounts
        self._lock = threading.Lock()
        self._facts = Facts(unknown={s: "not read yet" for s in _SERVICES})
        self._q: queue.Queue = queue.Queue()
        self._router = None
        self._conn = None
        self._threads: list[threading.Thread] = []
        self._stop_r, self._stop_w = os.pipe()
        self._stopping = False
        self.ready = threading.Event()  # the first reading is done
        #: Sources whose service did not answer: (monotonic) when to ask it again.
        self._unanswered: dict[str, float] = {}
        self.look_again = LOOK_AGAIN

    # -- the facts ------------------------------------------------------------------

    def facts(self) -> Facts:
        with self._lock:
            return Facts(known=dict(self._facts.known), unknown=dict(self._facts.unknown))

    def _set(self, source: str, value: dict[str, Any] | None, why: str = "") -> None:
        with self._lock:
            if value is None:
                self._facts.known.pop(source, None)
                self._facts.unknown[source] = why or _MISSING[source]
            else:
                self._facts.known[source] = value
                self._facts.unknown.pop(source, None)

    # -- life cycle -----------------------------------------------------------------

    def start(self) -> None:
        # Imported here, on the caller's thread: a daemon thread importing while the
        # interpreter shuts down can crash it.
        try:
            import jeepney  # noqa: F401
            import jeepney.io.threading  # noqa: F401
        except ImportError:
            jeepney = None  # noqa: F841
        for target, name in ((self._run_bus, "trayjobs-conditions"),
                             (self._run_mounts, "trayjobs-mounts")):
            t = threading.Thread(target=target, name=name, daemon=True)
            self._threads.append(t)
            t.start()

    def stop(self) -> None:
        self._stopping = True
        self._q.put(None)
        try:
            os.write(self._stop_w, b"x")
        except OSError:
            pass
        for t in self._threads:
            t.join(3)
        for fd in (self._stop_r, self._stop_w):
            try:
                os.close(fd)
            except OSError:
                pass

    # -- the bus --------------------------------------------------------------------

    def _run_bus(self) -> None:
        try:
            from jeepney import MatchRule, message_bus
            from jeepney.io.threading import DBusRouter, Proxy, open_dbus_connection
        except ImportError:
            for source in _SERVICES:
                self._set(source, None, "jeepney (D-Bus) is not installed")
            self.ready.set()
            self._changed()
            return
        try:
            conn = open_dbus_connection(bus=self.bus)
        except Exception as exc:  # no system bus at all (a container, another OS)
            log.info("no system bus for run conditions: %s", exc)
            for source in _SERVICES:
                self._set(source, None, f"no system bus ({exc})")
            self.ready.set()
            self._changed()
            return
        router = DBusRouter(conn)
        self._conn, self._router = conn, router
        try:
            bus = Proxy(message_bus, router, timeout=CALL_TIMEOUT)
            for source, (name, path) in _SERVICES.items():
                # Filtered by the bus (sender) and here (path; the sender seen here is the
                # service's unique name, not the well-known one).
                bus.AddMatch(MatchRule(type="signal", sender=name, interface=PROPS,
                                       member="PropertiesChanged", path_namespace=path))
                router.filter(MatchRule(type="signal", interface=PROPS,
                                        member="PropertiesChanged", path_namespace=path),
                              queue=self._q)
                owner = MatchRule(type="signal", sender="org.freedesktop.DBus",
                                  interface="org.freedesktop.DBus", member="NameOwnerChanged")
                owner.add_arg_condition(0, name)
                bus.AddMatch(owner)
                router.filter(owner, queue=self._q)
            for source in _SERVICES:
                self._load(source)
            self.ready.set()
            self._changed()
            told = 0.0  # (monotonic) when on_change was last called
            while not self._stopping:
                try:
                    msg = self._q.get(timeout=self._until_look_again())
                except queue.Empty:
                    self._look_again()
                    continue
                # A signal after a quiet spell is acted on at once; those of a storm are
                # gathered for GATHER after the last telling, and each service read
                # again once for them all: a service sending a thousand a second costs
                # a few reads a second, and the others' signals are not queued behind.
                until = max(told + GATHER, time.monotonic())
                touched: set[str] = set()
                again: set[str] = set()  # sources to read again, whole
                while msg is not None:
                    touched |= self._handle_safely(msg, again)
                    wait = until - time.monotonic()
                    if wait <= 0:
                        break
                    try:
                        msg = self._q.get(timeout=wait)
                    except queue.Empty:
                        break
                if msg is None or self._stopping:
                    break
                for source in again:
                    self._load(source)
                if touched:
                    self._changed()
                    told = time.monotonic()
        except Exception:
            log.exception("following the system services for run conditions failed")
            for source in _SERVICES:
                self._set(source, None, "trayjobs lost its connection to the system bus")
            self._changed()
        finally:
            self.ready.set()
            try:
                router.close()
            except Exception:
                pass
            conn.close()

    def _changed(self) -> None:
        try:
            self.on_change()
        except Exception:
            log.exception("acting on a change of the run conditions failed")

    def _handle_safely(self, msg, again: set[str]) -> set[str]:
        """:meth:`_handle`, for a signal of any shape: a value of another type than the
        service's own (a text for a percentage) ended the thread following the services,
        and every condition was unknown ("lost its connection") until trayjobs restarted.
        Its service is read again instead, which says what is wrong with it."""
        try:
            return self._handle(msg, again)
        except Exception as exc:
            source = self._source_of(msg)
            log.info("run conditions: a signal of %s that cannot be read (%s): reading "
                     "it again", _SERVICES[source][0] if source else "a service", exc)
            if source is None:
                return set()
            again.add(source)
            return {source}

    @staticmethod
    def _source_of(msg) -> str | None:
        from jeepney import HeaderFields
        path = msg.header.fields.get(HeaderFields.path, "")
        if msg.header.fields.get(HeaderFields.member) == "NameOwnerChanged":
            name = msg.body[0] if msg.body else None
            return next((s for s, (n, _) in _SERVICES.items() if n == name), None)
        return next((s for s, (_, p) in _SERVICES.items()
                     if path == p or path.startswith(p + "/")), None)

    def _handle(self, msg, again: set[str]) -> set[str]:
        """Update the facts from one signal; returns the sources it changed. Those to be
        read again whole are added to ``again`` (read once the signals at hand are)."""
        from jeepney import HeaderFields
        member = msg.header.fields.get(HeaderFields.member)
        source = self._source_of(msg)
        if source is None:
            return set()
        if member == "NameOwnerChanged":
            name, _old, new = msg.body
            if new:
                again.add(source)
            else:
                again.discard(source)
                self._unanswered.pop(source, None)  # not asked again: it is gone
                self._set(source, None, f"the {name} service went away")
            return {source}
        path = msg.header.fields.get(HeaderFields.path, "")
        iface, changed, invalidated = msg.body
        with self._lock:
            current = self._facts.known.get(source)
        if source == "power" and current is not None and not invalidated:
            update = dict(current)
            if path == UPOWER_PATH and "OnBattery" in changed:
                update["on_battery"] = bool(changed["OnBattery"][1])
            elif path == DISPLAY_DEVICE and ("Percentage" in changed or "IsPresent" in changed):
                present = changed.get("IsPresent", (None, update.get("present", True)))[1]
                update["present"] = bool(present)
                if "Percentage" in changed:
                    update["raw_percentage"] = float(changed["Percentage"][1])
                update["percentage"] = update.get("raw_percentage") if present else None
            else:
                return set()
            self._set(source, update)
            return {source}
        if source == "idle" and current is not None and not invalidated \
                and iface == "org.freedesktop.login1.Manager":
            update = dict(current)
            if "IdleHint" in changed:
                update["idle"] = bool(changed["IdleHint"][1])
            if "IdleSinceHint" in changed:
                update["since"] = changed["IdleSinceHint"][1] / 1e6
            self._set(source, self._idle(update["idle"], update["since"], current))
            return {source}
        # NetworkManager's facts span several objects: read them again, whole.
        again.add(source)
        return {source}

    def _get_all(self, name: str, path: str, iface: str) -> dict[str, Any]:
        from jeepney import DBusAddress, new_method_call
        msg = new_method_call(DBusAddress(path, bus_name=name, interface=PROPS), "GetAll", "s",
                              (iface,))
        reply = self._router.send_and_get_reply(msg, timeout=CALL_TIMEOUT)
        from jeepney.wrappers import unwrap_msg
        (props,) = unwrap_msg(reply)
        return {k: v[1] for k, v in props.items()}

    def _load(self, source: str) -> None:
        name, _ = _SERVICES[source]
        try:
            value = getattr(self, f"_read_{source}")()
        except (TypeError, ValueError, AttributeError, KeyError) as exc:
            why = f"{name} says what trayjobs cannot read ({exc})"
            log.info("run conditions: %s", why)
            self._set(source, None, why)
            return
        except Exception as exc:
            if "ServiceUnknown" in str(exc) or "NameHasNoOwner" in str(exc):
                why = _MISSING[source]
            else:
                why = (f"{name} did not answer within {CALL_TIMEOUT:g} s" if isinstance(
                    exc, TimeoutError) else f"{name} did not answer ({exc})")
                self._unanswered[source] = time.monotonic() + self.look_again
            log.info("run conditions: %s", why)
            self._set(source, None, why)
            return
        self._unanswered.pop(source, None)
        self._set(source, value)

    def _until_look_again(self) -> float | None:
        if not self._unanswered:
            return None  # nothing polled: only signals wake the thread
        return max(0.0, min(self._unanswered.values()) - time.monotonic())

    def _look_again(self) -> None:
        """Ask the services that did not answer again, and tell what they say."""
        now = time.monotonic()
        due = [s for s, t in self._unanswered.items() if t <= now]
        for source in due:
            self._load(source)
        if due:
            self._changed()

    def _read_power(self) -> dict[str, Any]:
        root = self._get_all(UPOWER, UPOWER_PATH, UPOWER)
        try:
            dev = self._get_all(UPOWER, DISPLAY_DEVICE, "org.freedesktop.UPower.Device")
        except Exception:  # an old UPower without a display device: no battery level
            dev = {}
        present = bool(dev.get("IsPresent")) and dev.get("Type", _BATTERY) == _BATTERY
        raw = float(dev["Percentage"]) if "Percentage" in dev else None
        return {"on_battery": bool(root.get("OnBattery")), "present": present,
                "raw_percentage": raw, "percentage": raw if present else None,
                "state": dev.get("State")}

    def _read_network(self) -> dict[str, Any]:
        root = self._get_all(NM, NM_PATH, NM)
        conns = []
        for path in root.get("ActiveConnections") or []:
            try:
                active = self._get_all(NM, path, "org.freedesktop.NetworkManager.Connection.Active")
            except Exception:  # gone between the two calls
                continue
            metered = 0
            for dev in active.get("Devices") or []:
                try:
                    d = self._get_all(NM, dev, "org.freedesktop.NetworkManager.Device")
                except Exception:
                    continue
                m = d.get("Metered", 0)
                metered = m if m in (1, 3) else metered or m
            conns.append({"id": active.get("Id"), "type": active.get("Type"),
                          "metered": metered})
        return {"state": root.get("State"), "connectivity": root.get("Connectivity"),
                "metered": root.get("Metered"), "connections": conns}

    def _read_idle(self) -> dict[str, Any]:
        m = self._get_all(LOGIN1, LOGIN1_PATH, "org.freedesktop.login1.Manager")
        with self._lock:
            current = self._facts.known.get("idle")
        return self._idle(bool(m.get("IdleHint")), (m.get("IdleSinceHint") or 0) / 1e6, current)

    @staticmethod
    def _idle(idle: bool, since: float, current: dict[str, Any] | None) -> dict[str, Any]:
        """The idle facts; idle since 0 (logind does not know when: nobody is logged in to
        tell it, as on a worker's server) counts from when it was first seen idle here,
        not from each look, which an idle time would never reach."""
        if idle and not since:
            since = (current or {}).get("since") if (current or {}).get("idle") else None
            since = since or time.time()
        return {"idle": idle, "since": since}

    # -- the mount table --------------------------------------------------------------

    def _run_mounts(self) -> None:
        """Wake ``on_change`` when something is mounted or unmounted: the kernel marks
        the mount table with POLLPRI then. Nothing to do between changes."""
        try:
            fd = os.open(self.mounts, os.O_RDONLY)
        except OSError:
            return  # not Linux: path_exists is looked at on its own schedule
        try:
            p = select.poll()
            p.register(fd, select.POLLPRI | select.POLLERR)
            p.register(self._stop_r, select.POLLIN)
            os.read(fd, 1 << 20)  # the current table; changes after it are what wake us
            while not self._stopping:
                events = p.poll()
                if self._stopping or any(f == self._stop_r for f, _ in events):
                    return
                os.lseek(fd, 0, os.SEEK_SET)
                while os.read(fd, 1 << 16):
                    pass
                self._changed()
        finally:
            os.close(fd)
