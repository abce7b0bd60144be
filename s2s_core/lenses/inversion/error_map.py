"""The feature-inversion error map: where the inversion from layer ℓ of classifier i differs from the image.

    E_ℓ(x0) = (1/3) Σ_c |x0 − x*_ℓ|_c      shape (B, S, S), at input resolution

with x*_ℓ the inversion of x0 at layer ℓ (:func:`~s2s_core.lenses.inversion.invert.invert`, Mahendran & Vedaldi's
objective and priors). It is the inversion's counterpart of S2S's |x − A_i(x)| (Sec. 3.3; ``ae_residual`` of
:mod:`s2s_core.lenses.s2s.lens`): both show what a lens of classifier i does not keep of x, one through
an autoencoder fine-tuned for i, the other through i's own features at ℓ. Mean over RGB, as the S2S maps.

Why this map and these defaults:
    * The layer is the Lenses page's default, :func:`~s2s_core.models.layers.default_layer` (the block output
      of depth closest to 0.5; for the demo networks the candidate layer of depth closest to 0.5): the paper shows shallow layers keep nearly everything (E ≈ the prior's
      smoothing everywhere) and the deepest keep only the class (E ≈ the whole image), so the middle is where
      the map can say *where* a layer keeps detail.
    * Read it as an error: large where ℓ lost x0's detail. Against a mask of where the class is, an AUC above
      0.5 says the layer's inversion departs from x0 *on* the shape more than off it (e.g. a flat background
      is easy to reproduce, a sharp outline is not); below 0.5 it keeps the shape better than the background.
      Neither reading is built in: the ground-truth table reports what it measures.
    * Steps: :data:`GT_STEPS` (the paper's 400 on 227 px AlexNet, :data:`~s2s_core.lenses.inversion.invert.STEPS` on
      the 64 px demo nets); the table uses fewer so that it stays affordable on a CPU, and says how many.

Every image k gets the random start seeded with ``seed + k`` (its index in the data), so a map does not depend
on the batch it is computed in.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from s2s_core.lenses.inversion.invert import InversionSettings, invert
from s2s_core.models.layers import LayerInfo, list_layers
from s2s_core.models.layers import default_layer as _default_layer

#: Gradient steps per inversion for the ground-truth table's error map (fewer than the lens's 200: the map
#: must be affordable for a data set on the CPU; the README's account says how many were used).
GT_STEPS = 100
#: Seed stream of the random starts: image k of the data starts from seed ``GT_SEED + k``.
GT_SEED = 1_700_000


def default_layer(classifier: nn.Module, size: int, infos: Sequence[LayerInfo] | None = None) -> LayerInfo:
    """The layer the error map inverts by default: the lenses' :func:`~s2s_core.models.layers.default_layer` of
    the classifier at ``size`` px."""
    return _default_layer(classifier, infos if infos is not None else list_layers(classifier, size))


def inversion_error_map(classifier: nn.Module, x0: torch.Tensor, layer: str, *, steps: int = GT_STEPS,
                        seeds: Sequence[int] | None = None, infos: Sequence[LayerInfo] | None = None) -> torch.Tensor:
    """``(B, S, S)`` float32: the mean over RGB of ``|x0 − x*|`` for ``x0`` ``(B, 3, S, S)`` in [0, 1] inverted
    at ``layer`` with ``steps`` steps and the paper's other settings (random start k seeded ``seeds[k]``,
    default ``GT_SEED + k``)."""
    seeds = [GT_SEED + k for k in range(x0.shape[0])] if seeds is None else list(seeds)
    result = invert(classifier, x0, layer, InversionSettings(steps=int(steps), seed=GT_SEED), layer_infos=infos,
                    seeds=seeds)
    return (x0.detach().float().to(result.images.device) - result.images).abs().mean(dim=1)
