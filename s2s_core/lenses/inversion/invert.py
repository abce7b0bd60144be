"""Feature inversion (Mahendran & Vedaldi, CVPR 2015; seed 003): the image whose representation at layer ℓ of
classifier i matches that of x0, under natural-image priors.

    u* = argmin_u  mean_ℓ ‖Φ_ℓ(m + σu) − Φ_ℓ(x0)‖² / ‖Φ_ℓ(x0)‖²  +  λ_α R_α(u)  +  λ_TV R_TV^β(u)

(one layer, or several jointly: the mean of their normalised losses), with ``x = m + σu`` the image
(:mod:`s2s_core.lenses.inversion.priors`). As in the paper and the authors' code: a random start ``u0`` of norm 1,
gradient descent with momentum 0.9, and a step size that decays in three stages (a quarter of the steps at
``lr``, half at ``lr/10``, a quarter at ``lr/100``; the momentum is reset when it changes). After every step
the pixels are put back into [0, 1]. ``jitter = J`` shifts the image by up to J pixels (circularly, a fresh
random shift every step) before Φ sees it, the jitter prior of the authors' later work (IJCV 2016).

The target features Φ_ℓ(x0) are computed once, and every step runs the network only up to the deepest
inverted layer (:class:`~s2s_core.models.layers.LayerTap`). The score is the normalised reconstruction error
``‖Φ_ℓ(x*) − Φ_ℓ(x0)‖ / ‖Φ_ℓ(x0)‖`` per layer (and its mean over layers); :func:`mean_pair_distance` gives its
scale on the paper's terms (the same measure between two different images), so that error / scale = 1 means
"as far as another image".

Images are batched: ``x0`` of shape ``(B, 3, H, W)`` gives B independent inversions (each image's loss is
normalised by its own target), run together.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace

import torch
from torch import nn

from s2s_core.errors import ConfigError
from s2s_core.lenses.inversion.priors import (
    ALPHA,
    BETA,
    alpha_norm,
    alpha_weight,
    natural_sigma,
    tv_beta,
    tv_weight,
)
from s2s_core.models.layers import LayerInfo, LayerTap, resolve_layers

#: Default number of gradient steps (the authors ran 400 on 227 px AlexNet; 200 converge on the 64 px demo nets).
STEPS = 200
#: Default initial step size of the normalised objective (the authors' 0.004 for AlexNet; see ``lr`` below).
LEARNING_RATE = 0.004
MOMENTUM = 0.9
#: The three stages of the step size: (fraction of the steps, factor on lr), as in the authors' code.
SCHEDULE: tuple[tuple[float, float], ...] = ((0.25, 1.0), (0.5, 0.1), (0.25, 0.01))


@dataclass(frozen=True)
class InversionSettings:
    """How to invert; ``None`` fields take the paper's defaults for the layer (resolved by :func:`invert`).

    Attributes:
        steps: gradient steps.
        lr: initial step size on the normalised image ``u`` (decays as :data:`SCHEDULE`).
        momentum: momentum of the gradient descent.
        alpha, beta: exponents of the α-norm and TV priors.
        lambda_alpha: weight of R_α (default ``σ^α / (H W B^α)``).
        lambda_tv: weight of R_TV^β (default by the deepest layer's depth: 0.5, 5 or 50).
        sigma: average norm of natural images at this size (default from the classifier's mean/std).
        jitter: largest random shift in pixels per step (0: none).
        seed: seed of the random start and of the jitter.
    """

    steps: int = STEPS
    lr: float = LEARNING_RATE
    momentum: float = MOMENTUM
    alpha: float = ALPHA
    beta: float = BETA
    lambda_alpha: float | None = None
    lambda_tv: float | None = None
    sigma: float | None = None
    jitter: int = 0
    seed: int = 0

    def check(self) -> InversionSettings:
        """Raise ConfigError for values the method cannot use; return self."""
        if int(self.steps) < 1:
            raise ConfigError(f"steps must be at least 1, got {self.steps}")
        for name in ("lr", "alpha", "beta"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"{name} must be a positive number, got {value}")
        if not 0 <= self.momentum < 1:
            raise ConfigError(f"momentum must lie in [0, 1), got {self.momentum}")
        for name in ("lambda_alpha", "lambda_tv", "sigma"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value >= (0 if name != "sigma" else 1e-12)):
                raise ConfigError(f"{name} must be a non-negative number, got {value}")
        if int(self.jitter) < 0:
            raise ConfigError(f"jitter must be a non-negative number of pixels, got {self.jitter}")
        return self

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class InversionResult:
    """What :func:`invert` returns.

    Attributes:
        images: ``(B, 3, H, W)`` inversions x* in [0, 1].
        errors: layer -> ``(B,)`` normalised reconstruction error ``‖Φ(x*) − Φ(x0)‖ / ‖Φ(x0)‖``.
        objective: ``(steps, B)`` the objective at each step (before the step's update).
        layers: the inverted layers.
        settings: the settings with every default resolved (λ_α, λ_TV, σ).
    """

    images: torch.Tensor
    errors: dict[str, torch.Tensor]
    objective: torch.Tensor
    layers: list[LayerInfo]
    settings: InversionSettings
    extras: dict = field(default_factory=dict)

    @property
    def error(self) -> torch.Tensor:
        """``(B,)`` the mean normalised error over the inverted layers."""
        return torch.stack(list(self.errors.values())).mean(dim=0)


def schedule(steps: int, lr: float) -> list[float]:
    """The step size of each of ``steps`` steps: :data:`SCHEDULE`'s stages (every stage at least one step when
    there are enough steps), so that the step size decays over time."""
    bounds, start = [], 0
    for k, (fraction, _) in enumerate(SCHEDULE):
        end = steps if k == len(SCHEDULE) - 1 else min(steps, start + max(1, round(fraction * steps)))
        bounds.append((start, end))
        start = end
    out = [lr] * steps
    for (lo, hi), (_, factor) in zip(bounds, SCHEDULE, strict=True):
        for t in range(lo, hi):
            out[t] = lr * factor
    return out


def resolve_settings(settings: InversionSettings, layers: Sequence[LayerInfo], height: int, width: int,
                     std: Sequence[float]) -> InversionSettings:
    """Fill in σ, λ_α and λ_TV from the paper's rules for these layers and this image size."""
    sigma = settings.sigma if settings.sigma is not None else natural_sigma(std, height, width)
    lam_a = settings.lambda_alpha
    if lam_a is None:
        lam_a = alpha_weight(sigma, height, width, settings.alpha)
    lam_tv = settings.lambda_tv if settings.lambda_tv is not None else tv_weight(max(info.depth for info in layers))
    return replace(settings, sigma=float(sigma), lambda_alpha=float(lam_a), lambda_tv=float(lam_tv))


def image_stats(classifier: nn.Module) -> tuple[torch.Tensor, tuple[float, ...]]:
    """The natural-image mean ``(1, 3, 1, 1)`` and per-channel std of the classifier's normalisation (ImageNet's
    for a bare module): the m and the source of σ of :mod:`s2s_core.lenses.inversion.priors`."""
    spec = getattr(classifier, "spec", None)
    mean = tuple(float(v) for v in getattr(spec, "mean", (0.485, 0.456, 0.406)))
    std = tuple(float(v) for v in getattr(spec, "std", (0.229, 0.224, 0.225)))
    return torch.tensor(mean).view(1, 3, 1, 1), std


def _shift(x: torch.Tensor, jitter: int, generator: torch.Generator) -> torch.Tensor:
    if jitter <= 0:
        return x
    dy, dx = (int(v) for v in torch.randint(-jitter, jitter + 1, (2,), generator=generator))
    return torch.roll(x, shifts=(dy, dx), dims=(2, 3))


def normalised_losses(feats: dict[str, torch.Tensor], targets: dict[str, torch.Tensor],
                      norms: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """layer -> ``(B,)`` ``‖Φ − Φ0‖² / ‖Φ0‖²``."""
    return {name: (feats[name] - targets[name]).flatten(1).pow(2).sum(dim=1) / norms[name] for name in targets}


def invert(
    classifier: nn.Module,
    x0: torch.Tensor,
    layers: Sequence[str] | str,
    settings: InversionSettings | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
    layer_infos: Sequence[LayerInfo] | None = None,
    seeds: Sequence[int] | None = None,
) -> InversionResult:
    """Invert the representation of ``x0`` at ``layers`` of ``classifier``.

    Args:
        classifier: a :class:`~s2s_core.models.classifiers.Classifier` (takes ``(B, 3, H, W)`` in [0, 1]), in
            eval mode; its parameters are not changed and get no gradients.
        x0: ``(B, 3, H, W)`` or ``(3, H, W)`` images in [0, 1].
        layers: one module path or several (inverted jointly).
        settings: :class:`InversionSettings` (default: the paper's).
        progress: called as ``progress(step_done, steps)`` after every step.
        layer_infos: the classifier's :func:`~s2s_core.models.layers.list_layers` (saves one probe pass).
        seeds: one seed per image for its random start (default ``settings.seed + k`` for image k), so an
            image's inversion does not depend on the batch it is in (the jitter, if any, is shared by the batch).

    Returns:
        :class:`InversionResult`. The same settings (seed included) give the same images.
    """
    settings = (settings or InversionSettings()).check()
    if x0.dim() == 3:
        x0 = x0.unsqueeze(0)
    if x0.dim() != 4 or x0.shape[1] != 3:
        raise ConfigError(f"inversion takes images shaped (B, 3, H, W), got {tuple(x0.shape)}")
    infos = resolve_layers(classifier, layers, label=f"classifier {getattr(classifier, 'name', '')}".strip(),
                           infos=layer_infos)
    batch, _, height, width = x0.shape
    seeds = [int(settings.seed) + k for k in range(batch)] if seeds is None else [int(s) for s in seeds]
    if len(seeds) != batch:
        raise ConfigError(f"{len(seeds)} seeds given for {batch} images")
    device = next((p.device for p in classifier.parameters()), x0.device)
    # Autograd on the image even when called under torch.inference_mode() (as in s2s evaluate): every tensor
    # the steps use is made inside this block, so none of them is an inference tensor.
    with torch.inference_mode(False), torch.enable_grad():
        x0 = x0.detach().to(device=device, dtype=torch.float32).clone()
        mean, std = image_stats(classifier)
        mean = mean.to(device)
        settings = resolve_settings(settings, infos, height, width, std)
        sigma, steps = float(settings.sigma), int(settings.steps)
        with torch.no_grad():
            targets = LayerTap(classifier, infos)(x0)
        norms = {n: t.flatten(1).pow(2).sum(dim=1).clamp_min(1e-12) for n, t in targets.items()}
        tap = LayerTap(classifier, infos, stop_early=True)
        lo, hi = (0.0 - mean) / sigma, (1.0 - mean) / sigma  # the pixel range [0, 1] in u units
        noise = torch.stack([torch.randn(x0.shape[1:], generator=torch.Generator().manual_seed(s)) for s in seeds])
        u = (noise / noise.flatten(1).norm(dim=1).view(-1, 1, 1, 1)).to(device)  # a random start of norm 1
        u = torch.max(torch.min(u, hi), lo).requires_grad_(True)
        velocity = torch.zeros_like(u)
        jitter_rng = torch.Generator().manual_seed(seeds[0])
        history = torch.empty(steps, batch)
        previous_lr = None
        for t, lr in enumerate(schedule(steps, settings.lr)):
            if lr != previous_lr:  # a sudden change of step size: restart the momentum (authors' code)
                velocity.zero_()
                previous_lr = lr
            image = _shift(mean + sigma * u, settings.jitter, jitter_rng)
            losses = normalised_losses(tap(image), targets, norms)
            objective = (torch.stack(list(losses.values())).mean(dim=0)
                         + settings.lambda_alpha * alpha_norm(u, settings.alpha)
                         + settings.lambda_tv * tv_beta(u, settings.beta))
            (grad,) = torch.autograd.grad(objective.sum(), u)
            history[t] = objective.detach().cpu()
            with torch.no_grad():
                velocity.mul_(settings.momentum).sub_(lr * grad)
                u.add_(velocity)
                u.copy_(torch.max(torch.min(u, hi), lo))
            if progress is not None:
                progress(t + 1, steps)
        with torch.no_grad():
            images = (mean + sigma * u).clamp(0.0, 1.0)
            final = LayerTap(classifier, infos)(images)
            errors = {n: (final[n] - targets[n]).flatten(1).norm(dim=1) / norms[n].sqrt() for n in targets}
    return InversionResult(images=images.detach(), errors={n: e.detach().cpu() for n, e in errors.items()},
                           objective=history, layers=infos, settings=settings)


def layer_features(classifier: nn.Module, x: torch.Tensor, layers: Sequence[LayerInfo],
                   batch_size: int = 64) -> dict[str, torch.Tensor]:
    """layer -> ``(N, D)`` float64 on the CPU: the features Φ_ℓ of the images ``x`` ``(N, 3, H, W)`` in [0, 1],
    flattened, computed ``batch_size`` images at a time (one pass up to the deepest layer each)."""
    device = next((p.device for p in classifier.parameters()), x.device)
    tap = LayerTap(classifier, layers)
    parts: dict[str, list[torch.Tensor]] = {info.name: [] for info in layers}
    with torch.no_grad():
        for start in range(0, int(x.shape[0]), batch_size):
            for name, f in tap(x[start:start + batch_size].to(device)).items():
                parts[name].append(f.flatten(1).to("cpu", torch.float64))
    return {name: torch.cat(p) for name, p in parts.items()}


def feature_distances(features: torch.Tensor) -> torch.Tensor:
    """``(N, N)``: entry (a, b) is ``‖Φ(b) − Φ(a)‖ / ‖Φ(a)‖`` for features ``(N, D)``, the normalisation of the
    inversion error with image a as the reference (so the matrix is not symmetric); the diagonal is 0."""
    f = features.to(torch.float64)
    norms = f.norm(dim=1).clamp_min(1e-12)
    rows = [(f - f[a]).norm(dim=1) / norms[a] for a in range(f.shape[0])]  # exact: no |a|² + |b|² - 2ab shortcut
    return torch.stack(rows) if rows else f.new_zeros(0, 0)


def mean_pair_distance(features: torch.Tensor) -> float:
    """The scale of the inversion error on the paper's terms (Mahendran & Vedaldi 2015 divide the error by the
    mean distance between the representations of different images): the mean of :func:`feature_distances` over
    the ordered pairs of different images of ``features`` ``(N, D)``, ``‖Φ(b) − Φ(a)‖ / ‖Φ(a)‖``, normalised as
    our error ``‖Φ(x*) − Φ(x)‖ / ‖Φ(x)‖`` is (the paper's plain ``‖Φ(x*) − Φ(x)‖ / mean ‖Φ(a) − Φ(b)‖`` would
    weigh images by their feature norm). An error divided by it is 1 when x* is as far from x as another image
    typically is. NaN with fewer than two images."""
    n = int(features.shape[0])
    if n < 2:
        return math.nan
    return float(feature_distances(features).sum() / (n * (n - 1)))


def feature_errors(classifier: nn.Module, x0: torch.Tensor, others: torch.Tensor,
                   layers: Sequence[LayerInfo]) -> dict[str, torch.Tensor]:
    """layer -> ``(B,)`` ``‖Φ_ℓ(other) − Φ_ℓ(x0)‖ / ‖Φ_ℓ(x0)‖``: the inversion's error measure for any other
    image of x0 (e.g. the reconstruction A_i(x0)), so the two lenses are scored alike."""
    with torch.no_grad():
        tap = LayerTap(classifier, layers)
        a, b = tap(x0), tap(others)
    return {n: ((b[n] - a[n]).flatten(1).norm(dim=1) / a[n].flatten(1).norm(dim=1).clamp_min(1e-12)).cpu()
            for n in a}


def is_logits_layer(info: LayerInfo) -> bool:
    """Whether ``info`` is the classifier's output (depth 1: the last leaf call of the pass): an inversion from it
    is fitted to i's own logits, so i's top-1 on it is near-tautological and proves nothing about the lens."""
    return info.depth >= 1.0 - 1e-9
