"""``action = "delete"``: gone for good; only when a job names it."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

import os

from ..dirs import display
from ..fsops import removal_problems, remove_at
from .base import Action, Item, Workspace
from .registry import register_action


class NotDeleted(OSError):
    """Checked first: the folder cannot be deleted whole, so nothing in it was deleted."""

    def __init__(self, problems: list[str]) -> None:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        super().__init__(f"nothing deleted: {'; '.join(display(p) for p in problems[:3])}{more}")
        self.problems = problems


class PartlyDeleted(OSError):
    """Failed half-way despite the check (the disk changed meanwhile): says what went and what stayed."""

    def __init__(self, item: Item, removed: list[str], failed: list[tuple[str, OSError]]) -> None:
        super().__init__(f"partly deleted: {len(removed):,} removed, {len(failed):,} could not be "
                         f"({failed[0][1].strerror or failed[0][1]})")
        self.item, self.removed, self.failed = item, removed, failed


@register_action
class DeleteAction(Action):
    """Delete permanently (folders with all they hold); cannot be undone."""

    name = "delete"
    done_verb = "deleted"
    plan_verb = "delete"

    delete: Literal[True] = Field(True, description="Delete matching items permanently, without the trash.")

    def apply(self, item: Item, ws: Workspace) -> None:
        fd = ws.at(item)
        if not item.is_dir or item.is_link:
            os.unlink(item.name, dir_fd=fd)
            return
        # a folder goes whole or not at all: check everything first, never cross a mount point
        problems = removal_problems(fd, item.name, dev=item.dev)
        if problems:
            raise NotDeleted(problems)
        removed: list[str] = []
        failed: list[tuple[str, OSError]] = []
        remove_at(fd, item.name, dev=item.dev, removed=removed, failed=failed)
        if failed:
            raise PartlyDeleted(item, removed, failed)

    def describe(self) -> str:
        return "delete permanently"
