"""The alert channels in Settings: each ``[alerts.NAME]`` with how its latest delivery went,
and **Send test**, which sends a real message (off the GUI thread) and shows whether it
went or the channel's exact error."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QAbstractItemView, QGroupBox, QHBoxLayout, QHeaderView, QLabel,
                               QPushButton, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget)

from ..textfmt import plain, when
from .theme import muted_colour, state_colour

__all__ = ["AlertsBox"]


def _health_text(row: dict[str, Any] | None) -> str:
    if row is None:
        return "nothing sent yet"
    if row["state"] == "sent":
        # A time, not "9 min ago": the list is filled when something changes, and a
        # relative time would stand still while the page stays open.
        return f"sent at {when(row['sent_at'])}"
    return (f"failing: {plain(row['last_error'], one_line=True)}" if row.get("last_error")
            else row["state"])


class AlertsBox(QGroupBox):
    NAME, URL, STATE = range(3)
    INTRO = ("Where alerts go besides this window: the [alerts.NAME] tables of the jobs file "
             "(mail, ntfy, webhooks, chat…). Send test sends a real message.")
    #: Said instead of an empty list: that alerts exist, and the one step to get them.
    EMPTY = ("No alert channels yet: failures only show here and as desktop notifications. "
             "To get them by mail, on your phone (ntfy) or at a webhook, add to the jobs file "
             "a table such as\n    [alerts.phone]\n    url = \"ntfy://my-topic\"\n"
             "(see Alerts in the README); it appears here with Send test.")

    def __init__(self, app, parent: QWidget | None = None) -> None:
        super().__init__("Alert channels", parent)
        self.app = app
        self.setObjectName("alerts")
        self.config = None
        self.results: list[str] = []  # what each test said (the tests read it too)
        self.sending = False  # a test on its way: one at a time
        intro = QLabel(self.INTRO)
        intro.setWordWrap(True)
        intro.setObjectName("alertsIntro")
        self.intro = intro
        pal = intro.palette()
        pal.setColor(intro.foregroundRole(), muted_colour())
        intro.setPalette(pal)
        self.view = QTreeWidget()
        self.view.setObjectName("alertChannels")
        self.view.setAccessibleName("Alert channels")
        self.view.setHeaderLabels(["Name", "Sends", "Latest delivery"])
        self.view.setRootIsDecorated(False)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.view.header().setStretchLastSection(True)
        self.view.setMaximumHeight(140)
        self.view.itemSelectionChanged.connect(self._selected)
        self.test_btn = QPushButton("Send t&est")
        self.test_btn.setAccessibleName("Send a test message to the alert channel")
        self.test_btn.setEnabled(False)
        self.test_btn.clicked.connect(self.send_test)
        self.result = QLabel()
        self.result.setObjectName("alertTestResult")
        self.result.setWordWrap(True)
        self.result.hide()
        buttons = QHBoxLayout()
        buttons.addWidget(self.result, 1)
        buttons.addWidget(self.test_btn)
        lay = QVBoxLayout(self)
        lay.addWidget(intro)
        lay.addWidget(self.view)
        lay.addLayout(buttons)
        self._show_empty(True)

    def show_channels(self, config, health: dict[str, dict[str, Any]]) -> None:
        """The config's channels, and per channel its latest delivery (from the store)."""
        self.config = config
        chosen = self.selected()
        self.view.clear()
        for name, spec in sorted(config.alerts.items()):
            on = ", ".join(spec.on)
            item = QTreeWidgetItem([name, on, _health_text(health.get(name))])
            row = health.get(name)
            if row is not None and row["state"] != "sent":
                item.setForeground(self.STATE, state_colour("failed"))
                item.setToolTip(self.STATE, plain(row.get("last_error") or ""))
            self.view.addTopLevelItem(item)
            if name == chosen:
                item.setSelected(True)
        self._show_empty(not config.alerts)
        self._selected()

    def _show_empty(self, empty: bool) -> None:
        self.intro.setText(self.EMPTY if empty else self.INTRO)
        self.intro.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.view.setVisible(not empty)
        self.test_btn.setVisible(not empty)
        if empty:
            self.result.hide()

    def selected(self) -> str | None:
        items = self.view.selectedItems()
        return items[0].text(self.NAME) if items else None

    def _selected(self) -> None:
        self.test_btn.setEnabled(self.selected() is not None and not self.sending)

    def send_test(self) -> None:
        name, cfg = self.selected(), self.config
        if name is None or cfg is None:
            return
        from ..alerts.service import send_test, waiting_go_now
        self.sending = True
        self.test_btn.setEnabled(False)
        self._say(f"Sending a test message to {name}…", ok=True)
        eng = self.app.engine

        def test() -> str:
            said = send_test(cfg, name)
            if eng is not None:  # it works now: what waited for it goes at once
                said += waiting_go_now(eng.store, name)
                eng.alerts.sender.wake()
            return said
        self.app.service.call_slow(test, lambda text: self._done(f"{_sentence(text)}.", True),
                                   lambda exc: self._done(_sentence(str(exc)), False))

    def _done(self, text: str, ok: bool) -> None:
        self.sending = False
        self.results.append(text)
        self._say(text, ok=ok)
        self._selected()

    def _say(self, text: str, *, ok: bool) -> None:
        self.result.setText(text)
        self.result.setStyleSheet("" if ok else f"color: {state_colour('failed').name()}")
        self.result.show()


def _sentence(text: str) -> str:
    """``text`` (a message made for a log line, "alert channel 'x': ...") as a sentence."""
    return text[:1].upper() + text[1:]
