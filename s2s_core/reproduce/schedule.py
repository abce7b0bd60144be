"""Which stages of a plan run, skip or wait, and their ``stage`` jobs (what ``s2s reproduce`` prints).

A stage is **skipped** when it finished before with the same arguments and input hashes and its output is
unchanged, **waits** when a job of it is already queued or running, and otherwise **runs**: its ``stage.json``
is written and a ``stage`` job submitted that depends on the jobs of the stages it reads from. A stage after one
that runs runs too.
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


def schedule(plan: Plan, runner, *, dry_run: bool = False) -> list[dict[str, Any]]:
    """Decide and (unless ``dry_run``) submit every stage; returns one decision per stage, in plan order."""
    active = {}
    if runner is not None:
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
        job = runner.submit("stage", {"spec": str(stage.spec_path), "stage": stage.name, "output": str(stage.output),
                                      "nproc": stage.nproc, "device": plan.device},
                            source="reproduce", depends=[jobs[a] for a in upstream if jobs[a] is not None])
        jobs[stage.name] = job.id
        decisions.append({"stage": stage.name, "action": action, "job": job.id})
    return decisions
