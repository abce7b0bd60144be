"""Ground-truth masks beside a labelled image folder: ``<split>_masks/<class>/<image>.png`` (8-bit coverage).

The demo writes them for its test split (:func:`s2s_core.data.demo_data.write_split_to_folder`); any data set
with masks in that layout gets the same scoring. :class:`MaskedImageFolder` yields ``(x, y, mask)`` with the
mask cropped and resized exactly like its image, so pixels correspond.
"""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import Dataset

from s2s_core.data.datasets import LabelledImageFolder
from s2s_core.data.images import resize_center_crop
from s2s_core.errors import ConfigError, ImageLoadError


def masks_folder(split_dir: str | Path) -> Path:
    """Where the masks of an ImageFolder split live: beside it, ``<split>_masks`` (same sub-paths, PNG)."""
    split_dir = Path(split_dir)
    return split_dir.with_name(split_dir.name + "_masks")


def outlines_folder(split_dir: str | Path) -> Path:
    """Where the outline bands of a split's masks live: beside it, ``<split>_outlines`` (same sub-paths, PNG
    0 / 255; written by :func:`s2s_core.demo.masks.write_outlines`, for a person to look at: the ground-truth
    table draws the same band from the mask itself)."""
    split_dir = Path(split_dir)
    return split_dir.with_name(split_dir.name + "_outlines")


def has_masks(split_dir: str | Path) -> bool:
    return masks_folder(split_dir).is_dir()


def load_mask(path: str | Path, size: int) -> torch.Tensor:
    """A stored mask as ``(1, size, size)`` coverage in [0, 1] (shorter side resized, centre crop, as images)."""
    try:
        with Image.open(path) as im:
            grey = im.convert("L")
    except (OSError, ValueError) as exc:
        raise ImageLoadError(f"cannot read mask {path}: {exc}") from exc
    if grey.size != (size, size):
        grey = resize_center_crop(grey, size)
    return torch.frombuffer(bytearray(grey.tobytes()), dtype=torch.uint8).reshape(1, size, size).float() / 255.0


class MaskedImageFolder(Dataset):
    """``(x (3, S, S), y, mask (1, S, S))`` for every image of a :class:`LabelledImageFolder` (``on_error="none"``:
    an unreadable image gives ``None``); a missing mask raises ConfigError naming it."""

    def __init__(self, images: LabelledImageFolder, root: str | Path | None = None, *, size: int) -> None:
        self.images, self.size = images, size
        self.root = Path(root) if root is not None else masks_folder(images.root)
        if not self.root.is_dir():
            raise ConfigError(f"no masks folder {self.root} beside {images.root}")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def skipped(self) -> int:
        return self.images.skipped

    def mask_path(self, index: int) -> Path:
        image = Path(self.images.samples[index][0])
        return (self.root / image.relative_to(self.images.root)).with_suffix(".png")

    def __getitem__(self, index: int):
        item = self.images[index]
        if item is None:
            return None
        x, y = item
        path = self.mask_path(index)
        if not path.is_file():
            raise ConfigError(f"mask {path} is missing for {self.images.samples[index][0]}: write every image's mask "
                              f"or remove the folder {self.root}")
        return x, y, load_mask(path, self.size)
