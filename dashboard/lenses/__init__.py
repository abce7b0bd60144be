"""The lenses the Lenses page shows, in order (DESIGN.md, "Lenses").

Adding a lens to the page is one module and one line: write ``dashboard/lenses/<name>.py`` with
``render(ctx: LensContext) -> None`` (heavy work cached there or in ``dashboard/state.py``, computation in
``s2s_core``), then add ``Lens("<name>", "<title>", "<one sentence>", <name>.render)`` to :data:`LENSES`.
"""

from __future__ import annotations

from dashboard.lenses import inversion
from dashboard.lenses.base import Lens, LensContext, make_context

LENSES: tuple[Lens, ...] = (
    Lens("inv", "Feature inversion", "the image that layer ℓ of classifier i cannot tell apart from x "
         "(Mahendran & Vedaldi, CVPR 2015), beside S2S's A_i(x)", inversion.render),
)

__all__ = ["LENSES", "Lens", "LensContext", "make_context"]
