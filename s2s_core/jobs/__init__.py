"""Jobs: training, evaluation and demo builds run as separate processes, queued per device, recorded in
SQLite beside the runs so they survive an app restart (project issue 7).

* :mod:`.specs` — the job kinds, one declaration each (:data:`SPECS`): their fields (declarative,
  introspectable), the argv each runs, where its product appears;
* :mod:`.validation` — every value checked (paths inside the roots, no shell metacharacters, ranges, types,
  unknown keys, the kind's cross-field check); :mod:`.roots` — where jobs may read and write;
  :mod:`.choices` — what a form offers to choose from;
* :mod:`.gate` — the browser launch gate :func:`launch_allowed` and its token;
* :mod:`.store` — the ``jobs.sqlite`` table and the :class:`Job` record; :mod:`.jobfiles` — the files of a job's
  directory (``job.json``, ``progress.jsonl``, ``log.txt``); :mod:`.progress` — a job's progress, read one way
  for ``s2s jobs`` and the Training jobs page; :mod:`.processes` — is a pid still the job's process;
* :mod:`.runner` — :class:`JobRunner` (submit, list, get, cancel, resume, refresh, progress, log_tail), above
  :mod:`.slurm` (the Slurm backend) and :mod:`.slurm_step` (what a Slurm node runs);
* :mod:`.worker` — the per-job supervisor process and the optional queue worker loop;
* :mod:`.commands` — ``s2s jobs ...``.

Nothing here imports torch or streamlit (the classifier registry is imported only to list its names).
"""

from s2s_core.jobs.gate import launch_allowed
from s2s_core.jobs.roots import Roots
from s2s_core.jobs.runner import JobRunner
from s2s_core.jobs.specs import KINDS, SPECS, FieldSpec, KindSpec, describe_kind
from s2s_core.jobs.store import FINAL_STATES, STATES, Job
from s2s_core.jobs.validation import validate_params

__all__ = [
    "FINAL_STATES", "KINDS", "SPECS", "STATES", "FieldSpec", "Job", "JobRunner", "KindSpec", "Roots",
    "describe_kind", "launch_allowed", "validate_params",
]
