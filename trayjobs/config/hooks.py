"""Jobs that start other jobs (``then``, ``on_failure``, ``always``): loops and chains
too long to follow, found before anything runs."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .job import JobConfig


__all__ = ["MAX_CHAIN", "long_hook_chains", "hook_cycles"]


#: Runs started by hooks one after another (``parent_run`` links), at most: the engine
#: stops a chain there, whatever the config said when it was checked.
MAX_CHAIN = 20


def long_hook_chains(jobs: dict[str, "JobConfig"]) -> dict[str, tuple[str, list[str]]]:
    """The jobs no hook names whose hooks start more than :data:`MAX_CHAIN` runs one after
    another: for each, the key of its first hook on the longest chain and that chain.
    ``jobs`` has no loops (see :func:`hook_cycles`)."""
    edges = {name: [(k, o) for k, o in job.common.hooks() if o in jobs]
             for name, job in jobs.items()}
    longest: dict[str, tuple[int, str | None, str | None]] = {}  # job: (jobs, key, next)
    for root in edges:  # depth first without recursion: a config may chain many jobs
        work = [root]
        while work:
            node = work[-1]
            if node in longest:
                work.pop()
                continue
            todo = [o for _, o in edges[node] if o not in longest]
            if todo:
                work.extend(todo)
                continue
            work.pop()
            best = max(((longest[o][0] + 1, k, o) for k, o in edges[node]),
                       key=lambda t: t[0], default=(1, None, None))
            longest[node] = best
    named = {o for outs in edges.values() for _, o in outs}
    out: dict[str, tuple[str, list[str]]] = {}
    for name in edges:
        if name in named or longest[name][0] <= MAX_CHAIN + 1:
            continue
        chain, node = [name], name
        while longest[node][2] is not None:
            node = longest[node][2]
            chain.append(node)
        out[name] = (longest[name][1], chain)
    return out


def hook_cycles(jobs: dict[str, "JobConfig"]) -> dict[str, tuple[str, list[str]]]:
    """The jobs on a loop of ``then``/``on_failure``/``always`` hooks: for each, the key of
    its hook that leads round the loop and the loop itself from that job, e.g.
    ``("then", ["a", "b", "a"])``."""
    edges = {name: [(k, o) for k, o in job.common.hooks() if o in jobs]
             for name, job in jobs.items()}
    # Tarjan's strongly connected components, iteratively: a config may chain many jobs.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []
    for root in edges:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            if i < len(edges[node]):
                work.append((node, i + 1))
                nxt = edges[node][i][1]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                comp = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    comp.add(member)
                    if member == node:
                        break
                components.append(comp)
    out: dict[str, tuple[str, list[str]]] = {}
    for comp in components:
        for name in comp:
            loop = _loop_through(name, comp, edges)
            if loop is not None:
                out[name] = loop
    return out


def _loop_through(start: str, comp: set[str], edges) -> tuple[str, list[str]] | None:
    """The shortest loop from ``start`` back to it inside ``comp`` (breadth first), with
    the key of ``start``'s hook that begins it."""
    came: dict[str, tuple[str, str]] = {}  # job: (key, job whose hook with that key named it)
    frontier = [start]
    while frontier:
        ahead = []
        for node in frontier:
            for key, other in edges[node]:
                if other not in comp:
                    continue
                if other == start:
                    path, first_key = [start], key
                    while node != start:
                        path.append(node)
                        first_key, node = came[node]
                    path.append(start)
                    return first_key, path[::-1]
                if other not in came:
                    came[other] = (key, node)
                    ahead.append(other)
        frontier = ahead
    return None
