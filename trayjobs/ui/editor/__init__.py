"""The job editor: forms per kind, the trigger editor and the preview."""

from .dialog import JobEditor

__all__ = ["JobEditor"]
