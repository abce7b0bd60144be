"""``s2s attack``'s pass over labelled data: load a zoo, stream its test images, run every attack and threat model
(:mod:`s2s_core.attacks.threat`) and the gradient-structure measure, write the tables (Palacio et al., CVPR 2018,
Sec. 3.5; Folz, Palacio et al., WACV 2020)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from s2s_core import results
from s2s_core.analysis.evaluate import data_record
from s2s_core.analysis.pairs import PAIR_SEED, pair_order
from s2s_core.attacks.gradient_structure import GradientStructure
from s2s_core.attacks.threat import AttackResult, AttackSettings, run_attacks
from s2s_core.data.datasets import collate_skip_none
from s2s_core.data.evaluation import EvaluationImages
from s2s_core.data.preprocess import zoo_preprocessing
from s2s_core.errors import ConfigError
from s2s_core.runtime import select_device
from s2s_core.zoo import Zoo


def labelled_batches(zoo, data_dir: Path, *, limit: int | None, batch_size: int,
                     device: torch.device) -> tuple[EvaluationImages, list[int], Iterator]:
    """The first ``limit`` images of ``data_dir`` in :func:`~s2s_core.analysis.pairs.pair_order` (the order of
    ``s2s evaluate``, classes interleaved) at the AE's crop: ``(dataset, indices, batches of (x, y))``."""
    if limit is not None and limit < 1:
        raise ConfigError(f"--limit must be at least 1, got {limit}")
    ae = zoo_preprocessing(zoo.input_size, zoo.info.preprocessing)
    dataset = EvaluationImages(data_dir, ae, {}, classes=zoo.folder_classes(data_dir), where=f"zoo {zoo.name!r}")
    order = pair_order(dataset.targets, PAIR_SEED)[:limit]
    loader = DataLoader(dataset, batch_size=batch_size, sampler=order, collate_fn=collate_skip_none)

    def batches():
        for batch in loader:
            if batch is not None:
                yield batch["x"].to(device), batch["y"].to(device)

    return dataset, order, batches()


def attack_zoo(zoo_dir: Path, data_dir: Path, settings: AttackSettings, *, limit: int | None = 200,
               batch_size: int = 50, device: str = "auto", gradients: bool = True,
               progress: Callable[[int], None] | None = None) -> tuple[AttackResult, dict[str, Path]]:
    """Run ``settings`` on the zoo at ``zoo_dir`` over ``data_dir``; write ``adversarial.csv`` and
    ``adversarial_transfer.csv`` (when transfer ran) and, with ``gradients``, ``gradient_structure.csv``
    (:mod:`s2s_core.attacks.gradient_structure`, on the clean images) into its results folder. Returns the result and the paths."""
    dev = select_device(device)
    zoo = Zoo.load(zoo_dir, device=dev)
    dataset, _, batches = labelled_batches(zoo, Path(data_dir), limit=limit, batch_size=batch_size, device=dev)
    structure = GradientStructure(zoo) if gradients else None

    def scored():
        for x, y in batches:
            if structure is not None:
                structure.add(x, y)
            yield x, y

    result = run_attacks(zoo, scored(), settings, progress=progress)
    # The source is the split the images were drawn from (as for the randomisation check's subset), so that these
    # tables sit beside the evaluation's; the tables' ``n`` says how many of its images were attacked.
    source = data_record(Path(zoo_dir), Path(data_dir), dataset.relative_names())
    tables = {"adversarial": result.adversarial}
    if structure is not None:
        result.structure = tables["gradient_structure"] = structure.table()
    if "transfer" in settings.threats:
        tables["adversarial_transfer"] = result.transfer
    return result, results.write(zoo.results_dir, tables, source)
