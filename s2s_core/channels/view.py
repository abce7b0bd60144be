"""The relevant-channels lens for one image, beside S2S (seed 004; DESIGN.md "Lenses"): pure computation.

For every classifier i of a zoo: its prediction, its top-k relevant channels (layer, channel, weight in W,
response), each channel's heatmap under the paper's interpolating DeconvNet and under guided backpropagation,
the combined relevant-channel heatmap, the plain gradient, and S2S's A_i(x) and |A_i(x) − A_S(x)| (one encoder
pass). A ground-truth mask, when the image has one, is scored against every heatmap (pixel AUC, best IoU) and
its outline can be drawn on any of the images (:func:`with_outline`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from s2s_core.analysis.heatmap_lenses import HEATMAP_LENSES
from s2s_core.analysis.heatmap_scores import best_iou, pixel_auc
from s2s_core.channels.lens import DEFAULT_K, ChannelLens, combine, gradient_heatmap
from s2s_core.imaging import to_uint8
from s2s_core.views import BASE_KEY, ae_key

#: Colour of the ground-truth outline drawn on images (cyan: apart from the heatmap colour scale).
OUTLINE_RGB = (0, 255, 255)


@dataclass
class ClassifierChannels:
    """One classifier on one image. Heatmaps are ``(S, S)`` float32 (``maps``: ``(k, S, S)``), not normalised."""

    name: str
    predicted: str
    table: pd.DataFrame
    deconvnet: np.ndarray
    guided: np.ndarray
    heatmap: np.ndarray
    guided_heatmap: np.ndarray
    gradient: np.ndarray
    reconstruction: np.ndarray | None = None
    change: np.ndarray | None = None
    residual: np.ndarray | None = None

    def heatmaps(self) -> dict[str, np.ndarray]:
        """The heatmaps the ground-truth table scores, by lens key (:mod:`s2s_core.analysis.heatmap_lenses`)."""
        out = {}
        if self.change is not None:
            out["ae_change"], out["ae_residual"] = self.change, self.residual
        return {**out, "channels_deconvnet": self.heatmap, "channels_guided": self.guided_heatmap,
                "gradient": self.gradient}


@dataclass
class ChannelsView:
    """Every classifier's relevant channels on one image; ``missing``: classifier -> why it has no W; ``s2s``:
    classifier -> S2S's ``(A_i(x) (S, S, 3) uint8, |A_i(x) − A_S(x)| (S, S), |x − A_i(x)| (S, S))`` for every
    classifier with a fine-tuned AE, W or not."""

    image: np.ndarray
    k: int
    per: dict[str, ClassifierChannels] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    s2s: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=dict)

    def scores(self, mask: np.ndarray) -> pd.DataFrame:
        """Pixel AUC and best IoU of every heatmap against a boolean ``(S, S)`` mask: rows lens, columns per classifier."""
        m = torch.from_numpy(np.asarray(mask, dtype=bool))[None]
        rows = []
        for name, c in self.per.items():
            for lens, heat in c.heatmaps().items():
                h = torch.from_numpy(np.asarray(heat, dtype=np.float32))[None]
                rows.append({"classifier": name, "lens": lens, "label": HEATMAP_LENSES[lens].label,
                             "AUC": float(pixel_auc(h, m)[0]), "IoU": float(best_iou(h, m)[0][0])})
        return pd.DataFrame(rows)


def channels_view(zoo, lenses: Mapping[str, ChannelLens | str], x01: torch.Tensor, classes: Sequence[str],
                  k: int = DEFAULT_K) -> ChannelsView:
    """The view of ``x01`` ``(1, 3, S, S)`` in [0, 1]; ``lenses``: classifier -> its lens, or why there is none."""
    device = next(zoo.base.parameters()).device
    x = x01.to(device=device, dtype=torch.float32)
    names = [n for n in lenses if n in zoo.classifiers]
    with torch.inference_mode():
        recon = zoo.reconstruct_all(x, names=[n for n in names if n in zoo.decoders])
    base = recon[BASE_KEY].clamp(0, 1)
    view = ChannelsView(image=to_uint8(x[0]), k=k)
    for name in names:
        a_i = recon.get(ae_key(name))
        if a_i is not None:
            a_i = a_i.clamp(0, 1)
            view.s2s[name] = (to_uint8(a_i[0]), (a_i - base).abs().mean(dim=1)[0].cpu().numpy(),
                              (x - a_i).abs().mean(dim=1)[0].cpu().numpy())
        lens = lenses[name]
        if isinstance(lens, str):
            view.missing[name] = lens
            continue
        rel = lens.relevant(x, k)
        deconv, guided = lens.backproject(x, rel, "deconvnet"), lens.backproject(x, rel, "guided")
        heat, gheat = combine(deconv, rel)[0], combine(guided, rel)[0]
        deconv, guided = deconv[0], guided[0]
        grad = gradient_heatmap(lens.probe, x)[0][0]
        table = pd.DataFrame({"rank": range(1, rel.k + 1), "layer": [lay for lay, _ in rel.names[0]],
                              "channel": [c for _, c in rel.names[0]], "weight": rel.weights[0].tolist(),
                              "response": rel.responses[0].tolist()})
        recon_i, change, residual = view.s2s.get(name, (None, None, None))
        view.per[name] = ClassifierChannels(
            name=name, predicted=_label(classes, int(rel.predicted[0])), table=table,
            deconvnet=deconv.cpu().numpy(), guided=guided.cpu().numpy(), heatmap=heat.cpu().numpy(),
            guided_heatmap=gheat.cpu().numpy(), gradient=grad.cpu().numpy(),
            reconstruction=recon_i, change=change, residual=residual)
    return view


def _label(classes: Sequence[str], index: int) -> str:
    return classes[index] if 0 <= index < len(classes) else f"class {index}"


def outline(mask: np.ndarray) -> np.ndarray:
    """``(S, S)`` bool: the mask's pixels that touch a pixel outside it (4-neighbourhood)."""
    m = np.asarray(mask, dtype=bool)
    padded = np.pad(m, 1, mode="edge")
    inner = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    return m & ~inner


def with_outline(image: np.ndarray, mask: np.ndarray | None, factor: int = 1,
                 rgb: tuple[int, int, int] = OUTLINE_RGB) -> np.ndarray:
    """``image`` ``(S*f, S*f, 3)`` uint8 (already upscaled by ``factor``) with the outline of ``mask`` ``(S, S)``."""
    if mask is None:
        return image
    edge = outline(np.kron(np.asarray(mask, dtype=bool), np.ones((factor, factor), dtype=bool)))
    out = image.copy()
    out[edge] = rgb
    return out
