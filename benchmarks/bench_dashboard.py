"""Dashboard latency: the upload panel and the lattice slider (project issue 6).

Figures (milliseconds, median of repeated runs after a warm-up, in this process's torch thread setting):

* ``upload_panel_ms``: a 512×512 photo (scikit-image's astronaut, PNG bytes as uploaded) to the complete panel
  computation on the demo zoo: decode + resize/centre-crop + one encoder pass + every decoder + every classifier
  on every view + L*a*b* histograms + difference maps (:func:`s2s_core.inspection.inspect_image`), plus the
  panel's zoom crops and coloured difference maps (:func:`s2s_core.imaging.panel_images`). Target <= 500 ms.
  Uses ``checkpoints/demo`` when it exists, else a demo-sized zoo with random weights (SegNet widths
  (16, 32, 64, 128, 128), depths (2, 2, 2, 2, 2); the five demo classifiers).
* ``upload_panel_with_figure_ms``: the same plus building the L*a*b* histogram figure (the page caches it).
* ``lattice_update_ms``: server-side time from a new threshold to new DOT text on the paper's Table 2, as the
  Signal order page does it (``lattice_dot(lattice_at(...))``, RRC computed once). Target <= 50 ms.
* ``lattice_page_rerun_ms``: a whole rerun of the Signal order page under Streamlit's AppTest after moving
  the threshold slider (every figure and table rebuilt; informational).

    python benchmarks/run.py --only dashboard      or      python benchmarks/bench_dashboard.py
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from timing import median_seconds

ROOT = Path(__file__).resolve().parents[1]
DEMO_ZOO = ROOT / "checkpoints" / "demo"
DEMO_NETS = {"L": "lenet5_demo", "A": "alexnet_demo", "V": "vgg_demo", "R": "resnet_demo", "I": "inception_demo"}


def _demo_sized_zoo():
    """The demo zoo if built, else one of the same size with random weights (in memory)."""
    from s2s_core.zoo import Zoo, ZooInfo

    if (DEMO_ZOO / "zoo.json").is_file():
        return Zoo.load(DEMO_ZOO), "checkpoints/demo"
    import copy

    from s2s_core.models.classifiers import Classifier
    from s2s_core.models.segnet import SegNet

    torch.manual_seed(0)
    base = SegNet(widths=(16, 32, 64, 128, 128), depths=(2, 2, 2, 2, 2)).eval()
    decoders = {n: copy.deepcopy(base.decoder).eval() for n in DEMO_NETS}
    classifiers = {n: Classifier.from_name(arch).eval() for n, arch in DEMO_NETS.items()}
    info = ZooInfo(path=ROOT / "benchmarks" / "_no_zoo", name="demo-sized (random weights)", input_size=64,
                   num_classes=10, seed=0, base="base", classifiers={n: f"classifiers/{n}" for n in DEMO_NETS},
                   aes={n: f"aes/{n}" for n in DEMO_NETS})
    return Zoo(info, base, decoders, classifiers), "demo-sized random zoo"


def _photo_png() -> bytes:
    from skimage import data

    buf = io.BytesIO()
    Image.fromarray(data.astronaut()).save(buf, format="PNG")
    return buf.getvalue()


def upload_panel(repeats: int = 15) -> dict[str, float]:
    from s2s_core import imaging, inspection
    from s2s_core.analysis import figures
    from s2s_core.data import gallery

    zoo, which = _demo_sized_zoo()
    photo = _photo_png()
    classes = gallery.class_names(zoo)

    def panel():
        x = imaging.prepare_image(photo, zoo.input_size)
        result = inspection.inspect_image(zoo, x, classes=classes)
        imaging.panel_images(result, 0.5, 0.5, 4, result.diff_scale())
        return result

    def panel_and_figure():
        figures.lab_grid_figure(panel().histograms)

    print(f"upload panel on {which}: {len(zoo.names)} AEs, {len(zoo.classifiers)} classifiers, "
          f"{zoo.input_size} px, {torch.get_num_threads()} thread(s)", file=sys.stderr)
    return {"upload_panel_ms": 1000 * median_seconds(panel, repeats, warmup=2),
            "upload_panel_with_figure_ms": 1000 * median_seconds(panel_and_figure, max(3, repeats // 3), warmup=2)}


def lattice_update(repeats: int = 200) -> dict[str, float]:
    from s2s_core.analysis.crosstable import read_cross_table
    from s2s_core.analysis.fca import lattice_at
    from s2s_core.analysis.figures import lattice_dot
    from s2s_core.analysis.paper import paper_table2_csv
    from s2s_core.analysis.rrc import rrc_matrix

    table = read_cross_table(paper_table2_csv())
    rrc = rrc_matrix(table.acc)
    thresholds = iter(np.tile(np.linspace(0.0, 1.3, 131), repeats // 131 + 10))

    def update():
        return lattice_dot(lattice_at(table.names, rrc, float(next(thresholds)), ae_names=table.ae_names))

    return {"lattice_update_ms": 1000 * median_seconds(update, repeats, warmup=5)}


def lattice_page_rerun(repeats: int = 5) -> dict[str, float]:
    os.environ.setdefault("STREAMLIT_BROWSER_GATHER_USAGE_STATS", "false")
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    at.switch_page("pages/signal_order.py").run()
    next(b for b in at.button if b.key == "load_paper").click().run()
    values = iter([0.1, 0.2, 0.55, 0.8, 0.9, 0.3, 0.6, 0.7, 0.95, 0.15] * 3)

    def rerun():
        at.slider(key="threshold").set_value(next(values)).run()
        assert not at.exception

    return {"lattice_page_rerun_ms": 1000 * median_seconds(rerun, repeats, warmup=1)}


def run() -> dict[str, float]:
    sys.path.insert(0, str(ROOT))
    return {**upload_panel(), **lattice_update(), **lattice_page_rerun()}


if __name__ == "__main__":
    torch.set_num_threads(int(os.environ.get("S2S_THREADS", "1")))
    for key, value in run().items():
        print(f"{key}: {value:.1f}")
