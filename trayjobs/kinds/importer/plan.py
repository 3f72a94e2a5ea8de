"""Everything decided about a file before its transaction starts."""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from .params import ImportParams
from .problems import FileProblem
from .readers import CsvReader, JsonReader, NdjsonReader, Reader
from .schema import table_name_for
from .sniff import (HEAD_BYTES, CsvDialect, Encoding, check_binary, detect_encoding,
                    detect_format, sniff_dialect)
from .streams import ERRORS, ByteTap, DecodeWatch, read_head

__all__ = ["Plan", "plan_file", "make_reader"]


@dataclass(frozen=True)
class Plan:
    path: Path
    format: str
    encoding: Encoding
    dialect: CsvDialect | None
    table: str

    @property
    def newline(self) -> str | None:
        # CSV needs line ends as they are (a quoted CRLF stays CRLF); JSON reads them all as \n.
        return "" if self.dialect else None

    def describe(self) -> str:
        parts = [self.format.upper(), self.encoding.label]
        if self.dialect:
            parts.append(self.dialect.describe())
        return ", ".join(parts)


def plan_file(path: Path, params: ImportParams) -> Plan:
    try:
        head, complete = read_head(path, HEAD_BYTES)
    except FileNotFoundError:
        raise FileProblem("the file does not exist (any more)") from None
    except IsADirectoryError:
        raise FileProblem("this is a folder, not a file") from None
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise FileProblem(f"the gzip data is damaged or cut short ({exc})", offset=0) from None
    except OSError as exc:
        raise FileProblem(f"the file could not be read ({exc.strerror or exc})",
                          retry=True) from None
    if not head:
        raise FileProblem("the file is empty (0 bytes)" if path.stat().st_size == 0
                          else "the file is empty once decompressed")
    encoding = detect_encoding(head, complete=complete, explicit=params.encoding)
    text = head.decode(encoding.codec, ERRORS)
    check_binary(head, text)
    fmt = detect_format(path, text, params.format)
    dialect = None
    if fmt in ("csv", "tsv"):
        dialect = sniff_dialect(text, complete=complete, tsv=fmt == "tsv",
                                delimiter=params.delimiter, quotechar=params.quotechar)
    return Plan(path, fmt, encoding, dialect, params.table or table_name_for(path))


def make_reader(plan: Plan, text: TextIO, tap: ByteTap, watch: DecodeWatch,
                params: ImportParams) -> Reader:
    kw: dict[str, Any] = {"tap": tap, "watch": watch, "batch_size": params.batch_size}
    if plan.dialect is not None:
        return CsvReader(text, plan.dialect, header=params.header, **kw)
    if plan.format == "ndjson":
        return NdjsonReader(text, **kw)
    return JsonReader(text, key=params.json_key, **kw)
