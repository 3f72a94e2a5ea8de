"""Run conditions: the rules in the core, the system services followed on a real bus, and
the engine holding runs in ``waiting`` until they hold.

The bus is a private ``dbus-daemon`` standing for the system bus, with stand-ins for
UPower, NetworkManager and logind that publish the real interfaces and emit
``PropertiesChanged`` (see :mod:`system_bus_support`).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from helpers import start_worker, trayjobs, wait_run, wait_until
from system_bus_support import (ETHERNET, GSM, GUESS_NO, GUESS_YES, METERED_UNKNOWN,
                                METERED_YES, WIFI, system_bus)  # noqa: F401
from trayjobs.conditions import Facts, effective, evaluate
from trayjobs.conditions.system import SystemWatch
from trayjobs.config import parse_config
from trayjobs.store import FINAL_STATES
from trayjobs.textfmt import state_text, when

# -- the rules, without a bus -------------------------------------------------------------

POWER_18 = Facts(known={"power": {"on_battery": True, "percentage": 18.0}})


def test_settings_give_defaults_that_a_job_overrides():
    assert effective({}, pause_on_battery=True) == {"ac_power": True}
    assert effective({"ac_power": False}, pause_on_battery=True) == {}
    assert effective({}, only_unmetered=True) == {"network": "unmetered"}
    assert effective({"network": "any"}, only_unmetered=True) == {}
    assert effective({"network": "online"}, only_unmetered=True) == {"network": "online"}
    cfg = parse_config("""
        [settings]
        pause_on_battery = true
        [jobs.inherits]
        kind = "command"
        command = "true"
        [jobs.own]
        kind = "command"
        command = "true"
        when = { ac_power = false, battery_above = 30 }
    """)
    assert not cfg.errors
    assert cfg.jobs["inherits"].conditions(cfg.settings) == {"ac_power": True}
    assert cfg.jobs["own"].conditions(cfg.settings) == {"battery_above": 30}


def test_the_reason_is_in_words():
    d = evaluate({"ac_power": True, "battery_above": 30}, POWER_18, time.time())
    assert d.wait and d.reason == "on battery (18 %); battery at 18 %, not above 30 %"
    assert not evaluate({"battery_above": 10}, POWER_18, time.time()).wait
    # No battery at all (a desktop): never low.
    mains = Facts(known={"power": {"on_battery": False, "percentage": None}})
    assert not evaluate({"ac_power": True, "battery_above": 90}, mains, time.time()).wait


def test_unknown_follows_when_unknown():
    facts = Facts(unknown={"power": "no UPower service on the system bus"})
    run = evaluate({"ac_power": True}, facts, 0.0, when_unknown="run")
    assert not run.wait
    assert run.unknown == ("power state unknown: no UPower service on the system bus",)
    wait = evaluate({"ac_power": True}, facts, 0.0, when_unknown="wait")
    assert wait.wait and wait.reason == "power state unknown: no UPower service on the system bus"
    # Several conditions unknown for one reason: the reason once, not once each.
    facts = Facts(unknown={"power": "no system bus", "idle": "no system bus"})
    wait = evaluate({"ac_power": True, "battery_above": 30, "idle": 300}, facts, 0.0,
                    when_unknown="wait")
    assert wait.reason == "power state, battery level and idle time unknown: no system bus"
    assert len(wait.unknown) == 3


@pytest.mark.parametrize("connections, metered", [
    ([("Home", WIFI, GUESS_NO)], None),
    ([("Office", ETHERNET, METERED_UNKNOWN)], None),          # wired: unmetered unless marked
    ([("Pixel", WIFI, GUESS_YES)], "Pixel"),                   # a phone's hotspot says so
    ([("Dock", ETHERNET, GUESS_NO), ("Pixel", WIFI, GUESS_YES)], "Pixel"),  # every connection
    ([("Mobile", GSM, METERED_YES)], "Mobile"),
])
def test_unmetered_looks_at_every_active_connection(connections, metered):
    net = {"state": 70, "connectivity": 4, "metered": connections[0][2],
           "connections": [{"id": i, "type": t, "metered": m} for i, t, m in connections]}
    d = evaluate({"network": "unmetered"}, Facts(known={"network": net}), 0.0)
    assert d.wait == bool(metered)
    if metered:
        assert d.reason == f"on a metered connection ({metered})"
    assert not evaluate({"network": "online"}, Facts(known={"network": net}), 0.0).wait


def test_offline_and_idle_and_path(tmp_path):
    offline = {"state": 20, "connectivity": 1, "metered": 0, "connections": []}
    d = evaluate({"network": "online"}, Facts(known={"network": offline}), 0.0)
    assert d.wait and d.reason == "offline (no network)"
    idle = Facts(known={"idle": {"idle": True, "since": 1000.0}})
    d = evaluate({"idle": 300.0}, idle, 1100.0)
    assert d.wait and d.recheck_at == 1300.0 and d.reason == "idle for 1 min 40 s of 5 min"
    assert not evaluate({"idle": 300.0}, idle, 1300.0).wait
    d = evaluate({"path_exists": str(tmp_path / "backup")}, Facts(), 0.0)
    assert d.wait and d.reason.endswith("backup is not there") and d.recheck_at == 30.0
    (tmp_path / "backup").mkdir()
    assert not evaluate({"path_exists": str(tmp_path / "backup")}, Facts(), 0.0).wait


def test_a_mount_point_in_fstab_holds_only_while_its_drive_is_mounted(tmp_path,
                                                                      monkeypatch):
    """path_exists = "/mnt/backup", the folder fstab mounts the backup drive on: that
    folder is there, empty, with the drive unplugged, and an rsync into it would fill
    the computer's own disk. It holds once something is mounted there (/proc here),
    through a link to it as well; a folder fstab does not name holds as it is."""
    from trayjobs.conditions import paths
    backup, link = tmp_path / "backup", tmp_path / "drive"
    backup.mkdir()
    link.symlink_to(backup)
    fstab = tmp_path / "fstab"
    fstab.write_text(f"# <fs> <dir> <type>\nUUID=1234 {backup} ext4 noauto,user 0 2\n"
                     f"proc /proc proc defaults 0 0\n")
    monkeypatch.setattr(paths, "FSTAB", str(fstab))
    mounts = tmp_path / "mounts"
    mounts.write_text("proc /proc proc rw 0 0\n")
    monkeypatch.setattr(paths, "MOUNTS", str(mounts))
    for path in (backup, link):
        d = evaluate({"path_exists": str(path)}, Facts(), 0.0)
        assert d.wait and d.reason == f"{path} is not mounted (its drive is not plugged in?)"
    # A bind mount on the same file system: the mount table alone says it is mounted.
    mounts.write_text(f"/dev/sda2 {backup} ext4 rw 0 0\n")
    assert not evaluate({"path_exists": str(link)}, Facts(), 0.0).wait
    assert not evaluate({"path_exists": "/proc"}, Facts(), 0.0).wait
    assert not evaluate({"path_exists": str(tmp_path)}, Facts(), 0.0).wait


def test_bad_conditions_name_the_key():
    cfg = parse_config("""
        [jobs.a]
        kind = "command"
        command = "true"
        when = { battery_abov = 30, network = "cheap", idle = "soon" }
        max_wait = "forever"
    """)
    text = "\n".join(str(e) for e in cfg.errors)
    assert "key 'when.battery_abov': unknown key; did you mean 'battery_above'?" in text
    assert "key 'when.network'" in text and "'unmetered'" in text
    assert "key 'when.idle'" in text and "key 'max_wait'" in text
    assert "a" not in cfg.jobs


# -- the services, followed on a real bus -------------------------------------------------

class Changes:
    def __init__(self) -> None:
        self.n = 0
        self.cond = threading.Condition()

    def __call__(self) -> None:
        with self.cond:
            self.n += 1
            self.cond.notify_all()

    def wait_for(self, pred, timeout: float = 5.0) -> None:
        with self.cond:
            assert self.cond.wait_for(pred, timeout), "no change came"


def test_the_watch_follows_property_changes(system_bus):
    upower = system_bus.upower(on_battery=False, percentage=64)
    changes = Changes()
    watch = SystemWatch(changes)
    watch.start()
    try:
        assert watch.ready.wait(5)
        facts = watch.facts()
        assert facts.get("power") and facts.get("power")["on_battery"] is False
        assert facts.get("power")["percentage"] == 64
        assert "no NetworkManager service" in facts.why_unknown("network")
        seen = changes.n
        upower.unplug(percentage=18)
        changes.wait_for(lambda: (watch.facts().get("power") or {}).get("on_battery"))
        assert watch.facts().get("power")["percentage"] == 18
        assert changes.n > seen
        # A service that starts later is read when it appears.
        system_bus.network(connections=[("Pixel", WIFI, GUESS_YES)])
        # The stand-in takes its name before its connections are up (as a service may):
        # what the watch reads first can be "no connection", then their PropertiesChanged.
        changes.wait_for(lambda: (watch.facts().get("network") or {}).get("connections"))
        conns = watch.facts().get("network")["connections"]
        assert conns == [{"id": "Pixel", "type": WIFI, "metered": GUESS_YES}]
        # And one that goes is unknown again, with the reason.
        upower.close()
        changes.wait_for(lambda: watch.facts().get("power") is None)
        assert "went away" in watch.facts().why_unknown("power")
    finally:
        watch.stop()


def test_idle_with_no_time_since_counts_from_when_it_was_first_seen_idle(system_bus):
    # logind gives IdleSinceHint 0 where no session tells it when (nobody logged in: a
    # worker's server): idle = "5m" counted from "now" at each look, and never held.
    system_bus.logind(idle=True, idle_since=0.0)
    watch = SystemWatch(Changes())
    before = time.time()
    watch.start()
    try:
        assert watch.ready.wait(5)
        since = watch.facts().get("idle")["since"]
        assert before <= since <= time.time()
        assert evaluate({"idle": 300}, watch.facts(), since + 299).wait
        assert not evaluate({"idle": 300}, watch.facts(), since + 301).wait
    finally:
        watch.stop()


def test_a_signal_with_a_value_of_another_type_is_read_again_not_the_end(system_bus):
    # A text where UPower sends a number ended the thread following the services: every
    # condition was unknown ("lost its connection") until trayjobs restarted.
    from jeepney import DBusAddress, new_signal
    from system_bus_support import DEVICE, DISPLAY_DEVICE
    upower = system_bus.upower(on_battery=False, percentage=64)
    changes = Changes()
    watch = SystemWatch(changes)
    watch.start()
    try:
        assert watch.ready.wait(5)
        def say(value, *, keep: bool) -> None:
            if keep:  # the property itself is of that type now
                upower.objects[DISPLAY_DEVICE][DEVICE]["Percentage"] = value
            upower._send(new_signal(DBusAddress(DISPLAY_DEVICE,
                                                interface="org.freedesktop.DBus.Properties"),
                                    "PropertiesChanged", "sa{sv}as",
                                    (DEVICE, {"Percentage": value}, [])))

        say(("s", "lots"), keep=False)
        upower.unplug(percentage=18)
        changes.wait_for(lambda: (watch.facts().get("power") or {}).get("on_battery"))
        assert watch.facts().get("power")["percentage"] == 18
        # A property that is of another type itself: unknown, saying why.
        say(("s", "lots"), keep=True)
        changes.wait_for(lambda: watch.facts().get("power") is None)
        assert "says what trayjobs cannot read" in watch.facts().why_unknown("power")
        upower.objects[DISPLAY_DEVICE][DEVICE]["Percentage"] = ("d", 0.0)
        upower.charge(55)
        changes.wait_for(lambda: (watch.facts().get("power") or {}).get("percentage") == 55)
    finally:
        watch.stop()


def _cpu_seconds(thread: threading.Thread) -> float:
    fields = Path(f"/proc/self/task/{thread.native_id}/stat").read_text().rsplit(")", 1)[1]
    utime, stime = fields.split()[11:13]
    return (int(utime) + int(stime)) / os.sysconf("SC_CLK_TCK")


def test_a_storm_of_signals_costs_little_and_holds_up_no_other_service(system_bus):
    # NetworkManager sending a thousand PropertiesChanged a second was read again whole
    # for each, and the watch told nothing until the storm ended: the charger plugged in
    # meanwhile started no waiting run.
    from system_bus_support import NM, NM_PATH
    upower = system_bus.upower(on_battery=True, percentage=40)
    nm = system_bus.network(connections=[("Home", WIFI, GUESS_NO)])
    changes = Changes()
    watch = SystemWatch(changes)
    watch.start()
    try:
        assert watch.ready.wait(5)
        (thread,) = [t for t in threading.enumerate() if t.name == "trayjobs-conditions"]
        stop = threading.Event()

        def storm() -> None:
            while not stop.is_set():
                for _ in range(50):
                    nm.set(NM_PATH, NM, Connectivity=4)
                time.sleep(0.05)  # about a thousand a second

        cpu = _cpu_seconds(thread)
        storming = threading.Thread(target=storm, daemon=True)
        storming.start()
        try:
            time.sleep(1.5)
            upower.plug_in()
            start = time.monotonic()
            changes.wait_for(lambda: (watch.facts().get("power") or {}).get("on_battery")
                             is False, timeout=10)
            took = time.monotonic() - start
            assert took < 1.0, took
            time.sleep(1.5)
        finally:
            stop.set()
            storming.join()
        spent = _cpu_seconds(thread) - cpu
        assert spent < 0.6, spent  # of some 3 s of storm
    finally:
        watch.stop()


def test_no_bus_at_all_is_unknown_with_the_reason(monkeypatch, tmp_path):
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={tmp_path}/none")
    watch = SystemWatch(lambda: None)
    watch.start()
    try:
        assert watch.ready.wait(5)
        assert "no system bus" in watch.facts().why_unknown("power")
    finally:
        watch.stop()


# -- the engine holds runs until their conditions hold -----------------------------------

def job(name: str, *, when: str = "", extra: str = "", command: str = '["true"]') -> str:
    return (f"[jobs.{name}]\nkind = \"command\"\ncommand = {command}\n"
            + (f"when = {when}\n" if when else "") + extra)


def test_a_run_waiting_on_battery_starts_within_2_s_of_ac_coming_back(system_bus,
                                                                        make_engine, home):
    upower = system_bus.upower(on_battery=True, percentage=18)
    eng = make_engine(job("backup", when="{ ac_power = true }"))
    rid = eng.submit("backup", trigger="schedule")
    run = eng.watcher.wait(rid, "waiting")
    assert run["wait_reason"] == "on battery (18 %)"
    assert state_text(run) == "waiting: on battery (18 %)"
    out = trayjobs(home, "runs").stdout  # another process sees it as well
    assert "waiting: on battery (18 %)" in out
    assert "waiting: on battery (18 %)" in [l["message"] for l in eng.store.logs(rid)]
    upower.charge(17)  # the reason follows the battery
    wait_until(lambda: eng.store.get_run(rid)["wait_reason"] == "on battery (17 %)", 5)
    assert eng.store.get_run(rid)["state"] == "waiting"
    plugged = time.time()
    upower.plug_in()
    run = eng.watcher.wait(rid, ("running",) + FINAL_STATES, timeout=5)
    assert run["started_at"] - plugged < 2.0
    assert eng.watcher.wait(rid)["state"] == "succeeded"
    assert eng.watcher.states_of(rid) == ["queued", "waiting", "queued", "running", "succeeded"]


def test_metered_waits_and_unmetered_runs(system_bus, make_engine):
    nm = system_bus.network(connections=[("Office", ETHERNET, GUESS_NO),
                                         ("Pixel", WIFI, GUESS_YES)])
    eng = make_engine(job("sync", when='{ network = "unmetered" }'))
    rid = eng.submit("sync", trigger="schedule")
    run = eng.watcher.wait(rid, "waiting")
    assert run["wait_reason"] == "on a metered connection (Pixel)"
    nm.set_connections([("Office", ETHERNET, GUESS_NO)])  # the hotspot is turned off
    assert eng.watcher.wait(rid)["state"] == "succeeded"


def test_only_unmetered_setting_is_inherited(system_bus, make_engine):
    system_bus.network(connections=[("Mobile", GSM, METERED_YES)])
    eng = make_engine("[settings]\nonly_unmetered = true\n"
                      + job("sync") + job("small", when='{ network = "any" }'))
    held = eng.submit("sync", trigger="schedule")
    free = eng.submit("small", trigger="schedule")
    assert eng.watcher.wait(free)["state"] == "succeeded"
    assert eng.watcher.wait(held, "waiting")["wait_reason"] == "on a metered connection (Mobile)"


def test_unknown_service_follows_when_unknown(system_bus, make_engine):
    eng = make_engine(job("runs", when="{ ac_power = true }")
                      + job("waits", when="{ ac_power = true }", extra='when_unknown = "wait"\n'))
    notices = []
    eng.bus.subscribe(lambda ev: notices.append(ev) if type(ev).__name__ == "Notice" else None)
    went = eng.submit("runs", trigger="schedule")
    held = eng.submit("waits", trigger="schedule")
    assert eng.watcher.wait(went)["state"] == "succeeded"
    logs = [l["message"] for l in eng.store.logs(went)]
    assert ("power state unknown: no UPower service on the system bus; running anyway "
            "(when_unknown = \"run\")") in logs
    assert eng.watcher.wait(held, "waiting")["wait_reason"] == (
        "power state unknown: no UPower service on the system bus")
    # Said once in the window, not at every run.
    again = eng.submit("runs", trigger="schedule")
    eng.watcher.wait(again)
    assert sum("no UPower" in n.message for n in notices) == 1
    system_bus.upower(on_battery=False)  # the service starts: now it can be told
    assert eng.watcher.wait(held)["state"] == "succeeded"


def test_a_service_that_hung_is_asked_again_and_runs_follow_it(system_bus, make_engine,
                                                               monkeypatch):
    # UPower not answering for a moment as trayjobs started left the power state unknown
    # until UPower happened to change a property: a run of when_unknown = "wait" waited
    # on, the charger plugged in all along.
    from trayjobs.conditions import system
    monkeypatch.setattr(system, "CALL_TIMEOUT", 1.0)
    monkeypatch.setattr(system, "LOOK_AGAIN", 1.0, raising=False)
    upower = system_bus.upower(on_battery=False)
    upower._lock.acquire()  # it takes calls and answers none
    try:
        eng = make_engine(job("waits", when="{ ac_power = true }",
                              extra='when_unknown = "wait"\n'))
        held = eng.submit("waits", trigger="schedule")
        assert eng.watcher.wait(held, "waiting")["wait_reason"] == (
            "power state unknown: org.freedesktop.UPower did not answer within 1 s")
    finally:
        upower._lock.release()
    assert eng.watcher.wait(held, timeout=10)["state"] == "succeeded"


@pytest.fixture
def hung_mount(tmp_path):
    """A folder with a file system mounted on it whose server never answers (a FUSE
    connection nobody serves, as a network drive whose server is gone): looking at
    anything in it waits until the connection is cut (``cut()``)."""
    import ctypes
    if os.geteuid() != 0 or not os.path.exists("/dev/fuse"):
        pytest.skip("needs root and /dev/fuse")
    libc = ctypes.CDLL(None, use_errno=True)
    target = tmp_path / "mnt"
    target.mkdir()
    fd = os.open("/dev/fuse", os.O_RDWR)
    options = f"fd={fd},rootmode=40000,user_id=0,group_id=0".encode()
    if libc.mount(b"hung", str(target).encode(), b"fuse", 0, options) != 0:
        os.close(fd)
        pytest.skip(f"cannot mount here: {os.strerror(ctypes.get_errno())}")
    cut = []

    def close() -> None:
        if not cut:
            cut.append(True)
            os.close(fd)  # the server gone for good: every look fails at once
    from types import SimpleNamespace
    try:
        yield SimpleNamespace(path=target, cut=close)
    finally:
        close()
        libc.umount2(str(target).encode(), 2)  # MNT_DETACH


def test_a_path_on_a_drive_that_does_not_answer_holds_up_nothing_else(hung_mount,
                                                                       make_engine,
                                                                       monkeypatch):
    # Looking for the path waited as long as the drive's server did not answer, on the
    # engine's own thread: no other run started, and the waiting one said nothing.
    from trayjobs.conditions.paths import PathExists
    monkeypatch.setattr(PathExists, "recheck", 1.0)
    mnt = hung_mount.path
    eng = make_engine(job("backup", when=f'{{ path_exists = "{mnt}/backup" }}',
                          extra='when_unknown = "wait"\n')
                      + job("other"))
    held = eng.submit("backup", trigger="schedule")
    start = time.monotonic()
    other = eng.submit("other", trigger="schedule")
    assert eng.watcher.wait(other, timeout=15)["state"] == "succeeded"
    assert time.monotonic() - start < 10
    row = eng.watcher.wait(held, "waiting")
    assert row["wait_reason"] == (f"whether {mnt}/backup is there unknown: the drive it "
                                  f"is on does not answer (a network drive whose server is "
                                  f"gone or slow?)"), row
    hung_mount.cut()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        row = eng.store.get_run(held)
        if "is not there" in (row["wait_reason"] or ""):
            break
        time.sleep(0.2)
    assert row["wait_reason"] == f"{mnt}/backup is not there", row


def test_max_wait_starts_the_run_anyway_and_says_why(system_bus, make_engine):
    system_bus.upower(on_battery=True, percentage=40)
    eng = make_engine(job("report", when="{ ac_power = true }", extra='max_wait = "1s"\n'))
    rid = eng.submit("report", trigger="schedule")
    eng.watcher.wait(rid, "waiting")
    run = eng.watcher.wait(rid, timeout=10)
    assert run["state"] == "succeeded"
    assert run["started_at"] - run["created_at"] >= 1.0
    assert "for its conditions (on battery (40 %)); starting anyway: max_wait is" in run["note"]
    assert eng.watcher.states_of(rid) == ["queued", "waiting", "queued", "running", "succeeded"]


def test_show_says_when_max_wait_starts_a_waiting_run_anyway(system_bus, make_engine, home):
    system_bus.upower(on_battery=True, percentage=40)
    eng = make_engine(job("report", when="{ ac_power = true }", extra='max_wait = "2h"\n'))
    rid = eng.submit("report", trigger="schedule")
    run = eng.watcher.wait(rid, "waiting")
    out = trayjobs(home, "show", str(rid)).stdout
    assert (f"  max wait: starts anyway at {when(run['wait_until'], seconds=True)} (in "
            in out), out
    assert "min), whatever its conditions say" in out, out


def test_max_wait_of_a_one_off_run_counts_from_its_time_not_from_when_it_was_asked(
        system_bus, make_engine):
    # `trayjobs run report --at ... --when-ready`, typed an hour before its time.
    system_bus.upower(on_battery=True, percentage=40)
    clock = [time.time()]
    eng = make_engine(job("report", when="{ ac_power = true }", extra='max_wait = "30m"\n'),
                      scheduler=False, clock=lambda: clock[0])
    due = clock[0] + 3600
    rid = eng.submit("report", trigger="cli", conditions=True, due_at=due)
    clock[0] = due + 1
    eng.tick(clock[0])
    run = eng.watcher.wait(rid, "waiting")
    assert run["wait_until"] == due + 1800
    eng.tick(clock[0])
    assert eng.store.get_run(rid)["state"] == "waiting"  # not started at once as waited out
    clock[0] = due + 1801
    eng.tick(clock[0])
    run = eng.watcher.wait(rid)
    assert run["state"] == "succeeded"
    assert "waited 30 min for its conditions (on battery (40 %))" in run["note"]


def test_runs_started_by_hand_do_not_wait_unless_asked(system_bus, make_engine, home):
    system_bus.upower(on_battery=True, percentage=50)
    eng = make_engine(job("backup", when="{ ac_power = true }"))
    rid = eng.submit("backup", trigger="manual")
    assert eng.watcher.wait(rid)["state"] == "succeeded"
    asked = eng.submit("backup", trigger="manual", conditions=True)
    assert eng.watcher.wait(asked, "waiting")["wait_reason"] == "on battery (50 %)"
    # A waiting run is cancelled at once, and that is all: it never failed.
    assert eng.cancel(asked) == "cancelled"
    run = eng.store.get_run(asked)
    assert run["state"] == "cancelled" and run["attempt"] == 0


def test_due_slots_while_waiting_fold_into_the_waiting_run(system_bus, make_engine):
    system_bus.upower(on_battery=True, percentage=50)
    eng = make_engine(job("hourly", when="{ ac_power = true }", extra='every = "1h"\n'),
                      scheduler=False)
    now = time.time()
    eng.tick(now)  # plans the first slot
    eng.store.set_job_state("hourly", next_run_at=now - 10)
    eng.tick(now)
    (first,) = eng.store.held("hourly")
    eng.store.set_job_state("hourly", next_run_at=now - 5)
    eng.tick(now)
    assert [r["id"] for r in eng.store.held("hourly")] == [first["id"]]
    assert eng.store.count_runs(job="hourly") == 1
    assert any("this waiting run stands for it" in l["message"]
               for l in eng.store.logs(first["id"]))


def test_missed_runs_after_resume_wait_too(system_bus, make_engine):
    upower = system_bus.upower(on_battery=True, percentage=30)
    eng = make_engine(job("nightly", when="{ ac_power = true }", extra='every = "1h"\n'),
                      scheduler=False)
    now = time.time()
    eng.tick(now)
    # The computer slept through three slots and woke on battery.
    eng.store.set_job_state("nightly", next_run_at=now - 3 * 3600 - 1800)
    eng.tick(now)
    (run,) = eng.store.held("nightly")
    assert run["trigger"] == "catch-up" and run["wait_reason"] == "on battery (30 %)"
    upower.plug_in()
    assert eng.watcher.wait(run["id"])["state"] == "succeeded"


# -- sleep inhibition -----------------------------------------------------------------

def test_inhibitor_lock_held_while_running_and_released_at_the_end(system_bus, make_engine,
                                                                    tmp_path):
    system_bus.logind()
    flag = tmp_path / "go"
    eng = make_engine(job("backup", extra="inhibit_sleep = true\n",
                          command=f'["sh", "-c", "while [ ! -e {flag} ]; do sleep 0.05; done"]'))
    assert system_bus.inhibitors() == []
    rid = eng.submit("backup")
    eng.watcher.wait(rid, "running")
    (lock,) = wait_until(system_bus.inhibitors, 5)
    assert lock[:4] == ("sleep", "trayjobs", "running the job backup", "block")
    flag.touch()
    assert eng.watcher.wait(rid)["state"] == "succeeded"
    assert system_bus.inhibitors() == []


def test_inhibitor_lock_is_gone_after_kill_9_of_the_job_process(system_bus, make_engine,
                                                                  tmp_path):
    system_bus.logind()
    pid_file = tmp_path / "pid"
    eng = make_engine(job("backup", extra='inhibit_sleep = "delay"\nretry = { attempts = 1 }\n',
                          command=f'["sh", "-c", "echo $PPID > {pid_file}; sleep 60"]'))
    rid = eng.submit("backup")
    wait_until(lambda: pid_file.exists() and pid_file.read_text().strip(), 10)
    (lock,) = wait_until(system_bus.inhibitors, 5)
    assert lock[3] == "delay"
    os.kill(int(pid_file.read_text()), signal.SIGKILL)  # the job's own process
    run = eng.watcher.wait(rid)
    assert run["state"] == "interrupted" and "SIGKILL" in run["error"]  # not run again
    wait_until(lambda: system_bus.inhibitors() == [], 5)


def test_inhibitor_lock_dies_with_a_killed_worker(system_bus, home, write_config, tmp_path):
    system_bus.logind()
    write_config(job("backup", extra="inhibit_sleep = true\n", command='["sleep", "60"]'))
    worker = start_worker(home)
    try:
        rid = int(trayjobs(home, "run", "backup", check=True).stdout)
        wait_run(home, rid, "running")
        wait_until(system_bus.inhibitors, 10)
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        # logind (its stand-in) sees the lock go with the process that held it.
        wait_until(lambda: system_bus.inhibitors() == [], 5)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(10)


def test_a_lock_that_cannot_be_had_is_a_warning_not_a_failure(system_bus, make_engine):
    eng = make_engine(job("backup", extra="inhibit_sleep = true\n"))  # no logind on the bus
    rid = eng.submit("backup")
    run = eng.watcher.wait(rid)
    assert run["state"] == "succeeded"
    warnings = [l["message"] for l in eng.store.logs(rid) if l["level"] == "warning"]
    assert warnings and warnings[0].startswith("cannot keep the computer from sleeping: ")


def test_a_logind_that_does_not_answer_is_said_so_and_the_run_goes_on(system_bus,
                                                                      make_engine):
    # Its timeout said nothing: "logind refused or is not there ()".
    logind = system_bus.logind()
    logind._lock.acquire()  # it takes calls and answers none
    try:
        eng = make_engine(job("backup", extra="inhibit_sleep = true\n"))
        rid = eng.submit("backup")
        run = eng.watcher.wait(rid)
    finally:
        logind._lock.release()
    assert run["state"] == "succeeded"
    warnings = [l["message"] for l in eng.store.logs(rid) if l["level"] == "warning"]
    assert warnings[0] == ("cannot keep the computer from sleeping: logind did not answer "
                           "within 5 s"), warnings


# -- whole processes: the worker and the command line --------------------------------

def test_a_worker_holds_a_cli_run_when_ready_and_starts_it_on_ac(system_bus, home,
                                                                  write_config):
    upower = system_bus.upower(on_battery=True, percentage=18)
    write_config(job("backup", when="{ ac_power = true }"))
    out = trayjobs(home, "run", "backup", "--when-ready")
    assert out.returncode != 0 and "--when-ready needs trayjobs running" in out.stderr
    # A run for later waits for the worker to start, which follows its conditions then (it
    # was refused as the one for now is).
    later = int(trayjobs(home, "run", "backup", "--in", "2h", "--when-ready",
                         check=True).stdout)
    assert wait_run(home, later, "scheduled")["inputs"]["conditions"] is True
    trayjobs(home, "cancel", str(later), check=True)
    worker = start_worker(home)
    try:
        rid = int(trayjobs(home, "run", "backup", "--when-ready", check=True).stdout)
        wait_run(home, rid, "waiting")
        listed = trayjobs(home, "runs", "--state", "waiting", check=True).stdout
        assert "waiting: on battery (18 %)" in listed
        upower.plug_in()
        run = wait_run(home, rid, timeout=10)
        assert run["state"] == "succeeded"
        shown = trayjobs(home, "show", str(rid), check=True).stdout
        assert "waited:   on battery (18 %) (its conditions)" in shown
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(20)


def test_a_battery_level_never_reached_is_refused():
    # battery_above = 100 was accepted, and the job's runs waited for ever: no battery is
    # charged above 100 %.
    [err] = parse_config('[jobs.a]\nkind = "demo"\nwhen = { battery_above = 100 }\n').errors
    assert err.key == "when.battery_above" and "at most 99 (got 100)" in err.message
    assert parse_config('[jobs.a]\nkind = "demo"\nwhen = { battery_above = 99 }\n').errors == []


def test_check_notes_a_max_wait_that_has_no_condition_to_cut_short(home):
    home.config_file.write_text(
        '[jobs.bare]\nkind = "demo"\nmax_wait = "2d"\n'
        '[jobs.waits]\nkind = "demo"\nmax_wait = "2d"\nwhen = { ac_power = true }\n'
        '[jobs.off]\nkind = "demo"\nmax_wait = "2d"\nwhen = { ac_power = false }\n')
    out = trayjobs(home, "check")
    assert out.returncode == 0, out.stderr
    notes = [l for l in out.stderr.splitlines() if "max_wait" in l]
    assert [n.split("'")[1] for n in notes] == ["bare", "off"], notes
    assert notes[0] == ("note: job 'bare', key 'max_wait': its runs wait for no condition (no "
                        "'when', and no pause_on_battery or only_unmetered in [settings]), so "
                        "max_wait has nothing to cut short")
    home.config_file.write_text('[settings]\npause_on_battery = true\n'
                                '[jobs.bare]\nkind = "demo"\nmax_wait = "2d"\n')
    assert "max_wait" not in trayjobs(home, "check").stderr  # the settings' default applies


def test_a_waiting_run_of_a_job_gone_from_the_file_keeps_waiting(system_bus, make_engine,
                                                                 write_config):
    """The jobs file saved by moving it away and writing it anew, or the job's lines cut
    out to be pasted back: a run waiting for the charger does not start (and fail, its job
    unknown) the moment its job is not in the file."""
    system_bus.upower(on_battery=True, percentage=50)
    eng = make_engine(job("backup", when="{ ac_power = true }"))
    rid = eng.submit("backup", trigger="schedule")
    eng.watcher.wait(rid, "waiting")
    write_config(job("other"))
    eng.reload_config()
    time.sleep(0.5)
    run = eng.store.get_run(rid)
    assert (run["state"], run["wait_reason"]) == ("waiting", "its job is not in the jobs file")
    write_config(job("backup", when="{ ac_power = false }"))
    eng.reload_config()  # back, with conditions that hold now: it runs
    assert eng.watcher.wait(rid)["state"] == "succeeded"


def test_a_max_wait_set_while_a_run_waits_applies_to_that_run(system_bus, make_engine,
                                                             write_config, home):
    """max_wait added (or changed) in the jobs file while a run waits for the charger:
    that run goes by the new one, as `trayjobs show` then says; it kept the one it came
    due with, none here, and waited on."""
    system_bus.upower(on_battery=True, percentage=50)
    eng = make_engine(job("backup", when="{ ac_power = true }"))
    rid = eng.submit("backup", trigger="schedule")
    run = eng.watcher.wait(rid, "waiting")
    assert run["wait_until"] is None
    write_config(job("backup", when="{ ac_power = true }", extra='max_wait = "2h"\n'))
    eng.reload_config()
    assert eng.store.get_run(rid)["wait_until"] == pytest.approx(run["created_at"] + 7200)
    assert "max wait: starts anyway" in trayjobs(home, "show", str(rid)).stdout
    time.sleep(1.1)
    write_config(job("backup", when="{ ac_power = true }", extra='max_wait = "1s"\n'))
    eng.reload_config()
    run = eng.watcher.wait(rid)
    assert run["state"] == "succeeded" and "starting anyway: max_wait is 1" in run["note"]
