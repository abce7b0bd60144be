"""A job's progress, read one way for everyone: ``s2s jobs list`` and the Training jobs page show the same step,
total and fraction for the same ``progress.jsonl`` (events written by :mod:`s2s_core.train.progress` and the
demo build).

The total is the events' ``total_steps`` when they carry one (the demo build counts its stages that way), else
the job's ``steps`` parameter (training). A succeeded job is complete whatever its last event says.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from s2s_core.jobs.store import Job


@dataclass
class JobProgress:
    """Where a job stands: its last step of ``total``, the ETA and the loss curve, and its last event."""

    step: int | None = None
    total: int | None = None
    eta_s: float | None = None
    loss_steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    last_event: dict[str, Any] | None = None

    @property
    def fraction(self) -> float | None:
        """``step / total`` in [0, 1], or ``None`` when the job reports no steps."""
        if self.step is None or not self.total:
            return None
        return min(1.0, max(0.0, self.step / self.total))

    @property
    def steps_text(self) -> str:
        """``step 30/120`` (``step 30`` without a total; empty before the first step)."""
        if self.step is None:
            return ""
        return f"step {self.step}" + (f"/{self.total}" if self.total else "")

    @property
    def loss(self) -> float | None:
        """The last reported training loss."""
        return self.losses[-1] if self.losses else None


def job_progress(job: Job, events: list[dict[str, Any]]) -> JobProgress:
    """Step, total, ETA and loss curve of ``job`` from the ``events`` of its ``progress.jsonl``
    (:func:`~s2s_core.jobs.jobfiles.read_progress`)."""
    out = JobProgress(total=_int(job.params.get("steps")))
    for ev in events:
        if _int(ev.get("total_steps")):
            out.total = _int(ev.get("total_steps"))
        step = _int(ev.get("step"))
        if ev.get("event") in ("step", "done") and step is not None:
            out.step = step
            out.eta_s = _num(ev.get("eta_s"))
            loss = _num(ev.get("loss"))
            if ev.get("event") == "step" and loss is not None:
                out.loss_steps.append(step)
                out.losses.append(loss)
        out.last_event = ev
    if job.state == "succeeded" and out.total:
        out.step, out.eta_s = max(out.step or 0, out.total), 0.0
    return out


def _int(v: Any) -> int | None:
    return int(v) if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) else None


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) else None
