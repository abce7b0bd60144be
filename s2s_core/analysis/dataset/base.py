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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pandas as pd
import torch

from s2s_core.analysis.noise import NOISE_SEED
from s2s_core.metrics import topk_correct
from s2s_core.views import ORIGINAL, view_names


def option(default, help: str, *, parse: Callable[[str], Any] | None = None, metavar: str | None = None):
    """A field of an analysis's options: its default, the help ``s2s evaluate --help`` shows, and, for a flag
    whose text is not a plain int/float/str, how to ``parse`` it (argparse ``type``)."""
    return field(default=default, metadata={"help": help, "parse": parse, "metavar": metavar})


def seed_option():
    """The evaluation's seed, one setting for every analysis that draws random numbers (the noise of Fig. 4,
    the random starts of feature inversion)."""
    return option(NOISE_SEED, "seed of the noise U(-s, s) and of the inversions' random starts")


@dataclass(frozen=True)
class NoOptions:
    """The options of an analysis that has none."""


@dataclass(frozen=True)
class DataInfo:
    """What the evaluation knows about its data (not settings): the file of every data index (``views.ids``),
    for tables that list images, and the name of every label, for per-class tables."""

    item_names: tuple[str, ...] | None = None
    class_names: tuple[str, ...] | None = None


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
        code: the base encoder's code of ``x`` that made ``images`` (from :meth:`of`), for an analysis that
            decodes more (the S2S control) without a second encoder pass; ``None`` when not known.
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
    code: object = None
    _logits: dict[tuple[str, str], torch.Tensor] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, zoo, x: torch.Tensor, y: torch.Tensor, names: Sequence[str], start: int = 0,
           ids: torch.Tensor | None = None, natives: dict[str, torch.Tensor] | None = None,
           masks: torch.Tensor | None = None) -> BatchViews:
        """Reconstruct ``x`` with one encoder pass (every decoder once, the code kept) and wrap it."""
        with torch.inference_mode():
            code = zoo.encode(x)
            images = {ORIGINAL: x, **zoo.reconstruct_all(x, code=code)}
        return cls(x=x, y=y, images=images, names=list(names), zoo=zoo, start=start, ids=ids,
                   natives=dict(natives or {}), masks=masks, code=code)

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
    :mod:`s2s_core.results` that :meth:`tables` returns, else set ``tables_written``), declare their settings
    as a frozen dataclass ``Options`` of :func:`option` fields (``s2s evaluate`` makes a flag of each; two
    analyses that read the same setting declare it with the same name and default), say what they compute in
    the first line of their docstring (``s2s evaluate --help`` shows it), prepare their accumulators in
    :meth:`setup`, and are listed in :mod:`s2s_core.analysis.dataset.registry`.
    """

    name: str = ""
    tables_written: tuple[str, ...] = ()
    #: False for an expensive analysis that runs only when ``--only`` names it (feature inversion).
    default: bool = True
    Options: ClassVar[type] = NoOptions

    def __init__(self, options, zoo, names: Sequence[str], data: DataInfo | None = None) -> None:
        self.options, self.zoo, self.names, self.data = options, zoo, list(names), data or DataInfo()
        #: the other analyses of the same evaluation, by name (set by the evaluation before the first batch): an
        #: analysis may read what another accumulated, in :meth:`tables`, instead of computing it twice
        self.peers: dict[str, Analysis] = {}
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
