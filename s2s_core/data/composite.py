"""Two shapes in one image: composites for the class-sensitivity check (issue 26; FunnyBirds' "TS" check,
Hesse et al., ICCV 2023; Grad-CAM's pointing test with two objects, Selvaraju et al., ICCV 2017).

A lens that answers "where is class c?" must answer differently for two classes in one image. These images
are made from a labelled split with coverage masks (:mod:`s2s_core.data.masks`): image a keeps its background
and its shape; the shape of image b (its coverage and its fill colour, the mean colour where b's coverage is
above :data:`SOLID`) is translated by whole pixels onto a, where it

* lies inside the frame with at least :data:`BORDER` pixels to spare (never cut),
* keeps at least ``gap`` pixels from a's shape (a's support dilated; never overlapping), and
* stands out from a's background under it (the fill at least :data:`MIN_CONTRAST` away from its mean colour).

The composite is ``a * (1 − m_b') + fill_b * m_b'`` (the demo generator's own rule, with b's shifted coverage
``m_b'``), so both masks are exact: a's coverage unchanged and b's shifted.

On disk, beside a split ``<split>/`` (ImageFolder, labelled by class a):

    <split>_pairs/<class a>/pair_<i>.png          the composite, RGB
    <split>_pairs_masks/<class a>/pair_<i>.png    a's coverage (8-bit; the layout of <split>_masks/)
    <split>_pairs_second/<class a>/pair_<i>.png   b's coverage (8-bit)
    <split>_pairs.csv                             one row per composite: file, first, second (class names),
                                                  first_source, second_source (files of the split), dy, dx
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from s2s_core.data.masks import masks_folder
from s2s_core.errors import ConfigError

#: Coverage above which a pixel of b is pure fill (its colour is estimated there).
SOLID = 0.99
#: Pixels of the frame a placed shape keeps clear of on every side.
BORDER = 1
#: Pixels between the two shapes' supports (coverage > 0).
GAP = 2
#: Least Euclidean RGB distance (in [0, 1] units) between b's fill and a's background under it.
MIN_CONTRAST = 0.25


def pairs_folder(split_dir: str | Path) -> Path:
    """Where a split's composites live: beside it, ``<split>_pairs`` (ImageFolder, labelled by class a)."""
    split_dir = Path(split_dir)
    return split_dir.with_name(split_dir.name + "_pairs")


def second_masks_folder(pairs_dir: str | Path) -> Path:
    """The coverage of b in each composite: beside the composites, ``<split>_pairs_second`` (same sub-paths)."""
    pairs_dir = Path(pairs_dir)
    return pairs_dir.with_name(pairs_dir.name + "_second")


def pairs_index(pairs_dir: str | Path) -> Path:
    """The index of the composites: ``<split>_pairs.csv`` beside them."""
    pairs_dir = Path(pairs_dir)
    return pairs_dir.with_name(pairs_dir.name + ".csv")


def first_masks_folder(pairs_dir: str | Path) -> Path:
    """The coverage of a in each composite: ``<split>_pairs_masks`` (:func:`~s2s_core.data.masks.masks_folder`)."""
    return masks_folder(pairs_dir)


@dataclass(frozen=True)
class Composite:
    """One composite: ``image`` (3, S, S) in [0, 1], the coverages ``first`` and ``second`` (1, S, S) in [0, 1]
    of a's and b's shapes, and b's shift ``(dy, dx)`` in pixels."""

    image: torch.Tensor
    first: torch.Tensor
    second: torch.Tensor
    shift: tuple[int, int]


def fill_colour(image: torch.Tensor, coverage: torch.Tensor) -> torch.Tensor | None:
    """``(3,)`` mean colour of ``image`` (3, S, S) where ``coverage`` (1, S, S) exceeds :data:`SOLID`; ``None``
    where no pixel does (a shape too thin to say)."""
    solid = coverage[0] > SOLID
    if not bool(solid.any()):
        return None
    return image[:, solid].mean(dim=1)


def support(coverage: torch.Tensor) -> torch.Tensor:
    """``(S, S)`` bool: the pixels a shape touches at all (coverage > 0) of a coverage (1, S, S)."""
    return coverage[0] > 0


def inside(coverage: torch.Tensor, border: int = BORDER) -> bool:
    """Whether a shape's support keeps ``border`` pixels clear of every edge of the frame (it is not cut)."""
    s = support(coverage)
    if border < 1:
        return True
    edge = torch.ones_like(s)
    edge[border:-border, border:-border] = False
    return not bool((s & edge).any())


def free_positions(first: torch.Tensor, second: torch.Tensor, gap: int = GAP,
                   border: int = BORDER) -> tuple[torch.Tensor, tuple[int, int]]:
    """Where b's shape may go on a: ``(ok (R, C) bool, (top, left))``, ``ok[r, c]`` true when b's bounding box
    placed with its corner at ``(r + border, c + border)`` keeps ``border`` pixels from the frame and ``gap``
    pixels from a's support; ``(top, left)`` is b's box corner now (a shift is ``new corner − (top, left)``).

    One correlation of a's dilated support with b's support cropped to its box, ``(S, S)`` coverages in
    ``first``, ``second`` (1, S, S)."""
    b = support(second)
    rows, cols = b.any(1).nonzero().flatten(), b.any(0).nonzero().flatten()
    top, left = int(rows[0]), int(cols[0])
    box = b[top:int(rows[-1]) + 1, left:int(cols[-1]) + 1].float()
    a = support(first).float()[None, None]
    blocked = F.max_pool2d(a, 2 * gap + 1, stride=1, padding=gap) if gap > 0 else a
    size = first.shape[-1]
    inner = blocked[..., border:size - border, border:size - border]
    if inner.shape[-2] < box.shape[0] or inner.shape[-1] < box.shape[1]:
        return torch.zeros(0, 0, dtype=torch.bool), (top, left)
    overlap = F.conv2d(inner, box[None, None])[0, 0]
    return overlap < 0.5, (top, left)


def compose(image: torch.Tensor, first: torch.Tensor, other: torch.Tensor, second: torch.Tensor,
            generator: torch.Generator, *, gap: int = GAP, border: int = BORDER,
            min_contrast: float = MIN_CONTRAST) -> Composite | None:
    """Image a ``image`` (3, S, S) with coverage ``first`` (1, S, S), and b's shape (its coverage ``second`` in
    ``other`` (3, S, S)) moved onto it at a free position drawn from ``generator`` (uniform over
    :func:`free_positions`). ``None`` when a is cut by the frame, b has no solid fill, no position is free, or
    b's fill would not stand out from a's background there (``min_contrast``)."""
    colour = fill_colour(other, second)
    if colour is None or not inside(first, border) or not bool(support(second).any()):
        return None
    ok, (top, left) = free_positions(first, second, gap, border)
    places = ok.nonzero()
    if places.shape[0] == 0:
        return None
    r, c = places[int(torch.randint(places.shape[0], (1,), generator=generator))].tolist()
    dy, dx = r + border - top, c + border - left
    moved = torch.roll(second, shifts=(dy, dx), dims=(-2, -1))  # no wrap: the support lies inside the frame
    under = (image * moved).sum(dim=(1, 2)) / moved.sum().clamp_min(1e-6)
    if float((colour - under).norm()) < min_contrast:
        return None
    out = image * (1 - moved) + colour[:, None, None] * moved
    return Composite(out.clamp(0, 1), first, moved, (dy, dx))


@dataclass(frozen=True)
class PairSet:
    """A composite set read back: ``files`` (relative paths), class names ``first`` / ``second`` per image,
    images ``x`` (N, 3, S, S) and the coverages ``first_masks`` / ``second_masks`` (N, 1, S, S), all in [0, 1]."""

    files: tuple[str, ...]
    first: tuple[str, ...]
    second: tuple[str, ...]
    x: torch.Tensor
    first_masks: torch.Tensor
    second_masks: torch.Tensor


def _png(path: Path, mode: str) -> torch.Tensor:
    """A PNG as a float tensor in [0, 1]: ``(3, S, S)`` for ``"RGB"``, ``(1, S, S)`` for ``"L"``."""
    if not path.is_file():
        raise ConfigError(f"{path} is missing: rewrite the composite set (s2s demo-pairs)")
    with Image.open(path) as im:
        a = np.asarray(im.convert(mode), dtype=np.float32) / 255.0
    t = torch.from_numpy(np.ascontiguousarray(a))
    return t.permute(2, 0, 1) if t.dim() == 3 else t[None]


def read_pairs(pairs_dir: str | Path) -> PairSet:
    """Read the composites at ``pairs_dir`` with both masks, in the order of their index CSV; a missing index or
    file -> ConfigError naming it."""
    pairs_dir = Path(pairs_dir)
    index = pairs_index(pairs_dir)
    if not pairs_dir.is_dir() or not index.is_file():
        raise ConfigError(f"no two-shape composite set at {pairs_dir} (with its index {index.name}): write one with "
                          "`s2s demo-pairs ZOO` or name it with --sensitivity-pairs")
    with open(index, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ConfigError(f"{index} lists no composite")
    files = tuple(r["file"] for r in rows)
    x = torch.stack([_png(pairs_dir / f, "RGB") for f in files])
    first = torch.stack([_png(first_masks_folder(pairs_dir) / f, "L") for f in files])
    second = torch.stack([_png(second_masks_folder(pairs_dir) / f, "L") for f in files])
    return PairSet(files, tuple(r["first"] for r in rows), tuple(r["second"] for r in rows), x, first, second)
