"""Jobs: training, evaluation and demo builds run as separate processes, queued per device, recorded in
SQLite beside the runs so they survive an app restart (project issue 7).

* :mod:`.specs` — what each job kind accepts (declarative, introspectable field specs), validation of
  every value (paths inside the roots, no shell metacharacters, ranges, types, unknown keys), and the
  browser launch gate :func:`launch_allowed`;
* :mod:`.store` — the ``jobs.sqlite`` table and the :class:`Job` record;
* :mod:`.runner` — :class:`JobRunner` (submit, list, get, cancel, resume, refresh, progress, log_tail);
* :mod:`.worker` — the per-job supervisor process and the optional queue worker loop;
* :mod:`.commands` — ``s2s jobs ...``.

Nothing here imports torch or streamlit (the classifier registry is imported only to list its names).
"""

from s2s_core.jobs.runner import JobRunner
from s2s_core.jobs.specs import (
    KINDS,
    SPECS,
    FieldSpec,
    KindSpec,
    Roots,
    describe_kind,
    launch_allowed,
    validate_params,
)
from s2s_core.jobs.store import FINAL_STATES, STATES, Job

__all__ = [
    "FINAL_STATES", "KINDS", "SPECS", "STATES", "FieldSpec", "Job", "JobRunner", "KindSpec", "Roots",
    "describe_kind", "launch_allowed", "validate_params",
]
