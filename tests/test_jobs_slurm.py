"""The ``slurm`` job backend against a real Slurm on this machine (munged, slurmctld and two slurmds, i.e. two
nodes sharing this machine, started here in a temporary directory by
:class:`s2s_core.jobs.local_slurm.LocalSlurm` and stopped by pid afterwards).

Tiny ``s2s pretrain`` jobs (a 4-8 channel SegNet on six 32 px images) go through ``sbatch`` as on a cluster:
one asks for two nodes and finishes, launched by ``srun`` + ``torchrun`` on both with the rendezvous taken
from Slurm (a world of two gloo processes); one is submitted, cancelled and resumed from the dashboard's
Training jobs page, leaving a checkpoint on cancel and continuing from it; one is stopped by Slurm at its time limit (the limit is lowered with ``scontrol update`` once the
job runs, so the test does not wait a whole minute; Slurm checks limits every 30 s) and resumes from its
checkpoint. Bad settings are refused in one line before anything is recorded.

Needs Debian's ``slurm-wlm`` and ``munge`` and root; skipped without them, except under ``CI=true`` where a
Slurm that cannot start is a failure.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from s2s_core.errors import ConfigError
from s2s_core.jobs.local_slurm import LocalSlurm
from s2s_core.jobs.runner import JobRunner

APP = str(Path(__file__).resolve().parents[1] / "app.py")

TINY = {"steps": 20, "batch_size": 2, "size": 32, "widths": "4,8,8,8,8", "depths": "1,1,1,1,1", "threads": 1,
        "log_every": 1, "lr": 0.01, "cpus_per_node": 1}
LONG = {**TINY, "steps": 1_000_000, "ckpt_every": 25}

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def slurm(tmp_path_factory: pytest.TempPathFactory):
    cluster = LocalSlurm(tmp_path_factory.mktemp("slurm"))
    in_ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")
    try:
        cluster.start()
    except ConfigError as exc:
        if in_ci:
            pytest.fail(f"CI must run the Slurm tests, but Slurm did not start: {exc}")
        pytest.skip(f"no one-node Slurm here: {exc}")
    yield cluster
    cluster.stop()


@pytest.fixture()
def runner(slurm: LocalSlurm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> JobRunner:
    data = tmp_path / "data" / "imgs"
    data.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(data / f"{i}.png")
    monkeypatch.setenv("SLURM_CONF", str(slurm.conf))
    monkeypatch.setenv("S2S_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("S2S_DATA_ROOTS", str(tmp_path / "data"))
    monkeypatch.setenv("S2S_CHECKPOINTS_DIR", str(tmp_path / "checkpoints"))
    monkeypatch.setenv("S2S_JOBS_BACKEND", "slurm")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    return JobRunner(tmp_path / "runs", grace_s=20)


def _wait_for(runner: JobRunner, cond, timeout: float = 240.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"{what} not reached in {timeout} s"
        time.sleep(0.5)
        runner.refresh()


def _steps(runner: JobRunner, job_id: int) -> list[int]:
    return [e["step"] for e in runner.progress(job_id) if e["event"] == "step"]


def _ckpt_step(job) -> int:
    return json.loads((Path(job.run_dir) / "ckpt" / "latest.json").read_text())["step"]


def _running_with_steps(runner: JobRunner, job_id: int, n: int = 1):
    return lambda: runner.get(job_id).state == "running" and len(_steps(runner, job_id)) >= n


@pytest.mark.slow
def test_two_node_pretrain_runs_through_srun_and_torchrun_and_finishes(runner: JobRunner, capsys) -> None:
    from s2s_core.checkpoints import load_ae
    from s2s_core.cli import main
    from s2s_core.jobs.jobfiles import read_progress

    job = runner.submit("pretrain", {"data": "imgs", **TINY, "nodes": 2})
    assert job.backend == "slurm" and job.slurm_id and job.state == "queued" and job.device == "slurm:default"
    assert (Path(job.run_dir) / "sbatch.py").read_text().startswith("#!")
    job = runner.wait(job.id, timeout=300, poll=0.5)
    assert (job.state, job.slurm_state, job.exit_code) == ("succeeded", "COMPLETED", 0), runner.log_tail(job.id, 30)
    assert job.output == str(Path(job.run_dir) / "model") and job.started and job.finished
    log = "\n".join(runner.log_tail(job.id, 300))
    assert f"runs as Slurm job {job.slurm_id} on s2s[1-2]" in log
    assert "srun --nodes=2 --ntasks=2 --ntasks-per-node=1" in log and "--rdzv-endpoint=127.0.0.1:" in log
    steps = _steps(runner, job.id)
    assert steps[0] == 1 and steps[-1] == TINY["steps"]
    assert read_progress(Path(job.run_dir) / "progress.jsonl")[-1]["status"] == "completed"
    manifest = json.loads((Path(job.output) / "manifest.json").read_text())
    assert manifest["world_size"] == 2  # one training process on each node, in one process group
    ae = load_ae(job.output)
    assert sum(p.numel() for p in ae.parameters()) > 0

    assert main(["jobs", "show", str(job.id)]) == 0
    out = capsys.readouterr().out
    assert f"slurm_id: {job.slurm_id}" in out and "slurm_state: COMPLETED" in out and "state: succeeded" in out

    # the dashboard's view of the same job: progress bar at 100 %, loss curve, Slurm column
    from dashboard.jobs_view import job_progress, jobs_frame

    p = job_progress(job)
    assert p.fraction == 1.0 and len(p.losses) == TINY["steps"]
    assert jobs_frame([job]).loc[0, "slurm"] == f"{job.slurm_id} COMPLETED"


@pytest.mark.slow
def test_dashboard_submits_cancels_and_resumes_a_slurm_job(runner: JobRunner, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The Training jobs page on the Slurm backend: the form has the cluster fields, the job goes to sbatch, the
    list shows its Slurm id and state, the live card its progress; Cancel stops it with a checkpoint; Resume
    sends it back to Slurm and it continues from that checkpoint."""
    from streamlit import config
    from streamlit.testing.v1 import AppTest
    from tiny_zoo import build_tiny_zoo

    monkeypatch.setenv("S2S_ZOO", str(build_tiny_zoo(tmp_path / "zoo", images_per_class=1)))
    monkeypatch.setenv("S2S_JOBS_ENABLED", "1")
    monkeypatch.setenv("S2S_JOBS_GRACE_S", "20")
    monkeypatch.setenv("S2S_JOBS_TOKEN", "slurm-test-token")
    from dashboard import jobs_view

    jobs_view.server_gate.clear()  # the launch gate is made once per server process: here, with this token
    address = config.get_option("server.address")
    config.set_option("server.address", "127.0.0.1")
    try:
        at = AppTest.from_file(APP, default_timeout=120)
        at.query_params["token"] = "slurm-test-token"  # opened through the URL that unlocks launching
        at.run()
        at.switch_page("pages/jobs.py").run()
        assert not at.exception, at.exception
        assert at.selectbox(key="job_pretrain_device").options == ["auto", "cpu", "cuda"]
        at.selectbox(key="job_pretrain_data").set_value(str(tmp_path / "data" / "imgs"))
        for key, value in {"steps": LONG["steps"], "batch_size": 2, "size": 32, "threads": 1, "log_every": 1,
                           "ckpt_every": LONG["ckpt_every"], "nodes": 1, "cpus_per_node": 1}.items():
            at.number_input(key=f"job_pretrain_{key}").set_value(value)
        for key, value in {"widths": TINY["widths"], "depths": TINY["depths"], "time_limit": "30",
                           "partition": "debug"}.items():
            at.text_input(key=f"job_pretrain_{key}").set_value(value)
        next(b for b in at.button if b.label == "Submit job").click().run()
        assert not at.exception and not at.error, [e.value for e in at.error]
        assert any(s.value.startswith("Job 1 (pretrain) submitted") for s in at.success)
        job = runner.get(1)
        assert (job.backend, job.source, job.device, job.params["time_limit"]) == ("slurm", "dashboard",
                                                                                    "slurm:debug", "30")
        frame = at.dataframe[0].value
        assert frame["slurm"][0].startswith(f"{job.slurm_id} ") and frame["device"][0] == "slurm:debug"

        _wait_for(runner, _running_with_steps(runner, job.id, 30), what="30 steps")
        at.run()
        assert not at.exception
        assert at.get("progress")[0].proto.text.startswith("running · step")
        assert at.dataframe[0].value["slurm"][0] == f"{job.slurm_id} RUNNING"
        at.button(key=f"job_cancel_{job.id}").click().run()
        assert not at.exception and any(f"Stopping job {job.id}" in s.value for s in at.success)
        job = runner.wait(job.id, timeout=120, poll=0.5)
        assert job.state == "cancelled", runner.log_tail(job.id, 30)
        last = runner.progress(job.id)[-1]
        assert last["event"] == "done" and last["status"] == "stopped" and "SIGTERM" in last["message"]
        stopped_at = _ckpt_step(job)
        assert stopped_at == last["step"]  # the checkpoint was written on SIGTERM, at the step it stopped

        at.run()
        at.selectbox(key="job_pick").set_value(job.id).run()
        at.button(key=f"job_resume_{job.id}").click().run()
        assert not at.exception and any("from its last checkpoint" in s.value for s in at.success)
        job = runner.get(job.id)
        assert job.resumed and job.argv[-1] == "--resume" and job.attempts == 2 and job.state in ("queued", "running")
        n_before = len(_steps(runner, job.id))
        _wait_for(runner, _running_with_steps(runner, job.id, n_before + 3), what="steps after resuming")
        assert _steps(runner, job.id)[n_before] == stopped_at + 1  # continued, not restarted from step 1
        assert runner.cancel(job.id, wait=120).state == "cancelled"
    finally:
        config.set_option("server.address", address)
        jobs_view.server_gate.clear()


@pytest.mark.slow
def test_time_limit_stops_the_job_and_resume_continues(runner: JobRunner) -> None:
    job = runner.submit("pretrain", {"data": "imgs", **LONG, "time_limit": "10"})
    _wait_for(runner, _running_with_steps(runner, job.id, 30), what="30 steps")
    # Slurm limits are whole minutes: lower this one below the time already run, so Slurm's next limit check
    # (every 30 s) ends the job as it would after ten minutes
    subprocess.run(["scontrol", "update", f"JobId={job.slurm_id}", "TimeLimit=0"], check=True, capture_output=True)
    job = runner.wait(job.id, timeout=120, poll=0.5)
    assert (job.state, job.slurm_state.split()[0]) == ("failed", "TIMEOUT"), runner.log_tail(job.id, 30)
    assert "time limit" in job.error and "resume continues from its checkpoint" in job.error
    assert "DUE TO TIME LIMIT" in "\n".join(runner.log_tail(job.id, 100))
    ckpt = _ckpt_step(job)
    assert ckpt >= 25

    job = runner.resume(job.id)
    assert job.resumed and job.argv[-1] == "--resume"
    n_before = len(_steps(runner, job.id))
    _wait_for(runner, _running_with_steps(runner, job.id, n_before + 3), what="steps after resuming")
    assert _steps(runner, job.id)[n_before] == ckpt + 1
    assert runner.cancel(job.id, wait=120).state == "cancelled"


def test_bad_cluster_settings_are_one_line_each_and_record_nothing(runner: JobRunner, slurm: LocalSlurm,
                                                                   tmp_path: Path, capsys,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from s2s_core.cli import main

    def refused(params: dict, through: JobRunner = runner) -> str:
        with pytest.raises(ConfigError) as err:
            through.submit("pretrain", {"data": "imgs", **TINY, **params})
        msg = str(err.value)
        assert "\n" not in msg
        return msg

    assert refused({"partition": "gpu"}) == "partition: no partition 'gpu' on this cluster (it has: debug)"
    assert refused({"nodes": 3}) == "nodes: 3 asked for, but partition debug has 2 node(s)"
    assert refused({"time_limit": "90m"}).startswith("time_limit: '90m' is not a Slurm time limit")
    assert refused({"partition": "debug;rm"}).startswith("partition: character(s) ;")
    assert refused({"gpus_per_node": 1, "device": "cpu"}).startswith("device: cpu, but gpus_per_node is 1")
    assert runner.store.list() == []

    # a controller that does not answer: a copy of the configuration with another port
    bad = tmp_path / "unreachable.conf"
    conf = slurm.conf.read_text()
    port = next(ln for ln in conf.splitlines() if ln.startswith("SlurmctldPort="))
    bad.write_text(conf.replace(port, "SlurmctldPort=9"))
    monkeypatch.setenv("SLURM_CONF", str(bad))
    assert refused({}, JobRunner(runner.runs_dir)).startswith("slurm: the controller is not reachable")
    assert main(["jobs", "submit", "pretrain", "--set", "data=imgs", "--set", "steps=5"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("s2s jobs: error: slurm: the controller is not reachable") and "\n" not in err
    monkeypatch.setenv("SLURM_CONF", str(tmp_path / "missing.conf"))
    missing = refused({}, JobRunner(runner.runs_dir))
    assert missing == f"slurm: SLURM_CONF is {tmp_path / 'missing.conf'}, which does not exist"
    assert JobRunner(runner.runs_dir).store.list() == []
