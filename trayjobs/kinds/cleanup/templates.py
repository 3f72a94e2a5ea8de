"""Destination templates: ``"~/Archive/{year}/{month}"``, ``"{stem}-old{suffix}"``.

Placeholders are plain names in braces; anything else (attributes, indexes,
format specs) is refused when the job is loaded, so a template can never
reach into Python objects.
"""

from __future__ import annotations

import os
import re
import string
import time

__all__ = ["PLACEHOLDERS", "check_destination", "check_template", "fixed_folder", "split_destination", "template_values", "render"]

#: Every placeholder with what it stands for (also used by the docs).
PLACEHOLDERS = {
    "name": "the file's name, e.g. report.final.pdf",
    "stem": "the name without its last extension, e.g. report.final",
    "suffix": "the last extension with its dot, e.g. .pdf ('' when none)",
    "ext": "the last extension, lower case, without the dot, e.g. pdf ('' when none)",
    "year": "year the file was last modified, e.g. 2024",
    "month": "month the file was last modified, 01-12",
    "day": "day of the month the file was last modified, 01-31",
    "date": "date the file was last modified, e.g. 2024-05-31",
    "today": "date of the run, e.g. 2024-06-02",
    "parent": "name of the folder the file is in",
    "relative": "the file's folder relative to its location ('' at the top)",
    "location": "name of the location folder the file was found in",
}


def check_template(template: str, *, what: str, allowed: frozenset[str] | None = None) -> str:
    """``template`` if its placeholders are all known, else ``ValueError`` naming the bad one."""
    allowed = allowed if allowed is not None else frozenset(PLACEHOLDERS)
    if not template.strip():
        raise ValueError(f"{what}: the template is empty")
    if "\x00" in template:
        # no file name can hold one; the system call would end the name there, so a rename
        # would give another name than the one reported, and a folder could not be made
        raise ValueError(f"{what} {template!r}: a name cannot hold a NUL character (\\u0000)")
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"{what} {template!r}: {exc} (write {{{{ and }}}} for literal braces)") from None
    for _literal, field, spec, conversion in parts:
        if field is None:
            continue
        if field not in allowed or spec or conversion:
            known = ", ".join("{%s}" % p for p in PLACEHOLDERS if p in allowed)
            raise ValueError(f"{what} {template!r}: unknown placeholder {{{field}}}; known: {known}")
    after = "".join(lit for n, (lit, *_) in enumerate(parts) if n > 0 and parts[n - 1][1] is not None)
    if any(field is not None for _, field, *_ in parts) and ".." in after.replace("\\", "/").split("/"):
        raise ValueError(f"{what} {template!r}: '..' may only come before the first placeholder, in the "
                         f"fixed part of the destination")
    return template


_VARIABLE = re.compile(r"\$(\w+|\{[^}]*\})")


def check_destination(template: str, *, what: str) -> str:
    """:func:`check_template` for a folder or archive path, whose ``~`` and ``$VARIABLES``
    must all be known where trayjobs runs: one left as written would make the path relative,
    taken inside the location (a folder called "$ARCHIVE" in ~/Downloads)."""
    check_template(template, what=what)
    expanded = expand_literal(template)
    if expanded.startswith("~"):
        raise ValueError(f"{what} {template!r}: there is no user {expanded[1:].split('/')[0]!r}; write ~/… "
                         f"for a folder in your own home")
    unset = _VARIABLE.search(expanded)
    if unset:
        raise ValueError(f"{what} {template!r}: the variable {unset.group(1).strip('{}')} is not set where "
                         f"trayjobs runs; set it, or write the folder in full")
    return template


def expand_literal(template: str) -> str:
    """``~`` and ``$VARS`` of the template itself expanded (a file called "$HOME" stays a name)."""
    return os.path.expandvars(os.path.expanduser(template))


def split_destination(template: str, *, file: bool = False) -> tuple[str, str]:
    """``(raw, folder)``: the text a destination template starts with up to the last ``/``
    before its first placeholder, and that folder normalised (``"~/Archive/{year}"`` ->
    ``("/home/me/Archive/", "/home/me/Archive")``; ``"{relative}/old"`` -> ``("", ".")``).
    The folder is relative (to the item's location) when the template is."""
    expanded = expand_literal(template)
    fixed = ""
    for literal, field, _spec, _conv in string.Formatter().parse(expanded):
        fixed += literal
        if field is not None:
            raw = fixed[:fixed.rfind("/") + 1]
            return raw, os.path.normpath(raw or ".")
    if file:  # the template names a file (an archive): its folder is the fixed part
        fixed = fixed[:fixed.rfind("/") + 1]
    return fixed, os.path.normpath(fixed or ".")


def fixed_folder(template: str, root: str, *, file: bool = False) -> str:
    """The folder a destination always lies in, for items of the location ``root``."""
    return os.path.normpath(os.path.join(root, split_destination(template, file=file)[1]))


def template_values(name: str, mtime: float, *, folder: str, root: str, is_dir: bool,
                    today: str) -> dict[str, str]:
    stem, suffix = (name, "") if is_dir else os.path.splitext(name)
    t = time.localtime(mtime)
    rel = os.path.relpath(folder, root)
    return {
        "name": name, "stem": stem, "suffix": suffix, "ext": suffix[1:].lower(),
        "year": f"{t.tm_year:04d}", "month": f"{t.tm_mon:02d}", "day": f"{t.tm_mday:02d}",
        "date": time.strftime("%Y-%m-%d", t), "today": today,
        "parent": os.path.basename(folder), "relative": "" if rel == "." else rel,
        "location": os.path.basename(root),
    }


def render(template: str, values: dict[str, str]) -> str:
    return template.format_map(values)
