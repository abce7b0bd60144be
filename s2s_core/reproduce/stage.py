"""``s2s run-stage STAGE.json``: run one stage of a plan, resume it when that is safe, and record what it did.

``STAGE.json`` (written by ``s2s reproduce``) holds the stage's ``s2s`` arguments, its input paths, its run dir
(``out``) and its product (``output``). Before the command runs, the stage's fingerprint (its arguments and the
hashes of its inputs, :func:`stage_fingerprint`) is compared with the one of the attempt that left a training
state in ``out/ckpt``: the same inputs continue with ``--resume``; other inputs move the old state aside to
``out/superseded/<time>/`` and start afresh. When the command succeeds, ``out/stage-record.json`` records the
command, its settings, start and end, code version, input and output hashes and runtime flags; the last stage
of a plan gathers all records into ``ZOO/provenance.json`` (:mod:`s2s_core.provenance`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from s2s_core import __version__, settings
from s2s_core.checkpoints import read_format_json, write_json_atomic
from s2s_core.errors import ConfigError
from s2s_core.provenance import fingerprint_path, write_provenance

STAGE_FORMAT = "s2s-stage/1"
RECORD = "stage-record.json"
ATTEMPT = "stage-attempt.json"
#: Exit code of a stage whose command was stopped (SIGTERM/SIGINT) after a checkpoint: not a success, so the
#: stages after it do not start; running ``s2s reproduce`` again resumes it.
STOPPED_EXIT = 3


def read_stage(path: str | Path) -> dict[str, Any]:
    spec = read_format_json(Path(path), STAGE_FORMAT)
    for key in ("name", "argv", "out", "output", "inputs"):
        if key not in spec:
            raise ConfigError(f"{path}: missing {key!r}; write it again with s2s reproduce")
    return spec


def stage_fingerprint(spec: dict[str, Any]) -> str:
    """sha256 of the stage's arguments and of the fingerprints of its inputs (FileNotFoundError if one is missing).
    The code version is recorded but not part of it: upgrading s2s does not re-run finished stages."""
    inputs = {role: fingerprint_path(path) for role, path in sorted(spec["inputs"].items())}
    blob = json.dumps({"argv": spec["argv"], "inputs": inputs}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def up_to_date(spec: dict[str, Any]) -> bool:
    """Whether the stage finished before with the same fingerprint and its output is still what it produced."""
    record_path = Path(spec["out"]) / RECORD
    if not record_path.is_file() or not Path(spec["output"]).exists():
        return False
    try:
        record = json.loads(record_path.read_text())
        return (record.get("fingerprint") == stage_fingerprint(spec)
                and record.get("output", {}).get("hash") == fingerprint_path(spec["output"]))
    except (OSError, ValueError, FileNotFoundError):
        return False


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _set_aside(out: Path) -> Path:
    """Move a training state of other inputs (ckpt/, model/, progress, config) to ``out/superseded/<time>/``."""
    dest = out / "superseded" / time.strftime("%Y%m%d-%H%M%S")
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("ckpt", "model", "progress.jsonl", "config.json", "zoo.json"):
        if (out / name).exists():
            shutil.move(str(out / name), str(dest / name))
    return dest


def _stopped(out: Path, since: float) -> bool:
    from s2s_core.train.progress import read_events

    done = [e for e in read_events(out / "progress.jsonl") if e.get("event") == "done" and e.get("time", 0) >= since]
    return bool(done) and done[-1].get("status") == "stopped"


def _runtime(output: Path, out: Path) -> dict[str, Any]:
    import torch

    runtime: dict[str, Any] = {"torch": torch.__version__, "cuda": torch.version.cuda,
                               "gpus": torch.cuda.device_count() if torch.cuda.is_available() else 0,
                               "world_size": int(os.environ.get("WORLD_SIZE", "1")), "threads": torch.get_num_threads()}
    manifest = output / "manifest.json"
    if manifest.is_file():
        runtime.update(json.loads(manifest.read_text()).get("runtime") or {})
    if torch.cuda.is_available():
        runtime["gpu_name"] = torch.cuda.get_device_name(0)
    return runtime


def _settings(out: Path, argv: list[str]) -> dict[str, Any]:
    """The resolved settings a training command saved (``config.json``), else its arguments."""
    cfg = out / "config.json"
    if cfg.is_file():
        return json.loads(cfg.read_text())
    return {"argv": argv}


def run_stage(path: str | Path, s2s: Callable[[list[str]], int]) -> int:
    """Run the stage described by ``path`` through ``s2s`` (the CLI's ``main``: the stage's command is an ``s2s``
    command, and the CLI stands above this package); returns the command's exit code (:data:`STOPPED_EXIT` if
    stopped)."""
    spec = read_stage(path)
    out, output = Path(spec["out"]), Path(spec["output"])
    rank0 = os.environ.get("RANK", "0") == "0"
    try:
        fingerprint = stage_fingerprint(spec)
    except FileNotFoundError as exc:
        raise ConfigError(f"stage {spec['name']}: an input is missing ({exc}); did the stage before it fail?") from exc
    argv = list(spec["argv"])
    if spec.get("resumable") and (out / "ckpt" / "latest.json").is_file():
        previous = json.loads((out / ATTEMPT).read_text()).get("fingerprint") if (out / ATTEMPT).is_file() else None
        if previous == fingerprint:
            argv.append("--resume")
            print(f"stage {spec['name']}: resuming from {out / 'ckpt'}", flush=True)
        elif rank0:
            print(f"stage {spec['name']}: inputs changed; the old training state moves to {_set_aside(out)}", flush=True)
    if rank0:
        write_json_atomic(out / ATTEMPT, {"fingerprint": fingerprint, "started": _now()})
        (out / RECORD).unlink(missing_ok=True)
    started, t0, wall0 = _now(), time.monotonic(), time.time()
    code = s2s(argv)
    if code != 0:
        return code
    if _stopped(out, wall0):
        print(f"stage {spec['name']}: stopped; run s2s reproduce again to resume it", flush=True)
        return STOPPED_EXIT
    if not rank0:
        return 0
    record = {"stage": spec["name"], "command": ["s2s", *argv], "config": _settings(out, argv), "started": started,
              "finished": _now(), "seconds": round(time.monotonic() - t0, 3), "code_version": __version__,
              "git_commit": settings.git_commit(),
              "inputs": {role: {"path": p, "hash": fingerprint_path(p)} for role, p in sorted(spec["inputs"].items())},
              "output": {"path": str(output), "hash": fingerprint_path(output)}, "runtime": _runtime(output, out),
              "fingerprint": fingerprint}
    if os.environ.get("SLURM_JOB_ID"):  # run as a Slurm job (s2s reproduce --backend slurm)
        record["slurm"] = {"job_id": os.environ["SLURM_JOB_ID"], "nodes": os.environ.get("SLURM_JOB_NODELIST", ""),
                           "partition": os.environ.get("SLURM_JOB_PARTITION", "")}
    write_json_atomic(out / RECORD, record)
    if spec.get("final"):
        records = [json.loads((Path(d) / RECORD).read_text()) for d in spec.get("stages", []) if (Path(d) / RECORD).is_file()]
        path = write_provenance(spec["zoo"], plan=spec.get("plan", ""), name=spec.get("plan_name", ""), records=records)
        print(f"provenance of {len(records)} stages written to {path}", flush=True)
    return 0
