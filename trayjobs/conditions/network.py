"""``network = "online" | "unmetered" | "any"``: read from NetworkManager.

Online is NetworkManager's own verdict: full connectivity, or, where it does not
check connectivity, a global connection (``State`` 70). Unmetered looks at every
active connection, not only the primary one: a laptop docked on ethernet with a
phone hotspot still up is on a metered network. A connection counts as metered when
NetworkManager says so or guesses so (``Metered`` yes or guess-yes: a phone's hotspot
announces itself and NetworkManager guesses from that); one it knows nothing about
counts as unmetered, and so does every wired one unless it was marked metered by hand.
"""

from __future__ import annotations

from typing import Any, Literal

from .base import MET, Condition, Facts, Verdict

__all__ = ["Network", "METERED_YES", "CONNECTED_GLOBAL", "CONNECTIVITY_FULL"]

#: NMMetered values that mean metered: yes, guess-yes.
METERED_YES = (1, 3)
#: NMState: a connection to the internet.
CONNECTED_GLOBAL = 70
#: NMConnectivityState: none 1, portal 2, limited 3, full 4 (0: unknown, not checked).
CONNECTIVITY_FULL = 4
_CONNECTIVITY_WORDS = {1: "no network", 2: "behind a login page (captive portal)",
                       3: "limited connectivity, no internet"}
_WIRED = ("802-3-ethernet",)


def online(net: dict[str, Any]) -> tuple[bool, str]:
    connectivity = net.get("connectivity") or 0
    if connectivity == CONNECTIVITY_FULL:
        return True, ""
    if connectivity == 0 and (net.get("state") or 0) >= CONNECTED_GLOBAL:
        return True, ""  # connectivity checking is off: trust the state
    return False, f"offline ({_CONNECTIVITY_WORDS.get(connectivity, 'not connected')})"


def metered_connections(net: dict[str, Any]) -> list[str]:
    """The names of the active connections that are metered."""
    found = []
    for conn in net.get("connections") or []:
        metered = conn.get("metered") in METERED_YES
        if metered:
            found.append(conn.get("id") or conn.get("type") or "a connection")
    if not found and net.get("metered") in METERED_YES and not any(
            c.get("type") in _WIRED for c in net.get("connections") or []):
        found.append("the main connection")  # said of the whole, not of one connection
    return found


class Network(Condition):
    key = "network"
    annotation = Literal["online", "unmetered", "any"]
    description = ('"online": only with an internet connection; "unmetered": and none of '
                   'the active connections is metered (a phone hotspot, a mobile '
                   'connection); "any": whatever the setting `only_unmetered` says.')
    source = "network"

    def active(self, value: Any) -> bool:
        return value in ("online", "unmetered")

    def check(self, value: Any, facts: Facts, now: float) -> Verdict:
        net = facts.get("network")
        if net is None:
            return Verdict(None, f"network state unknown: {facts.why_unknown('network')}")
        ok, why = online(net)
        if not ok:
            return Verdict(False, why)
        if value == "unmetered":
            metered = metered_connections(net)
            if metered:
                return Verdict(False, f"on a metered connection ({', '.join(metered)})")
        return MET

    def describe(self, value: Any) -> str:
        return "on an unmetered network" if value == "unmetered" else "online"
