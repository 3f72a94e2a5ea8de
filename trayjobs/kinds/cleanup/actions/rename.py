"""``action = { rename = "{date}-{name}" }``: a new name in the same folder."""

from __future__ import annotations

import os

from pydantic import Field, field_validator

from .. import fsops
from ..templates import PLACEHOLDERS, check_template, render, template_values
from .base import Action, Item, Skip, Workspace
from .conflict import resolve
from .registry import register_action

_NAME_PLACEHOLDERS = frozenset(PLACEHOLDERS) - {"relative"}


@register_action
class RenameAction(Action):
    """Rename in place from a template."""

    name = "rename"
    done_verb = "renamed"
    plan_verb = "rename"
    removes_source = False  # it stays in its folder, under its new name: the folder is not emptied

    rename: str = Field(description="The new name, e.g. '{date} {name}' or '{stem}-old{suffix}'; "
                                    "placeholders as for move, except {relative}.")

    @field_validator("rename")
    @classmethod
    def _valid(cls, v: str) -> str:
        if "/" in v or "\\" in v:
            raise ValueError(f"rename {v!r}: a new name cannot contain '/' (use move to change folders)")
        if v.strip() in ("", ".", ".."):
            raise ValueError(f"rename {v!r} is no file's name (every file would be skipped): "
                             f"give the new name, e.g. '{{stem}}-old{{suffix}}'")
        return check_template(v, what="rename", allowed=_NAME_PLACEHOLDERS)

    def plan(self, item: Item, ws: Workspace) -> None:
        values = template_values(item.name, item.mtime, folder=item.folder, root=item.root,
                                 is_dir=item.is_dir, today=ws.today)
        new = render(self.rename, values).strip()
        if new in ("", ".", "..") or os.sep in new or (os.altsep and os.altsep in new):
            raise Skip(f"the template gives no usable name ({new!r})")
        resolve(item, os.path.join(item.folder, new), ws)

    def apply(self, item: Item, ws: Workspace) -> None:
        fd = ws.at(item)
        fsops.rename_noreplace(item.name, os.path.basename(item.dest), src_dir_fd=fd, dst_dir_fd=fd)

    def describe(self) -> str:
        return f"rename to {self.rename}"
