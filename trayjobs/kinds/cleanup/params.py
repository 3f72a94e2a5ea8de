"""The settings of a cleanup job, as written in the config file or the job editor."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails

from ...durations import parse_duration
from ..base import KindParams, empty_list
from .actions import ActionSpec
from .actions.trash import TrashAction
from .filters import FilterSpec
from ...places import problem
from .safety import danger, expand, in_trash
from .templates import fixed_folder


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")

__all__ = ["CleanupParams", "Location"]


class Location(KindParams):
    """One folder to tidy, and how deep to look into it."""

    path: str = Field(description="The folder; ~ and $VARIABLES are expanded.")
    recursive: bool = Field(False, description="Also look into the folders inside it.")
    max_depth: int | None = Field(None, ge=0, description="How many levels of folders to enter below it "
                                                        "(implies recursive; unlimited when unset).")
    exclude: list[str] = Field(default_factory=empty_list, description="Glob patterns of files and folders to leave "
                               "alone, matched against the name, or the path inside the folder when they hold a '/'.")

    @field_validator("path")
    @classmethod
    def _not_empty(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("a location needs a folder path")
        return v

    @property
    def depth(self) -> int | None:
        """Levels to enter below the folder: 0 for just its own items, ``None`` for no limit."""
        if self.max_depth is not None:
            return self.max_depth
        return None if self.recursive else 0


def _location(value: Any) -> Any:
    return {"path": value} if isinstance(value, str) else value


class CleanupParams(KindParams):
    locations: list[Annotated[Location, BeforeValidator(_location)]] = Field(
        min_length=1, description="Folders to tidy: paths, or tables such as "
        "{ path = \"~/Downloads\", recursive = true, max_depth = 2, exclude = [\"*.keep\"] }.")
    targets: Literal["files", "folders"] = Field(
        "files", description="Act on files (and links), or on whole folders found in the locations.")
    match: Literal["all", "any", "none"] = Field(
        "all", description="Act on items that pass all the filters, any of them, or none of them.")
    filters: list[FilterSpec] = Field(description="The rules an item must pass, e.g. "
                                      "[{ age = \"older than 30d\" }, { extension = [\"zip\", \"dmg\"] }]; "
                                      "[] passes everything, for a preview only (to act on every item, "
                                      "{ name = \"*\" }).")
    action: ActionSpec = Field(default_factory=TrashAction, description="What to do with matching items: "
                               "\"trash\" (default), \"delete\", { move = ... }, { copy = ... }, "
                               "{ rename = ... } or { archive = ... }.")
    conflict: Literal["skip", "rename", "overwrite"] = Field(
        "rename", description="When the destination is taken: leave the item, add ' (1)' to its name, "
                              "or replace what is there (which goes to the trash).")
    remove_empty_folders: bool = Field(False, description="Afterwards, remove folders this run left empty "
                                                          "(never the locations themselves).")
    exclude: list[str] = Field(default_factory=empty_list, description="Glob patterns to leave alone in every location.")
    include_system_files: bool = Field(False, description="Also consider system files such as .DS_Store, "
                                       "Thumbs.db, desktop.ini, ~$ lock files and .git folders (a drive's trash, "
                                       ".Trash-1000, never).")
    skip_recent: str = Field("1m", description="Leave items modified less than this long ago: they may be in "
                             "use or still being written ('0s' turns this off).")
    preview: bool = Field(False, description="Only list what would happen; nothing is touched until this is "
                          "switched off.")
    allow_dangerous_location: bool = Field(False, description="Allow /, the home folder itself and system "
                                           "folders as locations.")

    def what_is_done(self) -> dict[str, Any]:
        """What is done to an item once chosen: a preview is applied only while this is what it
        was (its items are fixed; what is done to them must be what the preview showed)."""
        return {"action": self.action.describe(), "settings": self.action.model_dump(mode="json"),
                "conflict": self.conflict, "targets": self.targets,
                "remove_empty_folders": self.remove_empty_folders}

    @field_validator("skip_recent")
    @classmethod
    def _duration(cls, v: str) -> str:
        parse_duration(v)
        return v

    @model_validator(mode="after")
    def _safe_locations(self) -> "CleanupParams":
        problems = []
        for n, loc in enumerate(self.locations):
            # relative or unresolvable: no opt-in makes it a folder; a trash: none makes it safe
            unusable = problem(loc.path) or in_trash(loc.path)
            if unusable:
                error = ValueError(f"{loc.path!r} {unusable}")
                problems.append(InitErrorDetails(type="value_error", loc=("locations", n), input=loc.path,
                                                 ctx={"error": error}))
        if problems or self.allow_dangerous_location:
            if problems:
                raise ValidationError.from_exception_data(type(self).__name__, problems)
            return self
        for n, loc in enumerate(self.locations):
            why = danger(loc.path)
            if why:
                error = ValueError(f"{loc.path!r} {why}; set allow_dangerous_location = true if you really mean it")
                problems.append(InitErrorDetails(type="value_error", loc=("locations", n), input=loc.path,
                                                 ctx={"error": error}))
        template = self.action.destination()
        if template is not None:
            # the destination's fixed folder, for each location, is held to the same rules
            for loc in self.locations:
                root = expand(loc.path)
                fixed = fixed_folder(template, root, file=self.action.destination_is_file)
                trash = in_trash(fixed)
                why = trash or (None if _within(fixed, root) else danger(fixed))
                if why:
                    error = ValueError(f"destination {template!r} puts items in {fixed}, which {why}" + (
                        "" if trash else "; set allow_dangerous_location = true if you really mean it"))
                    problems.append(InitErrorDetails(type="value_error", loc=("action", self.action.name),
                                                     input=template, ctx={"error": error}))
                    break
        if problems:  # raised as the locations' own errors, so each names its key
            raise ValidationError.from_exception_data(type(self).__name__, problems)
        return self
