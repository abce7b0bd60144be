"""s2s: which part of its input does an image classifier use?

Implements Palacio et al., *What do Deep Networks Like to See?* (CVPR 2018): a SegNet autoencoder
pre-trained on many images (A_S), its decoder fine-tuned through each frozen classifier i (A_i), and the
analyses of Sec. 3.3-3.5 (accuracy tables, cross accuracy, RRC, formal-concept lattices, nMI, noise
curves, L*a*b* histograms). This package never imports streamlit; the dashboard lives in ``app.py``
and ``pages/``.

The main entry points are importable from here (loaded on first use, so ``import s2s_core`` stays light)::

    from s2s_core import Zoo, load_image_tensor, inspect_image
    zoo = Zoo.load("checkpoints/demo")                        # A_S, every A_i and every classifier
    x = load_image_tensor("photo.jpg", zoo.input_size)        # (3, S, S) in [0, 1]
    views = zoo.reconstruct_all(x[None])                      # {"A_S": (1, 3, S, S), "A_L": ..., ...}
    seen = inspect_image(zoo, x[None])                        # predictions of every classifier on every view
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: public name -> module that defines it
_EXPORTS = {
    "Zoo": "s2s_core.zoo",
    "ZooInfo": "s2s_core.zoo",
    "load_image": "s2s_core.data.images",
    "load_image_tensor": "s2s_core.data.images",
    "inspect_image": "s2s_core.inspection",
    "Inspection": "s2s_core.inspection",
    "Classifier": "s2s_core.models.classifiers",
    "ClassNames": "s2s_core.data.class_names",
    "SegNet": "s2s_core.models.segnet",
    "load_autoencoder": "s2s_core.checkpoints",
    "load_classifier": "s2s_core.checkpoints",
    "save_classifier": "s2s_core.checkpoints",
    "evaluate_zoo": "s2s_core.analysis.evaluate",
    "run_evaluation": "s2s_core.analysis.evaluate",
    "read_cross_table": "s2s_core.analysis.crosstable",
    "S2SError": "s2s_core.errors",
}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 's2s_core' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
