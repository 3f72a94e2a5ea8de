"""What every action is: a params model that plans, then applies, one item.

``plan`` decides the destination without touching anything (it is all a
preview runs); ``apply`` does it. The runner journals an item between the
two, so an action never needs to know about the journal, the preview or
progress.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import ClassVar

from ..freedesktop import Trashed, Trasher
from ..spec import Spec

__all__ = ["Action", "Item", "Skip", "Workspace"]


class Skip(Exception):
    """This item is left alone, for the reason given (``"in use"``, ``"already exists"``)."""


@dataclass(slots=True, eq=False)
class Item:
    """One file, link or folder the job acts on."""

    path: str
    name: str
    folder: str            # the folder it is in
    root: str              # the location it was found in
    is_dir: bool
    is_link: bool
    size: int
    mtime: float
    mtime_ns: int
    dev: int
    action: str = ""
    dest: str | None = None
    slot: Trashed | None = None      # trash: the reserved place in the trash
    replaces: "Item | None" = None   # overwrite: what is at the destination, trashed first
    note: str | None = None
    seq: int = 0


@dataclass
class Workspace:
    """Run-wide state shared by the actions."""

    conflict: str
    dry_run: bool
    trasher: Trasher = field(default_factory=Trasher)
    today: str = field(default_factory=lambda: time.strftime("%Y-%m-%d"))
    claimed: set[str] = field(default_factory=set)   # destinations taken by this run
    made_dirs: list[str] = field(default_factory=list)


class Action(Spec):
    #: the key (or bare string) naming the action in a job
    name: ClassVar[str]
    #: for the summary and the preview: "trashed" / "trash"
    done_verb: ClassVar[str]
    plan_verb: ClassVar[str]
    #: the item leaves its place (it no longer counts towards its folder)
    removes_source: ClassVar[bool] = True

    def plan(self, item: Item, ws: Workspace) -> None:
        """Set ``item.dest`` (and ``item.replaces``) or raise :class:`Skip`."""

    def apply(self, item: Item, ws: Workspace) -> None:
        """Do the planned action on ``item``. Actions done item by item override this;
        archive writes one zip for the whole run instead and never comes here."""
        raise TypeError(f"the {self.name} action is not applied item by item")

    def describe(self) -> str:
        return self.plan_verb


def item_from_stat(path: str, root: str, st: os.stat_result, *, is_dir: bool, is_link: bool) -> Item:
    return Item(path=path, name=os.path.basename(path), folder=os.path.dirname(path), root=root,
                is_dir=is_dir, is_link=is_link, size=st.st_size, mtime=st.st_mtime,
                mtime_ns=st.st_mtime_ns, dev=st.st_dev)
