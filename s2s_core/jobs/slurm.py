"""The ``slurm`` job backend: each job of the queue becomes one ``sbatch`` job; Slurm places, queues, limits
and launches it, and the queue (``jobs.sqlite``, the dashboard, ``s2s jobs``) follows it.

Only Slurm's own client commands are used (``sbatch``, ``squeue``, ``scancel``, ``scontrol``, ``sacct``), each
run with an argv list and a timeout, never through a shell. What a user typed reaches them only as validated
values of separate ``--option=value`` arguments (:mod:`.validation`).

A job's life on Slurm:

* :meth:`SlurmBackend.check` (before anything is recorded): the controller answers ``scontrol ping``, the
  partition exists, the node count and the time limit fit the partition;
* :meth:`SlurmBackend.submit` writes ``RUN/sbatch.py`` (a Python batch script, no shell: it runs
  :mod:`.slurm_step` on the first node of the allocation) and calls ``sbatch --parsable`` with the job's
  fields as options; its output goes to ``RUN/log.txt`` as for local jobs;
* :meth:`SlurmBackend.refresh` asks ``squeue`` (then ``sacct``, when the cluster keeps accounting) for the
  state of every queued or running job and maps it onto the queue's states (:func:`map_state`). A job Slurm no
  longer knows is judged from the exit record the batch script leaves (``RUN/slurm-exit.json``) and its
  progress file;
* :meth:`SlurmBackend.cancel` sends SIGTERM to the batch script (``scancel --batch --signal=TERM``), which passes
  it to the training (it saves a checkpoint and exits), or for a multi-node job to its ``srun`` step on every
  node (``scancel --signal=TERM``); after the runner's grace period ``scancel`` ends it;
* :meth:`SlurmBackend.resubmit` (resume) submits the job again, with ``--resume`` when it has a checkpoint.

Only the machine that runs the dashboard or ``s2s jobs`` opens ``jobs.sqlite``; compute nodes write files in
the job's directory only (SQLite must not be shared between machines over a network file system).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from s2s_core import settings
from s2s_core.errors import ConfigError
from s2s_core.jobs.gate import TOKEN_ENV
from s2s_core.jobs.jobfiles import error_of, read_progress, write_job_json
from s2s_core.jobs.slurm_step import EXIT_RECORD, stops_through_step
from s2s_core.jobs.specs import slurm_minutes
from s2s_core.jobs.store import Job, JobStore

#: Seconds a Slurm client command may take before the controller counts as unreachable.
CLIENT_TIMEOUT_S = 30.0
#: The batch script and the exit record it leaves, in the job's directory.
BATCH_SCRIPT = "sbatch.py"
_PROJECT_DIR = settings.package_root()  # job steps import this same s2s_core

#: Slurm job states (``squeue %T`` / ``sacct State``) by the queue state they map to; the final ones are
#: refined by :func:`map_state` from the job's cancel request and its progress file.
SLURM_QUEUED = frozenset({"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD", "RESV_DEL_HOLD"})
SLURM_RUNNING = frozenset({"RUNNING", "COMPLETING", "SUSPENDED", "STOPPED", "STAGE_OUT", "SIGNALING", "RESIZING"})
SLURM_LOST = frozenset({"NODE_FAIL", "BOOT_FAIL", "PREEMPTED", "REVOKED"})


# ------------------------------------------------------------------------------------------------ client
@dataclass(frozen=True)
class Partition:
    """What ``scontrol show partition`` says about one partition."""

    name: str
    total_nodes: int
    max_nodes: int | None      # per job; None: unlimited
    max_time: str              # as Slurm prints it (``UNLIMITED``, ``1-00:00:00``)
    default: bool
    state: str

    @property
    def max_minutes(self) -> int | None:
        if self.max_time.upper() in ("UNLIMITED", "INFINITE", "NONE", ""):
            return None
        try:
            return slurm_minutes(self.max_time, "MaxTime")
        except ConfigError:
            return None


def _last_line(text: str) -> str:
    """The most telling line of a client's stderr: the last non-empty one, without the ``sbatch: error:``."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not lines:
        return "no message"
    return re.sub(r"^(\w+: )?(error|fatal): ", "", lines[-1])[:300]


class SlurmClient:
    """Slurm's client commands, each with an argv list, a timeout and one-line errors (:class:`ConfigError`)."""

    def __init__(self, env: Mapping[str, str] | None = None, timeout: float = CLIENT_TIMEOUT_S) -> None:
        self.env = dict(os.environ if env is None else env)
        self.timeout = timeout

    def run(self, argv: Sequence[str], *, check: bool = True,
            env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess:
        """Run one client command; with ``check``, a non-zero exit is a :class:`ConfigError` with its message."""
        env = dict(self.env if env is None else env)
        if shutil.which(argv[0], path=env.get("PATH")) is None:
            raise ConfigError(f"slurm: {argv[0]} not found; install Slurm's client commands on this machine (a login "
                              f"node of the cluster) or use the local backend (S2S_JOBS_BACKEND=local)")
        conf = env.get("SLURM_CONF")
        if conf and not Path(conf).is_file():  # the clients would retry for a minute before giving up
            raise ConfigError(f"slurm: SLURM_CONF is {conf}, which does not exist")
        try:
            proc = subprocess.run(list(argv), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                  timeout=self.timeout, env=env, check=False)
        except subprocess.TimeoutExpired:
            raise ConfigError(f"slurm: {argv[0]} got no answer within {self.timeout:g} s; is the Slurm controller "
                              f"reachable from this machine?") from None
        if check and proc.returncode != 0:
            raise ConfigError(f"slurm: {argv[0]} failed: {_last_line(proc.stderr or proc.stdout)}")
        return proc

    def ping(self) -> None:
        """:class:`ConfigError` unless the controller answers."""
        proc = self.run(["scontrol", "ping"], check=False)
        out = (proc.stdout or "") + (proc.stderr or "")
        if proc.returncode != 0 or " is UP" not in out:
            first = next((ln.strip() for ln in out.splitlines() if ln.strip()), "no answer")
            raise ConfigError(f"slurm: the controller is not reachable ({_last_line(first)}); check that slurmctld "
                              f"runs and that SLURM_CONF or /etc/slurm/slurm.conf names it")

    def partitions(self) -> dict[str, Partition]:
        out = self.run(["scontrol", "show", "partition", "--oneliner"]).stdout
        parts: dict[str, Partition] = {}
        for line in out.splitlines():
            kv = dict(tok.split("=", 1) for tok in line.split() if "=" in tok)
            if "PartitionName" not in kv:
                continue
            max_nodes = kv.get("MaxNodes", "UNLIMITED")
            parts[kv["PartitionName"]] = Partition(
                name=kv["PartitionName"], total_nodes=int(kv.get("TotalNodes", "0") or 0),
                max_nodes=int(max_nodes) if max_nodes.isdigit() else None, max_time=kv.get("MaxTime", "UNLIMITED"),
                default=kv.get("Default") == "YES", state=kv.get("State", "UP"))
        return parts

    def sbatch(self, argv: Sequence[str], env: Mapping[str, str]) -> str:
        """Submit; returns the Slurm job id (``sbatch --parsable`` prints ``ID`` or ``ID;CLUSTER``)."""
        proc = self.run(["sbatch", "--parsable", *argv], check=False, env=env)
        if proc.returncode != 0:
            raise ConfigError(f"slurm: sbatch refused the job: {_last_line(proc.stderr or proc.stdout)}")
        job_id = proc.stdout.strip().split(";")[0]
        if not job_id.isdigit():
            raise ConfigError(f"slurm: sbatch printed {proc.stdout.strip()!r} instead of a job id")
        return job_id

    def states(self, ids: Sequence[str]) -> dict[str, tuple[str, str]]:
        """``{slurm_id: (STATE, reason)}`` for the jobs Slurm still knows (``squeue``, then ``sacct``)."""
        if not ids:
            return {}
        found: dict[str, tuple[str, str]] = {}
        proc = self.run(["squeue", "--noheader", "--all", "--states=all", f"--jobs={','.join(ids)}",
                         "--format=%i|%T|%r"], check=False)
        if proc.returncode != 0 and "Invalid job id" not in (proc.stderr or ""):
            raise ConfigError(f"slurm: squeue failed: {_last_line(proc.stderr or proc.stdout)}")
        for line in proc.stdout.splitlines():
            parts = line.strip().split("|")
            if len(parts) == 3 and parts[0] in ids:
                found[parts[0]] = (parts[1], parts[2])
        missing = [i for i in ids if i not in found]
        if missing and shutil.which("sacct", path=self.env.get("PATH")):
            acct = self.run(["sacct", "--noheader", "--parsable2", "--allocations", f"--jobs={','.join(missing)}",
                             "--format=JobIDRaw,State"], check=False)
            if acct.returncode == 0:  # accounting may be off: then Slurm has forgotten these jobs
                for line in acct.stdout.splitlines():
                    parts = line.strip().split("|")
                    if len(parts) == 2 and parts[0] in missing and parts[1]:
                        found[parts[0]] = (parts[1].split()[0], "None")
        return found

    def signal(self, slurm_id: str, sig: str = "TERM", *, steps: bool = False) -> None:
        """Send ``sig`` to the job's batch script (which passes it on), or with ``steps`` to the processes of
        its ``srun`` steps on every node; the job goes on until they exit."""
        self._scancel([f"--signal={sig}", slurm_id] if steps else ["--batch", f"--signal={sig}", slurm_id])

    def cancel(self, slurm_id: str) -> None:
        """End the job: SIGTERM to all its processes, SIGKILL after the cluster's ``KillWait``."""
        self._scancel([slurm_id])

    def _scancel(self, args: list[str]) -> None:
        """``scancel``; a job that has ended meanwhile is no error."""
        proc = self.run(["scancel", *args], check=False)
        msg = (proc.stderr or "") + (proc.stdout or "")
        if proc.returncode != 0 and not re.search(r"already completing or completed|Invalid job id", msg):
            raise ConfigError(f"slurm: scancel failed: {_last_line(msg)}")

    def hostnames(self, nodelist: str) -> list[str]:
        """``scontrol show hostnames``: a compressed node list (``gpu[01-04]``) as host names."""
        return self.run(["scontrol", "show", "hostnames", nodelist]).stdout.split()


# ---------------------------------------------------------------------------------------------- mapping
def map_state(slurm_state: str, job: Job) -> tuple[str, str | None]:
    """The queue state and error for a job Slurm reports as ``slurm_state`` (``TIMEOUT``, ``CANCELLED by 0``...).

    Running and waiting states map to ``running`` and ``queued``. Of the final ones: a job we asked to stop is
    ``cancelled`` whatever its exit (torchrun exits non-zero when it passes SIGTERM on); ``COMPLETED`` is
    ``succeeded`` unless the training reports it stopped on a signal from outside the queue; ``TIMEOUT`` is
    ``failed`` with a message saying that resuming continues from the last checkpoint; node failures and
    preemption are ``lost``.
    """
    state = slurm_state.split()[0].upper() if slurm_state.strip() else "UNKNOWN"
    state = state.rstrip("+")
    if state in SLURM_QUEUED:
        return "queued", None
    if state in SLURM_RUNNING:
        return "running", None
    if job.cancel_requested:
        return "cancelled", "cancelled"
    run = Path(job.run_dir)
    last = next((e for e in reversed(read_progress(run / "progress.jsonl")) if e.get("event") in ("done", "error")),
                None)
    stopped = bool(last and last.get("event") == "done" and last.get("status") == "stopped")
    if state in ("COMPLETED", "FAILED") and stopped:  # a stopped run exits 75 (EXIT_STOPPED): resumable
        return "cancelled", f"stopped by a signal from outside the queue at step {last.get('step')} (scancel?)"
    if state == "COMPLETED":
        return "succeeded", None
    if state == "CANCELLED":
        return "cancelled", "cancelled outside the queue (scancel)"
    if state in ("TIMEOUT", "DEADLINE"):
        ckpt = _checkpoint_step(run)
        where = f"from its checkpoint at step {ckpt}" if ckpt is not None else "(no checkpoint was written: from the start)"
        return "failed", f"Slurm stopped it at its time limit ({state}); resume continues {where}"
    if state in SLURM_LOST:
        return "lost", f"Slurm reports {state}; resume continues from the last checkpoint"
    if state == "OUT_OF_MEMORY":
        return "failed", "out of memory (Slurm OUT_OF_MEMORY); ask for more memory or a smaller batch"
    return "failed", error_of(run, None) or f"Slurm reports {state}"


def _checkpoint_step(run: Path) -> int | None:
    try:
        return int(json.loads((run / "ckpt" / "latest.json").read_text())["step"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def read_exit_record(run: Path, slurm_id: str | None) -> dict[str, Any] | None:
    """The exit record the batch script of Slurm job ``slurm_id`` left in ``run`` (``None``: none for it)."""
    try:
        rec = json.loads((run / EXIT_RECORD).read_text())
    except (OSError, ValueError):
        return None
    return rec if isinstance(rec, dict) and str(rec.get("slurm_job_id")) == str(slurm_id) else None


# ----------------------------------------------------------------------------------------------- backend
def sbatch_options(job: Job, after: Sequence[str] = ()) -> list[str]:
    """The job's cluster fields as ``sbatch`` options (one argv element each), plus name, directory and log;
    ``after``: Slurm ids of jobs that must succeed first (``--dependency=afterok``; if one fails, Slurm
    cancels this one: ``--kill-on-invalid-dep=yes``)."""
    p, run = job.params, Path(job.run_dir)
    if "%" in str(run):  # sbatch would read %j, %u, ... in the log's path
        raise ConfigError(f"slurm: the job directory {run} contains '%'; use a runs root without it")
    opts = [f"--job-name=s2s-{job.id}-{job.kind}", f"--chdir={run}", f"--output={run / 'log.txt'}",
            "--open-mode=append", "--no-requeue", f"--nodes={int(p.get('nodes') or 1)}", "--ntasks-per-node=1"]
    if p.get("gpus_per_node"):
        opts.append(f"--gpus-per-node={int(p['gpus_per_node'])}")
    if p.get("cpus_per_node"):
        opts.append(f"--cpus-per-task={int(p['cpus_per_node'])}")
    for key, flag in (("partition", "--partition"), ("time_limit", "--time"), ("account", "--account")):
        if p.get(key):
            opts.append(f"{flag}={p[key]}")
    if after:
        opts += [f"--dependency=afterok:{':'.join(str(int(a)) for a in after)}", "--kill-on-invalid-dep=yes"]
    return opts


def batch_script(job: Job) -> str:
    """The batch script: Python (its own interpreter in the ``#!`` line), so no shell reads anything."""
    exe = sys.executable
    if not exe or any(c.isspace() for c in exe) or len(exe) > 120:
        raise ConfigError(f"slurm: this Python's path ({exe!r}) cannot go in a script's #! line (spaces, or longer "
                          f"than 120 characters); install s2s in a virtual environment with a short path")
    return (f"#!{exe}\n"
            f"# s2s job {job.id} ({job.kind}), written by s2s_core.jobs.slurm; sbatch runs it on the first node.\n"
            f"import sys\n"
            f"sys.path.insert(0, {str(_PROJECT_DIR)!r})\n"
            f"from s2s_core.jobs.slurm_step import main\n"
            f"sys.exit(main({job.run_dir!r}))\n")


def slot(values: Mapping[str, Any]) -> str:
    """The device column of a Slurm job: where it waits (``slurm:PARTITION``)."""
    return f"slurm:{values.get('partition') or 'default'}"


class SlurmBackend:
    """The Slurm side of the job queue: the jobs of ``store`` whose backend is ``slurm``, run from ``runs_dir``;
    a running job asked to stop is ended with ``scancel`` after ``grace_s`` seconds (the runner's grace period)."""

    def __init__(self, store: JobStore, runs_dir: Path, grace_s: float, client: SlurmClient | None = None) -> None:
        self.store = store
        self.runs_dir = Path(runs_dir)
        self.grace_s = grace_s
        self.client = client or SlurmClient()

    def check(self, values: Mapping[str, Any]) -> None:
        """Cluster-dependent checks of a job's validated fields, one :class:`ConfigError` line each."""
        self.client.ping()
        parts = self.client.partitions()
        name = values.get("partition")
        if name and name not in parts:
            raise ConfigError(f"partition: no partition {name!r} on this cluster (it has: {', '.join(parts) or 'none'})")
        part = parts.get(name) if name else next((p for p in parts.values() if p.default), None)
        if part is None:
            return
        nodes = int(values.get("nodes") or 1)
        if nodes > part.total_nodes:
            raise ConfigError(f"nodes: {nodes} asked for, but partition {part.name} has {part.total_nodes} node(s)")
        if part.max_nodes is not None and nodes > part.max_nodes:
            raise ConfigError(f"nodes: {nodes} asked for, but partition {part.name} allows {part.max_nodes} per job")
        limit = values.get("time_limit")
        if limit and part.max_minutes is not None and slurm_minutes(limit) > part.max_minutes:
            raise ConfigError(f"time_limit: {limit} is longer than partition {part.name} allows ({part.max_time})")

    def _env(self) -> dict[str, str]:
        """The environment ``sbatch`` passes on to the job: ours, without the launch token or the variables of a
        Slurm job this process may itself run in, with this checkout importable."""
        env = {k: v for k, v in self.client.env.items()
               if k != TOKEN_ENV and not (k.startswith("SLURM_") and k != "SLURM_CONF")}
        env["PYTHONPATH"] = os.pathsep.join([str(_PROJECT_DIR), *filter(None, [env.get("PYTHONPATH")])])
        env["PYTHONUNBUFFERED"] = "1"
        env[settings.RUNS_ENV] = str(self.runs_dir)
        env[settings.HOME_ENV] = str(settings.home())  # the step runs in the job's dir, not the project folder
        return env

    def submit(self, job: Job) -> Job:
        """``sbatch`` the job (its ``job.json`` is written); it is ``queued`` until Slurm starts it. When sbatch
        refuses, the job is recorded as failed and :class:`ConfigError` says why."""
        run = Path(job.run_dir)
        script = run / BATCH_SCRIPT
        try:
            opts = sbatch_options(job, self._after(job))
            tmp = script.with_name(f".{BATCH_SCRIPT}.tmp")
            tmp.write_text(batch_script(job))
            tmp.chmod(0o755)
            os.replace(tmp, script)
            with (run / "log.txt").open("a") as log:
                log.write(f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} job {job.id} attempt {job.attempts + 1}: "
                          f"sbatch {' '.join(opts)} {script}\n")
            slurm_id = self.client.sbatch([*opts, str(script)], self._env())
        except ConfigError as exc:
            self.store.update(job.id, expect_state=job.state, state="failed", error=str(exc), finished=time.time())
            raise
        self.store.update(job.id, slurm_id=slurm_id, slurm_state="PENDING", attempts=job.attempts + 1)
        return self.store.get(job.id)

    def _after(self, job: Job) -> list[str]:
        """The Slurm ids of the jobs ``job`` still waits for (those that succeeded already are left out)."""
        after = []
        for dep in (self.store.get(d) for d in job.depends):
            if dep.state == "succeeded":
                continue
            if dep.backend != "slurm" or not dep.slurm_id or dep.state not in ("queued", "running"):
                raise ConfigError(f"not submitted: job {dep.id}, which it depends on, is {dep.state} "
                                  f"({'on Slurm' if dep.backend == 'slurm' else 'not on Slurm'})")
            after.append(str(dep.slurm_id))
        return after

    def cancel(self, job: Job) -> Job:
        """A waiting job is cancelled at once; a running one gets SIGTERM through its batch script (training
        saves a checkpoint), and :meth:`refresh` ends it with ``scancel`` after the grace period."""
        if job.state == "queued":
            if job.slurm_id:
                self.client.cancel(job.slurm_id)
            self.store.update(job.id, expect_state="queued", state="cancelled", finished=time.time(),
                              error="cancelled before it started", slurm_state="CANCELLED")
            return self.store.get(job.id)
        self.store.update(job.id, expect_state="running", cancel_requested=time.time())
        if job.slurm_id:
            self.client.signal(job.slurm_id, "TERM", steps=stops_through_step(job.kind, job.params))
        return self.store.get(job.id)

    def refresh(self) -> None:
        """Bring every queued or running Slurm job up to date with what Slurm reports."""
        jobs = [j for j in self.store.list(("queued", "running")) if j.backend == "slurm"]
        now = time.time()
        for job in [j for j in jobs if not j.slurm_id]:  # the submitting process died before sbatch answered
            if now - job.queued > 60:
                self.store.update(job.id, expect_state=job.state, state="lost", finished=now,
                                  error="the job never reached Slurm (the submitting process stopped)")
        jobs = sorted((j for j in jobs if j.slurm_id), key=lambda j: j.id)  # a job's dependencies before it
        if not jobs:
            return
        states = self.client.states([str(j.slurm_id) for j in jobs])
        for job in jobs:
            self._update(job, states.get(str(job.slurm_id)))

    def _update(self, job: Job, info: tuple[str, str] | None) -> None:
        run, now = Path(job.run_dir), time.time()
        record = read_exit_record(run, job.slurm_id)
        # never started because a job it depends on did not succeed (--kill-on-invalid-dep: Slurm cancelled it)
        cancelled = info is not None and info[0].rstrip("+") == "CANCELLED"
        failed_dep = self._failed_dependency(job) if record is None else None
        if record is None and ((cancelled and "Dependency" in info[1])
                               or (failed_dep is not None and (info is None or cancelled))):
            label = "CANCELLED (DependencyNeverSatisfied)"
            which = f"job {failed_dep.id}, which it depends on, ended {failed_dep.state}" if failed_dep is not None \
                else f"a job it depends on ({', '.join(map(str, job.depends))}) did not succeed"
            state, error = "cancelled", f"not started: {which}"
        elif info is None:  # Slurm has forgotten the job (MinJobAge passed, no accounting): judge from its files
            if record is None:
                state, error = "lost", f"Slurm no longer knows job {job.slurm_id}, and it left no exit record"
                label = "UNKNOWN"
            else:
                label = "COMPLETED" if record.get("exit_code") == 0 else "FAILED"
                state, error = map_state(label, job)
        else:
            label = info[0] if info[1] in ("None", "") else f"{info[0]} ({info[1]})"
            state, error = map_state(info[0], job)
        values: dict[str, Any] = {"slurm_state": label}
        if state == "running" and job.state == "queued":
            values.update(state="running", started=now)
        if state == "running" and job.cancel_requested and now - job.cancel_requested > self.grace_s + 15:
            self.client.cancel(str(job.slurm_id))  # it did not stop on SIGTERM: end it
        if state not in ("queued", "running"):
            values.update(state=state, error=error, finished=now, started=job.started or now,
                          exit_code=record.get("exit_code") if record else None,
                          output=job.target if state == "succeeded" and job.target and Path(job.target).exists()
                          else None)
        self.store.update(job.id, expect_state=job.state, **values)

    def _failed_dependency(self, job: Job) -> Job | None:
        """A job ``job`` depends on that ended without success (then Slurm cancels ``job``), else ``None``."""
        for dep in (self.store.get(d) for d in job.depends):
            if dep.state in ("failed", "cancelled", "lost"):
                return dep
        return None

    def resubmit(self, job: Job) -> Job:
        """Queue a cancelled, failed or lost job again (``job`` carries its new argv); returns it ``queued``.
        Refused while Slurm still runs the previous attempt (it may be writing its last checkpoint)."""
        if job.slurm_id:
            before = self.client.states([str(job.slurm_id)]).get(str(job.slurm_id))
            if before and map_state(before[0], job)[0] in ("queued", "running"):
                raise ConfigError(f"job {job.id}: its previous Slurm job {job.slurm_id} is still {before[0]}; "
                                  f"resume once it has ended")
        fresh = dict(state="queued", queued=time.time(), argv=job.argv, resumed=job.resumed, slurm_id=None,
                     slurm_state=None, exit_code=None, error=None, finished=None, started=None, output=None,
                     cancel_requested=None)
        if not self.store.update(job.id, expect_state=job.state, **fresh):
            raise ConfigError(f"job {job.id}: its state changed meanwhile; try again")
        write_job_json(self.store.get(job.id))
        return self.submit(self.store.get(job.id))
