"""Is a process still the one a job started? Its pid and its start time (``/proc/PID/stat``) together answer,
so a pid the system has reused for another process is not mistaken for the job's.

Used by the runner (a job's supervisor and command), the supervisor itself (:mod:`.worker`) and the local test
cluster (:mod:`.local_slurm`). A leaf module: it imports nothing from :mod:`s2s_core`.
"""

from __future__ import annotations

from pathlib import Path


def proc_start_time(pid: int) -> int | None:
    """The start time (clock ticks since boot) of a live, non-zombie process; ``None`` if there is none."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) ": state is field 3, starttime field 22
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def is_alive(pid: int | None, start: int | None) -> bool:
    """Whether ``pid`` is still the process that was started at ``start`` (guards against pid reuse)."""
    if not pid:
        return False
    now = proc_start_time(pid)
    return now is not None and (start is None or now == start)
