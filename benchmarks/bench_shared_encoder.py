"""The encoder is shared by every fine-tuned AE: one encoder pass feeds all decoders (Sec. 3.3, DESIGN.md).

``shared_encoder_speedup``: time for one 224 px image through 6 full AE passes (A_S and five A_i, each
encoding the image again) over 1 encoder + 6 decoders, as ``Zoo.reconstruct_all`` does, timed side by
side in this run (full-width SegNet, batch 1, inference mode). The outputs are checked to be identical.
"""

from __future__ import annotations

import copy

import torch
from timing import median_seconds

from s2s_core.models.segnet import SegNet

N_AES = 6


def run(reps: int = 2, size: int = 224) -> dict[str, float]:
    torch.manual_seed(0)
    base = SegNet().eval()
    decoders = [copy.deepcopy(base.decoder) for _ in range(N_AES)]
    for d in decoders[1:]:
        with torch.no_grad():
            for p in d.parameters():
                p.add_(0.01 * torch.randn_like(p))
    full = []
    for d in decoders:
        ae = SegNet(base.config["widths"], base.config["depths"]).eval()
        ae.encoder, ae.decoder = base.encoder, d
        full.append(ae)
    x = torch.rand(1, 3, size, size)

    def naive() -> list[torch.Tensor]:
        return [ae(x) for ae in full]

    def shared() -> list[torch.Tensor]:
        code = base.encode(x)
        return [base.decode(code, d) for d in decoders]

    with torch.inference_mode():
        for a, b in zip(naive(), shared(), strict=True):
            assert torch.equal(a, b), "shared-encoder reconstructions differ from full passes"
        t_naive = median_seconds(naive, reps)
        t_shared = median_seconds(shared, reps)
    return {
        "shared_encoder_speedup": t_naive / t_shared,
        "shared_encoder_ms_224": 1000 * t_shared,
        "full_passes_ms_224": 1000 * t_naive,
    }
