"""One image under attack, for the Attacks page (issue 28; Folz, Palacio et al., WACV 2020): x, x + δ, δ
amplified, A_i(x + δ) and A_S(x + δ), each with classifier i's top-5.

The attack pushes i away from its own top-1 on x (an uploaded image has no label), crafted on i (``gray``) or
on i∘A_i through the AE (``white``), by our own torch FGSM/PGD (:mod:`s2s_core.attacks.methods`; the same
examples as foolbox's, without its per-call set-up).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from s2s_core.attacks.methods import craft
from s2s_core.attacks.through import ThroughAE
from s2s_core.lenses.predictions import Prediction, predictions
from s2s_core.views import BASE_KEY, ae_key


@dataclass(frozen=True)
class AttackedImage:
    """``images``: caption -> (3, S, S) in [0, 1] (δ shown as 0.5 + δ / 2ε); ``top5``: caption -> i's top-5 on
    that image (none for δ); ``linf``: the largest |δ| in 1/255; ``target``: the class the attack moved away from."""

    images: dict[str, Tensor]
    top5: dict[str, Prediction]
    linf: float
    target: str


def attack_image(zoo, x01: Tensor, classifier: str, attack: str, eps255: float, threat: str = "gray", *,
                 steps: int = 10, classes: Sequence[str] = ()) -> AttackedImage:
    """Attack one image ``x01`` (1, 3, S, S) in [0, 1] against ``classifier`` (see the module doc)."""
    clf = zoo.classifiers[classifier]
    own = classifier in zoo.names
    with torch.no_grad():  # not inference_mode: the label enters the loss that is differentiated
        label = clf(x01).argmax(1)
    model = ThroughAE(zoo, classifier, classifier) if threat == "white" and own else clf
    eps = eps255 / 255
    x_adv = craft(model, x01, label, attack, eps, steps=steps, library="torch")
    delta = x_adv - x01
    with torch.inference_mode():
        recon = zoo.reconstruct_all(x_adv, names=[classifier] if own else [])
    images = {"x": x01[0], "x + δ": x_adv[0], "δ (amplified)": (0.5 + delta / (2 * eps) if eps else delta + 0.5)[0]}
    if own:
        images[f"A_{classifier}(x + δ)"] = recon[ae_key(classifier)][0]
    images["A_S(x + δ)"] = recon[BASE_KEY][0]
    shown = [k for k in images if not k.startswith("δ")]
    with torch.inference_mode():
        logits = clf(torch.stack([images[k] for k in shown]))
    names = list(classes) or [str(i) for i in range(logits.shape[1])]
    top5 = dict(zip(shown, predictions(logits, names, 5), strict=True))
    return AttackedImage({k: v.detach().clamp(0, 1) for k, v in images.items()}, top5,
                         float(delta.abs().max()) * 255, names[int(label)] if int(label) < len(names) else str(label))
