"""Desktop integration on Linux and other freedesktop.org desktops.

``trayjobs install-desktop`` puts trayjobs into the user's application menu: the
desktop entry, the icon (SVG plus PNG sizes) and the AppStream metainfo that are
shipped in the package, copied into ``$XDG_DATA_HOME`` (``~/.local/share``). With
``--autostart`` an entry in ``$XDG_CONFIG_HOME/autostart`` (``~/.config``) starts
trayjobs in the tray at login. Everything goes to the current user's folders, never
system-wide (not even as root), and ``trayjobs uninstall-desktop`` removes exactly
these files again.

The installed entries start the same trayjobs that installed them (the bundle's
executable, or the ``trayjobs`` script of this Python environment), with
``--home`` when the home is one folder, so a menu entry made from a trial home
opens that home.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from .errors import UserError
from .paths import Home

__all__ = ["APP_ID", "PNG_SIZES", "DesktopFiles", "install", "uninstall", "targets",
           "launcher", "exec_line", "desktop_entry", "icon_png_name", "freedesktop"]

APP_ID = "io.github.trayjobs.TrayJobs"
#: The PNG sizes shipped beside the SVG (hicolor theme folders NxN).
PNG_SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)

_RESERVED = set(" \t\n\"'\\><~|&;$*?#()`")


def icon_png_name(size: int) -> str:
    return f"trayjobs-{size}.png"


def freedesktop() -> bool:
    """This platform's desktops follow the freedesktop.org menu and autostart specs."""
    return sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd", "dragonfly"))


def _xdg(var: str, default: str) -> Path:
    value = os.environ.get(var, "")
    # the spec says: a relative path is invalid and must be ignored
    return Path(value) if value and os.path.isabs(value) else Path.home() / default


@dataclass(frozen=True)
class DesktopFiles:
    """Where each installed file goes."""

    data_home: Path
    config_home: Path

    @property
    def entry(self) -> Path:
        return self.data_home / "applications" / f"{APP_ID}.desktop"

    @property
    def autostart(self) -> Path:
        return self.config_home / "autostart" / f"{APP_ID}.desktop"

    @property
    def metainfo(self) -> Path:
        return self.data_home / "metainfo" / f"{APP_ID}.metainfo.xml"

    @property
    def icon_theme(self) -> Path:
        return self.data_home / "icons" / "hicolor"

    @property
    def svg_icon(self) -> Path:
        return self.icon_theme / "scalable" / "apps" / f"{APP_ID}.svg"

    def png_icon(self, size: int) -> Path:
        return self.icon_theme / f"{size}x{size}" / "apps" / f"{APP_ID}.png"

    def all(self) -> list[Path]:
        return [self.entry, self.autostart, self.metainfo, self.svg_icon,
                *(self.png_icon(s) for s in PNG_SIZES)]


def targets() -> DesktopFiles:
    """The current user's XDG folders (``$XDG_DATA_HOME``, ``$XDG_CONFIG_HOME``)."""
    return DesktopFiles(_xdg("XDG_DATA_HOME", ".local/share"), _xdg("XDG_CONFIG_HOME", ".config"))


def launcher() -> list[str]:
    """The command that starts this trayjobs."""
    if getattr(sys, "frozen", False):  # a bundle: its executable is the whole app
        return [sys.executable]
    script = Path(sys.executable).parent / ("trayjobs.exe" if os.name == "nt" else "trayjobs")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    found = shutil.which("trayjobs")
    return [found] if found else [sys.executable, "-m", "trayjobs"]


def _exec_arg(arg: str) -> str:
    """One argument quoted as the Desktop Entry spec's Exec key wants it."""
    arg = arg.replace("%", "%%")
    if not arg or any(c in _RESERVED for c in arg):
        arg = '"' + "".join("\\" + c if c in '"`$\\' else c for c in arg) + '"'
    return arg.replace("\\", "\\\\")  # the key's value is itself an escaped string


def exec_line(argv: list[str]) -> str:
    return " ".join(_exec_arg(a) for a in argv)


def _resource(*parts: str):
    return resources.files("trayjobs").joinpath("resources", *parts)


def desktop_entry(argv: list[str], *, autostart: bool = False) -> str:
    """The shipped desktop entry with ``Exec`` set to ``argv``; the menu's entry (not the
    autostart one) also opens ``trayjobs://run/ID`` links from alert messages (``%u``)."""
    lines = []
    for line in _resource("desktop", f"{APP_ID}.desktop").read_text(encoding="utf-8").splitlines():
        if line.startswith("Exec="):
            line = "Exec=" + exec_line(argv) + ("" if autostart else " %u")
        if line.startswith("MimeType=") and autostart:
            continue
        lines.append(line)
    if autostart:
        lines.append("X-GNOME-Autostart-enabled=true")
    return "\n".join(lines) + "\n"


#: The links in alert messages (``trayjobs://run/ID``), opened by the menu entry.
LINK_TYPE = "x-scheme-handler/trayjobs"


@dataclass
class Result:
    written: list[Path] = field(default_factory=list)
    removed: list[Path] = field(default_factory=list)
    #: What was registered with the desktop, or why not (a program missing).
    notes: list[str] = field(default_factory=list)


def _write(path: Path, data: bytes, result: Result) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    result.written.append(path)


def _require_freedesktop() -> None:
    if freedesktop():
        return
    if sys.platform == "darwin":
        raise UserError("on macOS, use the trayjobs.app bundle: drag it into Applications, and add "
                        "it under System Settings > General > Login Items to start it at login")
    raise UserError("on Windows, start trayjobs.exe from a shortcut; to start it at login put a "
                    "shortcut to `trayjobs.exe app --minimized` into the Startup folder "
                    "(Win+R, shell:startup)")


def install(home: Home, *, autostart: bool | None = None,
            where: DesktopFiles | None = None) -> Result:
    """Install the menu entry, icons and metainfo; ``autostart`` True adds the login
    entry, False removes it, None leaves it as it is (refreshed if present)."""
    _require_freedesktop()
    where = where or targets()
    result = Result()
    argv = launcher() + (["--home", str(home.root)] if home.root is not None else [])
    _write(where.entry, desktop_entry(argv).encode(), result)
    _write(where.svg_icon, _resource("icons", "trayjobs.svg").read_bytes(), result)
    for size in PNG_SIZES:
        _write(where.png_icon(size), _resource("desktop", "png", icon_png_name(size)).read_bytes(),
               result)
    _write(where.metainfo, _resource("desktop", f"{APP_ID}.metainfo.xml").read_bytes(), result)
    if autostart or (autostart is None and where.autostart.exists()):
        _write(where.autostart, desktop_entry(argv + ["app", "--minimized"],
                                              autostart=True).encode(), result)
    elif autostart is False and where.autostart.exists():
        where.autostart.unlink()
        result.removed.append(where.autostart)
    _refresh(where)
    _register_links(where, result)
    return result


def uninstall(*, where: DesktopFiles | None = None) -> Result:
    """Remove what :func:`install` put in place (and nothing else)."""
    _require_freedesktop()
    where = where or targets()
    result = Result()
    for path in where.all():
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        result.removed.append(path)
    _refresh(where)
    if result.removed:
        _update_desktop_database(where, result)
    _unregister_links(where, result)
    return result


def _unregister_links(where: DesktopFiles, result: Result) -> None:
    """Take our entry out of the user's ``mimeapps.list`` as the handler of trayjobs://
    links (what ``xdg-mime default`` put there); every other line stays as it is."""
    path = where.config_home / "mimeapps.list"
    try:
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    except (OSError, UnicodeDecodeError):
        return
    kept, changed = [], False
    for line in lines:
        key, eq, value = line.partition("=")
        if eq and key.strip() == LINK_TYPE:
            apps = [a for a in value.strip().split(";") if a]
            left = [a for a in apps if a != where.entry.name]
            if left != apps:
                changed = True
                if not left:
                    continue
                line = f"{key}={';'.join(left)}{';' if value.strip().endswith(';') else ''}\n"
        kept.append(line)
    if changed:
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text("".join(kept), encoding="utf-8")
        os.replace(tmp, path)
        result.notes.append(f"trayjobs:// links no longer open {where.entry.name} ({path})")


def _refresh(where: DesktopFiles) -> None:
    """Tell the desktop about the change, where it keeps caches.

    Only an icon cache that already exists is updated: creating one in the user's
    folder would hide icons that other programs add later without updating it.
    """
    cache = where.icon_theme / "icon-theme.cache"
    tool = shutil.which("gtk-update-icon-cache")
    if cache.exists() and tool:
        subprocess.run([tool, "-q", "-t", "-f", str(where.icon_theme)], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)


def _tool_env(where: DesktopFiles) -> dict[str, str]:
    """The environment of the desktop's tools: the folders we install into."""
    return {**os.environ, "XDG_DATA_HOME": str(where.data_home),
            "XDG_CONFIG_HOME": str(where.config_home)}


def _update_desktop_database(where: DesktopFiles, result: Result) -> bool:
    """Refresh the applications folder's MIME cache (``mimeinfo.cache``), which is how
    the desktop finds which entries open which links."""
    apps = where.entry.parent
    tool = shutil.which("update-desktop-database")
    if tool is None:
        result.notes.append(f"update-desktop-database was not found (package "
                            f"desktop-file-utils): the desktop database in {apps} was not "
                            f"updated")
        return False
    out = subprocess.run([tool, "-q", str(apps)], env=_tool_env(where), capture_output=True,
                         text=True, timeout=60, check=False)
    if out.returncode != 0:
        result.notes.append(f"update-desktop-database {apps} failed: "
                            f"{(out.stderr or out.stdout).strip()}")
        return False
    result.notes.append(f"updated the desktop database in {apps}")
    return True


def _register_links(where: DesktopFiles, result: Result) -> None:
    """Make the menu entry the handler of ``trayjobs://`` links: its ``MimeType`` says it
    can, the database and ``xdg-mime default`` make it the one that does. Either program
    missing is skipped, and said."""
    _update_desktop_database(where, result)
    tool = shutil.which("xdg-mime")
    if tool is None:
        result.notes.append("xdg-mime was not found (package xdg-utils): trayjobs:// links "
                            "were not made to open trayjobs; install xdg-utils and run "
                            "install-desktop again")
        return
    out = subprocess.run([tool, "default", where.entry.name, LINK_TYPE], env=_tool_env(where),
                         capture_output=True, text=True, timeout=60, check=False)
    if out.returncode != 0:
        result.notes.append(f"xdg-mime default {where.entry.name} {LINK_TYPE} failed: "
                            f"{(out.stderr or out.stdout).strip()}")
    else:
        result.notes.append(f"trayjobs:// links open {where.entry.name} (xdg-mime default)")
