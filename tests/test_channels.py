"""Relevant channels (issue 18 items 1-3, 6): known answers for the lasso, the backward rules and the zeroing."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from sklearn.linear_model import Lasso
from tiny_zoo import build_tiny_zoo
from torch import nn

from s2s_core.analysis.dataset.channel_zeroing import prediction_change, zeroing_row, zeroing_scores
from s2s_core.checkpoints import sha256_file
from s2s_core.cli import main
from s2s_core.errors import CheckpointError, ConfigError
from s2s_core.lenses.channels.lasso import fit_mu_lasso
from s2s_core.lenses.channels.lens import ChannelLens, fit_channel_weights
from s2s_core.lenses.channels.probe import ChannelProbe, pooled_responses
from s2s_core.lenses.channels.store import ChannelWeights, load_channel_weights, save_channel_weights
from s2s_core.lenses.gradient.lens import gradient_heatmap
from s2s_core.zoo import Zoo


@pytest.fixture(scope="module")
def tiny_zoo(tmp_path_factory) -> Path:
    return build_tiny_zoo(tmp_path_factory.mktemp("zoo") / "tiny", evaluate=False)


class OneChannelNet(nn.Module):
    """Decides on ONE known channel: layer ``body.1`` (a ReLU after a 1x1 conv) has five channels copying
    G, B, R, G, B; only channel 2 (red) reaches the logits: logit_1 = 10 (mean red - 0.5), logit_0 = 0.
    A second layer (``body.3``) mixes green and blue, so the lasso has distractors there too."""

    def __init__(self) -> None:
        super().__init__()
        conv = nn.Conv2d(3, 5, 1, bias=False)
        conv.weight.data.zero_()
        for out, inp in enumerate((1, 2, 0, 1, 2)):
            conv.weight.data[out, inp] = 1.0
        mix = nn.Conv2d(5, 2, 1)
        mix.weight.data = torch.tensor([[0.3, 0.2, 0.0, 0.1, 0.0], [0.1, 0.5, 0.0, 0.0, 0.2]])[:, :, None, None]
        nn.init.zeros_(mix.bias)
        self.body = nn.Sequential(conv, nn.ReLU(inplace=True), mix, nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.body[1](self.body[0](x))
        _ = self.body[3](self.body[2](a))  # read by the probe as a layer, not used by the decision
        red = a[:, 2].mean(dim=(1, 2))
        return torch.stack([torch.zeros_like(red), 10 * (red - 0.5)], dim=1)


def _data(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    red = torch.where(y == 1, 0.6 + 0.4 * torch.rand(n, generator=g), 0.4 * torch.rand(n, generator=g))
    x = torch.rand(n, 3, 1, 1, generator=g).expand(n, 3, 8, 8).clone()
    x[:, 0] = red[:, None, None]
    return x, y


def test_the_lasso_finds_the_one_channel_the_decision_depends_on() -> None:
    net = OneChannelNet()
    x, y = _data(200)
    w = fit_channel_weights(net, "one", [(x[:100], y[:100]), (x[100:], y[100:])], 2, input_size=8)
    assert w.layer_names == ["body.1", "body.3"] and [c for _, c in w.layers] == [5, 2]
    assert w.locate(int(w.W[:, 1].abs().argmax())) == ("body.1", 2)
    assert w.W[2, 1] > 0 and w.meta["sparsity"]["channels"] == 7
    lens = ChannelLens(net, w, input_size=8)
    xt, yt = _data(40, seed=1)
    rel = lens.relevant(xt, k=1)
    assert torch.equal(rel.predicted, yt)
    assert all(names[0] == ("body.1", 2) for names, c in zip(rel.names, yt.tolist(), strict=True) if c == 1)
    # zeroing the top-1 channel of every class-1 image makes it class 0; a random other channel does not
    ones = [names if c == 1 else [] for names, c in zip(rel.names, yt.tolist(), strict=True)]
    assert lens.logits_without(xt, ones).argmax(1).eq(0).all()
    others = [[("body.1", 0)] if c == 1 else [] for c in yt.tolist()]
    assert torch.equal(lens.logits_without(xt, others).argmax(1), yt)


class IgnoringNet(OneChannelNet):
    """The same layers (the probe reads and zeroes them), but the logits read the input's red directly: no
    channel can change the decision."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _ = self.body(x)
        red = x[:, 0].mean(dim=(1, 2))
        return torch.stack([torch.zeros_like(red), 10 * (red - 0.5)], dim=1)


def _hand_weights() -> ChannelWeights:
    """W by hand: class 1 rests on channel 2 of ``body.1`` (red) alone."""
    W = torch.zeros(7, 2)
    W[2, 1] = 1.0
    return ChannelWeights("one", [("body.1", 5), ("body.3", 2)], W, torch.zeros(2), 1.0, "by hand")


def test_prediction_change_by_hand() -> None:
    drop, flip = prediction_change(torch.tensor([[0.0, math.log(3.0)], [2.0, 0.0]]),
                                   torch.tensor([[0.0, 0.0], [2.0, 0.0]]))
    assert drop == pytest.approx([0.25, 0.0]) and flip.tolist() == [1.0, 0.0]  # 3/4 -> 1/2, and no change


def test_zeroing_the_one_channel_flips_every_prediction_and_a_blind_model_shows_no_effect() -> None:
    x, y = _data(40, seed=2)
    x, y = x[y == 1], y[y == 1]  # class 1: the red channel is what the decision rests on
    items = list(range(len(y)))
    scores = zeroing_scores(ChannelLens(OneChannelNet(), _hand_weights(), input_size=8), x, y, 1, items)
    assert scores["flip_relevant"].tolist() == [1.0] * len(y) and not scores["flip_random"].any()
    assert (scores["drop_relevant"] > 0.5).all() and scores["drop_random"] == pytest.approx(0.0, abs=1e-12)
    row = zeroing_row(scores)
    assert row["flip_relevant"] == 1.0 and row["flip_random"] == 0.0 and row["top1_relevant_zeroed"] == 0.0
    assert (row["flip_diff"], row["flip_ci_low"], row["flip_ci_high"]) == (1.0, 1.0, 1.0)
    assert row["verdict"] == "hurts more than random" and row["n"] == len(y) and row["top1"] == 1.0
    blind = zeroing_row(zeroing_scores(ChannelLens(IgnoringNet(), _hand_weights(), input_size=8), x, y, 1, items))
    assert blind["drop_relevant"] == 0.0 and blind["drop_random"] == 0.0 and blind["flip_relevant"] == 0.0
    assert blind["verdict"] == "no more than random" and blind["top1_relevant_zeroed"] == 1.0


def test_mu_bounds_each_column_and_smaller_mu_is_sparser() -> None:
    rng = np.random.default_rng(0)
    X = rng.random((120, 30))
    labels = (X[:, 3] + 0.1 * rng.random(120) > 0.55).astype(int) + 2 * (X[:, 7] > 0.5)
    loose, tight = fit_mu_lasso(X, labels, 4, mu=5.0), fit_mu_lasso(X, labels, 4, mu=0.5)
    assert np.all(np.abs(tight.W).sum(axis=0) <= 0.5 + 1e-9)
    assert np.all(np.abs(loose.W).sum(axis=0) <= 5.0 + 1e-9)
    assert tight.sparsity()["nonzero"] < loose.sparsity()["nonzero"]
    chosen = fit_mu_lasso(X, labels, 4)
    assert chosen.rule.startswith("5-fold") and chosen.mu <= chosen.cv["best_mu"]
    assert len(chosen.cv["cv_error"]) == len(chosen.cv["mu_grid"]) == 30


def test_the_mu_lasso_is_the_penalised_lasso_at_the_same_l1_norm() -> None:
    """The exact path interpolation agrees with scikit-learn's coordinate-descent Lasso at a given penalty."""
    rng = np.random.default_rng(1)
    X = rng.random((80, 12))
    y = (X[:, 0] > 0.5).astype(int)
    ref = Lasso(alpha=0.01, tol=1e-12, max_iter=100000).fit(X, y.astype(float))
    mu = float(np.abs(ref.coef_).sum())
    ours = fit_mu_lasso(X, y, 2, mu=mu)
    np.testing.assert_allclose(ours.W[:, 1], ref.coef_, atol=1e-6)
    np.testing.assert_allclose(ours.intercept[1], ref.intercept_, atol=1e-6)


def test_lasso_refuses_bad_input() -> None:
    with pytest.raises(ConfigError, match="labels must lie"):
        fit_mu_lasso(np.ones((4, 3)), np.array([0, 1, 2, 5]), 3)
    with pytest.raises(ConfigError, match="positive"):
        fit_mu_lasso(np.ones((4, 3)), np.array([0, 1, 0, 1]), 2, mu=0.0)
    with pytest.raises(ConfigError, match="do not vary"):
        fit_mu_lasso(np.ones((4, 3)), np.array([0, 1, 0, 1]), 2)


def test_pooled_responses_are_l2_norms_l1_normalised_per_layer() -> None:
    a = torch.zeros(1, 2, 2, 2)
    a[0, 0] = 3.0  # norm 6
    a[0, 1, 0, 0] = 2.0  # norm 2
    fc = torch.tensor([[-1.0, 3.0]])
    out = pooled_responses([a, fc])
    assert torch.allclose(out, torch.tensor([[0.75, 0.25, 0.25, 0.75]]))
    assert torch.equal(pooled_responses([torch.zeros(1, 3)]), torch.zeros(1, 3))


# ------------------------------------------------------------------------------------- backward rules
class _Tiny(nn.Module):
    def __init__(self, stride: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, stride=stride, padding=1, bias=False)
        nn.init.constant_(self.conv.weight, 1.0)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.conv(x[:, :1])).flatten(1)


def test_the_three_relu_rules_by_hand() -> None:
    """y = relu(x) elementwise (identity 1x1 conv); d/dx of sum(v * y) with v of both signs:
    gradient v (x > 0); guided relu(v) (x > 0); DeconvNet relu(v) wherever x is."""
    net = nn.Sequential(nn.Conv2d(1, 1, 1, bias=False), nn.ReLU(), nn.Flatten())
    nn.init.constant_(net[0].weight, 1.0)
    probe = ChannelProbe(nn.Sequential(_First(), net), input_size=2)
    x = torch.tensor([1.0, -1.0, 2.0, -2.0]).reshape(1, 1, 2, 2).expand(1, 3, 2, 2).contiguous()
    v = torch.tensor([[1.0, 1.0, -1.0, -1.0]])
    expected = {"gradient": [1, 0, -1, 0], "guided": [1, 0, 0, 0], "deconvnet": [1, 1, 0, 0]}
    for rule, want in expected.items():
        with torch.enable_grad():
            xx = x.clone().requires_grad_(True)
            out, _ = probe.run(xx, rule=rule)
            (g,) = torch.autograd.grad((out * v).sum(), xx)
        assert g[0, 0].flatten().tolist() == want, rule


class _First(nn.Module):
    def forward(self, x):
        return x[:, :1]


def test_interpolating_deconvnet_has_no_grid_artefacts_where_the_strided_one_has() -> None:
    """A stride-2 3x3 conv of ones, a uniform signal projected back: the strided transposed convolution
    paints a period-2 grid (pixels under 1, 2 or 4 kernel windows), the paper's interpolate-then-stride-1
    version is flat away from the border."""
    probe = ChannelProbe(_Tiny(stride=2), ["relu"], input_size=16)
    x = torch.full((1, 3, 16, 16), 0.5)
    spread = {}
    for rule in ("deconvnet_strided", "deconvnet"):
        with torch.enable_grad():
            xx = x.clone().requires_grad_(True)
            _, acts = probe.run(xx, record=True, rule=rule)
            (g,) = torch.autograd.grad(acts["relu"], xx, grad_outputs=torch.ones_like(acts["relu"]))
        inner = g[0, 0, 3:-3, 3:-3]
        spread[rule] = float(inner.max() - inner.min()) / float(inner.abs().max())
    assert spread["deconvnet_strided"] > 0.5
    assert spread["deconvnet"] < 1e-6


def test_probe_names_each_call_of_a_reused_relu_and_leaves_the_original_alone() -> None:
    class Reuse(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.relu = nn.ReLU(inplace=True)

        def forward(self, x):
            return self.relu(self.conv(self.relu(x - 0.5))).mean(dim=(2, 3))

    net = Reuse()
    probe = ChannelProbe(net, input_size=8)
    assert probe.names == ["relu#0", "relu#1"] and probe.widths == [3, 4]
    assert net.relu.inplace and not net.relu._forward_hooks  # the zoo's instance is untouched
    with pytest.raises(ConfigError, match="'nope' is not a layer"):
        ChannelProbe(net, ["nope"], input_size=8)
    with pytest.raises(ConfigError, match="runs 2 time"):
        ChannelProbe(net, ["relu#2"], input_size=8)
    assert ChannelProbe(net, ["relu"], input_size=8).names == ["relu#1"]  # a bare name: the last call
    with pytest.raises(ConfigError, match="unknown backward rule"):
        probe.run(torch.rand(1, 3, 8, 8), rule="lrp")


def test_gradient_heatmap_is_zero_outside_the_only_pixels_that_matter() -> None:
    net = OneChannelNet()
    x, _ = _data(4)
    heat, cls = gradient_heatmap(net, x, classes=torch.ones(4, dtype=torch.long))
    assert heat.shape == (4, 8, 8) and torch.equal(cls, torch.ones(4, dtype=torch.long))
    assert torch.allclose(heat, torch.full_like(heat, 10 / 64))  # d(10 mean red)/d red pixel


# ------------------------------------------------------------------------------------------ zoo + CLI
def test_fit_save_load_and_show_on_a_tiny_zoo(tiny_zoo: Path, tmp_path: Path, capsys) -> None:
    zoo = tmp_path / "zoo"
    shutil.copytree(tiny_zoo, zoo)
    name = "L" if (zoo / "classifiers" / "L").exists() else sorted(p.name for p in (zoo / "classifiers").iterdir())[0]
    data = next(p for p in (zoo / "data").iterdir() if p.is_dir())
    assert main(["channels", "fit", "--zoo", str(zoo), "--data", str(data), "--classifier", name, "--mu", "5"]) == 0
    out = capsys.readouterr().out
    assert "mu = 5" in out and "channels per class" in out
    w = load_channel_weights(zoo, name)
    assert w.mu == 5.0 and w.W.shape[0] == sum(c for _, c in w.layers)
    assert np.all(w.W.abs().sum(0).numpy() <= 5.0 + 1e-4)
    image = next(data.rglob("*.png"))
    png = tmp_path / "maps.png"
    assert main(["channels", "show", "--zoo", str(zoo), "--classifier", name, "--image", str(image), "--k", "2",
                 "--out", str(png)]) == 0
    assert "relevant channels" in capsys.readouterr().out and png.is_file()
    # weights of another classifier version are refused; a missing unit says how to fit it
    manifest = zoo / "channels" / name / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"files"', '"filez"', 1))
    with pytest.raises(CheckpointError):
        load_channel_weights(zoo, name)
    with pytest.raises(CheckpointError, match="s2s channels fit"):
        load_channel_weights(zoo, "nobody")
    assert main(["channels", "fit", "--zoo", str(zoo), "--data", str(tmp_path / "nothing")]) == 1
    assert main(["channels", "fit", "--zoo", str(zoo), "--data", str(data), "--classifier", "zz"]) == 1


def test_stale_weights_are_refused_after_the_classifier_changes(tiny_zoo: Path, tmp_path: Path) -> None:
    zoo = tmp_path / "zoo"
    shutil.copytree(tiny_zoo, zoo)
    z = Zoo.load(zoo)
    name = next(iter(z.classifiers))
    x = torch.rand(6, 3, z.input_size, z.input_size)
    w = fit_channel_weights(z.classifiers[name], name, [(x, torch.arange(6) % 2)], z.num_classes, mu=1.0,
                            input_size=z.input_size)
    save_channel_weights(zoo, w)
    assert load_channel_weights(zoo, name).W.shape == w.W.shape
    weights = next((zoo / z.info.classifiers[name]).glob("*.safetensors"))
    state = load_file(weights)
    key = next(iter(state))
    state[key] = state[key] + 1
    save_file(state, weights)
    m = json.loads((weights.parent / "manifest.json").read_text())
    m["files"][weights.name] = sha256_file(weights)
    (weights.parent / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(CheckpointError, match="re-run `s2s channels fit"):
        load_channel_weights(zoo, name)
