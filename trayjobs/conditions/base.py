"""The shape every run condition has, and what checking one says.

A condition is a small class behind the registry (:mod:`.registry`): the key it is
written under in a job's ``when`` table, the type of its value, and ``check``, which
reads the :class:`Facts` (what the desktop's services last said) and gives a
:class:`Verdict`: met, not met (with the reason in words), or unknown (no service
answers for it).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

__all__ = ["Condition", "Verdict", "Facts", "MET"]


@dataclass(frozen=True)
class Verdict:
    #: True: met; False: not met; None: cannot be told (see ``reason``).
    met: bool | None
    #: Why it is not met, or why it is unknown, in words ("on battery (18 %)").
    reason: str = ""
    #: When it may be met without any service saying so (an idle time running out).
    recheck_at: float | None = None


MET = Verdict(True)


@dataclass
class Facts:
    """What the system services said last, by source (``power``, ``network``, ``idle``);
    a source missing from ``known`` is unknown, ``unknown[source]`` says why."""

    known: dict[str, dict[str, Any]] = field(default_factory=dict)
    unknown: dict[str, str] = field(default_factory=dict)

    def get(self, source: str) -> dict[str, Any] | None:
        return self.known.get(source)

    def why_unknown(self, source: str) -> str:
        return self.unknown.get(source) or f"nothing has told the {source} state yet"


class Condition(ABC):
    """One key of a job's ``when`` table."""

    #: The key in ``when = { ... }``.
    key: ClassVar[str]
    #: The value's type, as pydantic validates it (constraints included).
    annotation: ClassVar[Any]
    #: One line for the reference and the job editor.
    description: ClassVar[str]
    #: The fact source it reads (``power``, ``network``, ``idle``), or None: it looks at
    #: the machine itself each time it is checked.
    source: ClassVar[str | None] = None
    #: Seconds between looks while a run waits on it, for a condition that no service
    #: announces changes of (None: the service's signals are followed).
    recheck: ClassVar[float | None] = None

    def active(self, value: Any) -> bool:
        """Whether ``value`` asks for anything (``ac_power = false`` does not: it only
        overrides the setting that pauses jobs on battery)."""
        return value is not None and value is not False

    @abstractmethod
    def check(self, value: Any, facts: Facts, now: float) -> Verdict:
        """Whether ``value`` holds given ``facts`` (what the services say) at ``now``."""

    @abstractmethod
    def describe(self, value: Any) -> str:
        """The condition in words, e.g. "on AC power"."""
