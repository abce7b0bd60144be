"""``s2s evaluate``: every dataset analysis of a zoo in one pass over labelled data (:mod:`s2s_core.analysis.evaluate`)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from s2s_core import results
from s2s_core.analysis.dataset import registry
from s2s_core.analysis.dataset.base import Options
from s2s_core.analysis.evaluate import OTHER_DATA, run_evaluation
from s2s_core.analysis.noise import NOISE_GRID, NOISE_SEED
from s2s_core.analysis.pairs import PAIR_SEED
from s2s_core.analysis.tables import table1
from s2s_core.errors import ConfigError
from s2s_core.runtime import configure_threads
from s2s_core.zoo import ZooInfo


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
        "the result tables (results/*.csv, one per analysis, and preprocessing.csv: what each model read) into the "
        "zoo. Each image is loaded once: the AE input and every classifier's own centre crop (torchvision weights: "
        "their transforms) are cut from it; ground-truth masks are read from <data>_masks/ when that folder exists. "
        "The data are streamed in a seeded order that puts random pairs of different classes side by side "
        "(inter-class nMI). "
        f"Analyses ({analyses}) run together in one pass; --only/--skip choose among them. Feature inversion "
        "(inversion.csv) optimises an image per image, layer and classifier, so it runs only when --only names it; "
        "for the same reason the ground-truth table scores the feature-inversion error map only with "
        "--gt-inversion-per-class N (N images of every class, the first met in that seeded order).",
    )
    p.add_argument("zoo", type=Path, help="zoo directory (with zoo.json)")
    p.add_argument("--data", type=Path, default=None,
                   help="labelled images: one sub-folder per class (default: the zoo's test images, "
                        "`s2s zoo create --test` or ZOO/data/test)")
    p.add_argument("--limit", type=int, default=None, help="evaluate at most N images")
    p.add_argument("--batch-size", type=int, default=32, help="images per batch (default 32)")
    p.add_argument("--noise-grid", type=_parse_grid, default=list(NOISE_GRID), help="e.g. 0,0.1,0.2,...,1")
    p.add_argument("--seed", type=int, default=NOISE_SEED, help=f"seed of the noise (default {NOISE_SEED})")
    p.add_argument("--pair-seed", type=int, default=PAIR_SEED,
                   help=f"seed of the random inter-class nMI pairs and of the data order (default {PAIR_SEED})")
    p.add_argument("--nmi-estimator", default=None, metavar="NAME",
                   help="force the nMI estimator, e.g. raw-256 (scikit-learn's) or mm-64; default: levels by the "
                        "binning rule for the image size, Miller-Madow corrected")
    p.add_argument("--only", type=_parse_names, default=None, metavar="NAMES",
                   help=f"run only these analyses (comma-separated: {','.join(registry.names())})")
    p.add_argument("--skip", type=_parse_names, default=[], metavar="NAMES", help="leave these analyses out")
    defaults = Options()
    p.add_argument("--per-class", type=int, default=defaults.per_class, metavar="N",
                   help=f"images per class for sampling analyses (inversion; default {defaults.per_class})")
    p.add_argument("--inversion-layers", type=int, default=defaults.inversion_layers, metavar="K",
                   help="layers per classifier for inversion: its stage outputs, evenly spaced (`s2s layers` marks "
                        f"them; default {defaults.inversion_layers})")
    p.add_argument("--inversion-steps", type=int, default=defaults.inversion_steps, metavar="S",
                   help=f"gradient steps per inversion (default {defaults.inversion_steps})")
    p.add_argument("--gt-inversion-per-class", type=int, default=defaults.gt_inversion_per_class, metavar="N",
                   help="also score the feature-inversion error map |x - x*| (i's mid layer) in ground_truth.csv, "
                        "on the first N images of every class met in the seeded order (default 0: off; an optimisation per image)")
    p.add_argument("--gt-inversion-steps", type=int, default=defaults.gt_inversion_steps, metavar="S",
                   help=f"gradient steps per inversion of that error map (default {defaults.gt_inversion_steps})")
    p.add_argument("--other-data", choices=OTHER_DATA, default="refuse",
                   help="tables already in the zoo from other data that this run does not rewrite: refuse to run "
                        "(default), keep them (report and pages then say the data differ), or drop them")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: S2S_THREADS or torch's)")
    p.set_defaults(func=_main)


def _main(args) -> int:
    configure_threads(args.threads)
    data = args.data
    if data is None:
        data = ZooInfo.read(args.zoo).test_dir
        if data is None:
            raise ConfigError(f"{args.zoo} records no test images: give --data DIR (labelled images, one "
                              "sub-folder per class), or create the zoo with `s2s zoo create --test DIR`")
    result, paths = run_evaluation(
        args.zoo,
        data,
        limit=args.limit,
        batch_size=args.batch_size,
        noise_grid=args.noise_grid,
        seed=args.seed,
        pair_seed=args.pair_seed,
        nmi_estimator=args.nmi_estimator,
        device=args.device,
        workers=args.workers,
        only=args.only,
        skip=args.skip,
        other_data=args.other_data,
        options={"per_class": args.per_class, "inversion_layers": args.inversion_layers,
                 "inversion_steps": args.inversion_steps, "gt_inversion_per_class": args.gt_inversion_per_class,
                 "gt_inversion_steps": args.gt_inversion_steps},
    )
    print(f"Evaluated {result.images} images.")
    mixed = results.mixed_data_message(paths[next(iter(paths))].parent) if paths else None
    if mixed:
        print(f"Warning: {mixed}")
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
