"""Procedural backgrounds for the demo's training images (issue 27).

The demo's training stream draws its backgrounds from 14 shipped photographs; the test split draws them from
two photographs no training step sees (``demo_data.TEST_PHOTOS``). Fourteen photos are few: classifiers and
fine-tuned decoders learned to serve the backgrounds they were trained on and lost accuracy on the unseen
ones. These generators add an unlimited supply of backgrounds that belong to no photo at all, so nothing
can be memorised:

* **value noise**: the sum of 2-4 octaves of random colour grids (2x2 ... 16x16) upsampled bicubically, with a
  random fall-off: clouds, blotches, fine grain;
* **gradients**: a linear blend between two random colours at a random angle, with a little noise;
* **patterns**: stripes or a checkerboard at a random frequency, angle, phase and edge sharpness in two random
  colours (edges that compete with the shape's outline).

Every factor is drawn from the caller's generator, so a stream stays deterministic for its seed.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

#: The kinds of background, in the order their index is drawn.
KINDS: tuple[str, ...] = ("noise", "gradient", "pattern")


def _coords(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel-centre coordinates (S, S) in [-1, 1] (x right, y down)."""
    g = (torch.arange(size, dtype=torch.float32) + 0.5) / size * 2 - 1
    y, x = torch.meshgrid(g, g, indexing="ij")
    return x, y


def _normalise(img: torch.Tensor) -> torch.Tensor:
    """Stretch each image (n, 3, S, S) to span [0, 1] over all its channels."""
    lo = img.amin(dim=(1, 2, 3), keepdim=True)
    hi = img.amax(dim=(1, 2, 3), keepdim=True)
    return (img - lo) / (hi - lo).clamp_min(1e-6)


def value_noise(n: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` multi-octave colour noise images (n, 3, S, S) in [0, 1]."""
    falloff = torch.empty(n, 1, 1, 1).uniform_(0.3, 0.9, generator=generator)
    out = torch.zeros(n, 3, size, size)
    for octave, cells in enumerate((2, 4, 8, 16)):
        grid = torch.rand(n, 3, cells + 1, cells + 1, generator=generator)
        up = F.interpolate(grid, size=(size, size), mode="bicubic", align_corners=True)
        out += up * falloff**octave
    grey = torch.rand(n, 1, 1, 1, generator=generator) < 0.25  # a quarter in grey tones
    out = torch.where(grey, out.mean(dim=1, keepdim=True).expand_as(out), out)
    return _normalise(out)


def gradients(n: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` linear two-colour gradients (n, 3, S, S) in [0, 1] at random angles, with faint noise."""
    x, y = _coords(size)
    angle = torch.rand(n, generator=generator) * 2 * math.pi
    t = (x * torch.cos(angle)[:, None, None] + y * torch.sin(angle)[:, None, None]) / math.sqrt(2) * 0.5 + 0.5
    a, b = torch.rand(n, 3, 1, 1, generator=generator), torch.rand(n, 3, 1, 1, generator=generator)
    img = a + (b - a) * t[:, None]
    noise = torch.randn(n, 3, size, size, generator=generator) * torch.empty(n, 1, 1, 1).uniform_(0, 0.05, generator=generator)
    return (img + noise).clamp(0, 1)


def patterns(n: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` stripe or checkerboard images (n, 3, S, S) in [0, 1] in two random colours."""
    x, y = _coords(size)
    angle = (torch.rand(n, generator=generator) * math.pi)[:, None, None]
    freq = torch.empty(n, 1, 1).uniform_(1.5, 8.0, generator=generator) * math.pi
    phase = torch.rand(n, 2, 1, 1, generator=generator) * 2 * math.pi
    u = x * torch.cos(angle) + y * torch.sin(angle)
    v = -x * torch.sin(angle) + y * torch.cos(angle)
    wave = torch.sin(freq * u + phase[:, 0])
    checker = torch.rand(n, 1, 1, generator=generator) < 0.4
    wave = torch.where(checker, wave * torch.sin(freq * v + phase[:, 1]), wave)
    sharp = torch.empty(n, 1, 1).uniform_(1.0, 12.0, generator=generator)
    t = torch.sigmoid(wave * sharp)[:, None]
    a, b = torch.rand(n, 3, 1, 1, generator=generator), torch.rand(n, 3, 1, 1, generator=generator)
    return (a + (b - a) * t).clamp(0, 1)


_MAKERS = {"noise": value_noise, "gradient": gradients, "pattern": patterns}


def procedural_backgrounds(n: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` backgrounds (n, 3, S, S) in [0, 1], each of a kind drawn uniformly from :data:`KINDS`."""
    kind = torch.randint(len(KINDS), (n,), generator=generator)
    out = torch.empty(n, 3, size, size)
    for k, name in enumerate(KINDS):
        idx = (kind == k).nonzero().flatten()
        if len(idx):
            out[idx] = _MAKERS[name](len(idx), size, generator)
    return out
