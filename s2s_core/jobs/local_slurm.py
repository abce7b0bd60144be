"""A real Slurm on this one machine, in a directory of its own: for trying the ``slurm`` job backend on a
laptop, and for the tests that run jobs through it.

::

    sudo python -m s2s_core.jobs.local_slurm start /tmp/s2s-slurm   # prints SLURM_CONF=/tmp/s2s-slurm/slurm.conf
    sudo python -m s2s_core.jobs.local_slurm stop /tmp/s2s-slurm

It needs Debian's (or Ubuntu's) ``slurm-wlm`` and ``munge`` packages and root (``slurmd`` starts each job as
the user who submitted it). :meth:`LocalSlurm.start` writes a munge key and a ``slurm.conf`` into the directory
(free ports; every state, spool, pid and log file inside the directory; no cgroups, no accounting,
``KillWait=5``), starts ``munged``, ``slurmctld`` and one ``slurmd`` per node in the foreground of sessions of
their own, and waits until the nodes are idle. The nodes (``s2s1``, ``s2s2``, ... one slurmd each, all at
127.0.0.1 with a port each) share this machine's CPUs, so a job can ask for two nodes and be launched as a
multi-node job really is, just without the network in between. :meth:`LocalSlurm.stop` cancels the cluster's
jobs and stops the daemons by the pids it recorded (checked with their start times), never by name. Nothing here
touches ``/etc/slurm``, ``/etc/munge`` or a munged already running on the machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from s2s_core.errors import ConfigError
from s2s_core.jobs.processes import is_alive, proc_start_time

#: Where Debian puts the daemons.
SBIN = Path("/usr/sbin")
DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "scancel", "scontrol", "sinfo", "srun")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _memory_mb() -> int:
    """Half of this machine's memory in MB (slurmd drains a node that has less than configured)."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return max(256, int(line.split()[1]) // 1024 // 2)
    return 1024


@dataclass
class LocalSlurm:
    """A Slurm of ``nodes`` nodes on this machine whose files all live in ``root``."""

    root: Path
    nodes: int = 2

    def __post_init__(self) -> None:
        self.root = Path(self.root).resolve()
        self._procs: dict[int, subprocess.Popen] = {}  # daemons started by this object (reaped in stop)

    @property
    def node_names(self) -> list[str]:
        return [f"s2s{i + 1}" for i in range(self.nodes)]

    @property
    def conf(self) -> Path:
        return self.root / "slurm.conf"

    @property
    def env(self) -> dict[str, str]:
        """The environment of a client of this cluster: ``os.environ`` with ``SLURM_CONF`` pointing at it."""
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def missing(self) -> list[str]:
        """What this machine lacks to run it (programs, root); ``[]`` if nothing."""
        out = [str(SBIN / d) for d in DAEMONS if not (SBIN / d).is_file()]
        out += [c for c in CLIENTS if not any((Path(p) / c).is_file() for p in os.environ.get("PATH", "").split(":"))]
        if os.geteuid() != 0:
            out.append("root (slurmd starts jobs as their users)")
        return out

    def configure(self) -> Path:
        """Write the munge key, ``slurm.conf`` and the state directories; returns the path of ``slurm.conf``."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)  # other users' clients reach munged's socket here
        for sub in ("state", "spool"):
            (self.root / sub).mkdir(exist_ok=True)
        key = self.root / "munge.key"
        if not key.exists():
            fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(os.urandom(1024))
        host = socket.gethostname().split(".")[0]
        cpus = max(1, (os.cpu_count() or 1) // self.nodes)
        names = self.node_names
        r = self.root
        lines = [
            "# A one-node Slurm written by s2s_core.jobs.local_slurm; everything lives in this directory.",
            "ClusterName=s2slocal",
            f"SlurmctldHost={host}(127.0.0.1)",
            f"SlurmctldPort={_free_port()}",
            "SlurmUser=root",
            "SlurmdUser=root",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={r / 'munge.sock'}",
            f"StateSaveLocation={r / 'state'}",
            f"SlurmdSpoolDir={r / 'spool' / '%n'}",
            f"SlurmctldPidFile={r / 'slurmctld.pid'}",
            f"SlurmdPidFile={r / 'slurmd-%n.pid'}",
            f"SlurmctldLogFile={r / 'slurmctld.log'}",
            f"SlurmdLogFile={r / 'slurmd-%n.log'}",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "JobAcctGatherType=jobacct_gather/none",
            "SchedulerType=sched/backfill",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core",
            "ReturnToService=2",
            "MpiDefault=none",
            "KillWait=5",
            "OverTimeLimit=0",
            "InactiveLimit=0",
            *(f"NodeName={n} NodeHostname={host} NodeAddr=127.0.0.1 Port={_free_port()} CPUs={cpus} "
              f"RealMemory={_memory_mb() // self.nodes} State=UNKNOWN" for n in names),
            f"PartitionName=debug Nodes={','.join(names)} Default=YES MaxTime=INFINITE State=UP",
        ]
        self.conf.write_text("\n".join(lines) + "\n")
        return self.conf

    def _spawn(self, name: str, argv: list[str]) -> tuple[int, int | None]:
        with (self.root / f"{name}.out").open("ab") as out:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True, close_fds=True, env=self.env)
        self._procs[proc.pid] = proc
        return proc.pid, proc_start_time(proc.pid)

    def start(self, timeout: float = 60.0) -> None:
        """Configure, start the three daemons and wait until the node takes jobs; :class:`ConfigError` (with the
        daemons' last log lines) if it does not within ``timeout`` seconds, after stopping what it started."""
        lacking = self.missing()
        if lacking:
            raise ConfigError(f"local slurm: this machine lacks {', '.join(lacking)} "
                              f"(apt-get install slurm-wlm munge, and run as root)")
        self.configure()
        r = self.root
        pids: dict[str, list[int | None]] = {}
        self._write_pids(pids)
        try:
            pids["munged"] = list(self._spawn("munged", [
                str(SBIN / "munged"), "--foreground", "--force", f"--socket={r / 'munge.sock'}",
                f"--key-file={r / 'munge.key'}", f"--pid-file={r / 'munged.pid'}", f"--log-file={r / 'munged.log'}",
                f"--seed-file={r / 'munged.seed'}"]))
            self._write_pids(pids)
            self._wait(lambda: (r / "munge.sock").exists(), timeout, "munged did not create its socket")
            pids["slurmctld"] = list(self._spawn("slurmctld", [str(SBIN / "slurmctld"), "-D", "-f", str(self.conf)]))
            self._write_pids(pids)
            for node in self.node_names:
                pids[f"slurmd-{node}"] = list(self._spawn(f"slurmd-{node}", [str(SBIN / "slurmd"), "-D", "-N", node,
                                                                              "-f", str(self.conf)]))
                self._write_pids(pids)
            self._wait(self._idle, timeout, "the nodes did not become idle")
        except BaseException:
            self.stop()
            raise

    def _idle(self) -> bool:
        """Whether every node is idle (``sinfo`` per node)."""
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            out = subprocess.run(["sinfo", "--noheader", "--Node", "--format=%t"], capture_output=True, text=True,
                                 timeout=10, env=self.env, stdin=subprocess.DEVNULL)
            return out.returncode == 0 and out.stdout.split() == ["idle"] * self.nodes
        return False

    def _wait(self, cond, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not cond():
            for name, (pid, start) in self._read_pids().items():
                if not is_alive(pid, start):
                    raise ConfigError(f"local slurm: {name} stopped; {self.log_tail(name)}")
            if time.monotonic() > deadline:
                raise ConfigError(f"local slurm: {what} within {timeout:g} s; {self.log_tail()}")
            time.sleep(0.2)

    def log_tail(self, name: str | None = None, n: int = 3) -> str:
        """The last lines of the daemons' logs (for error messages)."""
        parts = []
        for d in [name] if name else ["munged", "slurmctld", *(f"slurmd-{n}" for n in self.node_names)]:
            for suffix in (".log", ".out"):
                path = self.root / f"{d}{suffix}"
                if path.is_file():
                    lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()][-n:]
                    if lines:
                        parts.append(f"{path.name}: " + " | ".join(lines))
        return "; ".join(parts) or "no daemon logs"

    def _write_pids(self, pids: dict[str, list[int | None]]) -> None:
        (self.root / "pids.json").write_text(json.dumps(pids) + "\n")

    def _read_pids(self) -> dict[str, tuple[int, int | None]]:
        try:
            raw = json.loads((self.root / "pids.json").read_text())
        except (OSError, ValueError):
            return {}
        return {k: (int(v[0]), v[1]) for k, v in raw.items()}

    def stop(self, timeout: float = 30.0) -> None:
        """Cancel every job of this cluster, wait for them to end, then stop the daemons by their recorded pids
        (SIGTERM, SIGKILL after ``timeout``)."""
        pids = self._read_pids()
        if "slurmctld" in pids and is_alive(*pids["slurmctld"]):
            self._cancel_all(timeout)
        for name in reversed(list(pids)):  # the slurmds, slurmctld, then munged
            pid, start = pids[name]
            if not is_alive(pid, start):
                continue
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while is_alive(pid, start) and time.monotonic() < deadline:
                time.sleep(0.1)
            if is_alive(pid, start):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            proc = self._procs.pop(pid, None)
            if proc is not None:
                proc.wait()  # our child: reap it
        self._write_pids({})

    def _cancel_all(self, timeout: float) -> None:
        def active() -> list[str]:
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                out = subprocess.run(["squeue", "--noheader", "--format=%i"], capture_output=True, text=True,
                                     timeout=10, env=self.env, stdin=subprocess.DEVNULL)
                return out.stdout.split()
            return []

        ids = active()
        if ids:
            subprocess.run(["scancel", *ids], capture_output=True, timeout=30, env=self.env, stdin=subprocess.DEVNULL,
                           check=False)
        deadline = time.monotonic() + timeout
        while ids and time.monotonic() < deadline:
            time.sleep(0.25)
            ids = active()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m s2s_core.jobs.local_slurm",
                                description="A one-node Slurm in DIR for trying the slurm job backend (needs root).")
    p.add_argument("action", choices=("start", "stop"))
    p.add_argument("dir", type=Path, help="directory for its configuration, state and logs")
    args = p.parse_args(argv)
    cluster = LocalSlurm(args.dir)
    try:
        if args.action == "start":
            cluster.start()
            print(f"Slurm is up. Use it with:\n  export SLURM_CONF={cluster.conf}\n  export S2S_JOBS_BACKEND=slurm\n"
                  f"Stop it with: python -m s2s_core.jobs.local_slurm stop {cluster.root}")
        else:
            cluster.stop()
            print(f"stopped the Slurm in {cluster.root}")
    except ConfigError as exc:
        print(f"local_slurm: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
