"""Additive uniform noise, Sec. 3.3.2 (Figs. 4-5).

The paper tracks top-1 accuracy under additive noise drawn from U(-s, s), s in [0, 1], fed either to the
classifier directly (dashed lines of Fig. 4) or through an AE first (solid lines). Here the noisy image
is clamped back to [0, 1]: images are [0, 1] tensors everywhere in s2s and a noisy photograph is still a
photograph (an 8-bit file cannot hold values outside the range); without clamping, strong noise would
push pixels far outside what the AE and the classifiers were trained on. At ``s = 0`` the input is
returned untouched.

The ``noise.csv`` format is ``classifier,input,s,top1`` with ``input`` in ``original``, ``A_S``,
``A_<name>`` and ``top1`` a fraction in [0, 1].
"""

from __future__ import annotations

import math

import torch

from s2s_core.errors import ConfigError

#: Noise strengths s evaluated by default: 0.0, 0.1, ..., 1.0.
NOISE_GRID: tuple[float, ...] = tuple(round(0.1 * k, 1) for k in range(11))
#: Seed of the noise generator, so every run sees the same noise.
NOISE_SEED = 1234
NOISE_COLUMNS: tuple[str, ...] = ("classifier", "input", "s", "top1")


def noise_generator(seed: int = NOISE_SEED, device: str | torch.device = "cpu") -> torch.Generator:
    """A seeded generator for :func:`add_uniform_noise`."""
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    return generator


def add_uniform_noise(x01: torch.Tensor, s: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """``clamp(x + U(-s, s), 0, 1)``, elementwise independent noise.

    Args:
        x01: images ``(B, 3, H, W)`` (any shape) in [0, 1], floating point.
        s: noise strength, ``s >= 0``.
        generator: source of randomness (its device may differ from ``x01``'s); ``None`` uses torch's
            global generator.

    Returns:
        A new tensor like ``x01``; ``x01`` itself when ``s == 0``.
    """
    s = float(s)
    if not math.isfinite(s) or s < 0:
        raise ConfigError(f"noise strength s must be a finite number >= 0, got {s}")
    if not x01.is_floating_point():
        raise ConfigError(f"noise is added to float images in [0, 1], got {x01.dtype}")
    if s == 0:
        return x01
    device = generator.device if generator is not None else x01.device
    u = torch.rand(x01.shape, generator=generator, device=device, dtype=x01.dtype).to(x01.device)
    return (x01 + (2.0 * u - 1.0) * s).clamp_(0.0, 1.0)


def parse_grid(text: str) -> tuple[float, ...]:
    """``"0,0.1,0.5"`` -> ``(0.0, 0.1, 0.5)``; anything else, or a value outside [0, 1] -> argparse's
    ``ArgumentTypeError`` (the flag's one-line refusal)."""
    import argparse

    try:
        grid = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"must be comma-separated numbers in [0, 1], got {text!r}") from exc
    if not grid or any(not 0.0 <= s <= 1.0 for s in grid):
        raise argparse.ArgumentTypeError(f"must be comma-separated numbers in [0, 1], got {text!r}")
    return grid
