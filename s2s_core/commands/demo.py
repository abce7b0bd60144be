"""``s2s demo`` builds the embedded demo zoo (:mod:`s2s_core.demo.build`); ``s2s demo-masks`` writes its test
images' shape masks (:mod:`s2s_core.demo.masks`); ``s2s demo-pairs`` its two-shape composites
(:mod:`s2s_core.demo.pairs`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from s2s_core import settings
from s2s_core.demo.build import build_demo
from s2s_core.demo.masks import write_demo_masks
from s2s_core.demo.pairs import DEFAULT_PAIRS, write_demo_pairs
from s2s_core.demo.recipe import DemoRecipe, quick_recipe
from s2s_core.errors import ConfigError


def register(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="build the demo zoo offline on the CPU (A_S, five classifiers, five fine-tuned decoders, evaluation)",
        description="Build the embedded demo zoo from nothing: pre-train A_S on photo crops, train five small "
        "classifiers on procedural shapes, fine-tune one decoder per classifier and evaluate everything. "
        "Deterministic from --seed; under 30 minutes on a 2-core CPU (--quick: about a minute, for testing).",
    )
    p.add_argument("--out", type=Path, default=None,
                   help="zoo directory (default: checkpoints/demo in the project folder, see s2s_core.settings)")
    p.add_argument("--seed", type=int, default=0, help="seed of the whole build (default 0)")
    p.add_argument("--quick", action="store_true", help="tiny step counts: a valid zoo in about a minute, for tests")
    p.add_argument("--recipe", type=Path, default=None, help="JSON file with DemoRecipe fields to override")
    p.add_argument("--workers", type=int, default=None, help="parallel training processes (default: the recipe's)")
    p.add_argument("--device", default="cpu", help="only cpu is supported for the demo build")
    p.add_argument("--threads", type=int, default=None, help="torch threads for the evaluation stage")
    p.add_argument("--force", action="store_true", help="replace an existing zoo at --out")
    p.add_argument("--progress", type=Path, default=None, help="also write JSON-lines progress events to this file")
    p.add_argument("--no-evaluate", action="store_true", help="skip the evaluation stage")
    p.add_argument("--extras", action="store_true",
                   help="also build the lens sanity checks (issue 26): the S2S controls (A_S's decoder tuned through a "
                   "random copy of each classifier, about 4.5 min on 2 cores), the two-shape test images (4 s), class "
                   "sensitivity (about 1 min) and model randomisation (about 1 min); the shipped zoo has them")
    p.set_defaults(func=_main)
    _register_masks(sub)
    _register_controls(sub)
    _register_pairs(sub)


def _main(args) -> int:
    if args.device != "cpu":
        raise ConfigError("--device: the demo build runs on the CPU only (use s2s pretrain/finetune on a GPU)")
    recipe = quick_recipe(args.seed) if args.quick else DemoRecipe(seed=args.seed)
    overrides: dict = {}
    if args.recipe is not None:
        try:
            overrides = json.loads(Path(args.recipe).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"--recipe: cannot read {args.recipe}: {exc}") from exc
        if not isinstance(overrides, dict):
            raise ConfigError(f"--recipe: {args.recipe} must hold a JSON object of recipe fields")
    if args.workers is not None:
        overrides["workers"] = args.workers
    if overrides:
        recipe = DemoRecipe.from_dict({**recipe.to_dict(), **overrides, "seed": args.seed})
    if args.threads is not None and args.threads < 1:
        raise ConfigError(f"--threads: must be at least 1, got {args.threads}")
    out = build_demo(args.out or settings.demo_zoo_dir(), recipe, force=args.force, progress_file=args.progress,
                     show_bar=sys.stderr.isatty(), evaluate=not args.no_evaluate, eval_threads=args.threads,
                     extras=args.extras)
    print(f"demo zoo written to {out}")
    return 0


def _register_masks(sub) -> None:
    p = sub.add_parser("demo-masks", help="write the shape mask of every test image of a demo zoo (ground truth)",
                       description="Regenerate a demo zoo's test split from its recipe, check it equals the shipped "
                       "PNGs, and write each image's shape mask (8-bit coverage) to data/test_masks/.")
    p.add_argument("zoo", type=Path, nargs="?", default=Path("checkpoints/demo"), help="demo zoo directory")
    p.set_defaults(func=_masks)


def _masks(args) -> int:
    root, n = write_demo_masks(args.zoo)
    print(f"wrote {n} masks to {root}")
    return 0


def _register_controls(sub) -> None:
    p = sub.add_parser("demo-controls", help="add the S2S controls to a demo zoo (A_S's decoder tuned through random "
                       "copies of its classifiers)",
                       description="For every A_i of a demo zoo (or --only NAMES), fine-tune A_S's decoder with A_i's "
                       "recipe (steps, batch, learning rate, seed, data) through a randomly initialised copy of "
                       "classifier i, write it to controls/<name> and list it in zoo.json; `s2s evaluate --only "
                       "s2s_control` then compares each A_i with its control. `s2s demo --extras` builds them itself. About "
                       "as long as the fine-tuning stage (a few minutes on 2 cores for the demo's five).")
    p.add_argument("zoo", type=Path, nargs="?", default=Path("checkpoints/demo"), help="demo zoo directory")
    p.add_argument("--only", default="", metavar="NAMES", help="comma-separated names of A_i (default: every one)")
    p.add_argument("--workers", type=int, default=2, help="processes side by side (default 2)")
    p.set_defaults(func=_controls)


def _controls(args) -> int:
    from s2s_core.demo.controls import add_controls

    if args.workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {args.workers}")
    names = [n.strip() for n in args.only.split(",") if n.strip()] or None
    for name, seconds in add_controls(args.zoo, names, workers=args.workers).items():
        print(f"control {name}: {seconds:.0f} s")
    return 0


def _register_pairs(sub) -> None:
    p = sub.add_parser("demo-pairs", help="write a demo zoo's two-shape test images (the class-sensitivity check)",
                       description="Compose two shapes of different classes from the demo zoo's masked test split, "
                       "never overlapping nor cut, and write them with both masks to data/test_pairs/, "
                       "data/test_pairs_masks/ (a's), data/test_pairs_second/ (b's) and data/test_pairs.csv; "
                       "`s2s evaluate ZOO --only class_sensitivity` reads them. Deterministic from the zoo's seed.")
    p.add_argument("zoo", type=Path, nargs="?", default=Path("checkpoints/demo"), help="demo zoo directory")
    p.add_argument("--n", type=int, default=DEFAULT_PAIRS, help=f"composites to write (default {DEFAULT_PAIRS})")
    p.set_defaults(func=_pairs)


def _pairs(args) -> int:
    root, n = write_demo_pairs(args.zoo, args.n)
    print(f"wrote {n} two-shape composites to {root}")
    return 0
