"""The S2S control (issue 26 item 3): A_S's decoder fine-tuned, with exactly A_i's recipe, through a randomly
initialised copy of classifier i's architecture.

S2S reads |A_i(x) − A_S(x)| as "what fine-tuning for i changed". Part of that change may come from fine-tuning
alone (any loss through any network of that shape moves the decoder), not from what i learned. The control
A_rand,i is tuned the same way (same steps, batch, learning rate, reconstruction weight, data stream and seed)
through a copy of i whose every layer is re-initialised (:func:`s2s_core.models.randomise.cascade`, its last
step), so an S2S effect that A_rand,i shows too is the AE's and the recipe's, not the classifier's
(:mod:`s2s_core.analysis.dataset.s2s_control` measures both).

The controls live in the zoo as ``controls/<name>`` (``decoder`` units against the zoo's base, like ``aes/``)
and are listed under ``"controls"`` in ``zoo.json``; every other tool ignores them.

    s2s demo-controls checkpoints/demo     # adds controls/<name> for every A_i of a demo zoo (a few min on 2 cores)
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

#: Where a control lives inside the zoo, and the seed offset of its random classifier.
CONTROLS_DIR, CONTROL_SEED = "controls", 2_700_000


def random_copy(classifier, seed: int):
    """A deep copy of ``classifier`` with every parametrised layer re-initialised (seeded): the untrained network
    of the same architecture the control is tuned through."""
    from s2s_core.models.randomise import cascade

    *_, last = cascade(classifier, steps=1, seed=seed)
    return last.model


def stage_control(out: str, recipe_dict: dict, short: str) -> dict[str, Any]:
    """Fine-tune A_S's decoder through a random copy of classifier ``short`` with A_i's recipe (the same seed and
    data stream as :func:`s2s_core.demo.build.stage_finetune`); writes ``OUT/controls/<short>``."""
    import tempfile

    import torch

    from s2s_core.checkpoints import load_ae, load_classifier, save_finetuned
    from s2s_core.data.demo_data import ShapeGenerator, fixed_split
    from s2s_core.demo.build import BASE_DIR, _stage_seed, _worker_setup
    from s2s_core.demo.recipe import DemoRecipe
    from s2s_core.train.classify import accuracy
    from s2s_core.train.finetune import finetune_ae

    _worker_setup()
    recipe = DemoRecipe.from_dict(recipe_dict)
    seed = _stage_seed(recipe, 200 + sorted(recipe.classifiers).index(short))  # A_i's own seed
    torch.manual_seed(seed)
    base_dir = Path(out) / BASE_DIR
    ae = load_ae(base_dir)
    trained = load_classifier(Path(out) / "classifiers" / short)
    clf = random_copy(trained, CONTROL_SEED + sorted(recipe.classifiers).index(short))
    val_x, val_y = fixed_split("val", recipe.val_images, seed=recipe.seed, size=recipe.size)
    batches = ShapeGenerator(size=recipe.size, seed=recipe.seed).batches(recipe.ft_batch, seed=seed + 1)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="s2s-demo-control-") as tmp:
        result = finetune_ae(ae, clf, batches, steps=recipe.ft_steps, train="decoder",
                             optimizer=recipe.ft_optimizer, lr=recipe.ft_lr[short], recon_weight=recipe.ft_recon_weight,
                             run_dir=tmp, log_every=25, bar=False)
    ae.eval()
    with torch.no_grad():
        read_by_i = accuracy(trained, ae(val_x), val_y)
    meta = {"control": f"decoder tuned through a randomly initialised copy of {short}'s architecture",
            "random_seed": CONTROL_SEED + sorted(recipe.classifiers).index(short), "steps": result.step,
            "batch_size": recipe.ft_batch, "optimizer": recipe.ft_optimizer, "lr": recipe.ft_lr[short],
            "recon_weight": recipe.ft_recon_weight, "seed": seed, "final_loss": result.loss,
            "val_top1_of_i_through_control": read_by_i, "seconds": time.perf_counter() - start}
    save_finetuned(Path(out) / CONTROLS_DIR / short, ae, base_dir, classifier=short, trained="decoder", meta=meta)
    return {"stage": f"control {short}", **meta}


def add_controls(zoo_dir: str | Path, names: list[str] | None = None, workers: int = 2) -> dict[str, float]:
    """Train the controls of a demo zoo (every A_i, or ``names``) side by side in ``workers`` processes and list
    them in its ``zoo.json``. Returns name -> seconds. A zoo without a demo recipe -> ConfigError."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from s2s_core.errors import ConfigError
    from s2s_core.zoo import ZooInfo, write_json_atomic

    info = ZooInfo.read(zoo_dir)
    recipe = {k: v for k, v in info.recipe.items() if k not in ("code_version", "command")}
    if "ft_steps" not in recipe:
        raise ConfigError(f"{info.path} has no demo recipe in zoo.json: controls are built for zoos made by `s2s demo`")
    chosen = names or list(info.aes)
    unknown = [n for n in chosen if n not in info.aes]
    if unknown:
        raise ConfigError(f"no fine-tuned AE {unknown} in {info.path}; known: {', '.join(info.aes)}")
    with ProcessPoolExecutor(max_workers=max(1, workers), mp_context=get_context("spawn")) as pool:
        done = {n: pool.submit(stage_control, str(info.path), recipe, n) for n in chosen}
        seconds = {n: float(f.result()["seconds"]) for n, f in done.items()}
    import json

    raw = json.loads((info.path / "zoo.json").read_text(encoding="utf-8"))
    raw["controls"] = {**raw.get("controls", {}), **{n: f"{CONTROLS_DIR}/{n}" for n in chosen}}
    write_json_atomic(info.path / "zoo.json", raw)
    return seconds
