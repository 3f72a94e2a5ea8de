"""What every action is: a params model that plans, then applies, one item.

``plan`` decides the destination without touching anything (it is all a
preview runs); ``apply`` does it. The runner journals an item between the
two, so an action never needs to know about the journal, the preview or
progress.
"""

from __future__ import annotations

import os
import stat
import time
from dataclasses import dataclass, field
from typing import ClassVar

from ..dirs import Changed, Folders, LinkInTheWay
from ..fsops import make_dirs
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
    ino: int = 0
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
    #: the locations (and, for undo, ``/``): folders in them are reached without following links
    places: Folders = field(default_factory=Folders)
    #: the fixed part of each destination: below it, again no link is followed
    dests: Folders = field(default_factory=Folders)
    resolved: dict[str, str] = field(default_factory=dict)  # a destination's fixed folder -> real path
    _open: dict[str, int] = field(default_factory=dict)
    _later: set[str] = field(default_factory=set)  # trusted, made when first needed
    _way: dict[str, tuple[str, ...] | None] = field(default_factory=dict)  # check_way's findings

    def trust(self, folder: str) -> None:
        """Trust a destination's fixed folder; made (like ``mkdir -p``) when something first goes there."""
        if os.path.isdir(folder):
            self.dests.add(folder, same_device=False)
        else:
            self._later.add(folder)

    def fd(self, folder: str, *, create: bool = False) -> int:
        """The folder, opened from a trusted base one name at a time (kept open until :meth:`release`)."""
        fd = self._open.get(folder)
        if fd is None:
            for later in [f for f in self._later if create and (folder == f or folder.startswith(f + os.sep))]:
                try:
                    self.made_dirs.extend(make_dirs(later))  # the folder the user named, made by path
                except (FileExistsError, NotADirectoryError):
                    raise LinkInTheWay(*(_file_on_the_way(later) or (later, "not a folder", "move it away or change the destination"))) from None
                self.dests.add(later, same_device=False)
                self._later.discard(later)
            place, dest = self.places.base_of(folder), self.dests.base_of(folder)
            # the nearest trusted folder wins; with neither, ``places`` uses its fallback or refuses
            which = self.dests if dest is not None and (place is None or len(dest) > len(place)) else self.places
            fd = which.open(folder, create=create, made=self.made_dirs)
            self._open[folder] = fd
        return fd

    def check_way(self, folder: str) -> None:
        """For a preview, which opens and makes nothing: :class:`LinkInTheWay` if a link or a
        file stands on the way to ``folder`` below its trusted folder, as :meth:`fd` would
        raise it in the run. Found with ``lstat`` alone, once per folder."""
        if folder not in self._way:
            self._way[folder] = self._in_the_way(folder)
        found = self._way[folder]
        if found is not None:
            raise LinkInTheWay(*found)

    def _in_the_way(self, folder: str) -> tuple[str, ...] | None:
        place, dest = self.places.base_of(folder), self.dests.base_of(folder)
        base = dest if dest is not None and (place is None or len(dest) > len(place)) else place
        if base is None:  # made when first needed, or refused by the run itself
            later = next((f for f in self._later if folder == f or folder.startswith(f + os.sep)),
                         None)
            return None if later is None else _file_on_the_way(later)
        here = base
        for part in os.path.relpath(folder, base).split(os.sep):
            if part in ("", "."):
                continue
            here = os.path.join(here, part)
            try:
                st = os.lstat(here)
            except OSError:
                return None  # not there yet: the run makes it
            if not stat.S_ISDIR(st.st_mode):
                return here, "a link, not a folder" if stat.S_ISLNK(st.st_mode) else "not a folder"
        return None

    def at(self, item: "Item") -> int:
        """The folder of ``item``, after checking that ``item`` is still what was scanned there."""
        fd = self.fd(item.folder)
        if item.ino:
            st = os.lstat(item.name, dir_fd=fd)
            if (st.st_ino, st.st_dev) != (item.ino, item.dev):
                raise Changed(item.path)
        return fd

    def release(self) -> None:
        for fd in self._open.values():
            os.close(fd)
        self._open.clear()

    def close(self) -> None:
        self.release()
        self.places.close()
        self.dests.close()


class Action(Spec):
    #: the key (or bare string) naming the action in a job
    name: ClassVar[str]
    #: for the summary and the preview: "trashed" / "trash"
    done_verb: ClassVar[str]
    plan_verb: ClassVar[str]
    #: the item leaves its place (it no longer counts towards its folder)
    removes_source: ClassVar[bool] = True
    #: the destination template names a file (an archive), not a folder
    destination_is_file: ClassVar[bool] = False

    def plan(self, item: Item, ws: Workspace) -> None:
        """Set ``item.dest`` (and ``item.replaces``) or raise :class:`Skip`."""

    def apply(self, item: Item, ws: Workspace) -> None:
        """Do the planned action on ``item``. Actions done item by item override this;
        archive writes one zip for the whole run instead and never comes here."""
        raise TypeError(f"the {self.name} action is not applied item by item")

    def describe(self) -> str:
        return self.plan_verb

    def destination(self) -> str | None:
        """The destination template of actions that put items somewhere else."""
        return None


def _file_on_the_way(folder: str) -> tuple[str, str, str] | None:
    """The file (or other non-folder) that keeps the destination ``folder`` from being made
    (``mkdir -p`` would stop at it), and what it is; None if nothing does."""
    here = folder
    while not os.path.lexists(here):
        up = os.path.dirname(here)
        if up == here:
            return None
        here = up
    if os.path.isdir(here):  # a link to a folder in the fixed part is the user's own choice
        return None
    return (here, "a file, not a folder" if os.path.isfile(here) else "not a folder",
            "move it away or change the destination")


def item_from_stat(path: str, root: str, st: os.stat_result, *, is_dir: bool, is_link: bool) -> Item:
    return Item(path=path, name=os.path.basename(path), folder=os.path.dirname(path), root=root,
                is_dir=is_dir, is_link=is_link, size=st.st_size, mtime=st.st_mtime,
                mtime_ns=st.st_mtime_ns, dev=st.st_dev, ino=st.st_ino)
