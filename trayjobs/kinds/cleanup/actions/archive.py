"""``action = { archive = "~/Archive/{today}.zip" }``: into a zip, then the originals to the trash.

Archiving works on a whole group at once: the runner collects the items for
each zip while it scans, then :func:`write_zip` builds the archive under a
hidden temporary name and the runner renames it into place, so a zip is
either complete or absent. Only then are the originals trashed.
"""

from __future__ import annotations

import os
import shutil
import stat
import time
import zipfile
from typing import BinaryIO, Callable, Literal

from pydantic import Field, field_validator

from ..dirs import Changed, MountInTheWay, crosses_mount, display
from .. import fsops
from ..templates import check_destination
from .base import Action, Item, Skip, Workspace
from .conflict import fits, not_inside_itself
from .move import destination_folder
from .registry import register_action

# Already compressed: storing them as they are saves time and loses nothing.
_STORED = frozenset(
    ".zip .gz .tgz .bz2 .xz .zst .7z .rar .jpg .jpeg .png .gif .webp .heic .avif .mp3 .m4a .aac "
    ".ogg .opus .flac .mp4 .m4v .mov .mkv .avi .webm .docx .xlsx .pptx .odt .ods .odp .epub .dmg .jar".split())


@register_action
class ArchiveAction(Action):
    """Add to a zip archive (one per distinct rendered path), then trash the originals."""

    name = "archive"
    destination_is_file = True
    done_verb = "archived"
    plan_verb = "archive"

    archive: str = Field(description="Path of the zip to create, e.g. '~/Archive/old-{today}.zip'; "
                                     "placeholders as for move ({year}, {month} group by file date). "
                                     "A relative path is taken inside the item's location.")
    originals: Literal["trash", "keep"] = Field("trash", description="What to do with the originals once "
                                                                    "they are safely in the archive.")

    @field_validator("archive")
    @classmethod
    def _valid(cls, v: str) -> str:
        return check_destination(v, what="archive")

    @property
    def removes_source(self) -> bool:  # type: ignore[override]
        return self.originals == "trash"

    def plan(self, item: Item, ws: Workspace) -> None:
        if item.is_link:
            raise Skip("links are not archived")
        target = destination_folder(self.archive, item, ws, file=True)
        if not target.lower().endswith(".zip"):
            target += ".zip"
        not_inside_itself(item, target)
        fits(target)
        item.dest = target
        rel = os.path.relpath(item.path, item.root)
        item.note = rel.replace(os.sep, "/")

    def destination(self) -> str:
        return self.archive

    def describe(self) -> str:
        then = "then trash the originals" if self.originals == "trash" else "keep the originals"
        return f"archive into {self.archive}, {then}"


def _unique_arcname(name: str, used: set[str]) -> str:
    stem, suffix = os.path.splitext(name)
    n, candidate = 1, name
    while candidate in used:
        candidate = f"{stem} ({n}){suffix}"
        n += 1
    used.add(candidate)
    return candidate


def _info(arcname: str, st: os.stat_result) -> zipfile.ZipInfo:
    when = max(time.localtime(st.st_mtime)[:6], (1980, 1, 1, 0, 0, 0))
    info = zipfile.ZipInfo(arcname, when)
    info.external_attr = (st.st_mode & 0xFFFF) << 16
    return info


def _add_file(zf: zipfile.ZipFile, dir_fd: int, name: str, arcname: str, expect: tuple[int, int] | None) -> None:
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
    with open(fd, "rb") as fh:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or (expect and (st.st_ino, st.st_dev) != expect):
            raise Changed(name)
        info = _info(arcname, st)
        info.compress_type = zipfile.ZIP_STORED if os.path.splitext(name)[1].lower() in _STORED \
            else zipfile.ZIP_DEFLATED
        with zf.open(info, "w", force_zip64=st.st_size > (1 << 31)) as out:
            shutil.copyfileobj(fh, out, 1 << 20)


def _add_link(zf: zipfile.ZipFile, dir_fd: int, name: str, arcname: str, st: os.stat_result) -> None:
    """A link kept as a link, as ``zip --symlinks`` stores one (its target as the content, its
    mode saying it is a link): ``unzip`` makes it a link again. Never followed."""
    info = _info(arcname, st)
    info.create_system = 3  # Unix, whose mode bits say "link"
    zf.writestr(info, os.fsencode(os.readlink(name, dir_fd=dir_fd)))


def _add_folder(zf: zipfile.ZipFile, dir_fd: int, name: str, arcname: str, dev: int, depth: int = 0) -> None:
    if depth > fsops.MAX_NESTING:
        raise fsops.TooDeep(name)
    fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    try:
        st = os.fstat(fd)
        if st.st_dev != dev or crosses_mount(dir_fd, fd):  # a bind mount keeps st_dev
            if depth:
                return  # a mount point inside is never crossed
            raise MountInTheWay(name)
        info = _info(arcname + "/", st)
        info.external_attr |= 0x10
        zf.writestr(info, b"")
        for child in sorted(os.listdir(fd)):
            cst = os.lstat(child, dir_fd=fd)
            if stat.S_ISDIR(cst.st_mode):
                if cst.st_dev == dev:  # a mount point inside is never crossed
                    _add_folder(zf, fd, child, f"{arcname}/{display(child)}", dev, depth + 1)
            elif stat.S_ISREG(cst.st_mode):
                _add_file(zf, fd, child, f"{arcname}/{display(child)}", None)
            elif stat.S_ISLNK(cst.st_mode):  # the folder is trashed whole: its links go in too
                _add_link(zf, fd, child, f"{arcname}/{display(child)}", cst)
            # pipes and sockets hold no data; they go to the trash with their folder
    finally:
        os.close(fd)


def _take_back(zf: zipfile.ZipFile, fh: BinaryIO, entries: int, offset: int) -> None:
    """Drop what an item that failed half-way wrote (the first files of a folder, part of a
    file): the zip then holds only items that went in whole, and those the run reports."""
    for info in zf.filelist[entries:]:
        zf.NameToInfo.pop(info.filename, None)
    del zf.filelist[entries:]
    fh.seek(offset)
    fh.truncate()
    zf.start_dir = offset  # where the next entry, or the closing directory, is written


def write_zip(fh: BinaryIO, items: list[Item], ws: Workspace, *,
              between: Callable[[], None]) -> list[tuple[Item, OSError]]:
    """Write ``items`` into a new zip in ``fh``; returns the items that could not be read.

    Every item is read through its folder's descriptor, checked to be the file that was
    scanned, and never through a link."""
    failed: list[tuple[Item, OSError]] = []
    used: set[str] = set()
    with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for item in items:
            between()
            arcname = _unique_arcname(display(item.note or item.name), used)  # zip names must be text
            item.note = arcname
            mark = len(zf.filelist), fh.tell()
            try:
                fd = ws.at(item)
                if item.is_dir:
                    _add_folder(zf, fd, item.name, arcname, item.dev)
                else:
                    _add_file(zf, fd, item.name, arcname, (item.ino, item.dev))
            except OSError as exc:
                _take_back(zf, fh, *mark)
                failed.append((item, exc))
    fh.flush()
    os.fsync(fh.fileno())
    return failed
