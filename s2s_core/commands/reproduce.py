"""``s2s reproduce PLAN.yaml`` and ``s2s run-stage STAGE.json``.

``reproduce`` reads the plan, and for each stage in order decides: **skip** (it finished
before with the same arguments and input hashes, and its output is unchanged), **wait** (a job of it is already
queued or running), or **run**: it writes ``STAGE/stage.json`` and submits a ``stage`` job to the job queue
(``--runs``, the same queue as ``s2s jobs`` and the dashboard) that depends on the jobs of the stages it reads
from. A stage after one that runs runs too. ``--dry-run`` prints the decisions, the commands and the expected
disk and compute without submitting anything; ``--wait`` blocks until every submitted job ended.
``--backend slurm`` (or the plan's ``backend: slurm``) makes every stage a Slurm job with the plan's
``resources``, chained by Slurm dependencies; ``--status`` prints each stage's state and Slurm job id. A stage
stopped at its time limit is not done: running the plan again resumes it from its checkpoint.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from s2s_core.reproduce.plan import load_plan
from s2s_core.reproduce.schedule import plan_status, schedule
from s2s_core.reproduce.stage import run_stage


def _reproduce(args: argparse.Namespace) -> int:
    from s2s_core.jobs.runner import JobRunner
    from s2s_core.jobs.specs import Roots

    roots = Roots.from_env(args.runs)
    plan = load_plan(args.plan, roots.runs, check_data=not (args.dry_run or args.status))
    runner = None if args.dry_run else JobRunner(roots.runs)
    if args.status:
        return _status(plan, runner)
    decisions = schedule(plan, runner, dry_run=args.dry_run, backend=args.backend)
    print(f"plan {plan.name} ({plan.path}): stages in {plan.out}, zoo {plan.zoo}")
    for d, stage in zip(decisions, plan.stages, strict=True):
        job = f" job {d['job']}" if d["job"] is not None else ""
        print(f"  {stage.name:<16} {d['action']}{job}")
        if args.dry_run and not d["action"].startswith("skip"):
            print(f"      {stage.command_line()}")
            if (args.backend or plan.backend) == "slurm":
                fields = " ".join(f"{k}={v}" for k, v in stage.resources.items()) or "the cluster's defaults"
                print(f"      on Slurm: {fields}")
    if args.dry_run:
        from s2s_core.reproduce.estimate import estimate_plan, format_estimates

        print()
        print(format_estimates(plan, estimate_plan(plan)))
        return 0
    ids = [d["job"] for d in decisions if d["job"] is not None]
    if not ids:
        print(f"every stage is up to date; the zoo is {plan.zoo} (provenance.json inside)")
        return 0
    print(f"{len(ids)} stage job(s) queued in {roots.runs}: s2s jobs list --runs {roots.runs}, or the dashboard's "
          "Training jobs page")
    if args.wait is None:
        return 0
    failed = []
    for job_id in ids:
        job = runner.wait(job_id, timeout=args.wait)
        if job.state != "succeeded":
            failed.append(f"{job.params.get('stage')} (job {job.id}) {job.state}: {job.error}")
    if failed:
        print("not finished:\n  " + "\n  ".join(failed), file=sys.stderr)
        return 1
    print(f"all stages done; the zoo is {plan.zoo}")
    return 0


def _status(plan, runner) -> int:
    """The chain and where each stage stands (``--status``)."""
    print(f"plan {plan.name} ({plan.path}): stages in {plan.out}")
    for row in plan_status(plan, runner):
        job = f" job {row['job']}" if row["job"] is not None else ""
        slurm = f" slurm {row['slurm_id']}" if row["slurm_id"] else ""
        after = f" after {', '.join(row['after'])}" if row["after"] else ""
        error = f": {row['error']}" if row["error"] else ""
        print(f"  {row['stage']:<16} {row['state']:<10}{job}{slurm}{after}{error}")
    return 0


def _run_stage(args: argparse.Namespace) -> int:
    return run_stage(args.spec, args.s2s)


def _plain(text: str) -> str:
    """A docstring paragraph as plain --help text (no reST roles, literals or bold)."""
    import re

    text = re.sub(r":\w+:`\.?([^`]+)`", r"\1", text.replace("\n", " "))
    return text.replace("``", "").replace("**", "")


def register(sub) -> None:
    p = sub.add_parser(
        "reproduce", help="run the paper (or any plan) stage by stage through the job queue",
        description=_plain(__doc__.split("\n\n")[1]) + " Example: s2s reproduce configs/paper.yaml --dry-run")
    p.add_argument("plan", type=Path, metavar="PLAN.yaml", help="the plan (see configs/paper.yaml)")
    p.add_argument("--runs", default=None, help="runs root and job queue (default: S2S_RUNS_DIR or ./runs)")
    p.add_argument("--dry-run", action="store_true", help="print decisions, commands, disk and GPU-hours; submit nothing")
    p.add_argument("--wait", type=float, default=None, metavar="SECONDS", help="wait up to SECONDS for every job")
    p.add_argument("--backend", choices=("local", "slurm"), default=None,
                   help="where the stages run (default: the plan's backend, else local): slurm makes each an sbatch "
                        "job chained by --dependency=afterok")
    p.add_argument("--status", action="store_true", help="print each stage's state (and Slurm job id); submit nothing")
    p.set_defaults(func=_reproduce)
    r = sub.add_parser("run-stage", help="run one stage of a plan (what s2s reproduce's jobs run)",
                       description="Run STAGE.json's command (resuming when its inputs are unchanged) and record it.")
    r.add_argument("spec", type=Path, metavar="STAGE.json", help="the stage file s2s reproduce wrote")
    r.set_defaults(func=_run_stage)
