"""What every lens provides (DESIGN.md "Lenses"): one protocol, read by every check.

A lens answers "what does classifier i use in this image?" in its own way. Whatever the way, it gives:

- **heatmaps**: per image, ``(B, S, S)`` non-negative values, larger = more used by i
  (:meth:`Lens.heatmap`); a lens may give several (S2S gives |A_i − A_S| and |x − A_i|), each a
  :class:`Heatmap` with the key and label of its row in the ground-truth table. A class-conditional lens
  (``class_conditional``) takes a ``target`` class per image (default: i's predicted class);
- **flags**: ``class_conditional``, ``needs_model`` (False for model-free baselines: a centre prior, an edge
  map), ``default`` (False for a lens too slow for every image of a data set, which then scores a subset);
- **a display-ready per-image view** (:meth:`Lens.view`): a :class:`LensView` of tiles (uint8 images with
  captions) per classifier, so that a page only draws it;
- **its name and paper** (``key``, ``title``, ``summary``, ``paper``).

Lenses are registered in :mod:`s2s_core.lenses.registry`; the ground-truth table, ``s2s lenses`` and the
Lenses page read that registry. Heatmaps are computed on a :class:`BatchContext`: the zoo, one batch of views
(the encoder runs once per batch for every lens that needs reconstructions) and per-lens state built once per
evaluation (probes, fitted weights).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import numpy as np
import pandas as pd
import torch

from s2s_core.imaging import to_uint8
from s2s_core.lenses.scores import best_iou, pixel_auc
from s2s_core.lenses.tiles import Tile, heat_tile
from s2s_core.views import ORIGINAL


@dataclass(frozen=True)
class Heatmap:
    """One heatmap a lens gives: ``key`` (its row in ``ground_truth.csv``) and ``label`` (what a reader sees;
    may name the evaluation's settings, ``{steps}``)."""

    key: str
    label: str


class Batch(Protocol):
    """What a lens reads of a batch: ``x`` ``(B, 3, S, S)`` in [0, 1], ``images`` (view name -> ``(B, 3, S, S)``:
    ``"original"``, ``"A_S"``, ``"A_<name>"``), ``y`` ``(B,)`` labels and ``item(b)`` (a stable number of
    image b, for per-image seeds). :class:`~s2s_core.analysis.dataset.base.BatchViews` is one."""

    x: torch.Tensor
    y: torch.Tensor
    images: dict[str, torch.Tensor]

    def item(self, b: int) -> int: ...


@dataclass
class ImageBatch:
    """A :class:`Batch` of images outside a data set (one uploaded image, say): views from one encoder pass."""

    x: torch.Tensor
    images: dict[str, torch.Tensor]
    y: torch.Tensor
    code: Any = None  #: the base encoder's code of ``x`` (from :meth:`of`), for decoders outside ``images``

    @classmethod
    def of(cls, zoo, x01: torch.Tensor, names: Sequence[str] | None = None) -> ImageBatch:
        """``x01`` ``(B, 3, S, S)`` through the zoo's encoder once and every decoder of ``names`` (default all);
        the code is kept, so that a lens decoding more (the S2S control) needs no second encoder pass."""
        with torch.inference_mode():
            code = zoo.encode(x01)
            recon = zoo.reconstruct_all(x01, names=list(names) if names is not None else None, code=code)
        return cls(x=x01, images={ORIGINAL: x01, **recon}, y=torch.full((x01.shape[0],), -1, dtype=torch.long),
                   code=code)

    def item(self, b: int) -> int:
        return int(b)


@dataclass
class BatchContext:
    """What the lenses share for one evaluation (or one page view): the zoo, the settings (``options``: a mapping
    that lenses read by name, e.g. ``k``, ``inversion_per_class``), per-lens state made once (:meth:`state`), and,
    per batch, the views and which images count (``valid`` ``(B,)`` bool, or None: all). ``skipped`` records why a
    lens gave no map for a classifier."""

    zoo: Any
    options: Mapping[str, Any] = field(default_factory=dict)
    batch: Batch | None = None
    valid: torch.Tensor | None = None
    skipped: dict[tuple[str, str], str] = field(default_factory=dict)
    _state: dict[str, Any] = field(default_factory=dict)
    _cache: dict = field(default_factory=dict)

    def start_batch(self, batch: Batch, valid: torch.Tensor | None = None) -> None:
        """A new batch; what lenses cached for the previous one is dropped."""
        self.batch, self.valid, self._cache = batch, valid, {}

    @property
    def x(self) -> torch.Tensor:
        return self.batch.x

    @property
    def size(self) -> int:
        return int(self.batch.x.shape[-1])

    def state(self, key: str, make: Callable[[], Any]) -> Any:
        """Lens ``key``'s state for this evaluation, made by ``make()`` the first time."""
        if key not in self._state:
            self._state[key] = make()
        return self._state[key]

    def cached(self, key, compute: Callable):
        """``compute()`` once per batch and ``key``."""
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]


@dataclass
class Column:
    """One classifier's part of a lens view: a title, tiles, an optional note (why nothing is shown), a table
    and ``details`` (more tiles, shown folded)."""

    classifier: str
    title: str
    tiles: list[Tile] = field(default_factory=list)
    note: str = ""
    table: pd.DataFrame | None = None
    details: list[Tile] = field(default_factory=list)


@dataclass
class LensView:
    """A lens on one image, ready to show: the image itself (``image``, uint8 ``(S, S, 3)``), one :class:`Column`
    per classifier, a caption, and the raw heatmaps (classifier -> heatmap key -> ``(S, S)``) that
    :meth:`scores` measures against a mask."""

    lens: str
    image: np.ndarray
    columns: list[Column]
    caption: str = ""
    heatmaps: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)

    def scores(self, mask: np.ndarray, labels: Mapping[str, str]) -> pd.DataFrame:
        """Pixel AUC and best IoU of every heatmap against a boolean ``(S, S)`` mask: one row per (classifier,
        heatmap), ``label`` from ``labels`` (heatmap key -> label)."""
        m = torch.from_numpy(np.asarray(mask, dtype=bool))[None]
        rows = []
        for name, maps in self.heatmaps.items():
            for key, heat in maps.items():
                h = torch.from_numpy(np.asarray(heat, dtype=np.float32))[None]
                rows.append({"classifier": name, "lens": key, "label": labels.get(key, key),
                             "AUC": float(pixel_auc(h, m)[0]), "IoU": float(best_iou(h, m)[0][0])})
        return pd.DataFrame(rows, columns=["classifier", "lens", "label", "AUC", "IoU"])


class Lens(ABC):
    """A lens: subclass, set the class attributes, implement :meth:`heatmap`, and register an instance in
    :mod:`s2s_core.lenses.registry` (one line). :meth:`view` draws every heatmap by default; override it to
    show more (S2S shows A_i(x) too)."""

    key: ClassVar[str] = ""
    title: ClassVar[str] = ""
    summary: ClassVar[str] = ""  #: one sentence: what it shows
    paper: ClassVar[str] = ""
    class_conditional: ClassVar[bool] = False
    needs_model: ClassVar[bool] = True
    default: ClassVar[bool] = True  #: False: too slow for every image; scored only when asked for
    #: True for a lens that reads the AEs' reconstructions: only then does :meth:`view` run the encoder
    reads_reconstructions: ClassVar[bool] = False
    #: False for a lens whose maps do not read i's weights when they are drawn (S2S reads A_i, tuned through i
    #: beforehand): the model-randomisation check says so instead of giving it a pass or a fail
    reads_weights: ClassVar[bool] = True
    heatmaps: ClassVar[tuple[Heatmap, ...]] = ()
    #: For a model-free lens: the keys of the lenses it is a baseline of (None: every lens); S2S's control
    #: ``|x − A_S(x)|`` is a baseline of S2S alone
    baseline_for: ClassVar[tuple[str, ...] | None] = None

    @abstractmethod
    def heatmap(self, ctx: BatchContext, classifier: str, variant: str,
                target: torch.Tensor | None = None) -> torch.Tensor | None:
        """``(B, S, S)`` heatmap ``variant`` (a key of :attr:`heatmaps`) of ``classifier`` on ``ctx``'s batch, or
        ``None`` when the lens has none for it (the reason in ``ctx.skipped``). ``target`` ``(B,)``: the class
        per image for a class-conditional lens (default: the predicted class); other lenses ignore it. A lens
        that scores only some images gives NaN maps for the others."""

    def labels(self, **settings) -> dict[str, str]:
        """Heatmap key -> label, with the settings filled in (``{steps}``)."""
        return {h.key: h.label.format(**settings) if settings else h.label for h in self.heatmaps}

    def view(self, zoo, x01: torch.Tensor, names: Sequence[str], *, classes: Sequence[str] = (),
             mask: np.ndarray | None = None, factor: int = 1, options: Mapping[str, Any] | None = None,
             batch: ImageBatch | None = None) -> LensView:
        """The lens on one image ``x01`` ``(1, 3, S, S)`` for classifiers ``names`` (one encoder pass for all):
        one :meth:`column` per classifier. ``batch``: ``x01``'s views from :meth:`ImageBatch.of` when the caller
        has them already (a page drawing several lenses of the same image encodes it once for all of them)."""
        ctx = BatchContext(zoo, options or {})
        if self.reads_reconstructions:  # one encoder pass, every chosen decoder once
            batch = batch or ImageBatch.of(zoo, x01, [n for n in names if n in getattr(zoo, "decoders", {})])
        else:  # a lens that reads only x and the classifiers: no AE pass at all
            batch = ImageBatch(x=x01, images={ORIGINAL: x01}, y=torch.full((x01.shape[0],), -1, dtype=torch.long))
        ctx.start_batch(batch)
        out = LensView(self.key, to_uint8(x01[0]), [])
        for name in names:
            column, maps = self.column(ctx, name, mask=mask, factor=factor)
            out.columns.append(column)
            if maps:
                out.heatmaps[name] = maps
        return out

    def column(self, ctx: BatchContext, classifier: str, *, mask: np.ndarray | None = None,
               factor: int = 1) -> tuple[Column, dict[str, np.ndarray]]:
        """One classifier's column on ``ctx``'s one-image batch: every heatmap as a tile (coloured to its own
        maximum, the mask's outline drawn, enlarged ``factor`` times), and the raw ``(S, S)`` maps by key."""
        column, maps = Column(classifier, classifier), {}
        for h in self.heatmaps:
            heat = self.heatmap(ctx, classifier, h.key)
            if heat is None:
                continue
            maps[h.key] = heat[0].detach().float().cpu().numpy()
            column.tiles.append(heat_tile(maps[h.key], h.label.replace("_i", f"_{classifier}"), mask, factor))
        if not column.tiles:
            column.note = ctx.skipped.get((self.key, classifier), f"{self.title}: nothing for {classifier}")
        return column, maps
