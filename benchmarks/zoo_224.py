"""A 224 px zoo for the dashboard benchmarks (issue 29: "on the demo and on a 224 px zoo"): the recipe of
``tests/test_journey_photos.py`` at benchmark scale. Photo crops of scikit-image pictures in four class
folders (``tests/own_data.photo_tree``), torchvision ResNet-18 at 224 px and Inception v3 at 299 px trained
here for one epoch (``s2s train-classifier``), a small 5-stage A_S pre-trained for a few steps and one
fine-tuned decoder per classifier, assembled with ``s2s zoo create``, evaluated once, and W of the relevant
channels fitted (``s2s channels fit``). The numbers of this
zoo mean nothing; its sizes (224 and 299 px inputs, ResNet-18 and Inception v3) are what the pages pay for.

    python benchmarks/zoo_224.py OUT          then       S2S_BENCH_ZOO=OUT python benchmarks/bench_browser.py --first-views 3

About 1.5 min on 2 cores.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from own_data import photo_tree  # noqa: E402

from s2s_core.cli import main as s2s  # noqa: E402

COMMON = ["--threads", "2", "--device", "cpu", "--no-progress-bar"]


def build(out: Path) -> Path:
    """Build the zoo into ``out/zoo`` (units and photos beside it) and return that path."""
    data = photo_tree(out / "photos", per_class={"train": 8, "test": 4})
    units = {}
    for key, arch, size in (("R18", "resnet18", "224"), ("I", "inception_v3", "299")):
        assert s2s(["train-classifier", "--arch", arch, "--size", size, "--data", str(data["train"]), "--epochs", "1",
                    "--batch-size", "8", "--preset", "small", "--out", str(out / f"clf-{key}"), *COMMON]) == 0
        units[key] = out / f"clf-{key}" / "model"
    assert s2s(["pretrain", "--data", str(data["train"]), "--out", str(out / "pre"), "--steps", "20", "--batch-size",
                "4", "--size", "224", "--widths", "8,16,16,32,32", "--depths", "1,1,1,1,1", *COMMON]) == 0
    base = out / "pre" / "model"
    for key, unit in units.items():
        assert s2s(["finetune", "--base", str(base), "--classifier", str(unit), "--data", str(data["train"]),
                    "--out", str(out / f"ft-{key}"), "--steps", "5", "--batch-size", "4", *COMMON]) == 0
    args = ["zoo", "create", str(out / "zoo"), "--base", str(base), "--test", str(data["test"])]
    for key, unit in units.items():
        args += ["--ae", f"{key}={out / f'ft-{key}' / 'model'}", "--classifier", f"{key}={unit}"]
    assert s2s(args) == 0
    assert s2s(["evaluate", str(out / "zoo"), "--noise-grid", "0", "--batch-size", "8", "--threads", "2"]) == 0
    # W for the relevant-channels lens, so that the Lenses page draws every lens (about 1 min)
    assert s2s(["channels", "fit", "--zoo", str(out / "zoo"), "--data", str(data["train"]), "--batch-size", "8",
                "--threads", "2"]) == 0
    return out / "zoo"


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    print(build(Path(sys.argv[1])))
