"""Data augmentation of Sec. 3.2: scale, rotation, shift, noise, blur, brightness, contrast, colour, mirror.

The paper applies "a common set of data augmentation operations (scale, rotation, shift, noise, blur,
brightness, contrast, color, mirror)" when pre-training A_S, without giving strengths; the defaults of
:class:`AugmentConfig` are mild choices of ours. :class:`Augment` works on float images ``(3, H, W)`` or
batches ``(B, 3, H, W)`` in [0, 1], on any device, and returns the same layout clamped to [0, 1].

Each enabled operation is applied to each image independently with probability ``p``; when applied, its
strength is drawn uniformly from its range. Order: one affine warp (scale, rotation, shift together, by
``grid_sample`` with reflection padding so no black corners appear, per-image parameters in one call),
mirror (horizontal flip), brightness (×b), contrast (blend with the image's mean grey), colour
(saturation: blend with the per-pixel grey), Gaussian blur (sigma per image), additive Gaussian noise
(std per image), clamp. All random numbers come from a ``torch.Generator`` on the CPU (the ``seed`` /
``generator`` given to the constructor, or one passed per call), so results are reproducible; images
for which no operation fires are returned bit-for-bit unchanged.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F

from s2s_core.errors import ConfigError

_GREY = (0.299, 0.587, 0.114)


def _pair(name: str, value: object, low: float, high: float) -> tuple[float, float] | None:
    """``None``/0 -> disabled; else a (low, high) pair inside [low, high] with first <= second."""
    if value is None or (isinstance(value, (int, float)) and value == 0):
        return None
    try:
        lo, hi = (float(v) for v in value)  # type: ignore[union-attr]
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"augment {name} must be a (low, high) pair of numbers or 0/None, got {value!r}") from exc
    if not (math.isfinite(lo) and math.isfinite(hi) and low < lo <= hi <= high):
        raise ConfigError(f"augment {name} must satisfy {low} < low <= high <= {high}, got ({lo}, {hi})")
    return lo, hi


def _amount(name: str, value: object, high: float) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"augment {name} must be a number, got {value!r}")
    if not (math.isfinite(value) and 0 <= value <= high):
        raise ConfigError(f"augment {name} must be between 0 and {high}, got {value}")
    return float(value)


@dataclass(frozen=True)
class AugmentConfig:
    """Strengths of the Sec. 3.2 augmentations; 0 or ``None`` disables an operation.

    scale: zoom factor range (e.g. ``(0.8, 1.2)``); rotation: max degrees either way; shift: max
    translation as a fraction of width/height; noise: max std of additive Gaussian noise; blur: Gaussian
    sigma range in pixels; brightness/contrast/color: max relative change (factor in [1-v, 1+v]);
    mirror: random horizontal flips; p: probability that each enabled operation fires per image.
    """

    scale: tuple[float, float] | None = (0.8, 1.2)
    rotation: float = 15.0
    shift: float = 0.1
    noise: float = 0.02
    blur: tuple[float, float] | None = (0.1, 1.0)
    brightness: float = 0.2
    contrast: float = 0.2
    color: float = 0.2
    mirror: bool = True
    p: float = 0.5

    def __post_init__(self) -> None:
        checked = {
            "scale": _pair("scale", self.scale, 0.0, 10.0),
            "rotation": _amount("rotation", self.rotation, 180.0),
            "shift": _amount("shift", self.shift, 1.0),
            "noise": _amount("noise", self.noise, 1.0),
            "blur": _pair("blur", self.blur, 0.0, 20.0),
            "brightness": _amount("brightness", self.brightness, 1.0),
            "contrast": _amount("contrast", self.contrast, 1.0),
            "color": _amount("color", self.color, 1.0),
            "p": _amount("p", self.p, 1.0),
        }
        if not isinstance(self.mirror, bool):
            raise ConfigError(f"augment mirror must be true or false, got {self.mirror!r}")
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    @classmethod
    def from_dict(cls, data: dict | None) -> AugmentConfig:
        """Build from a plain dict (e.g. YAML/JSON); unknown keys raise :class:`ConfigError`."""
        data = dict(data or {})
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise ConfigError(f"unknown augment option(s): {', '.join(unknown)}")
        return cls(**data)

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


class Augment:
    """Random Sec. 3.2 augmentation of ``(3, H, W)`` or ``(B, 3, H, W)`` images in [0, 1].

    ``size=S`` first resizes inputs that are not S×S (antialiased bilinear) so the output is S×S;
    ``size=None`` keeps the input size. Randomness: ``generator``, else a new one from ``seed``, else
    torch's global RNG; a per-call ``generator`` overrides both (the streams pass a per-item one).
    """

    def __init__(self, size: int | None = None, *, scale: tuple[float, float] | None = (0.8, 1.2),
                 rotation: float = 15.0, shift: float = 0.1, noise: float = 0.02,
                 blur: tuple[float, float] | None = (0.1, 1.0), brightness: float = 0.2, contrast: float = 0.2,
                 color: float = 0.2, mirror: bool = True, p: float = 0.5, seed: int | None = None,
                 generator: torch.Generator | None = None, config: AugmentConfig | None = None) -> None:
        if size is not None and (not isinstance(size, int) or size < 1):
            raise ConfigError(f"augment size must be a positive integer or None, got {size!r}")
        self.size = size
        self.config = config or AugmentConfig(scale=scale, rotation=rotation, shift=shift, noise=noise, blur=blur,
                                              brightness=brightness, contrast=contrast, color=color,
                                              mirror=mirror, p=p)
        if generator is None and seed is not None:
            generator = torch.Generator().manual_seed(int(seed))
        self.generator = generator

    @classmethod
    def from_config(cls, config: AugmentConfig | dict, size: int | None = None, *, seed: int | None = None) -> Augment:
        cfg = config if isinstance(config, AugmentConfig) else AugmentConfig.from_dict(config)
        return cls(size, seed=seed, config=cfg)

    def __repr__(self) -> str:
        return f"Augment(size={self.size}, {self.config})"

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Augment ``x`` ``(3, H, W)`` or ``(B, 3, H, W)`` float in [0, 1]; returns the same layout in [0, 1]."""
        if x.dim() not in (3, 4) or x.shape[-3] != 3 or not x.is_floating_point():
            raise ValueError(f"Augment expects float images (3, H, W) or (B, 3, H, W), got {x.dtype} {tuple(x.shape)}")
        single, dtype = x.dim() == 3, x.dtype
        xb = (x.unsqueeze(0) if single else x).float()
        if self.size is not None and tuple(xb.shape[-2:]) != (self.size, self.size):
            xb = F.interpolate(xb, size=(self.size, self.size), mode="bilinear", antialias=True, align_corners=False)
        out = self._apply(xb, generator if generator is not None else self.generator).clamp_(0.0, 1.0)
        out = out.to(dtype)
        return out[0] if single else out

    def _apply(self, x: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
        cfg, batch, dev = self.config, x.shape[0], x.device

        def fires() -> torch.Tensor:
            return (torch.rand(batch, generator=g) < cfg.p).to(dev)

        def uniform(lo: float, hi: float) -> torch.Tensor:
            return (lo + (hi - lo) * torch.rand(batch, generator=g)).to(dev)

        def blend(mask: torch.Tensor, new: torch.Tensor, old: torch.Tensor) -> torch.Tensor:
            return torch.where(mask.view(-1, 1, 1, 1), new, old)

        ones, zeros = torch.ones(batch, device=dev), torch.zeros(batch, device=dev)
        zoom, angle, tx, ty = ones, zeros, zeros, zeros
        if cfg.scale is not None:
            zoom = torch.where(fires(), uniform(*cfg.scale), ones)
        if cfg.rotation:
            angle = torch.where(fires(), uniform(-cfg.rotation, cfg.rotation), zeros)
        if cfg.shift:
            on = fires()
            tx = torch.where(on, uniform(-cfg.shift, cfg.shift), zeros)
            ty = torch.where(on, uniform(-cfg.shift, cfg.shift), zeros)
        warp = (zoom != 1) | (angle != 0) | (tx != 0) | (ty != 0)
        if warp.any():
            x = blend(warp, _affine(x, zoom, angle, tx, ty), x)
        if cfg.mirror:
            on = fires()
            if on.any():
                x = blend(on, x.flip(-1), x)
        if cfg.brightness:
            on, factor = fires(), uniform(1 - cfg.brightness, 1 + cfg.brightness)
            x = blend(on, x * factor.view(-1, 1, 1, 1), x)
        if cfg.contrast:
            on, factor = fires(), uniform(1 - cfg.contrast, 1 + cfg.contrast).view(-1, 1, 1, 1)
            mean = _grey(x).mean(dim=(-2, -1), keepdim=True)
            x = blend(on, (x - mean) * factor + mean, x)
        if cfg.color:
            on, factor = fires(), uniform(1 - cfg.color, 1 + cfg.color).view(-1, 1, 1, 1)
            grey = _grey(x)
            x = blend(on, (x - grey) * factor + grey, x)
        if cfg.blur is not None:
            on, sigma = fires(), uniform(*cfg.blur)
            if on.any():
                x = blend(on, _gaussian_blur(x, sigma, cfg.blur[1]), x)
        if cfg.noise:
            on, std = fires(), uniform(0.0, cfg.noise)
            noise = torch.randn(x.shape, generator=g).to(dev)
            x = blend(on, x + noise * std.view(-1, 1, 1, 1), x)
        return x


def _grey(x: torch.Tensor) -> torch.Tensor:
    """Luma ``(B, 1, H, W)`` of ``(B, 3, H, W)`` RGB (ITU-R 601 weights)."""
    w = torch.tensor(_GREY, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x * w).sum(dim=1, keepdim=True)


def _affine(x: torch.Tensor, zoom: torch.Tensor, angle_deg: torch.Tensor, tx: torch.Tensor,
            ty: torch.Tensor) -> torch.Tensor:
    """Zoom by ``zoom`` (>1 enlarges), rotate by ``angle_deg`` and shift by (tx·W, ty·H), per image.

    Works in pixel units around the centre, so rotations stay rigid on non-square images; reflection
    padding fills the uncovered border.
    """
    _, _, h, w = x.shape
    theta_rad = angle_deg * (math.pi / 180.0)
    cos, sin = torch.cos(theta_rad), torch.sin(theta_rad)
    # output -> input in normalised coords: D^-1 R(-a) D q / zoom - D^-1 R(-a) t / zoom, D = diag(w/2, h/2)
    a11, a12 = cos / zoom, sin * (h / w) / zoom
    a21, a22 = -sin * (w / h) / zoom, cos / zoom
    tnx, tny = 2 * tx, 2 * ty  # shift in normalised units
    b1 = -(a11 * tnx + a12 * tny)
    b2 = -(a21 * tnx + a22 * tny)
    theta = torch.stack([torch.stack([a11, a12, b1], -1), torch.stack([a21, a22, b2], -1)], -2)
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def _gaussian_blur(x: torch.Tensor, sigma: torch.Tensor, max_sigma: float) -> torch.Tensor:
    """Separable Gaussian blur with a different ``sigma`` (pixels) per image of ``(B, 3, H, W)``."""
    b, c, h, w = x.shape
    radius = max(1, math.ceil(3 * max_sigma))
    offsets = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    kernel = torch.exp(-(offsets.view(1, -1) ** 2) / (2 * sigma.to(x.dtype).view(-1, 1) ** 2))
    kernel = (kernel / kernel.sum(dim=1, keepdim=True)).repeat_interleave(c, dim=0)  # (B*C, K)
    mode = "reflect" if min(h, w) > radius else "replicate"
    flat = x.reshape(1, b * c, h, w)
    flat = F.conv2d(F.pad(flat, (radius, radius, 0, 0), mode=mode), kernel.view(b * c, 1, 1, -1), groups=b * c)
    flat = F.conv2d(F.pad(flat, (0, 0, radius, radius), mode=mode), kernel.view(b * c, 1, -1, 1), groups=b * c)
    return flat.reshape(b, c, h, w)
