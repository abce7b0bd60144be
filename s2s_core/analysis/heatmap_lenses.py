"""Every lens as a heatmap: "where in this image does classifier i look?", one map per image, in one registry.

Each lens answers in its own way (DESIGN.md, "Lenses"); to score them against ground truth they all give the
same thing: ``(B, S, S)`` non-negative values, larger = more used by classifier i. Built in:

| key | heatmap | lens |
|---|---|---|
| ``ae_change`` | ``|A_i(x) − A_S(x)|``, mean over RGB: what fine-tuning for i changed | S2S |
| ``ae_residual`` | ``|x − A_i(x)|``, mean over RGB: what A_i drops or alters | S2S |
| ``channels_deconvnet`` | top-k relevant channels, the paper's interpolating DeconvNet | relevant channels |
| ``channels_guided`` | top-k relevant channels, guided backpropagation | relevant channels |
| ``gradient`` | ``‖∂ score_i(predicted class) / ∂x‖`` over RGB (Simonyan et al.) | baseline |
| ``inversion_error`` | ``|x − x*|``, mean over RGB, x* the inversion from i's mid layer (opt-in, a subset) | feature inversion |

Another lens adds itself with :func:`register` and a function ``(context, classifier) -> (B, S, S) or None``
(``None``: not available for that classifier, e.g. no fitted W). A lens too slow for every image may score a
subset: it gives NaN maps for the images it leaves out, and the table scores it (and its chance row) on the
rest. The feature-inversion error map (:mod:`s2s_core.inversion.error_map`) is one: an optimisation per image,
so it runs only when ``Options.gt_inversion_per_class`` > 0 (``s2s evaluate --gt-inversion-per-class N``), on
the first N images of every class met in the evaluation's seeded order, with ``Options.gt_inversion_steps`` steps.
Reconstructions are the views of :class:`~s2s_core.analysis.dataset.base.BatchViews` (one encoder pass);
gradients run on private copies of the classifiers (:class:`~s2s_core.channels.probe.ChannelProbe`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from s2s_core.channels.lens import DEFAULT_K, ChannelLens, gradient_heatmap
from s2s_core.channels.probe import ChannelProbe
from s2s_core.channels.store import has_channel_weights, load_channel_weights
from s2s_core.errors import CheckpointError, ConfigError
from s2s_core.inversion.error_map import GT_SEED, GT_STEPS, default_layer, inversion_error_map
from s2s_core.models.layers import LayerInfo
from s2s_core.zoo import BASE_KEY, ae_key


@dataclass
class LensContext:
    """What heatmap lenses share for one evaluation: the zoo, private probes and channel lenses (built once),
    and, per batch, the views. ``skipped`` records why a lens gave no map for a classifier. ``inversion_per_class``
    and ``inversion_steps``: the opt-in feature-inversion error map's images per class (0: off) and steps."""

    zoo: object
    k: int = DEFAULT_K
    inversion_per_class: int = 0
    inversion_steps: int = GT_STEPS
    views: object = None
    probes: dict[str, ChannelProbe] = field(default_factory=dict)
    channel_lenses: dict[str, ChannelLens | None] = field(default_factory=dict)
    skipped: dict[tuple[str, str], str] = field(default_factory=dict)
    valid: torch.Tensor | None = None
    taken: Counter = field(default_factory=Counter)
    inversion_layers: dict[str, LayerInfo] = field(default_factory=dict)
    _cache: dict = field(default_factory=dict)

    def start_batch(self, views, valid: torch.Tensor | None = None) -> None:
        """A new batch; ``valid`` ``(B,)`` bool: the images whose masks can be scored (None: all)."""
        self.views, self.valid, self._cache = views, valid, {}

    @property
    def size(self) -> int:
        return int(self.views.x.shape[-1])

    def probe(self, name: str) -> ChannelProbe:
        """A private copy of classifier ``name`` for plain gradients."""
        if name not in self.probes:
            self.probes[name] = ChannelProbe(self.zoo.classifiers[name], [], input_size=self.size)
        return self.probes[name]

    def channel_lens(self, name: str) -> ChannelLens | None:
        """Classifier ``name``'s relevant-channel lens, or ``None`` (the reason in :attr:`skipped`)."""
        if name not in self.channel_lenses:
            path = getattr(self.zoo, "path", None)
            lens = None
            if path is None or not has_channel_weights(Path(path), name):
                self.skipped[("channels", name)] = f"no W: run `s2s channels fit --zoo {path} --classifier {name}`"
            else:
                try:
                    lens = ChannelLens(self.zoo.classifiers[name], load_channel_weights(Path(path), name),
                                       input_size=self.size)
                except (CheckpointError, ConfigError) as exc:
                    self.skipped[("channels", name)] = str(exc)
            self.channel_lenses[name] = lens
        return self.channel_lenses[name]

    def cached(self, key, compute: Callable):
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]


@dataclass(frozen=True)
class HeatmapLens:
    """A heatmap lens; ``label`` may name the evaluation's settings (``{steps}``: the inversion's steps)."""

    key: str
    label: str
    lens: str
    compute: Callable[[LensContext, str], torch.Tensor | None]


HEATMAP_LENSES: dict[str, HeatmapLens] = {}


def register(key: str, label: str, lens: str, compute: Callable[[LensContext, str], torch.Tensor | None]) -> HeatmapLens:
    """Add a heatmap lens (a key already taken -> ConfigError)."""
    if key in HEATMAP_LENSES and HEATMAP_LENSES[key].compute is not compute:
        raise ConfigError(f"heatmap lens {key!r} is already registered")
    HEATMAP_LENSES[key] = HeatmapLens(key, label, lens, compute)
    return HEATMAP_LENSES[key]


def _shown(ctx: LensContext, view: str) -> torch.Tensor:
    return ctx.views.images[view].clamp(0, 1)


def _ae_change(ctx: LensContext, name: str) -> torch.Tensor | None:
    if ae_key(name) not in ctx.views.images:
        return None
    return (_shown(ctx, ae_key(name)) - _shown(ctx, BASE_KEY)).abs().mean(dim=1)


def _ae_residual(ctx: LensContext, name: str) -> torch.Tensor | None:
    if ae_key(name) not in ctx.views.images:
        return None
    return (ctx.views.x - _shown(ctx, ae_key(name))).abs().mean(dim=1)


def _channels(rule: str) -> Callable[[LensContext, str], torch.Tensor | None]:
    def compute(ctx: LensContext, name: str) -> torch.Tensor | None:
        lens = ctx.channel_lens(name)
        if lens is None:
            return None
        relevant = ctx.cached(("relevant", name), lambda: lens.relevant(ctx.views.x, ctx.k))
        return lens.heatmap(ctx.views.x, ctx.k, rule, relevant=relevant)
    return compute


def _gradient(ctx: LensContext, name: str) -> torch.Tensor:
    return gradient_heatmap(ctx.probe(name), ctx.views.x)[0]


def _inversion_chosen(ctx: LensContext) -> list[int]:
    """This batch's images that the error map scores: the first ``inversion_per_class`` of every class met in the
    evaluation's (seeded) order among the images with a scorable mask (called once per batch, through :meth:`LensContext.cached`)."""
    chosen = []
    for k, label in enumerate(ctx.views.y.tolist()):
        if (ctx.valid is None or bool(ctx.valid[k])) and ctx.taken[label] < ctx.inversion_per_class:
            ctx.taken[label] += 1
            chosen.append(k)
    return chosen


def _inversion_error(ctx: LensContext, name: str) -> torch.Tensor | None:
    if ctx.inversion_per_class < 1:
        return None
    chosen = ctx.cached(("inversion_chosen",), lambda: _inversion_chosen(ctx))
    x = ctx.views.x
    out = torch.full((x.shape[0], x.shape[-2], x.shape[-1]), float("nan"), device=x.device)
    if chosen:
        clf = ctx.zoo.classifiers[name]
        if name not in ctx.inversion_layers:
            ctx.inversion_layers[name] = default_layer(clf, ctx.size)
        layer = ctx.inversion_layers[name]
        out[chosen] = inversion_error_map(clf, x[chosen], layer.name, steps=ctx.inversion_steps,
                                          seeds=[GT_SEED + ctx.views.item(k) for k in chosen]).to(x.device)
    return out


for _args in (
    ("ae_change", "|A_i(x) − A_S(x)|", "S2S", _ae_change),
    ("ae_residual", "|x − A_i(x)|", "S2S", _ae_residual),
    ("channels_deconvnet", "relevant channels, DeconvNet (interpolating)", "relevant channels", _channels("deconvnet")),
    ("channels_guided", "relevant channels, guided backprop", "relevant channels", _channels("guided")),
    ("gradient", "gradient of the class score", "baseline", _gradient),
    ("inversion_error", "feature inversion |x − x*| (mid layer, {steps} steps)", "feature inversion",
     _inversion_error),
):
    register(*_args)
