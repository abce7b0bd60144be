"""Data made differently from the demo's, for the bring-your-own journeys (issue 23).

- :func:`digits_tree`: scikit-learn's handwritten digits (8×8, shipped with scikit-learn), upscaled to 32 px,
  as an ImageFolder tree whose file names repeat in every class folder (``img_000.png``, ...), as most data
  sets name them. Grey digits, no shapes, no masks, no photo backgrounds.
- :func:`photo_tree`: crops of scikit-image's photos (one photo per class), of several sizes and aspect
  ratios, also with repeated file names.

Both are deterministic (seeded) and need nothing from the network.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

#: The classes of the photo tree: one scikit-image photo each.
PHOTOS = {"astronaut": "astronaut", "cat": "chelsea", "coffee": "coffee", "rocket": "rocket"}


def digits_tree(root: Path, *, per_class: dict[str, int], classes: int = 10, size: int = 32,
                seed: int = 0) -> dict[str, Path]:
    """Write ``root/<split>/<digit>/img_NNN.png`` for every ``split: n`` of ``per_class`` (disjoint images,
    ``n`` per class, ``classes`` digits) and return ``{split: folder}``. Digits are grey on white, upscaled
    bicubically from 8×8 to ``size`` px; the folder names are the digits' English names, so sorted folder
    order differs from the digit order."""
    from sklearn.datasets import load_digits

    names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"][:classes]
    digits = load_digits()
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(digits.target))
    by_class = {k: [int(i) for i in order if digits.target[i] == k] for k in range(classes)}
    out, start = {}, 0
    for split, n in per_class.items():
        for k, name in enumerate(names):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for j, index in enumerate(by_class[k][start:start + n]):
                grey = 255 - np.clip(digits.images[index] * 16, 0, 255).astype(np.uint8)
                img = Image.fromarray(grey).resize((size, size), Image.Resampling.BICUBIC).convert("RGB")
                img.save(folder / f"img_{j:03d}.png")
        out[split] = root / split
        start += n
    return out


def photo_tree(root: Path, *, per_class: dict[str, int], seed: int = 0) -> dict[str, Path]:
    """Write ``root/<split>/<class>/img_NNN.jpg``: random crops (160-300 px a side, aspect 0.8-1.25) of one
    scikit-image photo per class (:data:`PHOTOS`), ``n`` per class for every ``split: n``; return
    ``{split: folder}``."""
    from skimage import data as skdata

    rng = np.random.default_rng(seed)
    out = {}
    for split, n in per_class.items():
        for name, photo in PHOTOS.items():
            image = getattr(skdata, photo)()
            if image.ndim == 2:
                image = np.stack([image] * 3, axis=-1)
            image = image[..., :3]
            h, w = image.shape[:2]
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for j in range(n):
                ch = int(rng.integers(160, min(300, h) + 1))
                cw = int(np.clip(ch * rng.uniform(0.8, 1.25), 100, w))
                top, left = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
                Image.fromarray(image[top:top + ch, left:left + cw]).save(folder / f"img_{j:03d}.jpg", quality=92)
        out[split] = root / split
    return out
