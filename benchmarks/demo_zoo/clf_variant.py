"""One demo classifier variant (issue 27): train it, then measure top-1 on the 500 test images.

    python benchmarks/demo_zoo/clf_variant.py --short L --steps 2000 --procedural 0.5

The demo recipe's optimiser and schedule (AdamW, one-cycle) on fresh :class:`ShapeGenerator` batches with a
``--procedural`` share of photo-free backgrounds. Appends one JSON line to ``clf_variants.jsonl``: steps,
training seconds (quiet machine, one thread), top-1 on the validation split (training photos) and on the test
split (two unseen photos), in percent.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from s2s_core.data.demo_data import ShapeGenerator, fixed_split
from s2s_core.demo.build import train_demo_classifier
from s2s_core.demo.recipe import DEMO_CLASSIFIERS, DemoRecipe
from s2s_core.train.classify import accuracy

HERE = Path(__file__).resolve().parent


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--short", required=True, choices=sorted(DEMO_CLASSIFIERS))
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.0, help="peak lr (0: the recipe's)")
    p.add_argument("--procedural", type=float, default=0.5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--results", type=Path, default=HERE / "clf_variants.jsonl")
    p.add_argument("--save", type=Path, default=None, help="write the classifier (s2s checkpoint folder)")
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    recipe = DemoRecipe()
    lr = a.lr or recipe.clf_lr[a.short]
    val = fixed_split("val", 500, seed=0, size=64)
    xt, yt = fixed_split("test", 500, seed=0, size=64)
    xt = (xt * 255).round() / 255  # as written to the test PNGs
    import time

    start = time.perf_counter()
    clf, result, val_top1 = train_demo_classifier(
        DEMO_CLASSIFIERS[a.short], ShapeGenerator(64, seed=0, procedural=a.procedural), steps=a.steps,
        batch_size=a.batch, lr=lr, seed=101, val=val, optimizer=recipe.clf_optimizer,
        weight_decay=recipe.clf_weight_decay, schedule=recipe.clf_schedule)
    seconds = time.perf_counter() - start
    res = {"short": a.short, "steps": a.steps, "batch": a.batch, "lr": lr, "procedural": a.procedural,
           "train_s": round(seconds), "val_top1": round(100 * val_top1, 1),
           "test_top1": round(100 * accuracy(clf, xt, yt), 1)}
    print(json.dumps(res), flush=True)
    with a.results.open("a") as fh:
        fh.write(json.dumps(res) + "\n")
    if a.save is not None:
        from s2s_core.checkpoints import save_classifier
        from s2s_core.data.demo_data import CLASS_NAMES

        save_classifier(a.save, clf, res, classes=CLASS_NAMES, origin="trained")


if __name__ == "__main__":
    main()
