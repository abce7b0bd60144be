"""Class (target) sensitivity on two-shape images (issue 26): does a lens's map follow the class it is asked about?

FunnyBirds' "TS" check (Hesse et al., ICCV 2023) and Grad-CAM's pointing test with two objects (Selvaraju et
al., ICCV 2017). Every composite of :mod:`s2s_core.data.composite` holds a shape of class a and one of class b,
each with its mask. For every class-conditional lens of :mod:`s2s_core.lenses.registry` (the relevant channels
under DeconvNet and guided backprop, the plain gradient, any class-conditional lens registered later) and every
classifier with a fine-tuned AE, the map for target a and the map for target b are drawn. With m_t(S) the
relevance mass of the map for target t on shape S's mask and p_t(S) its pointing game, per image:

* ``sensitivity`` = ½[(m_a(A) − m_a(B)) + (m_b(B) − m_b(A))]: 1 for a map that is the target's mask, and
  exactly 0 for any map that ignores the target; so the model-free maps (``needs_model = False``) score 0 by
  symmetry. They are computed like every lens and shown as the anchor rows. Compared with 0.
* ``mass_diff`` = m_a(A) − m_a(B); ``pointing`` = p_a(A); both compared with the model-free map that scores
  highest on the same images (the anchor to beat: an edge map may favour one shape whatever the class).
* ``pointing_other`` = p_a(B), for contrast (no comparison).

Shape a keeps its place in its test image and b goes where there is room, often nearer the frame, so a map that
favours the centre puts more mass on a whatever the class (the centre prior's ``mass_diff`` is clearly above 0):
``mass_diff`` and ``pointing`` are therefore judged against the best anchor, and ``sensitivity`` cancels the bias
by construction.

Intervals are paired bootstrap 95 % intervals (:func:`s2s_core.analysis.stats.paired_bootstrap`), with a
verdict. A composite is a fair question only where classifier i sees both classes, so per classifier the share
of composites with a and b both in i's top-2 is reported (Wilson interval), and every lens row again on those
images alone (``subset`` = ``top2``). S2S and feature inversion give one map per image whatever the class: they
get a row that says so, with no numbers. Writes ``class_sensitivity.csv``.

The composites are read from ``--sensitivity-pairs`` (default: the zoo's ``data/test_pairs``), not from the
evaluated stream; the work is done once, after it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from s2s_core.analysis.dataset.base import Analysis, BatchViews, option
from s2s_core.analysis.stats import paired_bootstrap, wilson_interval
from s2s_core.data.composite import PairSet, read_pairs
from s2s_core.errors import ConfigError
from s2s_core.lenses.base import BatchContext
from s2s_core.lenses.inversion.error_map import GT_STEPS
from s2s_core.lenses.registry import heatmap_rows
from s2s_core.lenses.scores import binary_masks, pointing_game, relevance_mass
from s2s_core.results import CLASS_SENSITIVITY_COLUMNS
from s2s_core.views import BASE_KEY, ORIGINAL

#: Composites per batch of lens maps.
CHUNK = 50
#: The per-image measures, in table order: measure -> what a reader is told.
MEASURES = {
    "sensitivity": "½[(m_a(A) − m_a(B)) + (m_b(B) − m_b(A))]: 0 for a map that ignores the target",
    "mass_diff": "relevance mass of a's map on a's mask minus on b's",
    "pointing": "pointing game of a's map on a's mask",
    "pointing_other": "pointing game of a's map on b's mask (contrast)",
}
#: Verdicts from the paired interval: of the sensitivity against 0, and of the others against the best anchor.
SENSITIVITY_VERDICTS = {"higher": "follows the class", "tie": "ignores the class", "lower": "follows the other class"}
ANCHOR_VERDICTS = {"higher": "beats", "lower": "below", "tie": "tie"}
NOT_CONDITIONAL = "not class-conditional: one map per image whatever the class, so there is no target to change"


@dataclass(frozen=True)
class ClassSensitivityOptions:
    sensitivity_pairs: str = option("", "folder of the two-shape composites for class_sensitivity (default: the "
                                        "zoo's data/test_pairs, written by `s2s demo-pairs`)", metavar="DIR")


@dataclass
class CompositeBatch:
    """A chunk of composites as lenses read a batch: ``x`` (B, 3, S, S), ``y`` (B,) class a, ``second`` (B,)
    class b, ``images`` (``"original"`` and ``"A_S"``), the coverages ``masks`` (a's) and ``second_masks`` (b's)
    (B, 1, S, S), and ``start`` (the first composite's index)."""

    x: torch.Tensor
    y: torch.Tensor
    second: torch.Tensor
    images: dict[str, torch.Tensor]
    masks: torch.Tensor
    second_masks: torch.Tensor
    start: int = 0

    def item(self, b: int) -> int:
        return self.start + b


@dataclass
class _Maps:
    """Per-composite values of one row (NaN where the lens gave no map): measure -> (N,)."""

    values: dict[str, np.ndarray] = field(default_factory=dict)


def per_image(heat_a: torch.Tensor, heat_b: torch.Tensor, first: torch.Tensor,
              second: torch.Tensor) -> dict[str, torch.Tensor]:
    """The measures of :data:`MEASURES` per image, ``(B,)`` each, of maps ``heat_a`` / ``heat_b`` (B, S, S) drawn
    for targets a and b, against the bool masks ``first`` (a's shape) and ``second`` (b's) (B, S, S)."""
    ma_a, ma_b = relevance_mass(heat_a, first), relevance_mass(heat_a, second)
    mb_a, mb_b = relevance_mass(heat_b, first), relevance_mass(heat_b, second)
    return {"sensitivity": 0.5 * ((ma_a - ma_b) + (mb_b - mb_a)), "mass_diff": ma_a - ma_b,
            "pointing": pointing_game(heat_a, first), "pointing_other": pointing_game(heat_a, second)}


class ClassSensitivityAnalysis(Analysis):
    """Class sensitivity: each class-conditional lens's maps for both classes of two-shape images (opt-in)."""

    name = "class_sensitivity"
    default = False
    Options = ClassSensitivityOptions

    def setup(self) -> None:
        folder = self.options.sensitivity_pairs
        path = Path(folder) if folder else Path(self.zoo.data_dir) / "test_pairs"
        self.pairs: PairSet = read_pairs(path)
        size = int(self.pairs.x.shape[-1])
        if size != int(self.zoo.input_size):
            raise ConfigError(f"the composites at {path} are {size} px, the zoo reads {self.zoo.input_size} px")
        labels = self.zoo.folder_classes(path).label_map(sorted(set(self.pairs.first + self.pairs.second)), str(path))
        self.first = torch.tensor([labels[c] for c in self.pairs.first])
        self.second = torch.tensor([labels[c] for c in self.pairs.second])
        rows = heatmap_rows()
        self.conditional = [(lens, h) for lens, h in rows if lens.needs_model and lens.class_conditional]
        self.anchors = [(lens, h) for lens, h in rows if not lens.needs_model]
        self.others = [(lens, h) for lens, h in rows if lens.needs_model and not lens.class_conditional]
        self.context = BatchContext(self.zoo, {})

    def update(self, views: BatchViews) -> None:
        """Nothing per batch of the evaluated stream: the composites are scored once, in :meth:`tables`."""

    def _batches(self):
        device = next(self.zoo.base.parameters()).device
        p = self.pairs
        for start in range(0, p.x.shape[0], CHUNK):
            part = slice(start, start + CHUNK)
            x = p.x[part].to(device)
            with torch.inference_mode():
                base = self.zoo.reconstruct_all(x, names=[])[BASE_KEY]
            yield CompositeBatch(x, self.first[part].to(device), self.second[part].to(device),
                                 {ORIGINAL: x, BASE_KEY: base.clone()}, p.first_masks[part].to(device),
                                 p.second_masks[part].to(device), start)

    def _score(self) -> tuple[dict[tuple[str, str, str], _Maps], dict[str, np.ndarray]]:
        """Every row's per-composite measures and, per classifier, whether a and b are both in its top-2."""
        n = self.pairs.x.shape[0]
        maps: dict[tuple[str, str, str], _Maps] = {}
        top2 = {name: np.zeros(n, dtype=bool) for name in self.names}
        for batch in self._batches():
            self.context.start_batch(batch)
            part = slice(batch.start, batch.start + batch.x.shape[0])
            first, second = binary_masks(batch.masks).cpu(), binary_masks(batch.second_masks).cpu()
            anyone = self.names[0]
            for name in self.names:
                with torch.inference_mode():
                    best = self.zoo.classifiers[name](batch.x).topk(2, dim=1).indices
                both = (best == batch.y[:, None]).any(1) & (best == batch.second[:, None]).any(1)
                top2[name][part] = both.cpu().numpy()
            rows = [(lens, h, "") for lens, h in self.anchors]
            rows += [(lens, h, name) for lens, h in self.conditional for name in self.names]
            for lens, h, name in rows:
                heat_a = lens.heatmap(self.context, name or anyone, h.key, target=batch.y)
                heat_b = lens.heatmap(self.context, name or anyone, h.key, target=batch.second)
                if heat_a is None or heat_b is None:
                    continue
                values = per_image(heat_a.detach().float().cpu(), heat_b.detach().float().cpu(), first, second)
                acc = maps.setdefault((lens.key, h.key, name), _Maps())
                for measure, v in values.items():
                    acc.values.setdefault(measure, np.full(n, np.nan))[part] = v.numpy()
        return maps, top2

    def tables(self) -> dict[str, pd.DataFrame]:
        maps, top2 = self._score()
        labels = {(lens.key, h.key): h.label.format(steps=GT_STEPS) for lens, h in heatmap_rows()}
        anchors = {key: acc for key, acc in maps.items() if not key[2]}
        out = []
        for key, acc in anchors.items():
            out += self._rows(key, labels[key[:2]], acc, np.ones_like(top2[self.names[0]]), "all", {})
        for lens, h in self.conditional:
            for name in self.names:
                key = (lens.key, h.key, name)
                if key not in maps:
                    note = self.context.skipped.get((lens.key, name), "no map for this classifier")
                    out.append(self._note(key, labels[key[:2]], note))
                    continue
                for subset, chosen in (("all", np.ones_like(top2[name])), ("top2", top2[name])):
                    out += self._rows(key, labels[key[:2]], maps[key], chosen, subset, anchors)
        for name in self.names:
            k, m = int(top2[name].sum()), int(top2[name].size)
            low, high = wilson_interval(k, m)
            out.append({"lens": "", "heatmap": "", "label": "a and b both in i's top-2", "classifier": name,
                        "model_free": False, "subset": "all", "measure": "both_top2", "mean": k / m, "ci_low": low,
                        "ci_high": high, "n": m, "note": "Wilson 95 % interval"})
        for lens, h in self.others:
            out.append(self._note((lens.key, h.key, ""), labels[(lens.key, h.key)], NOT_CONDITIONAL))
        return {self.name: pd.DataFrame(out).reindex(columns=list(CLASS_SENSITIVITY_COLUMNS))}

    @staticmethod
    def _note(key: tuple[str, str, str], label: str, note: str) -> dict:
        return {"lens": key[0], "heatmap": key[1], "label": label, "classifier": key[2], "model_free": False,
                "subset": "all", "measure": "", "mean": np.nan, "n": 0, "note": note}

    def _rows(self, key: tuple[str, str, str], label: str, acc: _Maps, chosen: np.ndarray, subset: str,
              anchors: dict[tuple[str, str, str], _Maps]) -> list[dict]:
        """One row per measure of ``key`` on the composites ``chosen`` (bool (N,)), each against its reference."""
        base = {"lens": key[0], "heatmap": key[1], "label": label, "classifier": key[2], "model_free": not key[2],
                "subset": subset}
        rows = []
        for measure in MEASURES:
            mine = acc.values[measure][chosen]
            own = paired_bootstrap(mine, np.zeros_like(mine))
            row = {**base, "measure": measure, "mean": own.diff, "ci_low": own.ci_low, "ci_high": own.ci_high,
                   "n": own.n, "reference": "", "reference_mean": np.nan, "diff": np.nan, "diff_ci_low": np.nan,
                   "diff_ci_high": np.nan, "verdict": "anchor" if not key[2] else "", "note": ""}
            if key[2] and measure == "sensitivity":
                row.update(reference="zero", reference_mean=0.0, diff=own.diff, diff_ci_low=own.ci_low,
                           diff_ci_high=own.ci_high, verdict=SENSITIVITY_VERDICTS[own.verdict])
            elif key[2] and measure in ("mass_diff", "pointing") and anchors and chosen.any():
                ref_key, theirs = max(((k, a.values[measure][chosen]) for k, a in anchors.items()),
                                      key=lambda kv: np.nanmean(kv[1]) if np.isfinite(kv[1]).any() else -np.inf)
                test = paired_bootstrap(mine, theirs)
                row.update(reference=ref_key[1], reference_mean=float(np.nanmean(theirs)), diff=test.diff,
                           diff_ci_low=test.ci_low, diff_ci_high=test.ci_high, verdict=ANCHOR_VERDICTS[test.verdict])
            rows.append(row)
        return rows
