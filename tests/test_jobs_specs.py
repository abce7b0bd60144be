"""Job parameter validation (every rejection path) and the browser launch gate (s2s_core.jobs.specs)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from s2s_core.errors import ConfigError
from s2s_core.jobs.gate import GateSettings, launch_allowed, new_token, token_matches
from s2s_core.jobs.roots import Roots
from s2s_core.jobs.specs import SPECS, describe_kind
from s2s_core.jobs.validation import validate_params


@pytest.fixture()
def roots(tmp_path: Path) -> Roots:
    (tmp_path / "data" / "shapes").mkdir(parents=True)
    (tmp_path / "runs").mkdir()
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "outside").mkdir()
    return Roots(runs=tmp_path / "runs", checkpoints=tmp_path / "checkpoints", data=(tmp_path / "data",))


def _pretrain(roots: Roots, **kw) -> dict:
    return validate_params("pretrain", {"data": str(roots.data[0] / "shapes"), **kw}, roots)


def _error(fn, *args, **kw) -> str:
    with pytest.raises(ConfigError) as info:
        fn(*args, **kw)
    return str(info.value)


# ---------------------------------------------------------------------------------------------- accepted


def test_defaults_types_and_resolved_paths(roots: Roots) -> None:
    v = _pretrain(roots, steps="20", lr="0.5", batch_size=4, size=64.0)
    assert v["steps"] == 20 and v["lr"] == 0.5 and v["batch_size"] == 4 and v["size"] == 64
    assert v["data"] == str(roots.data[0] / "shapes") and v["device"] == "cpu" and v["threads"] is None
    assert set(v) == set(SPECS["pretrain"].names)


def test_relative_path_is_taken_from_the_roots(roots: Roots, monkeypatch) -> None:
    monkeypatch.chdir(roots.data[0].parent / "outside")
    v = validate_params("pretrain", {"data": "shapes"}, roots)
    assert v["data"] == str(roots.data[0] / "shapes")


def test_output_path_inside_runs_or_checkpoints(roots: Roots) -> None:
    assert validate_params("demo", {"out": str(roots.runs / "zoos" / "z1")}, roots)["out"] == str(roots.runs / "zoos" / "z1")
    assert validate_params("demo", {"out": str(roots.checkpoints / "mine")}, roots)["out"] == str(roots.checkpoints / "mine")
    assert validate_params("demo", {"quick": "true"}, roots)["quick"] is True


# -------------------------------------------------------------------------------------------- rejections


def test_absolute_path_outside_roots(roots: Roots) -> None:
    msg = _error(validate_params, "pretrain", {"data": str(roots.data[0].parent / "outside")}, roots)
    assert msg.startswith("data:") and "outside the allowed roots" in msg
    assert "outside the allowed roots" in _error(validate_params, "pretrain", {"data": "/etc"}, roots)


def test_dotdot_is_refused_even_when_it_lands_inside(roots: Roots) -> None:
    msg = _error(validate_params, "pretrain", {"data": str(roots.data[0] / "shapes" / ".." / "shapes")}, roots)
    assert msg.startswith("data:") and "'..'" in msg


def test_symlink_pointing_out_is_refused(roots: Roots) -> None:
    link = roots.data[0] / "escape"
    link.symlink_to(roots.data[0].parent / "outside", target_is_directory=True)
    msg = _error(validate_params, "pretrain", {"data": str(link)}, roots)
    assert msg.startswith("data:") and "symlink" in msg
    msg = _error(validate_params, "pretrain", {"data": "escape"}, roots)  # relative, through the root
    assert "symlink" in msg


def test_output_outside_runs_root_is_refused(roots: Roots) -> None:
    assert "outside" in _error(validate_params, "demo", {"out": str(roots.data[0] / "zoo")}, roots)
    assert "root itself" in _error(validate_params, "demo", {"out": str(roots.runs)}, roots)


def test_missing_dir_and_missing_markers(roots: Roots) -> None:
    assert "does not exist" in _error(validate_params, "pretrain", {"data": str(roots.data[0] / "nope")}, roots)
    (roots.checkpoints / "notazoo").mkdir()
    msg = _error(validate_params, "evaluate", {"zoo": str(roots.checkpoints / "notazoo"),
                                               "data": str(roots.data[0] / "shapes")}, roots)
    assert msg.startswith("zoo:") and "zoo.json" in msg


@pytest.mark.parametrize("char", list(";|&$`<>") + ["\n", "\r", "\x00", "'", "\\"])
def test_metacharacters_are_refused(roots: Roots, char: str) -> None:
    msg = _error(_pretrain, roots, name=f"run{char}x")
    assert msg.startswith("name:") and "not allowed" in msg
    msg = _error(validate_params, "pretrain", {"data": str(roots.data[0] / f"shapes{char}rm")}, roots)
    assert msg.startswith("data:") and "not allowed" in msg


def test_leading_dash_is_refused(roots: Roots) -> None:
    assert "start with '-'" in _error(_pretrain, roots, name="--resume")


@pytest.mark.parametrize(("key", "value", "words"), [
    ("steps", 0, "below the minimum"),
    ("steps", 10**8, "above the maximum"),
    ("batch_size", 5000, "above the maximum"),
    ("lr", 100.0, "above the maximum"),
    ("lr", "-1", "below the minimum"),
    ("size", 48, "multiple of 32"),
    ("threads", 0, "below the minimum"),
])
def test_out_of_range(roots: Roots, key: str, value, words: str) -> None:
    msg = _error(_pretrain, roots, **{key: value})
    assert msg.startswith(f"{key}:") and words in msg


@pytest.mark.parametrize(("key", "value"), [
    ("steps", "ten"), ("steps", 1.5), ("steps", True), ("steps", "1e3"), ("lr", "abc"), ("lr", "nan"),
    ("lr", [0.1]), ("name", 5), ("device", "tpu"), ("device", "cuda:0;ls"), ("widths", "1,2,a"),
])
def test_wrong_type_or_format(roots: Roots, key: str, value) -> None:
    assert _error(_pretrain, roots, **{key: value}).startswith(f"{key}:")


def test_wrong_bool(roots: Roots) -> None:
    assert _error(validate_params, "demo", {"quick": "maybe"}, roots).startswith("quick:")


def test_unknown_key_and_kind(roots: Roots) -> None:
    msg = _error(_pretrain, roots, shell="x")
    assert msg.startswith("shell:") and "unknown parameter" in msg
    assert _error(validate_params, "rm", {}, roots).startswith("kind:")


def test_required_field(roots: Roots) -> None:
    assert _error(validate_params, "pretrain", {}, roots).startswith("data:")
    assert _error(validate_params, "pretrain", {"data": ""}, roots).startswith("data:")


def test_classifier_must_be_registered(roots: Roots) -> None:
    unit = roots.checkpoints / "base"
    unit.mkdir()
    (unit / "manifest.json").write_text(json.dumps({"kind": "ae"}))
    params = {"base": str(unit), "data": str(roots.data[0] / "shapes")}
    msg = _error(validate_params, "finetune", {**params, "classifier": "no_such_net"}, roots)
    assert msg.startswith("classifier:") and "neither a registered classifier nor a classifier unit" in msg
    name = describe_kind("finetune", roots)[0]["options"][0]
    assert validate_params("finetune", {**params, "classifier": name}, roots)["classifier"] == name
    assert validate_params("finetune", {**params, "classifier": name}, roots)["classifier_weights"] == "DEFAULT"


def test_classifier_units_inside_the_roots_are_accepted(roots: Roots) -> None:
    """The queue takes classifier units (not only registry names), but only inside the roots; weights too."""
    base = roots.checkpoints / "base"
    base.mkdir()
    (base / "manifest.json").write_text(json.dumps({"kind": "ae"}))
    clf = roots.runs / "clf"
    clf.mkdir()
    (clf / "manifest.json").write_text(json.dumps({"kind": "classifier"}))
    params = {"base": str(base), "data": str(roots.data[0] / "shapes")}
    assert str(clf) in describe_kind("finetune", roots)[0]["options"]
    assert validate_params("finetune", {**params, "classifier": str(clf)}, roots)["classifier"] == str(clf)
    msg = _error(validate_params, "finetune", {**params, "classifier": str(base)}, roots)
    assert "not a classifier unit" in msg
    outside = roots.runs.parent / "outside" / "clf"
    outside.mkdir()
    (outside / "manifest.json").write_text(json.dumps({"kind": "classifier"}))
    assert "outside the allowed roots" in _error(validate_params, "finetune", {**params, "classifier": str(outside)},
                                                 roots)
    got = validate_params("finetune", {**params, "classifier": "resnet18", "classifier_weights": "none"}, roots)
    assert got["classifier_weights"] == "none"
    assert "not allowed" in _error(validate_params, "finetune", {**params, "classifier": "resnet18",
                                                                 "classifier_weights": "x;y"}, roots)


# ----------------------------------------------------------------------------------------- introspection


def test_describe_builds_the_form(roots: Roots) -> None:
    unit = roots.runs / "jobs" / "1" / "model"
    unit.mkdir(parents=True)
    (unit / "manifest.json").write_text(json.dumps({"kind": "ae"}))
    other = roots.runs / "jobs" / "2" / "model"
    other.mkdir(parents=True)
    (other / "manifest.json").write_text(json.dumps({"kind": "decoder"}))
    fields = {f["name"]: f for f in describe_kind("finetune", roots)}
    assert {"classifier", "base", "data", "steps", "batch_size", "lr", "device", "size", "seed"} <= set(fields)
    assert fields["base"]["options"] == [str(unit)]
    assert str(roots.data[0] / "shapes") in fields["data"]["options"]
    assert fields["steps"]["type"] == "int" and fields["steps"]["min"] == 1
    assert fields["device"]["options"][0] == "cpu" and fields["device"]["default"] == "cpu"
    assert "limit" in {f["name"] for f in describe_kind("evaluate", roots)}
    assert {"seed", "quick", "out"} <= {f["name"] for f in describe_kind("demo", roots)}


def test_roots_from_env(tmp_path: Path) -> None:
    env = {"S2S_RUNS_DIR": str(tmp_path / "r"), "S2S_DATA_ROOTS": os.pathsep.join([str(tmp_path / "a"), str(tmp_path / "b")])}
    r = Roots.from_env(env=env)
    assert r.runs == tmp_path / "r" and r.data == (tmp_path / "a", tmp_path / "b")
    assert r.checkpoints.name == "checkpoints"


# ------------------------------------------------------------------------------------------- launch gate


def test_gate_is_on_by_default_and_needs_a_token() -> None:
    s = GateSettings.from_env({})
    assert s.enabled and s.token is None and not s.configured
    assert launch_allowed(None, settings=s) == (False, "the server has no launch token")
    made = s.with_token(new_token())
    assert len(made.token) >= 40 and not made.configured
    assert launch_allowed(None, settings=made) == (False, "a launch token is required")
    assert launch_allowed(made.token, settings=made) == (True, "token accepted")
    assert new_token() != new_token()


def test_gate_env_overrides() -> None:
    for off in ("0", "false", "no", "OFF", " 0 "):
        s = GateSettings.from_env({"S2S_JOBS_ENABLED": off, "S2S_JOBS_TOKEN": "t0k"})
        ok, reason = launch_allowed("t0k", settings=s)
        assert not ok and "S2S_JOBS_ENABLED=0" in reason, off
    s = GateSettings.from_env({"S2S_JOBS_ENABLED": "1", "S2S_JOBS_TOKEN": "mine"})
    assert s.configured and s.with_token("made-by-server").token == "mine"  # the operator's token wins


def test_gate_token_checks() -> None:
    s = GateSettings.from_env({"S2S_JOBS_TOKEN": "s3cret-token"})
    assert launch_allowed(None, settings=s) == (False, "a launch token is required")
    assert launch_allowed("", settings=s) == (False, "a launch token is required")
    assert launch_allowed("wrong", settings=s) == (False, "wrong launch token")
    assert launch_allowed("s3cret-toke", settings=s)[0] is False
    assert launch_allowed("s3cret-token ", settings=s)[0] is False
    assert launch_allowed("s3cret-token", settings=s)[0] is True
    assert token_matches("s3cret-token", s) and not token_matches("x", GateSettings())
    assert "s3cret" not in repr(s)


def test_job_processes_never_see_the_token(tmp_path: Path, monkeypatch) -> None:
    """The runner strips S2S_JOBS_TOKEN from the environment of the jobs it starts."""
    import dataclasses
    import subprocess

    from s2s_core.jobs.runner import JobRunner

    seen = {}

    def fake_popen(argv, **kw):  # records what the job would get, then fails to start
        seen.update(kw["env"])
        raise OSError("not started in this test")

    monkeypatch.setenv("S2S_JOBS_TOKEN", "do-not-leak")
    monkeypatch.setattr(subprocess, "Popen", fake_popen)
    runner = JobRunner(tmp_path / "runs")
    job = runner.store.get(runner.store.insert("evaluate", {}, "cpu"))
    (tmp_path / "run").mkdir()
    runner.store.update(job.id, state="running")
    job = runner._spawn(dataclasses.replace(job, run_dir=str(tmp_path / "run")))
    assert job.state == "failed" and "do-not-leak" not in (job.error or "")
    assert seen and "S2S_JOBS_TOKEN" not in seen and seen["S2S_RUNS_DIR"] == str(tmp_path / "runs")


def test_a_three_stage_ae_at_32_px_is_a_valid_pretrain_job(roots: Roots) -> None:
    values = _pretrain(roots, widths="16,32,64", depths="1,1,1", size=32)
    assert (values["widths"], values["size"]) == ("16,32,64", 32)


@pytest.mark.parametrize(("params", "words"), [
    ({"widths": "16,32,64", "depths": "1,1,1", "size": 36}, "size: 36 is not a positive multiple of 8"),
    ({"size": 48}, "size: 48 is not a positive multiple of 32"),  # the default five stages
    ({"widths": "16,32,64"}, "one width per stage and one depth per stage"),
])
def test_pretrain_job_size_follows_the_stage_count(roots: Roots, params: dict, words: str) -> None:
    assert words in _error(_pretrain, roots, **params)


def test_a_job_kind_is_one_declaration(roots: Roots, monkeypatch) -> None:
    """A new kind is one entry in SPECS: the form's fields (and which come first), validation, the argv the queue
    runs, where its product appears and its cluster fields follow from it, with nothing else to edit."""
    from s2s_core.jobs import specs
    from s2s_core.jobs.store import Job

    word = specs.FieldSpec("word", "str", "hi", "what to print", pattern=r"[a-z]{1,9}")
    monkeypatch.setitem(specs.SPECS, "echo", specs.KindSpec(
        "echo", "print a word", (word, specs.FieldSpec("times", "int", 1, "how often", min=1, max=3)),
        argv=lambda job, resume: ["echo-word", job.params["word"]], target=lambda job: job.run_dir, main=("word",)))
    assert [(f["name"], f["main"]) for f in describe_kind("echo", roots, "local")] == [("word", True), ("times", False)]
    values = validate_params("echo", {"word": "bye", "times": "2"}, roots)
    assert values == {"word": "bye", "times": 2}
    with pytest.raises(ConfigError, match="word"):
        validate_params("echo", {"word": "rm -rf"}, roots)
    job = Job(id=1, kind="echo", params=values, state="queued", device="cpu", created=0, queued=0,
              run_dir=str(roots.runs / "jobs" / "1"))
    assert specs.s2s_command(job, False)[1:] == ["-m", "s2s_core.cli", "echo-word", "bye"]
    assert specs.target_of(job) == job.run_dir
    cluster = [f.name for f in specs.fields_for("echo", "slurm")][2:]
    assert cluster == ["gpus_per_node", "cpus_per_node", "partition", "time_limit", "account"]
