"""What every lens of the Lenses page receives and how it is listed.

A lens is a :class:`Lens`: a key (widget keys and URL parameters start with it), a title, one sentence on what
it shows, and ``render(ctx)``, which draws the lens for the image and classifiers in ``ctx``. The page makes the
context once (image picker, classifier picker) and calls every lens of :data:`dashboard.lenses.LENSES` in turn.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import torch

from dashboard import state
from dashboard.state import ZooRef
from s2s_core.data.gallery import class_names
from s2s_core.imaging import prepare_image


@dataclass(frozen=True)
class LensContext:
    """The image and classifiers chosen on the Lenses page.

    Attributes:
        ref: the selected zoo (``state.load_zoo(ref)`` gives the shared, read-only models).
        source: the image as the user gave it: a test image's path, or uploaded bytes.
        source_key: a cache key of ``source`` (``state.source_key``).
        x01: ``(1, 3, S, S)`` the image in [0, 1] at the zoo's input size.
        label: what the image is (``"test image (circle)"``, ``"your image"``).
        file_stem: a stem for download file names.
        names: the classifiers (zoo short names) chosen on the page, in zoo order.
        classes: class names in label order.
    """

    ref: ZooRef
    source: bytes | str
    source_key: str
    x01: torch.Tensor
    label: str
    file_stem: str
    names: list[str]
    classes: list[str]


@dataclass(frozen=True)
class Lens:
    """One lens of the page: ``render(ctx)`` draws it (its own widgets keyed with ``key``)."""

    key: str
    title: str
    summary: str
    render: Callable[[LensContext], None]


def make_context(ref: ZooRef, source: bytes | str, names: list[str], *, label: str, file_stem: str,
                 upload_name: str | None = None) -> LensContext:
    """The context for ``source`` (a test image's path or uploaded bytes) at the zoo's input size. Raises
    :class:`~s2s_core.errors.ImageLoadError` for anything that is not a usable image (the page shows it)."""
    zoo = state.load_zoo(ref)
    data = source
    if upload_name and isinstance(source, bytes | bytearray):
        data = io.BytesIO(source)
        data.name = upload_name
    x01 = prepare_image(data, zoo.input_size)
    return LensContext(ref=ref, source=source, source_key=state.source_key(source), x01=x01, label=label,
                       file_stem=file_stem, names=list(names), classes=class_names(zoo))
