"""The layers of a classifier, named by module path, and their outputs on an image (feature inversion's Φ_ℓ).

THE one naming scheme of every command and lens (``s2s layers``, ``s2s invert``, ``s2s channels fit|show``, the
Lenses page): a *layer* is any sub-module of a :class:`~s2s_core.models.classifiers.Classifier`'s network,
named by its path in ``classifier.net.named_modules()`` (``"features.3"``, ``"layer2.1.relu"``, ``"fc"``).
The path in the wrapper (``"net.features.3"``, what results written before this scheme record) is accepted
with the same meaning (:func:`module_path`). ``NAME#K`` is the K-th call (from 0) of a module that runs
several times in one pass; a bare ``NAME`` is its LAST call (torchvision's ResNet blocks reuse one ``relu``).
Its *feature* on an image is the module's output during the classifier's forward pass on that image (the
classifier's own resize and normalisation included).

Default layers live here too, so that every lens picks the same ones: :func:`default_layers` /
:func:`default_layer` (the outputs of the network's blocks, as in Mahendran & Vedaldi's figures) for feature
inversion, :func:`relu_points` (every post-ReLU response, Oramas et al.) for the relevant channels.

:func:`list_layers` runs one probe pass and reports every layer with its output shape and its depth: the
fraction of the network's leaf-module calls done when that output is complete, in (0, 1]. The last layer has
depth 1. :class:`LayerTap` captures the outputs of chosen layers and, when asked, stops the forward pass as
soon as the last of them is complete, so that inverting a mid layer never runs the rest of the network.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from s2s_core.errors import ConfigError
from s2s_core.models.demo_nets import DEMO_ENTRIES

#: Layer kinds that pass their input on unchanged at inference (left out of sweeps and default choices).
PASS_THROUGH = ("Identity", "Dropout", "Dropout2d", "Flatten")


@dataclass(frozen=True)
class LayerInfo:
    """One layer of a classifier, as seen in one forward pass on a ``(1, 3, S, S)`` image.

    Attributes:
        name: module path in ``classifier.net`` (``"features.3"``).
        kind: the module's class name (``"Conv2d"``).
        shape: output shape for one image, without the batch dimension (``(C, H, W)`` or ``(F,)``).
        leaf: whether the module has no sub-modules.
        depth: fraction of the pass's leaf-module calls done when this layer's (last) output is complete.
        calls: how many times the module runs in one pass (its last output is the layer's feature).
    """

    name: str
    kind: str
    shape: tuple[int, ...]
    leaf: bool
    depth: float
    calls: int

    @property
    def size(self) -> int:
        """Number of values in the feature of one image."""
        n = 1
        for d in self.shape:
            n *= int(d)
        return n


class _Stop(Exception):
    """Raised by a hook to end the forward pass once every wanted layer has its output."""


def _net(classifier: nn.Module) -> nn.Module:
    return getattr(classifier, "net", classifier)


def _first_tensor(out) -> torch.Tensor | None:
    if isinstance(out, torch.Tensor):
        return out
    if hasattr(out, "logits") and isinstance(out.logits, torch.Tensor):  # InceptionOutputs / GoogLeNetOutputs
        return out.logits
    return None


def list_layers(classifier: nn.Module, size: int | None = None) -> list[LayerInfo]:
    """Every layer of ``classifier`` that outputs a tensor, in the order their (last) outputs complete.

    Args:
        classifier: a :class:`~s2s_core.models.classifiers.Classifier` (or any module taking ``(B, 3, S, S)``).
        size: the probe image's side (default the classifier's ``input_size``, else 64).

    One forward pass on a zero image, without gradients. The network itself (module path ``""``) is not listed.
    """
    net = _net(classifier)
    size = int(size or getattr(getattr(classifier, "spec", None), "input_size", 64))
    modules = {name: m for name, m in net.named_modules() if name}
    leaves = {name for name, m in modules.items() if not any(True for _ in m.children())}
    done: dict[str, tuple[int, int, tuple[int, ...], int]] = {}  # name -> (leaf calls so far, event, shape, calls)
    leaf_calls = events = 0

    def hook(name: str):
        def record(_module, _inputs, out) -> None:
            nonlocal leaf_calls, events
            events += 1
            if name in leaves:
                leaf_calls += 1
            t = _first_tensor(out)
            if t is None:
                return
            calls = done[name][3] + 1 if name in done else 1
            done[name] = (leaf_calls, events, tuple(int(d) for d in t.shape[1:]), calls)
        return record

    handles = [m.register_forward_hook(hook(name)) for name, m in modules.items()]
    try:
        device = next((p.device for p in classifier.parameters()), torch.device("cpu"))
        with torch.no_grad():
            classifier(torch.zeros(1, 3, size, size, device=device))
    finally:
        for h in handles:
            h.remove()
    total = max(leaf_calls, 1)
    order = sorted(done, key=lambda n: done[n][1])  # when each layer's last output was complete
    return [LayerInfo(name=n, kind=type(modules[n]).__name__, shape=done[n][2], leaf=n in leaves,
                      depth=max(done[n][0], 1) / total, calls=done[n][3]) for n in order]


def split_call(text: str) -> tuple[str, int | None]:
    """``"layer1.0.relu#2"`` -> ``("layer1.0.relu", 2)``; ``"fc"`` -> ``("fc", None)`` (None: the last call)."""
    name, mark, call = text.strip().partition("#")
    if not mark:
        return name, None
    try:
        k = int(call)
    except ValueError:
        k = -1
    if k < 0:
        raise ConfigError(f"layer {text!r}: the part after '#' must be a call number from 0, e.g. relu#1")
    return name, k


def suggest(name: str, known: Sequence[str], count: int = 4) -> str:
    """A short hint for an unknown layer: up to ``count`` close names, else the first few known ones."""
    close = difflib.get_close_matches(name, list(known), n=count, cutoff=0.5)
    if close:
        return f"did you mean {', '.join(close)}?"
    return f"layers include {', '.join(list(known)[:count])}{', ...' if len(known) > count else ''}"


def module_path(classifier: nn.Module, text: str, *, label: str = "the classifier",
                modules: Sequence[str] | None = None) -> str:
    """The canonical name of layer ``text`` (no ``#K``): its module path in ``classifier.net``.

    ``"net.features.4"`` (the path in the wrapper) means ``"features.4"`` unless the network itself has a
    module of that path. Raises :class:`ConfigError` (one line: the classifier, up to four close names).
    """
    known = list(modules) if modules is not None else [n for n, _ in _net(classifier).named_modules() if n]
    name = text.strip()
    if name in known:
        return name
    if name.startswith("net.") and name.removeprefix("net.") in known:
        return name.removeprefix("net.")
    raise ConfigError(f"{name!r} is not a layer of {label}: {suggest(name.removeprefix('net.'), known)} "
                      "(`s2s layers` lists every layer)")


def resolve_layers(classifier: nn.Module, layers: Sequence[str] | str, *, label: str = "the classifier",
                   infos: Sequence[LayerInfo] | None = None) -> list[LayerInfo]:
    """The :class:`LayerInfo` of each named layer (:func:`module_path`; ``NAME#K`` only for the last call,
    the one a layer's feature is), in the order given.

    Raises:
        ConfigError: no layer given, a name that is not a module of the network (with the closest names), a
            call that is not the module's last, or a module that does not output a tensor in the forward pass.
    """
    names = [layers] if isinstance(layers, str) else list(layers)
    names = [n.strip() for n in names if n and n.strip()]
    if not names:
        raise ConfigError(f"no layer given for {label}: name one with its module path (`s2s layers` lists them)")
    infos = list(infos) if infos is not None else list_layers(classifier)
    by_name = {info.name: info for info in infos}
    modules = [n for n, _ in _net(classifier).named_modules() if n]
    out = []
    for text in names:
        module, call = split_call(text)
        name = module_path(classifier, module, label=label, modules=modules)
        if name not in by_name:
            raise ConfigError(f"{name!r} does not output a tensor in the forward pass of {label}: "
                              f"{suggest(name, list(by_name))}")
        info = by_name[name]
        if call is not None and call != info.calls - 1:
            raise ConfigError(f"{text!r}: {name} runs {info.calls}x in a pass of {label}; feature inversion reads "
                              f"its last call ({name} or {name}#{info.calls - 1})")
        out.append(info)
    return list(dict((info.name, info) for info in out).values())


class LayerTap:
    """Capture the outputs of ``layers`` (each at its last call) during a forward pass of ``classifier``.

    ``tap(x01) -> {name: (B, *shape) tensor}``. With ``stop_early=True`` the pass ends as soon as every layer
    has its output (the rest of the network never runs). Outputs are cloned when captured, so in-place
    operations that follow (``ReLU(inplace=True)``) cannot change them; the clone keeps autograd. The hooks
    live on the modules during a call: do not tap a model that another thread runs at the same time.
    """

    def __init__(self, classifier: nn.Module, layers: Sequence[LayerInfo], *, stop_early: bool = True) -> None:
        self.classifier, self.layers, self.stop_early = classifier, list(layers), stop_early
        self.modules = dict(_net(classifier).named_modules())

    def __call__(self, x01: torch.Tensor) -> dict[str, torch.Tensor]:
        wanted = {info.name: info.calls for info in self.layers}
        seen = dict.fromkeys(wanted, 0)
        captured: dict[str, torch.Tensor] = {}

        def hook(name: str):
            def record(_module, _inputs, out) -> None:
                seen[name] += 1
                if seen[name] == wanted[name]:
                    captured[name] = _first_tensor(out).clone()
                    if self.stop_early and len(captured) == len(wanted):
                        raise _Stop
            return record

        handles = [self.modules[name].register_forward_hook(hook(name)) for name in wanted]
        try:
            self.classifier(x01)
        except _Stop:
            pass
        finally:
            for h in handles:
                h.remove()
        missing = [n for n in wanted if n not in captured]
        if missing:
            raise ConfigError(f"layer(s) {', '.join(missing)} produced no output in this forward pass")
        return captured


def candidate_layers(infos: Sequence[LayerInfo]) -> list[LayerInfo]:
    """Layers worth inverting: leaves that change their input (no Identity/Dropout/Flatten)."""
    return [i for i in infos if i.leaf and i.kind not in PASS_THROUGH] or list(infos)


def mid_layer(infos: Sequence[LayerInfo]) -> LayerInfo:
    """The default layer: the candidate whose depth is closest to 0.5."""
    return min(candidate_layers(infos), key=lambda i: (abs(i.depth - 0.5), i.depth))


def sweep_layers(infos: Sequence[LayerInfo], count: int) -> list[LayerInfo]:
    """``count`` candidate layers evenly spaced by position from the first to the last (both included)."""
    layers = candidate_layers(infos)
    if count >= len(layers):
        return layers
    if count < 2:
        return [layers[-1]]
    return [layers[p] for p in _spread(len(layers), count)]


def _spread(n: int, count: int) -> list[int]:
    """``count`` (>= 2) of the indices 0..n-1 evenly spaced, 0 and n-1 included."""
    return sorted({round(k * (n - 1) / (count - 1)) for k in range(count)})


# ---------------------------------------------------------------------------------------------- default layers
#: Top-level blocks of known families, by module path in the network: torchvision's ResNet stages
#: (``layer1``..``layer4``), Inception v3's ``Mixed_5b``..``Mixed_7c``, GoogLeNet's ``inception3a``..``5b``.
BLOCK_PATTERNS = (re.compile(r"layer\d+"), re.compile(r"Mixed_\d[a-z]"), re.compile(r"inception\d[a-z]"))
#: Pooling leaves that end a convolutional stage (VGG, AlexNet, LeNet-5): the output after each stage.
STAGE_POOLS = ("MaxPool2d", "AvgPool2d")


def block_layers(classifier: nn.Module, infos: Sequence[LayerInfo]) -> list[LayerInfo]:
    """The outputs of the network's blocks, in forward order (empty when no rule fits):

    1. top-level modules named as a known family's blocks (:data:`BLOCK_PATTERNS`);
    2. else the children of top-level ``nn.Sequential`` stacks made only of composite modules (residual or
       Inception blocks in ``stages`` / ``blocks``, torchvision MobileNet's and EfficientNet's ``features``);
    3. else the pooling leaves that end convolutional stages (:data:`STAGE_POOLS` with a stride above 1 and
       feature maps ``(C, H, W)`` bigger than 1x1: global pools and the stride-1 pools of Inception branches
       are left out).
    """
    blocks = [i for i in infos if "." not in i.name and any(p.fullmatch(i.name) for p in BLOCK_PATTERNS)]
    if blocks:
        return blocks
    modules = dict(_net(classifier).named_modules())
    stacks = {name for name, m in modules.items() if name and "." not in name and isinstance(m, nn.Sequential)
              and len(m) > 1 and all(any(True for _ in child.children()) for child in m)}
    blocks = [i for i in infos if i.name.rpartition(".")[0] in stacks]
    if blocks:
        return blocks

    def downsamples(name: str) -> bool:
        stride = getattr(modules[name], "stride", 1)
        return max(stride if isinstance(stride, tuple) else (stride,)) > 1

    return [i for i in infos if i.kind in STAGE_POOLS and len(i.shape) == 3 and i.shape[1] * i.shape[2] > 1
            and downsamples(i.name)]


def _keeps_legacy_defaults(classifier: nn.Module) -> bool:
    """The demo zoo's own networks keep the layers their shipped results were computed at (inversion.csv's
    sweep, ground_truth.csv's mid layer): changing them would need the demo zoo evaluated again."""
    return getattr(getattr(classifier, "spec", None), "name", "") in DEMO_ENTRIES


def default_layers(classifier: nn.Module, infos: Sequence[LayerInfo], count: int | None = None) -> list[LayerInfo]:
    """The layers a sweep inverts by default (``count`` at most, evenly spaced, first and last kept): the block
    outputs (:func:`block_layers`); the candidate layers where no block rule fits and for the demo networks."""
    blocks = [] if _keeps_legacy_defaults(classifier) else block_layers(classifier, infos)
    if not blocks:
        return sweep_layers(infos, count) if count is not None else candidate_layers(infos)
    if count is None or count >= len(blocks):
        return blocks
    if count < 2:
        return [blocks[-1]]
    return [blocks[k] for k in _spread(len(blocks), count)]


def default_layer(classifier: nn.Module, infos: Sequence[LayerInfo]) -> LayerInfo:
    """The layer one inversion reads by default: of :func:`default_layers`, the one of depth closest to 0.5."""
    return min(default_layers(classifier, infos), key=lambda i: (abs(i.depth - 0.5), i.depth))


@dataclass(frozen=True)
class ReluPoint:
    """A post-ReLU response of the forward pass: call ``call`` of module ``module`` (a path in the network).

    ``pre`` is empty for an ``nn.ReLU``; for a module that ends in a *functional* ReLU (torchvision's
    Inception ``BasicConv2d``: ``F.relu(bn(conv(x)))``) it names the child whose output is the pre-activation,
    so that backward rules can replace that ReLU too.
    """

    module: str
    call: int
    calls: int
    channels: int
    pre: str = ""

    @property
    def name(self) -> str:
        """``module`` for a module run once, else ``module#call``."""
        return self.module if self.calls == 1 else f"{self.module}#{self.call}"


def relu_points(classifier: nn.Module, size: int) -> list[ReluPoint]:
    """Every post-ReLU response of one forward pass, in module order (``named_modules``; a module's calls in
    turn, as the relevant channels have always been ordered): each call of each ``nn.ReLU``, and each call of a
    module whose output is exactly ``relu`` of its last child's output when that output has negative values
    (a functional ReLU at the end of the module's ``forward``). One pass on a seeded random ``(1, 3, size,
    size)`` image, without gradients; outputs other than ``(1, C, H, W)`` or ``(1, F)`` are left out.
    """
    net = _net(classifier)
    modules = {name: m for name, m in net.named_modules() if name}
    parent = {name: name.rpartition(".")[0] for name in modules}
    calls: dict[str, int] = {}
    last_child: dict[str, tuple[str, torch.Tensor]] = {}
    found: list[tuple[str, int, int, str]] = []

    def hook(name: str):
        def record(module, _inputs, out) -> None:
            k = calls.get(name, 0)
            calls[name] = k + 1
            pre = last_child.pop(name, None)
            if not isinstance(out, torch.Tensor):
                return
            if out.dim() in (2, 4):
                if isinstance(module, nn.ReLU):
                    found.append((name, k, int(out.shape[1]), ""))
                elif (pre is not None and not isinstance(modules[pre[0]], nn.ReLU) and pre[1].shape == out.shape
                      and bool((pre[1] < 0).any()) and torch.equal(out, pre[1].clamp(min=0))):
                    found.append((name, k, int(out.shape[1]), pre[0]))
            if parent[name]:
                last_child[parent[name]] = (name, out.detach().clone())  # before a functional in-place relu
        return record

    handles = [m.register_forward_hook(hook(name)) for name, m in modules.items()]
    try:
        device = next((p.device for p in classifier.parameters()), torch.device("cpu"))
        with torch.no_grad():
            classifier(torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0)).to(device))
    finally:
        for h in handles:
            h.remove()
    order = {name: k for k, name in enumerate(modules)}
    found.sort(key=lambda f: (order[f[0]], f[1]))
    return [ReluPoint(module, k, calls[module], channels, pre) for module, k, channels, pre in found]
