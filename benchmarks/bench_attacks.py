"""What an attack through S2S costs (issue 28) on the demo zoo: one batch of 50 test images at 64 px, classifier
V, ε = 4/255, against one forward/backward pass of the same model (the unit every attack step spends).

* ``attack_<attack>_<threat>_s_per_image``: FGSM or PGD-10 crafted by foolbox on V (gray-box) or on V∘A_V
  (white-box, through the AE), per image.
* ``attack_pgd_white_over_one_pass``: PGD-10 white-box over one forward/backward pass of V∘A_V (about 10 steps
  plus foolbox's bookkeeping).
* ``attack_white_pass_over_gray_pass``: one forward/backward of V∘A_V over one of V (what the AE adds per step).
"""

from __future__ import annotations

from pathlib import Path

import torch
from timing import best_seconds

from s2s_core.attacks.methods import craft, loss_grad
from s2s_core.attacks.run import labelled_batches
from s2s_core.attacks.through import ThroughAE
from s2s_core.zoo import Zoo

ZOO = Path(__file__).resolve().parents[1] / "checkpoints" / "demo"
BATCH, NAME, EPS = 50, "V", 4 / 255


def run() -> dict[str, float]:
    zoo = Zoo.load(ZOO)
    _, _, batches = labelled_batches(zoo, ZOO / "data" / "test", limit=BATCH, batch_size=BATCH,
                                     device=torch.device("cpu"))
    x, y = next(batches)
    models = {"gray": zoo.classifiers[NAME], "white": ThroughAE(zoo, NAME, NAME)}
    out: dict[str, float] = {}
    passes = {threat: best_seconds(lambda m=m: loss_grad(m, x, y), reps=3, warmup=1) for threat, m in models.items()}
    for attack in ("fgsm", "pgd"):
        for threat, model in models.items():
            seconds = best_seconds(lambda m=model, a=attack: craft(m, x, y, a, EPS, steps=10), reps=2, warmup=0)
            out[f"attack_{attack}_{threat}_s_per_image"] = round(seconds / BATCH, 4)
            if attack == "pgd" and threat == "white":
                out["attack_pgd_white_over_one_pass"] = round(seconds / passes["white"], 1)
    out["attack_white_pass_over_gray_pass"] = round(passes["white"] / passes["gray"], 1)
    return out


if __name__ == "__main__":
    print(run())
