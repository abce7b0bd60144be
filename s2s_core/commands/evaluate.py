"""``s2s evaluate``: every dataset analysis of a zoo in one pass over labelled data (:mod:`s2s_core.analysis.evaluate`);
its flags come from the settings the analyses declare (:func:`~s2s_core.analysis.dataset.registry.option_fields`)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from s2s_core import results
from s2s_core.analysis.dataset import registry
from s2s_core.analysis.dataset.randomisation import COST_NOTE, randomisation_summary
from s2s_core.analysis.evaluate import OTHER_DATA, run_evaluation
from s2s_core.analysis.pairs import PAIR_SEED
from s2s_core.analysis.tables import table1
from s2s_core.errors import ConfigError
from s2s_core.runtime import configure_threads
from s2s_core.zoo import ZooInfo


def _parse_names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in registry.ANALYSES]
    if not names or unknown:
        raise argparse.ArgumentTypeError(f"must be comma-separated analysis names out of {', '.join(registry.names())}, "
                                          f"got {text!r}")
    return names


def add_option_flags(p: argparse.ArgumentParser) -> None:
    """One flag per setting the analyses declare (:func:`~s2s_core.analysis.dataset.registry.option_fields`):
    ``--noise-grid`` for ``noise_grid``, with the field's default, help and parser."""
    for name, f in registry.option_fields().items():
        meta = f.metadata
        default = f.default
        kind = meta.get("parse") or (type(default) if default is not None else str)
        shown = ",".join(f"{v:g}" for v in default) if isinstance(default, tuple) else default
        p.add_argument(f"--{name.replace('_', '-')}", dest=name, type=kind, default=default,
                       metavar=meta.get("metavar"), help=f"{meta.get('help', '')} (default {shown})")


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
        "--gt-inversion-per-class N (N images of every class, the first met in that seeded order). Measured on the "
        "demo (500 test images of 64 px, 5 classifiers, 2 threads, docs/BENCHMARKS.md): ground_truth with its "
        "model-free maps, both masks and every metric about 2.5 min, --gt-inversion-per-class 50 about 3.5 min more; "
        "channel_zeroing about 1.5 min; --only inversion --per-class 5 (50 images, 4 layers, 200 steps) about "
        "3.5 min; --only class_sensitivity (opt-in: the lenses' maps for both classes of 500 two-shape images "
        "from `s2s demo-pairs`) about 1 min. "
        "Model randomisation "
        "(randomisation.csv: every lens redrawn under classifiers re-initialised from the top layer down) also runs "
        f"only when --only names it ({COST_NOTE}).",
    )
    p.add_argument("zoo", type=Path, help="zoo directory (with zoo.json)")
    p.add_argument("--data", type=Path, default=None,
                   help="labelled images: one sub-folder per class (default: the zoo's test images, "
                        "`s2s zoo create --test` or ZOO/data/test)")
    p.add_argument("--limit", type=int, default=None, help="evaluate at most N images")
    p.add_argument("--batch-size", type=int, default=32, help="images per batch (default 32)")
    p.add_argument("--pair-seed", type=int, default=PAIR_SEED,
                   help=f"seed of the random inter-class nMI pairs and of the data order (default {PAIR_SEED})")
    p.add_argument("--only", type=_parse_names, default=None, metavar="NAMES",
                   help=f"run only these analyses (comma-separated: {','.join(registry.names())})")
    p.add_argument("--skip", type=_parse_names, default=[], metavar="NAMES", help="leave these analyses out")
    add_option_flags(p)
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
        pair_seed=args.pair_seed,
        device=args.device,
        workers=args.workers,
        only=args.only,
        skip=args.skip,
        other_data=args.other_data,
        options={name: getattr(args, name) for name in registry.option_fields()},
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
        if "randomisation" in result.tables:
            print("\nModel randomisation (Spearman of each map with its original once every layer is random):")
            print(randomisation_summary(result.tables["randomisation"]).to_string(index=False))
    for cls in registry.select(args.only, args.skip) if args.only else []:  # named, yet nothing to write
        for key in cls.tables_written or (cls.name,):
            if key not in result.tables and results.spec(key).needs:
                print(f"\nNothing written for {key}: it needs {results.spec(key).needs}.")
    skipped = result.extras.get("skipped_images", 0)
    if skipped:
        print(f"\n{skipped} unreadable image(s) were skipped.")
    print("\nWrote " + ", ".join(str(p) for p in paths.values()))
    return 0
