"""A job's supervisor process, and the optional queue worker.

``python -m s2s_core.jobs.worker --runs RUNS JOB_ID`` is what :class:`~s2s_core.jobs.runner.JobRunner`
starts for each job, in a session of its own. It runs the job's stored argv (a list, never through a
shell) with stdout and stderr going to ``log.txt``, records the child's pid and start time, waits, and
writes the outcome: ``succeeded`` (exit 0), ``failed`` (non-zero exit; error from the last ``error`` event
of ``progress.jsonl`` or the log's last line), ``cancelled`` (a cancel was requested) or ``lost`` (the
command was killed by a signal nobody asked for, or stopped by one after saving a checkpoint: exit code 75,
``EXIT_STOPPED``; resume it). Then it starts the next queued jobs, so the queue moves on
without any long-running daemon.

On SIGTERM (``s2s jobs cancel``) it passes SIGTERM to the command only (not to its DataLoader workers),
waits the grace period, then SIGKILLs the command's process group.

:func:`serve` (``s2s jobs worker``) is an optional loop calling ``refresh`` every few seconds, for
operators who want queued jobs picked up even if a supervisor was killed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from s2s_core.errors import EXIT_STOPPED
from s2s_core.jobs.jobfiles import error_of
from s2s_core.jobs.processes import proc_start_time
from s2s_core.jobs.store import DB_NAME, JobStore


class _Supervisor:
    def __init__(self, store: JobStore, job_id: int, grace_s: float) -> None:
        self.store = store
        self.job_id = job_id
        self.grace_s = grace_s
        self.proc: subprocess.Popen | None = None
        self.term_at: float | None = None

    def _on_term(self, signum: int, frame: object) -> None:
        if self.term_at is None:
            self.term_at = time.monotonic()
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_term)
        signal.signal(signal.SIGINT, self._on_term)
        job = self.store.get(self.job_id)
        if job.state != "running" or job.cancel_requested:
            if job.state == "running":
                self.store.update(job.id, expect_state="running", state="cancelled", finished=time.time(),
                                  error="cancelled before it started")
            return 0
        run_dir = Path(job.run_dir)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        print(f"=== {stamp} job {job.id} attempt {job.attempts}: {' '.join(job.argv)}", flush=True)
        if self.term_at is None:
            try:
                self.proc = subprocess.Popen(job.argv, stdin=subprocess.DEVNULL, stdout=sys.stdout,
                                             stderr=subprocess.STDOUT, cwd=run_dir, close_fds=True)
            except OSError as exc:
                self.store.update(job.id, expect_state="running", state="failed", finished=time.time(),
                                  error=f"could not start {job.argv[0]}: {exc}")
                return 1
            self.store.update(job.id, child_pid=self.proc.pid, child_start=proc_start_time(self.proc.pid))
            rc = self._wait()
        else:
            rc = None
        job = self.store.get(self.job_id)
        cancelled = self.term_at is not None or job.cancel_requested is not None
        if cancelled:
            state = "cancelled"
        elif rc == 0:
            state = "succeeded"
        elif rc is not None and (rc < 0 or rc == EXIT_STOPPED):
            state = "lost"
        else:
            state = "failed"
        error = None if state == "succeeded" else ("cancelled" if cancelled else error_of(run_dir, rc))
        if rc == EXIT_STOPPED and not cancelled:
            error = "stopped by a signal after saving a checkpoint (exit 75): resumable"
        output = job.target if state == "succeeded" and job.target and Path(job.target).exists() else None
        print(f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} job {job.id} {state} (exit code {rc})", flush=True)
        self.store.update(job.id, expect_state="running", state=state, exit_code=rc, error=error,
                          output=output, finished=time.time())
        return 0

    def _wait(self) -> int:
        assert self.proc is not None
        while True:
            try:
                return self.proc.wait(timeout=0.2)
            except subprocess.TimeoutExpired:
                pass
            if self.term_at is not None and time.monotonic() - self.term_at > self.grace_s:
                print(f"=== grace period of {self.grace_s:g} s over: SIGKILL", flush=True)
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                # The command's own children (DataLoader workers) share our process group; we stay alive.
                return self.proc.wait()


def supervise(runs_dir: Path, job_id: int, grace_s: float) -> int:
    """Run one claimed job to its end, then start whatever queued jobs can start now."""
    store = JobStore(runs_dir / DB_NAME)
    code = _Supervisor(store, job_id, grace_s).run()
    from s2s_core.jobs.runner import JobRunner

    try:
        JobRunner(runs_dir).refresh()
    except Exception as exc:  # the job is recorded; failing to start the next one must not hide that
        print(f"=== could not start queued jobs: {exc}", flush=True)
    return code


def serve(runs_dir: Path | None = None, *, interval: float = 5.0, once: bool = False) -> int:
    """Refresh the queue every ``interval`` seconds until SIGTERM/SIGINT (or once)."""
    from s2s_core.jobs.runner import JobRunner

    stop = False

    def _stop(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    runner = JobRunner(runs_dir)
    while True:
        for job in runner.refresh():
            print(f"started job {job.id} ({job.kind}) on {job.device}", flush=True)
        if once or stop:
            return 0
        deadline = time.monotonic() + interval
        while not stop and time.monotonic() < deadline:
            time.sleep(min(0.5, interval))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m s2s_core.jobs.worker", description="supervise one job")
    p.add_argument("--runs", type=Path, required=True)
    p.add_argument("--grace", type=float, default=30.0)
    p.add_argument("job_id", type=int)
    args = p.parse_args(argv)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    return supervise(args.runs, args.job_id, args.grace)


if __name__ == "__main__":
    sys.exit(main())
