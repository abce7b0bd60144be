"""Data: the one image loader, labelled folders, endless shardable image streams and the Sec. 3.2
augmentations. Every image leaves this package as a float tensor ``(3, H, W)`` in [0, 1]."""

from s2s_core.data.augment import Augment, AugmentConfig
from s2s_core.data.datasets import (
    FlatFolderStream,
    ImageFolderDataset,
    LabelledImageFolder,
    TarShardStream,
    collate_skip_none,
)
from s2s_core.data.images import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_PIXELS,
    IMAGE_EXTENSIONS,
    image_to_tensor,
    is_image_name,
    load_image,
    load_image_tensor,
    random_resized_crop,
    resize_center_crop,
    tensor_to_image,
    tensor_to_uint8,
    to_rgb,
)

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_PIXELS",
    "IMAGE_EXTENSIONS",
    "Augment",
    "AugmentConfig",
    "FlatFolderStream",
    "ImageFolderDataset",
    "LabelledImageFolder",
    "TarShardStream",
    "collate_skip_none",
    "image_to_tensor",
    "is_image_name",
    "load_image",
    "load_image_tensor",
    "random_resized_crop",
    "resize_center_crop",
    "tensor_to_image",
    "tensor_to_uint8",
    "to_rgb",
]
