"""Real ``s2s pretrain`` jobs (a tiny SegNet on a few 32 px images) through the job runner: a job killed
with SIGKILL is lost, resumes from its checkpoint and its model loads; a cancelled job leaves a checkpoint."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from s2s_core.jobs.processes import is_alive
from s2s_core.jobs.runner import JobRunner

TINY = {"steps": 120, "batch_size": 2, "size": 32, "widths": "4,8,8,8,8", "depths": "1,1,1,1,1", "threads": 1,
        "log_every": 1, "lr": 0.01}


@pytest.fixture()
def runner(tmp_path: Path, monkeypatch):
    data = tmp_path / "data" / "imgs"
    data.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(data / f"{i}.png")
    monkeypatch.setenv("S2S_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("S2S_DATA_ROOTS", str(tmp_path / "data"))
    monkeypatch.setenv("S2S_CHECKPOINTS_DIR", str(tmp_path / "checkpoints"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    r = JobRunner(tmp_path / "runs", grace_s=20)
    yield r
    for job in r.store.list(("running",)):  # never leave a job behind
        for pid, start in ((job.pid, job.pid_start), (job.child_pid, job.child_start)):
            if is_alive(pid, start):
                os.killpg(os.getpgid(pid), signal.SIGKILL)


def _wait_for(cond, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.1)


@pytest.mark.slow
def test_killed_pretrain_is_lost_then_resumes_and_its_model_loads(runner: JobRunner) -> None:
    from s2s_core.checkpoints import load_ae

    job = runner.submit("pretrain", {"data": "imgs", **TINY, "ckpt_every": 5})
    assert "--resume" not in job.argv and job.argv[1:4] == ["-m", "s2s_core.cli", "pretrain"]
    _wait_for(lambda: (Path(job.run_dir) / "ckpt" / "latest.json").exists())
    os.killpg(os.getpgid(job.pid), signal.SIGKILL)
    _wait_for(lambda: not is_alive(job.pid, job.pid_start) and not is_alive(runner.get(job.id).child_pid, None))

    restarted = JobRunner(runner.runs_dir)  # as after an app restart
    assert [j.state for j in restarted.list()] == ["lost"]
    job = restarted.resume(job.id)
    assert job.resumed and job.argv[-1] == "--resume"
    job = restarted.wait(job.id, timeout=120)
    assert (job.state, job.exit_code) == ("succeeded", 0), restarted.log_tail(job.id, 20)
    steps = [e["step"] for e in restarted.progress(job.id) if e["event"] == "step"]
    assert steps.count(1) == 1 and steps[-1] == TINY["steps"]  # continued, not restarted from step 1
    ae = load_ae(job.output)
    with torch.no_grad():
        assert ae(torch.rand(1, 3, 32, 32)).shape == (1, 3, 32, 32)


@pytest.mark.slow
def test_cancelled_pretrain_leaves_a_resumable_checkpoint(runner: JobRunner) -> None:
    job = runner.submit("pretrain", {"data": "imgs", **TINY, "steps": 100000, "ckpt_every": 100000})
    _wait_for(lambda: any(e["event"] == "step" for e in runner.progress(job.id)))
    job = runner.cancel(job.id, wait=60)
    assert (job.state, job.exit_code) == ("cancelled", 75), runner.log_tail(job.id, 20)  # EXIT_STOPPED
    last = runner.progress(job.id)[-1]
    assert last["event"] == "done" and last["status"] == "stopped"
    assert (Path(job.run_dir) / "ckpt" / "latest.json").is_file()  # written on SIGTERM
    job = runner.resume(job.id)
    assert job.resumed and job.argv[-1] == "--resume" and job.state == "running"
    assert runner.cancel(job.id, wait=60).state == "cancelled"
