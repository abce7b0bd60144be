"""Offline data for the demo zoo, made from the photographs that ship with scikit-image and scikit-learn.

Two sources, both generated on the fly so nothing is reused verbatim and nothing is downloaded:

* :class:`PhotoCropStream` — the unlabelled stream for pre-training A_S (the small-scale stand-in for
  YFCC100m, Sec. 3.2): random crops of the shipped photos at a random scale, position, small rotation,
  mirror and colour jitter.
* :class:`ShapeGenerator` — the labelled images for the classifiers: one filled shape drawn over a random
  photo crop.
* :class:`PretrainMix` — what A_S actually pre-trains on: both kinds of image, without labels. The paper
  pre-trains on YFCC100m, a superset of its classifiers' domain; here the domain is "shapes over photos", so
  A_S sees photo crops *and* shapes over photo crops (training photos only, labels dropped).

**What decides the class: the outline of the shape, and nothing else.** The ten classes are
``CLASS_NAMES`` (circle, square, triangle, star, cross, ring, crescent, half-disc, bar, heart). Every
nuisance factor is drawn independently of the class: the fill colour (chosen to stand out from the
background under the shape, never from the class), the size (all classes are scaled to the same area,
so area says nothing), the position, the rotation (uniform over the full turn) and the background crop
(photo, place, scale, contrast). A classifier that keeps "the right signal" must keep the shape's outline;
colour, texture and the background are distractors. The test split draws its backgrounds from photos that
the training stream never uses (``TEST_PHOTOS``), so accuracy measures the shape, not memorised
backgrounds.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from s2s_core.data.masks import masks_folder

CLASS_NAMES: tuple[str, ...] = (
    "circle", "square", "triangle", "star", "cross", "ring", "crescent", "half-disc", "bar", "heart",
)
#: Photos whose crops form the test split's backgrounds (never used for training or A_S pre-training).
TEST_PHOTOS: tuple[str, ...] = ("coffee", "flower")
#: Radius range (pixels at 64 px) of the disc with the same area as the shape.
RADIUS_RANGE = (0.15, 0.26)


# --------------------------------------------------------------------------- photos
def _skimage_photos() -> dict[str, np.ndarray]:
    from skimage import data as skdata

    loaders = {
        "astronaut": skdata.astronaut, "chelsea": skdata.chelsea, "coffee": skdata.coffee,
        "hubble": skdata.hubble_deep_field, "ihc": skdata.immunohistochemistry, "retina": skdata.retina,
        "rocket": skdata.rocket, "motorcycle": lambda: skdata.stereo_motorcycle()[0],
        "brick": skdata.brick, "grass": skdata.grass, "gravel": skdata.gravel, "camera": skdata.camera,
        "moon": skdata.moon, "coins": skdata.coins,
    }
    photos = {}
    for name, load in loaders.items():
        try:
            photos[name] = load()
        except Exception:  # a photo missing from this scikit-image build: use the others
            continue
    return photos


def _sklearn_photos() -> dict[str, np.ndarray]:
    from sklearn.datasets import load_sample_images

    bunch = load_sample_images()
    return {Path(f).stem: img for f, img in zip(bunch.filenames, bunch.images, strict=True)}


@cache
def photo_library() -> dict[str, torch.Tensor]:
    """Every shipped photo as a float tensor (3, H, W) in [0, 1] (grey photos become RGB); cached."""
    out = {}
    for name, arr in {**_skimage_photos(), **_sklearn_photos()}.items():
        a = np.asarray(arr)
        if a.ndim == 2:
            a = np.stack([a] * 3, axis=-1)
        a = a[..., :3].astype(np.float32)
        a = a / (65535.0 if a.max() > 255 else 255.0)
        out[name] = torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1).contiguous()
    return out


def _photos(split: str) -> list[torch.Tensor]:
    lib = photo_library()
    names = [n for n in sorted(lib) if (n in TEST_PHOTOS) == (split == "test")]
    return [lib[n] for n in names]


def random_crops(photos: list[torch.Tensor], n: int, size: int, generator: torch.Generator, *,
                 scale: tuple[float, float] = (0.1, 0.7), rotation: float = 15.0, jitter: float = 0.15,
                 mirror: bool = True) -> torch.Tensor:
    """``n`` random crops (n, 3, size, size) in [0, 1]: photo, side (a fraction ``scale`` of the photo's
    shorter side), centre, rotation (±``rotation`` degrees), mirror and brightness/contrast/saturation jitter
    (±``jitter``) are drawn from ``generator``. One ``grid_sample`` per photo used."""
    which = torch.randint(len(photos), (n,), generator=generator)
    side = torch.empty(n).uniform_(*scale, generator=generator)
    angle = torch.empty(n).uniform_(-rotation, rotation, generator=generator) * math.pi / 180
    flip = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0) if mirror else torch.ones(n)
    u = torch.rand(n, 2, generator=generator)
    jit = torch.empty(n, 3).uniform_(-jitter, jitter, generator=generator)
    out = torch.empty(n, 3, size, size)
    for k in which.unique().tolist():
        idx = (which == k).nonzero().flatten()
        photo = photos[k]
        _, h, w = photo.shape
        m = len(idx)
        # crop half-extent in normalised coordinates of the photo (x: width, y: height)
        half = side[idx] * min(h, w)
        sx, sy = half / w, half / h
        cx = (u[idx, 0] * 2 - 1) * (1 - sx)
        cy = (u[idx, 1] * 2 - 1) * (1 - sy)
        cos, sin = torch.cos(angle[idx]), torch.sin(angle[idx])
        theta = torch.zeros(m, 2, 3)
        theta[:, 0, 0], theta[:, 0, 1], theta[:, 0, 2] = cos * sx * flip[idx], -sin * sx, cx
        theta[:, 1, 0], theta[:, 1, 1], theta[:, 1, 2] = sin * sy * flip[idx], cos * sy, cy
        grid = F.affine_grid(theta, (m, 3, size, size), align_corners=False)
        out[idx] = F.grid_sample(photo.expand(m, -1, -1, -1), grid, mode="bilinear", padding_mode="reflection",
                                 align_corners=False)
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    grey = out.mean(dim=1, keepdim=True)
    out = out * (1 + jit[:, 0, None, None, None])  # brightness
    out = (out - mean) * (1 + jit[:, 1, None, None, None]) + mean  # contrast
    out = (out - grey) * (1 + jit[:, 2, None, None, None]) + grey  # saturation
    return out.clamp_(0, 1)


class PhotoCropStream:
    """Unlabelled stream of random augmented photo crops for pre-training A_S (Sec. 3.2 at small scale).

    Training crops never come from ``TEST_PHOTOS``; :meth:`heldout` draws a fixed set from those photos,
    so the held-out reconstruction error measures images the AE has never seen.
    """

    def __init__(self, size: int = 64, seed: int = 0) -> None:
        self.size, self.seed = size, seed
        self.train_photos, self.test_photos = _photos("train"), _photos("test")

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """(n, 3, S, S) fresh training crops in [0, 1]."""
        return random_crops(self.train_photos, n, self.size, generator)

    def batches(self, batch_size: int, seed: int) -> _Batches:
        """A re-iterable, endless, deterministic source of training batches (same seed, same batches)."""
        return _Batches(lambda n, g: self.sample(n, g), batch_size, seed)

    def heldout(self, n: int) -> torch.Tensor:
        """A fixed set of ``n`` crops (n, 3, S, S) of the held-out photos (deterministic for ``seed``)."""
        g = torch.Generator().manual_seed(self.seed * 7919 + 17)
        return random_crops(self.test_photos, n, self.size, g, rotation=0.0, jitter=0.0)


class _Batches:
    """Endless batches from ``sample(n, generator)``; each ``iter()`` restarts from the same seed, or from the
    state loaded with :meth:`load_state_dict` (the generator's state after the last consumed batch, plain JSON),
    so a resumed training run continues with exactly the batches it would have seen."""

    def __init__(self, sample, batch_size: int, seed: int) -> None:
        self.sample, self.batch_size, self.seed = sample, batch_size, seed
        self.consumed = 0
        self._start: dict | None = None
        self._g: torch.Generator | None = None

    def __iter__(self) -> Iterator:
        g = torch.Generator().manual_seed(self.seed)
        self.consumed = 0
        if self._start is not None:
            g.set_state(torch.tensor(self._start["rng"], dtype=torch.uint8))
            self.consumed = int(self._start["batches"])
        self._g = g
        while True:
            batch = self.sample(self.batch_size, g)
            self.consumed += 1
            yield batch

    def state_dict(self) -> dict:
        g = self._g or torch.Generator().manual_seed(self.seed)
        return {"batches": self.consumed, "rng": g.get_state().tolist()}

    def load_state_dict(self, state: dict) -> None:
        self._start = {"batches": int(state["batches"]), "rng": list(state["rng"])}


# --------------------------------------------------------------------------- shapes
def _inside(cls: int, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Boolean mask of class ``cls`` at unit scale in shape coordinates (x right, y up), any shape tensors."""
    r = torch.sqrt(x * x + y * y)
    t = torch.atan2(y, x)
    name = CLASS_NAMES[cls]
    if name == "circle":
        return r <= 1.0
    if name == "square":
        return torch.maximum(x.abs(), y.abs()) <= 1.0
    if name == "triangle":  # equilateral, circumradius 1
        k = torch.stack([(x * math.cos(a) + y * math.sin(a)) for a in (math.pi / 2, math.pi * 7 / 6, math.pi * 11 / 6)])
        return (k <= 0.5).all(0)
    if name == "star":  # five rounded points
        return r <= 0.6 + 0.4 * torch.cos(5 * (t - math.pi / 2))
    if name == "cross":
        return ((x.abs() <= 0.33) & (y.abs() <= 1.0)) | ((y.abs() <= 0.33) & (x.abs() <= 1.0))
    if name == "ring":
        return (r <= 1.0) & (r >= 0.6)
    if name == "crescent":
        return (r <= 1.0) & (torch.sqrt((x - 0.55) ** 2 + y * y) >= 0.85)
    if name == "half-disc":
        return (r <= 1.0) & (y >= 0.0)
    if name == "bar":
        return (x.abs() <= 1.0) & (y.abs() <= 0.3)
    if name == "heart":  # (x^2 + y^2 - 1)^3 - x^2 y^3 <= 0, centred
        yy = y * 1.15 + 0.15
        xx = x * 1.15
        return (xx * xx + yy * yy - 1) ** 3 - xx * xx * yy**3 <= 0
    raise ValueError(cls)


@cache
def _unit_areas() -> tuple[float, ...]:
    """Area of each class at unit scale (measured on a fine grid), to equalise areas across classes."""
    g = torch.linspace(-1.6, 1.6, 801)
    y, x = torch.meshgrid(g, g, indexing="ij")
    cell = float(g[1] - g[0]) ** 2
    return tuple(float(_inside(c, x, y).sum()) * cell for c in range(len(CLASS_NAMES)))


_BANK_EXTENT = 1.6  # the bank covers [-extent, extent]^2 in unit shape coordinates
_BANK_SIZE = 96


@cache
def _mask_bank() -> torch.Tensor:
    """Anti-aliased unit-scale masks of every class, (C, 1, 96, 96) (4x4 supersampled coverage)."""
    ss = _BANK_SIZE * 4
    g = (torch.arange(ss, dtype=torch.float32) + 0.5) / ss * 2 * _BANK_EXTENT - _BANK_EXTENT
    py, px = torch.meshgrid(g, g, indexing="ij")
    masks = torch.stack([_inside(c, px, -py).float() for c in range(len(CLASS_NAMES))])[:, None]
    return F.avg_pool2d(masks, 4)


def render_masks(labels: torch.Tensor, centre: torch.Tensor, radius: torch.Tensor, angle: torch.Tensor,
                 size: int) -> torch.Tensor:
    """Anti-aliased coverage masks (n, 1, S, S) in [0, 1] of shapes ``labels`` (n,) with centres (n, 2) in
    pixels, equal-area radius (n,) in pixels and rotation (n,) in radians.

    Each class is drawn once, supersampled, into a bank at unit scale; every image then samples its class's
    mask through its own affine map (one ``grid_sample`` per class present).
    """
    n = labels.shape[0]
    areas = torch.tensor(_unit_areas())
    scale = radius * torch.sqrt(math.pi / areas[labels])  # pixels per unit: every shape has area pi * radius^2
    # output pixel p (normalised to [-1, 1]) -> bank coordinate (normalised to [-1, 1])
    k = (size / 2) / (scale * _BANK_EXTENT)
    cos, sin = torch.cos(angle), torch.sin(angle)
    c = centre / (size / 2) - 1  # centre in normalised output coordinates
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1] = k * cos, k * sin
    theta[:, 1, 0], theta[:, 1, 1] = -k * sin, k * cos
    theta[:, :, 2] = -(theta[:, :, :2] @ c[:, :, None])[:, :, 0]
    grid = F.affine_grid(theta, (n, 1, size, size), align_corners=False)
    bank = _mask_bank()
    mask = torch.empty(n, 1, size, size)
    for cls in labels.unique().tolist():
        idx = (labels == cls).nonzero().flatten()
        mask[idx] = F.grid_sample(bank[cls : cls + 1].expand(len(idx), -1, -1, -1), grid[idx], mode="bilinear",
                                  padding_mode="zeros", align_corners=False)
    return mask


class ShapeGenerator:
    """Labelled demo images: one filled shape (the class) over a random photo crop (nuisance).

    ``procedural``: the share of training images whose background is a photo-free texture instead
    (:mod:`s2s_core.data.backgrounds`); 0 for the test split, whose backgrounds stay unseen photos.

    ``sample(n, generator) -> (x (n, 3, S, S) in [0, 1], y (n,) int64)``; the label is uniform over
    ``CLASS_NAMES`` and every other factor is drawn independently of it (see the module docstring).
    """

    def __init__(self, size: int = 64, seed: int = 0, *, split: str = "train", procedural: float = 0.0) -> None:
        if split not in ("train", "val", "test"):
            raise ValueError(f"split must be train, val or test, got {split!r}")
        if not 0.0 <= procedural <= 1.0 or (procedural and split == "test"):
            raise ValueError(f"procedural must be a fraction in [0, 1] (0 for the test split), got {procedural}")
        self.size, self.seed, self.split, self.procedural = size, seed, split, float(procedural)
        self.photos = _photos("test" if split == "test" else "train")

    def sample(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        labels = torch.randint(len(CLASS_NAMES), (n,), generator=generator)
        return self.render(labels, generator), labels

    def render(self, labels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Images (n, 3, S, S) of the given labels with every nuisance factor drawn from ``generator``."""
        return self.render_with_masks(labels, generator)[0]

    def render_with_masks(self, labels: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Images (n, 3, S, S) and the shapes' coverage masks (n, 1, S, S) in [0, 1] (the ground truth of
        where the class is: ``image = background * (1 - mask) + fill * mask``), same draws as :meth:`render`."""
        n, s = labels.shape[0], self.size
        background = random_crops(self.photos, n, s, generator, scale=(0.1, 0.5))
        if self.procedural:  # a share of photo-free backgrounds (issue 27): nothing to memorise
            from s2s_core.data.backgrounds import procedural_backgrounds

            swap = (torch.rand(n, generator=generator) < self.procedural).nonzero().flatten()
            if len(swap):
                background[swap] = procedural_backgrounds(len(swap), s, generator)
        contrast = torch.empty(n, 1, 1, 1).uniform_(0.4, 0.9, generator=generator)
        mean = background.mean(dim=(1, 2, 3), keepdim=True)
        background = (background - mean) * contrast + mean
        radius = torch.empty(n).uniform_(*RADIUS_RANGE, generator=generator) * s
        margin = radius * 1.45
        centre = torch.rand(n, 2, generator=generator) * (s - 2 * margin[:, None]) + margin[:, None]
        angle = torch.rand(n, generator=generator) * 2 * math.pi
        mask = render_masks(labels, centre, radius, angle, s)
        # fill: a random colour pushed away from the background's mean colour under the shape
        under = (background * mask).sum(dim=(2, 3)) / mask.sum(dim=(2, 3)).clamp_min(1e-6)
        colour = torch.rand(n, 3, generator=generator)
        away = colour - under
        dist = away.norm(dim=1, keepdim=True)
        direction = torch.where(dist > 1e-3, away / dist.clamp_min(1e-6), torch.ones_like(away) / math.sqrt(3))
        target = under + direction * torch.maximum(dist, torch.full_like(dist, 0.55))
        fill = torch.where(((target < 0) | (target > 1)).any(1, keepdim=True), under - direction * 0.55, target)
        fill = fill.clamp(0, 1)
        return (background * (1 - mask) + fill[:, :, None, None] * mask).clamp(0, 1), mask

    def batches(self, batch_size: int, seed: int) -> _Batches:
        """A re-iterable, endless, deterministic source of ``(x, y)`` batches (same seed, same batches)."""
        return _Batches(self.sample, batch_size, seed)


class PretrainMix:
    """Unlabelled pre-training images for A_S: a fixed share of shape images, the rest photo crops.

    ``sample(n, generator) -> (n, 3, S, S)`` in [0, 1]: the first ``round(n * shapes)`` images are shapes over
    training-photo crops (:class:`ShapeGenerator`, ``split="train"``, labels discarded), the others are
    :class:`PhotoCropStream` crops. No test photo is ever used; :meth:`heldout` gives the photo stream's
    held-out crops of the test photos (a check of generalisation only).
    """

    def __init__(self, size: int = 64, seed: int = 0, *, shapes: float = 0.5, procedural: float = 0.0) -> None:
        if not 0.0 <= shapes <= 1.0:
            raise ValueError(f"shapes must be a fraction in [0, 1], got {shapes}")
        self.size, self.shapes = size, float(shapes)
        self.photos = PhotoCropStream(size=size, seed=seed)
        self.shape_images = ShapeGenerator(size=size, seed=seed, split="train", procedural=procedural)

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        k = round(n * self.shapes)
        parts = []
        if k:
            parts.append(self.shape_images.sample(k, generator)[0])
        if n - k:
            parts.append(self.photos.sample(n - k, generator))
        return torch.cat(parts)

    def batches(self, batch_size: int, seed: int) -> _Batches:
        """A re-iterable, endless, deterministic source of training batches (same seed, same batches)."""
        return _Batches(self.sample, batch_size, seed)

    def heldout(self, n: int) -> torch.Tensor:
        return self.photos.heldout(n)


_SPLIT_OFFSETS = {"val": 1_000_003, "test": 2_000_003}


def fixed_split(split: str, n: int, *, seed: int = 0, size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """The fixed ``val`` or ``test`` split: ``n`` images with balanced labels, deterministic for ``seed``.

    Training batches use generator seeds from the training stages; these splits use their own seed streams,
    and the test split also its own background photos (``TEST_PHOTOS``).
    """
    x, y, _ = fixed_split_with_masks(split, n, seed=seed, size=size)
    return x, y


def fixed_split_with_masks(split: str, n: int, *, seed: int = 0,
                           size: int = 64) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`fixed_split` plus each image's shape mask ``(n, 1, S, S)`` (coverage in [0, 1]), from the same draws."""
    if split not in _SPLIT_OFFSETS:
        raise ValueError(f"split must be 'val' or 'test', got {split!r}")
    g = torch.Generator().manual_seed(seed * 7 + _SPLIT_OFFSETS[split])
    labels = torch.arange(n) % len(CLASS_NAMES)
    labels = labels[torch.randperm(n, generator=g)]
    gen = ShapeGenerator(size=size, seed=seed, split=split)
    x, masks = gen.render_with_masks(labels, g)
    return x, labels, masks


def class_folder(index: int) -> str:
    """Folder name of a class in ImageFolder layout: its name (the zoo's ``classes`` list maps names to labels)."""
    return CLASS_NAMES[index]


def mask_to_uint8(mask: torch.Tensor) -> np.ndarray:
    """A coverage mask ``(1, S, S)`` or ``(S, S)`` in [0, 1] as the stored 8-bit grey image ``(S, S)``."""
    return (mask.reshape(mask.shape[-2:]) * 255).round().to(torch.uint8).numpy()


def write_split_to_folder(root: str | Path, split: str, n: int, *, seed: int = 0, size: int = 64,
                          masks: bool = False) -> Path:
    """Write :func:`fixed_split` as PNGs in ImageFolder layout ``root/<class>/<split>_<i>.png``; with ``masks``
    also each image's shape mask as an 8-bit grey PNG (coverage x 255) at the same sub-path of
    :func:`masks_folder` ``(root)``: the ground truth of where the class is (issue 18)."""
    from PIL import Image

    root = Path(root)
    x, y, m = fixed_split_with_masks(split, n, seed=seed, size=size)
    images = (x * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    for c in range(len(CLASS_NAMES)):
        (root / class_folder(c)).mkdir(parents=True, exist_ok=True)
        if masks:
            (masks_folder(root) / class_folder(c)).mkdir(parents=True, exist_ok=True)
    for i, (img, label) in enumerate(zip(images, y.tolist(), strict=True)):
        name = Path(class_folder(label)) / f"{split}_{i:05d}.png"
        Image.fromarray(img).save(root / name, optimize=True)
        if masks:
            Image.fromarray(mask_to_uint8(m[i])).save(masks_folder(root) / name, optimize=True)
    return root
