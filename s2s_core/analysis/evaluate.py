"""One pass over labelled data that computes every table and curve of the paper for a zoo.

Paper Sec. 3.3 (Table 1), 3.3.1 (L*a*b* histograms, Fig. 3), 3.3.2 (noise curves, Fig. 4), 3.4 (Table 2) and
3.5 (intra and inter nMI, Fig. 8-9). For each batch ``x`` (B, 3, S, S) in [0, 1]:

* the shared encoder runs once on ``x`` and each decoder (A_S and every A_i) once on its code;
* every classifier j runs once on each input it needs: the original, A_S(x) and every A_i(x) (this gives
  Table 1 and Table 2 together, since i∘A_i is the diagonal of Table 2);
* for each noise strength s > 0 of the grid, the noisy batch is encoded once and decoded by A_S and A_i, and
  classifier i runs on x+n, A_S(x+n) and A_i(x+n); s = 0 reuses the clean results;
* nMI and L*a*b* histograms are accumulated from the clean reconstructions already computed.

Nothing is computed twice. Classifiers see the reconstructions exactly as the AE outputs them (not
clamped), as during fine-tuning (Sec. 3.3); nMI and histograms quantise them to 8-bit images. Results are written as CSV files into ``ZOO/results/``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch

from s2s_core.analysis.figures import accuracy_table_frame
from s2s_core.analysis.lab import LabHistogramAccumulator
from s2s_core.analysis.nmi import nmi_batch
from s2s_core.analysis.noise import NOISE_GRID, NOISE_SEED, add_uniform_noise, noise_generator, topk_correct
from s2s_core.analysis.recon_quality import ReconQualityAccumulator
from s2s_core.errors import ConfigError
from s2s_core.zoo import BASE_KEY, ae_key

ORIGINAL = "original"
BASE = BASE_KEY

#: File names of the result tables inside ``ZOO/results/``.
RESULT_FILES = {
    "accuracy": "accuracy.csv",
    "cross_accuracy": "cross_accuracy.csv",
    "noise": "noise.csv",
    "nmi": "nmi.csv",
    "lab_histograms": "lab_histograms.csv",
    "recon_quality": "recon_quality.csv",
}


@dataclass
class _Counts:
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
class _Moments:
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


@dataclass
class EvaluationResult:
    """The five result tables of one evaluation (see ``write``)."""

    accuracy: pd.DataFrame
    cross_accuracy: pd.DataFrame
    noise: pd.DataFrame
    nmi: pd.DataFrame
    lab_histograms: pd.DataFrame
    recon_quality: pd.DataFrame = field(default_factory=pd.DataFrame)
    images: int = 0
    extras: dict = field(default_factory=dict)

    def tables(self) -> dict[str, pd.DataFrame]:
        return {
            "accuracy": self.accuracy,
            "cross_accuracy": self.cross_accuracy,
            "noise": self.noise,
            "nmi": self.nmi,
            "lab_histograms": self.lab_histograms,
            "recon_quality": self.recon_quality,
        }

    def write(self, results_dir: Path) -> dict[str, Path]:
        """Write every table as CSV into ``results_dir`` (each file atomically) and return their paths."""
        results_dir = Path(results_dir)
        results_dir.mkdir(parents=True, exist_ok=True)
        paths = {}
        for key, frame in self.tables().items():
            path = results_dir / RESULT_FILES[key]
            tmp = path.with_suffix(".csv.tmp")
            frame.to_csv(tmp, index=(key == "cross_accuracy"), float_format="%.6f")
            tmp.replace(path)
            paths[key] = path
        return paths


def _limited(batches: Iterable[tuple[torch.Tensor, torch.Tensor]], limit: int | None) -> Iterator:
    seen = 0
    for batch in batches:
        if batch is None:  # every image of this batch was unreadable (and counted as skipped)
            continue
        x, y = batch
        if limit is not None:
            if seen >= limit:
                return
            x, y = x[: limit - seen], y[: limit - seen]
        seen += int(y.numel())
        yield x, y


def evaluate_zoo(
    zoo,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    *,
    noise_grid: Sequence[float] = NOISE_GRID,
    seed: int = NOISE_SEED,
    limit: int | None = None,
    lab_bins: int = 64,
    progress=None,
) -> EvaluationResult:
    """Evaluate every classifier and AE of ``zoo`` in one pass over ``batches``.

    Args:
        zoo: a loaded :class:`s2s_core.zoo.Zoo` (base AE, decoders ``zoo.decoders`` keyed by classifier
            name, classifiers ``zoo.classifiers``).
        batches: iterable of ``(x, y)`` with x (B, 3, S, S) in [0, 1] (S a multiple of 32) and y (B,) int64
            class indices in the classifiers' label space.
        noise_grid: strengths s of the additive uniform noise U(-s, s) (Sec. 3.3.2); must include only values in [0, 1].
        seed: seed of the noise generator (the same noise for every classifier and AE).
        limit: stop after this many images.
        lab_bins: number of bins per L*a*b* channel.
        progress: optional callable ``progress(images_done)`` (e.g. a tqdm ``update`` wrapper).

    Returns:
        :class:`EvaluationResult` with fractions in [0, 1].
    """
    grid = [float(s) for s in noise_grid]
    if any(not (0.0 <= s <= 1.0) for s in grid):
        raise ConfigError(f"noise strengths must lie in [0, 1], got {grid}")
    names = [n for n in zoo.classifiers if n in zoo.decoders]
    if not names:
        raise ConfigError("the zoo has no fine-tuned AE with a matching classifier: nothing to evaluate")
    inputs = [ORIGINAL, BASE] + [ae_key(n) for n in names]
    acc = {(clf, inp): _Counts() for clf in zoo.classifiers for inp in inputs}
    noise = {(clf, inp, s): _Counts() for clf in names for inp in (ORIGINAL, BASE, ae_key(clf)) for s in grid}
    intra = {ae: _Moments() for ae in inputs[1:]}
    inter = {ae: _Moments() for ae in inputs[1:]}
    carry: dict[str, torch.Tensor] = {}
    lab = {inp: LabHistogramAccumulator(bins=lab_bins) for inp in inputs}
    quality = ReconQualityAccumulator(base_key=BASE, original_key=ORIGINAL)
    generator = noise_generator(seed)
    device = next(zoo.base.parameters()).device
    images = 0

    with torch.inference_mode():
        for x, y in _limited(batches, limit):
            x, y = x.to(device), y.to(device)
            views = {ORIGINAL: x, **zoo.reconstruct_all(x)}
            for clf_name, clf in zoo.classifiers.items():
                for inp in inputs:
                    acc[(clf_name, inp)].add(clf(views[inp]), y)
            for ae in inputs[1:]:
                intra[ae].add(nmi_batch(x, views[ae]))
                pair_source = torch.cat([carry[ae], views[ae]]) if ae in carry else views[ae]
                even = pair_source.shape[0] // 2 * 2
                if even:
                    inter[ae].add(nmi_batch(pair_source[0:even:2], pair_source[1:even:2]))
                carry[ae] = pair_source[even:]
            for inp in inputs:
                lab[inp].update(views[inp])
            quality.update(x, {ae: views[ae] for ae in inputs[1:]})
            for s in grid:
                if s == 0.0:
                    noisy_views = views
                else:
                    noisy = add_uniform_noise(x.cpu(), s, generator).to(device)
                    noisy_views = {ORIGINAL: noisy, **zoo.reconstruct_all(noisy)}
                for clf_name in names:
                    clf = zoo.classifiers[clf_name]
                    for inp in (ORIGINAL, BASE, ae_key(clf_name)):
                        noise[(clf_name, inp, s)].add(clf(noisy_views[inp]), y)
            images += int(y.numel())
            if progress is not None:
                progress(int(y.numel()))
    if images == 0:
        raise ConfigError("no images to evaluate: the data folder is empty or --limit is 0")

    accuracy = pd.DataFrame(
        [
            {"classifier": clf, "input": inp, "top1": c.rate(1), "top5": c.rate(5)}
            for (clf, inp), c in acc.items()
        ]
    )
    cross = pd.DataFrame(
        [[acc[(j, ae_key(i))].rate(1) for j in names] for i in names],
        index=pd.Index([ae_key(i) for i in names], name="ae"),
        columns=names,
    )
    noise_frame = pd.DataFrame(
        [{"classifier": clf, "input": inp, "s": s, "top1": c.rate(1)} for (clf, inp, s), c in noise.items()]
    ).sort_values(["classifier", "input", "s"], kind="stable", ignore_index=True)
    nmi_frame = pd.DataFrame(
        [
            {"ae": ae, "kind": kind, "mean": m.mean, "std": m.std, "n": m.n}
            for ae in inputs[1:]
            for kind, m in (("intra", intra[ae]), ("inter", inter[ae]))
        ]
    )
    lab_frame = pd.concat([lab[inp].frame(inp) for inp in inputs], ignore_index=True)
    return EvaluationResult(accuracy, cross, noise_frame, nmi_frame, lab_frame, quality.frame(), images=images)


def _data_batches(data_dir: Path, zoo, batch_size: int, workers: int):
    """Batches of the labelled ImageFolder at ``data_dir`` at the zoo's input size, with labels mapped to the
    zoo's class list when it has one (``zoo.json`` key ``classes``), else sorted folder names."""
    from torch.utils.data import DataLoader

    from s2s_core.data.datasets import LabelledImageFolder, collate_skip_none

    classes = getattr(zoo, "classes", None)
    class_to_idx = {name: i for i, name in enumerate(classes)} if classes else None
    dataset = LabelledImageFolder(data_dir, size=zoo.input_size, class_to_idx=class_to_idx, on_error="none")
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
) -> tuple[EvaluationResult, dict[str, Path]]:
    """Load the zoo, evaluate it on ``data_dir`` and write ``ZOO/results/*.csv``; used by the CLI and jobs."""
    from tqdm.auto import tqdm

    from s2s_core.runtime import select_device
    from s2s_core.zoo import Zoo

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
        result = evaluate_zoo(zoo, loader, noise_grid=noise_grid, seed=seed, limit=limit, progress=bar.update)
    result.extras["skipped_images"] = int(getattr(dataset, "skipped", 0))
    paths = result.write(zoo.results_dir)
    return result, paths


def _parse_grid(text: str) -> list[float]:
    import argparse

    try:
        grid = [float(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"must be comma-separated numbers in [0, 1], got {text!r}") from exc
    if not grid or any(not 0.0 <= s <= 1.0 for s in grid):
        raise argparse.ArgumentTypeError(f"must be comma-separated numbers in [0, 1], got {text!r}")
    return grid


def register(sub) -> None:
    """Add ``s2s evaluate`` to the CLI."""
    p = sub.add_parser(
        "evaluate",
        help="Tables 1-2, noise curves, nMI and L*a*b* histograms of a zoo (one pass over the data)",
        description="Evaluate every classifier and AE of a zoo on labelled images (ImageFolder layout) and write "
        "results/accuracy.csv, cross_accuracy.csv, noise.csv, nmi.csv, lab_histograms.csv and recon_quality.csv "
        "(PSNR/SSIM against the input and A_S, |A_i - A_S|, high-frequency energy) into the zoo.",
    )
    p.add_argument("zoo", type=Path, help="zoo directory (with zoo.json)")
    p.add_argument("--data", type=Path, required=True, help="labelled images: one sub-folder per class")
    p.add_argument("--limit", type=int, default=None, help="evaluate at most N images")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--noise-grid", type=_parse_grid, default=list(NOISE_GRID), help="e.g. 0,0.1,0.2,...,1")
    p.add_argument("--seed", type=int, default=NOISE_SEED, help=f"seed of the noise (default {NOISE_SEED})")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: S2S_THREADS or torch's)")
    p.set_defaults(func=_main)


def _main(args) -> int:
    from s2s_core.runtime import configure_threads

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
    )
    t1 = accuracy_table_frame(result.accuracy)
    with pd.option_context("display.width", 120, "display.float_format", "{:.4f}".format):
        print(f"Evaluated {result.images} images.\n\nTable 1 (top-1/top-5 in %, differences in points):")
        print(t1.to_string(index=False, na_rep="", float_format="{:.2f}".format))
        print("\nTable 2 (rows: AE fine-tuned on i, columns: classifier j; top-1):")
        print(result.cross_accuracy.to_string())
    skipped = result.extras.get("skipped_images", 0)
    if skipped:
        print(f"\n{skipped} unreadable image(s) were skipped.")
    print("\nWrote " + ", ".join(str(p) for p in paths.values()))
    return 0
