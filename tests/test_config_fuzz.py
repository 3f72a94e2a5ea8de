"""Jobs files made at random from the README's keys, with values of every wrong type, and
written in each way TOML allows ([jobs.NAME], NAME = { ... } under [jobs], dotted keys):
reading and checking one never raises, each mistake names the line it is on, in the
file's words, and a good job beside the bad ones still loads."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trayjobs.alerts.cli import check_alerts
from trayjobs.config import check_jobs, parse_config

KINDS = {
    "demo": ["steps", "step_time", "fail_times", "hang", "crash"],
    "command": ["command", "cwd", "env", "success_codes", "retry_codes", "dry_run_command",
                "resume", "kill_grace", "max_memory", "log_head", "log_tail"],
    "python": ["call", "file", "function", "path", "idempotent", "dry_run", "kill_grace",
               "max_memory"],
    "cleanup": ["locations", "targets", "match", "filters", "action", "conflict",
                "remove_empty_folders", "exclude", "skip_recent", "preview"],
    "import": ["database", "table", "format", "encoding", "delimiter", "quotechar", "header",
               "sheet", "header_row", "mode", "pk", "types", "batch_size"],
    "report": ["builtin", "title", "database", "period", "formats", "keep", "sections"],
}
COMMON = ["description", "tags", "enabled", "every", "cron", "at_login", "watch", "retry",
          "timeout", "priority", "host", "overlap", "missed", "then", "on_failure", "always",
          "notify", "alerts", "ping", "stale_after", "deliver", "when", "when_unknown",
          "max_wait", "inhibit_sleep", "params"]
TABLE_KEYS = ["attempts", "backoff", "folder", "settle", "ac_power", "idle", "network", "to",
              "secret", "path", "age", "move", "title", "query", "x"]

texts = st.sampled_from([
    "", " ", "x", "0", "-1", "true", "no", "2h", "-5m", "0s", "3661d", "1e999", "nan",
    "0 25 * * *", "@daily", "~", "/", "..", "{nope}", "older than 1d", ">1 MB", "last_7_days",
    "a" * 300, "\U0001f600", "e\u0301", "\u202e", "\x1b[2J", "\x00", "x\ny", "json://h/x",
])


def toml_text(s: str) -> str:
    return '"' + "".join(c if c.isprintable() and c not in '"\\' else f"\\u{ord(c):04x}"
                         if ord(c) < 0x10000 else f"\\U{ord(c):08x}" for c in s) + '"'


scalars = st.one_of(
    texts.map(toml_text),
    st.sampled_from(["true", "false", "0", "-1", "101", str(2**63 - 1), "0.5", "-0.0", "1e308",
                     "nan", "inf", "1979-05-27", "07:32:00", "1979-05-27T07:32:00Z",
                     '"""\nx\n"""', "'lit'"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda v: "[" + ", ".join(v) + "]"),
        st.dictionaries(st.sampled_from(TABLE_KEYS), inner, max_size=3).map(
            lambda d: "{ " + ", ".join(f"{k} = {v}" for k, v in d.items()) + " }")),
    max_leaves=6)


@st.composite
def jobs_files(draw):
    lines = ['[jobs.good]', 'kind = "demo"', '']
    jobs = []
    for name in draw(st.lists(st.sampled_from(["a", "b", "nightly", "x-1"]), min_size=1,
                              max_size=3, unique=True)):
        kind = draw(st.sampled_from([*KINDS, "nope"]))
        keys = draw(st.lists(st.sampled_from(COMMON + KINDS.get(kind, [])), min_size=1,
                             max_size=5, unique=True))
        body = [f'kind = "{kind}"'] + [f"{k} = {draw(values)}" for k in keys]
        jobs.append((name, draw(st.sampled_from(["table", "inline", "dotted"])), body))
    # [jobs.NAME] tables, then [jobs] with inline and dotted ones; the dotted ones at the
    # top when there is no [jobs] (dotted keys declare it: it cannot be written after).
    for name, style, body in jobs:
        if style == "table":
            lines += [f"[jobs.{name}]", *body, ""]
    inline = [f"{name} = {{ {', '.join(body)} }}" for name, style, body in jobs
              if style == "inline"]
    dotted = [f"{name}.{kv}" for name, style, body in jobs if style == "dotted" for kv in body]
    if inline:
        lines += ["[jobs]", *inline, *dotted]
    else:
        lines = [f"jobs.{kv}" for kv in dotted] + lines
    return "\n".join(lines) + "\n"


# Python's way of writing values, which a message about a TOML file never uses.
PYTHON_WORDS = re.compile(r"datetime\.|\bTrue\b|\bFalse\b|\{'|NoneType|<class|Traceback")


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(jobs_files())
def test_a_random_jobs_file_is_read_and_its_mistakes_located(text):
    cfg = parse_config(text)
    assert not cfg.unreadable, cfg.errors  # the files made here are all TOML
    errors = cfg.errors + check_jobs(cfg) + check_alerts(cfg, store=None)[0]
    lines = text.splitlines()
    for err in errors:
        msg = str(err)
        assert not PYTHON_WORDS.search(msg), msg
        assert not any(c in msg for c in "\x00\x1b\u202e"), msg
        if err.job is None:
            continue
        assert err.line is not None, msg
        written = lines[err.line - 1]
        first = (err.key or "").split(".")[0]
        assert err.job in written or (first and first in written), (msg, written)
    assert "good" in cfg.jobs, [str(e) for e in errors]
