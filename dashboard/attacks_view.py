"""What the Attacks page computes, cached (issue 28): one image attacked against one classifier
(:func:`s2s_core.attacks.single.attack_image`), keyed on the zoo, the image and the settings."""

from __future__ import annotations

import io
from pathlib import Path

import streamlit as st

from dashboard import state
from s2s_core.attacks.single import AttackedImage, attack_image
from s2s_core.data.gallery import class_names
from s2s_core.imaging import prepare_image


@st.cache_resource(show_spinner="Crafting the attack…", max_entries=32)
def _attacked(zoo_path: str, stamp: float, key: str, classifier: str, attack: str, eps: float, threat: str,
              _zoo, _source) -> AttackedImage:
    x = prepare_image(_source, _zoo.input_size)
    return attack_image(_zoo, x, classifier, attack, eps, threat, classes=class_names(_zoo))


def attacked(ref: state.ZooRef, source: bytes | str | Path, classifier: str, attack: str, eps: float, threat: str,
             name: str | None = None) -> AttackedImage:
    """``source`` (a test image's path or uploaded bytes named ``name``) attacked (cached); a bad image raises
    :class:`~s2s_core.errors.ImageLoadError` (the page shows it)."""
    zoo = state.load_zoo(ref)
    data = source
    if name and isinstance(source, bytes | bytearray):
        data = io.BytesIO(source)
        data.name = name
    return _attacked(ref.path, ref.stamp, state.source_key(source), classifier, attack, float(eps), threat, zoo, data)
