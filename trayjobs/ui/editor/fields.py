"""Form fields made from a kind's pydantic ``Params`` model.

:func:`describe_fields` reads a model (no widgets involved): each field's key,
label, explanation (the ``description`` every field has), default and the
kind of input it needs: text, a tick box, a number within its bounds, a choice,
a comma-separated list, a table of names to texts (or to stored secrets, as a
command's ``env``), a group for a nested model, or, for anything else, a TOML
value. :func:`make_editor` turns one description
into a widget with the same small interface as the hand-made editors: ``value()``
returns ``(present, value)`` (absent means "leave the key out, the default
applies"), ``set_value``, ``set_error`` and a ``changed`` signal.
"""

from __future__ import annotations

import os
import re
import types
from dataclasses import dataclass, field
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import PydanticUndefined, to_jsonable_python
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QHBoxLayout,
                               QLineEdit, QPushButton, QSpinBox, QWidget)

from ...config_edit import parse_toml_value

__all__ = ["FieldSpec", "describe_fields", "make_editor", "FieldEditor", "PATH_KEYS",
           "plain_help", "plain_error", "where_in", "compact_duration", "browse_from"]

#: Keys that name a folder or a file, and the picker they get.
PATH_KEYS = {"database": "save", "template": "file", "processed_dir": "folder",
             "failed_dir": "folder", "folder": "folder", "path": "folder", "file": "file",
             "cwd": "folder"}

#: Durations ("15m", "1h30m"): typed as text, whatever the model stores.
DURATION_KEYS = {"every", "timeout", "backoff", "max_backoff", "settle", "catchup_delay",
                 "skip_recent"}

#: Labels that the key, with its underscores made spaces, would say badly: abbreviations
#: and run-together words a newcomer would have to decode ("Pk", "Cwd", "Quotechar").
LABELS = {"pk": "Primary key", "cwd": "Working folder", "quotechar": "Quote character",
          "json_key": "JSON key", "processed_dir": "Processed folder",
          "failed_dir": "Failed folder", "builtin": "Built-in report",
          "csv_formula_guard": "CSV formula guard", "csv_bom": "CSV byte-order mark",
          "env": "Environment variables", "params": "Run parameters"}

_REQUIRED, _UNKNOWN = object(), object()


@dataclass
class FieldSpec:
    key: str
    label: str
    help: str
    kind: str                    # bool int float choice multi text list path dict env model toml
    default: Any = None
    required: bool = False
    optional: bool = False       # None is a valid value
    choices: list[Any] = field(default_factory=list)
    minimum: float | None = None
    maximum: float | None = None
    picker: str = ""             # folder, file or save, for kind "path"
    number: str = ""             # "int" or "float" for a number that may be unset
    model: Any = None            # the nested model, for kind "model"
    within: tuple = ()           # the models this field's model is nested in
    text_ok: bool = False        # kind "toml" that may also be plain text (a command line)
    scalars: tuple = ()          # with text_ok: the numbers a field also takes (a sheet's index)


def browse_from(text: str = "") -> str:
    """Where a file dialog opens: at the path the field holds (the dialog knows no "~"),
    or in the home folder. Given nothing, it opened in the app's working folder, the
    clone trayjobs was started from."""
    home = os.path.expanduser("~")
    path = os.path.expanduser(text.strip()) if text.strip() else home
    if os.path.exists(path) or os.path.isdir(os.path.dirname(path)):
        return path  # a file still to be made opens in its folder, its name filled in
    while path != os.path.dirname(path) and not os.path.isdir(path):
        path = os.path.dirname(path)  # "~/Archive/{year}": the nearest folder there is
    return path if os.path.isdir(path) and path != os.path.dirname(path) else home


def plain_help(text: str | None) -> str:
    """A description as plain text (no markdown backticks)."""
    return re.sub(r"`([^`]*)`", r"\1", text or "")


#: Pydantic's phrasing -> ours: what the value should be, in words.
_PLAIN_ERRORS = [
    # The python kind names its keys as the jobs file writes them; the form has fields.
    (r'give either call = "[^"]*" or file = "[^"]*", not both or neither',
     "Fill in either Call (package.module:function) or File (a .py file), not both"),
    # (the job's own name in the table header, as the jobs file writes it)
    (r'a report needs sections \(\[\[jobs\..*?\.sections\]\] with a title and a query\) '
     r'or a built-in report: builtin = "job-activity" or "imported-data"',
     "Choose a Built-in report (job-activity or imported-data), or add Sections, each with "
     "a title and a query"),
    (r"Input should be a valid integer[^(]*", "should be a whole number "),
    (r"Input should be a valid number[^(]*", "should be a number "),
    (r"Input should be a valid boolean[^(]*", "should be true or false "),
    (r"Input should be a valid string", "should be text"),
    (r"Input should be a valid list", "should be a list, e.g. [\"a\", \"b\"]"),
    (r"Input should be a valid dictionary", "should be a table, e.g. { name = \"value\" }"),
    (r"Input should be greater than or equal to", "should be at least"),
    (r"Input should be less than or equal to", "should be at most"),
    (r"Input should be greater than", "should be more than"),
    (r"Input should be less than", "should be less than"),
    (r"String should have at least 1 character", "should not be empty"),
    (r"List should have at least 1 item after validation, not \d+", "add at least one"),
    (r"List should have at least (\d+) items after validation, not \d+", r"add at least \1"),
    (r"List should have at most (\d+) items? after validation, not \d+", r"at most \1, please"),
    (r"Field required", "is needed"),
    (r"Extra inputs are not permitted", "is not a setting here"),
    (r"Value error, ", ""),
    (r"Input should be", "should be"),
]


def plain_error(message: str) -> str:
    """A config error as a sentence for the form (pydantic's wording made plain)."""
    for pattern, words in _PLAIN_ERRORS:
        message = re.sub(pattern, words, message)
    return re.sub(r"\s+", " ", message).strip()


#: What one entry of a list field is called, for "rule 2" rather than "1".
ITEM_WORDS = {"filters": "rule", "locations": "folder", "sections": "section", "then": "job"}


def where_in(top: str, detail: str, message: str = "") -> str:
    """A place inside field ``top`` in words: ``filters`` + ``1.size.size`` is "rule 2";
    a name the message starts with anyway is not said twice."""
    words: list[str] = []
    for part in detail.split(".") if detail else []:
        if part.isdigit():
            words.append(f"{ITEM_WORDS.get(top, 'item')} {int(part) + 1}")
        elif not words or words[-1] != part.replace("_", " "):
            words.append(part.replace("_", " "))
    if words and not words[-1][-1].isdigit() and message.startswith(words[-1]):
        words.pop()
    return ", ".join(words)


def _bounds(meta) -> tuple[float | None, float | None]:
    lo = hi = None
    for m in meta:
        lo = getattr(m, "ge", lo) if getattr(m, "ge", None) is not None else lo
        hi = getattr(m, "le", hi) if getattr(m, "le", None) is not None else hi
        if getattr(m, "gt", None) is not None:
            lo = m.gt
        if getattr(m, "lt", None) is not None:
            hi = m.lt
    return lo, hi


def _strip_annotated(tp):
    while get_origin(tp) is not None and hasattr(tp, "__metadata__"):
        tp = get_args(tp)[0]
    return tp


def _texts_or_secrets(args: tuple) -> bool:
    """``dict[str, str | SecretRef]``: names to texts or stored secrets (a command's env)."""
    from ...secrets import SecretRef
    if len(args) != 2 or _strip_annotated(args[0]) is not str:
        return False
    values = _strip_annotated(args[1])
    return get_origin(values) in (Union, types.UnionType) and {
        _strip_annotated(a) for a in get_args(values)} == {str, SecretRef}


#: What a spin box holds (a C int), and the range of a box of decimals (a wider one is as
#: wide as its largest number written out): a number beyond is typed as text instead.
_SPIN_MAX, _FLOAT_MAX = 2**31 - 1, 1e9


def _default(f) -> Any:
    """A field's default; ``_REQUIRED`` when it has none, ``_UNKNOWN`` when it is made from
    the other fields' values (a factory taking them), which a form cannot know beforehand."""
    if f.default is not PydanticUndefined:
        return f.default
    if f.default_factory is None:
        return _REQUIRED
    try:
        return f.get_default(call_default_factory=True, validated_data={})
    except Exception:  # a plug-in's factory: it needs the other values, or fails
        return _UNKNOWN


def describe_fields(model, *, skip: set[str] = frozenset(), within: tuple = ()
                    ) -> list[FieldSpec]:
    specs = []
    for name, f in model.model_fields.items():
        key = f.alias or name
        if key in skip:
            continue
        ann = _strip_annotated(f.annotation)
        optional = False
        text_ok = False
        scalars: tuple = ()
        if get_origin(ann) in (Union, types.UnionType):
            args = [a for a in get_args(ann) if a is not type(None)]
            optional = len(args) < len(get_args(ann))
            text_ok = str in {_strip_annotated(a) for a in args}
            scalars = tuple(a for a in map(_strip_annotated, args) if a in (int, float, bool))
            ann = _strip_annotated(args[0]) if len(args) == 1 else ann
        default = _default(f)
        if hasattr(default, "model_dump"):
            default = default.model_dump(mode="json", by_alias=True)
        spec = FieldSpec(key=key, label=LABELS.get(key) or key.replace("_", " ").capitalize(),
                         help=plain_help(f.description), kind="toml",
                         default=None if default is _REQUIRED or default is _UNKNOWN else default,
                         required=default is _REQUIRED, optional=optional, text_ok=text_ok,
                         scalars=scalars)
        origin = get_origin(ann)
        if ann is bool and optional:  # a tick box cannot say "unset": it wrote false
            spec.kind, spec.choices = "choice", [True, False]
        elif ann is bool:
            spec.kind = "bool"
        elif ann is int:
            spec.kind = "int"
            spec.minimum, spec.maximum = _bounds(f.metadata)
            if any(isinstance(n, (int, float)) and abs(n) > _SPIN_MAX
                   for n in (spec.minimum, spec.maximum, spec.default)):
                spec.kind, spec.number = "text", "int"
        elif ann is float:
            spec.kind = "float"
            spec.minimum, spec.maximum = _bounds(f.metadata)
            if any(isinstance(n, (int, float)) and abs(n) > _FLOAT_MAX
                   for n in (spec.minimum, spec.maximum, spec.default)):
                spec.kind, spec.number = "text", "float"
        elif origin is Literal:
            spec.kind, spec.choices = "choice", list(get_args(ann))
        elif ann is str:
            spec.kind = "path" if key in PATH_KEYS else "text"
            spec.picker = PATH_KEYS.get(key, "")
        elif origin is list and get_args(ann):  # (a bare typing.List says nothing of its items)
            item = _strip_annotated(get_args(ann)[0])
            if item is str:
                spec.kind = "list"
            elif get_origin(item) is Literal:
                spec.kind, spec.choices = "multi", list(get_args(item))
        elif origin is dict and [_strip_annotated(a) for a in get_args(ann)] == [str, str]:
            spec.kind = "dict"
        elif origin is dict and _texts_or_secrets(get_args(ann)):
            spec.kind = "env"
        elif isinstance(ann, type) and issubclass(ann, BaseModel) and ann not in (
                *within, model):  # one that holds itself is typed as TOML: groups without end
            spec.kind, spec.model, spec.within = "model", ann, (*within, model)
        if key in DURATION_KEYS:
            spec.kind, spec.number = "text", "float"
            spec.optional = True
        if spec.kind == "toml" and spec.default is not None:
            # A default TOML cannot write as it is (a Decimal, a set, a date-time): shown and
            # compared as JSON has it, as the job's runs read it; the form failed to open.
            spec.default = to_jsonable_python(spec.default, fallback=str)
        if spec.kind in ("int", "float") and (optional or default is _UNKNOWN):
            spec.number, spec.kind = spec.kind, "text"  # a spin box cannot say "unset"
        specs.append(spec)
    return specs


# -- editors --------------------------------------------------------------------------

class FieldEditor(QWidget):
    """Base of every field editor: a key, a value that may be absent, a change signal."""

    changed = Signal()

    def __init__(self, key: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.key = key
        self.present = False   # the key is in the job's table
        self.error_text = ""

    # Each editor overrides both (a QWidget cannot also be an ABC: Shiboken's metaclass).
    def value(self) -> tuple[bool, Any]:
        """(present, value) as the form holds it now."""
        raise TypeError(f"{type(self).__name__} does not define value()")

    def set_value(self, present: bool, value: Any) -> None:
        raise TypeError(f"{type(self).__name__} does not define set_value()")

    def set_error(self, message: str | None) -> None:
        self.error_text = message or ""


def _items(value: Any) -> list[Any]:
    """A list field's items: one text written where a list may be (``pk = "id"``, which the
    kind takes as ``["id"]``) is one item, not its letters."""
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


class _Generic(FieldEditor):
    def __init__(self, spec: FieldSpec, parent=None) -> None:
        super().__init__(spec.key, parent)
        self.spec = spec
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        s = spec
        if s.kind == "bool":
            self.w = QCheckBox()
            self.w.toggled.connect(self.changed)
        elif s.kind == "int":
            self.w = QSpinBox()
            self.w.setRange(int(s.minimum if s.minimum is not None else -_SPIN_MAX),
                            int(s.maximum if s.maximum is not None else _SPIN_MAX))
            self.w.setGroupSeparatorShown(True)
            self.w.valueChanged.connect(self.changed)
        elif s.kind == "float":
            self.w = QDoubleSpinBox()
            self.w.setDecimals(3)
            self.w.setRange(s.minimum if s.minimum is not None else -_FLOAT_MAX,
                            s.maximum if s.maximum is not None else _FLOAT_MAX)
            self.w.valueChanged.connect(self.changed)
        elif s.kind == "choice":
            self.w = QComboBox()
            if s.optional:
                self.w.addItem("(none)", None)
            for c in s.choices:
                self.w.addItem(str(c), c)
            self.w.currentIndexChanged.connect(self.changed)
        elif s.kind == "multi":
            self.w = QWidget()
            inner = QHBoxLayout(self.w)
            inner.setContentsMargins(0, 0, 0, 0)
            self.boxes = []
            for c in s.choices:
                b = QCheckBox(str(c))
                b.setAccessibleName(f"{s.label}: {c}")
                b.toggled.connect(self.changed)
                inner.addWidget(b)
                self.boxes.append((c, b))
            inner.addStretch(1)
        else:
            self.w = QLineEdit()
            self.w.textChanged.connect(self.changed)
            if s.kind == "list":
                self.w.setPlaceholderText("comma-separated, e.g. " + {
                    "pk": "id", "exclude": "*.keep, backups/*"}.get(s.key, "a, b"))
            elif s.kind == "toml" and s.text_ok:
                self.w.setPlaceholderText('a shell line, e.g. ~/bin/backup.sh --all, or a list: '
                                          '["rsync", "-a", "~/src/", "/mnt/backup/"]')
            elif s.kind == "toml" and s.default not in (None, [], {}):
                from ...config_edit import toml_value
                self.w.setPlaceholderText(f"default: {toml_value(s.default).as_string()}")
            elif s.kind == "toml":
                self.w.setPlaceholderText("a TOML value, e.g. " + (
                    '{ zip = "text" }' if isinstance(s.default, dict) else '["a", "b"]'))
            elif s.default not in (None, ""):
                shown = compact_duration(s.default) if s.key in DURATION_KEYS and isinstance(
                    s.default, (int, float)) else s.default
                self.w.setPlaceholderText(f"default: {shown}")
            elif s.optional:
                self.w.setPlaceholderText("(not set)")
        self.w.setAccessibleName(s.label)
        self.w.setToolTip(s.help)
        lay.addWidget(self.w, 1)
        if s.kind == "path":
            browse = QPushButton("Browse…")
            browse.setAccessibleName(f"Choose {s.label.lower()}")
            browse.clicked.connect(self._browse)
            lay.addWidget(browse)
        self.setFocusProxy(self.w)

    def _browse(self) -> None:
        start = browse_from(self.w.text())
        picker = self.spec.picker
        if picker == "folder":
            path = QFileDialog.getExistingDirectory(self, self.spec.label, start)
        elif picker == "save":
            path, _ = QFileDialog.getSaveFileName(self, self.spec.label, start,
                                                  options=QFileDialog.Option.DontConfirmOverwrite)
        else:
            path, _ = QFileDialog.getOpenFileName(self, self.spec.label, start)
        if path:
            self.w.setText(path)

    def _raw(self) -> Any:
        s = self.spec
        if s.kind == "bool":
            return self.w.isChecked()
        if s.kind in ("int", "float"):
            return self.w.value()
        if s.kind == "choice":
            return self.w.currentData()
        if s.kind == "multi":
            return [c for c, b in self.boxes if b.isChecked()]
        text = self.w.text().strip()
        if s.kind == "list":
            return [p.strip() for p in text.split(",") if p.strip()]
        if s.kind == "toml":
            return _read_toml(s, text) if text else None
        return text if text else None

    def value(self) -> tuple[bool, Any]:
        s = self.spec
        v = self._raw()
        if v is None and s.kind in ("text", "path", "toml", "choice"):
            return False, None
        if s.number and isinstance(v, str):
            v = _number(v)
        if not self.present and v == s.default:
            return False, v
        return True, v

    def set_value(self, present: bool, value: Any) -> None:
        s = self.spec
        self.present = present
        v = value if present else s.default
        blocker = [self.w] + [b for _c, b in getattr(self, "boxes", [])]
        for w in blocker:
            w.blockSignals(True)
        try:
            if s.kind == "bool":
                self.w.setChecked(bool(v))
            elif s.kind in ("int", "float") and isinstance(v, (int, float)) and not (
                    self.w.minimum() <= v <= self.w.maximum()):
                self._as_text(v)  # the job's value, beyond what the box holds: kept as it is
            elif s.kind in ("int", "float"):
                if s.kind == "float" and isinstance(v, (int, float)):
                    # As many decimals as the value has: 0.1234 shown as 0.123 was read
                    # back as 0.123, a change nobody made (written, or run with).
                    shown = repr(float(v))
                    places = len(shown.partition(".")[2]) if "e" not in shown else 10
                    self.w.setDecimals(max(self.w.decimals(), min(places, 10)))
                self.w.setValue(v if v is not None else 0)
            elif s.kind == "choice":
                i = self.w.findData(v)
                if i < 0 and v is not None:
                    self.w.addItem(str(v), v)
                    i = self.w.count() - 1
                self.w.setCurrentIndex(max(0, i))
            elif s.kind == "multi":
                for c, b in self.boxes:
                    b.setChecked(c in _items(v))
            elif s.kind == "list":
                self.w.setText(", ".join(str(x) for x in _items(v)) if present else "")
            elif s.kind == "toml" and s.text_ok and present and _reads_back(s, v):
                self.w.setText(v)  # a command line, shown as it is typed: no quotes
            elif s.kind == "toml":
                from ...config_edit import toml_value
                self.w.setText(toml_value(v).as_string() if present and v not in (None, [], {})
                               else "")
            else:
                self.w.setText("" if (v is None or (not present and v == s.default)) else str(v))
        finally:
            for w in blocker:
                w.blockSignals(False)


    def _as_text(self, value: int | float) -> None:
        """Become a text box holding ``value`` (a spin box would change it to its bound)."""
        self.spec.kind, self.spec.number = "text", self.spec.kind
        box = QLineEdit(str(value))
        box.textChanged.connect(self.changed)
        box.setAccessibleName(self.w.accessibleName())
        box.setToolTip(self.w.toolTip())
        self.layout().replaceWidget(self.w, box)
        self.w.deleteLater()
        self.w = box
        self.setFocusProxy(box)


def _read_toml(s: FieldSpec, text: str) -> Any:
    try:
        value = parse_toml_value(text)
    except ValueError:
        # A field that takes text (a command line) takes it as typed, unquoted;
        # what looks like a list, a table or a quoted text is said to be broken.
        if s.text_ok and text[0] not in "[{\"'":
            return text
        raise
    # `true`, `42` or `2024-01-01` typed as a command line are a program's name,
    # not TOML's boolean, number or date.
    if s.text_ok and not isinstance(value, (str, list, dict, *s.scalars)):
        return text
    return value


def _reads_back(s: FieldSpec, v: Any) -> bool:
    """``v`` is a text that, shown as it is (no quotes), reads back as itself."""
    if not isinstance(v, str) or not v or v != v.strip() or not v.isprintable():
        return False
    try:
        return _read_toml(s, v) == v
    except ValueError:
        return False


def _number(text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text  # the config check says what is wrong with it


def compact_duration(seconds: float) -> str:
    """A duration as one would write it in the config: "30s", "1h", "1h30m"."""
    seconds = int(seconds)
    if seconds == 0:
        return "0s"
    out = ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        n, seconds = divmod(seconds, size)
        if n:
            out += f"{n}{unit}"
    return out


def make_editor(spec: FieldSpec, parent: QWidget | None = None) -> FieldEditor:
    """The editor for one field: a table for names to texts (or to stored secrets), a group
    for a nested model, else a single input (anything without one of its own is typed as
    TOML)."""
    if spec.kind == "env":
        from .env import EnvEditor
        return EnvEditor(spec, parent)
    if spec.kind in ("dict", "model"):
        from .structured import KeyValueEditor, ModelEditor
        return (KeyValueEditor if spec.kind == "dict" else ModelEditor)(spec, parent)
    return _Generic(spec, parent)
