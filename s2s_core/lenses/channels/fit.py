"""Fit the relevant-channels lens of a zoo's classifiers on labelled images and save W into the zoo (seed 004).

What ``s2s channels fit`` and the demo build run: :func:`fit_zoo` reads the fitting data (a labelled folder, or
the demo's fixed validation split), fits each chosen classifier's W in turn and saves it.
"""

from __future__ import annotations

from pathlib import Path

from torch.utils.data import DataLoader

from s2s_core.data.datasets import LabelledImageFolder, collate_skip_none
from s2s_core.data.demo_data import fixed_split
from s2s_core.errors import ConfigError, S2SError
from s2s_core.lenses.channels.lens import fit_channel_weights
from s2s_core.lenses.channels.store import save_channel_weights
from s2s_core.zoo import Zoo


def chosen_classifiers(zoo: Zoo, text: str | None) -> list[str]:
    """The classifiers named in ``text`` (comma-separated short names; every classifier when empty)."""
    names = [n.strip() for n in text.split(",") if n.strip()] if text else list(zoo.classifiers)
    unknown = [n for n in names if n not in zoo.classifiers]
    if unknown:
        raise ConfigError(f"no classifier {', '.join(map(repr, unknown))} in the zoo; known: {', '.join(zoo.classifiers)}")
    return names


def _batches(zoo: Zoo, data: Path | None, demo_split: str | None, batch_size: int, limit: int | None):
    """``(description, list of (x, y) batches)`` of the fitting data."""
    if demo_split is not None:
        recipe = zoo.info.recipe
        if not {"seed", "size", "val_images"} <= set(recipe):
            raise ConfigError("--demo-split needs a zoo built by `s2s demo` (its recipe names the split)")
        n = int(recipe["val_images"]) if limit is None else min(limit, int(recipe["val_images"]))
        x, y = fixed_split(demo_split, n, seed=int(recipe["seed"]), size=int(recipe["size"]))
        return f"demo {demo_split} split ({n} images, seed {recipe['seed']})", [
            (x[i: i + batch_size], y[i: i + batch_size]) for i in range(0, n, batch_size)]
    if data is None or not Path(data).is_dir():
        raise ConfigError(f"--data {data}: not a directory of class sub-folders of images")
    dataset = LabelledImageFolder(data, size=zoo.input_size, on_error="none", classes=zoo.folder_classes(data),
                                  where=f"zoo {zoo.name!r}")
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate_skip_none)
    out, seen = [], 0
    for batch in loader:
        if batch is None:
            continue
        x, y = batch
        if limit is not None:
            x, y = x[: limit - seen], y[: limit - seen]
        out.append((x, y))
        seen += len(y)
        if limit is not None and seen >= limit:
            break
    return f"{data} ({seen} images)", out


def fit_zoo(zoo_dir: Path, *, data: Path | None = None, demo_split: str | None = None,
                classifiers: str | None = None, layers: list[str] | None = None, mu: float | None = None,
                batch_size: int = 100, limit: int | None = None) -> dict[str, dict]:
    """Fit and save W for each chosen classifier, one after the other; returns ``{name: {"mu", "rule",
    "sparsity", "path"}}``, or ``{name: {"error": message}}`` for a classifier whose fit was refused (the others
    are still fitted and saved)."""
    if batch_size < 1:
        raise ConfigError(f"--batch-size must be positive, got {batch_size}")
    if limit is not None and limit < 2:
        raise ConfigError(f"--limit must be at least 2 images, got {limit}")
    zoo = Zoo.load(zoo_dir)
    names = chosen_classifiers(zoo, classifiers)
    described, batches = _batches(zoo, data, demo_split, batch_size, limit)
    out = {}
    for name in names:
        try:
            weights = fit_channel_weights(zoo.classifiers[name], name, batches, zoo.num_classes, layers=layers,
                                          mu=mu, input_size=zoo.input_size)
        except S2SError as exc:
            out[name] = {"error": str(exc)}
            continue
        weights.meta["data"] = described
        path = save_channel_weights(zoo_dir, weights)
        out[name] = {"mu": weights.mu, "rule": weights.rule, "sparsity": weights.meta["sparsity"], "path": path}
    return out
