"""Lenses: "what does classifier i use in this image?", each answered its own way, one folder per lens
(``s2s``, ``channels``, ``gradient``, ``inversion``), one protocol (:mod:`s2s_core.lenses.base`) and one
registry (:mod:`s2s_core.lenses.registry`). Shared pieces: :mod:`~s2s_core.lenses.scores` (a heatmap against a
mask), :mod:`~s2s_core.lenses.tiles` (display-ready images), :mod:`~s2s_core.lenses.predictions` (top-k)."""
