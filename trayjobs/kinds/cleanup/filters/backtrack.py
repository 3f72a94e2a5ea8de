"""Finding a repeat inside a repeat in a regular expression, such as ``(a+)+``,
and a repeated choice whose alternatives start alike, such as ``(a|aa)+``.

On a name that almost matches, a pattern like that tries every way of sharing
the characters between the inner and the outer repeat (or the alternatives):
twice as many for each more character. A run stops such a match after a second (``MATCH_TIMEOUT``),
and stops the run with it; ``trayjobs check`` and the job editor warn of it
before it gets there. It is a warning, not an error: ``(\\d+-)+`` is harmless
on most names, and no simple reading of a pattern can tell.

The pattern is scanned, not parsed by ``re`` (whose parser is private and does
not know every syntax of the ``regex`` package). A repeat that cannot give
characters back is no danger: a possessive one (``a++``) or an atomic group
(``(?>a+)``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["nested_repeat", "NESTED", "ALIKE"]

#: What :func:`nested_repeat` found.
NESTED, ALIKE = "a repeat inside a repeat", "a repeated choice whose alternatives start alike"

#: ``{n}``, ``{n,}``, ``{,m}``, ``{n,m}``: a counted repeat (anything else in braces is text).
_COUNT = re.compile(r"\{(\d*)(,?)(\d*)\}")


@dataclass
class _Group:
    start: int
    atomic: bool = False
    repeats: bool = False  # holds a repeat without an upper bound
    firsts: list[str] = field(default_factory=list)  # each alternative's first atom
    fresh: bool = True     # the next atom is an alternative's first

    def alike(self) -> bool:
        return len(set(self.firsts)) < len(self.firsts)


def _class_end(p: str, i: int) -> int:
    """The index after the character class that starts at ``p[i] == "["``."""
    j = i + 1
    if j < len(p) and p[j] == "^":
        j += 1
    if j < len(p) and p[j] == "]":  # a "]" first is a character of the class
        j += 1
    depth = 1
    while j < len(p) and depth:
        if p[j] == "\\":
            j += 2
            continue
        if p[j] == "[" and p.startswith("[:", j):  # [:alpha:]
            end = p.find(":]", j + 2)
            j = end + 2 if end >= 0 else j + 1
            continue
        if p[j] == "[":
            depth += 1  # a set inside a set (the regex package's version 1)
        elif p[j] == "]":
            depth -= 1
        j += 1
    return j


def _quantifier(p: str, i: int) -> tuple[int, bool, bool]:
    """At ``p[i]``: (index after the quantifier, it has no upper bound, it is possessive);
    ``(i, False, False)`` where there is none."""
    if i >= len(p):
        return i, False, False
    if p[i] in "*+":
        end, unbounded = i + 1, True
    elif p[i] == "?":
        end, unbounded = i + 1, False
    elif p[i] == "{" and (m := _COUNT.match(p, i)) and (m[1] or m[3]):
        end, unbounded = m.end(), bool(m[2]) and not m[3]
    else:
        return i, False, False
    possessive = end < len(p) and p[end] == "+"
    lazy = end < len(p) and p[end] == "?"
    return end + (possessive or lazy), unbounded, possessive


def _group_body(p: str, i: int) -> int:
    """After ``(?`` at ``p[i - 1]``: the index where the group's own pattern starts."""
    m = re.compile(r"\?(?:[:>=!|]|<[=!]|P?<[^>]*>|P=[^)]*|[a-zA-Z-]*:?)").match(p, i)
    return m.end() if m else i


def nested_repeat(pattern: str) -> tuple[str, str] | None:
    """The first part of ``pattern`` that repeats, without bound, a group that itself holds
    a repeat without bound (``(a+)+``, ``(?:\\w+\\s?)*``: :data:`NESTED`), or a choice
    two of whose alternatives start with the same atom (``(a|aa)+``: :data:`ALIKE`),
    with which; None when there is none."""
    p = pattern
    stack = [_Group(0)]
    i = 0
    while i < len(p):
        c = p[i]
        atom_start, inner, alike = i, False, False
        if c == "\\":
            i += 2
        elif c == "[":
            i = _class_end(p, i)
        elif c == "(":
            if p.startswith("(?#", i):  # a comment
                end = p.find(")", i)
                i = len(p) if end < 0 else end + 1
                continue
            stack[-1].fresh = False
            stack.append(_Group(i, atomic=p.startswith("(?>", i)))
            i += 1
            if p.startswith("(?", atom_start):  # (?:, (?P<name>, (?i) ...: not an atom
                i = _group_body(p, i)
            continue
        elif c == ")" and len(stack) > 1:
            group = stack.pop()
            inner = group.repeats and not group.atomic
            alike = group.alike() and not group.atomic
            i += 1
        elif c == "|":
            stack[-1].fresh = True
            i += 1
            continue
        else:
            i += 1
        top = stack[-1]
        if top.fresh and c != ")":
            top.firsts.append(p[atom_start:i])
        top.fresh = False
        end, unbounded, possessive = _quantifier(p, i)
        if unbounded and (inner or alike) and not possessive:
            return p[group.start:end], NESTED if inner else ALIKE
        top.repeats |= inner or (unbounded and not possessive)
        i = end
    return None
