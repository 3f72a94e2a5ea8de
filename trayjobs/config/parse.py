"""Reading the jobs file's text into a :class:`~.result.Config`: each job validated on
its own, each mistake kept with its file, line, job and key."""

from __future__ import annotations

import ast
import difflib
import json
import math
import os
import re
import tomllib
import unicodedata
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..cluster import parse_cluster
from ..errors import ConfigError, unseen
from ..kinds.base import COMMON_KEYS, KindParams
from ..kinds.registry import get_kind, kind_names
from ..places import danger, expand
from .base import HOOK_KEYS, MAX_NESTING, OUTPUT_FOLDER_KEYS, PATH_KEYS, _LEAVE
from .hooks import MAX_CHAIN, hook_cycles, long_hook_chains
from .job import JobCommon, JobConfig
from .locate import Locator
from .messages import _messages, _shown
from .result import Config, _other_jobs
from .settings import Settings
from .tables import WatchSpec

__all__ = ["parse_config", "check_jobs"]


def parse_config(text: str, *, path: Path | None = None) -> Config:
    fname = str(path) if path else "<config>"
    # A byte order mark is how some editors say "UTF-8"; it is not part of the TOML.
    body = text[1:] if text.startswith("\ufeff") else text
    try:
        data = tomllib.loads(body)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        # Lines as TOML counts them: splitlines() also breaks at a form feed, \x1c-\x1e, \x85,
        # \u2028 and \u2029, which a comment or a text may hold.
        lines = body.split("\n")
        line = lines[int(m.group(1)) - 1].rstrip("\r") if m and int(m.group(1)) <= len(
            lines) else ""
        hint = _toml_hint(str(exc), line)
        if re.search(r"\r(?!\n)", body):  # TOML ends lines with LF or CRLF only
            hint = ("; lines here end with a carriage return alone (old Mac style): save the "
                    "file with LF (Unix) or CRLF (Windows) line ends")
        return Config(path=path, text=text, unreadable=True, errors=[ConfigError(
            f"not valid TOML: {exc}{hint}", file=fname, line=int(m.group(1)) if m else None)])
    except RecursionError:  # the parser recurses into each nested array and inline table
        return Config(path=path, text=text, unreadable=True, errors=[ConfigError(
            f"values nested too deeply to read; tables and lists nest at most "
            f"{MAX_NESTING} levels", file=fname)])
    cfg = Config(path=path, text=text)
    locate = Locator(body)

    tables = ["settings", "jobs", "alerts", "cluster"]
    for key in sorted(set(data) - set(tables)):
        close = difflib.get_close_matches(key.casefold(), tables, n=1, cutoff=0.75)
        hint = f"; did you mean [{close[0]}]?" if close else ""
        cfg.errors.append(ConfigError(
            f"unknown top-level table{hint}; use [settings], [jobs.NAME], [alerts.NAME] or "
            f"[cluster]", file=fname, key=key, line=locate.top(key)))

    settings_raw = data.get("settings", {})
    hostile = _hostile(settings_raw) if isinstance(settings_raw, dict) else []
    for loc, msg in hostile:
        cfg.errors.append(ConfigError(msg, file=fname, key=f"settings.{loc}",
                                      line=locate.key(["settings"], loc)))
    try:
        if not hostile:
            cfg.settings = Settings.model_validate(settings_raw)
    except ValidationError as exc:
        for loc, msg in _messages(exc, Settings):
            cfg.errors.append(ConfigError(msg, file=fname, key=f"settings.{loc}" if loc else "settings",
                                          line=locate.key(["settings"], loc)))

    jobs = data.get("jobs", {})
    if not isinstance(jobs, dict):
        cfg.errors.append(ConfigError("write each job as a table: [jobs.NAME]", file=fname,
                                      key="jobs", line=locate.top("jobs")))
        jobs = {}
    written: dict[str, str] = {}  # each name as NFC: the first job that has it
    for name in jobs:
        written.setdefault(unicodedata.normalize("NFC", name), name)
    for name, raw in jobs.items():
        same = written[unicodedata.normalize("NFC", name)]
        try:
            if same != name:  # "café" typed two ways: no one can tell which is meant
                raise _JobErrors([("", f"the name looks the same as job {same!r}, only "
                                       f"written with other Unicode characters; rename one")])
            cfg.jobs[name] = _parse_job(name, _hooks_as_named(raw, written))
        except _JobErrors as errs:
            for loc, msg in errs.items:
                cfg.errors.append(ConfigError(msg, file=fname, job=_shown_name(name),
                                              key=loc or None,
                                              line=locate.key(["jobs", name], loc)))
    for name, job in cfg.jobs.items():
        for key, other in job.common.hooks():
            if other not in jobs:
                cfg.errors.append(ConfigError(f"{key!r} names {other!r}, which is not a job"
                                              f"{_other_jobs(other, jobs, listed=False)}",
                                              file=fname, job=name, key=key,
                                              line=locate.key(["jobs", name], key)))
    from ..alerts.config import parse_alerts
    parse_alerts(cfg, data.get("alerts", {}), fname=fname, locate=locate,
                 raw_jobs=data.get("jobs"))
    if "cluster" in data:
        parse_cluster(cfg, data["cluster"], fname=fname, locate=locate)
    # A job that starts itself again, directly or through others, would run for ever: the
    # jobs on such a loop are refused (they do not run), the others keep working.
    for name, (key, cycle) in sorted(hook_cycles(cfg.jobs).items()):
        del cfg.jobs[name]
        cfg.errors.append(ConfigError(
            f"a loop of jobs that would start each other for ever: "
            f"{_path(cycle)}; remove one of these hooks", file=fname, job=name, key=key,
            line=locate.key(["jobs", name], key)))
    # A chain longer than the engine follows is cut at run MAX_CHAIN + 1: said here, before
    # a run, on each job that starts such a chain and that no hook starts itself.
    for name, (key, chain) in sorted(long_hook_chains(cfg.jobs).items()):
        cfg.errors.append(ConfigError(
            f"its hooks start a chain of {len(chain)} jobs one after another "
            f"({chain[0]} -> {chain[1]} -> ... -> {chain[-1]}); runs stop after the "
            f"{MAX_CHAIN}th started this way: start the rest from a job of its own",
            file=fname, job=name, key=key, line=locate.key(["jobs", name], key)))
    return cfg


def check_jobs(cfg: Config, *, notes: list[str] | None = None,
               warnings: list[ConfigError] | None = None) -> list[ConfigError]:
    """What would stop valid jobs from running, found without running them (a python job's
    missing file, an unknown secret): the kinds' own checks, for ``trayjobs check``.
    What could not be checked is said once in ``notes`` (secrets, when no keyring answers);
    what may go wrong though the job runs (the kinds' cautions) goes to ``warnings``."""
    from ..secrets import SecretError, secret_exists, secret_refs
    fname = str(cfg.path) if cfg.path else "<config>"
    locate = Locator(cfg.text)
    errors = []
    for name, job in cfg.jobs.items():
        kind = get_kind(job.kind)
        for key, msg in kind.checked_problems(job.params):
            errors.append(ConfigError(msg, file=fname, job=name, key=key or None,
                                      line=locate.key(["jobs", name], key)))
        for key, msg in kind.checked_cautions(job.params) if warnings is not None else ():
            warnings.append(ConfigError(msg, file=fname, job=name, key=key or None,
                                        line=locate.key(["jobs", name], key)))
    if warnings is not None:
        for name, key, msg in _shared_watches(cfg):
            warnings.append(ConfigError(msg, file=fname, job=name, key=key,
                                        line=locate.key(["jobs", name], key)))
    if notes is not None:
        notes.extend(f"job {name!r}, key {key!r}: {other!r} is disabled (enabled = false), so "
                     f"this hook does not start it"
                     for name, job in cfg.jobs.items() for key, other in job.common.hooks()
                     if other in cfg.jobs and not cfg.jobs[other].enabled)
        notes.extend(f"job {name!r}, key 'max_wait': its runs wait for no condition (no "
                     f"'when', and no pause_on_battery or only_unmetered in [settings]), so "
                     f"max_wait has nothing to cut short"
                     for name, job in cfg.jobs.items()
                     if job.common.max_wait is not None and not job.conditions(cfg.settings))
    refs = [(name, key, secret) for name, job in cfg.jobs.items()
            for key, secret in secret_refs(job.params)]
    try:
        for name, key, secret in refs:
            if not secret_exists(secret):
                errors.append(ConfigError(
                    f"there is no secret {secret!r} in the system keyring; store it with "
                    f"`trayjobs secret set {secret}`", file=fname, job=name, key=key,
                    line=locate.key(["jobs", name], key)))
    except SecretError as exc:
        if notes is not None:
            notes.append(f"secrets were not checked: {exc}")
    return errors


def _shared_watches(cfg: Config) -> list[tuple[str, str, str]]:
    """(job, key, why) for a job that moves the files it took (an import's processed/ and
    failed/) out of a folder another job watches for some of the same files: the other
    job's run is handed a file that may be gone by then, and fails."""
    def folder(job: JobConfig) -> str:
        return os.path.realpath(job.common.watch.path)

    def takes_files(job: JobConfig) -> bool:
        try:
            return bool(job.enabled and job.common.watch is not None
                        and get_kind(job.kind).accepts_files)
        except (KeyError, ImportError):
            return False

    def moved_to(job: JobConfig) -> list[str]:
        return [f"{v.strip()}/" for k in OUTPUT_FOLDER_KEYS
                if isinstance(v := getattr(job.params, k, None), str)
                and v.strip() and v.strip() != _LEAVE]

    def overlap(a: list[str], b: list[str]) -> bool:
        return any(fnmatchcase(p.lower(), q.lower()) or fnmatchcase(q.lower(), p.lower())
                   for p in a for q in b)

    jobs = [j for j in cfg.jobs.values() if takes_files(j)]
    out = []
    for mover in jobs:
        into = moved_to(mover)
        if not into:
            continue
        others = [j.name for j in jobs if j is not mover and folder(j) == folder(mover)
                  and overlap(j.common.watch.patterns, mover.common.watch.patterns)]
        if others:
            names = ", ".join(repr(n) for n in others)
            out.append((mover.name, "watch", (
                f"{names} {'watches' if len(others) == 1 else 'watch'} {folder(mover)} for some "
                f"of the same files, and this job moves each file it took (to "
                f"{' or '.join(into)}): {names} may find a file gone before its run reads it; "
                f"give each job a folder of its own, or set processed_dir and failed_dir = "
                f"\"leave\" here")))
    return out


def _path(names: list[str], most: int = 12) -> str:
    """Jobs one after another, ``a -> b -> a``; a long loop with its middle counted, not
    named: each of its jobs says it, and 2,000 jobs on one loop wrote 2,000 names 2,000
    times (32 MB from trayjobs check)."""
    if len(names) <= most:
        return " -> ".join(names)
    head, tail = names[:most // 2], names[-(most // 2):]
    return (" -> ".join(head) + f" -> ... ({len(names) - len(head) - len(tail)} more) ... -> "
            + " -> ".join(tail))


class _JobErrors(Exception):
    def __init__(self, items: list[tuple[str, str]]):
        self.items = items


def _hooks_as_named(raw: Any, names: dict[str, str]) -> Any:
    """``raw`` with each job its hooks name spelt as that job's own name: "café" typed
    as "e" and an accent is the job "café" (``names``: each name as NFC, and the job's)."""
    if not isinstance(raw, dict):
        return raw
    out = dict(raw)
    for key in HOOK_KEYS:
        value = raw.get(key)
        if isinstance(value, str):  # then = "b" is then = ["b"]
            out[key] = names.get(unicodedata.normalize("NFC", value), value)
        elif isinstance(value, list):
            out[key] = [names.get(unicodedata.normalize("NFC", v), v) if isinstance(v, str)
                        else v for v in value]
    return out


def _toml_hint(error: str, line: str = "") -> str:
    """What to do about a TOML error whose words name no way out (a table or key twice, a
    word without quotes), ``line`` being the line it is on."""
    if line and not line.strip("\x00"):
        return ("; the line is NUL bytes, as a file damaged by a crash is: write it again, or "
                "restore the last version that could be read (last-good-trayjobs.toml in the "
                "data folder)")
    control = re.search(r"[\x00-\x08\x0b-\x1f\x7f]", line)
    if control:  # invisible: the words of the error would be about what follows it
        char = control.group()
        escape = "" if char == "\x00" else f" (in text, write it as \\u{ord(char):04x})"
        return (f"; the line holds a control character, {char!r} (column {control.start() + 1}), "
                f"that no editor shows: delete it{escape}")
    m = re.match(r"Cannot declare (\(.*?\)) twice", error)
    if m:
        try:
            header = ".".join(_bare(str(k)) for k in ast.literal_eval(m.group(1)))
        except (ValueError, SyntaxError, TypeError):
            header = "this table"
        return (f"; [{header}] is written twice: a table is written once, so merge the two, "
                f"or give one of them another name")
    if error.startswith("Cannot overwrite a value"):
        return ("; a key is given twice in one table (or a key has a table's name): keep "
                "one of them")
    m = re.match(r"Cannot (?:mutate immutable|redefine) namespace (\(.*?\))", error)
    if m:  # retry = { ... } and then retry.backoff = ...
        try:
            key = str(ast.literal_eval(m.group(1))[-1])
        except (ValueError, SyntaxError, TypeError, IndexError):
            key = "this table"
        return (f"; {key} is written whole in one place already ({{ ... }} or a [table] of "
                f"its own): put this key there, with the others")
    if error.startswith("Illegal character '\\n'"):
        return ("; text in quotes ends on its line: close the quote, or write text of "
                "several lines in triple quotes (\"\"\"...\"\"\")")
    if error.startswith("Unescaped '\\' in a string"):
        # a command's regex (grep '\.'), a crontab's \% (which a shell reads as %)
        key, _, value = line.partition("=")
        single = value.strip().startswith('"') and "'" not in value
        return ("; in \"...\" a backslash starts an escape (\\n, \\t, \\\\): write the text "
                "in single quotes, where a backslash is itself"
                + (f", {key.strip()} = '{value.strip()[1:-1]}'" if single and key.strip()
                   and value.strip().endswith('"') else "")
                + ", or each backslash as \\\\")
    if error.startswith("Unclosed array"):
        return "; separate a list's items with commas, and close it with ]"
    if error.startswith("Invalid initial character for a key part") and "{" in line:
        return ("; a table in braces { } is written on one line, its entries separated by "
                "commas, with none after the last")
    if error.startswith(("Invalid value", "Expected newline or end of document")):
        return _value_hint(line)
    return ""


def _value_hint(line: str) -> str:
    """What to write for a value TOML cannot read on ``line``: a word without quotes,
    Python's True or None, yes or no."""
    key, _, value = line.partition("=")
    key, value = key.strip(), value.split("#")[0].strip()
    if not value:
        return ""
    # The first bare word after =, [, { or a comma: then = [a, b] has a and b.
    word = re.search(r"[=\[{,]\s*([A-Za-z][\w.:/~-]*|\d[\w.:/~-]*[A-Za-z][\w.:/~-]*)\s*"
                     r"(?:[,}\]]|$)", line.split("#")[0])
    bare = word.group(1) if word else None
    if bare in ("True", "False", "TRUE", "FALSE"):
        return (f"; true and false are written in lower case: {key} = {bare.lower()}"
                if value == bare else "; true and false are written in lower case")
    if value.lower() in ("yes", "no", "on", "off"):  # quoted, they would be text
        return f"; write true or false, without quotes: {key} = " + (
            "true" if value.lower() in ("yes", "on") else "false")
    if bare and bare.lower() in ("none", "null", "nil"):
        return "; TOML has no empty value: leave the key out"
    if key and not re.search(r"[\"'\[{]", value):  # every = 1h, cron = 0 9 * * *
        return f"; text is written in quotes: {key} = {json.dumps(value, ensure_ascii=False)}"
    return f"; text is written in quotes: \"{bare}\"" if bare else ""


def _named(message: str, job: str) -> str:
    """A kind's message with the job's own table header where it writes ``jobs.NAME``
    (a report's "[[jobs.NAME.sections]]"): the person copies what the message shows."""
    return message.replace("[jobs.NAME.", f"[jobs.{_bare(job)}.").replace(
        "[jobs.NAME]", f"[jobs.{_bare(job)}]")


def _bare(key: str) -> str:
    """``key`` as a TOML table header writes it: bare when it can be, else quoted."""
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key, ensure_ascii=False)


def _parse_job(name: str, raw: Any) -> JobConfig:
    if not isinstance(raw, dict):
        raise _JobErrors([("", "a job must be a table: [jobs.NAME] with keys under it")])
    if name and not name.strip():  # " " has a character, but none anyone can see
        raise _JobErrors([("", "a job name cannot be only spaces; give it a name you can "
                               "see and type, e.g. [jobs.backup]")])
    if name != name.strip():
        # "nightly " looks like "nightly" everywhere a name is shown, and is another job:
        # `trayjobs run nightly` would not find it, a second "nightly" could be added.
        raise _JobErrors([("", f"a job name cannot begin or end with a space; rename the job "
                               f"[jobs.{_bare(name.strip())}]")])
    if not name or len(name) > 100:
        raise _JobErrors([("", f"a job name must be 1-100 characters (this one has "
                               f"{len(name)})")])
    control = next((c for c in name if unseen(c)), None)
    if control is not None:
        # A terminal obeys them: `trayjobs runs` would print colours or move the cursor,
        # and a right-to-left override shows the name backwards.
        raise _JobErrors([("", f"a job name cannot hold control characters (it holds "
                               f"{ascii(control)}); rename the job")])
    hostile = _hostile(raw)
    if hostile:  # not handed on: validating them recurses, or fails in confusing words
        raise _JobErrors(hostile)
    common_raw = {k: v for k, v in raw.items() if k in COMMON_KEYS}
    kind_raw = {k: v for k, v in raw.items() if k not in COMMON_KEYS}
    errors: list[tuple[str, str]] = []
    common = kind_cls = params = None
    inner = next((k for k, v in raw.items() if isinstance(v, dict) and "kind" in v), None)
    if "kind" not in raw and inner is not None:
        # [jobs.nightly.backup]: TOML reads a job 'nightly' holding a table 'backup'.
        raise _JobErrors([("", f"[jobs.{_bare(name)}.{_bare(inner)}] is read as a job "
                               f"{name!r} holding a table {inner!r}; a job name with a dot is "
                               f"written in quotes: [jobs.\"{name}.{inner}\"]")])
    written = next((k for k in raw if k != "kind" and (
        k.strip().casefold() == "type" or difflib.get_close_matches(
            k.strip().casefold(), ["kind"], n=1, cutoff=0.75))), None)
    if "kind" not in raw and written is not None:
        # "Kind", "kinds", "type": the kind is there, under a key that is not read as it.
        meant = raw[written] if isinstance(raw[written], str) else "demo"
        errors.append((written, f"write kind = {json.dumps(meant, ensure_ascii=False)} (the "
                                f"key is kind, in lower case; kinds: {', '.join(kind_names())})"))
    elif "kind" not in raw:
        errors.append(("kind", "missing; say what the job does, e.g. kind = \"import\" "
                               f"(kinds: {', '.join(kind_names())})"))
    elif not isinstance(raw["kind"], str):
        errors.append(("kind", f"write the kind's name in quotes, e.g. kind = \"demo\" (got "
                               f"{_shown(raw['kind'])}; kinds: {', '.join(kind_names())})"))
    else:
        try:
            kind_cls = get_kind(raw["kind"])
        except (KeyError, ImportError) as exc:  # a KeyError's str() is its message's repr
            errors.append(("kind", str(exc.args[0] if exc.args else exc)))
    try:
        common = JobCommon.model_validate(common_raw)
    except ValidationError as exc:
        errors.extend((loc, msg) for loc, msg in _messages(exc, JobCommon) if loc != "kind")
    blank = _blank_paths(kind_raw)
    errors.extend(blank)
    if kind_cls is not None and not blank:
        try:
            params = kind_cls.parse_params(kind_raw)
        except ValidationError as exc:
            errors.extend((loc, _named(msg, name))
                          for loc, msg in _messages(exc, kind_cls.Params, kind=kind_cls.name))
        except Exception as exc:  # a plug-in's validator raising other than ValueError
            errors.append(("", f"the {kind_cls.name} kind could not read this job's options: "
                               f"{type(exc).__name__}: {exc}"))
    if common is not None and common.cron and common.every:
        errors.append(("cron", "give either 'every' or 'cron', not both"))
    if common is not None and common.watch is not None and params is not None:
        errors.extend(_output_folders(common.watch, params))
    if common is not None and params is not None:
        errors.extend(_kind_params_in_params(kind_cls, params, common.params))
    if errors:
        raise _JobErrors(errors)
    return JobConfig(name=name, common=common, params=params, raw=raw)


def _kind_params_in_params(kind_cls, params: KindParams, defaults: dict[str, Any]
                           ) -> list[tuple[str, str]]:
    """``params`` that set one of the kind's own keys (a report's ``period``) set it for
    every run: checked here as the kind checks that key, not first when each run starts."""
    own = {k: v for k, v in defaults.items() if k in kind_cls.run_params}
    if not own:
        return []
    try:
        kind_cls.parse_params({**params.model_dump(mode="json", by_alias=True), **own})
    except ValidationError as exc:
        return [(f"params.{loc}" if loc else "params", msg)
                for loc, msg in _messages(exc, kind_cls.Params, kind=kind_cls.name)]
    return []


def _shown_name(name: str) -> str:
    """A job name as a message may print it: control characters escaped."""
    return "".join(ascii(c)[1:-1] if unseen(c) else c for c in name)


def _output_folders(watch: WatchSpec, params: KindParams) -> list[tuple[str, str]]:
    """Relative folders the watched files are moved into, checked where the files arrive
    (absolute ones the kind's params check themselves)."""
    if getattr(params, "allow_dangerous_location", False):
        return []
    errors = []
    for key in OUTPUT_FOLDER_KEYS:
        value = getattr(params, key, None)
        if (not isinstance(value, str) or value == _LEAVE
                or os.path.isabs(os.path.expandvars(os.path.expanduser(value)))):
            continue
        why = danger(expand(value, str(watch.path)))
        if why:
            errors.append((key, f"{value!r} in {watch.folder} {why}; set "
                                f"allow_dangerous_location = true if you really mean it"))
    return errors


def _hostile(raw: Any) -> list[tuple[str, str]]:
    """Values no option takes, found without recursing: NaN or infinity (TOML allows
    ``nan`` and ``inf``) and tables or lists nested more than :data:`MAX_NESTING` deep."""
    found: list[tuple[str, str]] = []
    stack: list[tuple[list[str], Any]] = [([], raw)]
    while stack:
        loc, value = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            found.append((".".join(loc), f"not a number (got {value})"))
        elif isinstance(value, (dict, list)):
            if len(loc) > MAX_NESTING:
                found.append((loc[0], f"nested more than {MAX_NESTING} levels deep"))
                continue
            items = value.items() if isinstance(value, dict) else enumerate(value)
            stack.extend(([*loc, str(k)], v) for k, v in items)
    return sorted(set(found))


def _blank_paths(raw: dict[str, Any]) -> list[tuple[str, str]]:
    """Paths no kind can use: empty ones, ones with a NUL (no file name holds one: each
    use fails with "embedded null byte"), and ``~name/…`` of a user there is not (which
    ``Path.expanduser`` raises a RuntimeError for, wherever the kind expands it)."""
    errors = []
    for key in PATH_KEYS:
        # A list of paths (a python job's ``path = ["", ...]``) is looked at one by one.
        values = raw[key] if isinstance(raw.get(key), list) else [raw.get(key)]
        texts = [v for v in values if isinstance(v, str)]
        if any(not v.strip() for v in texts):
            errors.append((key, "empty; give a path, e.g. \"~/Inbox\""))
            continue
        if any("\0" in v for v in texts):
            errors.append((key, "a path cannot hold a NUL character (\\u0000); remove it"))
            continue
        for v in texts:
            if v.startswith("~") and os.path.expanduser(v).startswith("~"):
                errors.append((key, f"{v!r} cannot be used: there is no user "
                                    f"{v[1:].split('/')[0]!r}; write ~/… for a path in your "
                                    f"own home"))
                break
    return errors

