"""Display-ready pieces of a lens view: tiles (uint8 images with captions), heatmaps coloured to their own
maximum, and the outline of a ground-truth mask drawn on any of them. Pages only draw tiles; they never build
them from these parts themselves."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from s2s_core.imaging import colour_lut, colourise, upscale

#: Colour of the ground-truth outline drawn on images (cyan: apart from the heatmap colour scale).
OUTLINE_RGB = (0, 255, 255)
#: Pixels: lens images smaller than this are enlarged (nearest neighbour) to at least this for showing.
SHOWN = 160


@dataclass
class Tile:
    """One image of a lens view: ``image`` uint8 ``(H, W, 3)`` and what it shows."""

    image: np.ndarray
    caption: str


def shown_factor(size: int, shown: int = SHOWN) -> int:
    """How many times a ``size`` px image is enlarged for showing (at least 1)."""
    return max(1, shown // max(int(size), 1))


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


def image_tile(image: np.ndarray, caption: str, mask: np.ndarray | None = None, factor: int = 1) -> Tile:
    """A uint8 ``(S, S, 3)`` image enlarged ``factor`` times, with the mask's outline."""
    return Tile(with_outline(upscale(image, factor), mask, factor), caption)


def heat_array(values: np.ndarray, mask: np.ndarray | None = None, factor: int = 1,
               lut: np.ndarray | None = None) -> np.ndarray:
    """A ``(S, S)`` heatmap coloured to its own maximum (dark: nothing, bright: the most), enlarged, outlined."""
    vmax = float(np.nanmax(values)) if np.size(values) and np.isfinite(values).any() else 0.0
    lut = colour_lut() if lut is None else lut
    return with_outline(upscale(colourise(np.nan_to_num(values), vmax, lut), factor), mask, factor)


def heat_tile(values: np.ndarray, caption: str, mask: np.ndarray | None = None, factor: int = 1) -> Tile:
    """:func:`heat_array` as a tile."""
    return Tile(heat_array(values, mask, factor), caption)


def side_by_side(columns: list[np.ndarray], gap: int = 4) -> np.ndarray:
    """Columns of any heights side by side on white, ``gap`` px apart (shorter ones padded at the bottom)."""
    if not columns:
        return np.zeros((0, 0, 3), np.uint8)
    height = max(c.shape[0] for c in columns)
    padded = [np.pad(c, ((0, height - c.shape[0]), (0, 0), (0, 0)), constant_values=255) for c in columns]
    white = np.full((height, gap, 3), 255, np.uint8)
    return np.concatenate([p for c in padded for p in (c, white)][:-1], axis=1)


def stack(tiles: list[Tile], gap: int = 6) -> np.ndarray:
    """The tiles' images (equal widths) top to bottom on white, ``gap`` px apart: one picture for a column."""
    if not tiles:
        return np.zeros((0, 0, 3), np.uint8)
    white = np.full((gap, tiles[0].image.shape[1], 3), 255, np.uint8)
    return np.concatenate([part for t in tiles for part in (t.image, white)][:-1], axis=0)
