"""``action = { archive = "~/Archive/{today}.zip" }``: into a zip, then the originals to the trash.

Archiving works on a whole group at once: the runner collects the items for
each zip while it scans, then :func:`write_zip` builds the archive under a
hidden temporary name and the runner renames it into place, so a zip is
either complete or absent. Only then are the originals trashed.
"""

from __future__ import annotations

import os
import zipfile
from typing import Callable, Literal

from pydantic import Field, field_validator

from ..templates import PLACEHOLDERS, check_template
from .base import Action, Item, Skip, Workspace
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
        return check_template(v, what="archive", allowed=frozenset(PLACEHOLDERS))

    @property
    def removes_source(self) -> bool:  # type: ignore[override]
        return self.originals == "trash"

    def plan(self, item: Item, ws: Workspace) -> None:
        if item.is_link:
            raise Skip("links are not archived")
        target = destination_folder(self.archive, item, ws)
        if not target.lower().endswith(".zip"):
            target += ".zip"
        item.dest = target
        rel = os.path.relpath(item.path, item.root)
        item.note = rel.replace(os.sep, "/")

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


def _add_file(zf: zipfile.ZipFile, path: str, arcname: str) -> None:
    kind = zipfile.ZIP_STORED if os.path.splitext(path)[1].lower() in _STORED else zipfile.ZIP_DEFLATED
    zf.write(path, arcname, compress_type=kind)


def _add_folder(zf: zipfile.ZipFile, path: str, arcname: str) -> None:
    zf.write(path, arcname + "/")
    for folder, dirs, files in os.walk(path, followlinks=False):
        rel = os.path.relpath(folder, path).replace(os.sep, "/")
        prefix = arcname if rel == "." else f"{arcname}/{rel}"
        for d in sorted(dirs):
            if not os.path.islink(os.path.join(folder, d)):
                zf.write(os.path.join(folder, d), f"{prefix}/{d}/")
        for f in sorted(files):
            full = os.path.join(folder, f)
            if os.path.isfile(full) and not os.path.islink(full):  # links and devices are not archived
                _add_file(zf, full, f"{prefix}/{f}")


def write_zip(tmp: str, items: list[Item], *, between: Callable[[], None]) -> list[tuple[Item, OSError]]:
    """Write ``items`` into a new zip at ``tmp``; returns the items that could not be read."""
    failed: list[tuple[Item, OSError]] = []
    used: set[str] = set()
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6,
                         strict_timestamps=False) as zf:
        for item in items:
            between()
            arcname = _unique_arcname(item.note or item.name, used)
            item.note = arcname
            try:
                if item.is_dir:
                    _add_folder(zf, item.path, arcname)
                else:
                    _add_file(zf, item.path, arcname)
            except OSError as exc:
                failed.append((item, exc))
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return failed
