"""Actions: one small module each, registered by the key a job uses for them.

``ActionSpec`` is the pydantic type of a job's ``action``: a bare string for
the actions that need nothing more (``"trash"``, ``"delete"``), otherwise a
table naming the action, e.g. ``{ move = "~/Archive/{year}" }``.
"""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import BeforeValidator, Discriminator, Tag

from . import archive, copy, delete, move, rename, trash  # noqa: F401  (they register themselves)
from .base import Action, Item, Skip, Workspace
from .registry import ACTIONS

__all__ = ["ACTIONS", "Action", "ActionSpec", "Item", "Skip", "Workspace"]

_BARE = ("trash", "delete")


def _shorthand(value: Any) -> Any:
    if isinstance(value, str):
        if value in _BARE:
            return {value: True}
        if value in ACTIONS:
            raise ValueError(f"action {value!r} needs a target, e.g. action = {{ {value} = \"~/Archive/{{year}}\" }}")
        raise ValueError(f"unknown action {value!r}; use \"trash\", \"delete\" or a table naming one of: "
                         + ", ".join(sorted(ACTIONS)))
    return value


def _which(value: Any) -> str | None:
    if isinstance(value, Action):
        return value.name
    if isinstance(value, dict):
        keys = [k for k in value if k in ACTIONS]
        return keys[0] if len(keys) == 1 else None
    return None


ActionSpec = Annotated[
    Annotated[
        Union[tuple(Annotated[cls, Tag(key)] for key, cls in ACTIONS.items())],
        Discriminator(_which, custom_error_type="action",
                      custom_error_message="an action is \"trash\", \"delete\" or a table naming exactly one of: "
                      + ", ".join(sorted(ACTIONS)) + ", e.g. { move = \"~/Archive/{year}\" }"),
    ],
    BeforeValidator(_shorthand),
]
