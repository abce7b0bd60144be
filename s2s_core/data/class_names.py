"""Class names that travel with a classifier's weights, and the mapping of data folders to its labels.

A classifier's logit ``k`` means one class; which one is fixed when the classifier is trained, not when data
is read. Reading an ImageFolder in alphabetical order and hoping it matches gives silently wrong targets
(fine-tuning, Sec. 3.3) and wrong accuracies (Tables 1-2). So every classifier records its classes in label
order (:class:`ClassNames`), and every dataset reader maps folder names to labels by name
(:meth:`ClassNames.label_map`), refusing a folder the classifier does not know.

A class may carry an id beside its name: for torchvision's ImageNet weights the name comes from
``weights.meta["categories"]`` and the id is the WordNet id (``n01440764``), which is what the folders of an
ImageNet ImageFolder are called. A folder matches a class by id first, then by name.

Unit manifests store ``"classes": [names]`` and, where known, ``"class_ids": [ids]`` (:func:`class_meta`);
``s2s_core.checkpoints.save_classifier`` refuses to write a classifier unit without them. This module is a
leaf: it imports nothing from s2s but the errors.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from s2s_core.errors import ConfigError

_WNIDS_FILE = Path(__file__).with_name("imagenet_wnids.json")


@dataclass(frozen=True)
class ClassNames:
    """Class names in label order (index k = logit k), optionally with one id per class (WordNet ids)."""

    names: tuple[str, ...]
    ids: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        names = tuple(str(n) for n in self.names)
        object.__setattr__(self, "names", names)
        if not names or any(not n for n in names):
            raise ConfigError("class names must be a non-empty list of non-empty strings")
        dup = _first_duplicate(names)
        if dup is not None:
            raise ConfigError(f"class name {dup!r} appears twice; every class needs its own name")
        if self.ids is not None:
            ids = tuple(str(i) for i in self.ids)
            object.__setattr__(self, "ids", ids)
            if len(ids) != len(names):
                raise ConfigError(f"{len(ids)} class ids for {len(names)} class names")
            dup = _first_duplicate(ids)
            if dup is not None:
                raise ConfigError(f"class id {dup!r} appears twice")

    @classmethod
    def of(cls, value: ClassNames | Sequence[str]) -> ClassNames:
        """``value`` itself, or a plain list of names."""
        return value if isinstance(value, ClassNames) else cls(tuple(value))

    @classmethod
    def from_meta(cls, meta: Mapping) -> ClassNames | None:
        """The classes recorded in a unit manifest or ``zoo.json`` (``classes`` + optional ``class_ids``)."""
        names = meta.get("classes")
        if not names:
            return None
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ConfigError("'classes' must be a list of class names")
        ids = meta.get("class_ids")
        return cls(tuple(names), tuple(ids) if ids else None)

    def to_meta(self) -> dict:
        """``{"classes": [...], "class_ids": [...]}`` for a manifest (``class_ids`` only when known)."""
        return {"classes": list(self.names), **({"class_ids": list(self.ids)} if self.ids else {})}

    def __len__(self) -> int:
        return len(self.names)

    def index(self, folder: str) -> int | None:
        """The label of a data folder called ``folder``: its id, else its name; None if unknown."""
        if self.ids is not None and folder in self._id_index:
            return self._id_index[folder]
        return self._name_index.get(folder)

    @functools.cached_property
    def _name_index(self) -> dict[str, int]:
        return {n: k for k, n in enumerate(self.names)}

    @functools.cached_property
    def _id_index(self) -> dict[str, int]:
        return {n: k for k, n in enumerate(self.ids or ())}

    def label_map(self, folders: Iterable[str], where: str) -> dict[str, int]:
        """``{folder: label}`` for the class folders of a data set; ConfigError naming the first unknown folder.

        ``where`` says whose classes these are (e.g. ``"classifier V"``), for the message.
        """
        out: dict[str, int] = {}
        for folder in sorted(folders):
            k = self.index(folder)
            if k is None:
                raise ConfigError(f"data class {folder!r} is not a class of {where} ({self.describe()}); "
                                  "rename the folder to one of its class names, or remove it")
            out[folder] = k
        return out

    def describe(self, n: int = 4) -> str:
        shown = ", ".join(self.names[:n]) + (", ..." if len(self.names) > n else "")
        return f"{len(self.names)} classes: {shown}"

    def first_difference(self, other: ClassNames) -> str | None:
        """None when both list the same names in the same order, else a phrase naming the first difference."""
        for k, (a, b) in enumerate(zip(self.names, other.names, strict=False)):
            if a != b:
                return f"label {k} is {a!r} in one and {b!r} in the other"
        if len(self.names) != len(other.names):
            return f"one has {len(self.names)} classes, the other {len(other.names)}"
        return None


def _first_duplicate(values: Sequence[str]) -> str | None:
    seen: set[str] = set()
    for v in values:
        if v in seen:
            return v
        seen.add(v)
    return None


def class_meta(classes: ClassNames | Sequence[str], num_classes: int, where: str) -> dict:
    """The manifest fields recording ``classes`` for a classifier with ``num_classes`` outputs.

    Every classifier unit records these (``save_classifier`` calls this; so should any new command that
    writes classifier units). ConfigError if the count does not match.
    """
    names = ClassNames.of(classes)
    if len(names) != int(num_classes):
        raise ConfigError(f"{where}: {len(names)} class names for a classifier with {num_classes} outputs")
    return names.to_meta()


@functools.cache
def imagenet_wnids() -> tuple[str, ...]:
    """The 1000 ILSVRC2012 WordNet ids in torchvision's ImageNet label order (see ``imagenet_wnids.json``)."""
    return tuple(json.loads(_WNIDS_FILE.read_text(encoding="utf-8"))["wnids"])


def from_categories(categories: Sequence[str]) -> ClassNames:
    """Class names of torchvision weights from ``weights.meta["categories"]``; ImageNet-1k ones get WordNet ids."""
    ids = imagenet_wnids() if len(categories) == len(imagenet_wnids()) else None
    return ClassNames(tuple(categories), ids)
