"""The job runner: submit, queue, start, watch, cancel and resume ``s2s`` commands as separate processes.

A job's life: :meth:`JobRunner.submit` validates the parameters (:mod:`.validation`), stores the job as
``queued`` with the argv its kind builds (:mod:`.specs`), and calls :meth:`JobRunner.refresh`. ``refresh`` claims
queued jobs whose device is free (FIFO; one job per device by default) and starts, for each, a supervisor process
(:mod:`.worker`, in its own session so the dashboard may exit without killing it). The supervisor runs
``[python, -m, s2s_core.cli, KIND, ...]`` (never a shell), sends its output to ``RUNS/jobs/<id>/log.txt``,
records the exit code, the state and the error, and then starts the next queued job itself. A job whose
supervisor vanished without recording anything (killed, machine restarted; the pid is checked together with
its start time, so a reused pid is not mistaken for the job) is marked ``lost`` by the next ``refresh``.

The backend is a setting (``S2S_JOBS_BACKEND`` or ``JobRunner(backend=...)``): ``local`` (the default) runs
jobs as above; ``slurm`` hands each job to ``sbatch`` instead and follows it through Slurm (:mod:`.slurm`).
Each job remembers its backend, so cancel and resume go where the job went.

Layout: ``RUNS/jobs.sqlite`` (:mod:`.store`) and, per job, ``RUNS/jobs/<id>/`` with ``job.json`` (kind,
resolved parameters, argv), ``log.txt``, and what the command writes there (``progress.jsonl``,
``config.json``, ``ckpt/``, ``model/`` for the training commands; ``zoo/`` for a demo build).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from s2s_core import settings
from s2s_core.errors import ConfigError
from s2s_core.jobs.gate import TOKEN_ENV
from s2s_core.jobs.jobfiles import read_progress, tail_lines, write_job_json
from s2s_core.jobs.processes import is_alive, proc_start_time
from s2s_core.jobs.roots import Roots
from s2s_core.jobs.slurm import SlurmBackend, SlurmClient
from s2s_core.jobs.slurm import slot as slurm_slot
from s2s_core.jobs.specs import (
    CommandBuilder,
    backend_from_env,
    check_backend,
    get_kind,
    s2s_command,
    target_of,
)
from s2s_core.jobs.store import DB_NAME, FINAL_STATES, Job, JobStore, update_row
from s2s_core.jobs.validation import validate_params

#: A claimed job whose supervisor has not recorded its pid after this long is lost (the starter died).
START_TIMEOUT_S = 60.0


# ------------------------------------------------------------------------------------------------ queue


def device_slot(device: str | None) -> str:
    """The queue a job waits in: ``cpu``, ``cuda:N`` (``cuda`` is ``cuda:0``; ``auto`` is resolved here)."""
    d = (device or "cpu").lower()
    if d == "auto":
        import torch

        d = "cuda:0" if torch.cuda.is_available() else "cpu"
    return "cuda:0" if d == "cuda" else d


def _dependencies_met(con, job_id: int, depends: list[int]) -> bool:
    """Whether every job in ``depends`` succeeded; a dependency that ended otherwise (or vanished) cancels the
    waiting job ``job_id`` (inside the caller's transaction), so a chain of stages stops at its first failure."""
    if not depends:
        return True
    marks = ",".join("?" * len(depends))
    states = dict(con.execute(f"SELECT id, state FROM jobs WHERE id IN ({marks})", [int(d) for d in depends]).fetchall())
    for dep in depends:
        state = states.get(dep)
        if state is None or state in ("failed", "cancelled", "lost"):
            update_row(con, None, job_id, expect_state="queued", state="cancelled", finished=time.time(),
                       error=f"not started: job {dep}, which it depends on, {'vanished' if state is None else 'ended ' + state}")
            return False
    return all(states[d] == "succeeded" for d in depends)


# ------------------------------------------------------------------------------------------------ runner


class JobRunner:
    """Jobs of one runs root. Cheap to create: all state lives in ``RUNS/jobs.sqlite`` and the job dirs,
    so a new instance (after an app restart) sees every past and running job. ``backend`` (default
    ``S2S_JOBS_BACKEND``, else ``local``) is where new jobs go; ``slurm_client`` talks to Slurm.

    ``poll_error`` holds the last error of asking Slurm about its jobs (``None`` when it answered): a refresh
    never fails because Slurm is briefly unreachable, the jobs just keep their last known state."""

    def __init__(self, runs_dir: str | Path | None = None, *, roots: Roots | None = None,
                 per_device: int | None = None, grace_s: float | None = None,
                 command: CommandBuilder | None = None, env: Mapping[str, str] | None = None,
                 backend: str | None = None, slurm_client: SlurmClient | None = None) -> None:
        self.roots = roots or Roots.from_env(runs_dir)
        self.runs_dir = self.roots.runs
        self.jobs_dir = self.runs_dir / "jobs"
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        self.store = JobStore(self.runs_dir / DB_NAME)
        self.per_device = per_device or settings.jobs_per_device(env)
        self.grace_s = grace_s if grace_s is not None else settings.jobs_grace_s(env)
        self.command = command or s2s_command
        self.backend = check_backend(backend) if backend else backend_from_env(env)
        self._slurm_client = slurm_client
        self._slurm: SlurmBackend | None = None
        self.poll_error: str | None = None
        self._children: dict[int, subprocess.Popen] = {}

    @property
    def slurm(self) -> SlurmBackend:
        """The Slurm side of this runner (its client is created on first use)."""
        if self._slurm is None:
            self._slurm = SlurmBackend(self.store, self.runs_dir, self.grace_s, self._slurm_client)
        return self._slurm

    # -- queries ------------------------------------------------------------------------------------
    def list(self) -> list[Job]:
        """Every job, newest first (after a :meth:`refresh`)."""
        self.refresh()
        return self.store.list()

    def get(self, job_id: int) -> Job:
        return self.store.get(job_id)

    def job_dir(self, job_id: int) -> Path:
        return self.jobs_dir / str(int(job_id))

    def progress(self, job_id: int) -> list[dict[str, Any]]:
        """The job's progress events (see :mod:`s2s_core.train.progress`); ``[]`` if it writes none."""
        return read_progress(Path(self.get(job_id).run_dir) / "progress.jsonl")

    def log_tail(self, job_id: int, n: int = 50) -> list[str]:
        return tail_lines(Path(self.get(job_id).run_dir or self.job_dir(job_id)) / "log.txt", n)

    # -- actions ------------------------------------------------------------------------------------
    def submit(self, kind: str, params: Mapping[str, Any], *, source: str = "cli",
               depends: list[int] | tuple[int, ...] = (), backend: str | None = None) -> Job:
        """Validate ``params`` for ``kind``, queue the job and start it if its device is free (``local``), or
        check them against the cluster and ``sbatch`` it (``slurm``).

        ``depends``: ids of jobs that must succeed first; if one of them fails, is cancelled or lost, this job is
        cancelled instead of started. A ``stage`` job (``s2s reproduce``) runs in its stage's directory, which
        successive attempts share; every other job gets a new ``RUNS/jobs/<id>/``. Stages and jobs that depend on
        others run on the local backend unless ``backend`` names one (``s2s reproduce --backend slurm``): on Slurm
        the dependencies become ``sbatch --dependency=afterok:...``."""
        spec = get_kind(kind)
        if not spec.launchable and source != "reproduce":
            raise ConfigError(f"kind: {kind} jobs are submitted by s2s reproduce only")
        if backend is None:
            backend = "local" if depends or not spec.launchable else self.backend
        backend = check_backend(backend)
        values = validate_params(kind, params, self.roots, backend)
        for dep in depends:
            self.store.get(dep)  # an unknown id is refused here
        if backend == "slurm":
            self.slurm.check(values)
            device = slurm_slot(values)
        else:
            device = device_slot(values.get("device"))
        job_id = self.store.insert(kind, values, device, source=source, depends=depends, backend=backend)
        run_dir = Path(values["spec"]).parent if kind == "stage" else self.job_dir(job_id)
        try:
            run_dir.mkdir(parents=True, exist_ok=kind == "stage")
        except FileExistsError:
            self.store.update(job_id, state="failed", error=f"job dir {run_dir} already exists", finished=time.time())
            raise ConfigError(f"job dir {run_dir} already exists; move it away or use another runs root") from None
        job = self.store.get(job_id)
        job.run_dir = str(run_dir)
        job.target = target_of(job)
        job.argv = self.command(job, False)
        self.store.update(job_id, run_dir=job.run_dir, target=job.target, argv=job.argv)
        write_job_json(job)
        if job.backend == "slurm":
            self.slurm.submit(self.get(job_id))
        else:
            self.refresh()
        return self.get(job_id)

    def cancel(self, job_id: int, *, wait: float | None = None) -> Job:
        """Cancel a queued job, or stop a running one: SIGTERM to its supervisor, which passes it on to the
        command (training saves a checkpoint) and sends SIGKILL after the grace period. With ``wait``, block
        up to that many seconds for the job to end."""
        job = self.get(job_id)
        if job.backend == "slurm":
            self.refresh()  # Slurm may have started (or ended) it since the table last heard
            job = self.get(job_id)
            if job.state not in ("queued", "running"):
                raise ConfigError(f"job {job_id}: cannot cancel a {job.state} job")
            self.slurm.cancel(job)
            return self._wait_final(job_id, wait)
        if job.state == "queued":
            if self.store.update(job_id, expect_state="queued", state="cancelled", finished=time.time(),
                                 error="cancelled before it started"):
                return self.get(job_id)
            job = self.get(job_id)
        if job.state != "running":
            raise ConfigError(f"job {job_id}: cannot cancel a {job.state} job")
        self.store.update(job_id, expect_state="running", cancel_requested=time.time())
        if is_alive(job.pid, job.pid_start):
            with contextlib.suppress(ProcessLookupError):
                os.kill(job.pid, signal.SIGTERM)
        return self._wait_final(job_id, wait)

    def _wait_final(self, job_id: int, wait: float | None) -> Job:
        deadline = time.monotonic() + (wait or 0)
        while wait and time.monotonic() < deadline and self.get(job_id).state in ("queued", "running"):
            time.sleep(0.2)
            self.refresh()
        return self.get(job_id)

    def resume(self, job_id: int) -> Job:
        """Queue a cancelled, lost or failed job again; training jobs continue from their last checkpoint."""
        job = self.get(job_id)
        if job.state not in ("cancelled", "lost", "failed"):
            raise ConfigError(f"job {job_id}: only cancelled, lost or failed jobs can be resumed (it is {job.state})")
        run = Path(job.run_dir)
        resumable = get_kind(job.kind).resumable and (run / "ckpt" / "latest.json").is_file() \
            and (run / "config.json").is_file()
        argv = self.command(job, resumable)
        if job.backend == "slurm":
            job.argv, job.resumed = argv, resumable
            return self.slurm.resubmit(job)
        if not self.store.update(job_id, expect_state=job.state, state="queued", queued=time.time(), argv=argv,
                                 resumed=resumable, pid=None, pid_start=None, child_pid=None, child_start=None,
                                 exit_code=None, error=None, finished=None, started=None, output=None,
                                 cancel_requested=None):
            raise ConfigError(f"job {job_id}: its state changed meanwhile; try again")
        write_job_json(self.get(job_id))
        self.refresh()
        return self.get(job_id)

    def refresh(self) -> list[Job]:
        """Reap finished supervisors, mark vanished jobs ``lost``, escalate overdue cancels, and start
        queued jobs on free devices (``local``); bring Slurm jobs up to date with Slurm. Returns the local jobs
        started."""
        for pid, proc in list(self._children.items()):
            if proc.poll() is not None:
                del self._children[pid]
        now = time.time()
        active = self.store.list(("queued", "running"))
        if any(j.backend == "slurm" for j in active):
            try:
                self.slurm.refresh()
                self.poll_error = None
            except ConfigError as exc:
                self.poll_error = str(exc)
        for job in active:
            if job.state != "running" or job.backend != "local":
                continue
            if job.pid is None:
                if now - (job.started or now) > START_TIMEOUT_S:
                    self._finish_vanished(job, "the job's supervisor never started")
                continue
            if is_alive(job.pid, job.pid_start):
                if job.cancel_requested and now - job.cancel_requested > self.grace_s + 15:
                    self._kill_group(job)
                continue
            if is_alive(job.child_pid, job.child_start):  # supervisor gone, command still running
                if job.cancel_requested:
                    self._kill_group(job)
                continue
            self._finish_vanished(job, "the job's process disappeared without reporting (killed or machine restarted)")
        return self._start_queued()

    # -- internals ----------------------------------------------------------------------------------
    def _finish_vanished(self, job: Job, why: str) -> None:
        """A running job's processes are gone and nobody recorded how it ended: decide from its files."""
        events = read_progress(Path(job.run_dir) / "progress.jsonl")
        last = next((e for e in reversed(events) if e.get("event") in ("done", "error")), None)
        if job.cancel_requested:
            state, error = "cancelled", "cancelled"
        elif last and last.get("event") == "done" and last.get("status") == "completed":
            state, error = "succeeded", None
        elif last and last.get("event") == "error":
            state, error = "failed", str(last.get("message"))
        else:
            state, error = "lost", why
        output = job.target if state == "succeeded" and job.target and Path(job.target).exists() else None
        self.store.update(job.id, expect_state="running", state=state, error=error, finished=time.time(),
                          output=output)

    def _kill_group(self, job: Job) -> None:
        for pid, start in ((job.pid, job.pid_start), (job.child_pid, job.child_start)):
            if is_alive(pid, start):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(os.getpgid(pid), signal.SIGKILL)

    def _start_queued(self) -> list[Job]:
        claimed: list[int] = []
        with self.store.transaction() as con:
            busy: dict[str, int] = {}
            for row in con.execute("SELECT device, COUNT(*) FROM jobs WHERE state = 'running' AND backend = 'local' "
                                   "GROUP BY device"):
                busy[row[0]] = row[1]
            for row in con.execute("SELECT id, device, depends FROM jobs WHERE state = 'queued' AND backend = 'local' "
                                   "ORDER BY queued, id").fetchall():
                if not _dependencies_met(con, row["id"], json.loads(row["depends"] or "[]")):
                    continue
                if busy.get(row["device"], 0) >= self.per_device:
                    continue
                busy[row["device"]] = busy.get(row["device"], 0) + 1
                update_row(con, None, row["id"], expect_state="queued", state="running", started=time.time(),
                           pid=None, pid_start=None)
                con.execute("UPDATE jobs SET attempts = attempts + 1 WHERE id = ?", (row["id"],))
                claimed.append(row["id"])
        started = []
        for job_id in claimed:
            started.append(self._spawn(self.get(job_id)))
        return started

    def _spawn(self, job: Job) -> Job:
        """Start the supervisor of a claimed job (its own session; output appended to ``log.txt``)."""
        run = Path(job.run_dir)
        env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}  # jobs never see the launch token
        # the worker imports this same s2s_core (a checkout or an installed copy), whatever its cwd
        env["PYTHONPATH"] = os.pathsep.join([str(settings.package_root()), *filter(None, [env.get("PYTHONPATH")])])
        env["PYTHONUNBUFFERED"] = "1"
        env[settings.RUNS_ENV] = str(self.runs_dir)
        env[settings.HOME_ENV] = str(settings.home())  # the worker runs in the job's dir, not the project folder
        argv = [sys.executable, "-m", "s2s_core.jobs.worker", "--runs", str(self.runs_dir),
                "--grace", str(self.grace_s), str(job.id)]
        try:
            with (run / "log.txt").open("ab") as log:
                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                        cwd=run, env=env, start_new_session=True, close_fds=True)
        except OSError as exc:
            self.store.update(job.id, expect_state="running", state="failed", finished=time.time(),
                              error=f"could not start the job's supervisor: {exc}")
            return self.get(job.id)
        self._children[proc.pid] = proc
        self.store.update(job.id, pid=proc.pid, pid_start=proc_start_time(proc.pid))
        job = self.get(job.id)
        if job.cancel_requested:  # cancelled between claim and start
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
        return job

    def wait(self, job_id: int, timeout: float = 60.0, poll: float = 0.2) -> Job:
        """Block until the job is in a final state (refreshing meanwhile); :class:`TimeoutError` otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            self.refresh()
            job = self.get(job_id)
            if job.state in FINAL_STATES:
                return job
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job.state} after {timeout} s")
            time.sleep(poll)
