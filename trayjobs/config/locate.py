"""Where a table or key is written in the jobs file, for the line an error names.

tomllib gives no positions, so the text is scanned once more: each ``[table]`` header
and each ``key = value`` gets the path it sets and its line. A job may be written as
``[jobs.NAME]``, as ``NAME = { ... }`` under ``[jobs]`` or with dotted keys
(``jobs.NAME.kind = ...``), its keys in tables of their own (``[jobs.NAME.retry]``) or
as arrays of tables (``[[jobs.NAME.sections]]``); a name may be quoted or spelt with
escapes. The line of a key is that of the longest part of its path written anywhere, so
a key inside an inline table is found on that table's line. Multi-line text and arrays
are stepped over: a line inside them is never taken for a key.
"""

from __future__ import annotations

import re
import tomllib

__all__ = ["Locator"]

_BARE = re.compile(r"[A-Za-z0-9_-]+")
_BASIC = re.compile(r'"[^"\\\n]*(?:\\.[^"\\\n]*)*"')
_LITERAL = re.compile(r"'[^'\n]*'")
_SIGNIFICANT = re.compile(r"[\"'\[\]{}#\n]")


class Locator:
    """Finds the line (1-based) of a table or key in TOML text that tomllib has read."""

    def __init__(self, text: str) -> None:
        self._text = text[1:] if text.startswith("\ufeff") else text
        #: (path, line) of each header and key, in the order written; found when a line
        #: is first asked for (most files have no mistake).
        self._found: list[tuple[tuple[str, ...], int]] | None = None
        self._by_table: dict[int, dict[tuple[str, ...], list]] = {}

    @property
    def _written(self) -> list[tuple[tuple[str, ...], int]]:
        if self._found is None:
            self._found = []
            try:
                self._scan()
            except (IndexError, ValueError, tomllib.TOMLDecodeError):
                pass  # text tomllib did not take: the lines found so far are all there is
        return self._found

    def top(self, key: str) -> int | None:
        """The line of the top-level table or key ``key``."""
        return self.key([key], "")

    def key(self, table: list[str], dotted: str) -> int | None:
        """The line of ``dotted`` (``retry.attempts``, ``sections.1.query``) in ``table``
        (``["jobs", NAME]``); the table's own line when the key is not written."""
        want = tuple(table) + tuple(p for p in dotted.split(".") if p) if dotted else tuple(table)
        best, best_len = None, len(table) - 1
        for path, line in self._under(tuple(table)):
            common = 0
            for a, b in zip(path, want):
                if a != b:
                    break
                common += 1
            if common > best_len:
                best, best_len = line, common
        return best if best_len >= len(table) else None

    def _under(self, table: tuple[str, ...]) -> list[tuple[tuple[str, ...], int]]:
        """The headers and keys written in ``table``, in order: only they can be its lines.
        Looked up by table, not walked through whole for each line asked (a file of 2,000
        jobs, each with a mistake, took 17 s to be told)."""
        by = self._by_table.get(len(table))
        if by is None:
            by = self._by_table[len(table)] = {}
            for path, line in self._written:
                if len(path) >= len(table):
                    by.setdefault(path[:len(table)], []).append((path, line))
        return by.get(table, [])

    # -- the scan -----------------------------------------------------------------------------

    def _scan(self) -> None:
        text, i, line = self._text, 0, 1
        table: tuple[str, ...] = ()
        arrays: dict[tuple[str, ...], int] = {}  # [[name]]: how many written so far
        while i < len(text):
            c = text[i]
            if c == "\n":
                line += 1
                i += 1
            elif c in " \t\r":
                i += 1
            elif c == "#":
                i = _line_end(text, i)
            elif c == "[":
                double = text.startswith("[[", i)
                path, i = _key(text, i + (2 if double else 1))
                if double:
                    arrays[path] = arrays.get(path, -1) + 1
                    # The keys of the Nth table are found as ``NAME.N.key``.
                    path = path + (str(arrays[path]),)
                table = path
                self._found.append((table, line))
                i = _line_end(text, i)
            else:
                path, i = _key(text, i)
                self._found.append((table + path, line))
                i, line = _value_end(text, text.index("=", i) + 1, line)


def _line_end(text: str, i: int) -> int:
    end = text.find("\n", i)
    return len(text) if end < 0 else end


def _key(text: str, i: int) -> tuple[tuple[str, ...], int]:
    """The parts of the (dotted) key starting at ``i``, and where it ends."""
    parts = []
    while True:
        while text[i] in " \t":
            i += 1
        if text[i] in "\"'":
            end = _string_end(text, i)
            parts.append(tomllib.loads(f"k = {text[i:end]}")["k"])  # TOML's own escapes
            i = end
        else:
            m = _BARE.match(text, i)
            if m is None:
                raise ValueError(i)
            parts.append(m.group())
            i = m.end()
        while text[i] in " \t":
            i += 1
        if text[i] != ".":
            return tuple(parts), i
        i += 1


def _string_end(text: str, i: int) -> int:
    """Just past the string that starts at ``i`` (basic or literal, one line or several)."""
    quote = text[i]
    if text.startswith(quote * 3, i):
        j = i + 3
        while True:
            j = text.index(quote * 3, j)
            if quote == '"' and _escaped(text, j):
                j += 1
                continue
            j += 3
            while j < len(text) and text[j] == quote:  # up to two quotes end the text
                j += 1
            return j
    m = (_BASIC if quote == '"' else _LITERAL).match(text, i)
    if m is None:
        raise ValueError(i)
    return m.end()


def _escaped(text: str, j: int) -> bool:
    """Whether the character at ``j`` follows an odd number of backslashes."""
    k = j
    while k > 0 and text[k - 1] == "\\":
        k -= 1
    return (j - k) % 2 == 1


def _value_end(text: str, i: int, line: int) -> tuple[int, int]:
    """Where the value starting at ``i`` ends (its line's end, or that of the last line of
    a multi-line array or text), and the line number there."""
    depth = 0
    while True:
        m = _SIGNIFICANT.search(text, i)  # stepping over the rest at once: files may be large
        if m is None:
            return len(text), line
        i = m.start()
        c = text[i]
        if c in "\"'":
            end = _string_end(text, i)
            line += text.count("\n", i, end)
            i = end
            continue
        if c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
        elif c == "#":
            i = _line_end(text, i)
            continue
        elif c == "\n":
            if depth <= 0:
                return i, line
            line += 1
        i += 1
