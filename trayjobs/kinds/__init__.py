"""Job kinds: each is a small module behind the registry in :mod:`.registry`."""

from .base import JobKind, KindParams
from .registry import all_kinds, get_kind, register

__all__ = ["JobKind", "KindParams", "all_kinds", "get_kind", "register"]
