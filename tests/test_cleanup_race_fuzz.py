"""Seeded races between a real ``trayjobs run JOB --wait`` and a tree that changes under it.

A thread swaps folders for links to outside, renames folders, puts a folder (a pipe, a link)
where a file was and back, makes link loops, bind and tmpfs mounts (as root), pipes,
sockets, devices, hard links to a file outside, names that are not UTF-8 or hold a line
break, and moves the destination of a move away, all while the run goes on. After each
run: nothing outside the location changed (contents, modes, times, links), no file is
lost (each is where it was, where the rule sent it, or in the trash; a delete may delete),
and each file left where it was is named in the run's log with the reason. Then the run
is undone while the tree changes again, with the same checks. Six seeds by
default; ``TRAYJOBS_RACE_SEEDS=300`` tries more (``TRAYJOBS_RACE_FIRST`` is the first).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import socket
import stat
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest

from trayjobs.kinds.cleanup.dirs import mount_points
from trayjobs.kinds.cleanup.fsops import rename_noreplace

pytestmark = pytest.mark.slow

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
DAY = 86400
ROOT_DIR = Path(__file__).resolve().parents[1]
FIRST = int(os.environ.get("TRAYJOBS_RACE_FIRST", "0"))
SEEDS = int(os.environ.get("TRAYJOBS_RACE_SEEDS", "6"))


def snapshot(top: str) -> dict[str, tuple]:
    """Everything below ``top`` through no link: kind, mode, time, contents or target."""
    out: dict[str, tuple] = {}
    for folder, dirs, names in os.walk(top):
        for n in dirs + names:
            p = os.path.join(folder, n)
            st = os.lstat(p)
            v: tuple = (st.st_mode, st.st_mtime_ns)
            if stat.S_ISREG(st.st_mode):
                v += (hashlib.sha1(Path(p).read_bytes()).hexdigest(),)
            elif stat.S_ISLNK(st.st_mode):
                v += (os.readlink(p),)
            out[os.path.relpath(p, top)] = v
    return out


def tokens(top: str) -> dict[str, list[str]]:
    """Where each file's token is now (in zips too), below ``top``."""
    found: dict[str, list[str]] = {}
    for folder, _, names in os.walk(top):
        for n in names:
            p = os.path.join(folder, n)
            if not stat.S_ISREG(os.lstat(p).st_mode):
                continue
            if n.endswith(".zip"):
                with zipfile.ZipFile(p) as z:
                    for i in z.namelist():
                        data = z.read(i)
                        if data.startswith(b"TOK"):
                            found.setdefault(data.decode(), []).append(f"{p}!{i}")
            else:
                data = Path(p).read_bytes()[:64]
                if data.startswith(b"TOK"):
                    found.setdefault(data.decode(), []).append(p)
    return found


def unmount_below(top: str) -> None:
    for _ in range(20):
        inner = sorted((m for m in mount_points() if m.startswith(top + os.sep)), key=len, reverse=True)
        if not inner:
            return
        for m in inner:
            subprocess.run(["umount", "-l", m], capture_output=True)


class Mutator(threading.Thread):
    """Changes the tree at random until stopped; its own moves never replace anything."""

    def __init__(self, rnd: random.Random, base: str) -> None:
        super().__init__(daemon=True)
        self.rnd, self.base = rnd, base
        self.loc, self.outside = os.path.join(base, "loc"), os.path.join(base, "outside")
        self.dest, self.parking = os.path.join(base, "dest"), os.path.join(base, "parking")
        self.stop = threading.Event()
        self.n = 0
        self.moved: set[str] = set()  # files it took away for a while: the run may not have seen them
        self.ops = [getattr(self, n) for n in dir(self) if n.startswith("op_")
                    and (IS_ROOT or n not in ("op_bind", "op_tmpfs", "op_device"))]

    def _walk(self):
        mounts = mount_points()
        for folder, dirs, names in os.walk(self.loc):
            dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(folder, d))
                       and os.path.join(folder, d) not in mounts]
            yield folder, dirs, names

    def folders(self) -> list[str]:
        return [os.path.join(f, d) for f, ds, _ in self._walk() for d in ds]

    def files(self) -> list[str]:
        return [os.path.join(f, n) for f, _, ns in self._walk() for n in ns
                if stat.S_ISREG(os.lstat(os.path.join(f, n)).st_mode)]

    def park(self, path: str) -> str:
        self.n += 1
        aside = os.path.join(self.parking, f"p{self.n}")
        rename_noreplace(path, aside)
        self.moved.add(path)
        return aside

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.rnd.choice(self.ops)()
            except (OSError, IndexError):
                pass  # the run (or this thread) got there first
            time.sleep(self.rnd.uniform(0, 0.003))

    def op_swap_for_link(self):
        d = self.rnd.choice(self.folders())
        self.park(d)
        os.symlink(self.rnd.choice([self.outside, os.path.join(self.outside, "sub")]), d)

    def op_rename_folder(self):
        d = self.rnd.choice(self.folders())
        self.n += 1
        rename_noreplace(d, f"{d}-{self.n}")

    def _file_swapped_briefly(self, make, remove):
        """A file set aside, something else made under its name a moment, then it back."""
        f = self.rnd.choice(self.files())
        aside = self.park(f)
        make(f)
        time.sleep(0.005)
        remove(f)
        rename_noreplace(aside, f)

    def op_file_then_folder(self):
        self._file_swapped_briefly(os.mkdir, os.rmdir)

    def op_file_then_pipe(self):
        self._file_swapped_briefly(os.mkfifo, os.unlink)

    def op_file_then_link(self):
        target = os.path.join(self.outside, "precious.txt")
        self._file_swapped_briefly(lambda f: os.symlink(target, f), os.unlink)

    def op_loops(self):
        d = self.rnd.choice(self.folders() or [self.loc])
        self.n += 1
        os.symlink(f"b{self.n}", os.path.join(d, f"a{self.n}"))
        os.symlink(f"a{self.n}", os.path.join(d, f"b{self.n}"))
        os.symlink("..", os.path.join(d, f"up{self.n}"))

    def op_bind(self):
        d = self.rnd.choice(self.folders())
        subprocess.run(["mount", "--bind", self.rnd.choice([self.outside, os.path.join(self.outside, "sub")]), d],
                       capture_output=True)

    def op_tmpfs(self):
        d = self.rnd.choice(self.folders())
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "none", d], capture_output=True).returncode == 0:
            Path(d, "on-the-mount.txt").write_text("elsewhere")

    def op_modes(self):
        p = self.rnd.choice(self.folders() + self.files())
        if os.lstat(p).st_nlink == 1 or os.path.isdir(p):
            os.chmod(p, self.rnd.choice([0, 0o500, 0o444, 0o755]))

    def op_specials(self):
        d = self.rnd.choice(self.folders() or [self.loc])
        self.n += 1
        os.mkfifo(os.path.join(d, f"pipe{self.n}"))
        with socket.socket(socket.AF_UNIX) as s:
            s.bind(os.path.join(d, f"sock{self.n}"))

    def op_device(self):
        d = self.rnd.choice(self.folders() or [self.loc])
        self.n += 1
        os.mknod(os.path.join(d, f"null{self.n}"), 0o666 | stat.S_IFCHR, os.makedev(1, 3))

    def op_hard_link(self):
        d = self.rnd.choice(self.folders() or [self.loc])
        self.n += 1
        os.link(os.path.join(self.outside, "precious.txt"), os.path.join(d, f"hard{self.n}.txt"))

    def op_odd_names(self):
        d = os.fsencode(self.rnd.choice(self.folders() or [self.loc]))
        self.n += 1
        for name in (b"bad\xff%d.txt" % self.n, b"new\nline%d.txt" % self.n):
            p = os.path.join(d, name)
            Path(os.fsdecode(p)).write_bytes(b"NEW")
            os.utime(p, (time.time() - 10 * DAY,) * 2)

    def op_move_destination(self):
        if os.path.isdir(self.dest) and not os.path.islink(self.dest):
            self.n += 1
            rename_noreplace(self.dest, f"{self.dest}-{self.n}")
            if self.rnd.random() < 0.5:  # somewhere of the user's own, not the folder watched
                os.makedirs(os.path.join(self.base, "elsewhere"), exist_ok=True)
                os.symlink(os.path.join(self.base, "elsewhere"), self.dest)


ACTIONS = {"trash": '"trash"', "delete": '"delete"', "move": '{ move = "DEST/{relative}" }',
           "copy": '{ copy = "DEST/{relative}" }', "rename": '{ rename = "{stem}-r{suffix}" }',
           "archive": '{ archive = "DEST/all.zip" }'}


def race(seed: int, base: str) -> list[str]:
    """One race; the problems it found (none is a pass)."""
    rnd = random.Random(seed)
    for sub in ("home", "xdg", "loc", "outside/sub", "outside/deep", "parking", "dest"):
        os.makedirs(os.path.join(base, sub))
    loc, outside, dest = (os.path.join(base, x) for x in ("loc", "outside", "dest"))
    for rel in ("precious.txt", "sub/x.txt", "deep/also.txt", "sub/f1.txt"):
        Path(outside, rel).write_text(f"theirs: {rel}")
    where: dict[str, str] = {}
    for i in range(rnd.randint(8, 25)):
        folder = os.path.join(loc, *[f"d{i}_{level}" for level in range(rnd.randint(1, 3))])
        os.makedirs(folder, exist_ok=True)
        for _ in range(rnd.randint(0, 40)):
            token = f"TOK{len(where) + 1}"
            p = os.path.join(folder, f"f{len(where) + 1}.txt")
            Path(p).write_text(token)
            os.utime(p, (time.time() - 10 * DAY,) * 2)
            where[token] = p
    action = rnd.choice(list(ACTIONS))
    targets = "files" if action == "rename" else rnd.choice(["files", "files", "folders"])
    Path(base, "home", "trayjobs.toml").write_text(f"""[jobs.tidy]
kind = "cleanup"
locations = [{{ path = "{loc}", recursive = true }}]
filters = [{{ name = "{'*' if targets == 'files' else 'd*'}" }}]
targets = "{targets}"
action = {ACTIONS[action].replace('DEST', dest)}
conflict = "{rnd.choice(['skip', 'rename', 'overwrite'])}"
skip_recent = "0s"
remove_empty_folders = {str(rnd.random() < 0.4).lower()}
""")
    before = snapshot(outside)
    env = dict(os.environ, TRAYJOBS_HOME=os.path.join(base, "home"), XDG_DATA_HOME=os.path.join(base, "xdg"),
               PYTHONPATH=str(ROOT_DIR))
    mutator = Mutator(rnd, base)
    proc = subprocess.Popen([sys.executable, "-m", "trayjobs", "run", "tidy", "--wait"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    journal = os.path.join(base, "home", "data", "cleanup_journal.db")
    deadline = time.monotonic() + 60
    while not os.path.exists(journal) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.001)  # the run has started: change the tree under it
    time.sleep(rnd.uniform(0, 0.1))
    mutator.start()
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        mutator.stop.set()
        mutator.join()
        unmount_below(base)
    problems = []
    what = f"seed {seed}: {action} {targets}"
    if snapshot(outside) != before:
        after = snapshot(outside)
        problems.append(f"{what}: outside changed: {sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))[:5]}")
    if "Traceback" in out + err:
        problems.append(f"{what}: traceback: {err[-1500:]}")
    subprocess.run(["chmod", "-R", "u+rwX", base], capture_output=True)
    found = tokens(base)
    lost = [where[t] for t in where if t not in found]
    if action != "delete" and lost:
        problems.append(f"{what}: lost {len(lost)}: {lost[:4]}")
    if targets == "files" and action != "copy":
        shown = json.loads(subprocess.run([sys.executable, "-m", "trayjobs", "show", "1", "--json"], env=env,
                                          capture_output=True, text=True).stdout)
        told = json.dumps(shown["log"]) + json.dumps(shown["run"]["result"])
        unsaid = []
        for t, p in where.items():
            if found.get(t) == [p] and p not in mutator.moved:  # left where it was: the log says so, of it or a folder above
                ups = [p]
                while os.path.dirname(ups[-1]) != loc:
                    ups.append(os.path.dirname(ups[-1]))
                if not any(json.dumps(u)[1:-1] + x in told for u in ups for x in (":", " is")):
                    unsaid.append(p)
        if unsaid:
            problems.append(f"{what}: left without a word: {unsaid[:4]}")
    if action != "delete":  # then undo it, the tree changing again meanwhile
        mutator = Mutator(random.Random(seed + 1), base)
        proc = subprocess.Popen([sys.executable, "-m", "trayjobs", "undo", "1"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(rnd.uniform(0.3, 0.8))  # its start, about as long as a run's
        mutator.start()
        try:
            out, err = proc.communicate(timeout=120)
        finally:
            mutator.stop.set()
            mutator.join()
            unmount_below(base)
        if snapshot(outside) != before:
            problems.append(f"{what}: undo changed what is outside")
        if "Traceback" in out + err:
            problems.append(f"{what}: undo traceback: {err[-1500:]}")
        subprocess.run(["chmod", "-R", "u+rwX", base], capture_output=True)
        lost = [where[t] for t in where if t not in tokens(base)]
        if lost:
            problems.append(f"{what}: lost {len(lost)} by undo: {lost[:4]}")
    return problems


@pytest.mark.parametrize("seed", range(FIRST, FIRST + SEEDS))
def test_a_tree_changing_during_a_run_loses_nothing_and_touches_nothing_outside(tmp_path, seed):
    base = str(tmp_path / "race")
    try:
        assert race(seed, base) == []
    finally:
        unmount_below(base)
        subprocess.run(["chmod", "-R", "u+rwX", base], capture_output=True)
