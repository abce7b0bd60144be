"""The Per image page under AppTest (issue 26 item 4): the test images sorted worst first by any per-image score,
thumbnails, a CSV, and Open shows the image in the Lenses view, also one the Lenses gallery does not list."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from tiny_zoo import add_masks_and_channel_weights, build_tiny_zoo

from s2s_core import results
from s2s_core.analysis.evaluate import run_evaluation
from s2s_core.analysis.per_image_table import as_read

APP = str(Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture(scope="module")
def zoo(tmp_path_factory) -> Path:
    """Five images per class: the Lenses gallery lists four, so the fifth can only be opened from here."""
    path = add_masks_and_channel_weights(build_tiny_zoo(tmp_path_factory.mktemp("per") / "tiny", images_per_class=5,
                                                        evaluate=False),
                                         lambda k: (slice(8 + k % 4, 40 + k % 4), slice(10, 30 + 2 * (k % 4))))
    result, _ = run_evaluation(path, path / "data" / "test", batch_size=8, device="cpu", show_progress=False,
                               only=["ground_truth", "per_image"])
    results.write(path / "results", result.tables)
    return path


def _per_image_page(zoo: Path, tmp_path: Path, monkeypatch) -> AppTest:
    monkeypatch.setenv("S2S_ZOO", str(zoo))
    monkeypatch.setenv("S2S_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("S2S_THREADS", "1")
    at = AppTest.from_file(APP, default_timeout=180).run()
    at.switch_page("pages/per_image.py").run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def page(zoo: Path, tmp_path: Path, monkeypatch) -> AppTest:
    return _per_image_page(zoo, tmp_path, monkeypatch)


def test_images_are_sorted_worst_first_by_the_chosen_score(page: AppTest, zoo: Path) -> None:
    box = page.selectbox(key="per_image_measure")
    labels = [o for o in box.options]
    assert labels[0] == "pixel AUC of |A_i(x) − A_S(x)|"  # a lens first, the maps that read no classifier last
    assert labels[-1].endswith("(reads no classifier)") and "pixel AUC of random map (uniform noise) (reads no " \
        "classifier)" in labels
    assert "nMI(x, A_i(x))" in labels and "A_i changes i's answer" in labels
    assert "pixel AUC of gradient of the class score" in labels
    box.select_index(labels.index("pixel AUC of gradient of the class score")).run()
    clf = page.selectbox(key="per_image_clf")
    assert clf.options == ["L", "A", "V"]
    clf.select_index(1).run()
    table = page.dataframe[0].value
    per = as_read(results.read(zoo / "results", "per_image"))
    mine = per[(per["measure"] == "auc") & (per["heatmap"] == "gradient") & (per["classifier"] == "A")]
    assert list(table["value"]) == sorted(mine["value"])  # the lowest AUC first
    beside = [m.value for m in page.markdown if "chance (a random map)" in m.value]
    assert len(beside) == 1 and "the best map that reads no classifier on the same images" in beside[0]
    assert len(page.get("image")) == len(table) and any(b.label == "Open" for b in page.button)
    assert [b.proto.label.split()[-1] for b in page.get("download_button")] == ["CSV"]
    model_free = next(o for o in labels if o.startswith("pixel AUC of colour distance"))
    page.selectbox(key="per_image_measure").select_index(labels.index(model_free)).run()
    assert page.selectbox(key="per_image_clf").options == ["reads no classifier"]
    assert not page.exception


def test_open_shows_the_image_in_the_lenses_view_even_beyond_its_gallery(page: AppTest, zoo: Path) -> None:
    box = page.selectbox(key="per_image_measure")
    box.select_index(box.options.index("nMI(x, A_i(x))")).run()
    page.number_input(key="per_image_n").set_value(16).run()
    table = page.dataframe[0].value
    fifth = table[table["file"].str.endswith("_4.png")].iloc[0]  # the fifth image of its class
    page.button(key=f"per_image_open_{fifth['item']}").click().run()
    assert not page.exception, page.exception
    assert page.session_state["lens_pick"] == f"{fifth['label']} / {Path(fifth['file']).name}"
    assert any(h.value == "S2S" for h in page.header)  # the Lenses page, on that image


def test_open_finds_the_right_image_when_file_names_repeat_across_classes(zoo: Path, tmp_path: Path,
                                                                         monkeypatch) -> None:
    """Data not made like the demo's: every class folder holds img_0.png ... img_4.png."""
    import shutil

    from s2s_core.data.masks import masks_folder

    path = tmp_path / "repeated"
    shutil.copytree(zoo, path)
    shutil.rmtree(path / "results")
    test = path / "data" / "test"
    for folder in (test, masks_folder(test)):
        for cls in sorted(p for p in folder.iterdir() if p.is_dir()):
            for k, f in enumerate(sorted(cls.glob("*.png"))):
                f.rename(cls / f"img_{k}.png")
    result, _ = run_evaluation(path, test, batch_size=8, device="cpu", show_progress=False,
                               only=["ground_truth", "per_image"])
    results.write(path / "results", result.tables)
    at = _per_image_page(path, tmp_path, monkeypatch)
    at.number_input(key="per_image_n").set_value(16).run()
    table = at.dataframe[0].value
    assert table["file"].map(lambda f: Path(f).name).duplicated().any()  # the same names in several classes
    row = table[table["file"].map(lambda f: Path(f).name) == "img_4.png"].iloc[-1]
    at.button(key=f"per_image_open_{row['item']}").click().run()
    assert not at.exception, at.exception
    assert at.session_state["lens_pick"] == f"{row['label']} / img_4.png"
    text = "\n".join(c.value for c in at.caption)
    assert f"test image ({row['label']})" in text  # that class's img_4.png, not another class's
