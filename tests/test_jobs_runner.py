"""The job runner with a small stand-in command (fast, no torch): queueing, restart, lost detection,
resume, cancel, failure reporting, progress and log reading, and the ``s2s jobs`` CLI."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from s2s_core.errors import ConfigError
from s2s_core.jobs.processes import is_alive, proc_start_time
from s2s_core.jobs.runner import JobRunner
from s2s_core.jobs.store import Job

# A training-like command: progress events, a checkpoint on SIGTERM, --resume from it, a failure mode.
FAKE = r'''
import json, os, signal, sys, time
run, steps, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
stop = []
signal.signal(signal.SIGTERM, signal.SIG_IGN if mode == "stubborn" else (lambda s, f: stop.append(s)))
ckpt = os.path.join(run, "ckpt", "latest.json")
start = json.load(open(ckpt))["step"] if "--resume" in sys.argv else 0
print("fake starts at", start, flush=True)
def event(f, kind, step, **kw):
    f.write(json.dumps({"event": kind, "step": step, "images": step, "loss": 1.0 / (step + 1), "time": time.time(), **kw}) + "\n")
    f.flush()
def save(step):
    os.makedirs(os.path.dirname(ckpt), exist_ok=True)
    json.dump({"step": step}, open(ckpt, "w"))
    open(os.path.join(run, "config.json"), "w").write("{}")
with open(os.path.join(run, "progress.jsonl"), "a") as f:
    for step in range(start + 1, steps + 1):
        time.sleep(0.05)
        event(f, "step", step)
        if step % 5 == 0:
            save(step)
        if stop:
            save(step)
            event(f, "done", step, status="stopped")
            sys.exit(0)
    if mode == "fail":
        event(f, "error", steps, message="loss is NaN at step %d" % steps)
        print("fake: error: diverged", file=sys.stderr)
        sys.exit(3)
    os.makedirs(os.path.join(run, "model"), exist_ok=True)
    open(os.path.join(run, "model", "manifest.json"), "w").write('{"kind": "ae"}')
    event(f, "done", steps, status="completed")
'''


@pytest.fixture()
def env(tmp_path: Path, monkeypatch):
    (tmp_path / "data" / "imgs").mkdir(parents=True)
    monkeypatch.setenv("S2S_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("S2S_DATA_ROOTS", str(tmp_path / "data"))
    monkeypatch.setenv("S2S_CHECKPOINTS_DIR", str(tmp_path / "checkpoints"))
    (tmp_path / "fake.py").write_text(FAKE)
    yield tmp_path
    for job in JobRunner(tmp_path / "runs").store.list(("running",)):  # never leave a job behind
        for pid, start in ((job.pid, job.pid_start), (job.child_pid, job.child_start)):
            if is_alive(pid, start):
                os.killpg(os.getpgid(pid), signal.SIGKILL)


def _runner(env: Path, **kw) -> JobRunner:
    script = env / "fake.py"

    def command(job: Job, resume: bool) -> list[str]:
        argv = [sys.executable, str(script), job.run_dir, str(job.params["steps"]), job.params.get("name") or "ok"]
        return argv + (["--resume"] if resume else [])

    return JobRunner(env / "runs", command=command, grace_s=kw.pop("grace_s", 5.0), **kw)


def _params(env: Path, steps: int = 3, name: str | None = None, device: str = "cpu") -> dict:
    return {"data": str(env / "data" / "imgs"), "steps": steps, "name": name, "device": device}


def _wait_for(cond, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


def test_job_succeeds_with_dir_log_progress_and_output(env: Path) -> None:
    runner = _runner(env)
    job = runner.submit("pretrain", _params(env, steps=3))
    assert job.state == "running" and job.pid and job.run_dir == str(env / "runs" / "jobs" / str(job.id))
    job = runner.wait(job.id, timeout=20)
    assert (job.state, job.exit_code, job.error) == ("succeeded", 0, None)
    assert job.output == str(Path(job.run_dir) / "model") and job.started <= job.finished
    saved = json.loads((Path(job.run_dir) / "job.json").read_text())
    assert saved["kind"] == "pretrain" and saved["params"]["steps"] == 3 and saved["argv"] == job.argv
    assert [e["step"] for e in runner.progress(job.id) if e["event"] == "step"] == [1, 2, 3]
    log = runner.log_tail(job.id, 50)
    assert any("fake starts at 0" in line for line in log) and "succeeded" in log[-1]
    assert (env / "runs" / "jobs.sqlite").is_file()


def test_failure_records_exit_code_and_error(env: Path) -> None:
    runner = _runner(env)
    job = runner.wait(runner.submit("pretrain", _params(env, steps=2, name="fail")).id)
    assert (job.state, job.exit_code, job.output) == ("failed", 3, None)
    assert job.error == "loss is NaN at step 2"


def test_two_jobs_on_one_device_run_one_after_the_other(env: Path) -> None:
    runner = _runner(env)
    a = runner.submit("pretrain", _params(env, steps=6))
    b = runner.submit("pretrain", _params(env, steps=2))
    c = runner.submit("pretrain", _params(env, steps=2, device="cuda:1"))  # another device: not queued behind a
    assert (a.state, b.state, c.state) == ("running", "queued", "running")
    # nobody calls refresh: a's supervisor starts b when a ends
    _wait_for(lambda: runner.store.get(b.id).state in ("succeeded", "failed"))
    a, b = runner.get(a.id), runner.get(b.id)
    assert a.state == b.state == "succeeded" and b.started >= a.finished


def test_new_runner_sees_past_and_running_jobs(env: Path) -> None:
    first = _runner(env)
    done = first.wait(first.submit("pretrain", _params(env, steps=1)).id)
    running = first.submit("pretrain", _params(env, steps=400))
    del first
    again = JobRunner(env / "runs")  # as after an app restart (default command table)
    states = {j.id: j.state for j in again.list()}
    assert states == {done.id: "succeeded", running.id: "running"}
    assert again.get(running.id).argv[1] == str(env / "fake.py")
    again.cancel(running.id, wait=15)
    assert again.get(running.id).state == "cancelled"


def test_sigkill_is_detected_as_lost_and_resume_continues(env: Path) -> None:
    runner = _runner(env)
    job = runner.submit("pretrain", _params(env, steps=30))
    ckpt = Path(job.run_dir) / "ckpt" / "latest.json"
    _wait_for(ckpt.exists)
    os.killpg(os.getpgid(job.pid), signal.SIGKILL)  # the supervisor and the command, as on a crash
    child = runner.get(job.id)
    _wait_for(lambda: not is_alive(child.pid, child.pid_start) and not is_alive(child.child_pid, child.child_start))
    job = next(j for j in JobRunner(env / "runs").list() if j.id == job.id)
    assert job.state == "lost" and "disappeared" in job.error
    job = runner.resume(job.id)
    assert job.resumed and job.argv[-1] == "--resume" and job.state == "running" and job.attempts == 2
    job = runner.wait(job.id, timeout=20)
    assert job.state == "succeeded"
    resumed_at = int(next(line for line in runner.log_tail(job.id, 100)[::-1] if "fake starts at" in line).split()[-1])
    assert resumed_at >= 5
    with pytest.raises(ConfigError, match="only cancelled, lost or failed"):
        runner.resume(job.id)


def test_killed_command_under_a_live_supervisor_is_lost(env: Path) -> None:
    runner = _runner(env)
    job = runner.submit("pretrain", _params(env, steps=400))
    _wait_for(lambda: runner.get(job.id).child_pid is not None)
    os.kill(runner.get(job.id).child_pid, signal.SIGKILL)
    job = runner.wait(job.id)
    assert (job.state, job.exit_code, job.error) == ("lost", -9, "killed by SIGKILL")


def test_cancel_running_queued_and_finished(env: Path) -> None:
    runner = _runner(env)
    a = runner.submit("pretrain", _params(env, steps=400))
    b = runner.submit("pretrain", _params(env, steps=400))
    assert runner.cancel(b.id).state == "cancelled"  # queued: never starts
    _wait_for(lambda: any(e["event"] == "step" for e in runner.progress(a.id)))
    a = runner.cancel(a.id, wait=15)
    assert a.state == "cancelled" and a.exit_code == 0 and a.error == "cancelled"
    assert runner.progress(a.id)[-1]["status"] == "stopped"
    assert (Path(a.run_dir) / "ckpt" / "latest.json").is_file()
    assert runner.get(b.id).started is None
    with pytest.raises(ConfigError, match="cannot cancel a cancelled job"):
        runner.cancel(a.id)
    assert runner.resume(a.id).resumed


def test_cancel_escalates_to_sigkill_after_the_grace_period(env: Path) -> None:
    runner = _runner(env, grace_s=0.5)
    job = runner.submit("pretrain", _params(env, steps=400, name="stubborn"))
    _wait_for(lambda: runner.progress(job.id))  # its SIGTERM handler is in place
    job = runner.cancel(job.id, wait=15)
    assert job.state == "cancelled" and job.exit_code == -9
    assert any("SIGKILL" in line for line in runner.log_tail(job.id, 10))


def test_progress_tolerates_a_half_written_line_and_log_tail(env: Path) -> None:
    runner = _runner(env)
    job = runner.wait(runner.submit("pretrain", _params(env, steps=2)).id)
    with (Path(job.run_dir) / "progress.jsonl").open("a") as f:
        f.write('{"event": "step", "ste')
    assert [e["event"] for e in runner.progress(job.id)] == ["step", "step", "done"]
    assert len(runner.log_tail(job.id, 2)) == 2 and runner.log_tail(job.id, 0) == []


def test_submit_validates_before_anything_runs(env: Path) -> None:
    runner = _runner(env)
    with pytest.raises(ConfigError, match="^data:"):
        runner.submit("pretrain", {"data": "/etc", "steps": 2})
    with pytest.raises(ConfigError, match="^steps:"):
        runner.submit("pretrain", _params(env, steps=0))
    assert runner.list() == []


def test_pid_reuse_is_not_mistaken_for_the_job() -> None:
    me = os.getpid()
    assert is_alive(me, proc_start_time(me)) and not is_alive(me, proc_start_time(me) - 1)
    assert not is_alive(None, None)


def test_cli_submit_list_show_cancel(env: Path, capsys, monkeypatch) -> None:
    """The CLI does not go through the browser's launch gate: it works with launching switched off."""
    from s2s_core.cli import main

    monkeypatch.setenv("S2S_JOBS_ENABLED", "0")
    monkeypatch.setenv("S2S_JOBS_TOKEN", "not-needed-here")
    runs = str(env / "runs")
    assert main(["jobs", "submit", "evaluate", "--runs", runs, "--set", "zoo=/etc"]) == 1
    assert "zoo:" in capsys.readouterr().err
    assert main(["jobs", "submit", "demo", "--runs", runs, "--set", "color=red"]) == 1
    assert "color: unknown parameter" in capsys.readouterr().err
    sets = [a for k, v in _params(env, steps=400).items() if v is not None for a in ("--set", f"{k}={v}")]
    assert main(["jobs", "submit", "pretrain", "--runs", runs, *sets]) == 0
    job = _runner(env).list()[0]
    assert f"job {job.id} (pretrain)" in capsys.readouterr().out
    assert main(["jobs", "list", "--runs", runs, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(j["id"], j["state"]) for j in listed] == [(job.id, "running")]
    assert main(["jobs", "show", str(job.id), "--runs", runs]) == 0
    assert "state: running" in capsys.readouterr().out
    assert main(["jobs", "cancel", str(job.id), "--runs", runs, "--wait", "15"]) == 0
    assert f"job {job.id}: cancelled" in capsys.readouterr().out
    assert main(["jobs", "show", "999", "--runs", runs]) == 1
    assert main(["jobs", "kinds", "demo", "--json"]) == 0
    assert "quick" in json.loads(capsys.readouterr().out)["demo"][2]["name"]


def test_built_argv_matches_the_real_commands(env: Path) -> None:
    """The flags the runner passes are the ones each ``s2s`` sub-command actually defines."""
    import argparse

    from s2s_core.cli import build_parser
    from s2s_core.jobs.roots import Roots
    from s2s_core.jobs.specs import describe_kind, s2s_command, target_of
    from s2s_core.jobs.validation import validate_params

    roots = Roots.from_env()
    unit = roots.runs / "base"
    unit.mkdir(parents=True)
    (unit / "manifest.json").write_text('{"kind": "ae"}')
    zoo = roots.runs / "zoo"
    zoo.mkdir()
    (zoo / "zoo.json").write_text("{}")
    data = str(env / "data" / "imgs")
    clf = describe_kind("finetune", roots)[0]["options"][0]
    cases = {
        "pretrain": {"data": data, "steps": 5, "ckpt_every": 2, "log_every": 1, "threads": 1, "widths": "4,8,8,8,8",
                     "depths": "1,1,1,1,1"},
        "finetune": {"data": data, "base": str(unit), "classifier": clf, "lr": "0.001"},
        "evaluate": {"zoo": str(zoo), "data": data, "limit": 8, "threads": 1},
        "demo": {"seed": 3, "quick": True, "threads": 1},
    }
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    for kind, params in cases.items():
        job = Job(id=1, kind=kind, params=validate_params(kind, params, roots), state="queued", device="cpu",
                  created=0.0, queued=0.0, run_dir=str(roots.runs / "jobs" / "1"))
        job.target = target_of(job)
        for resume in (False, True):
            argv = s2s_command(job, resume)
            assert argv[:4] == [sys.executable, "-m", "s2s_core.cli", kind]
            assert kind in commands, f"job kind {kind} has no s2s command"
            ns = parser.parse_args(argv[3:])
            if kind in ("pretrain", "finetune"):
                assert ns.out == job.run_dir and ns.resume is resume and ns.steps == job.params["steps"]
            if kind == "finetune":
                assert (ns.base, ns.classifier, ns.lr) == (str(unit), clf, 0.001)
            if kind == "evaluate":
                assert (str(ns.zoo), ns.limit, ns.threads) == (str(zoo), 8, 1)
                assert job.target == str(zoo / "results")


def test_dependent_jobs_wait_for_success_and_a_failure_cancels_the_chain(env: Path) -> None:
    runner = _runner(env)
    a = runner.submit("pretrain", _params(env, steps=2))
    b = runner.submit("pretrain", _params(env, steps=1), depends=[a.id])
    c = runner.submit("pretrain", _params(env, steps=1, device="cuda:1"), depends=[a.id, b.id])  # another device
    assert b.state == c.state == "queued" and b.depends == [a.id]
    _wait_for(lambda: runner.store.get(c.id).state == "succeeded")
    a, b, c = runner.get(a.id), runner.get(b.id), runner.get(c.id)
    assert b.started >= a.finished and c.started >= b.finished
    # a failed job cancels what waits for it, and what waits for that
    bad = runner.submit("pretrain", _params(env, steps=1, name="fail"))
    after = runner.submit("pretrain", _params(env, steps=1), depends=[bad.id])
    last = runner.submit("pretrain", _params(env, steps=1, device="cuda:1"), depends=[after.id])
    _wait_for(lambda: runner.store.get(last.id).state == "cancelled")
    assert runner.get(after.id).error == f"not started: job {bad.id}, which it depends on, ended failed"
    assert runner.get(last.id).started is None
    with pytest.raises(ConfigError, match="no such job"):
        runner.submit("pretrain", _params(env), depends=[9999])


def test_stage_jobs_are_for_reproduce_only_and_run_in_their_stage_dir(env: Path) -> None:
    from s2s_core.jobs.specs import KINDS

    stage_dir = env / "runs" / "plan" / "pretrain"
    stage_dir.mkdir(parents=True)
    (stage_dir / "stage.json").write_text("{}")
    params = {"spec": str(stage_dir / "stage.json"), "stage": "pretrain", "output": str(stage_dir / "model"),
              "device": "cpu"}
    assert "stage" not in KINDS
    with pytest.raises(ConfigError, match="submitted by s2s reproduce only"):
        JobRunner(env / "runs").submit("stage", params)
    runner = JobRunner(env / "runs", command=lambda job, resume: [sys.executable, "-c", "print('stage ran')"])
    job = runner.wait(runner.submit("stage", params, source="reproduce").id)
    assert job.state == "succeeded" and job.run_dir == str(stage_dir) and job.target == str(stage_dir / "model")
    assert "stage ran" in runner.log_tail(job.id)
    # a second attempt of the same stage shares the directory (and appends to its log)
    again = runner.wait(runner.submit("stage", params, source="reproduce").id)
    assert again.run_dir == job.run_dir and sum(line == "stage ran" for line in runner.log_tail(again.id)) == 2
    from s2s_core.jobs.specs import s2s_command

    argv = s2s_command(runner.get(job.id), False)
    assert argv[-2:] == ["run-stage", str(stage_dir / "stage.json")] and "torch.distributed.run" not in argv
    job.params["nproc"] = 4
    assert s2s_command(job, False)[1:6] == ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "4"]


def test_a_table_from_before_dependencies_gains_the_column(tmp_path: Path) -> None:
    from legacy_jobs import write_legacy_jobs_db

    from s2s_core.jobs.store import JobStore

    write_legacy_jobs_db(tmp_path / "jobs.sqlite", "pretrain", created=0)
    store = JobStore(tmp_path / "jobs.sqlite")
    assert store.get(1).depends == [] and store.get(store.insert("demo", {}, "cpu", depends=[1])).depends == [1]
