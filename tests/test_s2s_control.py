"""The S2S control (issue 26 item 3): random copies of a classifier, controls in the zoo format, and the analysis
that sets each A_i beside its control (a control equal to A_i ties on every measure)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from tiny_zoo import add_masks_and_channel_weights, build_tiny_zoo

from dashboard.lenses import TABS
from s2s_core import checkpoints as ck
from s2s_core.analysis.evaluate import run_evaluation
from s2s_core.demo.controls import random_copy
from s2s_core.errors import CheckpointError
from s2s_core.models.classifiers import Classifier
from s2s_core.zoo import Zoo


def test_a_random_copy_is_random_seeded_and_leaves_the_classifier_alone() -> None:
    clf = Classifier.from_name("lenet5_demo").eval()
    before = {k: v.clone() for k, v in clf.state_dict().items()}
    a, b, c = random_copy(clf, 1), random_copy(clf, 1), random_copy(clf, 2)
    assert all(torch.equal(before[k], v) for k, v in clf.state_dict().items())
    weights = [k for k, v in before.items() if v.dtype.is_floating_point and v.dim() > 1]
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in weights)
    assert not any(torch.equal(a.state_dict()[k], before[k]) for k in weights)
    assert not torch.equal(a.state_dict()[weights[0]], c.state_dict()[weights[0]])


@pytest.fixture(scope="module")
def zoo(tmp_path_factory) -> Path:
    """The tiny zoo with two controls: L's a decoder of its own, A's an exact copy of A_A's decoder."""
    path = add_masks_and_channel_weights(build_tiny_zoo(tmp_path_factory.mktemp("ctl") / "tiny", evaluate=False),
                                         lambda k: (slice(8 + k, 40 + k), slice(10, 30 + 2 * k)))
    loaded = Zoo.load(path)
    for name, source in (("L", "V"), ("A", "A")):  # L's control: V's decoder (a different one); A's: its own
        ae = ck.load_ae(path / "base")
        ae.decoder.load_state_dict(loaded.decoders[source].state_dict())
        ck.save_finetuned(path / "controls" / name, ae, path / "base", name, meta={"control": "test"})
    raw = json.loads((path / "zoo.json").read_text())
    raw["controls"] = {"L": "controls/L", "A": "controls/A"}
    (path / "zoo.json").write_text(json.dumps(raw))
    return path


def test_controls_load_with_the_zoo_and_a_stray_one_is_refused(zoo: Path, tmp_path: Path) -> None:
    loaded = Zoo.load(zoo)
    assert sorted(loaded.controls) == ["A", "L"] and sorted(loaded.decoders) == ["A", "L", "V"]
    raw = json.loads((zoo / "zoo.json").read_text())
    raw["controls"]["X"] = "controls/L"
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "zoo.json").write_text(json.dumps(raw))
    with pytest.raises(CheckpointError, match=r"controls \['X'\] have no fine-tuned AE"):
        Zoo.load(bad)


def test_each_a_i_beside_its_control_on_the_same_images(zoo: Path, monkeypatch) -> None:
    from s2s_core.models.segnet import SegNet

    passes = []
    encode = SegNet.encode
    monkeypatch.setattr(SegNet, "encode", lambda self, x: passes.append(len(x)) or encode(self, x))
    result, _ = run_evaluation(zoo, zoo / "data" / "test", batch_size=4, device="cpu", show_progress=False,
                               only=["accuracy", "s2s_control"])
    assert passes == [4, 4, 1]  # one encoder pass per batch: the controls decode the batch's own code
    table = result.tables["s2s_control"].set_index(["classifier", "measure"])
    assert set(table.index.get_level_values(0)) == {"L", "A"}  # V has no control: no rows
    assert set(table.index.get_level_values(1)) == {"change", "top1_by_i", "psnr", "auc"}
    a = table.loc["A"]
    assert (a["diff"].abs() < 1e-9).all() and (a["verdict"] == "tie").all()  # a control equal to A_i
    assert (a["a_i"] - a["control"]).abs().max() < 1e-9 and (a["n"] == 9).all()
    acc = result.tables["accuracy"].set_index(["classifier", "input"])["top1"]
    assert table.loc[("A", "top1_by_i"), "a_i"] == pytest.approx(acc[("A", "A_A")])
    assert table.loc[("A", "top1_by_i"), "a_s"] == pytest.approx(acc[("A", "A_S")])
    change = table.loc[("L", "change")]
    assert change["a_i"] > 0 and change["control"] > 0 and change["a_i"] != change["control"]
    assert change["ci_low"] <= change["diff"] <= change["ci_high"]


def test_no_controls_no_table(tmp_path: Path) -> None:
    path = build_tiny_zoo(tmp_path / "tiny", evaluate=False, images_per_class=1)
    result, _ = run_evaluation(path, path / "data" / "test", batch_size=4, device="cpu", show_progress=False,
                               only=["s2s_control"])
    assert "s2s_control" not in result.tables


def test_the_s2s_lens_shows_the_control_beside_a_i(zoo: Path) -> None:
    from s2s_core.lenses.registry import LENSES

    loaded = Zoo.load(zoo)
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    view = LENSES["s2s"].view(loaded, x, ["L", "V"])
    captions = {c.classifier: [t.caption for t in c.tiles] for c in view.columns}
    assert "control: A_S tuned through a random L" in captions["L"] and "|control(x) − A_S(x)|" in captions["L"]
    assert not any("control" in c for c in captions["V"])  # V has no control in this zoo
    assert set(view.heatmaps["L"]) == {"ae_change", "ae_residual"}  # the control is shown, not scored as S2S
    calls = []
    encode = loaded.base.encode
    loaded.base.encode = lambda x: calls.append(1) or encode(x)
    LENSES["s2s"].view(loaded, x, ["L", "A", "V"])
    assert len(calls) == 1  # one encoder pass feeds A_S, every A_i and every control


def test_named_without_controls_the_cli_says_what_is_missing(tmp_path: Path, capsys) -> None:
    from s2s_core.cli import main

    path = build_tiny_zoo(tmp_path / "tiny", evaluate=False, images_per_class=1)
    assert main(["evaluate", str(path), "--data", str(path / "data" / "test"), "--only", "accuracy,s2s_control",
                 "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "Nothing written for s2s_control: it needs controls in the zoo (s2s demo-controls)." in out
    assert not (path / "results" / "s2s_control.csv").exists()


def test_the_lenses_page_shows_the_control(zoo: Path, tmp_path: Path, monkeypatch) -> None:
    from streamlit.testing.v1 import AppTest

    from s2s_core import results

    result, _ = run_evaluation(zoo, zoo / "data" / "test", batch_size=8, device="cpu", show_progress=False,
                               only=["s2s_control"])
    results.write(zoo / "results", result.tables)
    monkeypatch.setenv("S2S_ZOO", str(zoo))
    monkeypatch.setenv("S2S_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("S2S_THREADS", "1")
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"), default_timeout=180).run()
    at.switch_page("pages/lenses.py").run()
    assert not at.exception, at.exception
    captions = "\n".join(str(e.proto) for e in at.get("image"))
    assert "control: A_S tuned through a random L" in captions
    at.session_state["lens_tab"] = TABS[1]  # the account is in the test-set tab
    at.run()
    assert not at.exception, at.exception
    assert "S2S against its control: the classifier's doing, or the fine-tuning's?" in [h.value for h in at.header]
    text = "\n".join(str(m.value) for m in at.markdown)
    assert "i reads its own A_i(x) against the control's reconstruction" in text
