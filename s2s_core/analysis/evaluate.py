"""``s2s evaluate``: one pass over labelled data that feeds every registered dataset analysis of a zoo.

Paper Sec. 3.3 (Table 1), 3.3.1 (L*a*b* histograms, Fig. 3, and the reconstruction quality per AE), 3.3.2
(noise curves, Fig. 4), 3.4 (Table 2) and 3.5 (intra and inter nMI, Fig. 8-9). For each batch ``x`` (B, 3, S, S) in [0, 1] the shared encoder runs once
and each decoder (A_S and every A_i) once on its code; the analyses of
:mod:`s2s_core.analysis.dataset.registry` (all, or ``--only``/``--skip``) then read those views through
:class:`~s2s_core.analysis.dataset.base.BatchViews`, which runs each classifier at most once per view.
Classifiers see the reconstructions exactly as the AE outputs them (not clamped), as during fine-tuning
(Sec. 3.3); nMI and histograms quantise them to 8-bit images. The tables are written into ``ZOO/results/``
through :mod:`s2s_core.results`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from s2s_core import results
from s2s_core.analysis.dataset import registry
from s2s_core.analysis.dataset.base import BatchViews, DataInfo
from s2s_core.analysis.nmi import Estimator
from s2s_core.analysis.pairs import PAIR_SEED, pair_order
from s2s_core.data.datasets import collate_skip_none
from s2s_core.data.evaluation import EvaluationImages, native_protocols
from s2s_core.data.masks import has_masks, masks_folder
from s2s_core.data.preprocess import Preprocessing, zoo_preprocessing
from s2s_core.errors import ConfigError
from s2s_core.models import classifiers
from s2s_core.runtime import select_device
from s2s_core.views import BASE_KEY
from s2s_core.zoo import Zoo


@dataclass
class EvaluationResult:
    """The tables of one evaluation, keyed as in :data:`s2s_core.results.RESULT_FILES` (``result.accuracy``
    is ``result.tables["accuracy"]``), and how many images were seen."""

    tables: dict[str, pd.DataFrame]
    images: int = 0
    extras: dict = field(default_factory=dict)

    def __getattr__(self, key: str) -> pd.DataFrame:
        tables = self.__dict__.get("tables", {})
        if key in tables:
            return tables[key]
        raise AttributeError(f"this evaluation has no {key!r} table (computed: {', '.join(tables)})")

    def write(self, results_dir: Path, source: results.DataRecord | None = None) -> dict[str, Path]:
        """Write every table into ``results_dir`` (each file atomically), recording ``source`` (the data they
        were computed on) beside them, and return their paths."""
        return results.write(results_dir, self.tables, source)


@dataclass
class Batch:
    """One batch of the data: ``x`` (B, 3, S, S) AE input in [0, 1], ``y`` (B,) labels, optionally ``ids`` (B,)
    data indices, ``natives`` (protocol key -> (B, 3, s, s) classifiers' own crops, :mod:`s2s_core.data.evaluation`)
    and ``masks`` (B, 1, S, S) ground-truth coverage in [0, 1] (:mod:`s2s_core.data.masks`)."""

    x: torch.Tensor
    y: torch.Tensor
    ids: torch.Tensor | None = None
    natives: dict[str, torch.Tensor] = field(default_factory=dict)
    masks: torch.Tensor | None = None

    @classmethod
    def of(cls, batch) -> Batch:
        """From an ``(x, y)`` or ``(x, y, masks)`` tuple or an :class:`~s2s_core.data.evaluation.EvaluationImages`
        dict batch."""
        if isinstance(batch, Batch):
            return batch
        if isinstance(batch, dict):
            return cls(batch["x"], batch["y"], batch.get("id"), dict(batch.get("natives") or {}), batch.get("mask"))
        x, y, *rest = batch
        return cls(x, y, masks=rest[0] if rest else None)

    def head(self, n: int) -> Batch:
        return Batch(self.x[:n], self.y[:n], None if self.ids is None else self.ids[:n],
                     {k: t[:n] for k, t in self.natives.items()}, None if self.masks is None else self.masks[:n])


def _limited(batches: Iterable, limit: int | None) -> Iterator[Batch]:
    seen = 0
    for raw in batches:
        if raw is None:  # every image of this batch was unreadable (and counted as skipped)
            continue
        batch = Batch.of(raw)
        if limit is not None:
            if seen >= limit:
                return
            batch = batch.head(limit - seen)
        seen += int(batch.y.numel())
        yield batch


def evaluate_zoo(
    zoo,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    *,
    limit: int | None = None,
    progress=None,
    only: Iterable[str] | None = None,
    skip: Iterable[str] = (),
    item_names: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
    native_keys: dict[str, str] | None = None,
    options: Mapping[str, object] | None = None,
) -> EvaluationResult:
    """Run the selected analyses over ``batches`` in one pass.

    Args:
        zoo: a loaded :class:`s2s_core.zoo.Zoo` (base AE, decoders ``zoo.decoders`` keyed by classifier
            name, classifiers ``zoo.classifiers``).
        batches: iterable of ``(x, y)`` with x (B, 3, S, S) in [0, 1] (S a multiple of 32) and y (B,) int64
            class indices in the classifiers' label space, ``(x, y, masks)`` with ground-truth masks
            (B, 1, S, S) in [0, 1] for the analyses that score against them, or :class:`Batch`-shaped dicts
            (``x``, ``y``, ``id``, ``natives``, ``mask``) from :class:`~s2s_core.data.evaluation.EvaluationImages`.
            Inter-class nMI pairs stream items 2k and 2k + 1 (:mod:`s2s_core.analysis.pairs` orders the data so).
        limit: stop after this many images.
        progress: optional callable ``progress(images_done)`` (e.g. a tqdm ``update`` wrapper).
        only, skip: names of analyses (:func:`s2s_core.analysis.dataset.registry.names`) to run / leave out.
        item_names: the file of every data index (listed beside the nMI pairs).
        class_names: the name of every label (per-class tables); default the zoo's ``classes``.
        native_keys: classifier name -> key of its own crop in the batches' ``natives``.
        options: settings by name, each declared by the analyses that read it (their ``Options``, e.g.
            ``noise_grid`` and ``seed`` of the noise curves, ``nmi_estimator``, ``per_class``,
            ``gt_inversion_per_class``; :func:`~s2s_core.analysis.dataset.registry.option_fields`); the rest keep
            their defaults; an unknown name -> ConfigError.

    Returns:
        :class:`EvaluationResult` with fractions in [0, 1].
    """
    chosen = registry.select(only, skip)
    names = [n for n in zoo.classifiers if n in zoo.decoders]
    if not names:
        raise ConfigError("the zoo has no fine-tuned AE with a matching classifier: nothing to evaluate")
    classes = class_names if class_names is not None else getattr(zoo, "classes", None)
    values = dict(options or {})
    registry.check_options(values)
    data = DataInfo(item_names=tuple(item_names) if item_names else None,
                    class_names=tuple(classes) if classes else None)
    analyses = [cls(registry.options_for(cls, values), zoo, names, data) for cls in chosen]
    for analysis in analyses:
        analysis.peers = {other.name: other for other in analyses if other is not analysis}
    device = next(zoo.base.parameters()).device
    images = 0
    with torch.inference_mode():
        for batch in _limited(batches, limit):
            moved = {key: t.to(device) for key, t in batch.natives.items()}  # one tensor per protocol
            natives = {clf: moved[key] for clf, key in (native_keys or {}).items() if key in moved}
            views = BatchViews.of(zoo, batch.x.to(device), batch.y.to(device), names, start=images,
                                  ids=batch.ids, natives=natives,
                                  masks=None if batch.masks is None else batch.masks.to(device))
            for analysis in analyses:
                analysis.update(views)
            images += views.size
            if progress is not None:
                progress(views.size)
    if images == 0:
        raise ConfigError("no images to evaluate: the data folder is empty or --limit is 0")
    tables: dict[str, pd.DataFrame] = {}
    for analysis in analyses:
        tables.update(analysis.tables())
    return EvaluationResult(tables, images=images)


#: Where a classifier's own centre-crop protocol was read from, by the origin of its weights.
_PROTOCOL_SOURCE = {"published": "weights.transforms()", "trained": "its unit's validation crop",
                    "random": "its family's weights.transforms()"}


def protocol_table(zoo, ae: Preprocessing, natives: dict[str, Preprocessing | None]) -> pd.DataFrame:
    """The preprocessing in effect, one row for the AE and one per classifier (``preprocessing.csv``): what each
    model read of the original images, and torchvision's published ImageNet-1K top-1/top-5 (%) for its weights,
    so that Table 1's originals can be compared with them."""
    rows = [{"model": BASE_KEY, "role": "AE input", "resize_size": ae.resize, "crop_size": ae.crop_size,
             "interpolation": ae.interpolation, "source": "zoo.json preprocessing" if zoo.info.preprocessing
             else "zoo input size (default)", "weights": "", "published_top1": np.nan, "published_top5": np.nan}]
    for name, clf in zoo.classifiers.items():
        spec = getattr(clf, "spec", None)
        own = natives.get(name)
        published = classifiers.published_accuracy(spec) if spec is not None else None
        rows.append({
            "model": name, "role": "classifier", "resize_size": own.resize if own else ae.resize,
            "crop_size": own.crop_size if own else ae.crop_size,
            "interpolation": own.interpolation if own else ae.interpolation,
            "source": (_PROTOCOL_SOURCE.get(getattr(spec, "origin", ""), "its own record") if own else "the AE input")
            + ("" if spec is None or spec.input_size == (own or ae).crop_size
               else f", resized to {spec.input_size} px"),
            "weights": (spec.weights or spec.origin or "") if spec is not None else "",
            "published_top1": published[0] if published else np.nan,
            "published_top5": published[1] if published else np.nan})
    return pd.DataFrame(rows)


def _data_batches(data_dir: Path, zoo, batch_size: int, workers: int, pair_seed: int):
    """The labelled ImageFolder at ``data_dir`` as :class:`~s2s_core.data.evaluation.EvaluationImages` (the AE's
    crop plus each classifier's own crop of one loaded image), each folder labelled with the class of the zoo's
    classifiers it names (by WordNet id or name); a folder they do not know, or a zoo whose classifiers record no
    class names, is a ConfigError. Streamed in the order of :func:`~s2s_core.analysis.pairs.pair_order` (random
    pairs of different classes side by side). Ground-truth masks come with each image when ``<data_dir>_masks``
    exists (:mod:`s2s_core.data.masks`)."""
    classes = zoo.folder_classes(data_dir)
    ae = zoo_preprocessing(zoo.input_size, zoo.info.preprocessing)
    own = {name: classifiers.native_preprocessing(clf.spec) if hasattr(clf, "spec") else None
           for name, clf in zoo.classifiers.items()}
    keys = native_protocols(ae, own)
    dataset = EvaluationImages(data_dir, ae, {n: own[n] for n in keys}, classes=classes,
                               where=f"zoo {zoo.name!r}", masks=masks_folder(data_dir) if has_masks(data_dir) else None)
    order = pair_order(dataset.targets, pair_seed)
    loader = DataLoader(dataset, batch_size=batch_size, sampler=order, num_workers=workers,
                        collate_fn=collate_skip_none)
    return dataset, loader, keys, protocol_table(zoo, ae, {n: own[n] for n in keys})


def run_evaluation(
    zoo_dir: Path,
    data_dir: Path,
    *,
    limit: int | None = None,
    batch_size: int = 32,
    pair_seed: int = PAIR_SEED,
    device: str = "auto",
    workers: int = 0,
    show_progress: bool = True,
    only: Iterable[str] | None = None,
    skip: Iterable[str] = (),
    options: Mapping[str, object] | None = None,
    other_data: str = "refuse",
) -> tuple[EvaluationResult, dict[str, Path]]:
    """Load the zoo, evaluate it on ``data_dir`` and write ``ZOO/results/*.csv``; used by the CLI and jobs.

    The data are streamed in a seeded random order (``pair_seed``) that puts random pairs of images of
    different classes side by side (inter-class nMI), so ``limit`` evaluates a random subset of the data.
    Every table records the data it came from (:class:`~s2s_core.results.DataRecord`). Tables already in the
    zoo that this run does not rewrite and that came from other data are, by ``other_data``: ``"refuse"``
    (ConfigError before any work), ``"keep"`` (kept; the report and the pages say the data differ) or
    ``"drop"`` (deleted after the new tables are written).
    """
    if other_data not in OTHER_DATA:
        raise ConfigError(f"other_data must be one of {', '.join(OTHER_DATA)}, got {other_data!r}")
    chosen = registry.select(only, skip)  # a wrong name is reported before the zoo is loaded
    registry.check_options(dict(options or {}))
    if limit is not None and limit < 1:
        raise ConfigError(f"--limit must be a positive number of images, got {limit}")
    if batch_size < 1:
        raise ConfigError(f"--batch-size must be positive, got {batch_size}")
    if (options or {}).get("nmi_estimator") is not None:
        Estimator.parse(str(options["nmi_estimator"]))
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise ConfigError(f"data directory {data_dir} does not exist (expected class sub-folders of images)")
    zoo = Zoo.load(zoo_dir, device=select_device(device))
    dataset, loader, keys, protocol = _data_batches(data_dir, zoo, batch_size, workers, pair_seed)
    total = min(len(dataset), limit) if limit else len(dataset)
    source = data_record(zoo.path, data_dir, [dataset.relative_names()[i] for i in list(loader.sampler)[:total]])
    rewritten = {key for cls in chosen for key in cls.tables_written} | {"preprocessing"}
    stale = other_data_tables(zoo.results_dir, source, rewritten)
    if stale and other_data == "refuse":
        raise ConfigError(_other_data_message(zoo.results_dir, stale, source))
    with tqdm(total=total, unit="img", desc="evaluate", disable=not show_progress) as bar:
        result = evaluate_zoo(zoo, loader, limit=limit, progress=bar.update, only=only, skip=skip,
                              item_names=dataset.relative_names(), class_names=dataset.classes, native_keys=keys,
                              options=options)
    result.extras["skipped_images"] = int(getattr(dataset, "skipped", 0))
    result.tables["preprocessing"] = protocol
    paths = result.write(zoo.results_dir, source)
    if other_data == "drop":
        for key in other_data_tables(zoo.results_dir, source, set(result.tables)):
            results.path(zoo.results_dir, key).unlink(missing_ok=True)
    return result, paths


#: What ``s2s evaluate`` does with tables of other data that it does not rewrite (``--other-data``).
OTHER_DATA = ("refuse", "keep", "drop")


def data_record(zoo_dir: Path, data_dir: Path, evaluated: Sequence[str]) -> results.DataRecord:
    """The :class:`~s2s_core.results.DataRecord` of an evaluation: ``data_dir`` relative to the zoo when inside
    it (else absolute), the number of images and the digest of their relative paths, and this code's version."""
    from s2s_core import __version__, settings

    folder, root = Path(data_dir).resolve(), Path(zoo_dir).resolve()
    shown = folder.relative_to(root).as_posix() if folder.is_relative_to(root) else str(folder)
    return results.DataRecord(folder=shown, n=len(evaluated), files_sha256=results.files_digest(evaluated),
                              code_version=__version__, git_commit=settings.git_commit())


def other_data_tables(results_dir: Path, source: results.DataRecord, rewritten: set[str]) -> list[str]:
    """Tables in ``results_dir`` outside ``rewritten`` whose data differ from ``source`` (or were not recorded)."""
    return [key for key, rec in results.sources(results_dir).items()
            if key not in rewritten and (rec is None or rec.data_id != source.data_id)]


def _other_data_message(results_dir: Path, stale: list[str], source: results.DataRecord) -> str:
    groups = results.data_groups(results_dir, stale)
    held = "; ".join(f"{', '.join(results.spec(k).filename for k in ks)} from "
                     f"{rec.describe() if rec is not None else 'unrecorded data'}" for rec, ks in groups)
    return (f"{results_dir} holds tables from other data ({held}), which this run ({source.describe()}) would "
            "not rewrite, so the zoo's tables would mix data sets. Evaluate every analysis on this data (drop "
            "--only/--skip/--limit), or pass --other-data drop to delete those tables, or --other-data keep to "
            "keep them (the report and the pages then say the data differ)")
