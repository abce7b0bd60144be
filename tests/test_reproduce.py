"""``s2s reproduce``: the paper's plan rehearsed end to end on the CPU at toy size through the job queue, the
skip of unchanged stages, the provenance record, the dry run's estimates, and bad plans."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from s2s_core import cli, results
from s2s_core.analysis.dataset import registry
from s2s_core.errors import ConfigError
from s2s_core.jobs.runner import JobRunner
from s2s_core.provenance import fingerprint_path, read_provenance
from s2s_core.reproduce.plan import load_plan
from s2s_core.reproduce.schedule import schedule

ROOT = Path(__file__).resolve().parents[1]
WNIDS = ["n01440764", "n02102040", "n03888257"]  # ImageNet-like class folders


def _tiny_imagenet(root: Path, per_class: tuple[int, int] = (8, 4)) -> Path:
    """A few classes of crops of the shipped photos (one photo per class), as JPEGs of varied sizes, in the
    ImageFolder layout of ImageNet (train/ and val/ with WordNet-like ids)."""
    from PIL import Image

    from s2s_core.data.demo_data import photo_library

    photos = list(photo_library().values())
    g = torch.Generator().manual_seed(0)
    for split, n in zip(("train", "val"), per_class, strict=True):
        for c, wnid in enumerate(WNIDS):
            folder = root / split / wnid
            folder.mkdir(parents=True)
            photo = photos[c]  # (3, H, W) in [0, 1]
            for i in range(n):
                h, w = (int(v) for v in torch.randint(40, 72, (2,), generator=g))
                top = int(torch.randint(0, photo.shape[1] - h, (1,), generator=g))
                left = int(torch.randint(0, photo.shape[2] - w, (1,), generator=g))
                crop = (photo[:, top:top + h, left:left + w] * 255).round().byte().permute(1, 2, 0).numpy()
                Image.fromarray(crop).save(folder / f"{wnid}_{i:05d}.JPEG", quality=90)
    return root


def _toy_plan(tmp: Path, data: Path) -> Path:
    """configs/paper.yaml with the data paths edited and every budget shrunk to a few steps; two classifiers
    trained here (LeNet-5 as in the paper, and a ResNet) instead of five, to stay within the test budget."""
    plan = yaml.safe_load((ROOT / "configs" / "paper.yaml").read_text())
    fast = {"num_workers": 0, "threads": 1, "log_every": 1}
    plan.update({
        "name": "rehearsal", "out": "rehearsal", "device": "cpu",
        "data": {"pretrain": str(data / "train"), "train": str(data / "train"), "val": str(data / "val")},
        "classifiers": {
            "L": {"train": "lenet5", "config": str(ROOT / "configs" / "train_classifier.yaml"),
                  "set": {**fast, "size": 32, "val_resize": None, "epochs": 1, "batch_size": 4, "lr": 0.01}},
            "R": {"train": "resnet_demo", "config": str(ROOT / "configs" / "train_classifier.yaml"),
                  "set": {**fast, "size": 32, "val_resize": None, "epochs": 1, "batch_size": 4, "lr": 0.01}},
        },
        "evaluate": {"set": {"batch_size": 6, "noise_grid": [0.0, 0.5, 1.0], "threads": 1}},
    })
    plan["pretrain"] = {"config": str(ROOT / "configs" / "pretrain.yaml"),
                        "set": {**fast, "widths": [4, 8, 8, 16, 16], "depths": [1, 1, 1, 1, 1], "size": 32,
                                "steps": 2, "batch_size": 2, "heldout_images": 4}}
    plan["finetune"] = {"config": str(ROOT / "configs" / "finetune.yaml"),
                        "set": {**fast, "size": 32, "steps": 2, "batch_size": 2}}
    path = tmp / "rehearsal.yaml"
    path.write_text(yaml.safe_dump(plan, sort_keys=False))
    return path


@pytest.fixture()
def queue_env(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("S2S_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("S2S_DATA_ROOTS", str(tmp_path / "data"))
    monkeypatch.setenv("S2S_CHECKPOINTS_DIR", str(tmp_path / "checkpoints"))
    monkeypatch.setenv("S2S_THREADS", "1")
    monkeypatch.setenv("S2S_JOBS_PER_DEVICE", "2")  # independent stages side by side, one thread each
    return tmp_path


@pytest.mark.slow
def test_the_paper_plan_rehearsed_on_the_cpu_then_skipped(queue_env, capsys):
    tmp = queue_env
    data = _tiny_imagenet(tmp / "data" / "imagenet")
    plan_file = _toy_plan(tmp, data)
    runs = tmp / "runs"
    start = time.monotonic()
    code = cli.main(["reproduce", str(plan_file), "--runs", str(runs), "--wait", "900"])
    first = time.monotonic() - start
    out = capsys.readouterr()
    runner = JobRunner(runs)
    jobs = runner.store.list()
    assert code == 0, out.err + "\n".join(runner.log_tail(jobs[0].id, 30))
    plan = load_plan(plan_file, runs)
    names = ["pretrain", "train-L", "train-R", "finetune-L", "finetune-R", "zoo", "evaluate"]
    assert [s.name for s in plan.stages] == names
    assert sorted(j.params["stage"] for j in jobs) == sorted(names) and all(j.state == "succeeded" for j in jobs)
    by_stage = {j.params["stage"]: j for j in jobs}
    assert by_stage["finetune-L"].depends == [by_stage["pretrain"].id, by_stage["train-L"].id]
    # every results file of the paper: Tables 1-2 and the data of Figs. 3-5 and 8-9 ...
    zoo = runs / "rehearsal" / "zoo"
    for key in registry.default_tables():  # s2s evaluate without --only (not the opt-in feature inversion)
        spec = results.spec(key)
        assert (zoo / "results" / spec.filename).is_file() or spec.needs, key  # no masks, no W here
    acc = pd.read_csv(zoo / "results" / "accuracy.csv")
    assert set(acc.classifier) == {"L", "R"} and acc.top1.between(0, 1).all() and len(acc) == 2 * 4  # x, A_S, A_L, A_R
    # ... and Figs. 6-7 (RRC, concepts, lattice) from Table 2
    assert cli.main(["signal-order", str(zoo / "results" / "cross_accuracy.csv"), "--json"]) == 0
    assert set(json.loads(capsys.readouterr().out)) >= {"rrc", "concepts", "edges", "intervals"}
    # the zoo carries the provenance of every stage, in plan order, with the hashes of what each produced
    prov = read_provenance(zoo)
    assert [r["stage"] for r in prov["stages"]] == names
    for rec in prov["stages"]:
        assert rec["command"][0] == "s2s" and rec["started"] <= rec["finished"] and rec["code_version"]
        assert rec["output"]["hash"] == fingerprint_path(rec["output"]["path"])
        assert all(v["hash"] for v in rec["inputs"].values())
    pre = prov["stages"][0]
    assert pre["config"]["steps"] == 2 and pre["runtime"]["device"] == "cpu" and "autocast_bf16" in pre["runtime"]
    assert prov["stages"][1]["inputs"]["data"]["path"] == str(data / "train")
    clf = json.loads((runs / "rehearsal" / "train-L" / "model" / "manifest.json").read_text())
    assert clf["classes"] == WNIDS and clf["val_images"] == 12

    # a second run finds every stage up to date and queues nothing
    start = time.monotonic()
    assert cli.main(["reproduce", str(plan_file), "--runs", str(runs), "--wait", "60"]) == 0
    second = time.monotonic() - start
    assert "every stage is up to date" in capsys.readouterr().out
    assert len(runner.store.list()) == len(jobs)
    # an edited stage runs again, and so does everything after it
    edited = yaml.safe_load(plan_file.read_text())
    edited["classifiers"]["R"]["set"]["lr"] = 0.02
    plan_file.write_text(yaml.safe_dump(edited, sort_keys=False))
    decisions = schedule(load_plan(plan_file, runs), None, dry_run=True)
    assert [d["stage"] for d in decisions if d["action"].startswith("run")] == ["train-R", "finetune-R", "zoo", "evaluate"]
    print(f"rehearsal: first run {first:.1f} s, second run (all skipped) {second:.1f} s")


def test_dry_run_of_the_paper_plan_prints_commands_and_marked_estimates(tmp_path, capsys):
    assert cli.main(["reproduce", str(ROOT / "configs" / "paper.yaml"), "--dry-run", "--runs", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "s2s train-classifier --config" in text and "--arch lenet5" in text and "torchvision:inception_v3" in text
    assert "GPU-h (ESTIMATE)" in text and "ESTIMATES, not measurements" in text and "ASSUMED" in text
    assert not (tmp_path / "jobs.sqlite").exists()  # nothing submitted
    from s2s_core.reproduce.estimate import estimate_plan

    rows = {r["stage"]: r for r in estimate_plan(load_plan(ROOT / "configs" / "paper.yaml", tmp_path, check_data=False))}
    # counted FLOPs: pre-training = 3 x a VGG16-BN SegNet forward at 256 px, 92 million images (5.75M steps x 16)
    assert rows["pretrain"]["images"] == 5_750_000 * 16
    assert rows["pretrain"]["gflop_per_image"] == pytest.approx(3 * 84.8, rel=0.02)
    assert rows["finetune-V"]["gflop_per_image"] > rows["finetune-A"]["gflop_per_image"] > rows["finetune-L"]["gflop_per_image"]


@pytest.mark.parametrize("edit, message", [
    ({"colour": 1}, "unknown key 'colour'"),
    ({"data": {"train": "/x"}}, "data: give pretrain, train, val"),
    ({"classifiers": {"A": {"torchvision": "alexnet", "train": "lenet5"}}}, "exactly one of"),
    ({"classifiers": {"A_X": {"torchvision": "alexnet"}}}, "reserved"),
    ({"gpus": 0}, "gpus"),
    ({"evaluate": {"set": {"colour": 1}}}, "evaluate.set: unknown setting 'colour'"),
])
def test_bad_plans_get_one_line(tmp_path, edit, message, capsys):
    plan = yaml.safe_load((ROOT / "configs" / "paper.yaml").read_text())
    plan.update(edit)
    for key in ("pretrain", "finetune"):
        plan[key]["config"] = str(ROOT / "configs" / plan[key]["config"])
    plan["classifiers"] = {k: {**v, **({"config": str(ROOT / "configs" / v["config"])} if "config" in v else {})}
                           for k, v in plan["classifiers"].items()}
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(plan))
    with pytest.raises(ConfigError, match=message):
        load_plan(path, tmp_path, check_data=False)
    assert cli.main(["reproduce", str(path), "--dry-run", "--runs", str(tmp_path)]) == 1
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
