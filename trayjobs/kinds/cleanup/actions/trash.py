"""``action = "trash"`` (the default): into the desktop's trash, restorable by undo."""

from __future__ import annotations

import sys
from typing import Literal

from pydantic import Field

from ..freedesktop import release
from .base import Action, Item, Workspace
from .registry import register_action

# Where the freedesktop trash is the desktop's trash we write it ourselves: we
# then know where each item went (for undo) and it is several times faster.
FREEDESKTOP = sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd", "dragonfly"))


def reserve(item: Item, ws: Workspace) -> None:
    """Claim the item's place in the trash (its ``.trashinfo``) before the journal records it."""
    if FREEDESKTOP:
        item.slot = ws.trasher.reserve(item.path, item.dev)
        item.dest = item.slot.path


def unreserve(item: Item) -> None:
    if item.slot is not None:
        release(item.slot)
        item.slot = None


def send_to_trash(item: Item, ws: Workspace) -> None:
    if item.slot is not None:
        ws.trasher.commit(ws.at(item), item.name, item.slot)
    else:
        from send2trash import send2trash  # other platforms: their own trash, no undo from here

        send2trash(item.path)


@register_action
class TrashAction(Action):
    """Move to the trash; undo puts it back."""

    name = "trash"
    done_verb = "trashed"
    plan_verb = "trash"

    trash: Literal[True] = Field(True, description="Move matching items to the trash.")

    def plan(self, item: Item, ws: Workspace) -> None:
        item.dest = None  # known once the trash has given it a name

    def apply(self, item: Item, ws: Workspace) -> None:
        send_to_trash(item, ws)
