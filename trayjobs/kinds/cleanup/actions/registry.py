"""The actions a job may name, by key."""

from __future__ import annotations

from .base import Action

__all__ = ["ACTIONS", "register_action"]

ACTIONS: dict[str, type[Action]] = {}


def register_action(cls: type[Action]) -> type[Action]:
    if cls.name in ACTIONS:
        raise ValueError(f"action {cls.name!r} is registered twice")
    ACTIONS[cls.name] = cls
    return cls
