"""What the dashboard shows for one image: every AE's reconstruction and what every classifier sees in it.

Sec. 3.3.1 (Fig. 3) of the paper looks at one image through every AE: the reconstructions A_S(x) and
A_i(x), their global L*a*b* histograms and zoomed details. :func:`inspect_image` computes all of it for
a loaded :class:`~s2s_core.zoo.Zoo` with ONE encoder pass (:meth:`Zoo.reconstruct_all`): the images, the
difference maps ``|A(x) - x|``, the L*a*b* histograms and the top-k of every classifier on the original
and on every reconstruction (one batched forward pass per classifier). Pure computation: no streamlit.

Views are named ``"original"``, ``"A_S"`` and ``"A_<name>"``. Classifiers see reconstructions exactly as
the AE outputs them (unclamped, as in fine-tuning and in :mod:`s2s_core.analysis.evaluate`); images,
difference maps and histograms use the reconstruction clamped to [0, 1] (what a saved image would hold).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import torch
from plotly.colors import sample_colorscale
from plotly.subplots import make_subplots

from s2s_core.analysis.figures import LAB_TITLES, colour
from s2s_core.analysis.lab import CHANNELS, DEFAULT_BINS, lab_histograms
from s2s_core.analysis.noise import NOISE_SEED, add_uniform_noise, noise_generator
from s2s_core.analysis.paper import paper_table2_csv
from s2s_core.data.images import IMAGE_EXTENSIONS, load_image_tensor, tensor_to_uint8
from s2s_core.errors import ConfigError

ORIGINAL = "original"
BASE = "A_S"
ORIGINAL_COLOUR = "#3c3c3c"
BASE_COLOUR = "#8c8c8c"
#: Colour scale of the difference maps (dark = no change, bright = large change).
DIFF_COLORSCALE = "Inferno"
#: Sub-folders of a zoo's data directory that hold its labelled test images, in order of preference.
TEST_SPLITS = ("test", "val", "validation")

#: The paper's Table 2 (cross accuracy acc(j∘A_i) on ImageNet's validation set), in the CSV format of
#: :func:`s2s_core.analysis.crosstable.read_cross_table`.
PAPER_TABLE2_CSV = paper_table2_csv()


# ------------------------------------------------------------------------------------------ colours
def view_colours(names: Sequence[str]) -> dict[str, str]:
    """One colour per view and per classifier, the same on every page: classifier ``names[k]`` and its AE
    ``A_<name>`` get :func:`s2s_core.analysis.figures.colour` ``(k)`` (Fig. 6's palette), the original
    dark grey and A_S light grey."""
    out = {ORIGINAL: ORIGINAL_COLOUR, BASE: BASE_COLOUR}
    for k, name in enumerate(names):
        out[name] = out[f"A_{name}"] = colour(k)
    return out


def recolour(fig: go.Figure, colours: Mapping[str, str]) -> go.Figure:
    """Give every trace whose name starts with a known view/classifier the colour of that name (in place).

    Trace names such as ``"L"``, ``"A_L"``, ``"L (original)"`` or ``"L∘A_S"`` take the colour of their
    first token, so plots built by :mod:`s2s_core.analysis.figures` match :func:`view_colours`.
    """
    for trace in fig.data:
        name = str(trace.name or "")
        key = name.split(" ")[0].split("∘")[0]
        if key in colours:
            if isinstance(trace, go.Bar):
                trace.marker.color = colours[key]
            elif hasattr(trace, "line"):
                trace.line.color = colours[key]
    return fig


# ------------------------------------------------------------------------------------------ images
def prepare_image(source, size: int, multiple_of: int = 32) -> torch.Tensor:
    """Load an image file/upload/bytes as ``(1, 3, S, S)`` in [0, 1]: shorter side resized to ``size`` and
    centre-cropped (the evaluation crop of Table 1), rounded to a multiple of ``multiple_of`` (SegNet's
    five poolings). Raises :class:`~s2s_core.errors.ImageLoadError` for anything that is not a usable image."""
    return load_image_tensor(source, size=int(size), multiple_of=multiple_of).unsqueeze(0)


def to_uint8(x01: torch.Tensor) -> np.ndarray:
    """``(3, H, W)`` float (clamped to [0, 1]) -> ``(H, W, 3)`` uint8."""
    return tensor_to_uint8(x01)


def upscale(image: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour upscaling of ``(H, W[, C])`` by an integer ``factor`` (crisp pixels on screen)."""
    factor = max(1, int(factor))
    if factor == 1:
        return image
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def zoom_box(height: int, width: int, cx: float, cy: float, factor: float) -> tuple[int, int, int, int]:
    """The crop ``(top, left, h, w)`` of a ``factor``-times zoom centred at fractions ``(cx, cy)`` of the
    image, shifted to stay inside it. ``factor >= 1``; the crop is at least 1 pixel."""
    if not (factor >= 1 and math.isfinite(factor)):
        raise ConfigError(f"zoom factor must be a number >= 1, got {factor}")
    h, w = max(1, round(height / factor)), max(1, round(width / factor))
    top = min(max(round(cy * height - h / 2), 0), height - h)
    left = min(max(round(cx * width - w / 2), 0), width - w)
    return top, left, h, w


def zoom(image: np.ndarray, cx: float, cy: float, factor: float) -> np.ndarray:
    """The region of :func:`zoom_box`, upscaled with nearest neighbour back to the image's size (Fig. 3's
    zoomed portions). ``image``: ``(H, W[, C])``; the same arguments crop the same region of every view."""
    height, width = image.shape[:2]
    top, left, h, w = zoom_box(height, width, cx, cy, factor)
    crop = image[top: top + h, left: left + w]
    rows = np.minimum((np.arange(height) * h) // height, h - 1)
    cols = np.minimum((np.arange(width) * w) // width, w - 1)
    return crop[rows][:, cols]


def draw_box(image: np.ndarray, box: tuple[int, int, int, int], rgb: tuple[int, int, int] = (0, 255, 255)) -> np.ndarray:
    """A copy of ``(H, W, 3)`` uint8 ``image`` with the outline of ``box = (top, left, h, w)`` drawn on it."""
    out = image.copy()
    top, left, h, w = box
    bottom, right = top + h - 1, left + w - 1
    out[top, left: right + 1] = rgb
    out[bottom, left: right + 1] = rgb
    out[top: bottom + 1, left] = rgb
    out[top: bottom + 1, right] = rgb
    return out


def colour_lut(colorscale: str = DIFF_COLORSCALE) -> np.ndarray:
    """``(256, 3)`` uint8 lookup table sampled from a plotly colour scale."""
    samples = sample_colorscale(colorscale, list(np.linspace(0.0, 1.0, 256)), colortype="tuple")
    return np.clip(np.rint(np.asarray(samples) * 255.0), 0, 255).astype(np.uint8)


def colourise(values: np.ndarray, vmax: float, lut: np.ndarray | None = None) -> np.ndarray:
    """``(H, W)`` values in ``[0, vmax]`` (clipped) -> ``(H, W, 3)`` uint8 with the colour scale ``lut``."""
    lut = colour_lut() if lut is None else lut
    scale = 255.0 / vmax if vmax > 0 else 0.0
    idx = np.clip(np.rint(np.asarray(values, dtype=np.float32) * scale), 0, 255).astype(np.intp)
    return lut[idx]


def colour_bar(vmax: float, width: int = 256, height: int = 12, lut: np.ndarray | None = None) -> np.ndarray:
    """A horizontal ``(height, width, 3)`` strip of the colour scale from 0 (left) to ``vmax`` (right)."""
    ramp = np.linspace(0.0, vmax, width, dtype=np.float32)[None, :].repeat(height, axis=0)
    return colourise(ramp, vmax, lut)


# -------------------------------------------------------------------------------------- inspection
@dataclass(frozen=True)
class Prediction:
    """Top-k of one classifier on one view: class indices, softmax probabilities and class names."""

    indices: tuple[int, ...]
    probs: tuple[float, ...]
    labels: tuple[str, ...]

    @property
    def top1(self) -> str:
        return self.labels[0]

    def text(self, k: int = 1) -> str:
        """``"circle (62%)"`` for the first ``k`` entries, joined by ``", "``."""
        return ", ".join(f"{lab} ({p:.0%})" for lab, p in zip(self.labels[:k], self.probs[:k], strict=True))


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
        return self.predictions[name][f"A_{name}"]

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
            f"{name}∘A_{name}(x)": [f"{lab} {p:.0%}" for lab, p in zip(own.labels, own.probs, strict=True)],
        }, index=pd.RangeIndex(1, len(orig.labels) + 1, name="rank"))


def inspect_image(zoo, x01: torch.Tensor, *, classes: Sequence[str] | None = None, k: int = 5,
                  bins: int = DEFAULT_BINS) -> Inspection:
    """Reconstructions, difference maps, L*a*b* histograms and top-k predictions for one image.

    Args:
        zoo: a loaded :class:`~s2s_core.zoo.Zoo` with classifiers.
        x01: ``(1, 3, S, S)`` or ``(3, S, S)`` in [0, 1], S a multiple of 32 (see :func:`prepare_image`).
        classes: class names (default :func:`class_names` of the zoo).
        k: how many classes each :class:`Prediction` keeps.
        bins: L*a*b* histogram bins per channel.

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
            probs = torch.softmax(zoo.classifiers[name](raw).float(), dim=1)
            top = probs.topk(min(k, probs.shape[1]), dim=1)
            predictions[name] = {
                view: Prediction(tuple(int(i) for i in top.indices[v]), tuple(float(p) for p in top.values[v]),
                                 tuple(_label(classes, int(i)) for i in top.indices[v]))
                for v, view in enumerate(views)
            }
        images = {view: to_uint8(shown[v]) for v, view in enumerate(views)}
        histograms = {view: lab_histograms(shown[v: v + 1], bins=bins) for v, view in enumerate(views)}
    return Inspection(names=names, views=views, images=images,
                      diffs={view: diff[v - 1] for v, view in enumerate(views) if v > 0},
                      histograms=histograms, predictions=predictions, classes=classes)


def noisy_input(x01: torch.Tensor, s: float, seed: int = NOISE_SEED) -> torch.Tensor:
    """``clamp(x + U(-s, s), 0, 1)`` with a fixed seed, so the same ``s`` always gives the same noise (Sec. 3.3.2)."""
    return add_uniform_noise(x01, s, noise_generator(seed))


def _label(classes: Sequence[str], index: int) -> str:
    return classes[index] if 0 <= index < len(classes) else f"class {index}"


# ------------------------------------------------------------------------------------------ data
def find_test_split(data_dir: str | Path) -> Path | None:
    """The folder of a zoo's labelled test images: ``data/test`` (or ``val``), else ``data`` itself when it
    holds class sub-folders; ``None`` when there is none."""
    data_dir = Path(data_dir)
    for split in TEST_SPLITS:
        if (data_dir / split).is_dir():
            return data_dir / split
    if data_dir.is_dir() and any(p.is_dir() and not p.name.startswith(".") for p in data_dir.iterdir()):
        return data_dir
    return None


@dataclass(frozen=True)
class GalleryItem:
    """One labelled test image: its path and class (folder) name."""

    path: Path
    label: str

    @property
    def title(self) -> str:
        return f"{self.label} / {self.path.name}"


def gallery(root: str | Path | None, per_class: int = 4, limit: int = 48) -> list[GalleryItem]:
    """Up to ``per_class`` images of every class folder of an ImageFolder tree (sorted), ``limit`` in all,
    interleaved by class so that a short gallery still shows every class."""
    if root is None or not Path(root).is_dir():
        return []
    by_class: list[list[GalleryItem]] = []
    for folder in sorted(p for p in Path(root).iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
        by_class.append([GalleryItem(p, folder.name) for p in files[:per_class]])
    items = [group[r] for r in range(per_class) for group in by_class if r < len(group)]
    return items[:limit]


def count_images(root: str | Path) -> int:
    """Number of image files (by extension) anywhere below ``root``."""
    return sum(1 for p in Path(root).rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())


def class_names(zoo) -> list[str]:
    """Class names in label order: ``zoo.json``'s ``classes``, else the sorted class folders of its test data
    when their number matches ``num_classes``, else ``"class 0"``, ``"class 1"``, ..."""
    if zoo.classes:
        return list(zoo.classes)
    root = find_test_split(zoo.data_dir)
    if root is not None:
        folders = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        if len(folders) == zoo.num_classes:
            return folders
    return [f"class {i}" for i in range(zoo.num_classes)]


def parameter_count(module: torch.nn.Module) -> int:
    """Number of parameters of a module."""
    return sum(p.numel() for p in module.parameters())


def classifier_frame(zoo) -> pd.DataFrame:
    """The zoo's classifiers: short name, registry name, family, parameters, input size, fine-tuned AE."""
    rows = []
    for name, clf in zoo.classifiers.items():
        spec = getattr(clf, "spec", None)
        rows.append({
            "name": name,
            "network": getattr(spec, "name", type(clf).__name__),
            "family": getattr(spec, "family", "") or "",
            "parameters": parameter_count(clf),
            "input size": f"{spec.input_size}×{spec.input_size}" if spec else "",
            "fine-tuned AE": f"A_{name}" if name in zoo.decoders else "—",
        })
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------ figures
def lab_grid_figure(insp: Inspection, colours: Mapping[str, str] | None = None, height: int = 420) -> go.Figure:
    """Fig. 3's histograms: one column per view and one row per channel (L*, a*, b*); each view in its colour,
    with the original's histogram as a dashed grey reference in every other column."""
    colours = dict(colours or view_colours(insp.names))
    rows = len(CHANNELS)
    fig = make_subplots(rows=rows, cols=len(insp.views), shared_xaxes="rows", shared_yaxes="rows",
                        horizontal_spacing=0.012, vertical_spacing=0.09, column_titles=list(insp.views))
    for col, view in enumerate(insp.views, start=1):
        for row, channel in enumerate(CHANNELS, start=1):
            if view != ORIGINAL:
                edges, dens = insp.histograms[ORIGINAL][channel]
                fig.add_trace(go.Scatter(x=(edges[:-1] + edges[1:]) / 2, y=dens, mode="lines", line_shape="hvh",
                                         line={"color": "#b0b0b0", "width": 1, "dash": "dot"}, name="original",
                                         legendgroup="original", showlegend=False, hoverinfo="skip"), row=row, col=col)
            edges, dens = insp.histograms[view][channel]
            fig.add_trace(go.Scatter(x=(edges[:-1] + edges[1:]) / 2, y=dens, mode="lines", line_shape="hvh",
                                     line={"color": colours.get(view, "#333333"), "width": 1.5}, name=view,
                                     fill="tozeroy", showlegend=False,
                                     hovertemplate=f"{view} {LAB_TITLES[channel]} %{{x:.0f}}: %{{y:.3g}}<extra></extra>"),
                          row=row, col=col)
    fig.update_yaxes(showticklabels=False)
    for row, channel in enumerate(CHANNELS, start=1):
        fig.update_yaxes(title_text=LAB_TITLES[channel], title_standoff=2, row=row, col=1)
    fig.update_xaxes(tickfont={"size": 9})
    fig.update_layout(height=height, margin={"l": 40, "r": 10, "t": 70, "b": 20},
                      title={"text": "L*a*b* histograms of every view (dotted grey: the original's)",
                             "font": {"size": 13}, "y": 0.98, "yanchor": "top"})
    return fig


def panel_images(insp: Inspection, cx: float, cy: float, factor: float, vmax: float,
                 upscale_to: int = 256) -> dict[str, dict[str, np.ndarray]]:
    """What the reconstruction panel draws for each view, all ``(D, D, 3)`` uint8 with ``D`` the image size
    upscaled (nearest neighbour) to at least ``upscale_to``: ``"image"`` with the zoom region outlined,
    ``"zoom"`` (the same region of every view, Fig. 3) and ``"diff"`` (``|A(x) - x|`` on the colour scale
    ``[0, vmax]``; absent for the original)."""
    up = max(1, upscale_to // insp.size)
    box = zoom_box(insp.size, insp.size, cx, cy, factor)
    lut = colour_lut()
    out: dict[str, dict[str, np.ndarray]] = {}
    for view in insp.views:
        img = insp.images[view]
        parts = {"image": upscale(draw_box(img, box), up) if factor > 1 else upscale(img, up),
                 "zoom": upscale(zoom(img, cx, cy, factor), up)}
        if view in insp.diffs:
            parts["diff"] = upscale(colourise(insp.diffs[view], vmax, lut), up)
        out[view] = parts
    return out


def montage(parts: Mapping[str, Mapping[str, np.ndarray]], gap: int = 4) -> np.ndarray:
    """One ``(rows, cols)`` image of :func:`panel_images`: a column per view, rows image / zoom / difference
    (white where the original has no difference map), separated by ``gap`` white pixels."""
    views = list(parts)
    d = next(iter(parts.values()))["image"].shape[0]
    rows = ("image", "zoom", "diff")
    out = np.full((len(rows) * (d + gap) - gap, len(views) * (d + gap) - gap, 3), 255, dtype=np.uint8)
    for c, view in enumerate(views):
        for r, what in enumerate(rows):
            if what in parts[view]:
                out[r * (d + gap): r * (d + gap) + d, c * (d + gap): c * (d + gap) + d] = parts[view][what]
    return out
