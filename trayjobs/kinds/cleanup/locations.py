"""A run's locations made into scopes, and its destination checked, before anything is touched.

Each location is resolved (links followed once, here) and refused when it is dangerous,
in a trash or in trayjobs' own data; a destination outside the locations is checked the
same way, then reached only through a descriptor (:func:`~.actions.move.trust_destination`).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ...errors import JobFailed
from .actions.move import trust_destination
from .dirs import display, mount_points
from .freedesktop import home_trashes
from .fsops import reason
from .safety import danger, expand, in_trash, inside
from .scan import Scope
from .templates import fixed_folder

if TYPE_CHECKING:
    from .runner import Runner

__all__ = ["resolve_scopes"]


def resolve_scopes(run: Runner) -> list[Scope]:
    skip = frozenset((*home_trashes(), os.path.realpath(run.ctx.home.data_dir)))
    scopes: list[Scope] = []
    unusable: list[str] = []
    for loc in run.p.locations:
        root = os.path.realpath(expand(loc.path))
        why = danger(root)
        if why and not run.p.allow_dangerous_location:
            raise JobFailed(f"location {loc.path!r} {why} (it resolves to {root}); refusing to tidy it",
                            retry=False)
        why = in_trash(root)
        if why:
            raise JobFailed(f"location {loc.path!r} {why}", retry=False)
        if inside(root, tuple(skip)):
            raise JobFailed(f"location {loc.path!r} is inside trayjobs' own data; "
                            f"refusing to tidy it", retry=False)
        if not os.path.isdir(root):
            why = "is a file, not a folder" if os.path.lexists(root) else "not found"
            run.problem(loc.path, "error", f"location {why}")
            unusable.append(f"{loc.path} ({why})")
            continue
        if root not in (s.root for s in scopes):
            scopes.append(Scope(root, loc.depth, exclude=[*run.p.exclude, *loc.exclude],
                                system=run.p.include_system_files, skip_dirs=skip))
    if not scopes:
        raise JobFailed("none of the locations exists as a folder: " + ", ".join(unusable), retry=False)
    run.roots = tuple(s.root for s in scopes)
    mounts = mount_points()
    for scope in scopes:
        scope.mounts = mounts
        run.ws.places.add(scope.root)
    _trust_destination(run, scopes)
    return scopes


def _trust_destination(run: Runner, scopes: list[Scope]) -> None:
    """A destination outside the locations is resolved once, checked like a location, then
    reached only through its descriptor."""
    template = run.action.destination()
    if template is None:
        return
    as_file = run.action.destination_is_file
    for root in run.roots:
        fixed = fixed_folder(template, root, file=as_file)
        real = os.path.realpath(fixed)
        trash = in_trash(real)
        if trash:
            raise JobFailed(f"destination {template!r}: {display(real)} {trash}", retry=False)
        why = None if inside(real, (root,)) else danger(real)
        if why and not run.p.allow_dangerous_location:
            raise JobFailed(f"destination {template!r}: {display(real)} {why}; refusing to put files there "
                            f"(set allow_dangerous_location = true if you really mean it)", retry=False)
        try:
            trust_destination(template, root, run.ws, file=as_file)
        except OSError as exc:
            raise JobFailed(f"destination {template!r}: cannot use {display(fixed)}: {reason(exc)}",
                            retry=False) from None
        if real != root and inside(real, (root,)):
            # What the job put there would be tidied again by its next run: a copy copied
            # anew each time (1, 2, 4, 8 ... files), a move nested ever deeper.
            for scope in scopes:
                if scope.root == root:
                    scope.dest_dirs = scope.dest_dirs | {real}
            run.ctx.log(f"the destination {display(real)} is inside the location {display(root)}: "
                        f"what is in it is left out of the scan, so what the job puts there is "
                        f"not tidied again")
