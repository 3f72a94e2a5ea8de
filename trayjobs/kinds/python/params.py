"""What a python job names: a function to call, by module or by file."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, field_validator, model_validator

from ...places import relative
from ..base import KindParams, empty_list
from ..memory import DESCRIPTION as MEMORY, check_max_memory

__all__ = ["PythonParams"]

_DOTTED = r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*"


class PythonParams(KindParams):
    call: str | None = Field(
        None, description="The function as `package.module:function`, importable in trayjobs' "
                          "environment or from `path`. Give `call` or `file`.")
    file: str | None = Field(
        None, description="A Python file that defines the function, e.g. '~/scripts/sync.py'; "
                          "its folder is importable while it runs. Give `call` or `file`.")
    function: str | None = Field(
        None, description="With `file`: the function's name in the file; `main` when not given.")
    path: list[str] = Field(
        default_factory=empty_list,
        description="Folders added to the import path of the job's process, e.g. '~/scripts'.")
    idempotent: bool = Field(
        False, description="The function may be run again after a crash without doubling its "
                           "effects: an interrupted run is then resumed at the next start.")
    dry_run: bool = Field(
        False, description="The function honours `ctx.dry_run` (changes nothing when it is "
                           "true), so `--dry-run` runs are allowed.")
    kill_grace: float = Field(
        5.0, ge=0, le=60, description="Seconds between TERM and KILL for the programs the "
                                      "function started, when a run is cancelled or times "
                                      "out, and for those still running when it ends.")
    max_memory: str | None = Field(None, description=MEMORY + " It counts what the function "
                                   "takes beyond what the job's process holds as it is called.")
    log_head: int = Field(1_000_000, ge=0, description="Bytes of printed output kept from the start.")
    log_tail: int = Field(1_000_000, ge=0, description="Bytes of printed output kept from the end.")

    @field_validator("path", mode="before")
    @classmethod
    def _one_path(cls, v):
        return [v] if isinstance(v, str) else v

    @field_validator("max_memory", mode="before")
    @classmethod
    def _memory(cls, v):
        return check_max_memory(v)

    @field_validator("file")
    @classmethod
    def _file_in_full(cls, v: str | None) -> str | None:
        why = relative(v) if v is not None else None
        if why:
            raise ValueError(f"{v!r} {why}")
        return v

    @field_validator("path")
    @classmethod
    def _path_in_full(cls, v: list[str]) -> list[str]:
        for folder in v:
            why = relative(folder)
            if why:
                raise ValueError(f"{folder!r} {why}")
        return v

    @field_validator("call")
    @classmethod
    def _call(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(rf"{_DOTTED}:{_DOTTED}", v.strip()):
            raise ValueError(_bad_call(v.strip(), v))
        return v.strip() if v else v

    @field_validator("function")
    @classmethod
    def _function(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(_DOTTED, v):
            raise ValueError(f"{v!r} is not a Python name")
        return v

    @model_validator(mode="after")
    def _one_target(self) -> "PythonParams":
        if (self.call is None) == (self.file is None):
            raise ValueError("give either call = \"package.module:function\" or "
                             "file = \"~/scripts/job.py\", not both or neither")
        if self.call is not None and self.function is not None:
            raise ValueError("'function' goes with 'file'; with 'call' the function is named "
                             "after the colon")
        return self

    @property
    def module(self) -> str | None:
        return self.call.split(":", 1)[0] if self.call else None

    @property
    def attribute(self) -> str:
        return self.call.split(":", 1)[1] if self.call else self.function or "main"

    @property
    def script(self) -> Path | None:
        return Path(self.file).expanduser() if self.file else None

    @property
    def folders(self) -> list[str]:
        return [str(Path(p).expanduser()) for p in self.path]

    def target(self) -> str:
        """The function in words: "mypackage.tasks:nightly", "~/scripts/sync.py:main"."""
        return self.call or f"{self.file}:{self.attribute}"


def _bad_call(text: str, given: str) -> str:
    """What is wrong with ``call``, and how it is written."""
    module, colon, function = text.partition(":")
    module, function = module.strip(), function.strip()
    if not colon:
        head, dot, tail = text.rpartition(".")
        if dot and re.fullmatch(_DOTTED, text):  # pkg.mod.fn: the last dot meant as the colon
            return f"{given!r} has no colon: write {head + ':' + tail!r}, the module, a colon, " \
                   f"then the function"
        return f"{given!r} has no colon: write 'package.module:function'"
    if not module:
        return f"{given!r} names no module before the colon: write 'package.module{text}'"
    if not function:
        return f"{given!r} names no function after the colon: write '{module}:function'"
    if ":" in function:
        return f"{given!r} has more than one colon: write 'package.module:function'"
    if re.fullmatch(_DOTTED, module) and re.fullmatch(_DOTTED, function):
        return f"{given!r} has spaces around the colon: write '{module}:{function}'"
    return (f"{given!r} is not 'package.module:function': each part is a Python name "
            f"(letters, digits and _, not starting with a digit), parts joined by dots")
