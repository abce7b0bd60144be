"""The protocol every dataset analysis follows: see the views of a batch, accumulate, return tables.

The evaluation (:func:`s2s_core.analysis.evaluate.evaluate_zoo`) runs the zoo's shared encoder ONCE per batch
and every decoder once on its code (:meth:`s2s_core.zoo.Zoo.reconstruct_all`), wraps the result in a
:class:`BatchViews` and hands it to each selected analysis in turn:

    analysis = SomeAnalysis(options, zoo)      # once, before the first batch
    analysis.update(views)                     # for every batch
    analysis.tables() -> {results key: frame}  # once, after the last batch; keys of s2s_core.results

Classifier outputs are computed on demand and cached per batch (:meth:`BatchViews.logits`), so Table 1, Table 2
and the noise curves at s = 0 share one forward pass of each classifier on each view. An analysis that needs
more (noisy copies of the batch, say) computes it itself from ``views.x`` and ``views.zoo``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd
import torch

from s2s_core.analysis.noise import NOISE_GRID, NOISE_SEED
from s2s_core.inversion.error_map import GT_STEPS as GT_INVERSION_STEPS
from s2s_core.inversion.invert import STEPS as INVERSION_STEPS
from s2s_core.metrics import topk_correct
from s2s_core.views import ORIGINAL, view_names


@dataclass(frozen=True)
class Options:
    """Settings of an evaluation that analyses may read (each takes what it needs)."""

    noise_grid: tuple[float, ...] = NOISE_GRID  #: strengths s of U(-s, s) noise (Sec. 3.3.2)
    seed: int = NOISE_SEED  #: seed of the noise generator
    lab_bins: int = 64  #: bins per L*a*b* channel (Sec. 3.3.1)
    nmi_estimator: str | None = None  #: e.g. "raw-256"; None: the binning rule + bias correction (analysis.nmi)
    item_names: tuple[str, ...] | None = None  #: file of each data index (``views.ids``), for files that list images
    class_names: tuple[str, ...] | None = None  #: name of each label, for per-class tables
    per_class: int = 2  #: images per class for analyses that sample the data (feature inversion)
    inversion_layers: int = 4  #: layers per classifier, first to last, that feature inversion inverts
    inversion_steps: int = INVERSION_STEPS  #: gradient steps per inversion
    #: images per class on which the ground-truth table also scores the feature-inversion error map (0: off)
    gt_inversion_per_class: int = 0
    gt_inversion_steps: int = GT_INVERSION_STEPS  #: gradient steps per inversion of that error map


@dataclass
class BatchViews:
    """One batch seen through the zoo: the input, every reconstruction, and (lazily) every classifier's logits.

    Attributes:
        x: ``(B, 3, S, S)`` originals in [0, 1].
        y: ``(B,)`` int64 labels in the classifiers' label space.
        images: view name -> ``(B, 3, S, S)``: ``"original"`` (= ``x``), ``"A_S"`` and ``"A_<name>"``; the
            reconstructions exactly as the AEs output them (not clamped), as the classifiers were fine-tuned on.
        names: short names of the classifiers that have a fine-tuned AE (``"L"``, ...), in zoo order.
        zoo: the loaded zoo (its ``classifiers``, ``reconstruct_all`` for further inputs).
        start: index of this batch's first image in the stream (images are numbered in stream order).
        ids: ``(B,)`` int64 index of each image in its data set (``None``: the stream position).
        natives: classifier name -> ``(B, 3, s, s)`` in [0, 1], that classifier's own centre crop of the same
            loaded images (its weights' protocol, :mod:`s2s_core.data.preprocess`); classifiers not listed read
            ``x`` (resized to their input size). Used for the ``original`` view only: reconstructions exist
            at the AE's size.
        masks: ``(B, 1, S, S)`` ground-truth coverage in [0, 1] of where the class is, when the data has masks
            (:mod:`s2s_core.data.masks`; the demo's test split does), else ``None``.
    """

    x: torch.Tensor
    y: torch.Tensor
    images: dict[str, torch.Tensor]
    names: list[str]
    zoo: object
    start: int = 0
    ids: torch.Tensor | None = None
    natives: dict[str, torch.Tensor] = field(default_factory=dict)
    masks: torch.Tensor | None = None
    _logits: dict[tuple[str, str], torch.Tensor] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, zoo, x: torch.Tensor, y: torch.Tensor, names: Sequence[str], start: int = 0,
           ids: torch.Tensor | None = None, natives: dict[str, torch.Tensor] | None = None,
           masks: torch.Tensor | None = None) -> BatchViews:
        """Reconstruct ``x`` with one encoder pass (every decoder once) and wrap it."""
        return cls(x=x, y=y, images={ORIGINAL: x, **zoo.reconstruct_all(x)}, names=list(names), zoo=zoo, start=start,
                   ids=ids, natives=dict(natives or {}), masks=masks)

    @property
    def views(self) -> list[str]:
        """``["original", "A_S", "A_<name>", ...]`` in zoo order."""
        return view_names(self.names)

    @property
    def size(self) -> int:
        return int(self.y.numel())

    def item(self, b: int) -> int:
        """A stable number for image ``b`` of this batch, for per-image seeds: its data index when the batches
        carry ``ids``, else its stream position. Seeds drawn from it do not depend on the streaming order."""
        return int(self.ids[b]) if self.ids is not None else self.start + b

    def logits(self, classifier: str, view: str) -> torch.Tensor:
        """``(B, C)`` logits of ``classifier`` on ``view`` (computed once per batch, then cached)."""
        key = (classifier, view)
        if key not in self._logits:
            image = self.natives.get(classifier) if view == ORIGINAL else None
            self._logits[key] = self.zoo.classifiers[classifier](self.images[view] if image is None else image)
        return self._logits[key]


class Analysis(ABC):
    """A dataset analysis: built once per evaluation, fed every batch, then asked for its tables.

    Subclasses set ``name`` (what ``s2s evaluate --only/--skip`` calls it; by default also the one key of
    :mod:`s2s_core.results` that :meth:`tables` returns, else set ``tables_written``), say what they compute in
    the first line of their docstring (``s2s evaluate --help`` shows it), prepare their accumulators in
    :meth:`setup`, and are listed in :mod:`s2s_core.analysis.dataset.registry`.
    """

    name: str = ""
    tables_written: tuple[str, ...] = ()
    #: False for an expensive analysis that runs only when ``--only`` names it (feature inversion).
    default: bool = True

    def __init__(self, options: Options, zoo, names: Sequence[str]) -> None:
        self.options, self.zoo, self.names = options, zoo, list(names)
        self.setup()

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if cls.name and not cls.tables_written:
            cls.tables_written = (cls.name,)

    @classmethod
    def describe(cls) -> str:
        """The first line of the class docstring."""
        return (cls.__doc__ or cls.name).strip().splitlines()[0]

    @abstractmethod
    def setup(self) -> None:
        """Prepare the accumulators (``self.options``, ``self.zoo``, ``self.names`` are set)."""

    @property
    def views(self) -> list[str]:
        return view_names(self.names)

    @abstractmethod
    def update(self, views: BatchViews) -> None:
        """Accumulate one batch."""

    @abstractmethod
    def tables(self) -> dict[str, pd.DataFrame]:
        """The result tables so far, keyed as in :data:`s2s_core.results.RESULT_FILES`."""


# ------------------------------------------------------------------------------------ shared accumulators
@dataclass
class Counts:
    """Running top-1/top-5 counts of one (classifier, input) pair."""

    top1: int = 0
    top5: int = 0
    n: int = 0

    def add(self, logits: torch.Tensor, labels: torch.Tensor) -> None:
        hits = topk_correct(logits, labels, ks=(1, 5))
        self.top1 += int(hits[1])
        self.top5 += int(hits[5])
        self.n += int(labels.numel())

    def rate(self, k: int) -> float:
        if self.n == 0:
            return float("nan")
        return (self.top1 if k == 1 else self.top5) / self.n


@dataclass
class Moments:
    """Running mean and standard deviation (population) of a stream of values."""

    total: float = 0.0
    total_sq: float = 0.0
    n: int = 0

    def add(self, values: torch.Tensor) -> None:
        v = values.detach().to(torch.float64).cpu()
        self.total += float(v.sum())
        self.total_sq += float((v * v).sum())
        self.n += int(v.numel())

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n else float("nan")

    @property
    def std(self) -> float:
        if not self.n:
            return float("nan")
        return math.sqrt(max(self.total_sq / self.n - self.mean**2, 0.0))
