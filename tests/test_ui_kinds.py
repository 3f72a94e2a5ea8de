"""Kinds the window has never seen: a plug-in gets a form built from its Params model,
"Run with…" sets parameters for one run, and what the window offers (Preview, Undo,
files) follows the kind's capability flags, never its name."""

from __future__ import annotations

import re
import time
import tomllib
from textwrap import dedent
from types import SimpleNamespace

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QGroupBox, QLineEdit,
                               QSpinBox, QTableWidget)

from helpers import plugin_site, write_dist
from trayjobs.ui.editor import JobEditor
from trayjobs.ui.notify import summarise

from ui_support import (answer_next_box, check_form, editor_app, editor_for,  # noqa: F401
                        find_run, make_app, until)

GREETER = '''
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from trayjobs.kinds import JobKind, KindParams


class Target(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    host: str = Field("localhost", description="The machine to greet.")
    port: int = Field(22, ge=1, le=65535, description="Its port.")


class GreeterParams(KindParams):
    greeting: str = Field("hello", description="What to say.")
    shout: bool = Field(False, description="Say it in capitals.")
    times: int = Field(1, ge=1, le=10, description="How often to say it.")
    pause: float = Field(0.0, ge=0, le=5, description="Seconds between greetings.")
    tone: Literal["warm", "dry"] = Field("warm", description="How it sounds.")
    names: list[str] = Field(default_factory=list, description="Who to greet.")
    words: dict[str, str] = Field(default_factory=dict, description="Extra words by name.")
    target: Target = Field(default_factory=Target, description="Where to say it.")
    weights: list[int] = Field(default_factory=list, description="Anything else is TOML.")

    @field_validator("greeting")
    @classmethod
    def _no_digits(cls, v):
        if any(c.isdigit() for c in v):
            raise ValueError("a greeting has no digits")
        return v


class GreeterKind(JobKind):
    name = "greeter"
    summary = "Greets people; has no dry run and no undo."
    Params = GreeterParams
    run_params = frozenset({"greeting"})

    def run(self, ctx, params):
        text = params.greeting.upper() if params.shout else params.greeting
        who = ctx.params.get("who") or ", ".join(params.names) or "nobody"
        return {"summary": f"{text} x{params.times} to {who} at "
                           f"{params.target.host}:{params.target.port}",
                "words": dict(params.words), "weights": list(params.weights)}


class KeeperKind(JobKind):
    name = "keeper"
    summary = "Keeps files; can preview and undo."
    accepts_files = True
    supports_dry_run = True
    supports_undo = True
    plural = "keepings"
    undo_note = "The kept files are let go again."

    def run(self, ctx, params):
        return {"summary": f"kept {len(ctx.files)} files"}

    def undo(self, ctx, params, run):
        return {"summary": "let go"}
'''

CONFIG = dedent("""
    # My own jobs, by a plug-in.
    [jobs.greet]  # says hello
    kind = "greeter"
    names = ["Ada"]
    params = { who = "world", loud = false, rounds = 2 }

    [jobs.keep]
    kind = "keeper"
""")


@pytest.fixture
def greeter(tmp_path):
    """The plug-in installed through a path entry, seen here and by the job processes."""
    site = tmp_path / "site"
    site.mkdir()
    write_dist(site, "trayjobs-greeter", "0.3",
         "greeter = greeter_kind:GreeterKind\nkeeper = greeter_kind:KeeperKind",
         "greeter_kind", GREETER)
    with plugin_site(site, "greeter_kind"):
        yield site


def editor(qtbot, home, values, *, name="greet", text=CONFIG) -> JobEditor:
    app = editor_app(home)
    return editor_for(qtbot, app, JobEditor(app, name=name, values=values, config_text=text))


def test_a_plugin_kind_gets_a_form_from_its_params_model(qtbot, home, greeter):
    dlg = editor(qtbot, home, {"kind": "greeter", "names": ["Ada"]})
    assert dlg.kind_summary.text() == "Greets people; has no dry run and no undo."
    w = {key: row.editor for key, row in dlg.rows.items()}
    assert isinstance(w["greeting"].w, QLineEdit)
    assert w["greeting"].w.placeholderText() == "default: hello"
    assert isinstance(w["shout"].w, QCheckBox)
    assert isinstance(w["times"].w, QSpinBox)
    assert (w["times"].w.minimum(), w["times"].w.maximum(), w["times"].w.value()) == (1, 10, 1)
    assert isinstance(w["pause"].w, QDoubleSpinBox) and w["pause"].w.maximum() == 5
    assert isinstance(w["tone"].w, QComboBox)
    assert [w["tone"].w.itemText(i) for i in range(w["tone"].w.count())] == ["warm", "dry"]
    assert w["names"].w.text() == "Ada"  # a list of texts: comma-separated
    assert isinstance(w["words"].table, QTableWidget)
    assert w["target"].findChild(QGroupBox) is not None
    assert w["target"].editors["port"].w.value() == 22  # the nested default, shown
    assert isinstance(w["weights"].w, QLineEdit)  # anything else: a TOML value
    # Labels in words, the description as help and tooltip.
    assert dlg.rows["times"].label == "Times"
    assert dlg.rows["times"].help.text() == "How often to say it."
    assert w["tone"].w.toolTip() == "How it sounds."
    assert check_form(qtbot, dlg)
    # Only what differs from the defaults is written.
    assert dlg.values() == {"kind": "greeter", "names": ["Ada"]}
    w["times"].w.setValue(3)
    w["tone"].w.setCurrentText("dry")
    w["words"].add_row("sir", "Sir")
    w["target"].editors["host"].w.setText("nas")
    w["weights"].w.setText("[1, 2]")
    assert check_form(qtbot, dlg)
    assert dlg.values() == {"kind": "greeter", "times": 3, "tone": "dry", "names": ["Ada"],
                            "words": {"sir": "Sir"}, "target": {"host": "nas"},
                            "weights": [1, 2]}


def test_errors_in_a_generated_form_are_words_naming_the_field(qtbot, home, greeter):
    dlg = editor(qtbot, home, {"kind": "greeter"})
    rows = dlg.rows
    rows["weights"].editor.w.setText('["a"]')
    rows["greeting"].editor.w.setText("h3llo")
    assert not check_form(qtbot, dlg) and not dlg.save_btn.isEnabled()
    assert rows["weights"].error.text() == "Weights, item 1: write a whole number (got 'a')"
    assert rows["greeting"].error.text() == "Greeting: a greeting has no digits"
    rows["weights"].editor.w.setText('"heavy"')
    rows["greeting"].editor.w.setText("")
    assert not check_form(qtbot, dlg)
    assert rows["weights"].error.text().startswith("Weights: write a list in brackets")
    assert "Input should" not in rows["weights"].error.text()
    rows["words"].editor.add_row("", "orphan")
    assert not check_form(qtbot, dlg)
    assert rows["words"].error.text() == "Words: the value 'orphan' in row 2 has no name" or \
        rows["words"].error.text() == "Words: the value 'orphan' in row 1 has no name"


def test_a_generated_form_saves_the_toml_with_comments_and_the_job_runs(make_app, qtbot, home,
                                                                         greeter):
    ta = make_app(CONFIG)
    ta.edit_job("greet")
    until(qtbot, lambda: getattr(ta, "editor", None) is not None and ta.editor.isVisible())
    dlg = ta.editor
    rows = dlg.rows
    rows["greeting"].editor.w.setText("good morning")
    rows["shout"].editor.w.setChecked(True)
    rows["times"].editor.w.setValue(2)
    rows["words"].editor.add_row("title", "Dr")
    rows["target"].editor.editors["port"].w.setValue(2222)
    assert check_form(qtbot, dlg)
    with qtbot.waitSignal(dlg.saved, timeout=10_000):
        dlg.save()
    text = home.config_file.read_text()
    assert "# My own jobs, by a plug-in." in text and "# says hello" in text
    job = tomllib.loads(text)["jobs"]["greet"]
    assert job == {"kind": "greeter", "names": ["Ada"], "greeting": "good morning",
                   "shout": True, "times": 2, "words": {"title": "Dr"},
                   "target": {"port": 2222},
                   "params": {"who": "world", "loud": False, "rounds": 2}}
    until(qtbot, lambda: ta.engine.config.jobs["greet"].raw.get("times") == 2)
    ta.run_job("greet")
    until(qtbot, lambda: find_run(ta, "greet", "succeeded"), timeout=20_000)
    run = find_run(ta, "greet", "succeeded")
    assert run["result"]["summary"] == "GOOD MORNING x2 to world at localhost:2222"
    assert run["result"]["words"] == {"title": "Dr"}


def test_run_with_overrides_a_parameter_for_one_run_and_the_details_show_it(make_app, qtbot,
                                                                              greeter):
    ta = make_app(CONFIG)
    ta.run_job_with("greet")
    until(qtbot, lambda: getattr(ta, "run_with", None) is not None and ta.run_with.isVisible())
    dlg = ta.run_with
    ed = dlg.editors
    assert list(ed) == ["greeting", "loud", "rounds", "who"]
    # Asked again, the open one comes forward with what was typed: not a second on top.
    ed["who"].w.setText("Ada")
    flushed = []
    ta.run_job_with("greet")
    ta.service.call(lambda: None, lambda _r: flushed.append(1))
    until(qtbot, lambda: flushed)
    assert ta.run_with is dlg and ed["who"].w.text() == "Ada"
    assert [d.isVisible() for d in ta.window.findChildren(type(dlg))] == [True]
    ed["who"].w.setText("")
    assert ed["who"].w.placeholderText() == "default: world"
    assert isinstance(ed["loud"].w, QCheckBox) and isinstance(ed["rounds"].w, QSpinBox)
    assert ed["rounds"].w.value() == 2
    # A value the kind refuses: said in words, naming the field; nothing runs.
    ed["greeting"].w.setText("h1")
    dlg.start()
    until(qtbot, lambda: dlg.error.isVisible())
    assert dlg.error.text() == "Greeting: a greeting has no digits"
    assert dlg.isVisible() and find_run(ta, "greet") is None
    ed["greeting"].w.setText("")
    ed["who"].w.setText("Grace")
    ed["rounds"].w.setValue(5)
    dlg.start()
    until(qtbot, lambda: dlg.run_id is not None)
    rid = dlg.run_id
    until(qtbot, lambda: find_run(ta, "greet", "succeeded"), timeout=20_000)
    run = find_run(ta, "greet", "succeeded")
    assert run["id"] == rid and run["result"]["summary"] == "hello x1 to Grace at localhost:22"
    assert run["inputs"]["params"] == {"who": "Grace", "loud": False, "rounds": 5}
    details = ta.open_run(rid)
    until(qtbot, lambda: details.run is not None)
    assert details.fields["run_params"].text() == 'who = "Grace", loud = false, rounds = 5'
    assert 'who = "Grace"' in details.params.toPlainText()
    # The job keeps its own values: the next plain run greets the world again.
    assert "who = \"world\"" in ta.home.config_file.read_text()


def test_run_later_schedules_a_one_off_that_waits_then_runs(make_app, qtbot, greeter):
    ta = make_app(CONFIG)
    ta.run_job_with("greet")
    until(qtbot, lambda: getattr(ta, "run_with", None) is not None and ta.run_with.isVisible())
    dlg = ta.run_with
    dlg.when.setCurrentIndex(2)
    assert dlg.when_text.isEnabled() and dlg.run_btn.text() == "&Schedule"
    dlg.when_text.setText("soon")
    dlg.start()
    until(qtbot, lambda: dlg.error.isVisible())
    assert dlg.error.text().startswith("When:") and find_run(ta, "greet") is None
    # The dialog grows to hold the message; the fields above it keep their height.
    assert dlg.height() >= dlg.sizeHint().height()
    dlg.when_text.setText("2s")
    t0 = time.time()
    qtbot.keyClick(dlg.when_text, Qt.Key.Key_Return)  # Enter schedules it (not Cancel)
    until(qtbot, lambda: dlg.run_id is not None)
    rid = dlg.run_id
    said = ta.window.statusBar().currentMessage()  # today's time, not "Wed 18:18:"
    assert re.fullmatch(rf"Scheduled run {rid} of greet for (\w{{3}} )?\d\d:\d\d", said), said
    until(qtbot, lambda: find_run(ta, "greet", "scheduled"))
    assert find_run(ta, "greet", "scheduled")["id"] == rid
    # The Jobs page's Next run says when, and its tooltip that it is a one-off.
    jobs = ta.window.jobs_model
    nxt = jobs.index(jobs.row_of("greet"), jobs.NEXT)
    until(qtbot, lambda: nxt.data())
    assert str(nxt.data(Qt.ItemDataRole.ToolTipRole)).startswith("a one-off run at ")
    until(qtbot, lambda: find_run(ta, "greet", "succeeded"), timeout=20_000)
    assert time.time() - t0 >= 1.5  # it waited for its time


def test_capability_flags_decide_what_the_window_offers(make_app, qtbot, home, greeter):
    ta = make_app(CONFIG)
    rows = {j["name"]: j for j in ta.jobs_snapshot()}
    page = ta.window.jobs_page

    def actions(job):
        return {a.objectName() for a in page.context_menu_for(rows[job]).actions()}

    assert {"runWith"} <= actions("greet") and not {"dryRun", "runFiles"} & actions("greet")
    assert {"dryRun", "runFiles"} <= actions("keep")
    labels = {a.objectName(): a.text() for a in page.context_menu_for(rows["keep"]).actions()}
    assert labels["runWith"] == "Run later…"  # no parameters: only the time to choose

    greet = editor(qtbot, home, {"kind": "greeter"})
    assert not greet.preview_btn.isEnabled() and greet.files_btn.isHidden()
    keep = editor(qtbot, home, {"kind": "keeper"}, name="keep")
    assert check_form(qtbot, keep)
    assert keep.preview_btn.isEnabled() and not keep.files_btn.isHidden()

    ta.run_job("greet")
    ta.run_job("keep")
    until(qtbot, lambda: find_run(ta, "greet", "succeeded") and find_run(ta, "keep", "succeeded"),
          timeout=20_000)
    d1 = ta.open_run(find_run(ta, "greet")["id"])
    until(qtbot, lambda: d1.run is not None)
    assert d1.undo_btn.isHidden()
    d2 = ta.open_run(find_run(ta, "keep")["id"])
    until(qtbot, lambda: d2.run is not None)
    assert not d2.undo_btn.isHidden() and d2.undo_btn.isEnabled()
    # Words come from the kind too: the undo confirmation and a burst's notification.
    with answer_next_box("No") as texts:
        d2.undo()
    assert "The kept files are let go again." in texts[0]
    runs = [find_run(ta, "keep"), {**find_run(ta, "keep"), "id": 999}]
    assert summarise(runs, failed=False)[0] == "2 keepings succeeded"
    assert summarise([find_run(ta, "greet")] * 2, failed=True)[0] == "2 runs failed"



@pytest.mark.parametrize("index, text, said", [
    (1, "25:99", "When: not a time of day; write e.g. 18:00 or 07:30"),
    (1, "2020-01-01 10:00", "When: that time has passed"),
    (2, "99999d", "When: at most 3660 days ahead"),
])
def test_a_time_the_run_with_dialog_refuses_is_said_without_the_command_lines_option(
        qtbot, index, text, said):
    # A time has colons of its own: "--at 25:99: not a time of day" was shown as it was.
    from trayjobs.ui.runwith import RunWithDialog
    dlg = RunWithDialog(SimpleNamespace(engine=None), "greet", [])
    qtbot.addWidget(dlg)
    dlg.when.setCurrentIndex(index)
    dlg.when_text.setText(text)
    dlg.start()
    assert dlg.error.text() == said and dlg.run_id is None


def test_a_form_opens_for_defaults_toml_cannot_write(qtbot, home, tmp_path):
    # A Decimal, a set or a date-time as a field's default: writing it as TOML for the
    # placeholder raised, and the editor for a job of the kind never opened.
    site = tmp_path / "site"
    site.mkdir()
    write_dist(site, "trayjobs-typed", "0.1", "typed = typed_kind:TypedKind", "typed_kind", """
        import datetime, decimal

        from trayjobs.kinds import JobKind, KindParams

        class TypedParams(KindParams):
            amount: decimal.Decimal = decimal.Decimal("1.5")
            labels: set[str] = {"a"}
            pair: tuple[int, str] = (1, "x")
            since: datetime.datetime = datetime.datetime(2026, 1, 2, 3, 4)

        class TypedKind(JobKind):
            name = "typed"
            Params = TypedParams

            def run(self, ctx, params):
                return {"summary": "ran"}
    """)
    with plugin_site(site, "typed_kind"):
        dlg = editor(qtbot, home, {"kind": "typed"}, name="t", text='[jobs.t]\nkind = "typed"\n')
        w = {key: row.editor for key, row in dlg.rows.items()}
        assert [w[k].w.placeholderText() for k in ("amount", "labels", "pair", "since")] == [
            'default: "1.5"', 'default: ["a"]', 'default: [1, "x"]',
            'default: "2026-01-02T03:04:00"']
        assert check_form(qtbot, dlg)
        assert dlg.values() == {"kind": "typed"}
        w["amount"].w.setText('"2.25"')
        assert check_form(qtbot, dlg)
        assert dlg.values() == {"kind": "typed", "amount": "2.25"}


def test_a_float_with_more_decimals_than_the_box_shows_is_kept_as_it_is(qtbot):
    # The number box showed three decimals: a job's 0.1234 came back as 0.123, and
    # "Run with…" sent it as a change nobody had made.
    from trayjobs.ui.editor.fields import FieldSpec
    from trayjobs.ui.runwith import RunWithDialog
    spec = FieldSpec(key="ratio", label="Ratio", help="", kind="float", default=0.1234)
    dlg = RunWithDialog(SimpleNamespace(engine=None), "greet", [spec])
    qtbot.addWidget(dlg)
    assert dlg.editors["ratio"].value()[1] == 0.1234
    assert dlg.overrides() == {}
    dlg.editors["ratio"].w.setValue(0.5)
    assert dlg.overrides() == {"ratio": 0.5}


def test_generated_labels_spell_out_abbreviations():
    from trayjobs.kinds import get_kind
    from trayjobs.ui.editor.fields import describe_fields

    def labels(kind):
        return {s.key: s.label for s in describe_fields(get_kind(kind).Params)}

    assert labels("import")["pk"] == "Primary key"
    assert labels("import")["quotechar"] == "Quote character"
    assert labels("import")["processed_dir"] == "Processed folder"
    assert labels("command")["cwd"] == "Working folder"
    assert labels("command")["env"] == "Environment variables"
    assert labels("report")["csv_bom"] == "CSV byte-order mark"
    assert labels("python")["log_head"] == "Log head"  # plain words stay as they were
    from trayjobs.config import JobCommon
    assert {s.key: s.label for s in describe_fields(JobCommon)}["params"] == "Run parameters"


def test_a_python_jobs_file_and_a_commands_folder_have_browse_buttons():
    from trayjobs.kinds import get_kind
    from trayjobs.ui.editor.fields import describe_fields

    def spec(kind, key):
        return next(s for s in describe_fields(get_kind(kind).Params) if s.key == key)

    assert (spec("python", "file").kind, spec("python", "file").picker) == ("path", "file")
    assert (spec("command", "cwd").kind, spec("command", "cwd").picker) == ("path", "folder")


ODD = '''
from typing import List, Optional

from pydantic import BaseModel, Field

from trayjobs.kinds import JobKind, KindParams


class Node(BaseModel):
    name: str = Field("n", description="Its name.")
    child: Optional["Node"] = Field(None, description="A node within.")


class OddParams(KindParams):
    max_bytes: int = Field(10_000_000_000, ge=0, description="Beyond what a spin box holds.")
    limit: int = Field(5, ge=0, description="A small number, set big by the job.")
    ratio: float = Field(1e20, description="A float beyond the box of decimals.")
    strict: Optional[bool] = Field(None, description="Unset, true or false.")
    tree: Node = Field(default_factory=Node, description="Holds itself.")
    items: List = Field(default_factory=list, description="A list of anything.")
    later: int = Field(default_factory=lambda data: data["limit"] * 2, description="From limit.")
    wrong: int = Field("abc", description="A default of another type.")


class OddKind(JobKind):
    name = "odd"
    Params = OddParams

    def run(self, ctx, params):
        return {"summary": "ran"}
'''


def test_a_plugin_form_opens_whatever_its_fields_and_changes_nothing_it_was_not_told(
        qtbot, home, tmp_path):
    # Each of these fields kept the form from opening (a spin box's overflow, a model that
    # holds itself without end, a bare List, a factory of the other values, a default of
    # another type), or wrote what nobody set: false for an unset tick box, a bound for a
    # number beyond a box's range.
    site = tmp_path / "site"
    site.mkdir()
    write_dist(site, "trayjobs-odd", "0.1", "odd = odd_kind:OddKind", "odd_kind", ODD)
    with plugin_site(site, "odd_kind"):
        values = {"kind": "odd", "limit": 5_000_000_000}
        dlg = editor(qtbot, home, values, name="odd",
                     text='[jobs.odd]\nkind = "odd"\nlimit = 5_000_000_000\n')
        w = {key: row.editor for key, row in dlg.rows.items()}
        assert isinstance(w["max_bytes"].w, QLineEdit)
        assert w["max_bytes"].w.placeholderText() == "default: 10000000000"
        assert isinstance(w["limit"].w, QLineEdit) and w["limit"].w.text() == "5000000000"
        assert isinstance(w["ratio"].w, QLineEdit)
        assert isinstance(w["strict"].w, QComboBox)
        assert w["tree"].editors["child"].w.placeholderText().startswith("a TOML value")
        assert "typed as TOML" in w["wrong"].w.toolTip()
        assert dlg.values() == values
        w["strict"].w.setCurrentIndex(w["strict"].w.findData(False))
        w["max_bytes"].w.setText("20000000000")
        assert dlg.values() == {**values, "strict": False, "max_bytes": 20_000_000_000}
