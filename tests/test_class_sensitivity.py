"""Class sensitivity on two-shape images (issue 26 item 1): known answers. A map that copies the input ignores the
target and scores 0; a map that is the target's mask scores 1 (mass difference 1, pointing 1); the model-free
anchors score 0 by symmetry; the composites never overlap, are never cut and are the same bytes from the same
seed; a zoo without composites is refused in one line."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from tiny_zoo import add_masks_and_channel_weights, build_tiny_zoo

from dashboard.lenses import TABS
from s2s_core import results
from s2s_core.analysis.evaluate import run_evaluation
from s2s_core.cli import main
from s2s_core.data.composite import GAP, pairs_folder, pairs_index, second_masks_folder
from s2s_core.data.demo_data import write_split_to_folder
from s2s_core.data.masks import masks_folder
from s2s_core.demo.pairs import write_pairs
from s2s_core.demo.report import class_sensitivity_section
from s2s_core.errors import ConfigError
from s2s_core.lenses.base import Heatmap, Lens
from s2s_core.lenses.registry import LENSES


class CopyLens(Lens):
    """Class-conditional in name only: its map is the input's grey level, whatever the target."""

    key, title, summary, paper = "copy", "Copy", "the input", "(test)"
    class_conditional = True
    heatmaps = (Heatmap("copy", "the input's grey level"),)

    def heatmap(self, ctx, classifier, variant, target=None):
        return ctx.x.mean(dim=1) + 1e-3


class TargetMask(Lens):
    """The answer: the mask of the shape of the class asked about."""

    key, title, summary, paper = "target_mask", "Target mask", "the answer", "(test)"
    class_conditional = True
    heatmaps = (Heatmap("target_mask", "the target's mask"),)

    def heatmap(self, ctx, classifier, variant, target=None):
        batch = ctx.batch
        chosen = batch.masks if target is None else torch.where(
            (target == batch.y)[:, None, None, None], batch.masks, batch.second_masks)
        return (chosen[:, 0] >= 0.5).float()


def _png(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path))


@pytest.fixture(scope="module")
def split(tmp_path_factory) -> Path:
    return write_split_to_folder(tmp_path_factory.mktemp("split") / "test", "test", 30, seed=3, masks=True)


def test_composites_never_overlap_are_never_cut_and_are_deterministic(split: Path, tmp_path: Path) -> None:
    root, n = write_pairs(split, 40, seed=5)
    assert n == 40
    with open(pairs_index(root), newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == n and all(r["first"] != r["second"] and r["file"].startswith(r["first"] + "/") for r in rows)
    for r in rows:
        a = torch.from_numpy(_png(masks_folder(root) / r["file"]) > 0).float()
        b = torch.from_numpy(_png(second_masks_folder(root) / r["file"]) > 0)
        assert a.any() and b.any()
        near_a = F.max_pool2d(a[None, None], 2 * GAP + 1, stride=1, padding=GAP)[0, 0] > 0
        assert not (near_a & b).any()  # at least GAP pixels apart
        for m in (a.bool(), b):
            assert not (m[0].any() or m[-1].any() or m[:, 0].any() or m[:, -1].any())  # not cut by the frame
        image = _png(root / r["file"]).astype(int)
        source = _png(split / r["first_source"]).astype(int)
        keep = ~(near_a | b).numpy()
        assert np.array_equal(image[keep], source[keep])  # a's image is untouched away from b
    copy = tmp_path / "test"
    copy.mkdir()
    for folder in (split, masks_folder(split)):
        for file in folder.glob("*/*.png"):
            target = copy.with_name(folder.name) / file.relative_to(folder)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(file.read_bytes())
    again, _ = write_pairs(copy, 40, seed=5)
    for folder, other in ((root, again), (masks_folder(root), masks_folder(again)),
                          (second_masks_folder(root), second_masks_folder(again))):
        files = sorted(p.relative_to(folder) for p in folder.rglob("*.png"))
        assert files == sorted(p.relative_to(other) for p in other.rglob("*.png"))
        assert all((folder / p).read_bytes() == (other / p).read_bytes() for p in files)
    assert pairs_index(root).read_bytes() == pairs_index(again).read_bytes()
    third, _ = write_pairs(copy, 40, seed=6)
    assert pairs_index(third).read_bytes() != pairs_index(root).read_bytes()


@pytest.fixture(scope="module")
def zoo(tmp_path_factory) -> Path:
    path = add_masks_and_channel_weights(build_tiny_zoo(tmp_path_factory.mktemp("zoo") / "tiny", evaluate=False),
                                         lambda k: (slice(6 + 2 * (k % 4), 20 + 2 * (k % 4)), slice(8, 22)))
    write_pairs(path / "data" / "test", 12, seed=0)
    return path


def _table(zoo: Path) -> pd.DataFrame:
    run_evaluation(zoo, zoo / "data" / "test", device="cpu", show_progress=False, only=["class_sensitivity"])
    return results.read(zoo / "results", "class_sensitivity")


def test_a_copy_of_the_input_scores_zero_and_the_target_mask_one(zoo: Path, monkeypatch) -> None:
    monkeypatch.setitem(LENSES, "copy", CopyLens())
    monkeypatch.setitem(LENSES, "target_mask", TargetMask())
    table = _table(zoo)
    rows = table[table["subset"] == "all"].set_index(["heatmap", "classifier", "measure"])
    names = ["L", "A", "V"]
    for name in names:
        copy = rows.loc[("copy", name, "sensitivity")]
        assert copy["mean"] == 0 and copy["ci_low"] == 0 and copy["ci_high"] == 0
        assert copy["verdict"] == "ignores the class"
        for measure, expected in (("sensitivity", 1), ("mass_diff", 1), ("pointing", 1), ("pointing_other", 0)):
            row = rows.loc[("target_mask", name, measure)]
            assert row["mean"] == pytest.approx(expected) and row["n"] == 12
        assert rows.loc[("target_mask", name, "sensitivity"), "verdict"] == "follows the class"
        assert rows.loc[("target_mask", name, "mass_diff"), "verdict"] == "beats"
    anchors = table[table["model_free"].astype(bool) & (table["measure"] == "sensitivity")]
    assert set(anchors["heatmap"]) >= {"centre", "edges", "spectral", "border", "ae_control"}
    assert (anchors["mean"] == 0).all() and (anchors["verdict"] == "anchor").all()
    top2 = table[table["measure"] == "both_top2"].set_index("classifier")
    assert list(top2.index) == names and ((top2["ci_low"] <= top2["mean"]) & (top2["mean"] <= top2["ci_high"])).all()
    notes = table[table["measure"].isna() | (table["measure"] == "")].set_index("heatmap")["note"]
    assert {"ae_change", "ae_residual", "inversion_error"} <= set(notes.index)
    assert notes["ae_change"].startswith("not class-conditional") and notes["inversion_error"].startswith("not class")
    unfitted = notes[notes.index == "channels_guided"]  # W is fitted for the first classifier only
    assert len(unfitted) == len(names) - 1 and all("no W" in note for note in unfitted)
    text = "\n\n".join(class_sensitivity_section(table, names))
    assert "target's mask" in text and "follows the class" in text


def test_a_zoo_without_composites_is_refused_in_one_line(zoo: Path, tmp_path: Path, capsys) -> None:
    with pytest.raises(ConfigError, match="no two-shape composite set"):
        run_evaluation(zoo, zoo / "data" / "test", device="cpu", show_progress=False, only=["class_sensitivity"],
                       options={"sensitivity_pairs": str(tmp_path / "none")})
    assert main(["evaluate", str(zoo), "--data", str(zoo / "data" / "test"), "--only", "class_sensitivity",
                 "--sensitivity-pairs", str(tmp_path / "none")]) == 1
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip() and not line.startswith("evaluate:")]
    assert len(lines) == 1 and "s2s demo-pairs" in lines[0]
    assert pairs_folder(zoo / "data" / "test").is_dir()


def test_the_lenses_page_shows_the_table_once_the_zoo_has_it(zoo: Path, tmp_path: Path, monkeypatch) -> None:
    from streamlit.testing.v1 import AppTest

    _table(zoo)
    monkeypatch.setenv("S2S_ZOO", str(zoo))
    monkeypatch.setenv("S2S_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("S2S_THREADS", "1")
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"), default_timeout=180).run()
    at.session_state["inv_auto"] = False
    at.switch_page("pages/lenses.py").run()
    at.session_state["lens_tab"] = TABS[1]  # the test-set tab
    at.run()
    assert not at.exception, at.exception
    assert any("Class sensitivity" in h.value for h in at.header)
    assert any("Does the map follow the class" in f.proto.spec for f in at.get("plotly_chart"))
    assert any("both in i's top-2" in m.value for m in at.markdown)
