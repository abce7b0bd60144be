"""One training step of the demo's A_S and three demo classifiers, fp32 against bf16 autocast, side by side.

    python benchmarks/demo_zoo/bf16_step.py

One thread, channels_last for A_S (as the build runs it), batch 32 for A_S and 64 for the classifiers; prints
seconds per step and the fp32 / bf16 ratio. bf16 pays only on CPUs with bf16 instructions (avx512_bf16, AMX):
the demo recipe turns it on for A_S alone (``ae_bf16``), where the ratio is largest.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from s2s_core.models.classifiers import Classifier
from s2s_core.models.segnet import SegNet
from s2s_core.runtime import cpu_has_bf16


def _step_seconds(model, x, loss_of, bf16: bool, steps: int) -> float:
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    for i in range(steps + 2):
        if i == 2:
            start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = loss_of(model(x))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return (time.perf_counter() - start) / steps


def main() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    print(f"CPU bf16 instructions: {cpu_has_bf16()}")
    x = torch.rand(32, 3, 64, 64).contiguous(memory_format=torch.channels_last)
    ae = SegNet((32, 64, 128), (1, 1, 1)).to(memory_format=torch.channels_last)
    rows = [("A_S (SegNet 32/64/128)", ae, x, lambda r: F.mse_loss(r.float(), x), 8)]
    y, x64 = torch.randint(10, (64,)), torch.rand(64, 3, 64, 64)
    for name in ("inception_demo", "vgg_demo", "resnet_demo"):
        rows.append((name, Classifier.from_name(name, num_classes=10), x64, lambda o: F.cross_entropy(o.float(), y), 4))
    for name, model, inputs, loss_of, steps in rows:
        fp32 = _step_seconds(model, inputs, loss_of, False, steps)
        bf16 = _step_seconds(model, inputs, loss_of, True, steps)
        print(f"{name:24s} fp32 {fp32:.3f} s  bf16 {bf16:.3f} s  ratio {fp32 / bf16:.2f}")


if __name__ == "__main__":
    main()
