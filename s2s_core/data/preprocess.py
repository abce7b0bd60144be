"""Evaluation preprocessing: one loaded image -> the centre crop a model expects (Sec. 3.3, Table 1).

Table 1 of the paper reports "center-crop, single-scale accuracies". Each torchvision classifier has its own
such protocol, carried by its weights (``weights.transforms()``, torchvision's ``ImageClassification``
preset): resize the shorter side to ``resize_size`` (256 for AlexNet, VGG16-BN and ResNet-50 V1, 232 for
ResNet-50 V2, 342 for Inception v3), centre-crop ``crop_size`` (224; 299 for Inception v3), bilinear with
antialiasing. :class:`Preprocessing` is that protocol as a record; calling it on a PIL image gives exactly
the tensor of ``weights.transforms()`` before normalisation (the :class:`~s2s_core.models.classifiers.Classifier`
normalises), by the same torchvision functions in the same order.

The AE of a zoo has its own protocol (zoo.json ``"preprocessing"``; by default the shorter side resized to
the zoo's input size and centre-cropped, bicubic). During an evaluation every image is loaded once and both
the AE input and each classifier's native input are cut from it (:mod:`s2s_core.analysis.evaluate`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torchvision.transforms.functional as TF
from PIL import Image
from torchvision.transforms import InterpolationMode

from s2s_core.errors import ConfigError

INTERPOLATIONS = ("nearest", "bilinear", "bicubic")


@dataclass(frozen=True)
class Preprocessing:
    """Resize the shorter side to ``resize_size`` (``None``: to ``crop_size``), then centre-crop
    ``crop_size × crop_size``; ``interpolation`` in :data:`INTERPOLATIONS`, antialiased when ``antialias``."""

    crop_size: int
    resize_size: int | None = None
    interpolation: str = "bilinear"
    antialias: bool = True

    def __post_init__(self) -> None:
        if int(self.crop_size) < 1 or (self.resize_size is not None and int(self.resize_size) < self.crop_size):
            raise ConfigError(f"preprocessing needs crop_size >= 1 and resize_size >= crop_size, got "
                              f"crop {self.crop_size}, resize {self.resize_size}")
        if self.interpolation not in INTERPOLATIONS:
            raise ConfigError(f"interpolation must be one of {', '.join(INTERPOLATIONS)}, got {self.interpolation!r}")

    @property
    def resize(self) -> int:
        """The shorter side after resizing."""
        return int(self.resize_size or self.crop_size)

    def __call__(self, image: Image.Image) -> torch.Tensor:
        """An RGB PIL image -> float32 ``(3, crop, crop)`` in [0, 1] (torchvision's ``ImageClassification``
        steps: resize, centre crop, to tensor, to float; normalisation is left to the classifier)."""
        mode = InterpolationMode(self.interpolation)
        image = TF.resize(image, [self.resize], interpolation=mode, antialias=self.antialias)
        image = TF.center_crop(image, [int(self.crop_size)])
        return TF.convert_image_dtype(TF.pil_to_tensor(image), torch.float)

    def describe(self) -> str:
        """E.g. ``"resize 256, centre crop 224, bilinear"``."""
        return f"resize {self.resize}, centre crop {self.crop_size}, {self.interpolation}"

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict, crop_size: int) -> Preprocessing:
        """From a zoo.json ``"preprocessing"`` mapping (``resize_size``, ``interpolation``, ``antialias``; the
        crop is the zoo's input size); unknown keys -> ConfigError."""
        unknown = sorted(set(raw) - {"resize_size", "interpolation", "antialias", "crop_size"})
        if unknown:
            raise ConfigError(f"unknown preprocessing key(s) {', '.join(unknown)}: use resize_size, interpolation, "
                              "antialias")
        if "crop_size" in raw and int(raw["crop_size"]) != int(crop_size):
            raise ConfigError(f"preprocessing crop_size {raw['crop_size']} differs from the input size {crop_size}")
        resize = raw.get("resize_size")
        return cls(crop_size=int(crop_size), resize_size=None if resize is None else int(resize),
                   interpolation=str(raw.get("interpolation", "bicubic")), antialias=bool(raw.get("antialias", True)))


def zoo_preprocessing(input_size: int, raw: dict | None = None) -> Preprocessing:
    """The AE's protocol of a zoo: zoo.json's ``"preprocessing"`` or, by default, the shorter side resized to the
    input size, centre crop, bicubic (what ``s2s`` has always used for the AE)."""
    return Preprocessing.from_dict(dict(raw or {}), int(input_size))
