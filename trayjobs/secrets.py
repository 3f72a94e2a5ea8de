"""Secrets named in job settings as ``{ secret = "name" }``.

Every lookup goes through :func:`resolve_secret`, so the store behind it can
change without touching the kinds that use it.
"""

from __future__ import annotations

from .errors import UserError

__all__ = ["resolve_secret"]


def resolve_secret(name: str) -> str:
    """The value of the secret called ``name``."""
    raise UserError(f"the secret {name!r} cannot be read: no secret store configured yet; "
                    f"put the value in the job's env for now")
