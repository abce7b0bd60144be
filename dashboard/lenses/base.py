"""What every lens section of the Lenses page receives: the chosen image and classifiers (:class:`PageContext`).

The page makes the context once (image picker, classifier picker, the test image's ground-truth mask if the
data has one) and draws every lens of :mod:`s2s_core.lenses.registry` in turn (:mod:`dashboard.lenses`).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st
import torch

from dashboard import state
from dashboard.state import ZooRef
from s2s_core.data.gallery import class_names
from s2s_core.data.masks import load_mask, masks_folder
from s2s_core.errors import S2SError
from s2s_core.imaging import prepare_image
from s2s_core.lenses.scores import MASK_THRESHOLD


@dataclass(frozen=True)
class PageContext:
    """The image and classifiers chosen on the Lenses page (what each lens section draws).

    Attributes:
        ref: the selected zoo (``state.load_zoo(ref)`` gives the shared, read-only models).
        source: the image as the user gave it: a test image's path, or uploaded bytes.
        source_key: a cache key of ``source`` (``state.source_key``).
        x01: ``(1, 3, S, S)`` the image in [0, 1] at the zoo's input size.
        label: what the image is (``"test image (circle)"``, ``"your image"``).
        file_stem: a stem for download file names.
        names: the classifiers (zoo short names) chosen on the page, in zoo order.
        classes: class names in label order.
        mask: ``(S, S)`` bool, the test image's ground-truth mask (``<split>_masks/``), or None (uploads, data
            without masks); lenses score their heatmaps against it.
        outline: whether the user wants the mask's outline drawn on the images (:attr:`drawn_mask`).
    """

    ref: ZooRef
    source: bytes | str
    source_key: str
    x01: torch.Tensor
    label: str
    file_stem: str
    names: list[str]
    classes: list[str]
    mask: np.ndarray | None = None
    outline: bool = True

    @property
    def drawn_mask(self) -> np.ndarray | None:
        """The mask whose outline lenses draw on their images: ``mask`` unless the user turned the outline off."""
        return self.mask if self.outline else None


@st.cache_data(show_spinner=False, max_entries=256)
def _mask(path: str, mtime: float, size: int) -> np.ndarray | None:
    try:
        return load_mask(path, size)[0].numpy() >= MASK_THRESHOLD
    except S2SError:
        return None


def mask_for(ref: ZooRef, image: str | Path) -> np.ndarray | None:
    """The ground-truth mask ``(S, S)`` bool of a test image (``<split>_masks/`` beside its split,
    :mod:`s2s_core.data.masks`), or None when the data has none."""
    split = ref.info.test_dir
    if split is None:
        return None
    try:
        path = (masks_folder(split) / Path(image).relative_to(split)).with_suffix(".png")
    except ValueError:
        return None
    return _mask(str(path), path.stat().st_mtime, ref.info.input_size) if path.is_file() else None


def make_context(ref: ZooRef, source: bytes | str, names: list[str], *, label: str, file_stem: str,
                 upload_name: str | None = None) -> PageContext:
    """The context for ``source`` (a test image's path or uploaded bytes) at the zoo's input size. Raises
    :class:`~s2s_core.errors.ImageLoadError` for anything that is not a usable image (the page shows it)."""
    zoo = state.load_zoo(ref)
    data = source
    if upload_name and isinstance(source, bytes | bytearray):
        data = io.BytesIO(source)
        data.name = upload_name
    x01 = prepare_image(data, zoo.input_size)
    mask = mask_for(ref, source) if isinstance(source, str) else None
    return PageContext(ref=ref, source=source, source_key=state.source_key(source), x01=x01, label=label,
                       file_stem=file_stem, names=list(names), classes=class_names(zoo), mask=mask)
