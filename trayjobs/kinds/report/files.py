"""Where a report's files go: ``reports/<key>/<key>-<stamp>.<ext>``.

``<key>`` is the job's name when that is already a slug, else its slug and a
short hash of the exact name (see :func:`job_key`), so no two jobs share a
folder, whatever their names.

Files are first written to a hidden scratch folder beside their final place
and moved in only once every part has rendered, so a failed run leaves
nothing half-written. Then the ``<key>-latest.*`` copies are replaced
atomically and reports beyond ``keep`` are deleted: only regular files whose
names match exactly what this job writes; anything else in the folder is left
alone.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import unicodedata
from datetime import datetime
from pathlib import Path

from ...errors import JobFailed

__all__ = ["slugify", "job_key", "ReportFiles", "folder_error"]

_STAMP = r"\d{4}-\d{2}-\d{2}T\d{4}(?:_\d+)?"
# What follows ``<key>-<stamp>`` or ``<key>-latest`` in a file this module names:
# the HTML, the PDF, or a CSV named by the slug of its section (see ReportFiles.name).
_PART = r"(?:\.html|\.pdf|-[a-z0-9]+(?:-[a-z0-9]+)*\.csv)"


def _order(stamp: str) -> tuple[str, int]:
    base, _, n = stamp.partition("_")
    return base, int(n or 1)


def slugify(text: str, *, default: str = "report", limit: int = 60) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit].strip("-")
    return slug or default


def job_key(job: str) -> str:
    """The folder and file-name prefix of ``job``'s reports, unique to the exact name.

    A name that is its own slug ("weekly-spending") is used as it is. Any other
    ("Weekly spending", "weekly_spending", a name in another script) gets the
    slug plus 8 hex digits of a hash of the name: a slug never holds ``_``, so
    no such key can equal another job's plain name either.
    """
    slug = slugify(job)
    if slug == job:
        return slug
    return f"{slug}_{hashlib.sha256(job.encode('utf-8', 'surrogatepass')).hexdigest()[:8]}"


def folder_error(folder: Path, exc: OSError) -> JobFailed:
    """What a report says when it cannot write its files in ``folder``, and what to do.

    A folder in the way, or one the person may not write to, stays so: no retry.
    A full disk may clear, so that is tried again.
    """
    # os.replace names its target second: that is the path in the way.
    where = Path(exc.filename2 or exc.filename) if exc.filename else folder
    if isinstance(exc, (FileExistsError, NotADirectoryError)):
        blocker = next((p for p in (folder, *folder.parents)
                        if (p.exists() or p.is_symlink()) and not p.is_dir()), where)
        if blocker.is_symlink() and not blocker.exists():  # "not a folder" sent them looking
            target = os.readlink(blocker)
            return JobFailed(f"cannot write the report to {folder}: {blocker} is a link to "
                             f"{target}, which does not exist; create that folder or remove "
                             f"the link", retry=False)
        return JobFailed(f"cannot write the report to {folder}: {blocker} is not a folder; "
                         f"move it away (or rename the job)", retry=False)
    if isinstance(exc, IsADirectoryError):
        return JobFailed(f"cannot write the report to {folder}: {where} is a folder in the way "
                         f"of a report file; move it away", retry=False)
    if isinstance(exc, PermissionError) or exc.errno == errno.EROFS:
        return JobFailed(f"cannot write the report to {folder}: {exc.strerror} ({where}); "
                         f"make that folder writable", retry=False)
    return JobFailed(f"cannot write the report to {folder}: {exc.strerror or exc} ({where})")


class ReportFiles:
    """The files of one report run, scratch first, committed together."""

    def __init__(self, reports_dir: Path, job: str, *, now: datetime, run_id: int) -> None:
        self.slug = job_key(job)
        self.dir = reports_dir / self.slug
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise folder_error(self.dir, exc) from None
        base = now.strftime("%Y-%m-%dT%H%M")
        # Another report in the same minute: number it after the highest one there.
        taken = [_order(m.group("stamp"))[1] for m in map(self._match, self.dir.iterdir())
                 if m and m.group("stamp").partition("_")[0] == base]
        self.stamp = f"{base}_{max(taken) + 1}" if taken else base
        self.scratch = self.dir / f".partial-{run_id}-{os.getpid()}"
        shutil.rmtree(self.scratch, ignore_errors=True)
        self._remove_abandoned()
        try:
            self.scratch.mkdir()
        except OSError as exc:
            raise folder_error(self.dir, exc) from None
        self._names: list[str] = []
        self._csv_slugs: set[str] = set()
        self.not_pruned: list[str] = []  # older reports ``keep`` could not delete, and why

    def _remove_abandoned(self) -> None:
        """The scratch folders of runs whose process is gone (killed, or a power cut, as
        it wrote): no one else would ever remove them, or the files half written there."""
        try:
            entries = list(os.scandir(self.dir))
        except OSError:
            return
        for entry in entries:
            m = re.fullmatch(r"\.partial-\d+-(\d+)", entry.name)
            if m and entry.is_dir(follow_symlinks=False) and not _pid_alive(int(m.group(1))):
                shutil.rmtree(entry.path, ignore_errors=True)

    def name(self, ext: str, section: str | None = None) -> str:
        """A file name for this run; ``section`` names a section's CSV."""
        if section is None:
            return f"{self.slug}-{self.stamp}.{ext}"
        part, n = slugify(section, default="section", limit=40), 1
        while (part if n == 1 else f"{part}-{n}") in self._csv_slugs:
            n += 1
        part = part if n == 1 else f"{part}-{n}"
        self._csv_slugs.add(part)
        return f"{self.slug}-{self.stamp}-{part}.{ext}"

    def path(self, name: str) -> Path:
        """Where to write ``name`` now (in the scratch folder)."""
        if name not in self._names:
            self._names.append(name)
        return self.scratch / name

    def latest_name(self, name: str) -> str:
        return name.replace(f"{self.slug}-{self.stamp}", f"{self.slug}-latest", 1)

    def commit(self, *, keep: int) -> list[Path]:
        """Move the files in place, refresh the latest copies, prune; the final paths."""
        final: list[Path] = []
        copies: list[tuple[Path, Path]] = []  # each latest copy, made whole before any is used
        try:
            for name in self._names:
                src = self.scratch / name
                if src.exists():
                    dest = self.dir / name
                    os.replace(src, dest)
                    final.append(dest)
            for path in final:
                latest = self.dir / self.latest_name(path.name)
                if latest.is_dir() and not latest.is_symlink():  # found before any is replaced
                    raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(latest))
                tmp = latest.with_name(f".{latest.name}.tmp")
                copies.append((tmp, latest))
                _copy_new(path, tmp)
        except OSError as exc:
            # a full disk, say: no half report stays behind, nor a mix of old and new
            # latest copies (the earlier ones are as they were)
            for tmp, _ in copies:
                tmp.unlink(missing_ok=True)
            for path in final:
                path.unlink(missing_ok=True)
            if not exc.filename:  # a write says not where
                exc.filename = str(self.dir)
            raise
        shutil.rmtree(self.scratch, ignore_errors=True)
        fresh = set()
        for n, (tmp, latest) in enumerate(copies):
            try:
                os.replace(tmp, latest)
            except OSError:
                for left, _ in copies[n:]:
                    left.unlink(missing_ok=True)  # hidden copies nobody would clean up
                raise
            fresh.add(latest.name)
        latest = re.compile(rf"{re.escape(self.slug)}-latest{_PART}")
        for old in self._own_files():
            if latest.fullmatch(old.name) and old.name not in fresh:
                old.unlink(missing_ok=True)
        self.prune(keep)
        return final

    def discard(self) -> None:
        shutil.rmtree(self.scratch, ignore_errors=True)

    def _match(self, path: Path) -> re.Match[str] | None:
        return re.fullmatch(rf"{re.escape(self.slug)}-(?P<stamp>{_STAMP}){_PART}", path.name)

    def _own_files(self) -> list[Path]:
        """Regular files (not links, not folders) whose names start with this job's key."""
        found = []
        with os.scandir(self.dir) as entries:
            for entry in entries:
                if entry.name.startswith(f"{self.slug}-") and entry.is_file(follow_symlinks=False):
                    found.append(Path(entry.path))
        return found

    def prune(self, keep: int) -> list[Path]:
        """Delete the files of all but the ``keep`` newest reports of this job."""
        groups: dict[str, list[Path]] = {}
        for p in self._own_files():
            if m := self._match(p):
                groups.setdefault(m.group("stamp"), []).append(p)

        def newest(stamp: str) -> tuple[float, tuple[str, int]]:
            # By time written, so a clock set back (or a DST change) cannot reorder them.
            return max(_mtime(p) for p in groups[stamp]), _order(stamp)

        removed = []
        for stamp in sorted(groups, key=newest, reverse=True)[keep:]:
            for p in groups[stamp]:
                try:
                    p.unlink(missing_ok=True)
                except OSError as exc:  # the new report is whole: this run did its work
                    self.not_pruned.append(f"{p.name} could not be deleted (keep = {keep}): "
                                           f"{exc.strerror or exc}")
                    continue
                removed.append(p)
        return removed


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:  # gone since it was listed (another run of the job pruned it)
        return 0.0


def _copy_new(src: Path, tmp: Path) -> None:
    """Copy ``src`` to the scratch name ``tmp``, made afresh: whatever is there (a copy an
    earlier run left, a link to someone's file) is removed, never written through."""
    tmp.unlink(missing_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) \
        | getattr(os, "O_CLOEXEC", 0)
    with open(src, "rb") as r, open(os.open(tmp, flags, 0o644), "wb") as w:
        shutil.copyfileobj(r, w, 1 << 20)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: alive
        pass
    try:  # a zombie (ended, its parent not told yet) writes nothing more
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")
    except (OSError, IndexError):
        return True
