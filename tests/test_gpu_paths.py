"""The GPU code path (bf16 autocast, channels_last) of the three training loops, run on the CPU: one step gives
the fp32 step's loss up to bf16 rounding (torch.compile is exercised in benchmarks/bench_throughput.py)."""

from __future__ import annotations

import pytest
import torch

from s2s_core.models.classifiers import Classifier
from s2s_core.models.segnet import SegNet
from s2s_core.runtime import RuntimeFlags
from s2s_core.train.classify import train_classifier_net
from s2s_core.train.finetune import finetune_ae
from s2s_core.train.pretrain import pretrain_ae

GPU_PATH = RuntimeFlags(device="cpu", autocast_bf16=True, channels_last=True, pin_memory=False, non_blocking=False,
                        cudnn_benchmark=False)


@pytest.mark.parametrize("loop", ["pretrain", "finetune", "classifier"])
def test_gpu_code_path_matches_fp32_on_the_cpu(loop, tmp_path):
    g = torch.Generator().manual_seed(0)
    batches = [(torch.rand(2, 3, 32, 32, generator=g), torch.randint(0, 10, (2,), generator=g))]
    losses = []
    for k, flags in enumerate((None, GPU_PATH)):
        torch.manual_seed(0)
        ae, clf = SegNet([4, 8, 8, 16, 16], [1, 1, 1, 1, 1]), Classifier.from_name("resnet_demo")
        run = tmp_path / f"{loop}{k}"
        if loop == "pretrain":
            result, _, _ = pretrain_ae(ae, [batches[0][0]], (batches[0][0] * 255).to(torch.uint8), steps=1, lr=1e-3,
                                       optimizer="adam", flags=flags, eval_every_images=10**9, run_dir=run, bar=False)
        elif loop == "finetune":
            result = finetune_ae(ae, clf, batches, steps=1, flags=flags, run_dir=run, log_every=1)
        else:
            result = train_classifier_net(clf, batches, steps=1, flags=flags, run_dir=run, log_every=1)
        losses.append(result.loss)
    assert torch.isfinite(torch.tensor(losses)).all()
    assert losses[1] == pytest.approx(losses[0], rel=0.05)  # bf16 keeps ~3 significant digits
