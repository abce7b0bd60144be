"""The labelled images of ``s2s evaluate``: each file loaded once, the AE's input and every classifier's own
centre crop cut from the same decoded image (Sec. 3.3, Table 1: "center-crop, single-scale").

:class:`EvaluationImages` lists ``root/<class>/<image>`` like :class:`~s2s_core.data.datasets.LabelledImageFolder`
(same files, same indices) and returns one dict per image::

    {"x": (3, S, S) AE input in [0, 1], "y": label, "id": data index,
     "natives": {protocol key: (3, s, s) in [0, 1]},   # one crop per distinct native protocol
     "mask": (1, S, S) in [0, 1]}                       # only with a masks folder (s2s_core.data.masks)

``natives`` holds only the protocols that differ from the AE's (:func:`native_protocols`), so a zoo whose
classifiers share the AE's protocol loads nothing twice. An unreadable file gives ``None`` (dropped by
:func:`~s2s_core.data.datasets.collate_skip_none`) and is counted in ``.skipped``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import Dataset

from s2s_core.data.class_names import ClassNames
from s2s_core.data.datasets import LabelledImageFolder
from s2s_core.data.images import DEFAULT_MAX_PIXELS, load_image
from s2s_core.data.preprocess import Preprocessing
from s2s_core.errors import ConfigError, ImageLoadError

log = logging.getLogger(__name__)


def protocol_key(p: Preprocessing) -> str:
    """A short stable key of a protocol: ``"256-224-bilinear"``."""
    return f"{p.resize}-{p.crop_size}-{p.interpolation}{'' if p.antialias else '-noaa'}"


def native_protocols(ae: Preprocessing, classifiers: Mapping[str, Preprocessing | None]) -> dict[str, str]:
    """Classifier name -> protocol key, for the classifiers whose native protocol differs from the AE's."""
    return {name: protocol_key(p) for name, p in classifiers.items() if p is not None and p != ae}


class EvaluationImages(Dataset):
    """Labelled images with the AE's input and each distinct native crop per item (see the module doc). Labels as
    in :class:`~s2s_core.data.datasets.LabelledImageFolder` (``classes``: folders matched to class names)."""

    def __init__(self, root: str | Path, ae: Preprocessing, natives: Mapping[str, Preprocessing] | None = None, *,
                 class_to_idx: dict[str, int] | None = None, classes: ClassNames | None = None,
                 where: str = "the classifier", masks: str | Path | None = None,
                 max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
        folder = LabelledImageFolder(root, ae.crop_size, class_to_idx=class_to_idx, classes=classes, where=where)
        self.root, self.samples, self.targets = folder.root, folder.samples, folder.targets
        self.classes, self.class_to_idx = folder.classes, folder.class_to_idx
        self.ae = ae
        self.natives = {protocol_key(p): p for p in (natives or {}).values() if p != ae}
        self.max_pixels = max_pixels
        self.masks = None if masks is None else Path(masks)
        if self.masks is not None and not self.masks.is_dir():
            raise ConfigError(f"no masks folder {self.masks} beside {self.root}")
        self._bad: set[int] = set()

    @property
    def skipped(self) -> int:
        """Number of distinct unreadable files met so far (in this process)."""
        return len(self._bad)

    def relative_names(self) -> tuple[str, ...]:
        """The file of every index, relative to the root (``"cat/0001.jpg"``)."""
        return tuple(str(Path(path).relative_to(self.root)) for path, _ in self.samples)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict | None:
        path, label = self.samples[index]
        try:
            image = load_image(path, max_pixels=self.max_pixels)
        except ImageLoadError as exc:
            self._bad.add(index)
            log.warning("skipping unreadable image %s: %s", path, exc)
            return None
        item = {"x": self.ae(image), "y": label, "id": index,
                "natives": {key: p(image) for key, p in self.natives.items()}}
        if self.masks is not None:
            item["mask"] = self._mask(index, path)
        return item

    def _mask(self, index: int, path: str) -> torch.Tensor:
        """The ``(1, S, S)`` coverage in [0, 1] of image ``index``, resized and cropped by the AE's own protocol so
        that its pixels lie on the AE input's (the layout of :mod:`s2s_core.data.masks`)."""
        mask = (self.masks / Path(path).relative_to(self.root)).with_suffix(".png")
        if not mask.is_file():
            raise ConfigError(f"mask {mask} is missing for {path}: write every image's mask or remove the folder "
                              f"{self.masks}")
        try:
            with Image.open(mask) as im:
                grey = im.convert("L")
        except (OSError, ValueError) as exc:
            raise ImageLoadError(f"cannot read mask {mask}: {exc}") from exc
        return self.ae(grey)
