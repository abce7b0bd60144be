"""The lenses the Lenses page shows, in order (DESIGN.md, "Lenses"): the one lens registry of the dashboard.

Adding a lens to the page is one module and one line: write ``dashboard/lenses/<name>.py`` with
``render(ctx: LensContext) -> None`` (heavy work cached there or in ``dashboard/state.py``, computation in
``s2s_core``), then add ``Lens("<name>", "<title>", "<one sentence>", <name>.render)`` to :data:`LENSES`.
A lens whose heatmap should also be scored against ground-truth masks registers it in
:mod:`s2s_core.analysis.heatmap_lenses` (the ground-truth table's registry), not here.
"""

from __future__ import annotations

from dashboard.lenses import channels, inversion
from dashboard.lenses.base import Lens, LensContext, make_context, mask_for

LENSES: tuple[Lens, ...] = (
    Lens("lens", "S2S and relevant channels",
         "what A_i(x) keeps of x and what fine-tuning changed (S2S), and the few channels whose response weighs "
         "most for i's predicted class projected back to the pixels (Oramas et al.)", channels.render),
    Lens("inv", "Feature inversion", "the image that layer ℓ of classifier i cannot tell apart from x "
         "(Mahendran & Vedaldi, CVPR 2015), beside S2S's A_i(x)", inversion.render),
)

__all__ = ["LENSES", "Lens", "LensContext", "make_context", "mask_for"]
