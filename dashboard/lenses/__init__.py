"""The Lenses page's sections: one per lens of :mod:`s2s_core.lenses.registry`, in its order.

A lens is drawn by :mod:`dashboard.lenses.generic` from its display-ready view, unless it has a section of its
own here (:data:`SECTIONS`: lens key -> ``render(ctx, lens)``) for controls of its own: the relevant channels'
k and table, feature inversion's layer picker and depth sweep. A new lens therefore needs nothing here.
"""

from __future__ import annotations

from collections.abc import Callable

from dashboard.lenses import channels, generic, inversion
from dashboard.lenses.base import PageContext, make_context, mask_for
from s2s_core.lenses.base import Lens
from s2s_core.lenses.registry import LENSES

#: The page's two tabs: the chosen image through every lens, and every lens checked across the test set
#: (:mod:`dashboard.lenses.checks`). Only the open tab runs.
TABS = ("This image", "Across the test set")

SECTIONS: dict[str, Callable[[PageContext, Lens], None]] = {"channels": channels.render, "inversion": inversion.render}


def render(ctx: PageContext, lens: Lens) -> None:
    """Draw ``lens`` with its own section, or the generic one."""
    SECTIONS.get(lens.key, generic.render)(ctx, lens)


__all__ = ["LENSES", "SECTIONS", "TABS", "PageContext", "make_context", "mask_for", "render"]
