"""Jobs of every kind with keys drawn from the README's reference, opened in the job editor:
left as they are, the form gives back the job as the file has it, so a save writes back
what it read (and a change of one field is the only change)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trayjobs.config import parse_config
from trayjobs.config_edit import ConfigDocument
from trayjobs.ui.editor import JobEditor

from ui_support import editor_app, editor_for

texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
durations = st.sampled_from(["90s", "15m", "1h30m", "2d", "1w", "0.5h", 1_000_000, 86401, 5])
COMMON = {
    "description": texts, "tags": st.lists(st.sampled_from(["home", "é", "a b"]), max_size=2),
    "enabled": st.booleans(), "every": durations, "at_login": st.booleans(),
    "cron": st.sampled_from(["0 9 * * mon-fri", "0 0 L * *", "*/5 * * * *", "30 7 * * sat,sun"]),
    "watch": st.fixed_dictionaries({"folder": st.just("~/Inbox")}, optional={
        "patterns": st.sampled_from([["*"], ["*.csv"]]), "recursive": st.booleans(),
        "settle": st.sampled_from(["1s", "2m"])}),
    "retry": st.fixed_dictionaries({}, optional={
        "attempts": st.integers(1, 9), "backoff": st.sampled_from(["30s", "1h"]),
        "max_backoff": st.sampled_from(["1h", "1d"]), "jitter": st.booleans()}),
    "timeout": durations, "priority": st.integers(-100, 100), "host": st.just("nas"),
    "overlap": st.sampled_from(["skip", "queue", "parallel"]),
    "notify": st.sampled_from(["failure", "always", "never"]),
    "stale_after": st.just("40d"), "ping": st.just("https://hc-ping.com/x"),
    "when": st.fixed_dictionaries({}, optional={
        "ac_power": st.booleans(), "battery_above": st.integers(0, 99),
        "network": st.sampled_from(["online", "unmetered", "any"]), "idle": st.just("5m"),
        "cpu_below": st.sampled_from([50, 12.5, 0.5, 100])}),
    "when_unknown": st.sampled_from(["run", "wait"]), "max_wait": st.just("2d"),
    "missed": st.sampled_from(["skip", "once", "all"]),
    "inhibit_sleep": st.sampled_from([True, False, "block", "delay"]),
    "params": st.dictionaries(st.sampled_from(["month", "dry"]),
                              st.one_of(texts, st.booleans(), st.integers()), max_size=2),
}
KINDS = {
    "demo": {"steps": st.integers(0, 1000), "step_time": st.sampled_from([0, 0.05, 1.5]),
             "fail_times": st.integers(0, 3)},
    "command": {"command": st.sampled_from(["true", ["echo", "{files}"], "echo a\necho b"]),
                "cwd": st.sampled_from(["~", " /tmp"]), "env": st.sampled_from([{}, {"A": "1"}]),
                "success_codes": st.sampled_from([[0], [0, 24]]),
                "kill_grace": st.sampled_from([0, 5.0, 0.25]),
                "max_memory": st.sampled_from(["2 GB", "512 MiB"])},
    "import": {"table": st.sampled_from(["t", " t", "My Table"]),
               "delimiter": st.sampled_from(["\t", " ", ";", "\\t"]),
               "quotechar": st.sampled_from(["", " ", "'"]), "header": st.booleans(),
               "mode": st.sampled_from(["insert", "replace"]), "pk": st.sampled_from(["id", ["id"]]),
               "types": st.sampled_from([{}, {"zip": "text"}]), "batch_size": st.integers(1, 5000)},
    "report": {"builtin": st.sampled_from(["job-activity", "imported-data"]),
               "title": st.sampled_from(["", " x ", "Monthly"]),
               "period": st.sampled_from(["last_7_days", "2026-10", "all"]),
               "formats": st.sampled_from([["html"], ["csv", "pdf"]]), "keep": st.integers(1, 20)},
}


@st.composite
def jobs(draw):
    kind = draw(st.sampled_from(sorted(KINDS)))
    job = {"kind": kind}
    for key in draw(st.lists(st.sampled_from(sorted(KINDS[kind])), unique=True, max_size=5)):
        job[key] = draw(KINDS[kind][key])
    for key in draw(st.lists(st.sampled_from(sorted(COMMON)), unique=True, max_size=6)):
        job[key] = draw(COMMON[key])
    if "every" in job and "cron" in job:
        del job["cron"]
    if kind == "command":
        job.setdefault("command", "true")
    if kind == "report":
        job.setdefault("builtin", "job-activity")
    return job


def test_a_job_left_as_it_is_in_the_editor_is_saved_as_it_was(qtbot, home):
    @settings(max_examples=100, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(jobs())
    def check(job):
        doc = ConfigDocument()
        doc.set_job("j", job)
        text = doc.text
        if parse_config(text).errors:
            return  # keys that do not go together: the form says so, as check does
        app = editor_app(home)
        dlg = editor_for(qtbot, app, JobEditor(app, name="j", values=doc.job("j"),
                                               config_text=text))
        try:
            assert dlg.values() == doc.job("j")
            saved = ConfigDocument(text)
            saved.set_job("j", dlg.values(), old_name="j", opened_with=doc.job("j"))
            assert saved.text == text
        finally:
            dlg.close()

    check()
