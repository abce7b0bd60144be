"""Training configuration, the plateau scheduler (Sec. 3.2) and the pickle-free training state."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from s2s_core import cli
from s2s_core.commands.train import config_from_args
from s2s_core.errors import ConfigError
from s2s_core.train.config import (
    ClassifierConfig,
    FinetuneConfig,
    PretrainConfig,
    read_config_file,
    resolve_config,
)
from s2s_core.train.loop import (
    flatten_optimizer,
    load_state,
    rng_state,
    save_state,
    set_rng_state,
    unflatten_optimizer,
)
from s2s_core.train.pretrain import PlateauScheduler

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def data_dir(tmp_path):
    d = tmp_path / "imgs"
    d.mkdir()
    return d


def test_paper_defaults(data_dir):
    cfg = resolve_config(PretrainConfig, {"data": str(data_dir)})
    assert (cfg.size, cfg.lr, cfg.momentum, cfg.optimizer) == (256, 0.01, 0.9, "sgd")
    assert (cfg.eval_every_images, cfg.lr_factor, cfg.lr_patience) == (1_000_000, 0.2, 2)
    assert cfg.data == [str(data_dir)]


@pytest.mark.parametrize(("layer", "words"), [
    ({"learning_rate": 0.1}, ["learning_rate", "valid keys", "lr"]),
    ({"lr": -0.1}, ["lr", "positive"]),
    ({"size": 100}, ["size", "multiple of 32"]),
    ({"size": 38, "widths": [16, 32, 64], "depths": [1, 1, 1]}, ["size: 38", "multiple of 8", "try 40"]),
    ({"widths": [16, 32, 64], "depths": [1, 1]}, ["widths/depths", "one depth per stage"]),
    ({"widths": [], "depths": []}, ["widths/depths"]),
    ({"steps": 0}, ["steps", "positive"]),
    ({"widths": [8, 16]}, ["widths"]),
    ({"lr": "fast"}, ["lr", "invalid"]),
    ({"heldout": "/no/such/dir"}, ["heldout", "does not exist"]),
    ({"augment": {"rotate": 5}}, ["augment", "rotate"]),
])
def test_bad_values_rejected_with_the_key_named(data_dir, layer, words):
    with pytest.raises(ConfigError) as err:
        resolve_config(PretrainConfig, {"data": str(data_dir)}, layer)
    for w in words:
        assert w in str(err.value)


def test_any_stage_count_with_its_own_size_rule(data_dir):
    """A 3-stage A_S (the demo's layout) at 32 px leaves a 4x4 bottleneck; 1 stage needs only even sizes."""
    cfg = resolve_config(PretrainConfig, {"data": str(data_dir), "widths": [16, 32, 64], "depths": [1, 1, 1],
                                          "size": 32})
    assert (cfg.widths, cfg.depths, cfg.size) == ([16, 32, 64], [1, 1, 1], 32)
    assert resolve_config(PretrainConfig, {"data": str(data_dir), "widths": [4], "depths": [1], "size": 6}).size == 6


def test_missing_data_dir_rejected():
    with pytest.raises(ConfigError, match="data: '/no/such/images' does not exist"):
        resolve_config(PretrainConfig, {"data": "/no/such/images"})


def test_finetune_validation(tmp_path):
    with pytest.raises(ConfigError, match="base"):
        resolve_config(FinetuneConfig, {"data": str(tmp_path), "classifier": "lenet5_demo"})
    (tmp_path / "manifest.json").write_text("{}")
    with pytest.raises(ConfigError, match="train: must be decoder, encoder or both"):
        resolve_config(FinetuneConfig, {"base": str(tmp_path), "classifier": "x", "data": str(tmp_path), "train": "all"})
    cfg = resolve_config(FinetuneConfig, {"base": str(tmp_path), "classifier": "x", "data": str(tmp_path)})
    assert (cfg.train, cfg.optimizer, cfg.lr, cfg.recon_weight) == ("decoder", "adam", 1e-4, 0.0)


def test_yaml_then_set_then_flags(tmp_path, data_dir):
    yml = tmp_path / "p.yaml"
    yml.write_text(f"data: {data_dir}\nlr: 0.5\nsteps: 7\nsize: 64\nwidths: [8, 16, 16, 32, 32]\n")
    args = cli.build_parser().parse_args(
        ["pretrain", "--config", str(yml), "--set", "lr=0.25", "--set", "depths=[1,1,1,1,1]", "--steps", "9"])
    cfg = config_from_args(PretrainConfig, args)
    assert (cfg.lr, cfg.steps, cfg.size, cfg.widths, cfg.depths) == (0.25, 9, 64, [8, 16, 16, 32, 32], [1, 1, 1, 1, 1])


def test_cli_reports_bad_config_as_one_line(tmp_path, data_dir, capsys):
    yml = tmp_path / "p.yaml"
    yml.write_text(f"data: {data_dir}\nbogus: 1\n")
    assert cli.main(["pretrain", "--config", str(yml)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "unknown configuration key 'bogus'" in err
    assert cli.main(["pretrain", "--data", str(data_dir), "--size", "48"]) == 1
    assert "multiple of 32" in capsys.readouterr().err


def test_plateau_matches_reduce_lr_on_plateau_patience_1():
    """"lr x 0.2 if the loss does not improve after two consecutive checks" == ReduceLROnPlateau(patience=1)."""
    losses = [1.0, 0.9, 0.95, 0.91, 0.8, 0.85, 0.81, 0.82, 0.83, 0.7, 0.75, 0.75, 0.75]
    p1, p2 = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
    ours_opt, ref_opt = torch.optim.SGD([p1], lr=0.01), torch.optim.SGD([p2], lr=0.01)
    ours = PlateauScheduler(ours_opt, factor=0.2, patience=2)
    ref = torch.optim.lr_scheduler.ReduceLROnPlateau(ref_opt, factor=0.2, patience=1)
    lrs = []
    for loss in losses:
        ours.step(loss)
        ref.step(loss)
        assert ours_opt.param_groups[0]["lr"] == pytest.approx(ref_opt.param_groups[0]["lr"])
        lrs.append(ours_opt.param_groups[0]["lr"])
    # one bad check keeps the lr; the second consecutive one reduces it
    assert lrs[2] == 0.01 and lrs[3] == pytest.approx(0.002)
    assert ours.reductions == 4
    clone = PlateauScheduler(torch.optim.SGD([p1], lr=1.0))
    clone.load_state_dict(json.loads(json.dumps(ours.state_dict())))
    assert clone.state_dict() == ours.state_dict()


@pytest.mark.parametrize("kind", ["adam", "sgd"])
def test_optimizer_state_round_trips_without_pickle(tmp_path, kind):
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3) if kind == "adam" else \
        torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for _ in range(3):
        opt.zero_grad()
        model(torch.randn(4, 3)).square().sum().backward()
        opt.step()
    tensors, meta = flatten_optimizer(opt.state_dict())
    save_state(tmp_path, 3, tensors, {"optimizer": meta})
    save_state(tmp_path, 5, tensors, {"optimizer": meta})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.json", "state-000000005.json", "state-000000005.safetensors"]
    t2, m2 = load_state(tmp_path)
    opt2 = torch.optim.Adam(model.parameters()) if kind == "adam" else torch.optim.SGD(model.parameters(), lr=1.0)
    opt2.load_state_dict(unflatten_optimizer(t2, m2["optimizer"]))
    a, b = opt.state_dict(), opt2.state_dict()
    assert a["param_groups"][0]["lr"] == b["param_groups"][0]["lr"]
    for pid in a["state"]:
        for key, value in a["state"][pid].items():
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(b["state"][pid][key]))


def test_rng_state_round_trips():
    tensors, meta = rng_state()
    meta = json.loads(json.dumps(meta))
    first = (torch.rand(3), np.random.rand(2), random.random())
    set_rng_state(tensors, meta)
    second = (torch.rand(3), np.random.rand(2), random.random())
    assert torch.equal(first[0], second[0]) and np.array_equal(first[1], second[1]) and first[2] == second[2]


@pytest.mark.parametrize(("name", "cls"), [("pretrain.yaml", PretrainConfig), ("finetune.yaml", FinetuneConfig),
                                           ("train_classifier.yaml", ClassifierConfig)])
def test_example_configs_use_only_known_keys(name, cls):
    raw = read_config_file(ROOT / "configs" / name)
    cfg = resolve_config(cls, raw, validate=False)
    assert cfg.to_dict()["steps" if "steps" in raw else "epochs"] > 0
    assert set(raw) == set(cls.keys())  # every setting is shown in the example


def test_resume_mismatch_names_the_first_differing_setting(tmp_path):
    from s2s_core.train.config import PretrainConfig, resolve_config, resume_mismatch

    (tmp_path / "d").mkdir()
    saved = resolve_config(PretrainConfig, {"data": [str(tmp_path / "d")]}).to_dict()
    same = resolve_config(PretrainConfig, saved, {"steps": 5, "device": "cpu", "threads": 1, "log_every": 2})
    assert resume_mismatch(saved, same) is None  # steps/device/threads/logging may change
    other = resolve_config(PretrainConfig, saved, {"lr": 0.5, "widths": [8, 8, 8, 8, 8]})
    assert "setting 'lr' was 0.01 when the run started but is 0.5 now" in resume_mismatch(saved, other)


def test_example_configs_are_the_defaults():
    """configs/<command>.yaml is dumped from the dataclass: with or without --config the settings are equal."""
    from s2s_core.train.config import FinetuneConfig, PretrainConfig, read_config_file
    from s2s_core.train.config_files import CONFIGS_DIR, render

    for command, cls in (("pretrain", PretrainConfig), ("finetune", FinetuneConfig)):
        path = CONFIGS_DIR / f"{command}.yaml"
        assert path.read_text() == render(command), f"regenerate: python -m s2s_core.train.config_files ({path})"
        assert read_config_file(path) == cls().to_dict()


def test_paper_configs_only_override_and_resolve(tmp_path):
    """configs/paper/*.yaml list only settings that differ from the defaults, and every key is valid."""
    from s2s_core.train.config import FinetuneConfig, PretrainConfig, read_config_file, resolve_config
    from s2s_core.train.config_files import CONFIGS_DIR

    for command, cls in (("pretrain", PretrainConfig), ("finetune", FinetuneConfig)):
        layer = read_config_file(CONFIGS_DIR / "paper" / f"{command}.yaml")
        defaults = cls().to_dict()
        assert layer and all(defaults[k] != v for k, v in layer.items()), layer
        resolve_config(cls, layer, validate=False)
