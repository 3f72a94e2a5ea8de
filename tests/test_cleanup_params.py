"""Cleanup settings: the config file's view of them, their errors, and their trip to the job process."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from test_cleanup_support import cleanup, params, trash_dir  # noqa: F401
from trayjobs.config import parse_config
from trayjobs.errors import ConfigError
from trayjobs.kinds.cleanup.actions import ACTIONS
from trayjobs.kinds.cleanup.filters import FILTERS
from trayjobs.kinds.cleanup.params import CleanupParams, Location

# The example of the cleanup section in the README; kept here so a test parses it.
README_EXAMPLE = """
[jobs.tidy-downloads]
kind = "cleanup"
every = "1d"
locations = [{ path = "/tmp/trayjobs-example/Downloads", recursive = true, max_depth = 2, exclude = ["*.keep"] }]
match = "all"
filters = [
  { age = "older than 30d" },
  { extension = ["zip", "dmg", "iso"] },
  { size = ">1 GB", not = true },
]
action = "trash"
conflict = "rename"
remove_empty_folders = true

[jobs.sort-screenshots]
kind = "cleanup"
locations = ["/tmp/trayjobs-example/Desktop"]
filters = [{ name = "Screenshot*" }, { age = "older than 2d" }]
action = { move = "/tmp/trayjobs-example/Pictures/Screenshots/{year}/{month}" }

[jobs.archive-logs]
kind = "cleanup"
locations = [{ path = "/tmp/trayjobs-example/logs", recursive = true }]
filters = [{ extension = "log" }, { age = "older than 14d" }]
action = { archive = "/tmp/trayjobs-example/log-archive/logs-{year}-{month}.zip" }

[jobs.empty-folders]
kind = "cleanup"
locations = [{ path = "/tmp/trayjobs-example/Projects", recursive = true }]
targets = "folders"
filters = [{ empty = true }]
preview = true
"""


def errors(toml: str) -> dict[str, str]:
    return {e.key or "": e.message for e in parse_config(toml).errors}


def job(body: str) -> str:
    return f'[jobs.t]\nkind = "cleanup"\nlocations = ["/tmp/trayjobs-example"]\n{body}\n'


def test_the_readme_example_loads():
    cfg = parse_config(README_EXAMPLE)
    assert cfg.errors == []
    assert set(cfg.jobs) == {"tidy-downloads", "sort-screenshots", "archive-logs", "empty-folders"}
    tidy = cfg.jobs["tidy-downloads"].params
    assert tidy.locations[0].depth == 2 and tidy.filters[2].negate and tidy.action.name == "trash"


@pytest.mark.parametrize("body, key, message", [
    ("filters = [{ size = '>100 MX' }]", "filters.0.size.size", "size '>100 MX': unknown unit 'MX'"),
    ("filters = [{ size = '100 MB' }]", "filters.0.size.size", "start with <, <=, >, >= or ="),
    ("filters = [{ age = 'older 30d' }]", "filters.0.age.age", "write e.g. 'older than 30d'"),
    ("filters = [{ age = 'older than 3 fortnights' }]", "filters.0.age.age", "is not a duration"),
    ("filters = [{ age = 'older than 1d', time = 'born' }]", "filters.0.age.time", "not one of the choices"),
    ("filters = [{ agee = 'older than 1d' }]", "filters.0", "a filter is a table naming exactly one of"),
    ("filters = [{ age = 'older than 1d', size = '>1' }]", "filters.0", "exactly one of"),
    ("filters = [{ name = '*.tmp', nott = true }]", "filters.0.name.nott", "unknown key"),
    ("filters = [{ regex = '(' }]", "filters.0.regex.regex", "regex '(': missing )"),
    ("filters = [{ extension = [] }]", "filters.0.extension.extension", "give one or more extensions"),
    ("filters = []\naction = 'move'", "action", "action 'move' needs a target"),
    ("filters = []\naction = 'shred'", "action", "unknown action 'shred'"),
    ("filters = []\naction = { move = '~/A/{yeer}' }", "action.move.move", "unknown placeholder {yeer}"),
    ("filters = []\naction = { move = '~/A/{name.__class__}' }", "action.move.move", "unknown placeholder"),
    ("filters = []\naction = { rename = 'sub/{name}' }", "action.rename.rename", "cannot contain '/'"),
    ("filters = []\naction = { rename = '..' }", "action.rename.rename", "is no file's name"),
    ("filters = []\naction = { rename = ' ' }", "action.rename.rename", "is no file's name"),
    # a NUL would end the name in the system call: another name than reported, or a crash
    ('filters = []\naction = { rename = "{stem}\\u0000" }', "action.rename.rename", "cannot hold a NUL"),
    ('filters = []\naction = { move = "/tmp/x/{ext}\\u0000y" }', "action.move.move", "cannot hold a NUL"),
    # left as written, they would make a folder called "$ARCHIVE" inside the location
    ("filters = []\naction = { move = '$TRAYJOBS_NOT_SET_X/{year}' }", "action.move.move",
     "the variable TRAYJOBS_NOT_SET_X is not set where trayjobs runs"),
    ("filters = []\naction = { copy = 'Old/$TRAYJOBS_NOT_SET_X' }", "action.copy.copy",
     "the variable TRAYJOBS_NOT_SET_X is not set"),
    ("filters = []\naction = { archive = '~nosuchuser9/old.zip' }", "action.archive.archive",
     "there is no user 'nosuchuser9'"),
    ("filters = []\naction = { archive = 'a.zip', originals = 'shred' }", "action.archive.originals",
     "not one of the choices"),
    ("filters = []\nconflict = 'merge'", "conflict", "not one of the choices"),
    ("filters = []\nskip_recent = 'soon'", "skip_recent", "not a duration"),
    ("filters = []\nlocation = ['/tmp']", "location", "unknown key"),
    ("", "filters", "missing"),
])
def test_bad_settings_are_reported_with_their_key(body, key, message):
    found = errors(job(body))
    assert key in found, found
    assert message in found[key]


def test_dangerous_locations_name_their_key():
    found = errors('[jobs.t]\nkind = "cleanup"\nlocations = ["/tmp/fine", "/etc"]\nfilters = []\n')
    assert found == {"locations.1": "'/etc' is a system folder; set allow_dangerous_location = true if you "
                                    "really mean it"}


@pytest.mark.parametrize("action", ["trash", "delete", {"move": "~/A/{year}"}, {"copy": "b"},
                                    {"rename": "{date}-{name}"}, {"archive": "a.zip", "originals": "keep"}])
def test_params_survive_the_trip_to_the_job_process(action):
    p = params(locations=["/tmp/x", {"path": "/tmp/y", "max_depth": 1, "exclude": ["*.keep"]}], action=action,
               filters=[{"age": "older than 30d", "time": "accessed", "not": True}, {"name": ["*.tmp", "~*"]},
                        {"regex": "^a", "on": "path"}, {"size": ">1 MB, <2 GiB"}, {"extension": "zip"},
                        {"empty": True}])
    dumped = p.model_dump(mode="json")  # what the engine sends (JobConfig.params_json)
    assert dumped["filters"][0]["not"] is True and dumped["filters"][1]["name"] == ["*.tmp", "~*"]
    assert cleanup().parse_params(dumped) == p


def _models(model: type[BaseModel]):
    yield model
    for cls in [Location, *FILTERS.values(), *ACTIONS.values()]:
        yield cls


def test_every_setting_is_described_for_the_docs_and_the_editor():
    for model in _models(CleanupParams):
        for name, f in model.model_fields.items():
            assert f.description, f"{model.__name__}.{name} has no description"
    schema = CleanupParams.model_json_schema()
    assert {"locations", "filters", "action", "conflict", "preview"} <= set(schema["properties"])


def test_defaults_are_the_careful_ones():
    p = params(locations=["/tmp/x"])
    assert p.action.name == "trash" and p.conflict == "rename" and p.match == "all"
    assert not p.locations[0].recursive and p.locations[0].depth == 0
    assert not p.include_system_files and not p.remove_empty_folders and not p.allow_dangerous_location


def test_a_job_left_out_for_a_mistake_says_why_when_asked_for_by_name():
    # `trayjobs run t` said "there is no job called 't'" of a job right there in the file
    cfg = parse_config(job('filters = []\naction = { move = "/etc" }') + '[jobs.ok]\nkind = "demo"\n')
    with pytest.raises(ConfigError) as err:
        cfg.job("t")
    assert "no job called" not in str(err.value)
    assert "job 't'" in str(err.value) and "left out until" in str(err.value) and "/etc" in str(err.value)
    with pytest.raises(ConfigError, match="there is no job called 'nope'"):
        cfg.job("nope")


def test_a_missing_key_says_what_to_write_there():
    """A cleanup without `filters` was answered "missing (required)" alone: not what the key
    holds, nor how to act on every item."""
    found = errors(job(""))
    assert found["filters"].startswith("missing (required): The rules an item must pass, e.g. ")
    assert '{ name = "*" }' in found["filters"]
    found = errors('[jobs.t]\nkind = "cleanup"\nfilters = []\n')
    assert found["locations"].startswith("missing (required): Folders to tidy")
    found = errors('[jobs.r]\nkind = "report"\n[[jobs.r.sections]]\ntitle = "T"\n')
    assert found["sections.0.query"].startswith("missing (required): One SELECT")
