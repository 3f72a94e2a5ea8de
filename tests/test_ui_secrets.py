"""Secrets in the window: the job editor's env table and its password dialog, and the Secrets
part of Settings, against a real Secret Service (GNOME Keyring on a private bus)."""

from __future__ import annotations

import contextlib
import tomllib
from textwrap import dedent
from types import SimpleNamespace

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QApplication, QComboBox, QLabel, QLineEdit, QPlainTextEdit,
                               QTableWidget, QTreeWidget)

from keyring_support import private_bus, secret_service  # noqa: F401 (fixtures)
from trayjobs import secrets
from trayjobs.ui.editor.env import NEW, EnvEditor
from trayjobs.ui.secret_dialog import SecretValueDialog

from ui_support import CONFIG, answer_next_box, check_form, make_app, until  # noqa: F401

VALUE = "tok-8d2e41b0-very-secret"

JOBS = CONFIG + dedent("""
    [jobs.backup]  # copies the photos
    kind = "command"
    command = ["true"]
    env = { PLAIN = "shown" }  # the environment

    [jobs.mail]
    kind = "command"
    command = ["true"]
    env = { PASSWORD = { secret = "gone" } }
""")


def widget_texts() -> list[str]:
    """Every text any widget of the application shows or holds."""
    out: list[str] = []
    for w in QApplication.allWidgets():
        if isinstance(w, (QLineEdit, QLabel)):
            out.append(w.text())
        elif isinstance(w, QPlainTextEdit):
            out.append(w.toPlainText())
        elif isinstance(w, QComboBox):
            out += [w.itemText(i) for i in range(w.count())] + [w.currentText()]
        elif isinstance(w, QTableWidget):
            out += [w.item(r, c).text() for r in range(w.rowCount())
                    for c in range(w.columnCount()) if w.item(r, c) is not None]
        elif isinstance(w, QTreeWidget):
            out += [w.topLevelItem(i).text(c) for i in range(w.topLevelItemCount())
                    for c in range(w.columnCount())]
    return out


def files_holding(folder, text: str) -> list:
    return [p for p in folder.rglob("*") if p.is_file() and text.encode() in p.read_bytes()]


def open_editor(app, qtbot, job: str):
    app.editor = None
    app.edit_job(job)
    until(qtbot, lambda: getattr(app, "editor", None) is not None and app.editor.isVisible())
    return app.editor


def choose_new_secret(env: EnvEditor, row: int) -> SecretValueDialog:
    combo = env.secret_combo(row)
    combo.setCurrentIndex(combo.findData(NEW))
    combo.activated.emit(combo.currentIndex())  # as a click on "New secret…" does
    assert isinstance(env.secret_dialog, SecretValueDialog)
    return env.secret_dialog


def test_a_secret_set_in_the_editor_goes_to_the_keyring_and_the_file_names_it(
        make_app, secret_service, qtbot, home):
    app = make_app(JOBS)
    dlg = open_editor(app, qtbot, "backup")
    env = dlg.rows["env"].editor
    assert isinstance(env, EnvEditor)
    until(qtbot, lambda: env.secrets.loaded)  # the keyring answered: nothing stored yet
    assert not env.note.isVisible()
    env.add_row("API_TOKEN", "typed before the tick")
    env.table.setCurrentCell(1, env.NAME)
    assert not env.set_btn.isEnabled()  # a plain value has no secret to set
    env.table.item(1, env.SECRET).setCheckState(Qt.CheckState.Checked)
    combo = env.secret_combo(1)
    assert combo is not None and env.table.item(1, env.VALUE).text() == ""
    assert [combo.itemData(i) for i in range(combo.count()) if combo.itemText(i)] == [NEW]
    assert env.set_btn.isEnabled()
    assert not check_form(qtbot, dlg)  # a secret row must name its secret
    assert "API_TOKEN: choose the secret" in dlg.rows["env"].error.text()

    ask = choose_new_secret(env, 1)
    assert ask.isVisible() and not ask.name.isReadOnly()
    assert ask.value.echoMode() == QLineEdit.EchoMode.Password
    ask.name.setText("nas-token")
    ask.value.setText(VALUE)
    ask.again.setText(VALUE + "x")
    ask.store_btn.click()
    assert "two values differ" in ask.error.text() and ask.isVisible()
    ask.again.setText(VALUE)
    qtbot.keyClick(ask.again, Qt.Key.Key_Return)  # Enter stores it (Store is the default)
    until(qtbot, lambda: not ask.isVisible())
    assert secrets.get_secret("nas-token") == VALUE
    assert combo.currentData() == "nas-token" and combo.currentText() == "nas-token"
    assert ask.value.text() == ask.again.text() == ""  # wiped with the dialog
    assert not any(VALUE in t for t in widget_texts())
    assert check_form(qtbot, dlg)
    assert dlg.values()["env"] == {"PLAIN": "shown", "API_TOKEN": {"secret": "nas-token"}}

    with qtbot.waitSignal(dlg.finished, timeout=10_000):  # saved, and closed
        dlg.save_btn.click()
    text = home.config_file.read_text()
    assert tomllib.loads(text)["jobs"]["backup"]["env"] == {
        "PLAIN": "shown", "API_TOKEN": {"secret": "nas-token"}}
    assert "[jobs.backup]  # copies the photos" in text  # comments kept
    assert "}  # the environment\n" in text
    assert files_holding(home.root, VALUE) == []
    until(qtbot, lambda: "API_TOKEN" in app.engine.config.jobs["backup"].params.env)
    assert app.engine.config.jobs["backup"].params.env["API_TOKEN"].secret == "nas-token"
    assert not any(VALUE in t for t in widget_texts())

    # Opened again, the row is a secret naming "nas-token"; the value is nowhere.
    dlg = open_editor(app, qtbot, "backup")
    env = dlg.rows["env"].editor
    until(qtbot, lambda: env.secrets.loaded)
    assert env.is_secret(1) and env.secret_combo(1).currentText() == "nas-token"
    # "Set value…" changes the value of the row's own secret, its name fixed.
    env.table.setCurrentCell(1, env.NAME)
    env.set_btn.click()
    ask = env.secret_dialog
    assert ask.name.text() == "nas-token" and ask.name.isReadOnly()
    ask.show_value.setChecked(True)  # shown: typed once
    assert not ask.again.isVisible()
    ask.value.setText("newer-value")
    ask.store_btn.click()
    until(qtbot, lambda: not ask.isVisible())
    assert secrets.get_secret("nas-token") == "newer-value"
    assert not any("newer-value" in t for t in widget_texts())


def test_settings_list_names_uses_and_missing_ones_and_delete_asks_first(
        make_app, secret_service, qtbot, home):
    secrets.set_secret("nas-token", VALUE)
    secrets.set_secret("spare", "spare-value")
    app = make_app(JOBS.replace('env = { PLAIN = "shown" }',
                                'env = { TOKEN = { secret = "nas-token" } }'))
    box = app.window.settings_page.secrets
    app.show_window()
    app.window.tabs.setCurrentWidget(app.window.settings_page)
    until(qtbot, lambda: box.loads > 0 and box.rows() and "backup" in str(box.rows()))
    assert box.rows() == [("gone", "mail", "missing: not stored"),
                          ("nas-token", "backup", ""),
                          ("spare", "", "unused")]
    assert not box.error.isVisible()
    assert not any(VALUE in t or "spare-value" in t for t in widget_texts())

    # A missing secret is stored from here; a stored one has its value changed.
    box.select("gone")
    assert box.change_btn.isEnabled() and not box.delete_btn.isEnabled()
    box.change_btn.click()
    ask = box.dialog
    assert ask.name.text() == "gone" and ask.name.isReadOnly()
    ask.value.setText("mail-password")
    ask.again.setText("mail-password")
    ask.store_btn.click()
    until(qtbot, lambda: ("gone", "mail", "") in box.rows())
    assert secrets.get_secret("gone") == "mail-password"

    # Delete asks first: Cancel keeps it, Delete removes it from the keyring.
    box.select("nas-token")
    assert box.delete_btn.isEnabled()
    with answer_next_box("Cancel") as asked:
        box.delete_btn.click()
    assert "Delete the secret “nas-token”" in asked[0] and "backup name it" in asked[0]
    assert secrets.get_secret("nas-token") == VALUE
    with answer_next_box("Delete"):
        box.delete_btn.click()
    until(qtbot, lambda: ("nas-token", "backup", "missing: not stored") in box.rows())
    with pytest.raises(secrets.UnknownSecret):
        secrets.get_secret("nas-token")
    assert secrets.list_names() == ["gone", "spare"]

    # New… stores a new one, listed as unused.
    box.add_btn.click()
    ask = box.dialog
    ask.name.setText("later")
    ask.value.setText("later-value")
    ask.again.setText("later-value")
    ask.store_btn.click()
    until(qtbot, lambda: ("later", "", "unused") in box.rows())
    assert not any(v in t for t in widget_texts() for v in ("later-value", "mail-password"))


def test_without_a_keyring_the_editor_and_settings_say_so_and_what_to_do(
        make_app, private_bus, qtbot, home):
    import keyring
    with contextlib.suppress(KeyError):  # KeyError: this process has not looked yet
        keyring.backend.get_all_keyring.reset()
    keyring.core.init_backend()  # looked for afresh, on a bus without a Secret Service
    app = make_app(JOBS)
    dlg = open_editor(app, qtbot, "mail")
    env = dlg.rows["env"].editor
    until(qtbot, lambda: env.note.isVisibleTo(dlg))
    assert env.note.text().startswith("Stored secrets cannot be listed: no system keyring found: "
                                      "install and unlock GNOME Keyring or KWallet")
    assert env.secret_combo(0).currentText() == "gone"  # its own name, still shown
    env.table.setCurrentCell(0, env.NAME)
    env.set_btn.click()
    ask = env.secret_dialog
    ask.value.setText(VALUE)
    ask.again.setText(VALUE)
    ask.store_btn.click()
    until(qtbot, lambda: ask.error.text().startswith("No system keyring found"))
    assert "PYTHON_KEYRING_BACKEND" in ask.error.text()
    assert ask.isVisible() and ask.store_btn.isEnabled()  # open, to try again once fixed
    ask.reject()
    assert ask.value.text() == ""
    assert check_form(qtbot, dlg)  # the name alone is saved: the keyring is needed only to run

    box = app.window.settings_page.secrets
    app.window.tabs.setCurrentWidget(app.window.settings_page)
    until(qtbot, lambda: box.error.isVisible())
    assert box.error.text().startswith("No system keyring found")
    assert box.rows() == [("gone", "mail", "not checked")]
    assert not box.delete_btn.isEnabled()

    # A job without secrets needs no keyring: no paragraph on installing one, until a
    # variable is ticked Secret.
    dlg.close()
    plain = open_editor(app, qtbot, "backup").rows["env"].editor
    until(qtbot, lambda: plain.secrets.error)
    assert not plain.note.isVisibleTo(plain) and plain.note.text().startswith("Stored secrets")
    plain.table.item(0, plain.SECRET).setCheckState(Qt.CheckState.Checked)
    assert plain.note.isVisibleTo(plain)


def test_a_refusal_in_the_secret_dialog_makes_room_without_squashing_the_fields(qtbot):
    # The message came in below the fields and the dialog kept its height: the three text
    # fields were squashed to slivers, the intro's first line cut off.
    dlg = SecretValueDialog(SimpleNamespace(), "nas-token")
    qtbot.addWidget(dlg)
    dlg.show()
    qtbot.waitExposed(dlg)
    field_height = dlg.value.height()
    dlg.value.setText("abc")
    dlg.again.setText("abd")
    dlg.store()
    QApplication.processEvents()
    assert dlg.error.isVisible() and "differ" in dlg.error.text()
    assert dlg.value.height() == field_height and dlg.again.height() == field_height
    assert dlg.height() >= dlg.sizeHint().height()


@pytest.mark.parametrize("answer", ["names", "error"])
def test_an_editor_closed_before_the_keyring_answers_takes_the_answer_quietly(
        make_app, qtbot, monkeypatch, answer):
    import threading

    from PySide6.QtCore import QCoreApplication, QEvent

    from trayjobs.ui.editor.env import SecretNames
    app = make_app(JOBS)
    asked, release, answered = threading.Event(), threading.Event(), []

    def slow_keyring() -> list[str]:  # a locked keyring: its prompt waits for the person
        asked.set()
        release.wait(10)
        if answer == "error":
            raise secrets.NoKeyring()
        return ["gone"]

    for name in ("_loaded", "_failed"):
        real = getattr(SecretNames, name)
        monkeypatch.setattr(SecretNames, name,
                            lambda self, arg, real=real: (real(self, arg), answered.append(arg)))
    monkeypatch.setattr(secrets, "list_names", slow_keyring)
    dlg = open_editor(app, qtbot, "mail")
    until(qtbot, asked.is_set)
    dlg.close()  # deleted on close, and its list of names with it
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    release.set()
    until(qtbot, lambda: answered)  # no "Signal source has been deleted" in the event loop


def test_the_secrets_that_hold_the_cluster_urls_are_shown_in_use(secret_service, qtbot, home):
    """`cluster join` keeps a URL with a password as a secret that [cluster] names: Settings
    listed it as unused, an invitation to delete what the next start needs."""
    from trayjobs.config import load_config
    from trayjobs.ui.secrets_box import SecretsBox, secrets_overview
    secrets.set_secret("cluster-redis", "redis://:pw@nas:6379/0")
    secrets.set_secret("cluster-database", "postgresql://trayjobs:pw@nas/trayjobs")
    secrets.set_secret("spare", "spare-value")
    home.config_file.write_text(JOBS + dedent("""
        [cluster]
        redis = { secret = "cluster-redis" }
        database = { secret = "cluster-database" }
    """))
    cfg = load_config(home.config_file)
    assert not [e for e in cfg.errors if "cluster" in str(e)], cfg.errors
    box = SecretsBox(SimpleNamespace())
    qtbot.addWidget(box)
    box.show_overview(secrets_overview(SimpleNamespace(config=cfg)))
    rows = box.rows()
    assert ("cluster-database", "[cluster] database", "") in rows
    assert ("cluster-redis", "[cluster] redis", "") in rows
    assert ("spare", "", "unused") in rows
    box.select("cluster-redis")
    with answer_next_box("Cancel") as asked:
        box.delete()
    assert "this machine cannot reach the cluster's servers" in asked[0], asked
    assert secrets.get_secret("cluster-redis") == "redis://:pw@nas:6379/0"
