"""The files of a job's directory, written and read the same way by the runner, the Slurm backend and the
dashboard: the job's record (``job.json``, what the batch script on a Slurm node runs), the progress events
(``progress.jsonl``), the end of the log (``log.txt``) and why it failed.

Below the runner and the Slurm backend: it imports only the :class:`~s2s_core.jobs.store.Job` record.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from pathlib import Path
from typing import Any

from s2s_core.jobs.store import Job

#: The job record's fields written to ``job.json``.
JOB_JSON_FIELDS = ("id", "kind", "params", "device", "source", "created", "argv", "run_dir", "target", "resumed",
                   "depends", "backend")


def read_progress(path: Path) -> list[dict[str, Any]]:
    """Events of a ``progress.jsonl``; a line that is not (yet) complete JSON is skipped."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    out = []
    for line in text.splitlines():
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if isinstance(ev, dict):
            out.append(ev)
    return out


def tail_lines(path: Path, n: int, block: int = 8192) -> list[str]:
    """The last ``n`` lines of a text file, reading only its end."""
    if n <= 0:
        return []
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            pos, data = fh.tell(), b""
            while pos > 0 and data.count(b"\n") <= n:
                step = min(block, pos)
                pos -= step
                fh.seek(pos)
                data = fh.read(step) + data
    except OSError:
        return []
    return data.decode("utf-8", errors="replace").splitlines()[-n:]


def error_of(run_dir: Path, exit_code: int | None) -> str | None:
    """Why a job failed: the last ``error`` event of its progress file, else the last line of its log."""
    for ev in reversed(read_progress(run_dir / "progress.jsonl")):
        if ev.get("event") == "error":
            return str(ev.get("message") or "error")
    if exit_code is not None and exit_code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-exit_code).name}"
    for line in reversed(tail_lines(run_dir / "log.txt", 40)):
        if line.strip() and not line.startswith("=== "):
            return line.strip()[-500:]
    return None


def write_job_json(job: Job) -> Path:
    """Write ``RUN/job.json`` (kind, resolved parameters, argv, ...; :data:`JOB_JSON_FIELDS`) atomically: a
    temporary file renamed over the old one, so a reader (a Slurm node starting the job) never sees half of it."""
    path = Path(job.run_dir) / "job.json"
    tmp = path.with_name(".job.json.tmp")
    tmp.write_text(json.dumps({k: getattr(job, k) for k in JOB_JSON_FIELDS}, indent=2) + "\n")
    os.replace(tmp, path)
    return path
