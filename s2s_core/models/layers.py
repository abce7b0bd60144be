"""The layers of a classifier, named by module path, and their outputs on an image (feature inversion's Φ_ℓ).

A *layer* is any sub-module of a :class:`~s2s_core.models.classifiers.Classifier`'s network, named by its path
in ``classifier.net.named_modules()`` (``"features.3"``, ``"layer2.1.relu"``, ``"fc"``); a leading ``"net."``
is accepted too. Its *feature* on an image is the module's output during the classifier's forward pass on
that image (the classifier's own resize and normalisation included). A module that runs several times in one
pass (torchvision's ResNet blocks reuse one ``relu``) contributes the output of its LAST call.

:func:`list_layers` runs one probe pass and reports every layer with its output shape and its depth: the
fraction of the network's leaf-module calls done when that output is complete, in (0, 1]. The last layer has
depth 1. :class:`LayerTap` captures the outputs of chosen layers and, when asked, stops the forward pass as
soon as the last of them is complete, so that inverting a mid layer never runs the rest of the network.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from s2s_core.errors import ConfigError

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


def resolve_layers(classifier: nn.Module, layers: Sequence[str] | str, *, label: str = "the classifier",
                   infos: Sequence[LayerInfo] | None = None) -> list[LayerInfo]:
    """The :class:`LayerInfo` of each named layer (``"net."`` prefix optional), in the order given.

    Raises:
        ConfigError: no layer given, a name that is not a module of the network (with the closest names), or a
            module that does not output a tensor in the forward pass.
    """
    names = [layers] if isinstance(layers, str) else list(layers)
    names = [n.strip().removeprefix("net.") for n in names if n and n.strip()]
    if not names:
        raise ConfigError(f"no layer given for {label}: name one with its module path (`s2s layers` lists them)")
    infos = list(infos) if infos is not None else list_layers(classifier)
    by_name = {info.name: info for info in infos}
    modules = {n for n, _ in _net(classifier).named_modules() if n}
    out = []
    for name in names:
        if name not in by_name:
            close = difflib.get_close_matches(name, list(by_name), n=4, cutoff=0.5)
            why = "does not output a tensor in the forward pass" if name in modules else "is not a layer"
            hint = f"did you mean {', '.join(close)}?" if close else f"layers: {', '.join(list(by_name)[:8])}, ..."
            raise ConfigError(f"{name!r} {why} of {label}: {hint} (`s2s layers` lists every layer)")
        out.append(by_name[name])
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
    picks = sorted({round(k * (len(layers) - 1) / (count - 1)) for k in range(count)})
    return [layers[p] for p in picks]
