"""``action = { move = "~/Archive/{year}/{month}" }``: into a folder made from a template."""

from __future__ import annotations

import os

from pydantic import Field, field_validator

from .. import fsops
from ..templates import PLACEHOLDERS, check_template, render, template_values
from .base import Action, Item, Workspace
from .conflict import resolve
from .registry import register_action

FOLDER_HELP = ("Destination folder; may use placeholders such as {year}, {month}, {ext} "
               "(see the docs). A relative folder is taken inside the item's location.")


def destination_folder(template: str, item: Item, ws: Workspace) -> str:
    values = template_values(item.name, item.mtime, folder=item.folder, root=item.root,
                             is_dir=item.is_dir, today=ws.today)
    # ~ and $VARS are the template's own; a file called "$HOME" must stay a name
    folder = render(os.path.expandvars(os.path.expanduser(template)), values)
    if not os.path.isabs(folder):
        folder = os.path.join(item.root, folder)
    return os.path.normpath(folder)


def make_parent(path: str, ws: Workspace) -> None:
    ws.made_dirs.extend(fsops.make_dirs(os.path.dirname(path)))


def folder_template(v: str, what: str) -> str:
    return check_template(v, what=what, allowed=frozenset(PLACEHOLDERS))


@register_action
class MoveAction(Action):
    """Move into another folder (which may be outside the locations)."""

    name = "move"
    done_verb = "moved"
    plan_verb = "move"

    move: str = Field(description=FOLDER_HELP)

    @field_validator("move")
    @classmethod
    def _valid(cls, v: str) -> str:
        return folder_template(v, "move")

    def plan(self, item: Item, ws: Workspace) -> None:
        resolve(item, os.path.join(destination_folder(self.move, item, ws), item.name), ws)

    def apply(self, item: Item, ws: Workspace) -> None:
        make_parent(item.dest, ws)
        fsops.move(item.path, item.dest)

    def describe(self) -> str:
        return f"move to {self.move}"
