"""The lens panels of the Lenses page, registered in one place (DESIGN.md "Lenses").

A lens panel is ``draw(ref, choice)``: one lens on one image (:class:`dashboard.lens_image.ImageChoice`). The
page draws every registered panel in order; adding a lens to the page is its panel module plus one
:func:`register` call at the bottom of this file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import streamlit as st

from dashboard import channels_panel, state
from dashboard.lens_image import ImageChoice


@dataclass(frozen=True)
class LensPanel:
    key: str
    title: str
    draw: Callable[[state.ZooRef, ImageChoice], None]


PANELS: dict[str, LensPanel] = {}


def register(key: str, title: str, draw: Callable[[state.ZooRef, ImageChoice], None]) -> None:
    """Add a lens panel to the Lenses page (drawn in registration order)."""
    PANELS[key] = LensPanel(key, title, draw)


def draw_all(ref: state.ZooRef, choice: ImageChoice) -> None:
    """Every registered lens panel on ``choice``, each under its title."""
    for panel in PANELS.values():
        st.header(panel.title)
        panel.draw(ref, choice)


register("channels", "Relevant channels (Oramas et al.), beside S2S", channels_panel.draw)
