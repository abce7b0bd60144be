"""A zoo's labelled test images for browsing: where they are, a per-class gallery, and the class names.

The data of a zoo is an ImageFolder tree (``<split>/<class>/<image>``); see :mod:`s2s_core.data.datasets`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from s2s_core.data.images import IMAGE_EXTENSIONS

#: Sub-folders of a zoo's data directory that hold its labelled test images, in order of preference.
TEST_SPLITS = ("test", "val", "validation")


def find_test_split(data_dir: str | Path) -> Path | None:
    """The folder of a zoo's labelled test images: ``data/test`` (or ``val``), else ``data`` itself when it
    holds class sub-folders; ``None`` when there is none."""
    data_dir = Path(data_dir)
    for split in TEST_SPLITS:
        if (data_dir / split).is_dir():
            return data_dir / split
    if data_dir.is_dir() and any(p.is_dir() and not p.name.startswith(".") for p in data_dir.iterdir()):
        return data_dir
    return None


@dataclass(frozen=True)
class GalleryItem:
    """One labelled test image: its path, class (folder) name and where it sits inside its class folder
    (``name``: the file name, or a relative path where the class folder has sub-folders)."""

    path: Path
    label: str
    name: str = ""

    @property
    def title(self) -> str:
        """A stable id, unique within a split: ``class / file``. File names repeat across class folders
        (``img_000.png`` in every class of most data sets), so the file name alone is never an id."""
        return f"{self.label} / {self.name or self.path.name}"


def gallery(root: str | Path | None, per_class: int = 4, limit: int = 48) -> list[GalleryItem]:
    """Up to ``per_class`` images of every class folder of an ImageFolder tree (sorted), ``limit`` in all,
    interleaved by class so that a short gallery still shows every class."""
    if root is None or not Path(root).is_dir():
        return []
    by_class: list[list[GalleryItem]] = []
    for folder in sorted(p for p in Path(root).iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
        by_class.append([GalleryItem(p, folder.name, p.relative_to(folder).as_posix()) for p in files[:per_class]])
    items = [group[r] for r in range(per_class) for group in by_class if r < len(group)]
    return items[:limit]


def count_images(root: str | Path) -> int:
    """Number of image files (by extension) anywhere below ``root``."""
    return sum(1 for p in Path(root).rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())


def class_names(zoo) -> list[str]:
    """Class names in label order: those the zoo's classifiers (or ``zoo.json``) record, else ``"class 0"``,
    ``"class 1"``, ... (never guessed from folder order, which need not be the classifiers' label order)."""
    if zoo.classes:
        return list(zoo.classes)
    return [f"class {i}" for i in range(zoo.num_classes)]
