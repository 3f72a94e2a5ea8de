"""``max_memory``: how much memory a command's program, or a python job's function, may take.

Held by a resource limit of the process, which its own children inherit. On Linux it is
``RLIMIT_DATA`` (kernel 4.7 and later): the memory a process has written or may write
(heap, anonymous mappings, thread stacks), not the address space it only reserves, which
``RLIMIT_AS`` counts and which is many times more for a process with threads (glibc reserves
64 MB per thread's heap), a JVM or a Go program. Elsewhere it is ``RLIMIT_AS``, as far as
the system keeps to it. An allocation over the limit fails: Python raises ``MemoryError``,
a C program's ``malloc`` returns NULL, and the program says so on stderr (or aborts).
"""

from __future__ import annotations

import re
import sys
from typing import Any, Callable

from ..durations import format_size, parse_size

__all__ = ["check_max_memory", "limit_of", "set_limit", "limiter", "limit_child", "said_out_of_memory",
           "over_limit", "MIN_MEMORY", "MAX_MEMORY", "DESCRIPTION"]

#: The least a limit may be: a program, or Python, needs some to start at all.
MIN_MEMORY = 10 * 1000 ** 2
#: The most: more than any machine has is a typo ("2000 GB" for "2000 MB").
MAX_MEMORY = 64 * 1000 ** 4

DESCRIPTION = ("The most memory the job may take, e.g. '2 GB' or '512 MiB'; an allocation "
               "over it fails and so does the run, saying so. Unset: no limit.")


def check_max_memory(value: Any) -> Any:
    """``max_memory`` as the file gives it: text naming a size, checked (``ValueError``
    saying what is wrong and how to write it)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError("write the limit as text with its unit, e.g. '2 GB' or '512 MiB'")
    if isinstance(value, (int, float)):
        raise ValueError(f"{value} has no unit: write it as text with one, e.g. "
                         f"'{value} MB' or '{value} GB'")
    text = value.strip()
    if text.startswith("-"):
        raise ValueError(f"{value!r} is negative: write the most the job may take, "
                         f"e.g. '2 GB'")
    try:
        size = parse_size(text)
    except ValueError:
        raise ValueError(f"{value!r} is not a size; write e.g. '2 GB', '512 MiB' or "
                         f"'800 MB' (KB, MB, GB, TB, or KiB, MiB, GiB, TiB)") from None
    if size and re.fullmatch(r"[\d.]+", text):
        raise ValueError(f"{value!r} has no unit: write e.g. '{text} MB' or '{text} GB'")
    if size == 0:
        raise ValueError("a limit of 0 leaves the job no memory at all; leave max_memory out "
                         "for no limit")
    if size < MIN_MEMORY:
        raise ValueError(f"{value!r} is less than a program needs to start (at least "
                         f"{format_size(MIN_MEMORY)}); write e.g. '500 MB'")
    if size > MAX_MEMORY:
        raise ValueError(f"{value!r} is more memory than any machine has (at most "
                         f"{format_size(MAX_MEMORY)}); did you mean a smaller unit?")
    return text


def limit_of(text: str | None) -> int | None:
    """The limit in bytes, or ``None`` for none."""
    return None if text is None else parse_size(text)


def _resource():
    try:
        import resource
    except ImportError:  # Windows: not enforced
        return None, None
    return resource, (resource.RLIMIT_DATA if sys.platform.startswith("linux")
                      else resource.RLIMIT_AS)


def _data_now() -> int:
    """What this process holds now, as the limit counts it (Linux's VmData)."""
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmData:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def set_limit(size: int, *, beyond_now: bool = False):
    """Limit this process to ``size`` bytes (``beyond_now``: to ``size`` more than it holds
    now); returns what puts the limit back, or ``None`` where none can be set."""
    resource, which = _resource()
    if resource is None:
        return None
    soft, hard = resource.getrlimit(which)
    want = size + (_data_now() if beyond_now else 0)
    if hard != resource.RLIM_INFINITY:
        want = min(want, hard)
    try:
        resource.setrlimit(which, (want, hard))  # the soft limit: it can be put back
    except (ValueError, OSError):
        return None
    return lambda: resource.setrlimit(which, (soft, hard))


def limiter(size: int) -> Callable[[], None] | None:
    """What limits the process it is called in to ``size`` bytes: for a new process before
    it becomes the program (``preexec_fn``), where nothing may be imported or looked up.
    ``None`` where no limit can be set."""
    resource, which = _resource()
    if resource is None:
        return None
    setrlimit, hard = resource.setrlimit, resource.getrlimit(which)[1]
    soft = size if hard == resource.RLIM_INFINITY else min(size, hard)
    return lambda: setrlimit(which, (soft, hard))


def limit_child(pid: int, size: int) -> bool:
    """Limit the process ``pid`` (a spare shell about to become the program) to ``size``
    bytes; False where that cannot be done from outside it (then :func:`limiter` in it)."""
    resource, which = _resource()
    if resource is None or not hasattr(resource, "prlimit"):
        return False
    try:
        hard = resource.prlimit(pid, which)[1]
        soft = size if hard == resource.RLIM_INFINITY else min(size, hard)
        resource.prlimit(pid, which, (soft, hard))
    except (ValueError, OSError):
        return False
    return True


#: What programs say on stderr as an allocation fails: Python, C (``strerror(ENOMEM)``),
#: GNU tools, Go, Perl, C++, Java, Rust, Ruby, Node.
_OUT_OF_MEMORY = re.compile(
    r"MemoryError|cannot allocate memory|out of memory|memory exhausted|bad_alloc|"
    r"OutOfMemoryError|memory allocation of \d+ bytes failed|failed to allocate memory|"
    r"NoMemoryError|heap out of memory|virtual memory exhausted", re.I)


def said_out_of_memory(lines) -> bool:
    """Whether a program's last stderr lines say it ran out of memory."""
    return any(_OUT_OF_MEMORY.search(line) for line in lines)


def over_limit(text: str, *, what: str, fix: str) -> str:
    """The run's error when ``what`` went over the job's limit (given as ``text``)."""
    return (f"{what} used more than its memory limit of {format_size(parse_size(text))} "
            f"(max_memory = {text!r}); raise max_memory in trayjobs.toml, or {fix}")
