"""One layer-naming scheme for every command and lens, the ReLUs the channel lens reads, and default layers.

Issue 23 items 7, 14 and 16: `s2s layers`, `s2s invert`, `s2s channels fit|show` and the Lenses page name a
layer alike (its module path in the network; the wrapper's ``net.`` form means the same); the relevant-channel
lens reads functional ReLUs (torchvision's Inception v3); one classifier refused by `channels fit` does not
lose the others; default inversion layers are block outputs, except on the demo networks, whose shipped
results were computed at the old defaults.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from s2s_core.cli import main
from s2s_core.errors import ConfigError
from s2s_core.lenses.channels.lens import ChannelLens
from s2s_core.lenses.channels.probe import RULES, ChannelProbe
from s2s_core.lenses.channels.store import load_channel_weights
from s2s_core.lenses.inversion.error_map import default_layer as error_map_layer
from s2s_core.models.classifiers import Classifier
from s2s_core.models.layers import (
    default_layer,
    default_layers,
    list_layers,
    mid_layer,
    module_path,
    relu_points,
    resolve_layers,
    sweep_layers,
)
from s2s_core.zoo import ZooInfo, load_zoo_classifier

SHIPPED = Path(__file__).resolve().parents[1] / "checkpoints" / "demo"
DEMO = {"L": "lenet5_demo", "A": "alexnet_demo", "V": "vgg_demo", "R": "resnet_demo", "I": "inception_demo"}


def _copy(tiny_zoo: Path, tmp_path: Path) -> tuple[Path, Path]:
    zoo = tmp_path / "zoo"
    shutil.copytree(tiny_zoo, zoo)
    return zoo, next(p for p in (zoo / "data").iterdir() if p.is_dir())


# ---------------------------------------------------------------------------------------------- item 7
def test_every_command_names_a_layer_as_s2s_layers_prints_it(tiny_zoo, tmp_path, capsys):
    zoo, data = _copy(tiny_zoo, tmp_path)
    assert main(["layers", "--zoo", str(zoo), "--classifier", "L", "--json"]) == 0
    listed = [layer["name"] for layer in json.loads(capsys.readouterr().out)]
    assert "features.4" in listed and not any(n.startswith("net.") for n in listed)
    # the listed name and the wrapper's form are both accepted by channels fit, and stored as listed
    assert main(["channels", "fit", "--zoo", str(zoo), "--data", str(data), "--classifier", "L",
                 "--layers", "features.4,net.classifier.1", "--mu", "5"]) == 0
    stored = load_channel_weights(zoo, "L").layer_names
    assert stored == ["features.4", "classifier.1"] and set(stored) <= set(listed)
    manifest = json.loads((zoo / "channels" / "L" / "manifest.json").read_text())
    assert [d["name"] for d in manifest["args"]["layers"]] == stored
    capsys.readouterr()
    image = next(data.rglob("*.png"))
    assert main(["channels", "show", "--zoo", str(zoo), "--classifier", "L", "--image", str(image), "--k", "2"]) == 0
    shown = capsys.readouterr().out
    assert "net." not in shown and ("features.4" in shown or "classifier.1" in shown)
    # invert takes either form and records the listed one
    out = tmp_path / "inv.png"
    assert main(["invert", "--zoo", str(zoo), "--classifier", "L", "--layer", "net.features.4", "--image",
                 str(image), "--out", str(out), "--steps", "2", "--quiet"]) == 0
    assert json.loads(out.with_suffix(".json").read_text())["layers"][0]["name"] == "features.4"


def test_shipped_channel_weights_load_under_the_listed_names():
    """The demo zoo's channel units, whatever names ``s2s channels fit`` wrote on disk (the wrapper's
    ``net.features.1`` before issue 27's rebuild, the listed names since), come back as `s2s layers` prints
    them and the lens runs on them."""
    info = ZooInfo.read(SHIPPED)
    for short, network in DEMO.items():
        raw = json.loads((SHIPPED / "channels" / short / "manifest.json").read_text())["args"]["layers"]
        assert raw and all(isinstance(d["name"], str) and d["name"] for d in raw)  # what is on disk
        weights = load_channel_weights(SHIPPED, short)
        clf = Classifier.from_name(network).eval()
        assert weights.layer_names == [p.name for p in relu_points(clf, 64)]  # the lens's defaults, listed names
    lens = ChannelLens(load_zoo_classifier(info, "R"), load_channel_weights(SHIPPED, "R"))
    relevant = lens.relevant(torch.rand(2, 3, 64, 64), k=3)
    listed = {i.name for i in list_layers(lens.probe.net, 64)}
    assert all(layer in listed for row in relevant.names for layer, _ in row)


def test_module_path_accepts_the_wrapper_form_but_keeps_a_real_net_module():
    clf = Classifier.from_name("lenet5_demo")
    assert module_path(clf, "net.features.4") == module_path(clf, "features.4") == "features.4"

    class Outer(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Conv2d(3, 2, 3), nn.ReLU())

        def forward(self, x):
            return self.net(x).mean(dim=(2, 3))

    wrapper = nn.Module()
    wrapper.net = Outer()  # a classifier whose network has a module called "net"
    assert module_path(wrapper, "net.1") == "net.1"  # a module of that path exists: no prefix is taken off
    with pytest.raises(ConfigError) as err:
        module_path(clf, "features.44", label="classifier 'L' (lenet5_demo)")
    message = str(err.value)
    assert "classifier 'L' (lenet5_demo)" in message and "did you mean" in message and len(message) < 200


def test_a_call_of_a_reused_module_is_named_alike_in_both_lenses():
    clf = Classifier.from_name("resnet18").eval()
    infos = list_layers(clf, 64)
    assert resolve_layers(clf, "layer1.0.relu#1", infos=infos)[0].name == "layer1.0.relu"  # the last call
    with pytest.raises(ConfigError, match="last call"):
        resolve_layers(clf, "layer1.0.relu#0", infos=infos)
    probe = ChannelProbe(clf, ["net.layer1.0.relu#0", "layer1.0.relu"], input_size=64)
    assert probe.names == ["layer1.0.relu#0", "layer1.0.relu#1"]


# ---------------------------------------------------------------------------------------------- item 14
class _BasicConv(nn.Module):
    """torchvision's Inception ``BasicConv2d``: ``F.relu(bn(conv(x)), inplace=True)``, no nn.ReLU module."""

    def __init__(self, cin: int, cout: int, stride: int = 1, functional: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.act = None if functional else nn.ReLU(inplace=True)

    def forward(self, x):
        x = self.bn(self.conv(x))
        return F.relu(x, inplace=True) if self.act is None else self.act(x)


def _pair() -> tuple[nn.Module, nn.Module]:
    """The same network twice: with functional ReLUs and with nn.ReLU modules."""
    def make(functional: bool) -> nn.Module:
        torch.manual_seed(0)
        net = nn.Sequential(_BasicConv(3, 4, 2, functional), _BasicConv(4, 5, 1, functional),
                            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(5, 3))
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
        return net.eval()
    return make(True), make(False)


def test_functional_relus_are_read_and_backprojected_like_relu_modules():
    functional, modules = _pair()
    points = relu_points(functional, 16)
    assert [(p.name, p.pre) for p in points] == [("0", "0.bn"), ("1", "1.bn")]
    a, b = ChannelProbe(functional, input_size=16), ChannelProbe(modules, input_size=16)
    assert a.names == ["0", "1"] and b.names == ["0.act", "1.act"] and a.widths == b.widths == [4, 5]
    x = torch.rand(2, 3, 16, 16)
    assert torch.allclose(a.responses(x), b.responses(x))
    for rule in RULES:  # guided / DeconvNet replace the functional ReLU as they replace nn.ReLU
        grads = []
        for probe, layer in ((a, "1"), (b, "1.act")):
            with torch.enable_grad():
                xx = x.clone().requires_grad_(True)
                _, acts = probe.run(xx, record=True, rule=rule)
                v = torch.linspace(-1, 1, acts[layer].numel()).reshape(acts[layer].shape)
                (g,) = torch.autograd.grad((acts[layer] * v).sum(), xx)
            grads.append(g)
        assert torch.allclose(grads[0], grads[1], atol=1e-6), rule


def test_torchvision_inception_v3_reads_channels_with_the_defaults():
    clf = Classifier.from_name("inception_v3").eval()
    probe = ChannelProbe(clf, input_size=299)
    assert probe.names[:3] == ["Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3"] and len(probe.names) == 94
    listed = {i.name for i in list_layers(clf)}
    assert set(probe.names) <= listed  # the names `s2s layers` prints
    assert probe.responses(torch.rand(1, 3, 299, 299)).shape == (1, sum(probe.widths))


def test_a_network_without_relus_is_refused_in_one_short_line():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Tanh(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    with pytest.raises(ConfigError) as err:
        ChannelProbe(net, input_size=16, label="classifier 'T' (tanhnet)")
    message = str(err.value)
    assert "classifier 'T' (tanhnet)" in message and "e.g. 0, 1, 2, 3" in message and len(message) < 250


def test_channels_fit_keeps_the_others_when_one_classifier_is_refused(tiny_zoo, tmp_path, capsys):
    zoo, data = _copy(tiny_zoo, tmp_path)
    # classifier.6 is a layer of A (alexnet_demo), not of L (lenet5_demo)
    assert main(["channels", "fit", "--zoo", str(zoo), "--data", str(data), "--classifier", "L,A",
                 "--layers", "classifier.6", "--mu", "5"]) == 1
    captured = capsys.readouterr()
    refusal = next(line for line in captured.out.splitlines() if line.startswith("L: not fitted"))
    assert "classifier 'L' (lenet5_demo)" in refusal and "did you mean" in refusal and len(refusal) < 250
    assert "A: mu = 5" in captured.out and "1 of 2 classifier(s) not fitted (L)" in captured.err
    assert load_channel_weights(zoo, "A").layer_names == ["classifier.6"]
    assert not (zoo / "channels" / "L").exists()


# ---------------------------------------------------------------------------------------------- item 16
@pytest.mark.parametrize(("network", "size", "blocks", "default"), [
    ("resnet18", 64, ["layer1", "layer2", "layer3", "layer4"], "layer2"),
    ("inception_v3", 299, ["Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d",
                           "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c"], "Mixed_6c"),
    ("lenet5", 32, ["features.2", "features.5"], "features.5"),
    ("alexnet", 64, ["features.2", "features.5", "features.12"], "features.12"),
])
def test_default_inversion_layers_are_block_outputs(network, size, blocks, default):
    clf = Classifier.from_name(network).eval()
    infos = list_layers(clf, size)
    assert [i.name for i in default_layers(clf, infos)] == blocks
    assert default_layer(clf, infos).name == default
    assert error_map_layer(clf, size, infos).name == default  # the ground-truth error map inverts the same layer
    four = [i.name for i in default_layers(clf, infos, 4)]
    assert four[0] == blocks[0] and four[-1] == blocks[-1] and len(four) == min(4, len(blocks))


def test_a_users_stack_of_blocks_gives_its_block_outputs():
    """A network of the user's own: a top-level ``nn.Sequential`` of composite blocks (rule 2), not the pools."""
    def block(cin: int, cout: int) -> nn.Module:
        return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
    net = nn.Sequential()
    net.stages = nn.Sequential(block(3, 4), block(4, 8), block(8, 8))
    net.head = nn.Sequential(nn.Flatten(), nn.Linear(8 * 4 * 4, 2))
    infos = list_layers(net, 32)
    assert [i.name for i in default_layers(net, infos)] == ["stages.0", "stages.1", "stages.2"]
    assert default_layer(net, infos).name == "stages.1"


def test_the_demo_networks_keep_the_layers_their_shipped_results_used():
    """inversion.csv was computed at 4 layers swept first to last, ground_truth.csv's error map at the mid
    layer: on the demo networks the defaults are still those, so the shipped tables are what the code gives."""
    with open(SHIPPED / "results" / "inversion.csv", newline="") as f:
        shipped: dict[str, list[str]] = {}
        for row in csv.DictReader(f):
            shipped.setdefault(row["classifier"], []).append(row["layer"])
    for short, network in DEMO.items():
        clf = Classifier.from_name(network).eval()
        infos = list_layers(clf, 64)
        chosen = default_layers(clf, infos, len(shipped[short]))
        assert chosen == sweep_layers(infos, len(shipped[short]))
        assert sorted(i.name for i in chosen) == sorted(shipped[short])
        assert default_layer(clf, infos) == mid_layer(infos)
