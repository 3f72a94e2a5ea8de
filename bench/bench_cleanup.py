"""Benchmark the cleanup kind against find(1), in one run.

1. Scan and filter: a tree of 100,000 files in 1,000 folders, half of them
   modified 60 days ago. The kind's scan with an ``age = "older than 30d"``
   filter against ``find DIR -type f -mtime +30`` (target: >= 0.4x find).
2. Trash: 10,000 files in 100 folders trashed by a real cleanup run (journal
   and all) against ``find DIR -type f -delete`` on an identical tree
   (target: >= 0.5x).

Plain ``os.scandir`` and Send2Trash (once per file) are timed too, for
reference. Every figure is the best of ``--rounds`` interleaved rounds. All
trees, the trash (through ``XDG_DATA_HOME``) and the trayjobs home live in one
temporary folder, deleted at the end.

    python bench/bench_cleanup.py [--files 100000] [--folders 1000] [--trash 10000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DAY = 86400


def build(root: Path, files: int, folders: int, *, old_every: int = 2) -> int:
    """``files`` small files spread over ``folders`` folders; every ``old_every``-th is 60 days old."""
    old = time.time() - 60 * DAY
    per = files // folders
    n_old = 0
    for d in range(folders):
        folder = root / f"folder{d:04d}"
        folder.mkdir(parents=True)
        for f in range(per):
            p = folder / f"file{f:04d}.dat"
            with open(p, "wb") as fh:
                fh.write(b"x" * (f % 7))
            if f % old_every == 0:
                os.utime(p, (old, old))
                n_old += 1
    os.sync()  # the tree's own writes must not land in anyone's timing
    return n_old


def timed(fn) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def find(*args: str) -> None:
    subprocess.run(["find", *args], check=True, stdout=subprocess.DEVNULL)


def scandir_baseline(root: str) -> int:
    cutoff, n, stack = time.time() - 30 * DAY, 0, [root]
    while stack:
        with os.scandir(stack.pop()) as it:
            for e in it:
                if e.is_dir(follow_symlinks=False):
                    stack.append(e.path)
                elif e.stat(follow_symlinks=False).st_mtime < cutoff:
                    n += 1
    return n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("--folders", type=int, default=1_000)
    ap.add_argument("--trash", type=int, default=10_000, help="files to trash")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dir", default=None, help="where to make the temporary folder (default: the system's)")
    args = ap.parse_args()
    if shutil.which("find") is None:
        print("find(1) is needed for the reference figures")
        return 2

    work = Path(tempfile.mkdtemp(prefix="bench-cleanup-", dir=args.dir))
    # Before anything imports a trash implementation: the trash is ours, in the temp folder.
    os.environ["XDG_DATA_HOME"] = str(work / "xdg")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from trayjobs.context import JobContext
    from trayjobs.kinds.cleanup.filters import FilterEnv, combine
    from trayjobs.kinds.cleanup.freedesktop import home_trash
    from trayjobs.kinds.cleanup.scan import Scope, walk_files
    from trayjobs.kinds.registry import get_kind
    from trayjobs.paths import Home

    assert home_trash().startswith(str(work)), home_trash()
    kind = get_kind("cleanup")()
    home = Home.under(work / "home").ensure()
    rows = []
    try:
        # -- 1. scan and filter ------------------------------------------------------
        tree = work / "tree"
        t, n_old = timed(lambda: build(tree, args.files, args.folders))
        n_files = args.files // args.folders * args.folders
        print(f"built {n_files:,} files in {args.folders:,} folders ({n_old:,} older than 30 days) in {t:.1f} s")
        params = kind.parse_params({"locations": [{"path": str(tree), "recursive": True}],
                                    "filters": [{"age": "older than 30d"}]})

        def ours_scan() -> int:
            env = FilterEnv(now=time.time())
            pred = combine(list(params.filters), "all", env)
            return sum(len(m) for _, m, _ in walk_files(Scope(str(tree), None), pred, produced=set(),
                                                        on_error=print, between=lambda n: None))

        def preview() -> int:
            ctx = JobContext(run_id=1, job="bench", home=home, sink=lambda m: None, dry_run=True)
            return kind.run(ctx, params)["acted"]

        best = {"find": 1e9, "ours": 1e9, "scandir": 1e9, "preview": 1e9}
        for _ in range(args.rounds):
            best["find"] = min(best["find"], timed(lambda: find(str(tree), "-type", "f", "-mtime", "+30"))[0])
            t, n = timed(ours_scan)
            assert n == n_old, (n, n_old)
            best["ours"] = min(best["ours"], t)
            best["scandir"] = min(best["scandir"], timed(lambda: scandir_baseline(str(tree)))[0])
        t, n = timed(preview)
        assert n == n_old
        best["preview"] = t
        rate = {k: n_files / v for k, v in best.items()}
        rows.append(("scan + filter (age > 30d)", rate["ours"], "find -type f -mtime +30", rate["find"], 0.4))
        rows.append(("  plain os.scandir + stat loop", rate["scandir"], "find -type f -mtime +30", rate["find"], None))
        rows.append(("  whole preview run (listing 50k)", rate["preview"], "find -type f -mtime +30", rate["find"],
                     None))
        shutil.rmtree(tree)

        # -- 2. trash -----------------------------------------------------------------
        folders = max(1, args.trash // 100)
        best_ours = best_find = 1e9
        for r in range(args.rounds):
            ours_tree, find_tree = work / f"trash-{r}", work / f"delete-{r}"
            build(ours_tree, args.trash, folders, old_every=1)
            p = kind.parse_params({"locations": [{"path": str(ours_tree), "recursive": True}],
                                   "filters": [{"age": "older than 30d"}]})
            ctx = JobContext(run_id=100 + r, job="bench", home=home, sink=lambda m: None)
            t, result = timed(lambda ctx=ctx, p=p: kind.run(ctx, p))
            assert result["acted"] == args.trash and result["errors"] == 0, result["summary"]
            best_ours = min(best_ours, t)
            build(find_tree, args.trash, folders, old_every=1)
            best_find = min(best_find, timed(lambda t=find_tree: find(str(t), "-type", "f", "-delete"))[0])
            shutil.rmtree(ours_tree)
            shutil.rmtree(find_tree)
        n_s2t = min(2_000, args.trash)
        s2t_tree = work / "send2trash"
        build(s2t_tree, n_s2t, max(1, n_s2t // 100), old_every=1)
        from send2trash import send2trash
        paths = [str(p) for p in s2t_tree.rglob("*.dat")]
        t_s2t, _ = timed(lambda: [send2trash(p) for p in paths])
        rows.append((f"trash {args.trash:,} files (journalled)", args.trash / best_ours, "find -type f -delete",
                     args.trash / best_find, 0.5))
        rows.append(("  Send2Trash once per file", n_s2t / t_s2t, "find -type f -delete", args.trash / best_find, None))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print()
    print(f"{'figure':38} {'files/s':>10}   {'reference':26} {'files/s':>10}  {'ratio':>6}  target")
    ok = True
    for name, ours, ref_name, ref, target in rows:
        ratio = ours / ref
        verdict = "" if target is None else (f">= {target}x  " + ("ok" if ratio >= target else "MISSED"))
        ok = ok and (target is None or ratio >= target)
        print(f"{name:38} {ours:>10,.0f}   {ref_name:26} {ref:>10,.0f}  {ratio:>5.2f}x  {verdict}")
    print(f"\nbest of {args.rounds} rounds; {os.cpu_count()} CPUs; {sys.version.split()[0]}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
