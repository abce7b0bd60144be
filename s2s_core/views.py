"""The names of the views of one image, in one place (Sec. 3.3: the input and its reconstructions).

``"original"`` is the input x, ``"A_S"`` its reconstruction by the pre-trained AE, ``"A_<name>"`` by the AE whose
decoder was fine-tuned through classifier ``name``. Every module that names a view imports it from here.
"""

from __future__ import annotations

from collections.abc import Iterable

ORIGINAL = "original"
#: Prefix of an AE's view name; ``A_S`` is the pre-trained AE, so no classifier may be called ``S``.
AE_PREFIX = "A_"
BASE_NAME = "S"
BASE_KEY = AE_PREFIX + BASE_NAME


def ae_key(name: str) -> str:
    """View name of the AE fine-tuned on classifier ``name``: ``"L"`` -> ``"A_L"``."""
    return f"{AE_PREFIX}{name}"


def ae_name(view: str) -> str:
    """The classifier (or ``"S"``) of an AE's view name: ``"A_L"`` -> ``"L"``; a bare name is returned as is."""
    return view.removeprefix(AE_PREFIX)


def view_names(names: Iterable[str]) -> list[str]:
    """``["original", "A_S", "A_<name>", ...]`` for the classifiers ``names`` (in their order)."""
    return [ORIGINAL, BASE_KEY, *(ae_key(n) for n in names)]
