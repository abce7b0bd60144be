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

import argparse
import dataclasses
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from s2s_core import results
from s2s_core.analysis.dataset import registry
from s2s_core.analysis.dataset.base import BatchViews, Options
from s2s_core.analysis.noise import NOISE_GRID, NOISE_SEED
from s2s_core.analysis.tables import table1
from s2s_core.data.datasets import LabelledImageFolder, collate_skip_none
from s2s_core.data.masks import MaskedImageFolder, has_masks
from s2s_core.errors import ConfigError
from s2s_core.runtime import configure_threads, select_device
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

    def write(self, results_dir: Path) -> dict[str, Path]:
        """Write every table into ``results_dir`` (each file atomically) and return their paths."""
        return results.write(results_dir, self.tables)


def _limited(batches: Iterable[tuple[torch.Tensor, ...]], limit: int | None) -> Iterator:
    """``(x, y, masks or None)`` from batches of ``(x, y)`` or ``(x, y, masks)``, at most ``limit`` images."""
    seen = 0
    for batch in batches:
        if batch is None:  # every image of this batch was unreadable (and counted as skipped)
            continue
        x, y, *rest = batch
        masks = rest[0] if rest else None
        if limit is not None:
            if seen >= limit:
                return
            x, y = x[: limit - seen], y[: limit - seen]
            masks = None if masks is None else masks[: limit - seen]
        seen += int(y.numel())
        yield x, y, masks


def make_options(**fields) -> Options:
    """:class:`~s2s_core.analysis.dataset.base.Options` from keyword fields; an unknown field -> ConfigError."""
    known = {f.name for f in dataclasses.fields(Options)}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise ConfigError(f"unknown evaluation option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return Options(**fields)


def evaluate_zoo(
    zoo,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    *,
    noise_grid: Sequence[float] = NOISE_GRID,
    seed: int = NOISE_SEED,
    limit: int | None = None,
    lab_bins: int = 64,
    progress=None,
    only: Iterable[str] | None = None,
    skip: Iterable[str] = (),
    options: Mapping[str, object] | None = None,
) -> EvaluationResult:
    """Run the selected analyses over ``batches`` in one pass.

    Args:
        zoo: a loaded :class:`s2s_core.zoo.Zoo` (base AE, decoders ``zoo.decoders`` keyed by classifier
            name, classifiers ``zoo.classifiers``).
        batches: iterable of ``(x, y)`` with x (B, 3, S, S) in [0, 1] (S a multiple of 32) and y (B,) int64
            class indices in the classifiers' label space, or ``(x, y, masks)`` with ground-truth masks
            (B, 1, S, S) in [0, 1] for the analyses that score against them.
        noise_grid: strengths s of the additive uniform noise U(-s, s) (Sec. 3.3.2); must include only values in [0, 1].
        seed: seed of the noise generator (the same noise for every classifier and AE).
        limit: stop after this many images.
        lab_bins: number of bins per L*a*b* channel.
        progress: optional callable ``progress(images_done)`` (e.g. a tqdm ``update`` wrapper).
        only, skip: names of analyses (:func:`s2s_core.analysis.dataset.registry.names`) to run / leave out.
        options: further fields of :class:`~s2s_core.analysis.dataset.base.Options` (``per_class``,
            ``inversion_layers``, ``inversion_steps``); an unknown name -> ConfigError.

    Returns:
        :class:`EvaluationResult` with fractions in [0, 1].
    """
    chosen = registry.select(only, skip)
    names = [n for n in zoo.classifiers if n in zoo.decoders]
    if not names:
        raise ConfigError("the zoo has no fine-tuned AE with a matching classifier: nothing to evaluate")
    settings = make_options(noise_grid=tuple(float(s) for s in noise_grid), seed=seed, lab_bins=lab_bins,
                            **dict(options or {}))
    analyses = [cls(settings, zoo, names) for cls in chosen]
    device = next(zoo.base.parameters()).device
    images = 0
    with torch.inference_mode():
        for x, y, masks in _limited(batches, limit):
            views = BatchViews.of(zoo, x.to(device), y.to(device), names, start=images,
                                  masks=None if masks is None else masks.to(device))
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


def _data_batches(data_dir: Path, zoo, batch_size: int, workers: int):
    """Batches of the labelled ImageFolder at ``data_dir`` at the zoo's input size, with labels mapped to the
    zoo's class list when it has one (``zoo.json`` key ``classes``), else sorted folder names; with the masks
    of ``<data_dir>_masks`` when that folder exists (:mod:`s2s_core.data.masks`)."""
    classes = getattr(zoo, "classes", None)
    class_to_idx = {name: i for i, name in enumerate(classes)} if classes else None
    dataset = LabelledImageFolder(data_dir, size=zoo.input_size, class_to_idx=class_to_idx, on_error="none")
    if has_masks(data_dir):
        dataset = MaskedImageFolder(dataset, size=zoo.input_size)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers, collate_fn=collate_skip_none)
    return dataset, loader


def run_evaluation(
    zoo_dir: Path,
    data_dir: Path,
    *,
    limit: int | None = None,
    batch_size: int = 32,
    noise_grid: Sequence[float] = NOISE_GRID,
    seed: int = NOISE_SEED,
    device: str = "auto",
    workers: int = 0,
    show_progress: bool = True,
    only: Iterable[str] | None = None,
    skip: Iterable[str] = (),
    options: Mapping[str, object] | None = None,
) -> tuple[EvaluationResult, dict[str, Path]]:
    """Load the zoo, evaluate it on ``data_dir`` and write ``ZOO/results/*.csv``; used by the CLI and jobs."""
    registry.select(only, skip)  # a wrong name is reported before the zoo is loaded
    make_options(**dict(options or {}))
    if limit is not None and limit < 1:
        raise ConfigError(f"--limit must be a positive number of images, got {limit}")
    if batch_size < 1:
        raise ConfigError(f"--batch-size must be positive, got {batch_size}")
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise ConfigError(f"data directory {data_dir} does not exist (expected class sub-folders of images)")
    zoo = Zoo.load(zoo_dir, device=select_device(device))
    dataset, loader = _data_batches(data_dir, zoo, batch_size, workers)
    total = min(len(dataset), limit) if limit else len(dataset)
    with tqdm(total=total, unit="img", desc="evaluate", disable=not show_progress) as bar:
        result = evaluate_zoo(zoo, loader, noise_grid=noise_grid, seed=seed, limit=limit, progress=bar.update,
                              only=only, skip=skip, options=options)
    result.extras["skipped_images"] = int(getattr(dataset, "skipped", 0))
    paths = result.write(zoo.results_dir)
    return result, paths


def _parse_grid(text: str) -> list[float]:
    try:
        grid = [float(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"must be comma-separated numbers in [0, 1], got {text!r}") from exc
    if not grid or any(not 0.0 <= s <= 1.0 for s in grid):
        raise argparse.ArgumentTypeError(f"must be comma-separated numbers in [0, 1], got {text!r}")
    return grid


def _parse_names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in registry.ANALYSES]
    if not names or unknown:
        raise argparse.ArgumentTypeError(f"must be comma-separated analysis names out of {', '.join(registry.names())}, "
                                          f"got {text!r}")
    return names


def register(sub) -> None:
    """Add ``s2s evaluate`` to the CLI."""
    analyses = "; ".join(f"{name}: {cls.describe()}" for name, cls in registry.ANALYSES.items())
    p = sub.add_parser(
        "evaluate",
        help="Tables 1-2, noise curves, nMI and L*a*b* histograms of a zoo (one pass over the data)",
        description="Evaluate every classifier and AE of a zoo on labelled images (ImageFolder layout) and write "
        "results/accuracy.csv, cross_accuracy.csv, noise.csv, nmi.csv, lab_histograms.csv and recon_quality.csv "
        "(PSNR/SSIM against the input and A_S, |A_i - A_S|, high-frequency energy) into the zoo. "
        f"Analyses ({analyses}) run together in one pass; --only/--skip choose among them. Feature inversion "
        "(inversion.csv) optimises an image per image, layer and classifier, so it runs only when --only names it; "
        "for the same reason the ground-truth table scores the feature-inversion error map only with "
        "--gt-inversion-per-class N (the first N images of every class).",
    )
    p.add_argument("zoo", type=Path, help="zoo directory (with zoo.json)")
    p.add_argument("--data", type=Path, required=True, help="labelled images: one sub-folder per class")
    p.add_argument("--limit", type=int, default=None, help="evaluate at most N images")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--noise-grid", type=_parse_grid, default=list(NOISE_GRID), help="e.g. 0,0.1,0.2,...,1")
    p.add_argument("--seed", type=int, default=NOISE_SEED, help=f"seed of the noise (default {NOISE_SEED})")
    p.add_argument("--only", type=_parse_names, default=None, metavar="NAMES",
                   help=f"run only these analyses (comma-separated: {','.join(registry.names())})")
    p.add_argument("--skip", type=_parse_names, default=[], metavar="NAMES", help="leave these analyses out")
    defaults = Options()
    p.add_argument("--per-class", type=int, default=defaults.per_class, metavar="N",
                   help=f"images per class for sampling analyses (inversion; default {defaults.per_class})")
    p.add_argument("--inversion-layers", type=int, default=defaults.inversion_layers, metavar="K",
                   help=f"layers per classifier, first to last, for inversion (default {defaults.inversion_layers})")
    p.add_argument("--inversion-steps", type=int, default=defaults.inversion_steps, metavar="S",
                   help=f"gradient steps per inversion (default {defaults.inversion_steps})")
    p.add_argument("--gt-inversion-per-class", type=int, default=defaults.gt_inversion_per_class, metavar="N",
                   help="also score the feature-inversion error map |x - x*| (i's mid layer) in ground_truth.csv, "
                        "on the first N images of every class (default 0: off; an optimisation per image)")
    p.add_argument("--gt-inversion-steps", type=int, default=defaults.gt_inversion_steps, metavar="S",
                   help=f"gradient steps per inversion of that error map (default {defaults.gt_inversion_steps})")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: S2S_THREADS or torch's)")
    p.set_defaults(func=_main)


def _main(args) -> int:
    configure_threads(args.threads)
    result, paths = run_evaluation(
        args.zoo,
        args.data,
        limit=args.limit,
        batch_size=args.batch_size,
        noise_grid=args.noise_grid,
        seed=args.seed,
        device=args.device,
        workers=args.workers,
        only=args.only,
        skip=args.skip,
        options={"per_class": args.per_class, "inversion_layers": args.inversion_layers,
                 "inversion_steps": args.inversion_steps, "gt_inversion_per_class": args.gt_inversion_per_class,
                 "gt_inversion_steps": args.gt_inversion_steps},
    )
    print(f"Evaluated {result.images} images.")
    with pd.option_context("display.width", 120, "display.float_format", "{:.4f}".format):
        if "accuracy" in result.tables:
            print("\nTable 1 (top-1/top-5 in %, differences in points):")
            print(table1(result.accuracy).to_string(index=False, na_rep="", float_format="{:.2f}".format))
        if "cross_accuracy" in result.tables:
            print("\nTable 2 (rows: AE fine-tuned on i, columns: classifier j; top-1):")
            print(result.cross_accuracy.to_string())
        if "inversion" in result.tables:
            print("\nFeature inversion (normalised error of the inversion and of A_i(x) at each layer; top-1 of i on "
                  "its inversions, on A_i(x) and on x):")
            print(result.tables["inversion"].drop(columns=["steps"]).to_string(index=False))
    skipped = result.extras.get("skipped_images", 0)
    if skipped:
        print(f"\n{skipped} unreadable image(s) were skipped.")
    print("\nWrote " + ", ".join(str(p) for p in paths.values()))
    return 0
