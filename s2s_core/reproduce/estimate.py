"""Expected disk and compute of a plan (``s2s reproduce --dry-run``).

Work is counted, not guessed: each network's forward FLOPs at its input size come from
:class:`torch.utils.flop_counter.FlopCounterMode` on the ``meta`` device (no weights, no memory), multiplied
by what each stage does per image:

* pre-training (Sec. 3.2) and classifier training: forward + backward ~ 3 x forward;
* fine-tuning (Sec. 3.3, decoder only): encoder forward, decoder 3 x, classifier forward + input gradient (2 x);
* evaluation: the encoder once, every decoder once, classifier j on x, A_S(x) and every A_i(x); per noise
  level s > 0 one more encoder pass, every decoder and classifier i on three inputs.

Time = FLOPs / rate. The CPU rate is this machine's, **measured** by ``benchmarks/bench_throughput.py``
(``benchmarks/results.json``). The GPU rate is a **stated target, not a measurement**: an H100-class GPU's
bf16 dense peak times an assumed utilisation (both can be changed in the plan's ``estimate:`` section). Disk:
4 bytes per parameter for each unit, plus the training state (weights and optimiser slots).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from s2s_core import settings
from s2s_core.data.images import is_image_name
from s2s_core.reproduce.plan import Plan, Stage

#: The stated GPU target (not a measurement): H100 SXM bf16 dense peak, and the share of it a convnet reaches.
GPU_TARGET = {"name": "H100-class GPU", "peak_tflops": 989.0, "utilisation": 0.35}
NOISE_LEVELS = 10  #: the noise grid's levels s > 0 (0.1 ... 1.0)
#: Measured rates of this checkout (absent when s2s is installed as a package: then nothing is measured).
_BENCH = settings.package_root() / "benchmarks" / "results.json"
_SLOTS = {"sgd": 1, "adam": 2, "adamw": 2}
#: Image counts assumed when a data folder is not there yet (a dry run before the data arrived): ImageNet-1k.
ASSUMED_IMAGES = {"train": 1_281_167, "val": 50_000}


@functools.cache
def _segnet_flops(widths: tuple[int, ...], depths: tuple[int, ...], size: int) -> tuple[float, float, int, int]:
    """(encoder GFLOP, decoder GFLOP, encoder params, decoder params) per image."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from s2s_core.models.segnet import SegNet

    with torch.device("meta"):
        ae = SegNet(list(widths), list(depths))
        x = torch.empty(1, 3, size, size)
        with FlopCounterMode(display=False) as enc:
            code = ae.encode(x)
        with FlopCounterMode(display=False) as dec:
            ae.decode(code)
    n = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    return enc.get_total_flops() / 1e9, dec.get_total_flops() / 1e9, n(ae.encoder), n(ae.decoder)


@functools.cache
def _classifier_flops(arch: str, size: int, num_classes: int | None) -> tuple[float, int]:
    """(GFLOP per image at ``size``, parameters) of registry classifier ``arch`` (built on ``meta``, no weights)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from s2s_core.models.classifiers import build

    with torch.device("meta"):
        net = build(arch, weights=None, num_classes=num_classes)
        with FlopCounterMode(display=False) as fc:
            net(torch.empty(1, 3, size, size))
    return fc.get_total_flops() / 1e9, sum(p.numel() for p in net.parameters())


def count_images(folder: str | Path, role: str, estimate: dict[str, Any]) -> tuple[int, str]:
    """(image files under ``folder``, how the number was found); ImageNet-1k's counts if the folder is missing."""
    import os

    if not Path(folder).is_dir():
        n = int(estimate.get(f"{role}_images", ASSUMED_IMAGES[role]))
        return n, f"{n:,} {role} images ASSUMED ({folder} not found)"
    n = sum(1 for _, _, files in os.walk(folder) for f in files if is_image_name(f))
    return n, f"{n:,} images counted in {folder}"


def measured_cpu() -> dict[str, Any]:
    """This machine's measured GFLOP/s per loop from ``benchmarks/results.json`` (``{}`` when not measured)."""
    try:
        data = json.loads(_BENCH.read_text())
    except (OSError, ValueError):
        return {}
    rates = {k.removeprefix("throughput_gflops_"): v for k, v in data.items() if k.startswith("throughput_gflops_")}
    meta = data.get("_meta", {})
    date = meta.get("merged", {}).get("throughput", {}).get("date") or meta.get("date")  # a --merge run's own date
    return {"rates": rates, "date": date, "threads": meta.get("merged", {}).get("throughput", {}).get(
        "threads", meta.get("threads"))} if rates else {}


def _classifier_of(plan: Plan, key: str) -> tuple[str, int, int | None]:
    """(arch, input size, num_classes) of classifier ``key`` of the plan."""
    from s2s_core.models.classifiers import get_spec

    train = next((s for s in plan.stages if s.name == f"train-{key}"), None)
    if train is not None:
        arch = train.settings["arch"]
        return arch, int(train.settings.get("size") or get_spec(arch).input_size), train.settings.get("num_classes")
    source = plan.stage(f"finetune-{key}").settings["classifier"]
    manifest = Path(source) / "manifest.json"
    if manifest.is_file():
        m = json.loads(manifest.read_text())
        return m["arch"], int(m.get("input_size") or get_spec(m["arch"]).input_size), m["args"].get("num_classes")
    return source, get_spec(source).input_size, None


def _resolved(stage: Stage, cls: type) -> Any:
    from s2s_core.train.config import resolve_config

    keys = set(cls.keys())
    return resolve_config(cls, {k: v for k, v in stage.settings.items() if k in keys}, validate=False)


def estimate_plan(plan: Plan) -> list[dict[str, Any]]:
    """Per stage: images, GFLOP per image, total PFLOP, bytes written, and hours (CPU measured, GPU target)."""
    from s2s_core.train.config import ClassifierConfig, FinetuneConfig, PretrainConfig

    gpu = {**GPU_TARGET, **plan.estimate}
    gpu_rate = float(gpu["peak_tflops"]) * float(gpu["utilisation"]) * 1e3  # GFLOP/s
    cpu = measured_cpu()
    pre = _resolved(plan.stage("pretrain"), PretrainConfig)
    ft = FinetuneConfig()
    keys = [s.name.removeprefix("finetune-") for s in plan.stages if s.name.startswith("finetune-")]
    rows = []
    for stage in plan.stages:
        images, gflop, disk, note = 0, 0.0, 0, ""
        if stage.kind == "pretrain":
            enc, dec, pe, pd = _segnet_flops(tuple(pre.widths), tuple(pre.depths), pre.size)
            images, gflop = pre.steps * pre.batch_size * stage.nproc, 3 * (enc + dec)
            disk = 4 * (pe + pd) * (2 + _SLOTS.get(pre.optimizer, 2))
        elif stage.kind == "train-classifier":
            cfg = _resolved(stage, ClassifierConfig)
            arch, size, k = _classifier_of(plan, stage.name.removeprefix("train-"))
            fl, params = _classifier_flops(arch, size, k)
            n, how = count_images(plan.data["train"], "train", plan.estimate)
            images, gflop = cfg.epochs * n, 3 * fl
            disk = 4 * params * (2 + _SLOTS.get(cfg.optimizer, 2))
            note = f"{cfg.epochs} epochs x {how}"
        elif stage.kind == "finetune":
            ft = _resolved(stage, FinetuneConfig)
            enc, dec, pe, pd = _segnet_flops(tuple(pre.widths), tuple(pre.depths), ft.size)
            arch, size, k = _classifier_of(plan, stage.name.removeprefix("finetune-"))
            fl, _ = _classifier_flops(arch, size, k)
            images, gflop = ft.steps * ft.batch_size * stage.nproc, enc + 3 * dec + 2 * fl
            disk = 4 * (pd + pe + pd * (1 + _SLOTS.get(ft.optimizer, 2)))
        elif stage.kind == "evaluate":
            enc, dec, _, _ = _segnet_flops(tuple(pre.widths), tuple(pre.depths), ft.size)
            clf = [_classifier_flops(*_classifier_of(plan, key))[0] for key in keys]
            n, note = count_images(plan.data["val"], "val", plan.estimate)
            images = min(n, int(stage.settings.get("limit") or n))
            levels = len(stage.settings["noise_grid"]) - 1 if stage.settings.get("noise_grid") else NOISE_LEVELS
            gflop = enc + (len(keys) + 1) * dec + sum(clf) * (len(keys) + 2)
            gflop += levels * (enc + (len(keys) + 1) * dec + 3 * sum(clf))
            disk = 2 * 2**20
        total = images * gflop
        row = {"stage": stage.name, "images": images, "gflop_per_image": round(gflop, 2), "pflop": total / 1e6,
               "disk_bytes": disk, "gpu_hours_estimate": total / gpu_rate / 3600 if total else 0.0, "note": note}
        loop = {"train-classifier": "classifier"}.get(stage.kind, stage.kind)
        if cpu and loop in cpu["rates"]:
            row["cpu_hours_measured_rate"] = total / float(cpu["rates"][loop]) / 3600
        rows.append(row)
    return rows


def format_estimates(plan: Plan, rows: list[dict[str, Any]]) -> str:
    """The table ``--dry-run`` prints, with the GPU figures marked as estimates from a stated target."""
    gpu = {**GPU_TARGET, **plan.estimate}
    cpu = measured_cpu()
    lines = [f"{'stage':<16} {'images':>14} {'GFLOP/img':>10} {'PFLOP':>10} {'disk':>9} "
             f"{'GPU-h (ESTIMATE)':>17} {'CPU-h (this machine)':>21}"]
    for r in rows:
        cpu_h = f"{r['cpu_hours_measured_rate']:.1f}" if "cpu_hours_measured_rate" in r else "-"
        lines.append(f"{r['stage']:<16} {r['images']:>14,} {r['gflop_per_image']:>10.1f} {r['pflop']:>10.2f} "
                     f"{r['disk_bytes'] / 2**30:>7.2f}GB {r['gpu_hours_estimate']:>17.2f} {cpu_h:>21}")
    lines.append(f"{'total':<16} {'':>14} {'':>10} {sum(r['pflop'] for r in rows):>10.2f} "
                 f"{sum(r['disk_bytes'] for r in rows) / 2**30:>7.2f}GB "
                 f"{sum(r['gpu_hours_estimate'] for r in rows):>17.2f}")
    lines.append(f"GPU-hours are ESTIMATES, not measurements: counted FLOPs / ({gpu['peak_tflops']:g} TFLOP/s bf16 peak "
                 f"x {gpu['utilisation']:g} utilisation), the stated target of one {gpu['name']}; data loading, "
                 "evaluation passes and restarts are not included. Divide by the GPUs per stage for wall time.")
    if cpu:
        rates = ", ".join(f"{k} {v:g}" for k, v in cpu["rates"].items())
        lines.append(f"CPU-hours: MEASURED rates, the same FLOPs at the GFLOP/s this machine reached per loop "
                     f"({rates} GFLOP/s; {cpu.get('threads') or '?'} torch thread(s), benchmarks/results.json, "
                     f"{cpu.get('date')}; python benchmarks/run.py --only throughput --merge).")
    else:
        lines.append("CPU-hours: not measured here (python benchmarks/run.py --only throughput).")
    lines.append("Disk: units and training states written by each stage (the data sets are not counted).")
    lines += [f"{r['stage']}: {r['note']}" for r in rows if r["note"]]
    return "\n".join(lines)
