"""What a Slurm job of the queue runs on the first node of its allocation (``RUN/sbatch.py`` calls :func:`main`).

It reads ``RUN/job.json`` (the argv the queue built; nothing typed by a user is interpreted here) and runs it:

* ``pretrain`` and ``finetune`` run one training process per GPU (one per node without GPUs). One process in
  all: the command itself. Several GPUs on one node: ``torchrun --standalone`` here. Several nodes: one
  ``srun`` step starts torchrun on every node of the allocation (one task per node), and the nodes meet at a
  c10d rendezvous on the first node (its address as Slurm knows it, a port free there, the Slurm job id);
* the other kinds (evaluate, demo) run as they are, on the first node.

Stopping: SIGTERM or SIGINT reaching this script (the queue's cancel sends ``scancel --batch --signal=TERM``
for one-node jobs; Slurm sends SIGTERM to every process at the time limit) is passed on to the command it
runs directly (torchrun passes it to the training processes, which save a checkpoint and stop). It is *not*
passed to ``srun``: srun answers SIGTERM by killing its step with SIGKILL. Multi-node jobs are stopped
through their step instead (``scancel --signal=TERM`` signals the processes of every step, on every node).

At the end it writes ``RUN/slurm-exit.json`` (Slurm job id, exit code, signals received) for the queue,
which may look after Slurm itself has forgotten the job, and exits with the command's exit code.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from s2s_core.jobs.specs import TORCHRUN_KINDS


def stops_through_step(kind: str, params: Mapping[str, Any]) -> bool:
    """Whether a job is stopped by signalling its ``srun`` step (multi-node training) rather than this script."""
    return kind in TORCHRUN_KINDS and int(params.get("nodes") or 1) > 1


#: The exit record this script leaves in the job's directory (read by :mod:`.slurm`).
EXIT_RECORD = "slurm-exit.json"


def free_port() -> int:
    """A TCP port free on this machine now (for the rendezvous; this script runs on the first node)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("", 0))
        return int(s.getsockname()[1])


def head_address(nodelist: str) -> str:
    """The address of the first node of a Slurm node list (``node[03-05,9]`` -> ``node03``'s ``NodeAddr``, which
    is its host name unless the cluster says otherwise), through ``scontrol``."""
    names = subprocess.run(["scontrol", "show", "hostnames", nodelist], capture_output=True, text=True, check=True,
                           timeout=60).stdout.split()
    if not names:
        raise RuntimeError(f"scontrol show hostnames {nodelist!r} printed nothing")
    node = subprocess.run(["scontrol", "show", "node", "--oneliner", names[0]], capture_output=True, text=True,
                          check=False, timeout=60).stdout
    addr = next((tok.split("=", 1)[1] for tok in node.split() if tok.startswith("NodeAddr=")), "")
    return addr or names[0]


def launch_argv(job: Mapping[str, Any], env: Mapping[str, str], *, head: str | None = None,
                port: int | None = None, python: str = sys.executable) -> list[str]:
    """The command to run for ``job`` (a ``job.json``) inside its allocation, from Slurm's environment
    (``SLURM_JOB_ID``, ``SLURM_JOB_NUM_NODES``, ``SLURM_JOB_NODELIST``).

    Training kinds on one node with G > 1 GPUs: ``python -m torch.distributed.run --standalone --nnodes=1
    --nproc-per-node=G -m s2s_core.cli KIND ...``; on N > 1 nodes: ``srun --nodes=N --ntasks-per-node=1 ...
    python -m torch.distributed.run --nnodes=N --nproc-per-node=G --rdzv-backend=c10d
    --rdzv-endpoint=HEAD:PORT --rdzv-id=s2s-SLURMID -m s2s_core.cli KIND ...``. Anything else, and training
    in one process: the job's argv unchanged."""
    argv = [str(a) for a in job["argv"]]
    if job.get("kind") not in TORCHRUN_KINDS or argv[1:3] != ["-m", "s2s_core.cli"]:
        return argv
    params = job.get("params") or {}
    nodes = int(env.get("SLURM_JOB_NUM_NODES") or env.get("SLURM_NNODES") or params.get("nodes") or 1)
    gpus = int(params.get("gpus_per_node") or 0)
    cpus = params.get("cpus_per_node")
    if nodes == 1 and gpus <= 1:
        return argv
    if nodes == 1:
        return [python, "-m", "torch.distributed.run", "--standalone", "--nnodes=1", f"--nproc-per-node={gpus}",
                "-m", "s2s_core.cli", *argv[3:]]
    if head is None:
        head = head_address(env["SLURM_JOB_NODELIST"]) if env.get("SLURM_JOB_NODELIST") else socket.gethostname()
    port = port or free_port()
    srun = ["srun", f"--nodes={nodes}", f"--ntasks={nodes}", "--ntasks-per-node=1", "--kill-on-bad-exit=1"]
    if cpus:
        srun.append(f"--cpus-per-task={int(cpus)}")  # Slurm 22.05+ steps do not inherit it from the job
    if gpus:
        srun.append(f"--gpus-per-node={gpus}")
    torchrun = [python, "-m", "torch.distributed.run", f"--nnodes={nodes}", f"--nproc-per-node={max(1, gpus)}",
                "--rdzv-backend=c10d", f"--rdzv-endpoint={head}:{port}",
                f"--rdzv-id=s2s-{env.get('SLURM_JOB_ID', 'job')}", "--max-restarts=0"]
    return [*srun, *torchrun, "-m", "s2s_core.cli", *argv[3:]]


def main(run_dir: str) -> int:
    """Run the job in ``run_dir`` to its end inside the Slurm allocation; returns its exit code."""
    run = Path(run_dir)
    job = json.loads((run / "job.json").read_text())
    env = dict(os.environ)
    slurm_id = env.get("SLURM_JOB_ID", "")
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    try:
        argv = launch_argv(job, env, python=sys.executable)
    except (subprocess.SubprocessError, OSError, RuntimeError, KeyError, ValueError) as exc:
        print(f"=== {stamp} job {job.get('id')}: cannot build the launch command: {exc}", flush=True)
        _write_record(run, slurm_id, 1, 0)
        return 1
    print(f"=== {stamp} job {job.get('id')} runs as Slurm job {slurm_id} on {env.get('SLURM_JOB_NODELIST', '?')}: "
          f"{' '.join(argv)}", flush=True)
    received: list[int] = []
    proc: subprocess.Popen | None = None

    forward = argv[0] != "srun"  # srun would kill its step with SIGKILL; the step's processes get it from Slurm

    def _forward(signum: int, frame: object) -> None:
        received.append(signum)
        if forward and proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, _forward)
    signal.signal(signal.SIGINT, _forward)
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, cwd=run, close_fds=True)
    except OSError as exc:
        print(f"=== could not start {argv[0]}: {exc}", flush=True)
        _write_record(run, slurm_id, 127, len(received))
        return 127
    if received and forward:  # a signal arrived while it started
        proc.send_signal(signal.SIGTERM)
    rc = proc.wait()
    _write_record(run, slurm_id, rc, len(received))
    print(f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} job {job.get('id')} (Slurm job {slurm_id}) ended with exit code "
          f"{rc}" + (f" after {len(received)} stop signal(s)" if received else ""), flush=True)
    return rc if rc >= 0 else 128 - rc


def _write_record(run: Path, slurm_id: str, rc: int, signals: int) -> None:
    path = run / EXIT_RECORD
    tmp = path.with_name(f".{EXIT_RECORD}.tmp")
    tmp.write_text(json.dumps({"slurm_job_id": slurm_id, "exit_code": rc, "stop_signals": signals,
                               "time": time.time()}) + "\n")
    os.replace(tmp, path)
