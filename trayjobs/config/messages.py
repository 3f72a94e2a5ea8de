"""Validation errors in plain words: the key, what is wrong, and what to write instead."""

from __future__ import annotations

import difflib
import json
import math
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, Discriminator, Tag, ValidationError

from ..durations import parse_duration
from ..kinds.base import COMMON_KEYS
from ..toml_text import as_toml as _as_toml
from ..toml_text import shown as _shown
from .base import _duration

__all__ = []


def _secret_here(value: Any) -> str:
    """For ``{ secret = "name" }`` where no secret is taken: where one is; else nothing."""
    if not (isinstance(value, dict) and list(value) == ["secret"]
            and isinstance(value["secret"], str)):
        return ""
    name = json.dumps(value["secret"], ensure_ascii=False)
    return (f"; a secret is given as an environment variable of a command job, env = "
            f"{{ NAME = {{ secret = {name} }} }}, or read by a python function with "
            f"ctx.secret({name})")


_TYPE_WORDS = {
    "string_type": "write text in quotes",
    "int_type": "write a whole number", "int_parsing": "write a whole number",
    "int_from_float": "write a whole number",
    "float_type": "write a number", "float_parsing": "write a number",
    "bool_type": "write true or false", "bool_parsing": "write true or false",
    "list_type": "write a list in brackets, e.g. [\"a\", \"b\"]",
    "finite_number": "not a number",
}


#: Text that reads as true or false: what lax validation took for them.
_BOOL_WORDS = {"true": True, "yes": True, "on": True, "y": True, "t": True, "1": True,
               "false": False, "no": False, "off": False, "n": False, "f": False, "0": False}


def _unquoted(kind_of: str, where, value: Any) -> str:
    """For text where a bool or number belongs (``enabled = "no"``, ``workers = "2"``):
    the line to write instead, e.g. ``, e.g. enabled = false``; else nothing."""
    if not isinstance(value, str) or not where or isinstance(where[-1], int):
        return ""
    if not kind_of.startswith(("bool", "int", "float")):  # a list: "-1" is no list either
        return ""
    text = value.strip()
    if kind_of.startswith("bool"):
        meant = _BOOL_WORDS.get(text.lower())
        shown = None if meant is None else "true" if meant else "false"
    else:
        try:
            number = int(text) if kind_of.startswith("int") else float(text)
        except ValueError:
            return ""
        shown = _as_toml(number) if math.isfinite(number) else None
        if isinstance(number, float) and number.is_integer() and shown is not None:
            shown = str(int(number))  # cpu_below = 50: a float key takes a whole number too
    return "" if shown is None else f" without quotes, e.g. {where[-1]} = {shown}"


_LENGTH_WORDS = {
    "string_too_short": lambda n: "empty; write some text" if n == 1 else f"at least {n} characters",
    "string_too_long": lambda n: f"at most {n} characters",
    "too_short": lambda n: "add at least one" if n == 1 else f"add at least {n}",
    "too_long": lambda n: f"at most {n} entries",
}


_BOUND_WORDS = {"less_than_equal": ("le", "at most"), "greater_than_equal": ("ge", "at least"),
                "less_than": ("lt", "less than"), "greater_than": ("gt", "more than")}


def _messages(exc: ValidationError, model: type[BaseModel], *, kind: str | None = None):
    """Pydantic errors as (dotted key, plain message) pairs: no class names, and what to
    write instead.

    A value that may be of several types (``ping``: text or ``{ secret = "..." }``) gets an
    error from each type that refused it, at its key with the type's name added
    (``ping.SecretRef``). These become one message at the real key that names every type
    that would do; when the value got into one type's table, only that table's errors."""
    out: list[tuple[str, str | None]] = []  # (key, message); None: a union's refusals go here
    refused: dict[str, list[dict]] = {}      # a union's key: the errors of its types
    entered: set[str] = set()                # unions whose value got into a type's table
    for err in exc.errors():
        loc = err["loc"]
        tags = _walk(model, loc)[0]
        if not tags:
            out.append(_message(err, loc, model, kind))
            continue
        real = tuple(p for i, p in enumerate(loc) if i not in tags)
        at = ".".join(str(p) for i, p in enumerate(loc[:max(tags)]) if i not in tags)
        if max(tags) < len(loc) - 1:
            entered.add(at)
            out.append(_message(err, real, model, kind))
        else:
            if at not in refused:
                out.append((at, None))
            refused.setdefault(at, []).append(err)
    for key, msg in out:
        if msg is not None:
            yield key, msg
        elif key not in entered:
            yield key, _either(refused[key], model)


def _either(errs: list[dict], model: type[BaseModel]) -> str:
    """One message for a value that each type of a union refused: the types that would do."""
    ways = []
    for err in errs:
        if err["type"] == "literal_error":
            ways.append(f"one of {err['ctx']['expected']}")
        elif err["type"] in ("model_type", "model_attributes_type", "dict_type"):
            member = _walk(model, err["loc"])[1]
            table = member if isinstance(member, type) and issubclass(member, BaseModel) else None
            ways.append(f"a table such as {_example(table)}")
        elif err["type"] in _TYPE_WORDS:
            ways.append(_TYPE_WORDS[err["type"]].removeprefix("write "))
        else:
            return _message(err, err["loc"][:-1], model, None)[1]
    got = errs[0].get("input")
    shown = "" if isinstance(got, (dict, list)) else f" (got {_shown(got)})"
    return "write " + ", or ".join(dict.fromkeys(ways)) + shown


def _walk(model: type[BaseModel], loc) -> tuple[set[int], Any]:
    """The places in ``loc`` (an error's location) that name a type of a union instead of
    a key (``ping.str``), and the type found at its end (None where it cannot be told). A
    union told apart by a key (a cleanup action's ``move``) is left alone: its tag is that
    key."""
    tags: set[int] = set()
    tp: Any = model
    for i, part in enumerate(loc):
        keyed = False
        while get_origin(tp) is Annotated:
            keyed = keyed or any(isinstance(m, Discriminator) for m in tp.__metadata__)
            tp = get_args(tp)[0]
        members = [a for a in get_args(tp) if a is not type(None)] \
            if get_origin(tp) in (Union, UnionType) else [tp]
        if len(members) > 1:  # ``part`` names a member; what follows is inside it
            if not keyed:
                tags.add(i)
            tp = next((m for m in members if _tag(m) == part), None)
        else:
            tp = _step(members[0], part)
        if tp is None:
            break
    return tags, tp


def _tag(tp: Any) -> str | None:
    """The name pydantic gives a union's member in an error's location."""
    if get_origin(tp) is Annotated:
        return next((m.tag for m in tp.__metadata__ if isinstance(m, Tag)), None)
    return getattr(tp, "__name__", None)


def _step(tp: Any, part: Any) -> Any:
    """The type of ``part`` (a key, a list index) in a value of type ``tp``; None when
    that cannot be told."""
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        fld = next((f for n, f in tp.model_fields.items() if part in (n, f.alias)), None)
        if fld is None:
            return None
        # pydantic keeps a field's Annotated[...] extras apart: a Discriminator among them
        # says how its union is told apart.
        return Annotated[(fld.annotation, *fld.metadata)] if fld.metadata else fld.annotation
    args = get_args(tp)
    if get_origin(tp) in (list, tuple, set, frozenset) and args:
        return args[0]
    if get_origin(tp) is dict and len(args) == 2:
        return args[1]
    return None


def _message(err: dict, where, model: type[BaseModel], kind: str | None) -> tuple[str, str]:
    """One pydantic error as (dotted key, plain message), the key being ``where``."""
    loc = ".".join(str(p) for p in where)
    kind_of = err["type"]
    msg = err["msg"]
    if kind_of == "extra_forbidden":
        parent = [str(p) for p in where[:-1] if not isinstance(p, int)]
        return loc, _unknown_key(str(where[-1]), _model_at(model, where[:-1]),
                                 parent=".".join(parent), kind=kind)
    if kind_of == "missing":
        # what the key holds, with its example: "missing" alone says not what to write
        holder = _model_at(model, where[:-1]) if where else None
        fld = next((f for n, f in holder.model_fields.items() if where[-1] in (n, f.alias)),
                   None) if holder is not None else None
        about = fld.description if fld is not None and fld.description else ""
        msg = "missing (required)" + (f": {about}" if about else "")
    elif kind_of == "value_error":
        msg = str(err.get("ctx", {}).get("error", msg))
    elif kind_of == "literal_error":
        msg = f"{_shown(err['input'])} is not one of the choices: {err['ctx']['expected']}"
    elif kind_of in ("model_type", "model_attributes_type", "dict_type"):
        msg = f"write a table such as {_example(_model_at(model, where))}"
    elif kind_of in _TYPE_WORDS:
        msg = (_TYPE_WORDS[kind_of] + _unquoted(kind_of, where, err.get("input"))
               + _secret_here(err.get("input")))
    elif kind_of in _LENGTH_WORDS:
        ctx = err.get("ctx", {})
        msg = _LENGTH_WORDS[kind_of](ctx.get("min_length", ctx.get("max_length")))
    elif kind_of in _BOUND_WORDS:
        name, words = _BOUND_WORDS[kind_of]
        bound = err.get("ctx", {}).get(name)
        if _is_duration(_model_at(model, where[:-1]), where[-1] if where else None):
            # "at most '1h' (got '2h')": the file writes durations, not seconds
            got = err.get("input")
            got = _written_duration(got) if isinstance(got, (int, float)) else _shown(got)
            return loc, f"{words} {_written_duration(bound)} (got {got})"
        if isinstance(bound, float) and bound.is_integer():
            bound = int(bound)  # "at most 3600", not "3600.0"
        msg = f"{words} {bound}"
    if kind_of not in ("missing", "value_error", "literal_error", "string_too_short") \
            and "input" in err and not isinstance(err["input"], (dict, list)):
        msg = f"{msg} (got {_shown(err['input'])})"
    return loc, msg


#: Keys other schedulers' files use for what a job (or [settings]) says otherwise here:
#: what to write instead, where no spelling is close to that.
_WRITTEN_ELSEWHERE = {
    "schedule": "write every = \"15m\" for an interval, or cron = \"0 9 * * *\" for times "
                "of day",
    "interval": "write every = \"15m\"",
    "timezone": "schedules follow this computer's time zone (its clock), which no job or "
                "setting changes; write the times in it",
    "retries": "write retry = { attempts = 3 } (attempts in all, the first included)",
    "disabled": "write enabled = false",
}
_WRITTEN_ELSEWHERE.update({k: _WRITTEN_ELSEWHERE["timezone"]
                           for k in ("tz", "time_zone", "cron_tz", "zone")})
_WRITTEN_ELSEWHERE.update({k: _WRITTEN_ELSEWHERE["retries"]
                           for k in ("max_retries", "retry_count", "attempts")})


#: Keys of ``retry`` that ask to retry some failures alone, as queues' "retry on" does.
_RETRY_ON = {"retry_codes", "codes", "exit_codes", "on", "retry_on", "on_codes", "when",
             "retry_on_codes", "autoretry_for"}


def _unknown_key(key: str, where: type[BaseModel] | None, *, parent: str,
                 kind: str | None) -> str:
    import difflib
    top = not parent
    own = _keys(where) if where is not None else []
    candidates = own + (sorted(COMMON_KEYS) if top and kind else [])
    # Only a close spelling is a useful guess; anything looser names unrelated keys.
    # Keys are lower case: "EVERY" is as close to every as "Every" is.
    close = difflib.get_close_matches(key.strip().casefold(), candidates, n=1, cutoff=0.75)
    if close:
        return f"unknown key; did you mean '{close[0]}'?"
    if parent == "retry" and key.lower() in _RETRY_ON:  # exit codes are a command's own
        return ("unknown key; the exit codes to retry are a command job's retry_codes, "
                "written beside retry: retry_codes = [75]")
    instead = _WRITTEN_ELSEWHERE.get(key.lower())
    settings = top and where is not None and where.__name__ == "Settings"
    if instead and ((top and kind) or (settings and instead == _WRITTEN_ELSEWHERE["tz"])):
        return f"unknown key; {instead}"
    if where is None:
        return "unknown key (not an option here)"
    if top and kind:
        return (f"unknown key; a {kind} job's own keys are {', '.join(own) or 'none'}, "
                f"besides those of every job ({', '.join(sorted(COMMON_KEYS))})")
    return f"unknown key; {parent or 'this table'} takes {', '.join(own)}"


def _keys(model: type[BaseModel]) -> list[str]:
    return sorted(f.alias or name for name, f in model.model_fields.items())


def _is_duration(model: type[BaseModel] | None, key: Any) -> bool:
    """Whether ``key`` of ``model`` is written as a duration ("15m")."""
    fld = None if model is None else model.model_fields.get(key)
    if fld is None:
        return False
    marks = list(fld.metadata)
    for tp in (fld.annotation, *get_args(fld.annotation)):  # Duration, or Duration | None
        if get_origin(tp) is Annotated:
            marks += tp.__metadata__
    return any(getattr(m, "func", None) in (_duration, parse_duration) for m in marks)


def _written_duration(seconds: float) -> str:
    """Seconds as the file writes them: ``'1h'``, ``'90s'``, ``'0.5s'``."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"'{int(seconds // size)}{unit}'"
    return f"'{int(seconds) if float(seconds).is_integer() else seconds}s'"


def _model_at(model: type[BaseModel] | None, path) -> type[BaseModel] | None:
    """The model a value at ``path`` (an error's location) is validated by, when there is
    exactly one: list indexes are passed over, and so are the user's own keys of a table
    of them (``env.NAME``); ``None`` where it cannot be told."""
    tp: Any = model
    for part in path:
        if isinstance(part, int):
            continue
        values = _table_values(tp)
        if values is not None:  # ``part`` is a key of the user's own
            tp = values
            continue
        found = _models_in(tp)
        if len(found) != 1:
            return None
        fld = next((f for n, f in found[0].model_fields.items() if part in (n, f.alias)), None)
        if fld is None:
            return None
        tp = fld.annotation
    found = _models_in(tp)
    return found[0] if len(found) == 1 else None


def _table_values(tp: Any) -> Any:
    """The type of the values of ``tp`` when it is a table of keys of the user's own
    (``dict[str, X]``, or one that may be left out); else None."""
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    members = [a for a in get_args(tp) if a is not type(None)] \
        if get_origin(tp) in (Union, UnionType) else [tp]
    if len(members) == 1 and get_origin(members[0]) is dict:
        return get_args(members[0])[1]
    return None


def _models_in(tp: Any) -> list[type[BaseModel]]:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [tp]
    if getattr(tp, "__origin__", None) is dict:
        return []  # its keys are names of the user's own, not fields
    return [m for arg in get_args(tp) for m in _models_in(arg)]


def _example(model: type[BaseModel] | None) -> str:
    """A one-key table for ``model``, its default (or a placeholder) as the value."""
    if model is None:
        return "{ key = value }"
    name, fld = next(iter(model.model_fields.items()))
    default = fld.default
    if isinstance(default, (bool, int, float, str)):
        value = ("true" if default else "false") if isinstance(default, bool) else (
            f'"{default}"' if isinstance(default, str) else str(default))
    else:
        value = '"…"' if fld.annotation is str else "…"
    return f"{{ {fld.alias or name} = {value} }}"
