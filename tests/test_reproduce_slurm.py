"""``s2s reproduce --backend slurm``: a plan's stages as Slurm jobs chained by ``--dependency=afterok``.

The plan's ``resources`` (checked like the queue's Slurm fields), the ``sbatch`` options a stage with upstream
stages gets, and, on the real two-node Slurm of :mod:`test_jobs_slurm` (same fixture), a tiny ImageNet-shaped
plan run end to end: pre-training on both nodes through srun + torchrun, each stage's record carrying its Slurm
job id and nodes, ``--status``, a second run that skips everything, and a failing stage whose dependants
Slurm cancels.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml
from test_jobs_slurm import slurm  # noqa: F401  (the module-scoped two-node Slurm)
from test_reproduce import _tiny_imagenet, _toy_plan

from s2s_core import cli
from s2s_core.errors import ConfigError
from s2s_core.jobs.local_slurm import LocalSlurm
from s2s_core.jobs.runner import JobRunner
from s2s_core.jobs.slurm import sbatch_options
from s2s_core.jobs.store import Job
from s2s_core.reproduce.plan import load_plan

pytestmark = pytest.mark.timeout(900)


def _one_classifier_plan(tmp: Path, **extra) -> Path:
    """The toy rehearsal plan with LeNet-5 only (five stages), plus ``extra`` top-level keys."""
    path = _toy_plan(tmp, _tiny_imagenet(tmp / "data" / "imagenet"))
    plan = yaml.safe_load(path.read_text())
    del plan["classifiers"]["R"]
    plan.update(extra)
    path.write_text(yaml.safe_dump(plan, sort_keys=False))
    return path


def test_resources_come_from_default_kind_and_stage_and_are_checked(tmp_path: Path, capsys) -> None:
    path = _one_classifier_plan(tmp_path, backend="slurm", resources={
        "default": {"time_limit": "30", "cpus_per_node": 2, "partition": "debug"},
        "finetune": {"time_limit": "1:00:00"}, "pretrain": {"nodes": 2, "gpus_per_node": 1}})
    plan = load_plan(path, tmp_path / "runs")
    res = {s.name: s.resources for s in plan.stages}
    assert plan.backend == "slurm"
    assert res["pretrain"] == {"time_limit": "30", "cpus_per_node": 2, "partition": "debug", "nodes": 2,
                               "gpus_per_node": 1}
    assert res["finetune-L"]["time_limit"] == "1:00:00" and res["zoo"]["time_limit"] == "30"
    assert cli.main(["reproduce", str(path), "--dry-run", "--runs", str(tmp_path / "runs")]) == 0
    assert "on Slurm: time_limit=30 cpus_per_node=2 partition=debug nodes=2 gpus_per_node=1" in capsys.readouterr().out
    raw = yaml.safe_load(path.read_text())
    for resources, message in [({"zoo": {"nodes": 2}}, "only training stages may ask for nodes > 1"),
                               ({"default": {"time_limit": "90m"}}, "resources.default: time_limit: '90m'"),
                               ({"default": {"partition": "a;b"}}, "resources.default: partition"),
                               ({"train": {"nodes": 1}}, "'train' is no stage or stage kind"),
                               ({"default": {"colour": 1}}, "unknown key 'colour'")]:
        path.write_text(yaml.safe_dump({**raw, "resources": resources}))
        with pytest.raises(ConfigError, match=message):
            load_plan(path, tmp_path / "runs")
    path.write_text(yaml.safe_dump({**raw, "backend": "cloud"}))
    with pytest.raises(ConfigError, match="backend: 'cloud'"):
        load_plan(path, tmp_path / "runs")


def test_a_stage_after_others_waits_for_them_in_slurm_and_dies_with_them(tmp_path: Path) -> None:
    job = Job(id=7, kind="stage", params={"nodes": 1, "time_limit": "10"}, device="slurm:default",
              run_dir=str(tmp_path), state="queued", created=0.0, queued=0.0)
    opts = sbatch_options(job, ["101", "102"])
    assert opts[-2:] == ["--dependency=afterok:101:102", "--kill-on-invalid-dep=yes"]
    assert not any(o.startswith("--dependency") for o in sbatch_options(job))


def _jobs_by_stage(runner: JobRunner) -> dict[str, Job]:
    by: dict[str, Job] = {}
    for job in runner.store.list():  # newest first
        by.setdefault(job.params["stage"], job)
    return by


@pytest.mark.slow
def test_the_plan_runs_through_slurm_skips_when_done_and_a_failure_cancels_its_dependants(
        slurm: LocalSlurm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # noqa: F811
    monkeypatch.setenv("SLURM_CONF", str(slurm.conf))
    monkeypatch.setenv("S2S_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("S2S_DATA_ROOTS", str(tmp_path / "data"))
    monkeypatch.setenv("S2S_CHECKPOINTS_DIR", str(tmp_path / "checkpoints"))
    monkeypatch.setenv("S2S_THREADS", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    plan_file = _one_classifier_plan(tmp_path, resources={
        "default": {"time_limit": "10", "cpus_per_node": 1}, "pretrain": {"nodes": 2}})
    runs = tmp_path / "runs"
    names = ["pretrain", "train-L", "finetune-L", "zoo", "evaluate"]

    start = time.monotonic()
    code = cli.main(["reproduce", str(plan_file), "--runs", str(runs), "--backend", "slurm", "--wait", "600"])
    first = time.monotonic() - start
    out = capsys.readouterr()
    runner = JobRunner(runs)
    jobs = _jobs_by_stage(runner)
    assert code == 0, out.err + "\n".join(runner.log_tail(jobs["pretrain"].id, 40))
    assert sorted(jobs) == sorted(names)
    assert all(j.backend == "slurm" and j.slurm_id and j.state == "succeeded" for j in jobs.values())
    # the chain is Slurm's: finetune-L waited for pre-training and train-L through afterok
    log = (runs / "rehearsal" / "finetune-L" / "log.txt").read_text()
    assert (f"--dependency=afterok:{jobs['pretrain'].slurm_id}:{jobs['train-L'].slurm_id} "
            "--kill-on-invalid-dep=yes") in log
    for name in names:
        record = json.loads((runs / "rehearsal" / ("zoo-stage" if name == "zoo" else "evaluate-stage"
                                                   if name == "evaluate" else name) / "stage-record.json").read_text())
        assert record["slurm"]["job_id"] == jobs[name].slurm_id
    pre = json.loads((runs / "rehearsal" / "pretrain" / "stage-record.json").read_text())
    assert pre["slurm"]["nodes"] == "s2s[1-2]" and pre["runtime"]["world_size"] == 2  # torchrun on both nodes
    assert (runs / "rehearsal" / "zoo" / "results" / "accuracy.csv").is_file()

    assert cli.main(["reproduce", str(plan_file), "--runs", str(runs), "--status"]) == 0
    status = capsys.readouterr().out
    for name in names:
        assert f"{name:<16} {'done':<10} job {jobs[name].id} slurm {jobs[name].slurm_id}" in status

    # a second run finds every stage up to date
    start = time.monotonic()
    assert cli.main(["reproduce", str(plan_file), "--runs", str(runs), "--backend", "slurm", "--wait", "60"]) == 0
    second = time.monotonic() - start
    assert "every stage is up to date" in capsys.readouterr().out
    assert len(runner.store.list()) == len(names)

    # a stage that fails: Slurm cancels the stages after it, the ones before it stay done
    edited = yaml.safe_load(plan_file.read_text())
    edited["classifiers"]["L"]["train"] = "no_such_arch"
    plan_file.write_text(yaml.safe_dump(edited, sort_keys=False))
    assert cli.main(["reproduce", str(plan_file), "--runs", str(runs), "--backend", "slurm", "--wait", "300"]) == 1
    capsys.readouterr()
    jobs = _jobs_by_stage(runner)
    assert jobs["train-L"].state == "failed"
    for name in ("finetune-L", "zoo", "evaluate"):
        assert jobs[name].state == "cancelled" and "which it depends on, ended" in jobs[name].error, jobs[name]
    assert cli.main(["reproduce", str(plan_file), "--runs", str(runs), "--status"]) == 0
    status = capsys.readouterr().out
    assert f"{'pretrain':<16} done" in status and f"{'train-L':<16} failed" in status
    assert f"{'zoo':<16} cancelled" in status
    print(f"slurm plan: first run {first:.1f} s, second run (all skipped) {second:.1f} s")


def _steps(runner: JobRunner, job_id: int) -> list[int]:
    return [e["step"] for e in runner.progress(job_id) if e["event"] == "step"]


def _wait_for(runner: JobRunner, cond, what: str, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"{what} not reached in {timeout} s"
        time.sleep(0.5)
        runner.refresh()


@pytest.mark.slow
def test_a_stage_stopped_at_its_time_limit_resumes_when_the_plan_runs_again(
        slurm: LocalSlurm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # noqa: F811
    import subprocess

    monkeypatch.setenv("SLURM_CONF", str(slurm.conf))
    monkeypatch.setenv("S2S_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("S2S_DATA_ROOTS", str(tmp_path / "data"))
    monkeypatch.setenv("S2S_CHECKPOINTS_DIR", str(tmp_path / "checkpoints"))
    monkeypatch.setenv("S2S_THREADS", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    plan_file = _one_classifier_plan(tmp_path, resources={"default": {"time_limit": "10", "cpus_per_node": 1}})
    plan = yaml.safe_load(plan_file.read_text())
    plan["pretrain"]["set"].update(steps=1_000_000, ckpt_every=25)  # runs until Slurm stops it
    plan_file.write_text(yaml.safe_dump(plan, sort_keys=False))
    runs = tmp_path / "runs"
    runner = JobRunner(runs, grace_s=20)

    assert cli.main(["reproduce", str(plan_file), "--runs", str(runs), "--backend", "slurm"]) == 0
    capsys.readouterr()
    pre = _jobs_by_stage(runner)["pretrain"]
    _wait_for(runner, lambda: runner.get(pre.id).state == "running" and len(_steps(runner, pre.id)) >= 30,
              "30 pre-training steps")
    # Slurm limits are whole minutes: lower this one below the time already run (see test_jobs_slurm)
    subprocess.run(["scontrol", "update", f"JobId={pre.slurm_id}", "TimeLimit=0"], check=True, capture_output=True)
    pre = runner.wait(pre.id, timeout=120, poll=0.5)
    assert (pre.state, pre.slurm_state.split()[0]) == ("failed", "TIMEOUT"), runner.log_tail(pre.id, 30)
    ckpt = json.loads((runs / "rehearsal" / "pretrain" / "ckpt" / "latest.json").read_text())["step"]
    assert ckpt >= 25
    _wait_for(runner, lambda: runner.get(_jobs_by_stage(runner)["finetune-L"].id).state == "cancelled",
              "finetune-L cancelled by Slurm")
    assert cli.main(["reproduce", str(plan_file), "--runs", str(runs), "--status"]) == 0
    status = capsys.readouterr().out
    assert f"{'pretrain':<16} {'failed':<10} job {pre.id} slurm {pre.slurm_id}" in status and "TIMEOUT" in status

    # the plan again: the stopped stage is not done, and continues from its checkpoint
    assert cli.main(["reproduce", str(plan_file), "--runs", str(runs), "--backend", "slurm"]) == 0
    out = capsys.readouterr().out
    assert "pretrain         run" in out
    again = _jobs_by_stage(runner)["pretrain"]
    assert again.id != pre.id and again.run_dir == pre.run_dir
    n_before = len(_steps(runner, again.id))
    _wait_for(runner, lambda: runner.get(again.id).state == "running" and len(_steps(runner, again.id)) >= n_before + 3,
              "steps after resuming")
    assert _steps(runner, again.id)[n_before] == ckpt + 1  # continued, not restarted
    assert f"stage pretrain: resuming from {runs / 'rehearsal' / 'pretrain' / 'ckpt'}" in \
        "\n".join(runner.log_tail(again.id, 200))
    assert runner.cancel(again.id, wait=120).state == "cancelled"
