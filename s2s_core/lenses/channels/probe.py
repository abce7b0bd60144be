"""Reading, zeroing and back-projecting the channels of a classifier (Oramas et al., seed 004).

A :class:`ChannelProbe` owns a private copy of a classifier (the zoo's shared instance is never hooked or
changed) with every ``nn.ReLU`` made out-of-place, and forward hooks that can, during one forward pass:

* record the output of chosen *layers* (:class:`Layer`: a module and which of its calls, so a ReLU module
  that a residual block calls three times gives three layers, ``layer1.0.relu#0..2``);
* zero chosen channels of those outputs per image (the paper's first check: removing relevant channels);
* replace the backward rule of every ReLU and strided convolution, for the visualisations of
  :mod:`s2s_core.lenses.channels.visualise`:

  - ``"gradient"``: plain backpropagation (Simonyan et al.);
  - ``"guided"``: guided backpropagation (Springenberg et al.): a ReLU passes ``relu(g) * (x > 0)``;
  - ``"deconvnet"``: the DeconvNet of Oramas et al.: a ReLU passes ``relu(g)`` and a convolution of stride
    ``s > 1`` first interpolates ``g`` (bilinear) to the size a stride-1 transposed convolution needs to reach
    its input's size, then applies that stride-1 transposed convolution (divided by ``s_h * s_w``). Max-pool
    switches are kept. This removes the grid artefacts of the zero-inserting strided deconvolution;
  - ``"deconvnet_strided"``: Zeiler & Fergus's DeconvNet with the usual strided transposed convolution (for
    comparison).

Layers by default: every post-activation response the paper reads, in the order of the forward pass: every
call of every ``nn.ReLU``, and of every module that ends in a functional ReLU (torchvision's Inception
``BasicConv2d``), whose backward rules are swapped the same way
(:func:`~s2s_core.models.layers.relu_points`). Other modules can be named explicitly (``"features.3"``,
``"fc#1"``), in the naming scheme of :mod:`s2s_core.models.layers` (the one ``s2s layers`` prints).
A channel of a ``(B, C, H, W)`` output is a map; of a ``(B, F)`` output, one unit.
"""

from __future__ import annotations

import copy
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from s2s_core.errors import ConfigError
from s2s_core.models.layers import ReluPoint, module_path, relu_points, split_call

RULES = ("gradient", "guided", "deconvnet", "deconvnet_strided")


@dataclass(frozen=True)
class Layer:
    """One point of the forward pass: ``module`` (a path in the network) at its ``call``-th call, read as
    ``name`` (:mod:`s2s_core.models.layers`' scheme: ``module``, or ``module#call`` for a module run twice)."""

    module: str
    call: int
    channels: int
    name: str


class _ReluRule(torch.autograd.Function):
    """``relu(x)`` forward; backward by the rule of guided backpropagation or the DeconvNet."""

    @staticmethod
    def forward(ctx, x: Tensor, guided: bool) -> Tensor:
        ctx.save_for_backward(x)
        ctx.guided = guided
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, g: Tensor):
        (x,) = ctx.saved_tensors
        g = g.clamp(min=0)
        return (g * (x > 0) if ctx.guided else g), None


class _StrideOneDeconv(torch.autograd.Function):
    """A strided convolution's output, passed through; backward: interpolate, then a stride-1 transposed conv."""

    @staticmethod
    def forward(ctx, x: Tensor, out: Tensor, weight: Tensor, conv: nn.Conv2d) -> Tensor:
        ctx.save_for_backward(weight)
        ctx.size, ctx.conv = x.shape[-2:], conv
        return out.clone()

    @staticmethod
    def backward(ctx, g: Tensor):
        (weight,) = ctx.saved_tensors
        conv = ctx.conv
        (h, w), (ph, pw), (dh, dw) = ctx.size, conv.padding, conv.dilation
        kh, kw = weight.shape[-2:]
        target = (h + 2 * ph - dh * (kh - 1), w + 2 * pw - dw * (kw - 1))
        up = F.interpolate(g, size=target, mode="bilinear", align_corners=False) / (conv.stride[0] * conv.stride[1])
        gx = F.conv_transpose2d(up, weight, stride=1, padding=conv.padding, dilation=conv.dilation, groups=conv.groups)
        return gx, None, None, None


def _interpolable(m: nn.Module) -> bool:
    return (isinstance(m, nn.Conv2d) and max(m.stride) > 1 and isinstance(m.padding, tuple)
            and m.padding_mode == "zeros")


class ChannelProbe:
    """A private, hooked copy of a classifier ``(B, 3, H, W) in [0, 1] -> (B, K)`` logits.

    ``layers``: names in :mod:`s2s_core.models.layers`' scheme (``"features.4"``, ``"layer1.0.relu#1"``; the
    wrapper's ``"net.features.4"`` too); default every post-ReLU response (:func:`relu_points`: ``nn.ReLU``
    calls and modules ending in a functional ReLU). ``label`` names the classifier in errors.
    Thread-safe: one forward pass at a time (:attr:`lock`); the zoo's own classifier is never touched.
    """

    def __init__(self, classifier: nn.Module, layers: Sequence[str] | None = None, *, input_size: int = 64,
                 label: str = "the classifier") -> None:
        with torch.inference_mode(False):  # a copy made under inference mode could never be differentiated
            self._setup(classifier, layers, input_size, label)

    def _setup(self, classifier: nn.Module, layers: Sequence[str] | None, input_size: int, label: str) -> None:
        net = copy.deepcopy(classifier).eval()
        for p in net.parameters():
            p.requires_grad_(False)
        for m in net.modules():
            if isinstance(m, nn.ReLU):
                m.inplace = False
        self.net = net
        self.lock = threading.RLock()
        inner = getattr(net, "net", net)
        modules = {n: m for n, m in inner.named_modules() if n}
        self._names = {m: n for n, m in modules.items()}
        self._calls: Counter = Counter()
        self._record: dict[str, Tensor] | None = None
        self._zero: Mapping[str, Tensor] | None = None
        self._rule = "gradient"
        self._pre: dict[str, Tensor] = {}
        points = relu_points(net, input_size)
        self.layers = self._resolve(points, layers, modules, input_size, label)
        self._points = {(lay.module, lay.call): lay.name for lay in self.layers}
        self._functional = {pt.module: pt.pre for pt in points if pt.pre}  # module -> child giving its pre-activation
        self._pre_of = {pre: module for module, pre in self._functional.items()}
        hooked = {n for n, m in modules.items() if isinstance(m, nn.ReLU) or _interpolable(m)}
        hooked |= {lay.module for lay in self.layers} | set(self._functional) | set(self._pre_of)
        self._handles = [modules[n].register_forward_hook(self._hook) for n in modules if n in hooked]

    # -------------------------------------------------------------------------------- layers
    def _resolve(self, points: Sequence[ReluPoint], layers: Sequence[str] | None, modules: Mapping[str, nn.Module],
                 size: int, label: str) -> list[Layer]:
        if layers is None:
            if not points:
                tops = [n for n in modules if "." not in n][:4]
                raise ConfigError(f"{label} has no ReLU outputs (nn.ReLU or a functional relu ending a module) to "
                                  f"read channels from: name layers with --layers, e.g. {', '.join(tops)} "
                                  "(`s2s layers` lists them)")
            return [Layer(pt.module, pt.call, pt.channels, pt.name) for pt in points]
        wanted = []
        for text in layers:
            module, call = split_call(text)
            wanted.append((module_path(self.net, module, label=label, modules=list(modules)), call))
        shapes: dict[str, list[tuple[int, ...] | None]] = {}

        def probe(name: str):
            def record(_module, _inputs, output) -> None:
                shapes.setdefault(name, []).append(tuple(output.shape) if isinstance(output, Tensor) else None)
            return record

        handles = [modules[n].register_forward_hook(probe(n)) for n in dict.fromkeys(m for m, _ in wanted)]
        try:
            with torch.no_grad():
                self.net(torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0)))
        finally:
            for h in handles:
                h.remove()
        out = []
        for module, call in wanted:
            seen = shapes.get(module, [])
            k = len(seen) - 1 if call is None else call
            if not seen or k >= len(seen):
                raise ConfigError(f"layer {module!r} of {label} runs {len(seen)} time(s) in a forward pass; "
                                  f"{module}#{k} does not exist")
            shape = seen[k]
            if shape is None or len(shape) not in (2, 4):
                raise ConfigError(f"layer {module} of {label} outputs {shape}: only (B, C, H, W) or (B, F) can be read")
            out.append(Layer(module, k, int(shape[1]), module if len(seen) == 1 else f"{module}#{k}"))
        return list({lay.name: lay for lay in out}.values())

    @property
    def names(self) -> list[str]:
        return [lay.name for lay in self.layers]

    @property
    def widths(self) -> list[int]:
        return [lay.channels for lay in self.layers]

    # -------------------------------------------------------------------------------- forward
    def _hook(self, module: nn.Module, inputs, output):
        name = self._names[module]
        k = self._calls[name]
        self._calls[name] += 1
        if self._rule != "gradient" and torch.is_grad_enabled():
            relu_rule = self._rule in ("guided", "deconvnet", "deconvnet_strided")
            if isinstance(module, nn.ReLU) and relu_rule:
                output = _ReluRule.apply(inputs[0], self._rule == "guided")
            elif relu_rule and name in self._functional and name in self._pre:
                output = _ReluRule.apply(self._pre.pop(name), self._rule == "guided")
            elif self._rule == "deconvnet" and _interpolable(module):
                output = _StrideOneDeconv.apply(inputs[0], output, module.weight, module)
            if name in self._pre_of:  # a copy before the parent's in-place functional relu changes it
                self._pre[self._pre_of[name]] = output.clone()
        layer = self._points.get((name, k))
        if layer is not None:
            if self._zero is not None and layer in self._zero:
                keep = (~self._zero[layer]).to(output.dtype)
                output = output * (keep[:, :, None, None] if output.dim() == 4 else keep)
            if self._record is not None:
                self._record[layer] = output
        return output

    @contextmanager
    def _state(self, record: bool, zero: Mapping[str, Tensor] | None, rule: str):
        if rule not in RULES:
            raise ConfigError(f"unknown backward rule {rule!r}; use one of {', '.join(RULES)}")
        with self.lock:
            self._calls = Counter()
            self._record = {} if record else None
            self._zero, self._rule = zero, rule
            try:
                yield
            finally:
                self._record, self._zero, self._rule = None, None, "gradient"
                self._pre = {}

    def run(self, x01: Tensor, *, record: bool = False, zero: Mapping[str, Tensor] | None = None,
            rule: str = "gradient") -> tuple[Tensor, dict[str, Tensor]]:
        """One forward pass: ``(logits (B, K), {layer name: output})`` (outputs only with ``record``).

        ``zero``: layer name -> ``(B, C)`` bool, the channels to set to zero in each image. ``rule`` sets the
        backward rule of a later ``backward()`` (autograd must be enabled for it to apply).
        """
        with self._state(record, zero, rule):
            logits = self.net(x01)
            recorded = dict(self._record or {})
        return logits, recorded

    def responses(self, x01: Tensor) -> Tensor:
        """``(B, P)`` the paper's channel responses: the L2 norm of each channel's output (the absolute value of a
        unit), L1-normalised within each layer, layers concatenated in :attr:`layers` order."""
        with torch.no_grad():
            _, acts = self.run(x01, record=True)
        return pooled_responses([acts[lay.name] for lay in self.layers])


def pooled_responses(outputs: Sequence[Tensor]) -> Tensor:
    """Per layer ``(B, C, H, W)`` or ``(B, F)`` -> ``(B, C)`` L2 norms, each row divided by its sum (a layer that
    is silent on an image stays zero); concatenated to ``(B, P)`` (Oramas et al., Sec. 3)."""
    parts = []
    for a in outputs:
        a = a.detach().float()
        norms = a.flatten(2).norm(dim=2) if a.dim() == 4 else a.abs()
        parts.append(norms / norms.sum(dim=1, keepdim=True).clamp_min(1e-12))
    return torch.cat(parts, dim=1)
