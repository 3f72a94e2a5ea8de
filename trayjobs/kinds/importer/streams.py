"""Reading a file's bytes and text: gzip, progress, and undecodable bytes.

The text stack is ``file -> [gzip] -> ByteTap -> TextIOWrapper``. The tap lets
progress report the position in the file on disk (compressed bytes for .gz)
and notices NUL bytes as they stream past, so the hot loop only inspects rows
once something odd has been seen. Undecodable bytes go through one codec error
handler that marks them (as U+DC00+byte, like ``surrogateescape``) and tells
the :class:`DecodeWatch` of the file being read; that costs nothing until an
error happens.
"""

from __future__ import annotations

import codecs
import gzip
import hashlib
import io
import os
import zlib
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from .problems import FileProblem, Restart
from .sniff import words_beyond_ascii

__all__ = ["ERRORS", "ByteTap", "DecodeWatch", "FileStamp", "hash_file", "open_text",
           "read_head", "stamp", "check_unchanged"]

#: Name of the codec error handler every importer stream decodes with.
ERRORS = "trayjobs.import"
GZIP_MAGIC = b"\x1f\x8b"

_WATCH: ContextVar["DecodeWatch | None"] = ContextVar("trayjobs_import_watch", default=None)


@dataclass
class DecodeWatch:
    """Counts undecodable bytes in one stream; may ask for a restart on the first one."""

    encoding: str
    #: Set when the encoding was guessed from an ASCII-only start: the first
    #: non-UTF-8 byte then means "a legacy code page", not "a damaged row".
    redetect: Callable[[bytes], str] | None = None
    errors: int = 0

    def note(self, exc: UnicodeDecodeError) -> None:
        self.errors += 1
        if self.redetect is not None and self.errors == 1:
            window = exc.object[max(0, exc.start - 4096):exc.end + 4096]
            window = bytes(window)
            better = self.redetect(window)
            if better != self.encoding:
                raise Restart(f"the file is not {self.encoding} after all; reading it as {better}",
                              encoding=better,
                              examples=words_beyond_ascii(window.decode(better, "replace")))


def _on_decode_error(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    watch = _WATCH.get()
    if watch is not None:
        watch.note(exc)
    bad = exc.object[exc.start:exc.end]
    return "".join(chr(0xDC00 + b) for b in bad), exc.end


codecs.register_error(ERRORS, _on_decode_error)


class ByteTap(io.BufferedIOBase):
    """The decompressed byte stream, watched for NUL bytes, positioned on the disk file."""

    def __init__(self, inner: io.BufferedIOBase, disk: io.BufferedReader,
                 left: int | None = None, *, start: int = 0,
                 line_limit: int | None = None) -> None:
        super().__init__()
        self._inner = inner
        self._disk = disk
        self.nul_seen = False
        self._left = left  # bytes up to the end of the part read (see open_text), or None
        self._line_limit = line_limit
        self._line_at = self._passed = start  # where the line being read starts; bytes read

    def readable(self) -> bool:
        return True

    def _seen(self, data: bytes) -> bytes:
        if not self.nul_seen and b"\x00" in data:
            self.nul_seen = True
        self._passed += len(data)
        if self._line_limit is not None:
            # A line is read whole before the reader sees any of it: one too long to be
            # a record would take memory without bound (the file's size and more, twice).
            # (Reads are of a few KB: only a line from an earlier read can be that long.)
            end = self._passed - len(data) + _first_break(data)
            if end - self._line_at > self._line_limit:
                raise FileProblem(
                    f"a line of more than {self._line_limit:,} bytes starts here, longer "
                    f"than SQLite stores in one value: no CSV or TSV record is that long; "
                    f"the file has no line breaks from here on (another format under a "
                    f".csv name, or lines ended by a character that is no line break?)",
                    offset=self._line_at)
            last = max(data.rfind(b"\n"), data.rfind(b"\r"))
            if last >= 0:
                self._line_at = self._passed - len(data) + last + 1
        return data

    def stop_at(self, offset: int) -> bool:
        """End the stream at byte ``offset`` of a plain file, if not read past it yet."""
        left = offset - self._disk.tell()
        if self._inner is not self._disk or left < 0:
            return False
        self._left = left
        return True

    def _cap(self, size: int | None) -> int | None:
        if self._left is None:
            return size
        return self._left if size is None or size < 0 else min(size, self._left)

    def _took(self, data: bytes) -> bytes:
        if self._left is not None:
            self._left -= len(data)
        return self._seen(data)

    def read(self, size: int | None = -1) -> bytes:
        return self._took(self._inner.read(self._cap(size)))

    def read1(self, size: int = -1) -> bytes:
        return self._took(self._inner.read1(self._cap(size)))

    def position(self) -> int:
        """Bytes of the file on disk consumed so far."""
        try:
            return self._disk.tell()
        except (OSError, ValueError):
            return 0

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            self._disk.close()
            super().close()


def _first_break(data: bytes) -> int:
    """Where the first line break in ``data`` is, or its length."""
    found = [i for i in (data.find(b"\n"), data.find(b"\r")) if i >= 0]
    return min(found, default=len(data))


def _open_bytes(path: Path, part: tuple[int, int] | None = None, *,
                line_limit: int | None = None) -> ByteTap:
    disk = open(path, "rb")  # noqa: SIM115 - closed through the tap
    try:
        inner: io.BufferedIOBase = disk
        if part is not None:  # bytes start..stop of a plain file (see split.py)
            start, stop = part
            disk.seek(start)
            return ByteTap(disk, disk, stop - start, start=start, line_limit=line_limit)
        if disk.peek(2)[:2] == GZIP_MAGIC:
            inner = gzip.GzipFile(fileobj=disk, mode="rb")
        return ByteTap(inner, disk, line_limit=line_limit)
    except BaseException:
        disk.close()
        raise


def read_head(path: Path, size: int) -> tuple[bytes, bool]:
    """The first ``size`` decompressed bytes and whether that is the whole file."""
    with _open_bytes(path) as tap:
        data = tap.read(size + 1)
    return data[:size], len(data) <= size


@contextmanager
def open_text(path: Path, *, encoding: str, newline: str | None,
              redetect: Callable[[bytes], str] | None = None,
              part: tuple[int, int] | None = None, line_limit: int | None = None
              ) -> Iterator[tuple[io.TextIOWrapper, ByteTap, DecodeWatch]]:
    """The decoded text of ``path`` (or of its bytes ``part = (start, stop)``, a plain
    file's) with its tap and decode watch; errors name the offset. A line of more than
    ``line_limit`` bytes (of a gzip file: uncompressed) fails the file."""
    tap = _open_bytes(path, part, line_limit=line_limit)
    watch = DecodeWatch(encoding, redetect)
    token = _WATCH.set(watch)
    text = io.TextIOWrapper(tap, encoding=encoding, errors=ERRORS, newline=newline)
    try:
        yield text, tap, watch
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise FileProblem(f"the gzip data is damaged or cut short ({exc})",
                          offset=tap.position()) from None
    except OSError as exc:
        # A locked (Windows) or vanished network file: worth another try later.
        raise FileProblem(f"the file could not be read ({exc.strerror or exc})",
                          offset=tap.position(), retry=True) from None
    finally:
        _WATCH.reset(token)
        text.close()


@dataclass(frozen=True)
class FileStamp:
    size: int
    mtime_ns: int
    sha256: str = field(default="")
    #: Which file it is: another one saved over it (a rename, as editors and sync tools
    #: save) may keep its size and time (``cp -p``, an export of the same length).
    ident: tuple[int, int] = (0, 0)

    def same_file(self, st: os.stat_result) -> bool:
        return ((st.st_size, st.st_mtime_ns) == (self.size, self.mtime_ns)
                and self.ident in ((0, 0), (st.st_dev, st.st_ino)))


def stamp(path: Path) -> FileStamp:
    st = os.stat(path)
    return FileStamp(st.st_size, st.st_mtime_ns, ident=(st.st_dev, st.st_ino))


def hash_file(path: Path, *, check: Callable[[], None] = lambda: None) -> FileStamp:
    """Size, mtime and SHA-256 of the bytes on disk, read through one open handle."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        st = os.fstat(f.fileno())
        while chunk := f.read(1 << 20):
            digest.update(chunk)
            check()
    return FileStamp(st.st_size, st.st_mtime_ns, digest.hexdigest(), (st.st_dev, st.st_ino))


def check_unchanged(path: Path, before: FileStamp) -> None:
    """Fail if ``path`` vanished or changed while it was read (a copy still in progress...)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise FileProblem("the file disappeared while it was being read") from None
    except OSError as exc:
        raise FileProblem(f"the file could no longer be checked ({exc.strerror or exc})",
                          retry=True) from None
    if not before.same_file(st):
        detail = (f"size {before.size:,} -> {st.st_size:,} bytes" if st.st_size != before.size
                  else "modified" if st.st_mtime_ns != before.mtime_ns
                  else "another file was saved in its place")
        raise FileProblem(f"the file changed while it was being read ({detail}); "
                          f"import it again once it is complete", retry=True)
