"""The README's examples are real: every TOML block parses, every command exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from trayjobs.cli import build_parser
from trayjobs.config import JobCommon, parse_config

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```toml\n(.*?)```", README, flags=re.S)


def test_readme_has_examples():
    assert len(BLOCKS) >= 4


@pytest.mark.parametrize("block", BLOCKS, ids=[f"toml-{i}" for i in range(len(BLOCKS))])
def test_readme_toml_examples_parse_without_errors(block):
    cfg = parse_config(block)
    # 'then' and a channel's 'jobs' may point at jobs, and 'deliver' at channels, defined
    # in another example
    errors = [e for e in cfg.errors if e.key not in ("then", "deliver.to")
              and not (e.key or "").endswith((".jobs", ".urgent"))]
    assert errors == []
    assert cfg.jobs or cfg.alerts or cfg.cluster.model_fields_set or "[settings]" in block


def test_every_cli_command_is_documented():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name in sub.choices:
        if name == "app":
            continue
        assert f"`trayjobs {name}" in README, f"command {name!r} is not in the README"


def test_every_common_job_key_is_documented():
    for key in JobCommon.model_fields:
        if key == "description":
            continue
        assert f"`{key}`" in README, f"job key {key!r} is not in the README"


# -- the generated reference --------------------------------------------------------------

import argparse

from pydantic import BaseModel

from trayjobs import docs
from trayjobs.alerts.spec import ChannelSpec, DeliverSpec
from trayjobs.config import RetryPolicy, Settings, WatchSpec
from trayjobs.kinds.cleanup.actions import ACTIONS
from trayjobs.kinds.cleanup.filters import FILTERS
from trayjobs.kinds.registry import all_kinds
from trayjobs.store import TRIGGERS

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = README.split(docs.START, 1)[1].split(docs.END, 1)[0] if docs.START in README else ""


def test_the_reference_in_the_readme_is_current():
    # Out of date? Run: python -m trayjobs.docs
    assert docs.START in README and docs.END in README
    assert docs.render_reference() == docs.START + REFERENCE + docs.END + "\n"
    assert docs.update_readme(ROOT / "README.md", check=True) is False


def _models() -> list[tuple[str, type[BaseModel]]]:
    found = [("job", JobCommon), ("retry", RetryPolicy), ("watch", WatchSpec),
             ("settings", Settings), ("alert channel", ChannelSpec), ("deliver", DeliverSpec)]
    found += [(f"filter {n}", c) for n, c in FILTERS.items()]
    found += [(f"action {n}", c) for n, c in ACTIONS.items()]
    for kind in all_kinds():
        found.append((f"kind {kind.name}", kind.Params))
        for key, field in docs.model_keys(kind.Params):
            for tp in (field.annotation, *getattr(field.annotation, "__args__", ())):
                tp = getattr(tp, "__origin__", tp) if not isinstance(tp, type) else tp
                if isinstance(tp, type) and issubclass(tp, BaseModel) and tp is not kind.Params:
                    found.append((f"kind {kind.name} {key}", tp))
    return found


def test_every_option_has_a_description_and_is_in_the_reference():
    models = _models()
    names = {m.__name__ for _, m in models}
    assert {"Location", "SectionParams", "AgeFilter", "MoveAction"} <= names
    for where, model in models:
        for key, field in docs.model_keys(model):
            assert (field.description or "").strip(), f"{where}: option {key!r} has no description"
            row = f"| `{key}` |"
            assert row in REFERENCE, f"{where}: option {key!r} is not in the README's reference"


def test_every_job_kind_is_explained_and_in_the_reference():
    for kind in all_kinds():
        assert kind.summary, f"kind {kind.name!r} has no summary"
        assert f"### Kind `{kind.name}`" in REFERENCE
        assert f"(`{kind.name}`)" in README.split("## Reference")[0], \
            f"kind {kind.name!r} has no section of its own in the README"


def test_every_trigger_is_explained():
    assert set(docs.TRIGGER_TEXT) == set(TRIGGERS)
    for trigger in TRIGGERS:
        assert f"| `{trigger}` |" in REFERENCE


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def test_every_command_line_option_is_described_and_in_the_reference():
    used = set()
    for name, parser in _subcommands().items():
        assert f"#### `trayjobs {name}`" in REFERENCE
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            key = (name, action.option_strings[0] if action.option_strings else action.dest)
            assert action.help or key in docs.ARGUMENT_TEXT, f"{key} has no help text"
            used.add(key)
            for opt in action.option_strings:
                assert opt in REFERENCE, f"{opt} of trayjobs {name} is not in the reference"
    assert set(docs.ARGUMENT_TEXT) <= used, "docs.ARGUMENT_TEXT names arguments that are gone"


def test_commands_quoted_in_the_readme_exist():
    commands = set(_subcommands())
    quoted = re.findall(r"`trayjobs ([a-z][a-z-]*)", README)
    quoted += re.findall(r"^(?:\S*/)?trayjobs ([a-z][a-z-]*)", README, flags=re.M)
    assert quoted
    for word in quoted:
        assert word in commands, f"the README mentions `trayjobs {word}`, which is no command"


def test_files_the_readme_points_at_exist():
    links = re.findall(r"\]\(((?!https?:|#)[^)\s]+)\)", README)
    paths = re.findall(r"`((?:packaging|resources|tests|bench|trayjobs)/[\w./-]+)`", README)
    paths += re.findall(r"python ((?:packaging|bench)/[\w./-]+)", README)
    assert "resources/screenshots/window.png" in links
    assert "resources/screenshots/tray-menu.png" in links
    missing = sorted({p for p in links + paths if not (ROOT / p.rstrip("/")).exists()})
    assert missing == [], f"the README points at files that do not exist: {missing}"


# -- the jobs examples pass `trayjobs check`, as a reader who copies one finds ---------------

import os
import subprocess
import sys
import tomllib

# What the examples take for granted on the reader's computer: programs they name that
# need not be installed here, and the scripts whose code the README shows beside them.
EXAMPLE_PROGRAMS = ("rsync", "restic")
EXAMPLE_SCRIPTS = dict(re.findall(r"```python\n# ~/(\S+)\n(.*?)```", README, flags=re.S))
EXAMPLE_SHELL_SCRIPTS = ("bin/sort-photos.sh",)


def _names_defined(block: str) -> set[str]:
    """Job names, their tags and alert channels that one example defines."""
    data = tomllib.loads(block)
    names = set(data.get("alerts", {}))
    for name, job in data.get("jobs", {}).items():
        names.add(name)
        names.update(job.get("tags", []))
    return names


def test_readme_examples_have_their_scripts():
    assert {"scripts/sync_notes.py", "scripts/diagnose.py"} <= set(EXAMPLE_SCRIPTS)


@pytest.mark.parametrize("block", BLOCKS, ids=[f"toml-{i}" for i in range(len(BLOCKS))])
def test_readme_toml_examples_pass_trayjobs_check(block, tmp_path):
    """Each example, alone in a jobs file, passes `trayjobs check`. It may name a job or a
    channel only where another example of the README defines it (a channel's `deliver`
    following the channel's own example, say)."""
    user = tmp_path / "user"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for program in EXAMPLE_PROGRAMS:
        (bin_dir / program).write_text("#!/bin/sh\n")
        (bin_dir / program).chmod(0o755)
    for rel, code in EXAMPLE_SCRIPTS.items():
        (user / rel).parent.mkdir(parents=True, exist_ok=True)
        (user / rel).write_text(code)
    for rel in EXAMPLE_SHELL_SCRIPTS:
        (user / rel).parent.mkdir(parents=True, exist_ok=True)
        (user / rel).write_text("#!/bin/sh\n")
        (user / rel).chmod(0o755)
    home = tmp_path / "home"
    home.mkdir()
    (home / "trayjobs.toml").write_text(block)
    env = dict(os.environ, HOME=str(user), TRAYJOBS_HOME=str(home),
               PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
               # no keyring: its secrets are noted as not checked, whatever this machine holds
               DBUS_SESSION_BUS_ADDRESS=f"unix:path={tmp_path / 'no-bus'}")
    env.pop("PYTHON_KEYRING_BACKEND", None)
    env.pop("XDG_CONFIG_HOME", None)
    env.pop("XDG_DATA_HOME", None)
    done = subprocess.run([sys.executable, "-m", "trayjobs", "check"], env=env,
                          capture_output=True, text=True, timeout=120)
    elsewhere = set().union(*(_names_defined(b) for b in BLOCKS if b is not block))
    # errors name the file; warnings and notes (a keyring not asked) start with their word
    errors = [line for line in done.stderr.splitlines()
              if line.startswith(f"{home / 'trayjobs.toml'}:")]
    unexplained = []
    for line in errors:
        m = re.search(r"key '(then|on_failure|always|deliver\.to|alerts\.[^']+\.(?:jobs|urgent))': "
                      r"(?:'\w+' names |names )?'([^']+)'", line)
        if not (m and m.group(2) in elsewhere):
            unexplained.append(line)
    assert unexplained == [], done.stderr
    if not errors:
        assert done.returncode == 0, done.stderr
