"""``action = { copy = "~/Backup/{relative}" }``: a copy elsewhere, the original stays."""

from __future__ import annotations

import os

from pydantic import Field, field_validator

from .. import fsops
from .base import Action, Item, Workspace
from .conflict import resolve
from .move import FOLDER_HELP, destination_folder, folder_template, make_parent
from .registry import register_action


@register_action
class CopyAction(Action):
    """Copy into another folder; links are copied as links."""

    name = "copy"
    done_verb = "copied"
    plan_verb = "copy"
    removes_source = False

    copy_: str = Field(alias="copy", description=FOLDER_HELP)

    @field_validator("copy_")
    @classmethod
    def _valid(cls, v: str) -> str:
        return folder_template(v, "copy")

    def plan(self, item: Item, ws: Workspace) -> None:
        resolve(item, os.path.join(destination_folder(self.copy_, item, ws), item.name), ws)

    def apply(self, item: Item, ws: Workspace) -> None:
        make_parent(item.dest, ws)
        fsops.copy_at(ws.at(item), item.name, ws.fd(os.path.dirname(item.dest)), os.path.basename(item.dest),
                      dev=item.dev)

    def destination(self) -> str:
        return self.copy_

    def describe(self) -> str:
        return f"copy to {self.copy_}"
