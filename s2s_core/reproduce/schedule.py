"""Which stages of a plan run, skip or wait, and their ``stage`` jobs (what ``s2s reproduce`` prints).

A stage is **skipped** when it finished before with the same arguments and input hashes and its output is
unchanged, **waits** when a job of it is already queued or running, and otherwise **runs**: its ``stage.json``
is written and a ``stage`` job submitted that depends on the jobs of the stages it reads from. A stage after one
that runs runs too.

On the ``slurm`` backend (the plan's ``backend``, or ``s2s reproduce --backend slurm``) every stage job is an
``sbatch`` job with the stage's ``resources``; the queue turns its dependencies into
``--dependency=afterok:<Slurm ids>`` with ``--kill-on-invalid-dep=yes``, so Slurm itself starts a stage when
those before it succeeded and cancels it when one of them failed (:mod:`s2s_core.jobs.slurm`).
"""

from __future__ import annotations

from typing import Any

from s2s_core.checkpoints import write_json_atomic
from s2s_core.reproduce.plan import Plan, Stage
from s2s_core.reproduce.stage import STAGE_FORMAT, up_to_date


def stage_spec(plan: Plan, stage: Stage) -> dict[str, Any]:
    """The ``stage.json`` of ``stage`` (what ``s2s run-stage`` needs, and what its fingerprint covers)."""
    final = stage is plan.stages[-1]
    return {"format": STAGE_FORMAT, "name": stage.name, "argv": stage.argv, "out": str(stage.out),
            "output": str(stage.output), "inputs": stage.inputs, "resumable": stage.resumable,
            "plan": str(plan.path), "plan_name": plan.name, "zoo": str(plan.zoo), "final": final,
            "stages": [str(s.out) for s in plan.stages] if final else []}


def schedule(plan: Plan, runner, *, dry_run: bool = False, backend: str | None = None) -> list[dict[str, Any]]:
    """Decide and (unless ``dry_run``) submit every stage on ``backend`` (default: the plan's); returns one
    decision per stage, in plan order."""
    backend = backend or plan.backend
    active = {}
    if runner is not None:
        runner.refresh()  # a Slurm stage may have ended since the queue last asked
        active = {j.params.get("spec"): j for j in runner.store.list(("queued", "running")) if j.kind == "stage"}
    jobs: dict[str, int | None] = {}  # stages that will run -> their job id (None in a dry run)
    decisions = []
    for stage in plan.stages:
        spec = stage_spec(plan, stage)
        upstream = [a for a in stage.after if a in jobs]
        current = active.get(str(stage.spec_path))
        if current is not None:
            jobs[stage.name] = current.id
            decisions.append({"stage": stage.name, "action": f"already {current.state}", "job": current.id})
            continue
        if not upstream and up_to_date(spec):
            decisions.append({"stage": stage.name, "action": "skip (up to date)", "job": None})
            continue
        action = "run" if not upstream else f"run after {', '.join(upstream)}"
        if dry_run:
            jobs[stage.name] = None
            decisions.append({"stage": stage.name, "action": action, "job": None})
            continue
        write_json_atomic(stage.spec_path, spec)
        params = {"spec": str(stage.spec_path), "stage": stage.name, "output": str(stage.output),
                  "nproc": stage.nproc, "device": plan.device}
        if backend == "slurm":  # the allocation decides the processes (slurm_step's torchrun launch)
            params.update(stage.resources, nproc=1)
        job = runner.submit("stage", params, source="reproduce", backend=backend,
                            depends=[jobs[a] for a in upstream if jobs[a] is not None])
        jobs[stage.name] = job.id
        decisions.append({"stage": stage.name, "action": action, "job": job.id})
    return decisions


def plan_status(plan: Plan, runner) -> list[dict[str, Any]]:
    """Where each stage stands, in plan order: the state of its latest job (with its Slurm id and error) unless
    that succeeded; then ``done`` if the stage is up to date, else ``to run`` (its inputs changed since)."""
    latest: dict[str, Any] = {}
    if runner is not None:
        runner.refresh()
        for job in runner.store.list():  # newest first
            if job.kind == "stage":
                latest.setdefault(job.params.get("spec"), job)
    rows = []
    for stage in plan.stages:
        job = latest.get(str(stage.spec_path))
        if job is not None and job.state != "succeeded":
            state = job.state  # queued, running, failed (a time limit too: the next run resumes it), cancelled
        else:
            state = "done" if up_to_date(stage_spec(plan, stage)) else "to run"
        rows.append({"stage": stage.name, "after": list(stage.after), "state": state,
                     "job": job.id if job is not None else None, "slurm_id": job.slurm_id if job is not None else None,
                     "error": job.error if job is not None and state != "done" else None})
    return rows
