"""Networks: the SegNet autoencoder (Sec. 3.1), the classifier registry (Sec. 3.3) and checkpoint import.

Only the SegNet types are re-exported here; import ``s2s_core.models.classifiers`` and
``s2s_core.models.authors`` explicitly (they are heavier and import this package).
"""

from s2s_core.models.segnet import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    VGG16_DEPTHS,
    VGG16_WIDTHS,
    Code,
    SegNet,
    SegNetDecoder,
    SegNetEncoder,
)

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "VGG16_DEPTHS",
    "VGG16_WIDTHS",
    "Code",
    "SegNet",
    "SegNetDecoder",
    "SegNetEncoder",
]
