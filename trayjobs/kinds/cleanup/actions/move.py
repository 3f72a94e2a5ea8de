"""``action = { move = "~/Archive/{year}/{month}" }``: into a folder made from a template."""

from __future__ import annotations

import os

from pydantic import Field, field_validator

from .. import fsops
from ..dirs import LinkInTheWay
from ..templates import (PLACEHOLDERS, check_destination, check_template, expand_literal, fixed_folder,  # noqa: F401
                         render, split_destination, template_values)
from .base import Action, Item, Skip, Workspace
from .conflict import resolve
from .registry import register_action

FOLDER_HELP = ("Destination folder; may use placeholders such as {year}, {month}, {ext} "
               "(see the docs). A relative folder is taken inside the item's location "
               "(also when it starts with a placeholder, such as '{relative}/old').")


def destination_folder(template: str, item: Item, ws: Workspace, *, file: bool = False) -> str:
    """Where ``template`` puts ``item``: below the template's fixed folder (resolved once per run
    by :func:`trust_destination` when it is not inside the location). What the placeholders add
    can never climb out of that folder."""
    values = template_values(item.name, item.mtime, folder=item.folder, root=item.root,
                             is_dir=item.is_dir, today=ws.today)
    expanded = expand_literal(template)
    raw, fixed = split_destination(template, file=file)
    fixed = os.path.normpath(os.path.join(item.root, fixed))
    base = fixed if _within(fixed, item.root) else ws.resolved.get(fixed) or os.path.realpath(fixed)
    rest = render(expanded, values)[len(raw):]  # parse() gave raw with braces unescaped, as rendered
    parts = [p for p in rest.replace("\\", "/").split("/") if p and p != "."]
    if ".." in parts:
        raise Skip("the destination would leave its folder")
    target = os.path.join(base, *parts)
    if ws.dry_run:  # what the run would meet on the way there, the preview says too
        ws.check_way(os.path.dirname(target) if file else target)
    return target


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def trust_destination(template: str, root: str, ws: Workspace, *, file: bool = False) -> str | None:
    """Resolve a destination's fixed folder once, when it is outside the location ``root`` (the
    links in what the user named are the user's own choice), and make it the only way in:
    below it, as below a location, no link is followed. Returns that real folder, if any."""
    fixed = fixed_folder(template, root, file=file)
    if _within(fixed, root):
        return None
    real = ws.resolved.get(fixed)
    if real is None:
        real = ws.resolved[fixed] = os.path.realpath(fixed)
        ws.trust(real)
    return real


def make_parent(path: str, ws: Workspace) -> None:
    """Open (making it if needed) the folder ``path`` goes into, through no link."""
    try:
        ws.fd(os.path.dirname(path), create=True)
    except LinkInTheWay as exc:
        raise Skip(f"the destination {exc.strerror}") from None


def folder_template(v: str, what: str) -> str:
    return check_destination(v, what=what)


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
        fsops.move_at(ws.at(item), item.name, ws.fd(os.path.dirname(item.dest)), os.path.basename(item.dest),
                      dev=item.dev)

    def destination(self) -> str:
        return self.move

    def describe(self) -> str:
        return f"move to {self.move}"
