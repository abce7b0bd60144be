"""Who crafts an attack and who reads it (Folz, Palacio et al., WACV 2020; Palacio et al., CVPR 2018, Sec. 3.5).

Threat models, for every classifier i of a zoo:

- ``gray``: crafted on i alone, read by i, i∘A_S and i∘A_i (the attacker does not know the AE is there);
- ``white``: crafted on i∘A_i end to end, through the differentiable AE, read by the same views. Gray-box
  numbers alone overstate robustness (Athalye et al. 2018): the white-box rows tell how much of it is real;
- ``transfer``: the gray-box examples of i read by every classifier j and by j∘A_j.

Reconstructions are fed to the classifiers unclamped, as in Table 1 (:mod:`s2s_core.analysis.dataset.base`).
Attacks perturb the AE's input ``x`` (B, 3, S, S) in [0, 1]; every classifier reads it at its own size (the
wrapper resizes), so ε = 0 gives Table 1's top-1 for every zoo whose classifiers read the AE's crop.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import pandas as pd
import torch
from torch import Tensor

from s2s_core.analysis.stats import wilson_interval
from s2s_core.attacks.methods import craft
from s2s_core.attacks.through import ThroughAE
from s2s_core.errors import ConfigError
from s2s_core.views import BASE_KEY, ORIGINAL, ae_key

THREATS = ("gray", "white", "transfer")
ADVERSARIAL_COLUMNS = ("classifier", "attack", "eps", "threat", "view", "top1", "ci_low", "ci_high", "n")
TRANSFER_COLUMNS = ("source", "target", "view", "attack", "eps", "top1", "n")


@dataclass(frozen=True)
class AttackSettings:
    """What ``s2s attack`` runs: ``attacks`` (:data:`~s2s_core.attacks.methods.ATTACKS`), ``eps`` as L∞ radii
    in 1/255 units, PGD ``steps``, ``threats`` (:data:`THREATS`) and the crafting ``library``."""

    attacks: tuple[str, ...] = ("fgsm", "pgd")
    eps: tuple[float, ...] = (0, 1, 2, 4, 8, 16)
    steps: int = 10
    threats: tuple[str, ...] = THREATS
    library: str = "foolbox"

    def __post_init__(self) -> None:
        bad = [t for t in self.threats if t not in THREATS]
        if bad or not self.threats:
            raise ConfigError(f"unknown threat model(s) {bad}; choose from {', '.join(THREATS)}")
        if not self.attacks or not self.eps:
            raise ConfigError("give at least one attack and one ε")
        if any(not 0 <= e <= 255 for e in self.eps):
            raise ConfigError(f"ε is given in 1/255 and must lie in [0, 255], got {list(self.eps)}")


@dataclass
class AttackResult:
    """The tables of one run (``adversarial``, ``adversarial_transfer``), the images read, and the seconds spent
    crafting per (classifier, attack, threat)."""

    adversarial: pd.DataFrame
    transfer: pd.DataFrame
    images: int
    seconds: dict[tuple[str, str, str], float] = field(default_factory=dict)
    structure: pd.DataFrame | None = None  #: ``gradient_structure.csv`` when it was measured


class _Tally:
    """Correct/total counts by key."""

    def __init__(self) -> None:
        self.counts: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])

    def add(self, key: tuple, logits: Tensor, y: Tensor) -> None:
        c = self.counts[key]
        c[0] += int((logits.argmax(1) == y).sum())
        c[1] += int(y.numel())


def _read(zoo, readers: Iterable[str], x_adv: Tensor, names: Sequence[str]) -> dict[tuple[str, str], Tensor]:
    """Logits of every classifier in ``readers`` on x_adv, on A_S(x_adv) and on its own A_j(x_adv)."""
    with torch.inference_mode():
        images = {ORIGINAL: x_adv, **zoo.reconstruct_all(x_adv, names=names)}
        out = {}
        for j in readers:
            for view in (ORIGINAL, BASE_KEY, ae_key(j)):
                if view in images:
                    out[(j, view)] = zoo.classifiers[j](images[view])
    return out


def attack_batch(zoo, x: Tensor, y: Tensor, settings: AttackSettings, tallies: tuple[_Tally, _Tally],
                 seconds: dict[tuple[str, str, str], float]) -> None:
    """Craft and read one batch ``x`` (B, 3, S, S) in [0, 1], ``y`` (B,) for every setting; adds to ``tallies``
    (adversarial, transfer) and to ``seconds``."""
    adv, transfer = tallies
    names = [n for n in zoo.names if n in zoo.classifiers]
    for attack in settings.attacks:
        for eps255 in settings.eps:
            eps = eps255 / 255
            for i in zoo.classifiers:
                own = [i] if i in names else []
                if {"gray", "transfer"} & set(settings.threats):
                    start = time.perf_counter()
                    x_adv = craft(zoo.classifiers[i], x, y, attack, eps, steps=settings.steps, library=settings.library)
                    seconds[(i, attack, "gray")] = seconds.get((i, attack, "gray"), 0.0) + time.perf_counter() - start
                    readers = list(zoo.classifiers) if "transfer" in settings.threats else [i]
                    logits = _read(zoo, readers, x_adv, names if "transfer" in settings.threats else own)
                    for (j, view), out in logits.items():
                        if j == i and "gray" in settings.threats:
                            adv.add((i, attack, eps255, "gray", view), out, y)
                        if "transfer" in settings.threats and view != BASE_KEY:
                            transfer.add((i, j, view, attack, eps255), out, y)
                if "white" in settings.threats and own:
                    start = time.perf_counter()
                    x_adv = craft(ThroughAE(zoo, i, i), x, y, attack, eps, steps=settings.steps,
                                  library=settings.library)
                    seconds[(i, attack, "white")] = seconds.get((i, attack, "white"), 0.0) + time.perf_counter() - start
                    for (_, view), out in _read(zoo, [i], x_adv, own).items():
                        adv.add((i, attack, eps255, "white", view), out, y)


def _tables(tallies: tuple[_Tally, _Tally]) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = []
    for (clf, attack, eps, threat, view), (k, n) in tallies[0].counts.items():
        low, high = wilson_interval(k, n)
        rows.append(dict(zip(ADVERSARIAL_COLUMNS, (clf, attack, eps, threat, view, k / n, low, high, n), strict=True)))
    moved = [dict(zip(TRANSFER_COLUMNS, (*key, k / n, n), strict=True))
             for key, (k, n) in tallies[1].counts.items()]
    return (pd.DataFrame(rows, columns=list(ADVERSARIAL_COLUMNS)), pd.DataFrame(moved, columns=list(TRANSFER_COLUMNS)))


def run_attacks(zoo, batches: Iterable[tuple[Tensor, Tensor]], settings: AttackSettings, *,
                progress: Callable[[int], None] | None = None) -> AttackResult:
    """Every attack, ε and threat model of ``settings`` on ``batches`` of ``(x (B, 3, S, S) in [0, 1], y (B,))``;
    ``progress(images so far)`` after each batch. Returns the tables of :mod:`s2s_core.results` ``adversarial``
    and ``adversarial_transfer``."""
    tallies, seconds, seen = (_Tally(), _Tally()), {}, 0
    for x, y in batches:
        attack_batch(zoo, x, y, settings, tallies, seconds)
        seen += int(y.numel())
        if progress:
            progress(seen)
    if not seen:
        raise ConfigError("no images to attack: the data folder gave no readable labelled image")
    adversarial, transfer = _tables(tallies)
    return AttackResult(adversarial, transfer, seen, seconds)
