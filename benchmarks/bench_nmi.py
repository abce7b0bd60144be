"""nMI against scikit-learn on 256x256 RGB pairs (the lattice update time is in bench_dashboard.py).

Figures (ratios are timed side by side in this run):

* ``nmi_speedup_vs_sklearn``: sklearn's per-pair time over ``nmi(a, b)`` (one pair per call).
* ``nmi_batched_speedup_vs_sklearn``: sklearn's per-pair time over ``nmi_batch`` on 16 pairs, per pair.
* ``nmi_max_abs_diff_vs_sklearn``: largest difference seen (must stay below 1e-9).
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import normalized_mutual_info_score
from timing import best_seconds

from s2s_core.analysis.nmi import nmi, nmi_batch

PAIRS = 16
SIZE = 256


def _pairs() -> tuple[torch.Tensor, torch.Tensor]:
    """Natural-looking pairs: a smooth random field and a noisy, posterised copy of it."""
    g = torch.Generator().manual_seed(0)
    base = torch.rand(PAIRS, 3, SIZE // 16, SIZE // 16, generator=g)
    a = torch.nn.functional.interpolate(base, size=(SIZE, SIZE), mode="bilinear", align_corners=False)
    b = (a + 0.1 * torch.rand(a.shape, generator=g)).clamp(0, 1) * 0.8
    to8 = lambda x: (x * 255).round().to(torch.uint8)  # noqa: E731
    return to8(a), to8(b)


def run() -> dict[str, float]:
    a, b = _pairs()
    a_np, b_np = a.numpy(), b.numpy()
    sk = [
        normalized_mutual_info_score(a_np[k].ravel(), b_np[k].ravel(), average_method="geometric")
        for k in range(PAIRS)
    ]
    ours = nmi_batch(a, b).numpy()
    single = [nmi(a[k], b[k]) for k in range(PAIRS)]
    diff = max(float(np.max(np.abs(ours - sk))), float(np.max(np.abs(np.array(single) - sk))))

    n_sk = 4
    t_sk = (
        best_seconds(
            lambda: [
                normalized_mutual_info_score(a_np[k].ravel(), b_np[k].ravel(), average_method="geometric")
                for k in range(n_sk)
            ]
        )
        / n_sk
    )
    t_single = best_seconds(lambda: [nmi(a[k], b[k]) for k in range(PAIRS)]) / PAIRS
    t_batch = best_seconds(lambda: nmi_batch(a, b)) / PAIRS

    return {
        "nmi_speedup_vs_sklearn": t_sk / t_single,
        "nmi_batched_speedup_vs_sklearn": t_sk / t_batch,
        "nmi_max_abs_diff_vs_sklearn": diff,
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
