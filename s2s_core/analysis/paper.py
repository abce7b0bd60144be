"""Published numbers of Palacio et al. (CVPR 2018) used as known answers and as the dashboard's example.

Table 2 (Sec. 3.4): top-1 accuracy of classifier j (columns) on reconstructions of the AE fine-tuned on
classifier i (rows A_i), ImageNet validation set; L = LeNet-5, A = AlexNet, V = VGG16-BN, I = Inception v3,
R = ResNet-50.
"""

from __future__ import annotations

import numpy as np

from s2s_core.views import ae_key

PAPER_NAMES: tuple[str, ...] = ("L", "A", "V", "I", "R")
PAPER_TABLE2 = np.array(
    [
        [0.3484, 0.3077, 0.0416, 0.4352, 0.4730],
        [0.0211, 0.5613, 0.0097, 0.5375, 0.0925],
        [0.2929, 0.5362, 0.7163, 0.7400, 0.7300],
        [0.1829, 0.3024, 0.4555, 0.7671, 0.4540],
        [0.0163, 0.4972, 0.0710, 0.7249, 0.7494],
    ]
)
PAPER_TABLE2.setflags(write=False)


def paper_table2_csv() -> str:
    """Table 2 in the cross-accuracy CSV format of ``s2s signal-order`` (rows ``A_i``, columns classifiers)."""
    lines = ["," + ",".join(PAPER_NAMES)]
    for name, row in zip(PAPER_NAMES, PAPER_TABLE2, strict=True):
        lines.append(f"{ae_key(name)}," + ",".join(f"{v:.4f}" for v in row))
    return "\n".join(lines) + "\n"
