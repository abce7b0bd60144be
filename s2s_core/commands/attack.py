"""``s2s attack``: FGSM and PGD against every classifier i of a zoo, gray-box (crafted on i), white-box (on i∘A_i)
and transferred to every j, read by i, i∘A_S and i∘A_i (Folz, Palacio et al., WACV 2020; Palacio et al.,
CVPR 2018, Sec. 3.5; :mod:`s2s_core.attacks`)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from s2s_core.attacks.methods import ATTACKS, LIBRARIES
from s2s_core.attacks.run import attack_zoo
from s2s_core.attacks.threat import THREATS, AttackSettings
from s2s_core.errors import ConfigError
from s2s_core.runtime import configure_threads
from s2s_core.zoo import ZooInfo


def _choices(allowed: tuple[str, ...], what: str):
    def parse(text: str) -> tuple[str, ...]:
        items = tuple(t.strip() for t in text.split(",") if t.strip())
        bad = [t for t in items if t not in allowed]
        if not items or bad:
            raise argparse.ArgumentTypeError(f"{what} must be comma-separated names out of {','.join(allowed)}, "
                                              f"got {text!r}")
        return tuple(dict.fromkeys(items))
    return parse


def parse_eps(text: str) -> tuple[float, ...]:
    """``"0,1,2,4"`` -> (0.0, 1.0, 2.0, 4.0): L∞ radii in 1/255, each in [0, 255]."""
    try:
        values = tuple(float(t) for t in text.split(",") if t.strip())
    except ValueError:
        values = ()
    if not values or any(not 0 <= v <= 255 for v in values):
        raise argparse.ArgumentTypeError(f"--eps must be comma-separated numbers in [0, 255] (units of 1/255), "
                                         f"got {text!r}")
    return tuple(sorted(set(values)))


def register(sub) -> None:
    """Add ``s2s attack`` to the CLI."""
    p = sub.add_parser(
        "attack", help="FGSM/PGD through S2S: gray-box, white-box and transfer accuracy of i, i∘A_S, i∘A_i",
        description="Craft L∞ adversarial examples (foolbox 3.3.4; --library torch: our own few lines) against "
        "every classifier i of a zoo and read them by i, i∘A_S and i∘A_i: gray-box (crafted on i alone), white-box "
        "(crafted on i∘A_i end to end through the AE: gray-box numbers alone overstate robustness, Athalye et al. "
        "2018) and transfer (i's examples read by every j and j∘A_j). Writes results/adversarial.csv (Wilson 95 % "
        "intervals), adversarial_transfer.csv and gradient_structure.csv (the share of |∇x loss| on each clean "
        "image's strongest edges for i and i∘A_i, against a random map). Measured on the demo (64 px, five "
        "classifiers, docs/BENCHMARKS.md): white-box PGD-10 costs about 0.09 s per image, classifier and ε (1 thread); "
        "--limit 200 --eps 0,2,4,8,16 with both attacks and all threat models took 13.5 min on 2 shared cores.")
    p.add_argument("zoo", type=Path, help="zoo directory (with zoo.json)")
    p.add_argument("--data", type=Path, default=None,
                   help="labelled images, one sub-folder per class (default: the zoo's test images)")
    p.add_argument("--attacks", type=_choices(ATTACKS, "--attacks"), default=ATTACKS, metavar="NAMES",
                   help=f"comma-separated, out of {','.join(ATTACKS)} (default all)")
    p.add_argument("--eps", type=parse_eps, default=(0, 1, 2, 4, 8, 16), metavar="LIST",
                   help="L∞ radii in 1/255, comma-separated (default 0,1,2,4,8,16)")
    p.add_argument("--steps", type=int, default=10, help="PGD steps, step 2.5 ε/steps (default 10)")
    p.add_argument("--threat", type=_choices(THREATS, "--threat"), default=THREATS, metavar="NAMES",
                   help=f"comma-separated, out of {','.join(THREATS)} (default all)")
    p.add_argument("--limit", type=int, default=200, help="attack the first N images (default 200)")
    p.add_argument("--batch-size", type=int, default=50, help="images per batch (default 50)")
    p.add_argument("--library", choices=LIBRARIES, default="foolbox", help="who crafts (default foolbox)")
    p.add_argument("--no-gradients", action="store_true", help="skip gradient_structure.csv")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: S2S_THREADS or torch's)")
    p.set_defaults(func=_main)


def _main(args) -> int:
    if args.steps < 1 or args.limit < 1 or args.batch_size < 1:
        raise ConfigError("--steps, --limit and --batch-size must be at least 1")
    configure_threads(args.threads)
    data = args.data or ZooInfo.read(args.zoo).test_dir
    if data is None:
        raise ConfigError(f"{args.zoo} records no test images: give --data DIR (labelled images, one sub-folder "
                          "per class)")
    settings = AttackSettings(attacks=args.attacks, eps=args.eps, steps=args.steps, threats=args.threat,
                              library=args.library)
    result, paths = attack_zoo(args.zoo, data, settings, limit=args.limit, batch_size=args.batch_size,
                               device=args.device, gradients=not args.no_gradients)
    print(f"Attacked {result.images} images.")
    with pd.option_context("display.width", 140, "display.float_format", "{:.3f}".format):
        table = result.adversarial.pivot_table(index=["classifier", "threat", "view"], columns=["attack", "eps"],
                                               values="top1")
        print("\nTop-1 under attack (columns: attack, ε in 1/255):")
        print(table.to_string())
        if result.structure is not None:
            print("\nShare of |∇x loss| on the strongest edges:")
            print(result.structure.to_string(index=False))
    cost = ", ".join(f"{c}/{a}/{t} {s:.1f} s" for (c, a, t), s in result.seconds.items())
    print(f"\nCrafting time: {cost}")
    print("Wrote " + ", ".join(str(p) for p in paths.values()))
    return 0
