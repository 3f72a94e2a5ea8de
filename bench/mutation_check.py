"""Do the tests still catch regressions? Break named behaviours one at a time and expect
the tests that guard each to fail.

Each mutation is an exact-string edit of one source file, made in a temporary copy of the
tree (the checkout is never touched); only the tests named for it run, with this Python
and PYTHONPATH at the copy. A mutation the tests survive is a hole in the suite.

    .venv/bin/python bench/mutation_check.py            # all of them
    .venv/bin/python bench/mutation_check.py backoff-cap delete-confirmation

Prints a table (mutation, tests run, killed) and exits 1 if any mutation survived,
2 if the check itself could not run (a mutation no longer applies, or the unmutated
tests fail).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IGNORE = shutil.ignore_patterns(".git", ".venv", "__pycache__", "*.egg-info", "build", "dist",
                                "artifacts", ".pytest_cache", "*.pyc")


@dataclass(frozen=True)
class Mutation:
    name: str
    what: str                              # the behaviour that breaks
    path: str                              # the one file edited
    edits: tuple[tuple[str, str], ...]     # (exact old text, new text), each found once
    tests: tuple[str, ...]                 # pytest node ids that must fail


MUTATIONS = (
    Mutation(
        "delete-confirmation", "deleting a job no longer asks first",
        "trayjobs/ui/jobs_page.py",
        (('if job and self.confirm_delete(job["name"]):', "if job:"),),
        ("tests/test_ui.py::test_duplicate_and_delete_a_job",)),
    Mutation(
        "backoff-cap", "retry waits are no longer capped by max_backoff",
        "trayjobs/engine/engine.py",
        (("delay = min(cap, base * (2 ** max(0, attempt - 1)))",
          "delay = base * (2 ** max(0, attempt - 1))"),
         ("    return min(cap, delay)\n", "    return delay\n")),
        ("tests/test_engine_backoff.py",)),
    Mutation(
        "lost-message-resend", "queued runs whose queue message was lost are not sent again",
        "trayjobs/engine/engine.py",
        (("                lost = self.store.redispatch_lost(self.queue.pending_run_ids())\n",
          "                lost = 0\n"),),
        ("tests/test_recovery.py::"
         "test_a_queued_run_whose_queue_message_was_lost_is_sent_again_exactly_once",)),
    Mutation(
        "filter-totals", "the activity page's text search filters nothing",
        "trayjobs/store/__init__.py",
        (("    if text:\n        clauses.append(", "    if False:\n        clauses.append("),),
        ("tests/test_ui_window.py::test_activity_filters_from_the_bar",)),
    Mutation(
        "dbus-notify", "without a tray, notifications no longer go out over D-Bus",
        "trayjobs/ui/notify.py",
        (("            self._dbus.send(title, message, critical=critical, target=target)\n",
          "            pass\n"),),
        ("tests/test_ui_notify.py::"
         "test_without_a_tray_the_notifier_delivers_over_dbus_and_a_click_comes_back",
         "tests/test_ui.py::test_without_a_tray_a_final_failure_reaches_the_desktop_over_dbus")),
    Mutation(
        "migration-backup", "an old history is migrated without a backup first",
        "trayjobs/store/__init__.py",
        (("                shutil.copy2(self.path, backup)\n", "                pass\n"),),
        ("tests/test_store_migrations.py",)),
)


def pytest_run(tree: Path, tests: list[str], python: str, timeout: float
               ) -> tuple[int | None, float, str]:
    """(exit code or None on timeout, seconds, last lines of output)."""
    env = dict(os.environ, PYTHONPATH=str(tree), QT_QPA_PLATFORM="offscreen")
    t0 = time.monotonic()
    try:
        r = subprocess.run([python, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                            *tests], cwd=tree, env=env, capture_output=True, text=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, time.monotonic() - t0, "timed out"
    tail = "\n".join(r.stdout.strip().splitlines()[-3:])
    return r.returncode, time.monotonic() - t0, tail


def apply(tree: Path, m: Mutation) -> str:
    """Edit the copy; returns the original text (to restore)."""
    f = tree / m.path
    original = text = f.read_text(encoding="utf-8")
    for old, new in m.edits:
        n = text.count(old)
        if n != 1:
            raise SystemExit(f"mutation {m.name}: {old.strip()[:60]!r} found {n} times in "
                             f"{m.path}; update {Path(__file__).name}")
        text = text.replace(old, new)
    f.write_text(text, encoding="utf-8")
    return original


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="*", help="mutations to try (default: all)")
    ap.add_argument("--python", default=sys.executable, help="the Python with the test deps")
    ap.add_argument("--timeout", type=float, default=300, help="seconds per pytest run")
    args = ap.parse_args(argv)
    chosen = [m for m in MUTATIONS if not args.names or m.name in args.names]
    if args.names and len(chosen) != len(args.names):
        known = ", ".join(m.name for m in MUTATIONS)
        ap.error(f"unknown mutation among {args.names}; known: {known}")

    with tempfile.TemporaryDirectory(prefix="trayjobs-mutation-") as tmp:
        tree = Path(tmp) / "tree"
        shutil.copytree(ROOT, tree, ignore=IGNORE)
        where = subprocess.run([args.python, "-c", "import trayjobs; print(trayjobs.__file__)"],
                               cwd=tree, env=dict(os.environ, PYTHONPATH=str(tree)),
                               capture_output=True, text=True)
        if not where.stdout.strip().startswith(str(tree)):
            print(f"trayjobs is not imported from the copy: {where.stdout or where.stderr}")
            return 2
        every = sorted({t for m in chosen for t in m.tests})
        code, secs, tail = pytest_run(tree, every, args.python, args.timeout)
        print(f"unmutated: {len(every)} test selection(s) {'pass' if code == 0 else 'FAIL'}"
              f" ({secs:.0f} s)")
        if code != 0:
            print(tail)
            return 2

        rows = []
        for m in chosen:
            original = apply(tree, m)
            try:
                code, secs, tail = pytest_run(tree, list(m.tests), args.python, args.timeout)
            finally:
                (tree / m.path).write_text(original, encoding="utf-8")
            # 1 = tests failed; a timeout is a failure too. Anything else (2: interrupted,
            # 4: usage, 5: nothing collected) means the check is broken, not the code.
            if code not in (0, 1, None):
                print(f"{m.name}: pytest exited {code}\n{tail}")
                return 2
            killed = code != 0
            files = dict.fromkeys(Path(t.split("::")[0]).name for t in m.tests)
            ran = ", ".join(f if any(t == f"tests/{f}" for t in m.tests)
                            else f"{f} ({sum(t.startswith(f'tests/{f}::') for t in m.tests)})"
                            for f in files)
            rows.append((m.name, m.what, ran, "yes" if killed else "NO", f"{secs:.0f} s"))

    head = ("mutation", "what breaks", "tests run (how many, or the whole file)", "killed",
            "time")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    for r in [head, tuple("-" * w for w in widths), *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    survived = [r[0] for r in rows if r[3] == "NO"]
    if survived:
        print(f"survived (the tests did not notice): {', '.join(survived)}")
        return 1
    print(f"all {len(rows)} mutations killed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
