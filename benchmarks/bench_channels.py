"""The relevant-channels lens (issue 18 item 7): fitting W on the demo's validation images, and one image's view.

* ``channels_fit_seconds_V``: responses of the demo's VGG (V) over the 500 validation images plus the mu-lasso
  with its cross-validated mu, in seconds; ``channels_fit_lasso_share``: the part spent in the lasso.
* ``channels_view_ms``: everything the Lenses page computes for one image and all five classifiers (top-3
  channels, their DeconvNet and guided-backprop maps, the gradient, A_i(x)), in milliseconds; beside it
  ``channels_view_vs_s2s_inspect``: that time over the S2S panel's for the same image (``inspect_image``),
  measured side by side.
"""

from __future__ import annotations

import time
from pathlib import Path

from timing import median_seconds

from s2s_core.data.demo_data import fixed_split
from s2s_core.data.gallery import class_names
from s2s_core.inspection import inspect_image
from s2s_core.lenses.channels.lens import ChannelLens, fit_channel_weights
from s2s_core.lenses.channels.probe import ChannelProbe
from s2s_core.lenses.registry import LENSES
from s2s_core.zoo import Zoo

ZOO = Path(__file__).resolve().parents[1] / "checkpoints" / "demo"


def run() -> dict[str, float]:
    zoo = Zoo.load(ZOO)
    x, y = fixed_split("val", 500, seed=0, size=zoo.input_size)
    batches = [(x[i: i + 100], y[i: i + 100]) for i in range(0, 500, 100)]
    start = time.perf_counter()
    probe = ChannelProbe(zoo.classifiers["V"])
    for xb, _ in batches:
        probe.responses(xb)
    responses = time.perf_counter() - start
    start = time.perf_counter()
    weights = {"V": fit_channel_weights(zoo.classifiers["V"], "V", batches, zoo.num_classes)}
    fit = time.perf_counter() - start
    for name in zoo.classifiers:  # a fixed mu elsewhere: the view's cost does not depend on how mu was chosen
        if name not in weights:
            weights[name] = fit_channel_weights(zoo.classifiers[name], name, batches[:1], zoo.num_classes, mu=50.0)
    lenses = {n: ChannelLens(zoo.classifiers[n], w) for n, w in weights.items()}
    image = x[:1]
    classes = class_names(zoo)
    names = list(zoo.classifiers)
    options = {"k": 3, "channel_lenses": lenses, "classes": classes}
    # what the Lenses page computed for one image before the lenses had sections of their own: the relevant
    # channels, the gradient and S2S's maps
    view = median_seconds(lambda: [LENSES[key].view(zoo, image, names, classes=classes, options=options)
                                   for key in ("channels", "gradient", "s2s")], reps=5)
    s2s = median_seconds(lambda: inspect_image(zoo, image, classes=classes), reps=5)
    return {"channels_fit_seconds_V": round(fit, 2), "channels_fit_lasso_share": round(1 - responses / fit, 3),
            "channels_view_ms": round(view * 1000, 1), "channels_view_vs_s2s_inspect": round(view / s2s, 2)}
