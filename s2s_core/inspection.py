"""One image through every AE of a zoo, and what every classifier sees in it (Sec. 3.3.1, Fig. 3): the S2S lens's
per-image view.

:func:`inspect_image` runs the zoo's encoder ONCE (:meth:`~s2s_core.zoo.Zoo.reconstruct_all`), every decoder once
and every classifier once on the batch of all views, and returns an :class:`Inspection`: the images, the difference
maps ``|A(x) - x|``, the L*a*b* histograms and the top-k of every classifier on every view. Pure computation: no
streamlit, no plotting (figures: :mod:`s2s_core.analysis.figures`; image operations: :mod:`s2s_core.imaging`).

Views are named as in :mod:`s2s_core.views`. Classifiers see reconstructions exactly as the AE outputs them
(unclamped, as in fine-tuning and in :mod:`s2s_core.analysis.evaluate`); images, difference maps and histograms use
the reconstruction clamped to [0, 1] (what a saved image would hold).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from s2s_core.analysis.lab import DEFAULT_BINS, lab_histograms
from s2s_core.analysis.noise import NOISE_SEED, add_uniform_noise, noise_generator
from s2s_core.data.evaluation import native_protocols
from s2s_core.data.gallery import class_names
from s2s_core.data.images import load_image
from s2s_core.data.preprocess import zoo_preprocessing
from s2s_core.errors import ConfigError
from s2s_core.imaging import to_uint8
from s2s_core.lenses.predictions import Prediction
from s2s_core.lenses.predictions import predictions as top_k
from s2s_core.models import classifiers
from s2s_core.views import ORIGINAL, ae_key


@dataclass
class Inspection:
    """One image seen through every AE of a zoo (Sec. 3.3.1).

    Attributes:
        names: the zoo's classifier / fine-tuned AE short names (``"L"``, ``"A"``, ...), in zoo order.
        views: ``["original", "A_S", "A_<name>", ...]``.
        images: view -> ``(S, S, 3)`` uint8 (reconstructions clamped to [0, 1]).
        diffs: view -> ``(S, S)`` float32, ``|A(x) - x|`` averaged over RGB, in [0, 1] (not for the original).
        histograms: view -> ``{"L"|"a"|"b": (edges, density)}`` as :func:`~s2s_core.analysis.lab.lab_histograms`.
        predictions: classifier -> view -> :class:`Prediction` (top-k).
        classes: class names in the classifiers' label order.
    """

    names: list[str]
    views: list[str]
    images: dict[str, np.ndarray]
    diffs: dict[str, np.ndarray]
    histograms: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]
    predictions: dict[str, dict[str, Prediction]]
    classes: list[str]
    meta: dict = field(default_factory=dict)

    @property
    def size(self) -> int:
        return int(self.images[ORIGINAL].shape[0])

    def own(self, name: str) -> Prediction:
        """Classifier ``name`` on its own AE's reconstruction (``i∘A_i``)."""
        return self.predictions[name][ae_key(name)]

    def diff_scale(self, quantile: float = 0.99) -> float:
        """A shared upper end for the difference maps: the ``quantile`` of all their values (at least 1/255)."""
        if not self.diffs:
            return 1.0
        values = np.concatenate([d.reshape(-1) for d in self.diffs.values()])
        return float(max(np.quantile(values, quantile), 1.0 / 255.0))

    def prediction_frame(self) -> pd.DataFrame:
        """Every classifier (rows) on every view (columns): ``"label (p%)"`` of its top-1."""
        return pd.DataFrame(
            {view: [self.predictions[c][view].text(1) for c in self.names] for view in self.views},
            index=pd.Index(self.names, name="classifier"),
        )

    def prediction_long_frame(self) -> pd.DataFrame:
        """Long form for download: classifier, view, rank, class index, class, probability."""
        rows = [
            {"classifier": c, "input": v, "rank": r + 1, "class_index": idx, "class": lab, "probability": p}
            for c in self.names for v in self.views
            for r, (idx, lab, p) in enumerate(zip(self.predictions[c][v].indices, self.predictions[c][v].labels,
                                                  self.predictions[c][v].probs, strict=True))
        ]
        return pd.DataFrame(rows)

    def topk_frame(self, name: str) -> pd.DataFrame:
        """Classifier ``name``'s top-k on the original and on its own reconstruction, side by side."""
        orig, own = self.predictions[name][ORIGINAL], self.own(name)
        return pd.DataFrame({
            f"{name}(x)": [f"{lab} {p:.0%}" for lab, p in zip(orig.labels, orig.probs, strict=True)],
            f"{name}∘{ae_key(name)}(x)": [f"{lab} {p:.0%}" for lab, p in zip(own.labels, own.probs, strict=True)],
        }, index=pd.RangeIndex(1, len(orig.labels) + 1, name="rank"))


def native_inputs(zoo, source, noise: float = 0.0) -> dict[str, torch.Tensor]:
    """Each classifier's own centre crop of the image ``source`` (its weights' protocol, as in ``s2s evaluate``):
    classifier name -> ``(1, 3, s, s)`` in [0, 1], only for classifiers whose protocol differs from the AE's
    (none for the demo zoo: the image is then not read again). ``noise`` adds U(-s, s) with the fixed seed."""
    ae = zoo_preprocessing(zoo.input_size, zoo.info.preprocessing)
    own = {name: classifiers.native_preprocessing(clf.spec) for name, clf in zoo.classifiers.items()
           if hasattr(clf, "spec")}
    keys = native_protocols(ae, own)
    if not keys:
        return {}
    image = load_image(source)
    crops = {key: own[name](image).unsqueeze(0) for name, key in keys.items()}
    if noise > 0:
        crops = {key: noisy_input(t, noise) for key, t in crops.items()}
    return {name: crops[key] for name, key in keys.items()}


def inspect_image(zoo, x01: torch.Tensor, *, classes: Sequence[str] | None = None, k: int = 5,
                  bins: int = DEFAULT_BINS, natives: Mapping[str, torch.Tensor] | None = None) -> Inspection:
    """Reconstructions, difference maps, L*a*b* histograms and top-k predictions for one image.

    Args:
        zoo: a loaded :class:`~s2s_core.zoo.Zoo` with classifiers.
        x01: ``(1, 3, S, S)`` or ``(3, S, S)`` in [0, 1], S a multiple of 32 (see :func:`prepare_image`).
        classes: class names (default :func:`class_names` of the zoo).
        k: how many classes each :class:`Prediction` keeps.
        bins: L*a*b* histogram bins per channel.
        natives: classifier name -> ``(1, 3, s, s)``: its own crop of the original (:func:`native_inputs`), which
            it reads for the ``original`` view instead of ``x01``.

    The encoder runs once; each decoder once; each classifier once on the batch of all views.
    """
    if x01.dim() == 3:
        x01 = x01.unsqueeze(0)
    if x01.dim() != 4 or x01.shape[0] != 1 or x01.shape[1] != 3:
        raise ConfigError(f"inspect_image takes one image (1, 3, S, S), got {tuple(x01.shape)}")
    names = [n for n in zoo.names if n in zoo.classifiers]
    classes = list(classes) if classes is not None else class_names(zoo)
    device = next(zoo.base.parameters()).device
    with torch.inference_mode():
        x = x01.to(device=device, dtype=torch.float32)
        recon = zoo.reconstruct_all(x, names=names)
        views = [ORIGINAL, *recon]
        raw = torch.cat([x, *recon.values()])  # (V, 3, S, S): what the classifiers see
        shown = raw.clamp(0.0, 1.0)
        diff = (shown[1:] - shown[:1]).abs().mean(dim=1).float().cpu().numpy()  # (V-1, S, S)
        predictions: dict[str, dict[str, Prediction]] = {}
        for name in names:
            logits = zoo.classifiers[name](raw)
            if natives and name in natives:  # the original as the classifier's weights crop it
                logits = torch.cat([zoo.classifiers[name](natives[name].to(device)), logits[1:]])
            predictions[name] = dict(zip(views, top_k(logits, classes, k), strict=True))
        images = {view: to_uint8(shown[v]) for v, view in enumerate(views)}
        histograms = {view: lab_histograms(shown[v: v + 1], bins=bins) for v, view in enumerate(views)}
    return Inspection(names=names, views=views, images=images,
                      diffs={view: diff[v - 1] for v, view in enumerate(views) if v > 0},
                      histograms=histograms, predictions=predictions, classes=classes)


def noisy_input(x01: torch.Tensor, s: float, seed: int = NOISE_SEED) -> torch.Tensor:
    """``clamp(x + U(-s, s), 0, 1)`` with a fixed seed, so the same ``s`` always gives the same noise (Sec. 3.3.2)."""
    return add_uniform_noise(x01, s, noise_generator(seed))

