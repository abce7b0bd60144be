"""Fine-tune a copy of an A_S decoder through one shipped demo classifier (Sec. 3.3, cross-entropy only).

    python benchmarks/demo_zoo/ft_variant.py --ae B2000.safetensors --clf L --lr 1e-3

Adam on the decoder only (encoder and classifier frozen), fresh shape images every step. Appends one JSON
line to ``ft_variants.jsonl``: top-1 (%) of the classifier through the AE on the 500 test images before and
after, and the PSNR of A_i(x) against x on the first 100.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from ae_variant import CLASSIFIERS, HERE, _ints  # the sibling script (its folder is on sys.path)
from safetensors.torch import load_file

from s2s_core.checkpoints import load_classifier
from s2s_core.data.demo_data import ShapeGenerator, fixed_split
from s2s_core.models.segnet import SegNet


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ae", type=Path, required=True, help="A_S weights (safetensors)")
    p.add_argument("--widths", type=_ints, default=(32, 64, 128))
    p.add_argument("--depths", type=_ints, default=(1, 1, 1))
    p.add_argument("--clf", default="L")
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--procedural", type=float, default=0.0, help="share of photo-free backgrounds")
    p.add_argument("--tag", default="")
    p.add_argument("--classifiers", type=Path, default=CLASSIFIERS)
    p.add_argument("--results", type=Path, default=HERE / "ft_variants.jsonl")
    a = p.parse_args()

    torch.set_num_threads(1)
    torch.manual_seed(0)
    ae = SegNet(a.widths, a.depths)
    ae.load_state_dict(load_file(str(a.ae)))
    clf = load_classifier(a.classifiers / a.clf).eval()
    for q in [*clf.parameters(), *ae.encoder.parameters()]:
        q.requires_grad_(False)
    xt, yt = fixed_split("test", 500, seed=0, size=64)
    xt = (xt * 255).round() / 255

    def top1() -> float:
        ae.eval()
        with torch.no_grad():
            pred = torch.cat([clf(ae(xt[i:i + 100])).argmax(1) for i in range(0, 500, 100)])
        return round(100 * pred.eq(yt).float().mean().item(), 1)

    before = top1()
    shapes, g = ShapeGenerator(64, seed=0, procedural=a.procedural), torch.Generator().manual_seed(7)
    opt = torch.optim.Adam(ae.decoder.parameters(), lr=a.lr)
    ae.decoder.train()
    start = time.perf_counter()
    for _ in range(a.steps):
        x, y = shapes.sample(a.batch, g)
        with torch.no_grad():
            code = ae.encoder((x - ae.mean) / ae.std)
        loss = F.cross_entropy(clf(ae.decode(code)), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    seconds = time.perf_counter() - start
    after = top1()
    with torch.no_grad():
        rec = ae(xt[:100]).clamp(0, 1)
    psnr = (10 * torch.log10(1 / ((rec - xt[:100]) ** 2).mean(dim=(1, 2, 3)))).mean().item()
    res = {"tag": a.tag, "ae": a.ae.name, "clf": a.clf, "lr": a.lr, "steps": a.steps, "procedural": a.procedural, "before": before,
           "after": after, "psnr": round(psnr, 2), "s": round(seconds)}
    print(json.dumps(res), flush=True)
    with a.results.open("a") as fh:
        fh.write(json.dumps(res) + "\n")


if __name__ == "__main__":
    main()
