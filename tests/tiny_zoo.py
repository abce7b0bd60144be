"""A TINY zoo with random weights for dashboard and inspection tests (seconds to build on one CPU thread).

SegNet widths (8, 16, 16, 32, 32), depths (1, 1, 1, 1, 1), 64 px; three registry classifiers (``lenet5_demo``,
``alexnet_demo``, ``vgg_demo`` as L, A, V); each A_i is the base with its decoder perturbed, so the
reconstructions differ visibly; a few procedurally drawn test PNGs in ``data/test/<class>/``; and the
results of :func:`s2s_core.analysis.evaluate.evaluate_zoo` in ``results/``.

    from tiny_zoo import build_tiny_zoo      # in tests/ (pytest puts it on sys.path); or: python tests/tiny_zoo.py OUT
    zoo_dir = build_tiny_zoo(tmp_path / "tiny")
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from s2s_core import checkpoints as ck
from s2s_core.analysis.evaluate import evaluate_zoo
from s2s_core.analysis.pairs import pair_order
from s2s_core.data.datasets import LabelledImageFolder
from s2s_core.models.classifiers import Classifier
from s2s_core.models.segnet import SegNet
from s2s_core.zoo import Zoo, write_zoo_manifest

WIDTHS = (8, 16, 16, 32, 32)
DEPTHS = (1, 1, 1, 1, 1)
SIZE = 64
CLASSIFIERS = {"L": "lenet5_demo", "A": "alexnet_demo", "V": "vgg_demo"}
CLASSES = ["circle", "square", "stripes", "disc", "ring", "cross", "triangle", "dots", "checker", "blob"]
TEST_CLASSES = ("circle", "square", "stripes")


def draw(label: str, rng: np.random.Generator, size: int = SIZE) -> np.ndarray:
    """A ``(size, size, 3)`` uint8 picture of ``label`` on a random background colour."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    img = np.empty((size, size, 3), dtype=np.float64)
    img[:] = rng.uniform(0.1, 0.5, size=3)
    fg = rng.uniform(0.5, 1.0, size=3)
    cx, cy = rng.uniform(0.35, 0.65, size=2)
    if label == "circle":
        mask = (xx - cx) ** 2 + (yy - cy) ** 2 < rng.uniform(0.04, 0.08)
    elif label == "square":
        half = rng.uniform(0.15, 0.3)
        mask = (abs(xx - cx) < half) & (abs(yy - cy) < half)
    else:
        mask = np.sin(xx * rng.uniform(12, 30)) > 0
    img[mask] = fg
    img += rng.normal(0, 0.03, size=img.shape)
    return np.clip(img * 255, 0, 255).astype(np.uint8)


def _perturbed(base: SegNet, k: int) -> SegNet:
    """A copy of ``base`` whose decoder weights are shifted: a stand-in for a fine-tuned decoder A_i."""
    ae = copy.deepcopy(base)
    gen = torch.Generator().manual_seed(100 + k)
    with torch.no_grad():
        for p in ae.decoder.parameters():
            p.add_(0.15 * torch.randn(p.shape, generator=gen) * (p.std() if p.numel() > 1 else 1.0))
    return ae.eval()



def add_masks_and_channel_weights(zoo: Path, box) -> Path:
    """Give the tiny zoo's test split a mask per image (``box(k)`` -> (rows, cols) slices of image k's 64 px
    mask, in sorted path order) and relevant-channel weights W for its first classifier (fitted on 12 noise
    images); returns ``zoo``."""
    from s2s_core.data.masks import masks_folder
    from s2s_core.lenses.channels.lens import fit_channel_weights
    from s2s_core.lenses.channels.store import save_channel_weights

    test = Path(zoo) / "data" / "test"
    for k, image in enumerate(sorted(test.rglob("*.png"))):
        mask = np.zeros((64, 64), np.uint8)
        mask[box(k)] = 255
        target = masks_folder(test) / image.relative_to(test)
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(mask).save(target)
    loaded = Zoo.load(zoo)
    name = next(iter(loaded.classifiers))
    x = torch.rand(12, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    save_channel_weights(zoo, fit_channel_weights(loaded.classifiers[name], name, [(x, torch.arange(12) % 3)], 10,
                                                  mu=2.0))
    return Path(zoo)

def build_tiny_zoo(path: str | Path, *, images_per_class: int = 3, evaluate: bool = True,
                   noise_grid: tuple[float, ...] = (0.0, 0.5, 1.0), classifiers: dict[str, str] | None = None,
                   widths: tuple[int, ...] = WIDTHS, depths: tuple[int, ...] = DEPTHS) -> Path:
    """Build the tiny zoo in directory ``path`` (created) and return ``path``. ``classifiers`` (short name ->
    registry name; default :data:`CLASSIFIERS`), ``widths`` and ``depths`` make bigger zoos of the same kind."""
    path = Path(path)
    classifiers = dict(classifiers or CLASSIFIERS)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    base = SegNet(widths=widths, depths=depths).eval()
    ck.save_ae(path / "base", base, {"data": "random weights (tests)"})
    for k, (short, arch) in enumerate(classifiers.items()):
        ck.save_classifier(path / "classifiers" / short, Classifier.from_name(arch).eval(), {"seed": k},
                          classes=CLASSES)
        ck.save_finetuned(path / "aes" / short, _perturbed(base, k), path / "base", short)
    for label in TEST_CLASSES:
        folder = path / "data" / "test" / label
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(images_per_class):
            Image.fromarray(draw(label, rng)).save(folder / f"{label}_{i}.png")
    write_zoo_manifest(
        path, name="tiny", input_size=SIZE, num_classes=len(CLASSES), seed=0, base="base",
        classifiers={s: f"classifiers/{s}" for s in classifiers}, aes={s: f"aes/{s}" for s in classifiers},
        data={"dir": "data", "test": "data/test", "source": "procedural shapes (tests)"},
        recipe={"note": "random weights; for tests only"}, classes=CLASSES)
    if evaluate:
        zoo = Zoo.load(path)
        dataset = LabelledImageFolder(path / "data" / "test", size=SIZE,
                                      class_to_idx={c: i for i, c in enumerate(CLASSES)})
        order = pair_order(dataset.targets)  # random pairs of different classes side by side, as s2s evaluate
        batches = [(torch.stack([dataset[i][0] for i in order]), torch.tensor([dataset.targets[i] for i in order]))]
        evaluate_zoo(zoo, batches, options={"noise_grid": noise_grid}).write(zoo.results_dir)
    return path


if __name__ == "__main__":
    print(build_tiny_zoo(sys.argv[1] if len(sys.argv) > 1 else "tiny_zoo"))
