"""Every lens, in one place: the ground-truth table, ``s2s lenses`` and the Lenses page read this registry, so a
lens registered here gets every check (DESIGN.md "Lenses").

Adding a lens is one folder and one line: write ``s2s_core/lenses/<name>/`` with a :class:`~s2s_core.lenses.
base.Lens` subclass (its heatmaps, flags, name and paper; :meth:`~s2s_core.lenses.base.Lens.view` draws its
heatmaps by default), then add ``"<module>:<Class>"`` to :data:`LENS_CLASSES`. Their order is the order of
every table and of the page.
"""

from __future__ import annotations

import importlib

from s2s_core.errors import ConfigError
from s2s_core.lenses.base import Heatmap, Lens

#: One line per lens: ``"module:Class"``.
LENS_CLASSES = (
    "s2s_core.lenses.s2s.lens:S2S",
    "s2s_core.lenses.channels.relevant:RelevantChannels",
    "s2s_core.lenses.gradient.lens:Gradient",
    "s2s_core.lenses.inversion.lens:FeatureInversion",
    "s2s_core.lenses.s2s.control:S2SControl",
    "s2s_core.lenses.baselines.lens:ModelFree",
)

LENSES: dict[str, Lens] = {}


def register(lens: Lens) -> Lens:
    """Add a lens instance (its key, and every heatmap key, must be new) -> ConfigError otherwise."""
    if not lens.key or not lens.title or not lens.heatmaps:
        raise ConfigError(f"a lens needs a key, a title and at least one heatmap: {type(lens).__name__}")
    if lens.key in LENSES and type(LENSES[lens.key]) is not type(lens):
        raise ConfigError(f"a lens {lens.key!r} is already registered")
    taken = {h.key for other in LENSES.values() if other.key != lens.key for h in other.heatmaps}
    clash = [h.key for h in lens.heatmaps if h.key in taken]
    if clash:
        raise ConfigError(f"lens {lens.key!r}: heatmap key(s) {', '.join(clash)} already belong to another lens")
    LENSES[lens.key] = lens
    return lens


def heatmap_rows() -> list[tuple[Lens, Heatmap]]:
    """Every heatmap of every lens, in registry order (the rows of the ground-truth table)."""
    return [(lens, h) for lens in LENSES.values() for h in lens.heatmaps]


def get(key: str) -> Lens:
    """The lens ``key``; an unknown key -> ConfigError naming the known ones."""
    try:
        return LENSES[key]
    except KeyError:
        raise ConfigError(f"unknown lens {key!r}; known: {', '.join(LENSES)}") from None


for _entry in LENS_CLASSES:
    _module, _, _name = _entry.partition(":")
    register(getattr(importlib.import_module(_module), _name)())
