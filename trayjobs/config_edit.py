"""Changing the jobs file from the window while keeping what the person wrote.

The file is read with tomlkit, so comments, blank lines, key order and the
spelling of values survive an edit: a job's keys are updated in place, a key
whose value did not change is not touched at all, new keys go after the job's
last key (not after a comment that introduces the next table). Every edit is
checked with :func:`trayjobs.config.parse_config` on the resulting text before
anything is written, and the file is replaced atomically.

No Qt here: the window calls this through its service thread.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.container import Container, OutOfOrderTableProxy
from tomlkit.items import (AoT, Array, Comment, InlineTable, Item, Null, String, StringType, Table,
                          Trivia, Whitespace)

from .config import HOOK_KEYS, Config, parse_config, read_jobs_file
from .errors import ConfigError, UserError

__all__ = ["ConfigDocument", "EditRefused", "toml_value", "text_item", "parse_toml_value"]


_LONE_LF = re.compile(r"(?<!\r)\n")


class EditRefused(UserError):
    """The edit would leave the file with errors; nothing was written."""

    def __init__(self, errors: list[ConfigError]) -> None:
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors[:5]) or "the edit was refused")


class ConfigDocument:
    """The jobs file as an editable document."""

    def __init__(self, text: str = "", path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.original = text
        # A byte order mark is fine in a jobs file (Notepad writes one), but tomlkit reads it
        # as the start of a key; it is set aside here and written back in front.
        self._bom = "\ufeff" if text.startswith("\ufeff") else ""
        # A file whose every line ends in CRLF keeps doing so: the lines an edit adds would
        # otherwise end in LF alone, a file of two kinds of line ends.
        self._crlf = "\r\n" in text and _LONE_LF.search(text) is None
        try:
            self.doc = tomlkit.parse(text[len(self._bom):])
        except Exception as exc:  # tomlkit's errors are not ValueErrors
            raise UserError(f"the config file is not valid TOML, fix it first: {exc}") from None

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "ConfigDocument":
        try:
            text = read_jobs_file(path).decode("utf-8")
        except FileNotFoundError:
            text = ""
        return cls(text, path)

    # -- reading --------------------------------------------------------------------

    @property
    def text(self) -> str:
        text = tomlkit.dumps(self.doc)
        if self._crlf:
            # Only lines the edit wrote end in LF alone: a CRLF in a multi-line text is
            # read as the line break it stood for, so the values stay what they were.
            text = _LONE_LF.sub("\r\n", text)
        return self._bom + text

    def _jobs(self, create: bool = False) -> Table | None:
        jobs = self.doc.get("jobs")
        if jobs is None and create:
            jobs = tomlkit.table(is_super_table=True)
            self.doc["jobs"] = jobs
        return jobs

    def _part(self, name: str | None = None) -> Table:
        """The ``[jobs]`` table that holds job ``name`` (None: where a new job goes).

        The jobs may be split around other tables (``[jobs.a]``, ``[alerts.me]``,
        ``[jobs.b]``: examples pasted at the end of the file); tomlkit then shows them
        as one read-only view, and an edit has to go to the part that holds the job.
        A new job goes at the end of the last part, as it would in a file of one part."""
        jobs = self._jobs(create=True)
        if isinstance(jobs, Table):
            return jobs
        parts = [item for key, item in self.doc.body
                 if key is not None and key.key == "jobs" and isinstance(item, Table)]
        return next((p for p in parts if name is not None and name in p), parts[-1])

    def _places(self, name: str) -> list[Table]:
        """The parts of ``[jobs]`` that hold some of job ``name``, once for each time it is
        written there: one, unless the job is written in several places (a sub-table of it
        further down, ``[jobs.a.watch]`` after ``[jobs.b]``, or dotted keys ``a.kind = ...``)."""
        jobs = self._jobs()
        parts = [jobs] if isinstance(jobs, Table) else [
            item for key, item in self.doc.body
            if key is not None and key.key == "jobs" and isinstance(item, Table)]
        return [p for p in parts for k, _v in p.value.body if k is not None and k.key == name]

    def job_names(self) -> list[str]:
        jobs = self._jobs()
        return list(jobs.keys()) if jobs is not None else []

    def job(self, name: str) -> dict[str, Any]:
        """A job's table as plain values (as ``tomllib`` would read it)."""
        jobs = self._jobs()
        if jobs is None or name not in jobs:
            raise UserError(f"there is no job called {name!r} in the config file")
        return _plain(jobs[name])

    def settings(self) -> dict[str, Any]:
        return _plain(self.doc["settings"]) if "settings" in self.doc else {}

    def unique_name(self, base: str) -> str:
        names = set(self.job_names())
        if base not in names:
            return base
        n = 2
        stem = base.rsplit(" copy", 1)[0] if base.endswith(" copy") else base
        while True:
            cand = f"{stem} copy" if n == 2 else f"{stem} copy {n - 1}"
            if cand not in names:
                return cand
            n += 1

    # -- editing --------------------------------------------------------------------

    def set_job(self, name: str, values: dict[str, Any], *, old_name: str | None = None,
                opened_with: Any = ...) -> None:
        """Make job ``name`` hold exactly ``values``; ``old_name`` renames an existing job
        (and the ``then`` lists that name it).

        ``opened_with`` is the job as the form being saved showed it (``None``: a new job):
        if the file has changed it since, the edit is refused rather than written over it."""
        if not name.strip():
            raise UserError("a job needs a name")
        if name != name.strip():
            # Trimmed here, it became another job's name, or a rename, with no word of it.
            raise UserError(f"a job name cannot begin or end with a space: write "
                            f"{name.strip()!r}, not {name!r}")
        jobs = self._jobs(create=True)
        if opened_with is not ...:
            self._unchanged_since(name, old_name, opened_with)
        if old_name is not None and old_name != name:
            if name in jobs:
                raise UserError(f"there is already a job called {name!r}")
            refused = UserError(
                f"{old_name} is written in more than one place in the jobs file (a table of "
                f"it further down, or dotted keys), so it was not renamed: put all of it "
                f"under one [jobs.{old_name}] header (its own tables, such as "
                f"[jobs.{old_name}.watch], just below it), or rename it in the file")
            if len(self._places(old_name)) > 1:
                # Renamed here, one part of it would be left behind under the old name.
                raise refused
            before = self.text
            if old_name in jobs:
                # Same place in the file, new name.
                part = self._part(old_name)
                index = next(i for i, (k, _v) in enumerate(part.value.body)
                             if k is not None and k.key == old_name)
                table = part[old_name]
                part.remove(old_name)
                _forget_headers(table)  # headers are written from the new key
                table.name = name
                if index < len(part.value.body):
                    _insert(part, name, table, at=index)
                else:
                    part[name] = table
            self._rename_references(old_name, name)
            if not _renamed(before, self.text, old_name, name):
                # Jobs written in dotted keys at the top (jobs.a.kind = ...): the renamed
                # one became a [jobs.NAME] table, and the dotted keys after it its own.
                self.doc = tomlkit.parse(before[len(self._bom):])
                raise refused
            jobs = self._jobs()
        if name in jobs:
            _merge(jobs[name], values)
        else:
            part = self._part()
            table = tomlkit.table()
            for key, value in values.items():
                table[key] = toml_value(value, key=key)
            if part.value.body and not self.text.endswith("\n\n"):
                table.trivia.indent = "\n"
            part[name] = table

    def _unchanged_since(self, name: str, old_name: str | None, opened_with: Any) -> None:
        jobs = self._jobs(create=True)
        if opened_with is None or old_name != name:
            if name in jobs:
                raise UserError(f"a job called “{name}” was added to the jobs file since this "
                                f"editor opened: choose another name")
        if opened_with is not None and old_name not in jobs:
            raise UserError(f"{old_name} is no longer in the jobs file (it was renamed or "
                            f"deleted since this editor opened), so it was not saved again: "
                            f"copy what you typed, close the editor and look at the job list")
        if opened_with is not None and self.job(old_name) != opened_with:
            raise UserError(f"{old_name} was changed in the jobs file since this editor opened "
                            f"(by hand, or in another window), and saving would undo that: "
                            f"copy what you typed, close the editor and open the job again")

    def delete_job(self, name: str) -> None:
        """Remove a job's table (its sub-tables too) and the comments that are its own: the
        lines just above its header and those just under its last key. Every other line
        stays as it was, the next job's comments above its header included."""
        jobs = self._jobs()
        if jobs is None or name not in jobs:
            raise UserError(f"there is no job called {name!r} in the config file")
        places = self._places(name)
        if len(places) > 1:
            # Written in several places: each goes, without looking for comments of its own.
            # The hooks naming it first: tomlkit's view of jobs written in dotted keys
            # (jobs.b.then = ...) no longer finds their keys once a part has gone.
            self._rename_references(name, None)
            for part in {id(p): p for p in places}.values():
                part.remove(name)
            return
        part = self._part(name)
        body = part.value.body
        i = next(i for i, (k, _v) in enumerate(body) if k is not None and k.key == name)
        # tomlkit reads the comments above a header as the end of the table before it: the
        # end of this job holds the next one's, and what is above this job may be the end of
        # the job before, of [settings], or loose lines at the top of the file.
        after = self._next_header(part, i)
        kept = _not_own(_cut_tail(_last_table(part[name]), (Comment, Whitespace)),
                        followed=after is not None)
        above, home = self._lines_above(part, i)
        part.remove(name)
        while above and isinstance(above[-1][0][above[-1][1]][1], (Comment, Null)):
            _blank(*above.pop())  # the job's own comments, just above it
        if (kept and isinstance(kept[0], Whitespace)) or after is None:
            while above and isinstance(above[-1][0][above[-1][1]][1], (Whitespace, Null)):
                _blank(*above.pop())  # the blank line that set them apart
        if home is None and not any(not isinstance(b[j][1], Null) for b, j in above):
            while kept and isinstance(kept[0], Whitespace):
                kept.pop(0)  # the top of the file: no blank line first
        if home is not None:
            for item in kept:
                home.value.append(None, item)
        elif after is not None:
            after.trivia.indent = "".join(item.as_string() for item in kept) + after.trivia.indent
        else:
            for item in kept:
                self.doc.add(item)
        self._rename_references(name, None)

    def _next_header(self, part: Table, i: int) -> Table | None:
        """The table whose header comes next in the file after job ``i`` of ``part``."""
        following = [v for k, v in part.value.body[i + 1:] if k is not None]
        if not following:
            at = next(j for j, (_k, v) in enumerate(self.doc.body) if v is part)
            following = [v for k, v in self.doc.body[at + 1:] if k is not None]
        return _first_header(following[0]) if following else None

    def _lines_above(self, part: Table, i: int) -> tuple[list[tuple[list, int]], Table | None]:
        """The comment and blank lines just above job ``i``'s header, as (body, index) places,
        and the table whose end they are (None: loose lines at the top of the file)."""
        above, home = _lines_before(part.value.body, i)
        if not above and home is None and part.is_super_table():
            at = next(j for j, (_k, v) in enumerate(self.doc.body) if v is part)
            above, home = _lines_before(self.doc.body, at)
        return above, home

    def duplicate_job(self, name: str, new_name: str | None = None) -> str:
        values = self.job(name)
        new_name = new_name or self.unique_name(f"{name.strip()} copy")
        if new_name in self.job_names():
            raise UserError(f"there is already a job called {new_name!r}")
        values["enabled"] = False  # a copy never starts running on its own by surprise
        self.set_job(new_name, values)
        return new_name

    def set_enabled(self, name: str, enabled: bool) -> None:
        jobs = self._jobs()
        if jobs is None or name not in jobs:
            raise UserError(f"there is no job called {name!r} in the config file")
        table = jobs[name]
        if enabled and "enabled" in table:
            del table["enabled"]  # the default: keep the file short
        elif not enabled:
            _set_key(table, "enabled", False)

    def set_settings(self, values: dict[str, Any]) -> None:
        """Set ``[settings]`` keys; a value of ``None`` removes the key (the default applies)."""
        if "settings" not in self.doc:
            table = tomlkit.table()
            for key, value in values.items():
                if value is not None:
                    table[key] = toml_value(value, key=key)
            body = self.doc.body
            # Settings go first, before the jobs, where a person expects them.
            first_table = next((i for i, (k, v) in enumerate(body) if isinstance(v, Table)), None)
            if first_table is None:
                self.doc["settings"] = table
            else:
                table.add(tomlkit.nl())
                if first_table > 0:
                    table.trivia.indent = "\n"  # apart from the comments above it
                self.doc._insert_at(first_table, "settings", table)
            return
        table = self.doc["settings"]
        for key, value in values.items():
            if value is None:
                if key in table:
                    del table[key]
            else:
                _set_key(table, key, value)

    def set_table(self, name: str, values: dict[str, Any] | None) -> None:
        """Give the top-level table ``[name]`` (``[cluster]``, say) these keys, keeping the
        comments of keys that stay; a new table goes at the end; ``None`` removes it."""
        if values is None:
            if name in self.doc:
                self.doc.remove(name)
            return
        if name not in self.doc:
            table = tomlkit.table()
            for key, value in values.items():
                table[key] = toml_value(value, key=key)
            self.doc.add(tomlkit.nl())
            self.doc[name] = table
            return
        _merge(self.doc[name], values)

    def _rename_references(self, old: str, new: str | None) -> None:
        jobs = self._jobs()
        for other in list(jobs.keys()) if jobs is not None else []:
            for key in HOOK_KEYS:
                # Looked up again for each key: tomlkit's view of a job written in dotted
                # keys (jobs.b.then = ...) is stale once one of its keys has changed.
                table = self._jobs()[other]
                names = table.get(key) if isinstance(
                    table, (Table, InlineTable, OutOfOrderTableProxy)) else None
                if names is None:
                    continue
                items = [names] if isinstance(names, str) else list(_plain(names))
                if old not in items:
                    continue
                if new:
                    items = [new if x == old else x for x in items]
                else:
                    items = [x for x in items if x != old]
                if items:
                    _set_key(table, key, items[0] if isinstance(names, str) and len(items) == 1
                             else items)
                else:
                    del table[key]

    # -- checking and writing -------------------------------------------------------

    def validate(self) -> Config:
        return parse_config(self.text, path=self.path)

    def check(self, *, job: str | None = None, settings: bool = False,
              baseline: "Config | None" = None) -> Config:
        """Validate; raise :class:`EditRefused` if the edited part has errors, or if the
        edit added errors elsewhere (errors already in the file before are tolerated)."""
        cfg = self.validate()
        before = {_sig(e) for e in (baseline.errors if baseline else [])}
        bad = []
        for e in cfg.errors:
            mine = (job is not None and e.job == job) or (
                settings and (e.key or "").startswith("settings"))
            if mine or _sig(e) not in before:
                bad.append(e)
        if bad:
            raise EditRefused(bad)
        return cfg

    def save(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Write the document atomically (a temporary file renamed over the old one). A
        jobs file that is a link (kept with one's dotfiles) stays one: the file it points
        to is what is written."""
        named = Path(path or self.path)
        target = Path(os.path.realpath(named)) if named.is_symlink() else named
        target.parent.mkdir(parents=True, exist_ok=True)
        text = self.text
        mode = None
        try:
            mode = target.stat().st_mode & 0o777
        except FileNotFoundError:
            pass
        if mode is not None and not mode & stat.S_IWUSR:
            # Renaming a new file over it would work (the folder is writable), but a file
            # made read-only is one its owner wants kept as it is.
            raise UserError(f"{target} is read-only, so nothing was written; make it "
                            f"writable (chmod u+w {target}) to save from the window")
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        except OSError as exc:
            raise UserError(f"{target} could not be written ({exc.strerror} in "
                            f"{target.parent}), so nothing was saved") from None
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            if mode is not None:
                os.chmod(tmp, mode)
            os.replace(tmp, target)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        self.original = text
        return named


def _renamed(before: str, after: str, old: str, new: str) -> bool:
    """Whether ``after`` holds the jobs of ``before``, with job ``old`` called ``new`` (and
    the hooks that named it naming it so)."""
    def jobs(text: str) -> dict:
        try:
            return tomllib.loads(text.removeprefix("\ufeff").replace("\r\n", "\n")).get("jobs", {})
        except tomllib.TOMLDecodeError:
            return {}

    was, now = jobs(before), jobs(after)
    if old not in was or set(now) != set(was) - {old} | {new}:
        return False
    return all({k: v for k, v in now[n].items() if k not in HOOK_KEYS}
               == {k: v for k, v in was[old if n == new else n].items() if k not in HOOK_KEYS}
               for n in now)


def _last_table(item: Table | AoT) -> Table:
    """The table whose body ends where ``item`` ends in the file (its last sub-table's)."""
    table = item.body[-1] if isinstance(item, AoT) else item
    keyed = [v for k, v in table.value.body if k is not None]
    if keyed and isinstance(keyed[-1], (Table, AoT)):
        return _last_table(keyed[-1])
    return table


def _lines_before(body: list, end: int) -> tuple[list[tuple[list, int]], Table | None]:
    """The comment and blank lines before ``body[end]``: loose ones in this body, or the end
    of the table just before it; and that table (None when there is none)."""
    start = end
    while start and body[start - 1][0] is None and isinstance(
            body[start - 1][1], (Comment, Whitespace, Null)):
        start -= 1
    if start == end and start and isinstance(body[start - 1][1], (Table, AoT)):
        last = _last_table(body[start - 1][1])
        lines, _home = _lines_before(last.value.body, len(last.value.body))
        return lines, last
    return [(body, j) for j in range(start, end)], None


def _not_own(tail: list[Item], *, followed: bool) -> list[Item]:
    """Of the lines after a job's last key, those that are not the job's: the comments
    just above the next header are the next table's; the comments right under the job's
    keys, before any blank line, are the job's own (keys put aside, say); anything from the
    first blank line on is kept."""
    block = 0
    if followed:
        while block < len(tail) and isinstance(tail[len(tail) - 1 - block], Comment):
            block += 1
    rest = tail[:len(tail) - block]
    own = 0
    while own < len(rest) and isinstance(rest[own], Comment):
        own += 1
    return rest[own:] + tail[len(tail) - block:]


def _blank(body: list, j: int) -> None:
    body[j] = (None, Null())  # as tomlkit removes: the indexes of the keys after it hold


def _first_header(item: Item) -> Table | None:
    """The table whose header is written first for a top-level item (a super table writes
    none of its own)."""
    if isinstance(item, AoT):
        return item.body[0] if item.body else None
    if isinstance(item, Table) and item.is_super_table():
        inner = [v for k, v in item.value.body if k is not None and isinstance(v, (Table, AoT))]
        return _first_header(inner[0]) if inner else None
    return item if isinstance(item, Table) else None


def _cut_tail(table: Table, kinds: type | tuple[type, ...]) -> list[Item]:
    """Take the lines of these kinds (comments, blank lines) at the end of a table's body,
    after its last key; they are returned in order."""
    body = table.value.body
    cut = len(body)
    while cut and body[cut - 1][0] is None and isinstance(
            body[cut - 1][1], kinds):
        cut -= 1
    tail = [v for _k, v in body[cut:]]
    del body[cut:]
    return tail


def _forget_headers(table: Table) -> None:
    table.display_name = None
    for _key, item in table.value.body:
        if isinstance(item, Table):
            _forget_headers(item)
        elif isinstance(item, AoT):
            for t in item.body:
                _forget_headers(t)


def _sig(e: ConfigError) -> tuple:
    return (e.job, e.key, e.message)


# -- values -----------------------------------------------------------------------

def _plain(item: Any) -> Any:
    """The plain value of an item, as ``tomllib`` reads it (and so the engine): a line break
    in a multi-line text is ``\\n`` also where the file writes CRLF, which tomlkit keeps."""
    if isinstance(item, String):
        if item.type.is_multiline() and "\r" in item.as_string():
            return tomllib.loads(f"v = {item.as_string()}")["v"]
        return item.unwrap()
    if isinstance(item, (Table, InlineTable, OutOfOrderTableProxy, Container)):
        return {key: _plain(value) for key, value in item.items()}
    if isinstance(item, (Array, AoT)):
        return [_plain(value) for value in item]
    return item.unwrap() if hasattr(item, "unwrap") else item


def _is_long(d: dict[str, Any]) -> bool:
    return any(isinstance(v, str) and ("\n" in v or len(v) > 60) for v in d.values()) or any(
        isinstance(v, (dict, list)) and len(str(v)) > 80 for v in d.values())


def toml_value(value: Any, *, key: str = "") -> Item:
    """A tomlkit item for a plain value: small tables inline, lists of tables as arrays
    of inline tables (one per line) unless they hold long text (then ``[[...]]``)."""
    if isinstance(value, dict):
        t = tomlkit.inline_table()
        for k, v in value.items():
            t[k] = toml_value(v, key=k)
        return t
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        if any(_is_long(v) for v in value):
            aot = tomlkit.aot()
            for v in value:
                t = tomlkit.table()
                for k, x in v.items():
                    t[k] = text_item(x) if isinstance(x, str) else toml_value(x, key=k)
                aot.append(t)
            return aot
        arr = tomlkit.array()
        for v in value:
            arr.append(toml_value(v))
        if len(value) > 1:
            arr.multiline(True)
        return arr
    if isinstance(value, list):
        arr = tomlkit.array()
        for v in value:
            arr.append(toml_value(v))
        return arr
    if isinstance(value, str):
        return text_item(value)
    return tomlkit.item(value)


def text_item(value: str) -> Item:
    """Text as TOML that reads back as exactly this text: several lines go in a multi-line
    string starting on a line of its own (that first line break is not part of the value,
    so none is added at the end either), with any carriage return written as ``\\r`` (a
    raw one in a multi-line string is read as a plain line break)."""
    if "\n" not in value:
        return tomlkit.item(value)
    raw = String.from_raw(value, StringType.MLB).as_string()[3:-3]
    if not raw.startswith("\n"):
        raw = "\n" + raw
    return String(StringType.MLB, value, raw.replace("\r", "\\r"), Trivia())


def _set_key(table: Table | InlineTable, key: str, value: Any) -> None:
    """Set ``key``, keeping its comment; a new key goes after the table's last key."""
    if key in table:
        old = table[key]
        if _plain(old) == value:
            return
        new = toml_value(value, key=key)
        comment = getattr(getattr(old, "trivia", None), "comment", "")
        table[key] = new
        if comment and hasattr(table[key], "trivia"):
            table[key].trivia.comment = comment
            table[key].trivia.comment_ws = old.trivia.comment_ws or "  "
        return
    item = toml_value(value, key=key)
    if isinstance(table, Table):
        body = table.value.body
        plain = [k for k, v in body if k is not None and not isinstance(v, (Table, AoT))]
        if plain and not isinstance(item, AoT):
            # Indented as the key above it is (a table whose keys are indented with tabs).
            indent = getattr(getattr(table[plain[-1].key], "trivia", None), "indent", "")
            if hasattr(item, "trivia") and indent.strip(" \t") == "":
                item.trivia.indent = indent
            _insert(table, key, item, after=plain[-1])
        elif body and not isinstance(item, (Table, AoT)):
            # Only sub-tables so far: a plain key must come before them.
            _insert(table, key, item, at=0)
        else:
            table.append(key, item)
        return
    if isinstance(table, InlineTable):
        _add_inline(table, key, item)
    else:  # the view tomlkit gives of a job written in dotted keys
        table[key] = item


def _add_inline(table: InlineTable, key: str, item: Item) -> None:
    """Add a key at the end of an inline table, inside the space before its ``}`` and
    after a comma and a space: tomlkit puts it after that space and writes the comma alone,
    ``{ kind = "demo", steps = 3, x = 1}`` and ``{kind = "demo",x = 1}``."""
    body = table.value.body
    keyed = any(k is not None for k, _v in body)
    tail = []
    while body and body[-1][0] is None and isinstance(body[-1][1], Whitespace) \
            and "," not in body[-1][1].s:
        tail.insert(0, body.pop()[1])
    if keyed:
        body.append((None, Whitespace(", ")))
    elif tail:  # { }: the space inside goes on both sides of the key
        body.append((None, Whitespace("".join(w.s for w in tail))))
    table[key] = item
    for w in tail:
        table.value.body.append((None, w))


def _insert(table: Table, key: str, item: Item, *, at: int | None = None,
            after: Any = None) -> None:
    """Put ``key`` at a place in the table: at body index ``at``, or after the key ``after``.

    tomlkit's public API only appends. ``Container._insert_at`` is the one private call used;
    it has kept its signature from 0.12 to 0.15 (``_insert_after`` went in 0.15.3).
    """
    body = table.value.body
    if after is not None:
        at = 1 + max(i for i, (k, _) in enumerate(body) if k is not None and k == after)
    if at >= len(body):
        table.append(key, item)
        return
    table.value._insert_at(at, key, item)
    dict.__setitem__(table, key, table.value[key])  # the table's own view of its keys


def _merge(table: Table | InlineTable | OutOfOrderTableProxy, values: dict[str, Any]) -> None:
    for key in [k for k in table.keys() if k not in values]:
        del table[key]
    for key, value in values.items():
        old = table.get(key) if key in table else None
        # (Dotted keys, retry.attempts = 2, are read as an out-of-order table: merged as a
        # table is, they stay where and as they were written, with their comments.)
        if isinstance(old, (Table, InlineTable, OutOfOrderTableProxy)) and isinstance(
                value, dict):
            _merge(old, value)
        elif isinstance(old, AoT) and isinstance(value, list) and all(
                isinstance(v, dict) for v in value):
            if _plain(old) != value:
                del table[key]
                _set_key(table, key, value)
        else:
            _set_key(table, key, value)


def parse_toml_value(text: str) -> Any:
    """A TOML value written on its own (``[1, 2]``, ``{ a = 1 }``, ``"x"``); ValueError."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(str(exc).replace("(at line 1, ", "(at ")) from None
