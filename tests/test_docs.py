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
    # 'then' may point at jobs defined in another example
    errors = [e for e in cfg.errors if e.key != "then"]
    assert errors == []
    assert cfg.jobs or "[settings]" in block


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
