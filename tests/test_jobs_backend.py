"""The job backend setting and the Slurm backend's pure parts (no Slurm needed): cluster fields and their
validation, Slurm time limits, the state mapping, the sbatch options and batch script, the launch command
inside an allocation (checked with torchrun's and s2s's own parsers), and the job table's new columns."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from legacy_jobs import write_legacy_jobs_db

from s2s_core.errors import ConfigError
from s2s_core.jobs.roots import Roots
from s2s_core.jobs.runner import JobRunner
from s2s_core.jobs.slurm import SlurmClient, batch_script, map_state, sbatch_options
from s2s_core.jobs.slurm_step import launch_argv, stops_through_step
from s2s_core.jobs.specs import backend_from_env, describe_kind, slurm_minutes
from s2s_core.jobs.store import Job, JobStore
from s2s_core.jobs.validation import validate_params


@pytest.fixture()
def roots(tmp_path: Path) -> Roots:
    (tmp_path / "data" / "imgs").mkdir(parents=True)
    return Roots(runs=tmp_path / "runs", checkpoints=tmp_path / "ckpt", data=(tmp_path / "data",))


def _error(fn, *args, **kw) -> str:
    with pytest.raises(ConfigError) as err:
        fn(*args, **kw)
    assert "\n" not in str(err.value)
    return str(err.value)


@pytest.mark.parametrize(("text", "minutes"), [
    ("90", 90), ("1:30", 2), ("0:59", 1), ("1:30:00", 90), ("00:00:01", 1), ("30:00:00", 1800), ("2-00", 2880),
    ("1-02:03", 1563), ("1-02:03:04", 1564), (" 45 ", 45),
])
def test_slurm_time_limits_in_minutes_as_slurm_counts_them(text: str, minutes: int) -> None:
    assert slurm_minutes(text) == minutes


@pytest.mark.parametrize("text", ["90m", "1h", "", "1:60:00", "2-24", "1-2-3", "-5", "1:2:3:4", "UNLIMITED", "0",
                                  "0:00"])
def test_bad_slurm_time_limits_are_one_line(text: str) -> None:
    msg = _error(slurm_minutes, text)
    assert msg.startswith("time_limit: ")


def test_backend_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert backend_from_env({}) == "local"
    assert backend_from_env({"S2S_JOBS_BACKEND": "Slurm"}) == "slurm"
    assert _error(backend_from_env, {"S2S_JOBS_BACKEND": "k8s"}).startswith("S2S_JOBS_BACKEND: unknown job backend")
    monkeypatch.setenv("S2S_JOBS_BACKEND", "k8s")
    assert "unknown job backend" in _error(JobRunner, "runs")


def test_cluster_fields_exist_only_on_slurm(roots: Roots) -> None:
    local = validate_params("pretrain", {"data": "imgs"}, roots)
    assert "nodes" not in local and local["device"] == "cpu"
    msg = _error(validate_params, "pretrain", {"data": "imgs", "partition": "gpu"}, roots)
    assert msg == ("partition: a Slurm setting, but this queue runs jobs on this machine "
                   "(set S2S_JOBS_BACKEND=slurm to submit to Slurm)")
    v = validate_params("pretrain", {"data": "imgs"}, roots, "slurm")
    assert (v["nodes"], v["gpus_per_node"], v["device"], v["partition"], v["time_limit"]) == (1, 0, "auto", None, None)
    v = validate_params("pretrain", {"data": "imgs", "nodes": "4", "gpus_per_node": "8", "partition": "gpu-a100",
                                     "time_limit": "2-00:00:00", "account": "proj.42", "cpus_per_node": 32},
                        roots, "slurm")
    assert (v["nodes"], v["gpus_per_node"], v["partition"], v["time_limit"]) == (4, 8, "gpu-a100", "2-00:00:00")
    assert "nodes" not in [f["name"] for f in describe_kind("evaluate", roots, "slurm")]  # one node: no torchrun
    names = [f["name"] for f in describe_kind("finetune", roots, "slurm")]
    assert names[-6:] == ["nodes", "gpus_per_node", "cpus_per_node", "partition", "time_limit", "account"]
    assert [f["options"] for f in describe_kind("pretrain", roots, "slurm") if f["name"] == "device"] == \
        [["auto", "cpu", "cuda"]]


@pytest.mark.parametrize(("params", "start"), [
    ({"nodes": 0}, "nodes: 0 is below the minimum"),
    ({"gpus_per_node": -1}, "gpus_per_node: -1 is below the minimum"),
    ({"partition": "gpu;reboot"}, "partition: character(s) ;"),
    ({"partition": "-p"}, "partition: a value may not start with '-'"),
    ({"account": "a b"}, "account: 'a b' is not allowed"),
    ({"time_limit": "90m"}, "time_limit: '90m' is not a Slurm time limit"),
    ({"time_limit": "$(reboot)"}, "time_limit: character(s)"),
    ({"gpus_per_node": 2, "device": "cpu"}, "device: cpu, but gpus_per_node is 2"),
    ({"device": "cuda"}, "device: cuda needs GPUs on the compute nodes"),
    ({"device": "cuda:1"}, "device: 'cuda:1' is not allowed"),
])
def test_bad_cluster_fields_are_one_line_each(roots: Roots, params: dict, start: str) -> None:
    assert _error(validate_params, "pretrain", {"data": "imgs", **params}, roots, "slurm").startswith(start)


def _job(tmp_path: Path, **params) -> Job:
    run = tmp_path / "runs" / "jobs" / "7"
    run.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "s2s_core.cli", "pretrain", "--out", str(run), "--data", "/d", "--no-progress-bar",
            "--steps", "10", "--device", "auto"]
    return Job(id=7, kind="pretrain", params={"nodes": 1, "gpus_per_node": 0, **params}, state="running",
               device="slurm:default", created=0.0, queued=0.0, run_dir=str(run), argv=argv, backend="slurm",
               slurm_id="123")


def _progress(job: Job, *events: dict) -> None:
    with (Path(job.run_dir) / "progress.jsonl").open("a") as f:
        for ev in events:
            f.write(json.dumps(ev) + "\n")


def test_slurm_states_map_onto_ours(tmp_path: Path) -> None:
    job = _job(tmp_path)
    assert map_state("PENDING", job) == ("queued", None)
    assert map_state("CONFIGURING", job) == ("queued", None)
    assert map_state("RUNNING", job) == ("running", None)
    assert map_state("COMPLETING", job) == ("running", None)
    assert map_state("COMPLETED", job) == ("succeeded", None)
    assert map_state("CANCELLED by 0", job) == ("cancelled", "cancelled outside the queue (scancel)")
    state, error = map_state("TIMEOUT", job)
    assert state == "failed" and "time limit (TIMEOUT)" in error and "no checkpoint" in error
    (Path(job.run_dir) / "ckpt").mkdir()
    (Path(job.run_dir) / "ckpt" / "latest.json").write_text('{"step": 40}')
    assert map_state("TIMEOUT", job)[1].endswith("resume continues from its checkpoint at step 40")
    assert map_state("NODE_FAIL", job)[0] == "lost" and map_state("PREEMPTED", job)[0] == "lost"
    assert map_state("OUT_OF_MEMORY", job)[0] == "failed"
    _progress(job, {"event": "error", "step": 3, "message": "the loss became nan at step 3"})
    assert map_state("FAILED", job) == ("failed", "the loss became nan at step 3")
    _progress(job, {"event": "done", "step": 9, "status": "stopped"})
    assert map_state("COMPLETED", job)[0] == "cancelled"  # stopped by a signal nobody in the queue sent
    job.cancel_requested = 1.0
    assert map_state("FAILED", job) == ("cancelled", "cancelled")  # torchrun exits 1 after passing SIGTERM on
    assert map_state("RUNNING", job) == ("running", None)


def test_sbatch_options_and_batch_script(tmp_path: Path) -> None:
    job = _job(tmp_path, nodes=2, gpus_per_node=4, cpus_per_node=16, partition="gpu", time_limit="1:00:00",
               account="proj")
    opts = sbatch_options(job)
    run = job.run_dir
    assert opts == ["--job-name=s2s-7-pretrain", f"--chdir={run}", f"--output={run}/log.txt", "--open-mode=append",
                    "--no-requeue", "--nodes=2", "--ntasks-per-node=1", "--gpus-per-node=4", "--cpus-per-task=16",
                    "--partition=gpu", "--time=1:00:00", "--account=proj"]
    script = batch_script(job)
    assert script.startswith(f"#!{sys.executable}\n") and f"main({run!r})" in script
    compile(script, "sbatch.py", "exec")  # Python, not a shell script
    bad = _job(tmp_path / "100%")
    assert _error(sbatch_options, bad).startswith("slurm: the job directory")


def test_launch_inside_the_allocation(tmp_path: Path) -> None:
    from torch.distributed.run import get_args_parser

    from s2s_core.cli import build_parser

    job = json.loads(json.dumps(_job(tmp_path).as_dict()))
    env = {"SLURM_JOB_ID": "123", "SLURM_JOB_NUM_NODES": "1", "SLURM_JOB_NODELIST": "gpu07"}
    assert launch_argv(job, env) == job["argv"]  # one process: the command itself
    job["params"]["gpus_per_node"] = 4
    one = launch_argv(job, env, python="/py")
    assert one[:6] == ["/py", "-m", "torch.distributed.run", "--standalone", "--nnodes=1", "--nproc-per-node=4"]
    job["params"].update(nodes=3, cpus_per_node=32)
    env.update(SLURM_JOB_NUM_NODES="3", SLURM_JOB_NODELIST="gpu[07-09]")
    argv = launch_argv(job, env, head="10.0.0.7", port=29511, python="/py")
    srun = argv[:argv.index("/py")]
    assert srun == ["srun", "--nodes=3", "--ntasks=3", "--ntasks-per-node=1", "--kill-on-bad-exit=1",
                    "--cpus-per-task=32", "--gpus-per-node=4"]
    torchrun = argv[len(srun) + 3:]
    args = get_args_parser().parse_args(torchrun)  # torchrun reads exactly what we meant
    assert (args.nnodes, args.nproc_per_node, args.rdzv_backend, args.rdzv_endpoint, args.rdzv_id) == \
        ("3", "4", "c10d", "10.0.0.7:29511", "s2s-123")
    assert args.module and args.training_script == "s2s_core.cli"
    assert args.training_script_args == job["argv"][3:]
    parsed = build_parser().parse_args(args.training_script_args)  # and so does s2s pretrain
    assert parsed.command == "pretrain" and parsed.steps == 10
    assert stops_through_step("pretrain", {"nodes": 3}) and not stops_through_step("pretrain", {"nodes": 1})
    assert not stops_through_step("evaluate", {})
    evaluate = {"kind": "evaluate", "argv": [sys.executable, "-m", "s2s_core.cli", "evaluate", "/z"], "params": {}}
    assert launch_argv(evaluate, env) == evaluate["argv"]


def test_old_job_tables_get_the_new_columns(tmp_path: Path) -> None:
    db = write_legacy_jobs_db(tmp_path / "jobs.sqlite", "demo", created=1)
    store = JobStore(db)
    (old,) = store.list()
    assert (old.backend, old.slurm_id, old.slurm_state, old.state) == ("local", None, None, "succeeded")
    new = store.get(store.insert("pretrain", {}, "slurm:gpu", backend="slurm"))
    assert new.backend == "slurm"
    JobStore(db)  # opening again changes nothing


def test_missing_slurm_commands_are_one_line(roots: Roots, tmp_path: Path) -> None:
    client = SlurmClient(env={"PATH": str(tmp_path / "empty")})
    runner = JobRunner(roots=roots, backend="slurm", slurm_client=client)
    msg = _error(runner.submit, "pretrain", {"data": "imgs"})
    assert msg.startswith("slurm: scontrol not found; install Slurm's client commands")
    assert runner.store.list() == []


def test_cli_kinds_on_the_slurm_backend(capsys) -> None:
    from s2s_core.cli import main

    assert main(["jobs", "kinds", "pretrain", "--backend", "slurm", "--json"]) == 0
    fields = {f["name"]: f for f in json.loads(capsys.readouterr().out)["pretrain"]}
    assert fields["time_limit"]["help"].startswith("wall-clock limit, MM, MM:SS") and fields["nodes"]["default"] == 1
    assert main(["jobs", "kinds", "pretrain", "--backend", "local", "--json"]) == 0
    assert "nodes" not in {f["name"] for f in json.loads(capsys.readouterr().out)["pretrain"]}
