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

from pathlib import Path

from s2s_core.demo.build import CONTROLS_DIR, stage_control
from s2s_core.models.randomise import fully_randomised as random_copy

__all__ = ["CONTROLS_DIR", "add_controls", "random_copy", "stage_control"]


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
