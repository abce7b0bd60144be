"""Feature inversion of one 64 px image at a demo classifier's mid layer, default settings (200 steps).

Figures (the naive loop is timed side by side in this run, on the same image, seed and settings):

* ``inversion_seconds_64px_mid_A``: wall-clock seconds of one inversion with classifier A (alexnet_demo) of the
  shipped demo zoo at its mid layer; ``inversion_cpu_seconds_64px_mid_A``: the CPU seconds of the same run
  (this machine is shared, so wall time includes waiting for a core).
* ``inversion_seconds_64px_mid_mean5``: the mean wall-clock seconds over the demo's five classifiers.
* ``inversion_speedup_vs_naive_A`` / ``inversion_speedup_vs_naive_mean5``: the naive loop's time over ours. The
  naive loop recomputes the target features Φ(x0) every step and runs the whole network every step (no stop
  at the inverted layer); it follows the same path otherwise, so both give the same image
  (``inversion_naive_max_abs_diff``, which must stay below 1e-4).
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import torch

from s2s_core.data.gallery import find_test_split, gallery
from s2s_core.imaging import prepare_image
from s2s_core.lenses.inversion.invert import (
    InversionSettings,
    image_stats,
    invert,
    normalised_losses,
    resolve_settings,
    schedule,
)
from s2s_core.lenses.inversion.priors import alpha_norm, tv_beta
from s2s_core.models.layers import LayerTap, list_layers, mid_layer
from s2s_core.zoo import Zoo

ZOO = Path(__file__).resolve().parents[1] / "checkpoints" / "demo"


def naive_invert(classifier, x0: torch.Tensor, layer, settings: InversionSettings) -> torch.Tensor:
    """The same method without its two savings: Φ(x0) is recomputed at every step, and every step runs the whole
    network. ``(1, 3, H, W)`` -> the inversion ``(1, 3, H, W)``."""
    mean, std = image_stats(classifier)
    settings = resolve_settings(settings, [layer], x0.shape[-2], x0.shape[-1], std)
    sigma = settings.sigma
    lo, hi = -mean / sigma, (1.0 - mean) / sigma
    tap = LayerTap(classifier, [layer], stop_early=False)
    noise = torch.randn(x0.shape[1:], generator=torch.Generator().manual_seed(settings.seed)).unsqueeze(0)
    u = torch.max(torch.min(noise / noise.norm(), hi), lo).requires_grad_(True)
    velocity, previous = torch.zeros_like(u), None
    for lr in schedule(settings.steps, settings.lr):
        if lr != previous:
            velocity.zero_()
            previous = lr
        with torch.no_grad():
            target = tap(x0)
        norms = {n: t.flatten(1).pow(2).sum(dim=1) for n, t in target.items()}
        losses = normalised_losses(tap(mean + sigma * u), target, norms)
        objective = (torch.stack(list(losses.values())).mean(dim=0) + settings.lambda_alpha * alpha_norm(u)
                     + settings.lambda_tv * tv_beta(u))
        (grad,) = torch.autograd.grad(objective.sum(), u)
        with torch.no_grad():
            velocity.mul_(settings.momentum).sub_(lr * grad)
            u.add_(velocity)
            u.copy_(torch.max(torch.min(u, hi), lo))
    return (mean + sigma * u).detach().clamp(0, 1)


def _timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def run() -> dict[str, float]:
    zoo = Zoo.load(ZOO)
    item = gallery(find_test_split(zoo.data_dir), per_class=1, limit=1)[0]
    x0 = prepare_image(item.path, zoo.input_size)
    settings = InversionSettings()
    figures: dict[str, float] = {}
    ours, naive, diffs = {}, {}, []
    for name, clf in zoo.classifiers.items():
        infos = list_layers(clf, zoo.input_size)
        layer = mid_layer(infos)
        invert(clf, x0, layer.name, InversionSettings(steps=5), layer_infos=infos)  # warm-up
        result, wall, cpu = _timed(lambda clf=clf, layer=layer, infos=infos: invert(clf, x0, layer.name, settings,
                                                                                   layer_infos=infos))
        image, naive_wall, _ = _timed(lambda clf=clf, layer=layer: naive_invert(clf, x0, layer, settings))
        ours[name], naive[name] = wall, naive_wall
        diffs.append(float((image - result.images).abs().max()))
        if name == "A":
            figures["inversion_cpu_seconds_64px_mid_A"] = cpu
    figures["inversion_seconds_64px_mid_A"] = ours["A"]
    figures["inversion_speedup_vs_naive_A"] = naive["A"] / ours["A"]
    figures["inversion_seconds_64px_mid_mean5"] = statistics.mean(ours.values())
    figures["inversion_speedup_vs_naive_mean5"] = statistics.mean(naive[n] / ours[n] for n in ours)
    figures["inversion_naive_max_abs_diff"] = max(diffs)
    return figures


if __name__ == "__main__":
    import json

    torch.set_num_threads(1)
    print(json.dumps(run(), indent=2))
