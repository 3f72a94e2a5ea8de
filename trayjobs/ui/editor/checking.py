"""The editor's check of a job, without Qt: run off the GUI thread.

Reading the config is quick, but a kind's own check looks at the world: it may stat a
folder on a network mount that no longer answers, open a database, read a script. The
window must not wait on that, so the editor hands this function the form's values and
shows its answer when it comes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...config import Config
from ...config_edit import ConfigDocument
from ...errors import UserError
from ...kinds.registry import get_kind

__all__ = ["Checked", "check_job"]


@dataclass
class Checked:
    """What the check found: the config as it would be (``cfg``), or why the job could not
    even be put into it (``refused``); the config's errors about the job, then, if there
    were none, the kind's problems (it could not run) and cautions (it may go wrong)."""
    cfg: Config | None = None
    refused: str = ""
    errors: list[tuple[str, str]] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)
    cautions: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.cfg is not None and not self.refused and not self.errors \
            and not self.problems


def check_job(config_text: str, name: str, values: dict[str, Any], *,
              old_name: str | None) -> Checked:
    doc = ConfigDocument(config_text)
    try:
        doc.set_job(name, values, old_name=old_name)
    except UserError as exc:
        return Checked(refused=str(exc))
    cfg = doc.validate()
    out = Checked(cfg=cfg, errors=[(e.key or "", e.message) for e in cfg.errors if e.job == name])
    job = cfg.jobs.get(name)
    if not out.errors and job is not None:
        # Valid, but would it run? The kind's own check (a missing folder, a cleanup that
        # would act on everything): nothing is saved that cannot run.
        kind = get_kind(job.kind)
        out.problems = kind.checked_problems(job.params)
        if not out.problems:
            out.cautions = kind.checked_cautions(job.params)
    return out
