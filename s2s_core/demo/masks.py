"""Ground truth for the demo zoo: the shape mask of every test image, written beside the test split.

The demo's class is the shape's outline and nothing else (:mod:`s2s_core.data.demo_data`), so the shape's
mask is where a classifier *should* look: the an8flower idea of Oramas et al. (seed 004) at demo scale. The
test split is deterministic (:func:`~s2s_core.data.demo_data.fixed_split_with_masks` from the zoo's recipe),
so the masks can be regenerated for a zoo built before they were written:

    s2s demo-masks checkpoints/demo      # writes data/test_masks/<class>/test_<i>.png and data/test_outlines/

Beside each mask it writes the mask's outline band (:func:`~s2s_core.lenses.scores.outline_band`: 2 px either
side of the contour at 64 px), the second ground truth of the lens tables: the demo's class is the outline.

Every regenerated image must equal the shipped PNG bit for bit before its mask is written, so a mask never
describes an image it was not drawn with.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from s2s_core.data.demo_data import class_folder, fixed_split_with_masks, mask_to_uint8
from s2s_core.data.masks import masks_folder, outlines_folder
from s2s_core.errors import ConfigError
from s2s_core.lenses.scores import MASK_THRESHOLD, outline_band
from s2s_core.zoo import ZooInfo


def write_demo_masks(zoo_dir: str | Path) -> tuple[Path, int]:
    """Regenerate the test split of a demo zoo from its recipe, check it against the PNGs, write the masks.

    Returns ``(masks folder, number of masks)``. Raises :class:`ConfigError` if the zoo has no demo recipe or
    test split, or if any regenerated image differs from its PNG (then no mask is written).
    """
    info = ZooInfo.read(zoo_dir)
    recipe = info.recipe
    if not {"seed", "size", "test_images"} <= set(recipe):
        raise ConfigError(f"{info.path} has no demo recipe (seed, size, test_images) in zoo.json: masks exist only "
                          "for zoos built by `s2s demo`")
    split_dir = info.data_dir / "test"
    if not split_dir.is_dir():
        raise ConfigError(f"{split_dir} does not exist: the zoo has no test split to write masks for")
    x, y, m = fixed_split_with_masks("test", int(recipe["test_images"]), seed=int(recipe["seed"]),
                                     size=int(recipe["size"]))
    images = (x * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    names = [Path(class_folder(label)) / f"test_{i:05d}.png" for i, label in enumerate(y.tolist())]
    for i, name in enumerate(names):
        file = split_dir / name
        if not file.is_file():
            raise ConfigError(f"{file} is missing: the test split was not written by this generator")
        if not np.array_equal(np.asarray(Image.open(file).convert("RGB")), images[i]):
            raise ConfigError(f"{file} differs from the image the generator draws for it (seed {recipe['seed']}): "
                              "refusing to write masks that would not match")
    root = masks_folder(split_dir)
    for i, name in enumerate(names):
        (root / name.parent).mkdir(parents=True, exist_ok=True)
        Image.fromarray(mask_to_uint8(m[i])).save(root / name, optimize=True)
    write_outlines(split_dir)
    return root, len(names)


def write_outlines(split_dir: str | Path) -> tuple[Path, int]:
    """For every mask PNG under ``<split>_masks/``, write its outline band (coverage >= 0.5 binarised, then
    :func:`outline_band` at the mask's own size) as a 0 / 255 PNG at the same sub-path of ``<split>_outlines/``.
    Returns ``(outlines folder, number written)``."""
    masks, out = masks_folder(split_dir), outlines_folder(split_dir)
    files = sorted(masks.rglob("*.png"))
    for file in files:
        coverage = np.asarray(Image.open(file).convert("L"), dtype=np.float32) / 255.0
        band = outline_band(torch.from_numpy(coverage >= MASK_THRESHOLD)[None])[0].numpy()
        target = out / file.relative_to(masks)
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray((band * 255).astype(np.uint8)).save(target, optimize=True)
    return out, len(files)
