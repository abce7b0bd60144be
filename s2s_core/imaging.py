"""Image operations for showing reconstructions (Fig. 3): loading a view-sized input, uint8 conversion, crisp
upscaling, the synchronised zoom, difference maps on a colour scale, and the panel's montage. NumPy and torch only.

Images here are ``(H, W, 3)`` uint8 arrays (what a screen or a PNG holds) unless a docstring says otherwise.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping

import numpy as np
import torch
from plotly.colors import sample_colorscale

from s2s_core.data.images import load_image_tensor, tensor_to_uint8
from s2s_core.errors import ConfigError

#: Colour scale of the difference maps (dark = no change, bright = large change).
DIFF_COLORSCALE = "Inferno"


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


@functools.lru_cache(maxsize=16)
def colour_lut(colorscale: str = DIFF_COLORSCALE) -> np.ndarray:
    """``(256, 3)`` uint8 lookup table sampled from a plotly colour scale; read-only, made once per scale
    (plotly's sampling takes about 3 ms, and a Lenses view colours some 65 heatmaps)."""
    samples = sample_colorscale(colorscale, list(np.linspace(0.0, 1.0, 256)), colortype="tuple")
    lut = np.clip(np.rint(np.asarray(samples) * 255.0), 0, 255).astype(np.uint8)
    lut.flags.writeable = False
    return lut


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


def panel_images(inspection, cx: float, cy: float, factor: float, vmax: float,
                 upscale_to: int = 256) -> dict[str, dict[str, np.ndarray]]:
    """What the reconstruction panel draws for each view, all ``(D, D, 3)`` uint8 with ``D`` the image size
    upscaled (nearest neighbour) to at least ``upscale_to``: ``"image"`` with the zoom region outlined,
    ``"zoom"`` (the same region of every view, Fig. 3) and ``"diff"`` (``|A(x) - x|`` on the colour scale
    ``[0, vmax]``; absent for the original)."""
    up = max(1, upscale_to // inspection.size)
    box = zoom_box(inspection.size, inspection.size, cx, cy, factor)
    lut = colour_lut()
    out: dict[str, dict[str, np.ndarray]] = {}
    for view in inspection.views:
        img = inspection.images[view]
        parts = {"image": upscale(draw_box(img, box), up) if factor > 1 else upscale(img, up),
                 "zoom": upscale(zoom(img, cx, cy, factor), up)}
        if view in inspection.diffs:
            parts["diff"] = upscale(colourise(inspection.diffs[view], vmax, lut), up)
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
