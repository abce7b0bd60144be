"""The image every lens of the Lenses page looks at (:class:`ImageChoice`), with its ground-truth mask if any."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

from dashboard import state
from s2s_core.analysis.heatmap_scores import MASK_THRESHOLD
from s2s_core.data.gallery import find_test_split
from s2s_core.data.masks import load_mask, masks_folder
from s2s_core.errors import S2SError


@dataclass(frozen=True)
class ImageChoice:
    """A test image's path or uploaded bytes, a label for captions, a file stem for downloads, the upload's file
    name (for error messages), and the ground-truth mask ``(S, S)`` bool when the data has one."""

    source: str | bytes
    label: str
    stem: str
    upload_name: str | None = None
    mask: np.ndarray | None = None


@st.cache_data(show_spinner=False, max_entries=256)
def _mask(path: str, mtime: float, size: int) -> np.ndarray | None:
    try:
        return load_mask(path, size)[0].numpy() >= MASK_THRESHOLD
    except S2SError:
        return None


def mask_for(ref: state.ZooRef, image: Path) -> np.ndarray | None:
    """The ground-truth mask of a test image (``<split>_masks/`` beside its split, :mod:`s2s_core.data.masks`)."""
    split = find_test_split(ref.info.data_dir)
    if split is None:
        return None
    try:
        path = (masks_folder(split) / Path(image).relative_to(split)).with_suffix(".png")
    except ValueError:
        return None
    return _mask(str(path), path.stat().st_mtime, ref.info.input_size) if path.is_file() else None
