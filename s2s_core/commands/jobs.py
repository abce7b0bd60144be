"""``s2s jobs``: the operator's view of the job runner.

::

    s2s jobs submit KIND [--set key=value ...] [--wait SECONDS] [--json]
    s2s jobs list [--json]            s2s jobs show ID [--json] [--log N]
    s2s jobs cancel ID [--wait S]     s2s jobs resume ID
    s2s jobs kinds [KIND] [--json]    (the parameters each kind accepts)
    s2s jobs run-queue                (refresh once: mark lost jobs, start queued ones)
    s2s jobs worker [--interval S]    (keep refreshing until stopped; optional, see below)

All take ``--runs DIR`` (default ``S2S_RUNS_DIR`` or ``./runs``) and ``--backend local|slurm`` (default
``S2S_JOBS_BACKEND`` or ``local``: where new jobs go; a job is cancelled and resumed where it went). The
browser launch gate does not apply to the CLI, but every parameter is validated the same way. Local jobs
start by themselves when the job before them on the same device ends; ``worker`` only matters if a job's
supervisor was killed. Slurm jobs wait in Slurm's queue; ``list`` and ``show`` ask Slurm for their state.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime
from typing import Any

from s2s_core.jobs.progress import job_progress
from s2s_core.jobs.runner import JobRunner
from s2s_core.jobs.specs import BACKENDS, KINDS, describe_kind
from s2s_core.jobs.store import Job
from s2s_core.train.config import parse_set


def _when(t: float | None) -> str:
    return datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M:%S") if t else "-"


def _duration(job: Job) -> str:
    if not job.started:
        return "-"
    s = int((job.finished or time.time()) - job.started)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def _progress_text(runner: JobRunner, job: Job) -> str:
    """``step 30/120 loss 0.0123``: the job's progress as the Training jobs page reads it (:mod:`.progress`)."""
    p = job_progress(job, runner.progress(job.id))
    return p.steps_text + (f" loss {p.loss:.4g}" if p.loss is not None else "")


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, default=str))


def _runner(args: argparse.Namespace) -> JobRunner:
    return JobRunner(args.runs, backend=args.backend)


def _cmd_submit(args: argparse.Namespace) -> int:
    runner = _runner(args)
    job = runner.submit(args.kind, parse_set(args.set), source="cli")
    if args.wait:
        job = runner.wait(job.id, timeout=args.wait)
    if args.json:
        _print_json(job.as_dict())
    else:
        slurm = f" (Slurm job {job.slurm_id}, {job.slurm_state})" if job.slurm_id else ""
        print(f"job {job.id} ({job.kind}) {job.state} on {job.device}{slurm}; dir {job.run_dir}")
    return 0 if job.state not in ("failed", "lost") else 1


def _cmd_list(args: argparse.Namespace) -> int:
    runner = _runner(args)
    jobs = runner.list()
    if runner.poll_error:
        print(f"warning: Slurm did not answer, states may be old: {runner.poll_error}", file=sys.stderr)
    if args.json:
        _print_json([j.as_dict() for j in jobs])
        return 0
    if not jobs:
        print(f"no jobs in {runner.runs_dir}")
        return 0
    print(f"{'ID':>4}  {'KIND':<8}  {'STATE':<9}  {'DEVICE':<7}  {'CREATED':<19}  {'TIME':>8}  PROGRESS / ERROR")
    for j in jobs:
        extra = j.error if j.state in ("failed", "lost") and j.error else _progress_text(runner, j)
        print(f"{j.id:>4}  {j.kind:<8}  {j.state:<9}  {j.device:<7}  {_when(j.created):<19}  {_duration(j):>8}  "
              f"{(extra or '')[:80]}")
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    runner = _runner(args)
    runner.refresh()
    if runner.poll_error:
        print(f"warning: Slurm did not answer, its state may be old: {runner.poll_error}", file=sys.stderr)
    job = runner.get(args.id)
    events = runner.progress(job.id)
    if args.json:
        _print_json({**job.as_dict(), "last_event": events[-1] if events else None,
                     "log_tail": runner.log_tail(job.id, args.log)})
        return 0
    keys = ["id", "kind", "state", "backend", "device", "source", "attempts", "resumed", "pid", "exit_code", "error",
            "run_dir", "target", "output", "depends"]
    if job.backend == "slurm":  # the Slurm job id and the state Slurm reports, instead of a local pid
        keys.remove("pid")
        keys[4:4] = ["slurm_id", "slurm_state"]
    for key in keys:
        print(f"{key:>11}: {getattr(job, key)}")
    for key in ("created", "started", "finished"):
        print(f"{key:>11}: {_when(getattr(job, key))}")
    print(f"{'params':>11}: {json.dumps(job.params)}")
    if events:
        print(f"{'last event':>11}: {json.dumps(events[-1])}")
    if args.log:
        print(f"--- last {args.log} lines of log.txt ---")
        print("\n".join(runner.log_tail(job.id, args.log)))
    return 0


def _cmd_cancel(args: argparse.Namespace) -> int:
    job = _runner(args).cancel(args.id, wait=args.wait)
    print(f"job {job.id}: {job.state}" + ("" if job.state != "running" else " (stopping; SIGTERM sent)"))
    return 0


def _cmd_resume(args: argparse.Namespace) -> int:
    job = _runner(args).resume(args.id)
    how = "from its last checkpoint" if job.resumed else "from the start"
    print(f"job {job.id} ({job.kind}) {job.state} again, {how}")
    return 0


def _cmd_kinds(args: argparse.Namespace) -> int:
    kinds = [args.kind] if args.kind else list(KINDS)
    specs = {k: describe_kind(k, backend=args.backend) for k in kinds}
    if args.json:
        _print_json(specs)
        return 0
    for kind, fields in specs.items():
        print(f"{kind}:")
        for f in fields:
            bounds = "" if f["min"] is None else f" [{f['min']}, {f['max']}]"
            req = " (required)" if f["required"] else f" (default {f['default']})"
            print(f"  {f['name']:<12} {f['type']:<6}{bounds}{req}  {f['help']}")
    return 0


def _cmd_run_queue(args: argparse.Namespace) -> int:
    for job in _runner(args).refresh():
        print(f"started job {job.id} ({job.kind}) on {job.device}")
    return 0


def _cmd_worker(args: argparse.Namespace) -> int:
    from s2s_core.jobs.worker import serve

    return serve(args.runs, interval=args.interval)


_JSON_HELP = "print JSON instead of a table"


def _plain_help() -> str:
    """The module docstring as plain text for ``--help`` (no reST markup), plus where jobs may read and write."""
    text = __doc__.replace("::\n", "\n").replace("``", "")
    return text.strip() + (
        "\n\nWhere jobs may read and write: S2S_RUNS_DIR (default ./runs: job dirs, outputs), S2S_CHECKPOINTS_DIR "
        "(default the project's checkpoints/),\nand S2S_DATA_ROOTS (data folders jobs may read, separated by "
        f"'{os.pathsep}'; default ./data). Paths outside them are refused.\nClassifier units inside these roots "
        "may be given as a finetune job's classifier.")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``s2s jobs`` and its sub-commands."""
    p = subparsers.add_parser("jobs", help="submit, list, cancel and resume background jobs",
                              description=_plain_help(), formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="jobs_command", metavar="ACTION", required=True)

    def add(name: str, func: Any, help_text: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_text, description=help_text)
        sp.add_argument("--runs", default=None, help="runs root (default: S2S_RUNS_DIR or ./runs)")
        sp.add_argument("--backend", choices=BACKENDS, default=None,
                        help="where new jobs run: local or slurm (default: S2S_JOBS_BACKEND or local)")
        sp.set_defaults(func=func)
        return sp

    s = add("submit", _cmd_submit, "queue a job (it starts when its device is free)")
    s.add_argument("kind", choices=KINDS, help="what to run: " + ", ".join(KINDS))
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a parameter (see `s2s jobs kinds KIND`); repeatable")
    s.add_argument("--wait", type=float, default=None, metavar="SECONDS", help="wait for the job to end")
    s.add_argument("--json", action="store_true", help=_JSON_HELP)
    s = add("list", _cmd_list, "all jobs, newest first (marks vanished jobs lost, starts queued ones)")
    s.add_argument("--json", action="store_true", help=_JSON_HELP)
    s = add("show", _cmd_show, "one job: state, parameters, last progress event, log tail")
    s.add_argument("id", type=int, help="the job's number (see s2s jobs list)")
    s.add_argument("--json", action="store_true", help=_JSON_HELP)
    s.add_argument("--log", type=int, default=20, metavar="N", help="log lines to show (default 20)")
    s = add("cancel", _cmd_cancel, "cancel a queued job or stop a running one (SIGTERM, then SIGKILL)")
    s.add_argument("id", type=int, help="the job's number (see s2s jobs list)")
    s.add_argument("--wait", type=float, default=None, metavar="SECONDS", help="wait for it to stop")
    s = add("resume", _cmd_resume, "queue a cancelled, lost or failed job again (training: from its checkpoint)")
    s.add_argument("id", type=int, help="the job's number (see s2s jobs list)")
    s = add("kinds", _cmd_kinds, "the parameters each job kind accepts")
    s.add_argument("kind", nargs="?", choices=KINDS, help="one kind (default: all)")
    s.add_argument("--json", action="store_true", help=_JSON_HELP)
    add("run-queue", _cmd_run_queue, "refresh once: mark vanished jobs lost and start queued jobs")
    s = add("worker", _cmd_worker, "keep refreshing the queue until stopped (SIGTERM/Ctrl-C)")
    s.add_argument("--interval", type=float, default=5.0, metavar="SECONDS",
                   help="seconds between refreshes (default 5)")
