"""One A_S variant of the demo zoo (issue 11): train it, then measure test PSNR and top-1 through it.

    python benchmarks/demo_zoo/ae_variant.py --tag B2000 --widths 32,64,128 --depths 1,1,1 --steps 2000

Adam with linear warm-up and cosine decay, channels_last, batches of :class:`PretrainMix` (``--shapes`` share
of unlabelled shape images, the rest photo crops). ``--budget S`` instead of ``--steps`` picks the step count
from the speed of the first 30 steps. The result (one JSON line) is appended to ``ae_variants.jsonl``: steps,
training seconds (on a shared, noisy machine), PSNR on the 500 test images of the demo split, and for each
shipped classifier (top-1 on the originals, top-1 through the AE) in percent.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from s2s_core.checkpoints import load_classifier
from s2s_core.data.demo_data import PretrainMix, fixed_split
from s2s_core.models.segnet import SegNet

HERE = Path(__file__).resolve().parent
CLASSIFIERS = HERE.parents[1] / "checkpoints" / "demo" / "classifiers"


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(","))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tag", required=True)
    p.add_argument("--widths", type=_ints, default=(32, 64, 128))
    p.add_argument("--depths", type=_ints, default=(1, 1, 1))
    p.add_argument("--steps", type=int, default=0, help="training steps (0: from --budget)")
    p.add_argument("--budget", type=float, default=300.0, help="seconds of training when --steps is 0")
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--shapes", type=float, default=0.6, help="share of shape images per batch")
    p.add_argument("--procedural", type=float, default=0.0, help="share of photo-free backgrounds under the shapes")
    p.add_argument("--bf16", action="store_true", help="bf16 autocast for the training steps (CPU, avx512_bf16)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--classifiers", type=Path, default=CLASSIFIERS)
    p.add_argument("--results", type=Path, default=HERE / "ae_variants.jsonl")
    p.add_argument("--save", type=Path, default=None, help="write the trained weights (safetensors)")
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    ae = SegNet(a.widths, a.depths).to(memory_format=torch.channels_last)
    mix = PretrainMix(64, seed=1, shapes=a.shapes, procedural=a.procedural)
    g = torch.Generator().manual_seed(2)
    opt = torch.optim.Adam(ae.parameters(), lr=a.lr)
    total = a.steps or None
    start, step = time.perf_counter(), 0
    while total is None or step < total:
        if total is None and step == 30:
            total = int(a.budget / ((time.perf_counter() - start) / 30))
        cos = 0.5 * (1 + math.cos(math.pi * min(step / total, 1.0))) if total else 1.0
        for group in opt.param_groups:
            group["lr"] = a.lr * min(1.0, (step + 1) / a.warmup) * cos
        x = mix.sample(a.batch, g).contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16):
            loss = F.mse_loss(ae(x).float(), x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
    seconds = time.perf_counter() - start

    ae.eval()
    xt, yt = fixed_split("test", 500, seed=0, size=64)
    xt = (xt * 255).round() / 255  # as written to the test PNGs
    with torch.no_grad():
        rec = torch.cat([ae(xt[i:i + 100]) for i in range(0, 500, 100)]).clamp(0, 1)
    psnr = (10 * torch.log10(1 / ((rec - xt) ** 2).mean(dim=(1, 2, 3)))).mean().item()
    res = {"tag": a.tag, "widths": a.widths, "depths": a.depths, "lr": a.lr, "batch": a.batch, "shapes": a.shapes,
           "procedural": a.procedural, "bf16": a.bf16, "steps": step, "train_s": round(seconds), "psnr_test": round(psnr, 2)}
    for short in "LAVRI":
        clf = load_classifier(a.classifiers / short).eval()
        with torch.no_grad():
            orig = torch.cat([clf(xt[i:i + 100]) for i in range(0, 500, 100)]).argmax(1)
            thru = torch.cat([clf(rec[i:i + 100]) for i in range(0, 500, 100)]).argmax(1)
        res[short] = (round(100 * (orig == yt).float().mean().item(), 1),
                      round(100 * (thru == yt).float().mean().item(), 1))
    print(json.dumps(res), flush=True)
    with a.results.open("a") as fh:
        fh.write(json.dumps(res) + "\n")
    if a.save is not None:
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in ae.state_dict().items()}, str(a.save))


if __name__ == "__main__":
    main()
