"""Desktop integration and packaging data: entry, icons, metainfo, install/uninstall, demo."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from importlib import resources
from pathlib import Path

import pytest

import trayjobs
from helpers import trayjobs as run_cli
from trayjobs.config import load_config
from trayjobs.desktop import (APP_ID, PNG_SIZES, DesktopFiles, desktop_entry, exec_line,
                              icon_png_name, install, uninstall)

ROOT = Path(__file__).resolve().parents[1]
DATA = resources.files("trayjobs") / "resources"
VALIDATE = shutil.which("desktop-file-validate")


def validate(path: Path) -> None:
    if VALIDATE is None:
        pytest.fail("desktop-file-validate is missing: install desktop-file-utils "
                    "(bash packaging/dev.sh test does)")
    out = subprocess.run([VALIDATE, str(path)], capture_output=True, text=True)
    assert out.returncode == 0 and not out.stdout.strip(), out.stdout + out.stderr


def entry_keys(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def test_the_shipped_desktop_entry_is_valid_and_reverse_dns(tmp_path):
    shipped = Path(str(DATA / "desktop" / f"{APP_ID}.desktop"))
    assert re.fullmatch(r"[a-z]+(\.[A-Za-z0-9_-]+){2,}", APP_ID)
    validate(shipped)
    keys = entry_keys(shipped.read_text())
    assert keys["Icon"] == APP_ID and keys["Type"] == "Application"
    # The window tells the desktop which entry it belongs to (Wayland app id, taskbar icon).
    assert f'setDesktopFileName("{APP_ID}")' in (ROOT / "trayjobs/ui/app.py").read_text()


@pytest.mark.parametrize("argv", [
    ["/opt/trayjobs/trayjobs"],
    ["/home/jo/my apps/bin/trayjobs", "--home", "/home/jo/Jobs & \"Stuff\" $HOME 100%"],
    ["C:\\tools\\trayjobs", "app", "--minimized"],
])
def test_exec_lines_quote_any_path(tmp_path, argv):
    entry = tmp_path / f"{APP_ID}.desktop"
    entry.write_text(desktop_entry(argv, autostart=True))
    validate(entry)
    value = entry_keys(entry.read_text())["Exec"]
    assert value == exec_line(argv)
    assert unquote_exec(value) == argv


def unquote_exec(value: str) -> list[str]:
    """Read an Exec value back as the spec says a launcher does."""
    value = re.sub(r"\\(.)", lambda m: {"s": " ", "n": "\n", "t": "\t", "r": "\r"}.get(
        m.group(1), "\\" + m.group(1) if m.group(1) != "\\" else "\\"), value)
    args, cur, quoted, i, started = [], "", False, 0, False
    while i < len(value):
        c = value[i]
        if quoted and c == "\\" and i + 1 < len(value):
            cur += value[i + 1]
            i += 2
            continue
        if c == '"':
            quoted, started = not quoted, True
        elif c == " " and not quoted:
            if started or cur:
                args.append(cur)
            cur, started = "", False
        else:
            cur += c
        i += 1
    if started or cur:
        args.append(cur)
    return [a.replace("%%", "%") for a in args]


def test_png_icons_are_rendered_from_the_svg(qapp):
    from PySide6.QtGui import QImage
    sys.path.insert(0, str(ROOT / "packaging"))
    try:
        from render_icons import render
    finally:
        sys.path.pop(0)
    svg = Path(str(DATA / "icons" / "trayjobs.svg"))
    for size in PNG_SIZES:
        png = QImage(str(DATA / "desktop" / "png" / icon_png_name(size)))
        assert (png.width(), png.height()) == (size, size), icon_png_name(size)
        fresh = render(svg, size).convertToFormat(png.format())
        # same picture (allowing for another Qt version's anti-aliasing): the PNGs are current;
        # if not, run packaging/render_icons.py
        diff = sum(abs(a - b) for a, b in zip(fresh.constBits().tobytes(),
                                              png.constBits().tobytes()))
        assert diff / (size * size * 4) < 4, f"{icon_png_name(size)} is stale"


def test_metainfo_describes_this_app():
    path = Path(str(DATA / "desktop" / f"{APP_ID}.metainfo.xml"))
    root = ET.parse(path).getroot()
    assert root.tag == "component" and root.get("type") == "desktop-application"
    assert root.findtext("id") == APP_ID
    assert root.find("launchable").text == f"{APP_ID}.desktop"
    assert root.findtext("metadata_license") == "CC0-1.0"
    assert root.findtext("project_license") == "MIT"
    assert root.find("releases/release").get("version") == trayjobs.__version__
    images = [Path(i.text).name for i in root.iter("image")]
    assert images == ["window.png", "tray-menu.png"]


def test_metainfo_passes_appstream_validation():
    tool = shutil.which("appstreamcli")
    if tool is None:
        pytest.skip("appstreamcli is not installed (Debian package: appstream)")
    path = Path(str(DATA / "desktop" / f"{APP_ID}.metainfo.xml"))
    out = subprocess.run([tool, "validate", "--no-net", str(path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.fixture
def xdg(tmp_path, monkeypatch):
    """A user whose every folder is under tmp_path."""
    user = tmp_path / "user"
    user.mkdir()
    env = {"HOME": str(user), "XDG_DATA_HOME": str(user / "data"),
           "XDG_CONFIG_HOME": str(user / "config")}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return env


def files_under(path: Path) -> set[str]:
    return {str(p.relative_to(path)) for p in path.rglob("*") if p.is_file()}


def test_install_and_uninstall_desktop_for_the_current_user(home, xdg, tmp_path):
    user = Path(xdg["HOME"])
    where = DesktopFiles(Path(xdg["XDG_DATA_HOME"]), Path(xdg["XDG_CONFIG_HOME"]))
    out = run_cli(home, "install-desktop", env=xdg)
    assert out.returncode == 0, out.stderr
    assert f"installed {where.entry}" in out.stdout
    validate(where.entry)
    argv = unquote_exec(entry_keys(where.entry.read_text())["Exec"])
    # it starts this very trayjobs, on this home (%u: a trayjobs://run/ID link it opens)
    assert argv[1:] == ["--home", str(home.root), "%u"]
    assert Path(argv[0]).name == "trayjobs" and os.access(argv[0], os.X_OK)
    assert where.svg_icon.read_bytes() == (DATA / "icons" / "trayjobs.svg").read_bytes()
    for size in PNG_SIZES:
        assert where.png_icon(size).is_file()
    assert ET.parse(where.metainfo).getroot().findtext("id") == APP_ID
    assert not where.autostart.exists()  # only when asked for
    # nothing outside the user's XDG folders, and no caches created there but the two that
    # make trayjobs:// links open it (where xdg-utils and desktop-file-utils are installed)
    links = {"data/applications/mimeinfo.cache", "config/mimeapps.list"}
    assert files_under(user) - links == {str(p.relative_to(user)) for p in where.all()
                                         if p != where.autostart}

    out = run_cli(home, "install-desktop", "--autostart", env=xdg)
    assert out.returncode == 0, out.stderr
    validate(where.autostart)
    auto = entry_keys(where.autostart.read_text())
    assert unquote_exec(auto["Exec"])[1:] == ["--home", str(home.root), "app", "--minimized"]
    assert auto["X-GNOME-Autostart-enabled"] == "true"

    # Installing again leaves autostart as it is; --no-autostart removes it.
    assert run_cli(home, "install-desktop", env=xdg).returncode == 0
    assert where.autostart.exists()
    out = run_cli(home, "install-desktop", "--no-autostart", env=xdg)
    assert f"removed {where.autostart}" in out.stdout and not where.autostart.exists()

    run_cli(home, "install-desktop", "--autostart", env=xdg)
    (user / "data" / "applications" / "other.desktop").write_text("[Desktop Entry]\n")
    out = run_cli(home, "uninstall-desktop", env=xdg)
    assert out.returncode == 0, out.stderr
    assert files_under(user) - links == {"data/applications/other.desktop"}  # only ours went
    out = run_cli(home, "uninstall-desktop", env=xdg)
    assert "nothing to remove" in out.stdout


def test_install_as_root_still_goes_to_the_users_folders(home, xdg):
    # xdg-desktop-menu would install system-wide as root; trayjobs never does.
    done = install(home, autostart=True)
    assert all(str(p).startswith(xdg["HOME"]) for p in done.written)
    removed = uninstall()
    assert sorted(removed.removed) == sorted(done.written)


def test_a_relative_xdg_folder_is_ignored(home, xdg, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", "relative/data")
    done = install(home)
    assert done.written[0] == Path(xdg["HOME"]) / ".local/share/applications" / f"{APP_ID}.desktop"
    uninstall()


def test_the_package_ships_its_desktop_data():
    wanted = ["icons/trayjobs.svg", f"desktop/{APP_ID}.desktop", f"desktop/{APP_ID}.metainfo.xml",
              *(f"desktop/png/{icon_png_name(s)}" for s in PNG_SIZES)]
    for name in wanted:
        assert (DATA / name).is_file(), name
    globs = re.search(r"\[tool\.setuptools\.package-data\]\s*trayjobs = \[(.*?)\]",
                      (ROOT / "pyproject.toml").read_text(), re.S).group(1)
    assert '"resources/**/*"' in globs


# -- the demo -----------------------------------------------------------------------------

def test_demo_home_has_the_example_plus_demo_jobs(tmp_path):
    from trayjobs.demo import SampleFeeder, prepare

    home = prepare(tmp_path / "demo")
    cfg = load_config(home.config_file)
    assert cfg.errors == []
    assert {"import-inbox", "clean-scratch", "imported-data", "job-activity", "flaky-sync",
            "crunch-numbers"} <= set(cfg.jobs)
    flaky = cfg.jobs["flaky-sync"]
    assert flaky.params.fail_times == 2 and flaky.retry.attempts > 2
    assert cfg.jobs["clean-scratch"].params.preview is True  # the demo touches nothing
    old = [p for p in (home.root / "Scratch").rglob("*.txt")]
    assert len(old) >= 4

    feeder = SampleFeeder(home.root / "Inbox", interval=0.01)
    first = feeder.tick()
    second = feeder.tick()
    assert first.name == "orders.csv" and second.name == "bank-export.csv"
    assert not list((home.root / "Inbox").glob(".*"))  # complete files only
    # the same name waits until the import took the last one
    feeder.written = feeder.written[:0]
    assert feeder.tick() is None
    # an existing home is reused as it is
    assert prepare(tmp_path / "demo").config_file.read_text() == home.config_file.read_text()


def test_demo_runs_headless_and_removes_its_home(tmp_path):
    env = dict(os.environ, TMPDIR=str(tmp_path))
    env.pop("TRAYJOBS_HOME", None)
    proc = subprocess.Popen([sys.executable, "-m", "trayjobs.demo", "--worker", "--interval", "0.2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        first = proc.stderr.readline()
        assert first.startswith("trayjobs demo home: "), first
        root = Path(first.split(": ", 1)[1].strip())
        assert root.parent == tmp_path
        from helpers import wait_until
        wait_until(lambda: list((root / "Inbox" / "processed").glob("*.csv")), timeout=30)
    finally:
        proc.send_signal(2)  # Ctrl+C
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert f"removed {root}" in err
    assert not root.exists()


def test_install_desktop_makes_trayjobs_links_open_the_app(home, xdg, monkeypatch):
    for tool in ("xdg-mime", "update-desktop-database"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (packaging/dev.sh test installs it)")
    monkeypatch.delenv("XDG_CURRENT_DESKTOP", raising=False)  # xdg-mime's own files, not a DE's
    env = {**xdg, "XDG_CURRENT_DESKTOP": ""}
    where = DesktopFiles(Path(xdg["XDG_DATA_HOME"]), Path(xdg["XDG_CONFIG_HOME"]))
    out = run_cli(home, "install-desktop", env=env)
    assert out.returncode == 0, out.stderr
    assert f"trayjobs:// links open {where.entry.name} (xdg-mime default)" in out.stdout
    assert f"updated the desktop database in {where.entry.parent}" in out.stdout
    query = subprocess.run(["xdg-mime", "query", "default", "x-scheme-handler/trayjobs"],
                           capture_output=True, text=True, env={**os.environ, **env})
    assert query.stdout.strip() == where.entry.name
    cache = (where.entry.parent / "mimeinfo.cache").read_text()
    assert f"x-scheme-handler/trayjobs={where.entry.name};" in cache
    # Uninstalled: the default goes with it, and the user's other defaults stay.
    mimeapps = Path(xdg["XDG_CONFIG_HOME"]) / "mimeapps.list"
    mimeapps.write_text(mimeapps.read_text() + "text/plain=org.gnome.TextEditor.desktop\n")
    out = run_cli(home, "uninstall-desktop", env=env)
    assert out.returncode == 0, out.stderr
    left = mimeapps.read_text()
    assert "x-scheme-handler/trayjobs" not in left
    assert "text/plain=org.gnome.TextEditor.desktop" in left and "[Default Applications]" in left


def test_install_desktop_without_the_desktop_tools_says_what_it_skipped(home, xdg,
                                                                       monkeypatch, tmp_path):
    empty = tmp_path / "no-tools"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    done = install(home)
    assert done.written  # the entry, icons and metainfo all the same
    assert any(n.startswith("xdg-mime was not found (package xdg-utils)") for n in done.notes)
    assert any(n.startswith("update-desktop-database was not found") for n in done.notes)
    assert not (Path(xdg["XDG_CONFIG_HOME"]) / "mimeapps.list").exists()


def test_the_tested_versions_cover_every_dependency_and_satisfy_pyproject():
    """dev.sh installs packaging/constraints.txt: each direct dependency (and the test
    extra's) must be pinned there, to a version pyproject.toml allows; otherwise a fresh
    machine gets an untested release (tomlkit 0.15.3 broke config edits so)."""
    import tomllib

    from packaging.markers import default_environment
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    pins = {}
    for raw in (ROOT / "packaging" / "constraints.txt").read_text().splitlines():
        raw = raw.split("#", 1)[0].strip()
        if raw:
            name, _, version = raw.partition("==")
            assert version, f"not an exact pin: {raw!r}"
            pins[canonicalize_name(name)] = version
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = list(project["dependencies"])
    extras = project["optional-dependencies"]
    todo, seen = ["test"], set()
    while todo:
        extra = todo.pop()
        seen.add(extra)
        for spec in extras[extra]:
            req = Requirement(spec)
            if canonicalize_name(req.name) == "trayjobs":
                todo += [e for e in req.extras if e not in seen]
            else:
                wanted.append(spec)
    env = default_environment()
    for spec in wanted:
        req = Requirement(spec)
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is not in packaging/constraints.txt"
        assert req.specifier.contains(pins[name], prereleases=True), \
            f"{req.name}=={pins[name]} in packaging/constraints.txt is not allowed by {spec!r}"
