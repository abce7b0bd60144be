"""The feature-inversion lens for one image: x, A_i(x) and the inversion from layer ℓ of classifier i, each with
i's top-5 on it, and the depth sweep (the inversions from i's first to its last layer, the paper's Fig. 6).

Both lenses are scored alike: beside the inversion's normalised error ``‖Φ_ℓ(x*) − Φ_ℓ(x)‖ / ‖Φ_ℓ(x)‖`` stands
the same measure for S2S's reconstruction, ``‖Φ_ℓ(A_i(x)) − Φ_ℓ(x)‖ / ‖Φ_ℓ(x)‖``: how much of what layer ℓ
holds about x each image keeps. Pure computation (no streamlit); the dashboard caches and draws it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from s2s_core.errors import ConfigError
from s2s_core.imaging import to_uint8
from s2s_core.lenses.inversion.invert import InversionSettings, feature_errors, invert
from s2s_core.lenses.predictions import Prediction, predictions
from s2s_core.models.layers import LayerInfo, default_layer, list_layers, resolve_layers
from s2s_core.views import ae_key

#: Image names of a lens row.
X, AE, INVERSION = "x", "A_i(x)", "inversion"


@dataclass
class LensImage:
    """One image of a lens row: uint8 ``(S, S, 3)``, classifier i's top-5 on it and its normalised feature error
    at the inverted layer(s) against x (0 for x itself)."""

    name: str
    image: np.ndarray
    prediction: Prediction
    error: float


@dataclass
class InversionView:
    """x, A_i(x) (when the zoo has A_i) and the inversion from ``layers`` of classifier ``name``; ``error_map``
    ``(S, S)`` float32: ``|x − x*|`` mean over RGB, the heatmap the ground-truth table scores
    (:mod:`s2s_core.lenses.inversion.error_map`)."""

    name: str
    layers: list[LayerInfo]
    settings: InversionSettings
    images: list[LensImage]
    objective: np.ndarray
    seconds: float
    meta: dict = field(default_factory=dict)
    error_map: np.ndarray | None = None

    @property
    def layer_label(self) -> str:
        return " + ".join(info.name for info in self.layers)

    def get(self, name: str) -> LensImage | None:
        return next((im for im in self.images if im.name == name), None)

    def frame(self) -> pd.DataFrame:
        """One row per image and rank: image, error, rank, class, probability (for download)."""
        return pd.DataFrame([
            {"classifier": self.name, "layer": self.layer_label, "image": im.name, "feature_error": im.error,
             "rank": r + 1, "class": lab, "probability": p}
            for im in self.images for r, (lab, p) in enumerate(zip(im.prediction.labels, im.prediction.probs,
                                                                   strict=True))])


def inversion_view(zoo, x01: torch.Tensor, name: str, layers: Sequence[str] | str | None = None,
                   settings: InversionSettings | None = None, *, classes: Sequence[str] | None = None,
                   progress: Callable[[int, int], None] | None = None,
                   classifier: torch.nn.Module | None = None) -> InversionView:
    """The lens row of classifier ``name`` of a loaded zoo for one image ``x01`` ``(1, 3, S, S)`` in [0, 1].

    ``layers`` default to :func:`~s2s_core.models.layers.default_layer` (the block output nearest mid-depth). A_i(x) comes from one encoder pass and A_i's
    decoder (:meth:`~s2s_core.zoo.Zoo.reconstruct_all`), as classifier i sees it (unclamped). ``classifier``
    replaces ``zoo.classifiers[name]`` (the dashboard passes a private copy: the inversion puts forward hooks
    on the modules it reads, which must not fire in another thread's pass through a shared model).
    """
    if name not in zoo.classifiers:
        raise ConfigError(f"zoo {zoo.name!r} has no classifier {name!r}; known: {', '.join(zoo.classifiers)}")
    if x01.dim() == 3:
        x01 = x01.unsqueeze(0)
    if x01.dim() != 4 or x01.shape[0] != 1:
        raise ConfigError(f"the inversion lens takes one image (1, 3, S, S), got {tuple(x01.shape)}")
    clf = classifier if classifier is not None else zoo.classifiers[name]
    classes = list(classes) if classes is not None else list(zoo.classes or [])
    infos = list_layers(clf, x01.shape[-1])
    chosen = resolve_layers(clf, layers, label=f"classifier {name}", infos=infos) if layers else [default_layer(clf, infos)]
    start = time.perf_counter()
    result = invert(clf, x01, [i.name for i in chosen], settings, progress=progress, layer_infos=infos)
    seconds = time.perf_counter() - start
    device = next(clf.parameters()).device
    x = x01.to(device=device, dtype=torch.float32)
    inputs, names = [x, result.images.to(device)], [X, INVERSION]
    if name in getattr(zoo, "names", []):
        inputs.insert(1, zoo.reconstruct_all(x, names=[name])[ae_key(name)])
        names.insert(1, AE)
    batch = torch.cat(inputs)
    with torch.no_grad():
        preds = predictions(clf(batch), classes)
        errors = feature_errors(clf, x.expand_as(batch), batch, chosen)
    mean_error = torch.stack(list(errors.values())).mean(dim=0)
    images = [LensImage(n, to_uint8(batch[k].clamp(0, 1)), preds[k], 0.0 if n == X else float(mean_error[k]))
              for k, n in enumerate(names)]
    error_map = (x - result.images.to(device)).abs().mean(dim=1)[0].cpu().numpy()
    return InversionView(name=name, layers=chosen, settings=result.settings, images=images,
                         objective=result.objective.mean(dim=1).numpy(), seconds=seconds, error_map=error_map)


@dataclass
class SweepItem:
    """One layer of a depth sweep: the inversion, its error and classifier i's top-5 on it."""

    layer: LayerInfo
    image: np.ndarray
    error: float
    prediction: Prediction
    lambda_tv: float


def depth_sweep(classifier, x01: torch.Tensor, layers: Sequence[LayerInfo], settings: InversionSettings | None = None,
                *, classes: Sequence[str] = (), progress: Callable[[int, int], None] | None = None) -> list[SweepItem]:
    """Invert ``x01`` ``(1, 3, S, S)`` from each of ``layers`` in turn (each with its own depth's λ_TV).
    ``progress(done, total)`` counts steps over the whole sweep."""
    settings = settings or InversionSettings()
    total = len(layers) * int(settings.steps)
    infos = list_layers(classifier, x01.shape[-1])
    items = []
    for k, info in enumerate(layers):
        report = (lambda done, _n, k=k: progress(k * int(settings.steps) + done, total)) if progress else None
        result = invert(classifier, x01, info.name, settings, progress=report, layer_infos=infos)
        with torch.no_grad():
            pred = predictions(classifier(result.images), classes)[0]
        items.append(SweepItem(info, to_uint8(result.images[0]), float(result.error[0]), pred,
                               float(result.settings.lambda_tv)))
    return items


def sweep_frame(name: str, items: Sequence[SweepItem]) -> pd.DataFrame:
    """The depth sweep as a table: layer, kind, depth, shape, λ_TV, error, top-1 (with probability)."""
    return pd.DataFrame([{"classifier": name, "layer": it.layer.name, "kind": it.layer.kind,
                          "depth": round(it.layer.depth, 4), "shape": "×".join(map(str, it.layer.shape)),
                          "lambda_tv": it.lambda_tv, "feature_error": it.error, "top1": it.prediction.labels[0],
                          "top1_probability": it.prediction.probs[0]} for it in items])


def sweep_montage(x: np.ndarray, items: Sequence[SweepItem], per_row: int = 10, gap: int = 2) -> np.ndarray:
    """The paper's Fig. 6 layout: x, then the inversions in layer order, ``per_row`` images a row, white gaps."""
    tiles = [x, *(it.image for it in items)]
    s = x.shape[0]
    rows = (len(tiles) + per_row - 1) // per_row
    cols = min(per_row, len(tiles))
    out = np.full((rows * (s + gap) - gap, cols * (s + gap) - gap, 3), 255, dtype=np.uint8)
    for k, tile in enumerate(tiles):
        r, c = divmod(k, per_row)
        out[r * (s + gap): r * (s + gap) + s, c * (s + gap): c * (s + gap) + s] = tile
    return out
