"""Jobs files laid out in the ways people write them (tables or inline tables, dotted keys,
a sub-table, comments, tabs, CRLF line ends, a byte order mark), edited as the window does:
a save that changes nothing writes the file back byte for byte, a change touches the lines
of the keys it changes and no other, and the file reads back as the edit meant."""

from __future__ import annotations

import difflib
import re
import tomllib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trayjobs.config_edit import ConfigDocument

gaps = st.sampled_from(["", " ", "  ", "\t"])
comments = st.sampled_from(["", "# c", "#", "# é 😀", "#\tx"])
values = st.sampled_from(['"1h"', "3", "true", '["a", "b"]', '[\n  "a",\n  "b",\n]', "'lit'",
                          '"""\nx\ny"""', "1_000", "+5", "1e3", '"\\u00e9"', "{ a = 1 }"])
own_keys = st.sampled_from(["description", "steps", "tags", "step_time", '"quoted"', "x_k"])
names = st.sampled_from(["a", "b", '"c d"', '"é 😀"', "'lit'"])


@st.composite
def jobs(draw, name: str):
    """A job's lines: [jobs.NAME] with its keys, maybe a sub-table; or an inline table."""
    indent = draw(gaps)
    keys = [f'kind = "demo"'] + [
        f"{k}{draw(gaps)}={draw(gaps) or ' '}{draw(values)}"
        for k in draw(st.lists(own_keys, unique=True, max_size=4))]
    if draw(st.booleans()):
        keys.append("retry.attempts = 2")
        keys.append("retry.jitter = false")
    if draw(st.booleans()):  # inline: one line, no comments
        return "inline", f"{name} = {{ {', '.join(k for k in keys if chr(10) not in k)} }}"
    lines = [f"[jobs.{name}]{draw(gaps)}{draw(comments)}".rstrip()]
    for key in keys:
        comment = draw(comments)
        lines.append(indent + key + (f"  {comment}" if comment else ""))
        if draw(st.booleans()):
            lines.append(draw(st.sampled_from(["", "# loose", "\t# indented"])))
    if draw(st.booleans()):
        lines += ["", "# its folder", f"[jobs.{name}.watch]", 'folder = "~/x"  # here']
    return "table", "\n".join(lines)


@st.composite
def files(draw):
    lines = draw(st.sampled_from([[], ["# my jobs", ""], ["[settings]", "workers = 2  # x", ""]]))
    inline = []
    for name in draw(st.lists(names, min_size=1, max_size=3, unique=True)):
        style, text = draw(jobs(name))
        (lines if style == "table" else inline).extend([text, ""] if style == "table" else [text])
    if inline:
        lines += ["[jobs]", *inline, ""]
    text = "\n".join(lines)
    if draw(st.booleans()):
        text = text.replace("\n", "\r\n")
    return ("\ufeff" if draw(st.booleans()) else "") + text


def read(text: str) -> dict:
    return tomllib.loads(text.removeprefix("\ufeff"))


def removed(before: str, after: str) -> list[str]:
    return [line[2:] for line in difflib.ndiff(before.splitlines(True), after.splitlines(True))
            if line.startswith("- ")]


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(files(), st.data())
def test_an_edit_changes_the_lines_it_means_and_no_other_byte(text, data):
    doc = ConfigDocument(text)
    name = data.draw(st.sampled_from(doc.job_names()))
    values = doc.job(name)
    doc.set_job(name, dict(values), old_name=name, opened_with=doc.job(name))
    assert doc.text == text

    change = data.draw(st.sampled_from(["steps", "description", "retry", "watch", "enabled"]))
    doc = ConfigDocument(text)
    new = {"steps": 7, "description": "new", "retry": {**values.get("retry", {}), "attempts": 5},
           "watch": {"folder": "~/y"}, "enabled": False}[change]
    if change == "enabled":
        doc.set_enabled(name, False)
    else:
        doc.set_job(name, {**values, change: new}, old_name=name, opened_with=doc.job(name))
    after = doc.text
    want = read(text)
    want["jobs"][name] = {**values, change: new}
    assert read(after) == want
    assert after.startswith("\ufeff") == text.startswith("\ufeff")
    if "\r\n" in text:
        assert not re.search(r"(?<!\r)\n", after)
    # Only the line of the key changed went (with the lines of a value of several lines),
    # or, for a job written as an inline table, the job's one line.
    key = {"retry": "retry.attempts", "watch": "folder"}.get(change, change)
    keyed = [line for line in removed(text, after)
             if re.match(r"""\s*[\w"']""", line) and "=" in line]
    assert len(keyed) <= 1, keyed
    assert all(line.lstrip(" \t\"'").startswith((key, name)) for line in keyed), keyed
