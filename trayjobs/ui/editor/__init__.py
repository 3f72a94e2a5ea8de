"""The job editor: forms per kind, the trigger editor and the preview."""

from .dialog import NEW_JOB_KIND, JobEditor

__all__ = ["JobEditor", "NEW_JOB_KIND"]
