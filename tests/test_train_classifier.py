"""``s2s train-classifier`` and the shared classifier loop: units with classes, known-answer top-k, exact resume,
lr schedules, error paths, and the demo trainer on the same loop."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from s2s_core import cli
from s2s_core.checkpoints import load_classifier, read_manifest
from s2s_core.data.demo_data import CLASS_NAMES, ShapeGenerator, fixed_split, write_split_to_folder
from s2s_core.models.classifiers import Classifier
from s2s_core.runtime import RuntimeFlags
from s2s_core.train.classify import evaluate_classifier, make_schedule, train_classifier_net
from s2s_core.train.distributed import DistInfo
from s2s_core.train.progress import read_events


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("imagefolder")
    write_split_to_folder(root / "train", "val", 40, size=32)
    write_split_to_folder(root / "val", "test", 20, size=32)
    return root / "train", root / "val"


def _train_args(train: Path, val: Path, out: Path, *extra: str) -> list[str]:
    return ["train-classifier", "--arch", "lenet5", "--data", str(train), "--val", str(val), "--out", str(out),
            "--size", "32", "--batch-size", "8", "--lr", "0.05", "--threads", "1", "--device", "cpu",
            "--no-progress-bar", *extra]


def test_command_writes_a_classifier_unit_with_classes_and_val_accuracy(folders, tmp_path, capsys):
    train, val = folders
    out = tmp_path / "run"
    assert cli.main(_train_args(train, val, out, "--epochs", "2", "--name", "L")) == 0, capsys.readouterr().err
    printed = json.loads(capsys.readouterr().out)
    assert printed["steps"] == 2 * (40 // 8)
    manifest = read_manifest(out / "model")
    assert manifest["kind"] == "classifier" and manifest["arch"] == "lenet5" and manifest["name"] == "L"
    assert manifest["classes"] == sorted(CLASS_NAMES)  # label order = sorted class folders
    assert manifest["input_size"] == 32 and manifest["args"] == {"num_classes": 10}
    assert 0 <= manifest["val_top1"] <= manifest["val_top5"] <= 1 and manifest["val_images"] == 20
    assert manifest["recipe"]["optimizer"] == "sgd" and manifest["recipe"]["label_smoothing"] == 0.0
    assert manifest["runtime"]["device"] == "cpu"
    # one validation per epoch, the last one equal to the unit's
    evals = [e for e in read_events(out / "progress.jsonl") if e["event"] == "eval"]
    assert [e["step"] for e in evals] == [5, 10] and evals[-1]["val_top1"] == manifest["val_top1"]
    clf = load_classifier(out / "model")
    assert clf.spec.input_size == 32 and clf(torch.rand(2, 3, 32, 32)).shape == (2, 10)
    # re-measured on the same validation folder, the loaded unit gives the recorded accuracy
    from s2s_core.data.datasets import LabelledImageFolder

    ds = LabelledImageFolder(val, 32, crop="center", resize=round(32 / 0.875))
    again = evaluate_classifier(clf, ds, batch_size=7, flags=RuntimeFlags.for_device(torch.device("cpu")), info=DistInfo())
    assert again["top1"] == pytest.approx(manifest["val_top1"]) and again["top5"] == pytest.approx(manifest["val_top5"])


def test_command_resume_is_exact(folders, tmp_path, capsys):
    """4 epochs straight == 2 epochs, then --resume to 4 (random crops and flips, a step schedule)."""
    train, val = folders
    common = ["--set", "schedule=step", "--set", "lr_step_epochs=1", "--set", "lr_gamma=0.5", "--ckpt-every", "3"]
    assert cli.main(_train_args(train, val, tmp_path / "a", "--epochs", "4", *common)) == 0
    assert cli.main(_train_args(train, val, tmp_path / "b", "--epochs", "2", *common)) == 0
    assert cli.main(_train_args(train, val, tmp_path / "b", "--epochs", "4", "--resume", *common)) == 0, \
        capsys.readouterr().err
    a, b = load_classifier(tmp_path / "a" / "model"), load_classifier(tmp_path / "b" / "model")
    for key, value in a.state_dict().items():
        assert torch.allclose(value, b.state_dict()[key], atol=1e-6), key


class _RankedLogits(nn.Module):
    """Logits that put the true class (read from pixel 0) at rank ``label % 7`` (0 = top)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        labels = (x[:, 0, 0, 0] * 100).round().long()
        logits = torch.zeros(len(x), 10)
        for i, y in enumerate(labels.tolist()):
            order = [c for c in range(10) if c != y]
            order.insert(y % 7, y)
            logits[i, order] = torch.arange(10, 0, -1).float()
        return logits


def test_evaluate_counts_top1_and_top5_exactly_over_process_shares(monkeypatch):
    ys = list(range(10)) * 3  # ranks y % 7: top-1 for y in {0, 7}, top-5 for y % 7 < 5
    data = [(torch.full((3, 4, 4), y / 100), y) for y in ys]
    flags = RuntimeFlags.for_device(torch.device("cpu"))
    m = evaluate_classifier(_RankedLogits(), data, batch_size=4, flags=flags, info=DistInfo())
    assert m["images"] == 30
    assert m["top1"] == pytest.approx(6 / 30) and m["top5"] == pytest.approx(24 / 30)
    # each process takes every world-size-th item: the shares partition the data (no process group here, so
    # the all-reduce is the identity and each share reports its own counts)
    from s2s_core.train import classify

    monkeypatch.setattr(classify.distributed, "all_reduce_", lambda t, info, op="sum": t)
    shares = [evaluate_classifier(_RankedLogits(), data, batch_size=4, flags=flags, info=DistInfo(rank=r, world_size=3))
              for r in range(3)]
    assert [s["images"] for s in shares] == [10, 10, 10]
    assert sum(s["top1"] * s["images"] for s in shares) == pytest.approx(6)


def test_schedules_give_the_reference_learning_rates():
    def lrs(schedule: str, steps: int = 10, **kw) -> list[float]:
        opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
        sched = make_schedule(opt, schedule, steps=steps, lr=0.1, **kw)
        out = []
        for _ in range(steps):
            out.append(opt.param_groups[0]["lr"])
            opt.step()
            if sched is not None:
                sched.step()
        return out

    assert lrs("step", step_every=4, gamma=0.1) == pytest.approx([0.1] * 4 + [0.01] * 4 + [0.001] * 2)
    assert lrs("constant") == pytest.approx([0.1] * 10)
    warm = lrs("cosine", warmup=2)
    assert warm[0] == pytest.approx(0.001) and max(warm) == pytest.approx(0.1) and warm[-1] < 0.01
    one = lrs("onecycle", pct_start=0.2)
    assert one[0] == pytest.approx(0.1 / 25) and one.index(max(one)) == 1 and max(one) == pytest.approx(0.1)  # torch: peak at pct_start * steps - 1


def test_loop_resume_is_exact_with_a_one_cycle_schedule(tmp_path):
    torch.manual_seed(0)
    batches = [(torch.rand(4, 3, 16, 16), torch.randint(0, 10, (4,))) for _ in range(6)]

    def fresh() -> Classifier:
        torch.manual_seed(1)
        return Classifier.from_name("lenet5_demo")

    kw = dict(steps=6, optimizer="adamw", lr=3e-3, weight_decay=5e-4, schedule="onecycle")
    a = fresh()
    train_classifier_net(a, batches, run_dir=tmp_path / "a", **kw)
    b = fresh()
    train_classifier_net(b, batches[:3], run_dir=tmp_path / "b", **kw)  # the finite source ends at step 3
    c = Classifier.from_name("lenet5_demo")  # other weights: the checkpoint restores them
    train_classifier_net(c, batches, run_dir=tmp_path / "b", resume=True, **kw)
    for key, value in a.state_dict().items():
        assert torch.allclose(value, c.state_dict()[key], atol=1e-6), key


def test_demo_classifiers_train_on_the_shared_loop_deterministically():
    from s2s_core.demo.build import train_demo_classifier

    val = fixed_split("val", 20, seed=0, size=64)
    kw = dict(steps=3, batch_size=4, lr=3e-3, seed=5, val=val, optimizer="adamw", weight_decay=5e-4,
              schedule="onecycle")
    one, result, top1 = train_demo_classifier("resnet_demo", ShapeGenerator(size=64), **kw)
    two, _, top1_again = train_demo_classifier("resnet_demo", ShapeGenerator(size=64), **kw)
    assert result.step == 3 and top1 == top1_again and not one.training
    for key, value in one.state_dict().items():
        assert torch.equal(value, two.state_dict()[key]), key


@pytest.mark.parametrize("extra, message", [
    (["--arch", "lenet55"], "unknown classifier 'lenet55'"),
    (["--batch-size", "64"], "is more than the 40 training images"),
    (["--set", "schedule=linear"], "schedule: must be one of"),
    (["--set", "crop_scale=[0.5, 0.1]"], "crop_scale"),
])
def test_bad_settings_get_one_line(folders, tmp_path, capsys, extra, message):
    train, val = folders
    assert cli.main([*_train_args(train, val, tmp_path / "bad", "--epochs", "1"), *extra]) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_a_validation_class_unknown_to_the_training_data_is_refused(folders, tmp_path, capsys):
    train, _ = folders
    odd = tmp_path / "val"
    write_split_to_folder(odd, "test", 10, size=32)
    (odd / "circle").rename(odd / "n09999999")
    assert cli.main(_train_args(train, odd, tmp_path / "bad", "--epochs", "1")) == 1
    assert "class folder 'n09999999'" in capsys.readouterr().err


# ------------------------------------------------------------- small data sets (issue 23 items 9 and 15)


def test_the_small_preset_lies_beneath_every_explicit_setting(folders):
    from s2s_core.errors import ConfigError
    from s2s_core.train.config import ClassifierConfig, resolve_config

    train, _ = folders
    small = resolve_config(ClassifierConfig, {"data": str(train), "preset": "small"})
    assert (small.optimizer, small.lr, small.weight_decay, small.schedule, small.flip, small.crop_scale) == (
        "adam", 1e-3, 0.0, "cosine", False, [0.85, 1.0])
    mixed = resolve_config(ClassifierConfig, {"data": str(train), "lr": 0.01}, {"preset": "small"})
    assert (mixed.lr, mixed.optimizer) == (0.01, "adam")  # a file's lr wins over the preset given by a flag
    default = resolve_config(ClassifierConfig, {"data": str(train)})
    assert (default.preset, default.optimizer, default.lr, default.flip, default.crop_scale) == (
        "imagenet", "sgd", 0.1, True, [0.08, 1.0])
    with pytest.raises(ConfigError, match="preset: must be one of imagenet, small, got 'tiny'"):
        resolve_config(ClassifierConfig, {"data": str(train), "preset": "tiny"})


def test_chance_is_one_over_k_within_three_standard_errors():
    from s2s_core.train.classify import chance_warning

    # K = 10, n = 300: 0.1 + 3 * sqrt(0.1 * 0.9 / 300) = 0.1520
    assert "top-1 0.150 is at chance (1/10 = 0.100, within 0.052 on 300 images)" in chance_warning(0.15, 10, 300)
    assert chance_warning(0.153, 10, 300) is None
    assert "--preset small" in chance_warning(0.0, 2, 1000)
    assert chance_warning(None, 10, 300) is None and chance_warning(0.1, 10, 0) is None


def test_a_run_at_chance_says_so_on_stderr_in_the_log_and_in_the_unit(folders, tmp_path, capsys):
    train, val = folders
    out = tmp_path / "run"
    assert cli.main([*_train_args(train, val, out, "--epochs", "1"), "--lr", "1e-9"]) == 0
    printed, err = capsys.readouterr()
    assert json.loads(printed)["val_chance"] == 0.1
    manifest = read_manifest(out / "model")
    assert manifest["val_chance"] == 0.1 and manifest["val_top1"] <= 0.1 + 3 * (0.09 / 20) ** 0.5
    assert len(manifest["warnings"]) == 1 and "is at chance (1/10 = 0.100" in manifest["warnings"][0]
    assert err.count("warning: validation top-1") == 1  # a sane loss near log 10: no loss warning
    warned = [e for e in read_events(out / "progress.jsonl") if e["event"] == "warning"]
    assert [e["message"] for e in warned] == manifest["warnings"]


def test_the_preset_is_documented_in_the_help():
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices["train-classifier"]
    preset = next(a for a in sub._actions if "--preset" in a.option_strings)
    assert preset.choices == ("imagenet", "small")
    assert "optimizer adam, lr 0.001" in preset.help and "flip False" in preset.help


class _HugeLogits(nn.Module):
    """A 3-class classifier whose logits are about 1e9 (as a randomly initialised torchvision inception_v3's
    are about 1e11 in eval mode): cross-entropy in the 1e9s, log 3 = 1.1 for a sane start."""

    def __init__(self) -> None:
        super().__init__()
        from types import SimpleNamespace

        self.spec = SimpleNamespace(num_classes=3)
        self.linear = nn.Linear(3, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.mean((2, 3))) * 1e9


def test_an_absurd_loss_is_warned_about_once_naming_the_likely_cause(tmp_path, capsys):
    from s2s_core.models.segnet import SegNet
    from s2s_core.train.finetune import finetune_ae

    torch.manual_seed(0)
    batches = [(torch.rand(2, 3, 32, 32), torch.tensor([0, 2]))] * 4
    result = train_classifier_net(_HugeLogits(), batches, steps=4, lr=1e-12, run_dir=tmp_path / "clf")
    tuned = finetune_ae(SegNet([4], [1]), _HugeLogits(), batches, steps=3, run_dir=tmp_path / "ft")
    err = capsys.readouterr().err
    for run, res in ((tmp_path / "clf", result), (tmp_path / "ft", tuned)):
        assert len(res.warnings) == 1 and "times the 1.1 a sane start gives" in res.warnings[0]
        assert "randomly initialised" in res.warnings[0] and "normalised" in res.warnings[0]
        assert [e["step"] for e in read_events(run / "progress.jsonl") if e["event"] == "warning"] == [1]
    assert err.count("warning: the training loss is") == 2  # once per run, not once per step
    sane = train_classifier_net(Classifier.from_name("lenet5", num_classes=3), batches, steps=2, lr=1e-3)
    assert sane.warnings == []
