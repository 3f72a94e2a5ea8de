"""``action = "delete"``: gone for good; only when a job names it."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..fsops import remove
from .base import Action, Item, Workspace
from .registry import register_action


@register_action
class DeleteAction(Action):
    """Delete permanently (folders with all they hold); cannot be undone."""

    name = "delete"
    done_verb = "deleted"
    plan_verb = "delete"

    delete: Literal[True] = Field(True, description="Delete matching items permanently, without the trash.")

    def apply(self, item: Item, ws: Workspace) -> None:
        remove(item.path)

    def describe(self) -> str:
        return "delete permanently"
