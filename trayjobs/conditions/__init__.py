"""Run conditions: a job's ``when`` table says under which circumstances its runs may
start (on AC power, battery above N %, an unmetered network, the user idle, a path
present, the CPU not busy).

The core decides with :func:`evaluate` from the :class:`~.base.Facts` that
:class:`~.system.SystemWatch` keeps from the desktop's own services (UPower,
NetworkManager, logind on the system bus); the engine holds due runs whose conditions
do not hold in the state ``waiting`` and starts them as soon as a service says
something changed. Settings give defaults that every job inherits
(``pause_on_battery``, ``only_unmetered``) and a job's own ``when`` overrides.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .base import MET, Condition, Facts, Verdict
from .registry import CONDITIONS, condition_keys, get_condition

__all__ = ["Condition", "Facts", "Verdict", "MET", "CONDITIONS", "Decision", "condition_keys",
           "get_condition", "effective", "evaluate", "describe", "sources", "said"]


@dataclass(frozen=True)
class Decision:
    """What the conditions of one run say now."""

    #: The run must wait.
    wait: bool
    #: Why it waits (or, when it may run, what could not be told), in words.
    reason: str = ""
    #: Conditions that could not be told (their reasons), whether or not the run waits.
    unknown: tuple[str, ...] = ()
    #: When to look again although no service said anything (an idle time running out,
    #: a condition without signals); None: only when something is said.
    recheck_at: float | None = None


def effective(when: dict[str, Any], *, pause_on_battery: bool = False,
              only_unmetered: bool = False) -> dict[str, Any]:
    """The conditions a job's runs wait for: the settings' defaults, overridden by the
    job's own ``when`` (``ac_power = false``, ``network = "any"`` turn a default off),
    keeping only those that ask for something."""
    merged: dict[str, Any] = {}
    if pause_on_battery:
        merged["ac_power"] = True
    if only_unmetered:
        merged["network"] = "unmetered"
    merged.update({k: v for k, v in when.items() if v is not None})
    return {k: v for k, v in merged.items() if k in CONDITIONS and CONDITIONS[k].active(v)}


def sources(conditions: dict[str, Any]) -> set[str]:
    """The fact sources these conditions read."""
    return {CONDITIONS[k].source for k in conditions if CONDITIONS[k].source}


def evaluate(conditions: dict[str, Any], facts: Facts, now: float, *,
             when_unknown: str = "run") -> Decision:
    """Whether a run with these (effective) conditions may start now; ``when_unknown``
    (``run`` or ``wait``) decides for conditions that no service can tell."""
    unmet: list[str] = []
    unknown: list[str] = []
    rechecks: list[float] = []
    for key, value in conditions.items():
        cond = CONDITIONS[key]
        verdict = cond.check(value, facts, now)
        if verdict.met is None:
            unknown.append(verdict.reason)
        elif not verdict.met:
            unmet.append(verdict.reason)
            if verdict.recheck_at is not None:
                rechecks.append(verdict.recheck_at)
            if cond.recheck is not None:
                rechecks.append(now + cond.recheck)
        if verdict.met is None and cond.recheck is not None:
            rechecks.append(now + cond.recheck)
    wait = bool(unmet) or (bool(unknown) and when_unknown == "wait")
    reasons = unmet + (unknown if when_unknown == "wait" else [])
    return Decision(wait=wait, reason=said(reasons) if wait else said(unknown),
                    unknown=tuple(unknown), recheck_at=min(rechecks) if rechecks else None)


def said(reasons: list[str] | tuple[str, ...]) -> str:
    """Reasons in one line; those unknown for one cause name it once: "power state,
    battery level and idle time unknown: no system bus" (each said it again)."""
    parts: list[list[str]] = []  # [cause, what, what...]; [reason] for one without a cause
    by_cause: dict[str, list[str]] = {}
    for reason in reasons:
        what, sep, why = reason.partition(" unknown: ")
        if not sep:
            parts.append([reason])
        elif why in by_cause:
            by_cause[why].append(what)
        else:
            by_cause[why] = [why, what]
            parts.append(by_cause[why])
    said_parts = []
    for cause, *whats in parts:
        if not whats:
            said_parts.append(cause)
            continue
        listed = whats[0] if len(whats) == 1 else f"{', '.join(whats[:-1])} and {whats[-1]}"
        said_parts.append(f"{listed} unknown: {cause}")
    return "; ".join(said_parts)


def describe(conditions: dict[str, Any]) -> str:
    """The conditions in words: "on AC power, battery above 30 %"."""
    return ", ".join(CONDITIONS[k].describe(v) for k, v in conditions.items())
