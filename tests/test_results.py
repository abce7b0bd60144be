"""The results owner (s2s_core.results): names, round trips, schema version, and one clear line for bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from s2s_core import results
from s2s_core.errors import ConfigError, InputTableError

ACC = pd.DataFrame({"classifier": ["L", "L"], "input": ["original", "A_S"], "top1": [0.5, 0.25],
                    "top5": [1.0, 0.75]})
CROSS = pd.DataFrame([[0.5, 0.125], [0.25, 0.75]], index=pd.Index(["A_L", "A_A"], name="ae"), columns=["L", "A"])


def test_every_table_has_a_file_and_columns() -> None:
    assert list(results.RESULT_FILES)[:6] == ["accuracy", "cross_accuracy", "noise", "nmi", "lab_histograms",
                                              "recon_quality"]
    assert [s.filename for s in results.RESULT_FILES.values()] == [
        "accuracy.csv", "cross_accuracy.csv", "noise.csv", "nmi.csv", "lab_histograms.csv", "recon_quality.csv",
        "nmi_pairs.csv", "nmi_differences.csv", "per_class.csv", "preprocessing.csv", "ae_patterns.csv",
        "ae_patterns.safetensors", "ground_truth.csv", "ground_truth_baselines.csv", "channel_zeroing.csv", "inversion.csv",
        "s2s_control.csv", "per_image.csv", "randomisation.csv", "class_sensitivity.csv", "adversarial.csv",
        "adversarial_transfer.csv", "gradient_structure.csv"]
    assert results.spec("nmi").columns[:4] == ("ae", "kind", "estimator", "levels")
    assert "chance_mean" in results.spec("nmi").columns and results.spec("ae_pattern_images").kind == "arrays"
    with pytest.raises(ConfigError, match="unknown results table 'acc'"):
        results.spec("acc")


def test_round_trip_and_the_bytes_on_disk(tmp_path: Path) -> None:
    paths = results.write(tmp_path, {"accuracy": ACC, "cross_accuracy": CROSS})
    assert paths == {"accuracy": tmp_path / "accuracy.csv", "cross_accuracy": tmp_path / "cross_accuracy.csv"}
    assert (tmp_path / "accuracy.csv").read_text() == (
        "classifier,input,top1,top5\nL,original,0.500000,1.000000\nL,A_S,0.250000,0.750000\n")
    assert (tmp_path / "cross_accuracy.csv").read_text() == "ae,L,A\nA_L,0.500000,0.125000\nA_A,0.250000,0.750000\n"
    pd.testing.assert_frame_equal(results.read(tmp_path, "accuracy"), ACC)
    pd.testing.assert_frame_equal(results.read(tmp_path, "cross_accuracy"), CROSS)
    schema = json.loads((tmp_path / "schema.json").read_text())
    assert schema == {"format": "s2s-results", "version": results.SCHEMA_VERSION,
                      "files": {"accuracy.csv": "accuracy", "cross_accuracy.csv": "cross_accuracy"}, "sources": {}}
    assert not list(tmp_path.glob("*.tmp"))
    results.write(tmp_path, {"accuracy": ACC})  # a second, partial write keeps the other table
    assert set(results.read_all(tmp_path)) == {"accuracy", "cross_accuracy"}


def test_a_folder_without_schema_predates_versioning_and_reads_as_version_1(tmp_path: Path) -> None:
    ACC.to_csv(tmp_path / "accuracy.csv", index=False)
    pd.testing.assert_frame_equal(results.read(tmp_path, "accuracy"), ACC)


def _one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


def test_another_schema_version_is_one_clear_line(tmp_path: Path) -> None:
    results.write(tmp_path, {"accuracy": ACC})
    (tmp_path / "schema.json").write_text(json.dumps({"format": "s2s-results", "version": 99, "files": {}}))
    with pytest.raises(InputTableError) as exc:
        results.read(tmp_path, "accuracy")
    assert _one_line(exc) == (f"{tmp_path / 'accuracy.csv'} was written with results schema version 99, but this "
                              "s2s reads version 1: re-run `s2s evaluate` on the zoo")


@pytest.mark.parametrize(("text", "message"), [
    ("classifier,input,top1\nL,original,0.5\n", "lacks column(s) top5"),
    ("classifier,input,top1,top5\n", "has no rows"),
    ("classifier,input,top1,top5\nL,original,high,0.5\n", "column(s) top1 hold values that are not numbers"),
])
def test_a_table_of_the_wrong_shape_is_one_clear_line(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "accuracy.csv").write_text(text)
    with pytest.raises(InputTableError, match="re-run `s2s evaluate`") as exc:
        results.read(tmp_path, "accuracy")
    assert message in _one_line(exc)


def test_missing_file_and_writing_a_bad_frame(tmp_path: Path) -> None:
    with pytest.raises(InputTableError, match="does not exist: run `s2s evaluate`"):
        results.read(tmp_path, "noise")
    with pytest.raises(InputTableError, match="lacks column"):
        results.write(tmp_path, {"noise": ACC})
    assert not (tmp_path / "noise.csv").exists()


def test_registering_a_new_table(monkeypatch) -> None:
    monkeypatch.setattr(results, "RESULT_FILES", dict(results.RESULT_FILES))
    spec = results.register(results.ResultFile("ae_quality", "ae_quality.csv", ("ae", "psnr"), ("psnr",), "test"))
    assert results.spec("ae_quality") is spec
    with pytest.raises(ConfigError, match="already belongs"):
        results.register(results.ResultFile("other", "ae_quality.csv", ("x",), (), "clash"))


def test_sources_record_the_data_and_groups_say_when_tables_mix(tmp_path: Path) -> None:
    full = results.DataRecord("data/test", 4, results.files_digest(["b/2.png", "a/1.png", "a/2.png", "b/1.png"]),
                              "0.1.0", None)
    assert full.files_sha256 == results.files_digest(["a/1.png", "a/2.png", "b/1.png", "b/2.png"])  # order-free
    results.write(tmp_path, {"accuracy": ACC, "cross_accuracy": CROSS}, full)
    assert results.sources(tmp_path) == {"accuracy": full, "cross_accuracy": full}
    assert results.common_source(tmp_path) == full and results.mixed_data_message(tmp_path) is None
    subset = results.DataRecord("subset", 2, results.files_digest(["a/1.png", "b/1.png"]), "0.1.0", "abc")
    results.write(tmp_path, {"accuracy": ACC}, subset)
    message = results.mixed_data_message(tmp_path)
    assert "accuracy.csv from 2 images of subset" in message and "cross_accuracy.csv from 4 images of data/test" in message
    assert results.common_source(tmp_path) is None
    assert results.mixed_data_message(tmp_path, ["cross_accuracy"]) is None
    results.write(tmp_path, {"accuracy": ACC})  # a writer that does not say: the old record is not kept
    assert results.sources(tmp_path)["accuracy"] is None
    assert "unrecorded data" in results.mixed_data_message(tmp_path)


def test_a_table_made_on_a_sample_says_how_many_images_of_the_split_it_used() -> None:
    demo = Path(__file__).resolve().parents[1] / "checkpoints" / "demo" / "results"  # the shipped zoo's tables
    assert results.images_used(demo, ["randomisation"]) == 100  # the randomisation check: 10 per class
    assert results.images_used(demo, ["adversarial", "adversarial_transfer"]) == 200
    assert results.images_used(demo, ["inversion"]) == 50
    # a table over the whole split beside them: its record's count holds (per_class's n counts a class's images)
    assert results.images_used(demo, ["cross_accuracy", "per_class"]) is None
    assert results.images_used(demo, ["ground_truth", "inversion"]) is None
    assert results.images_used(demo, ["no_such_table"]) is None
    rec = results.DataRecord(folder="data/test", n=500, files_sha256="3fa2c1d0" * 8)
    assert rec.describe() == rec.describe(500) == "500 images of data/test (files 3fa2c1d0)"
    assert rec.describe(100) == "100 of the 500 images of data/test (files 3fa2c1d0)"
