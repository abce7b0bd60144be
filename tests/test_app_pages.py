"""Every dashboard page under Streamlit's AppTest, against the tiny zoo (tests/tiny_zoo.py) via S2S_ZOO."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest
from tiny_zoo import build_tiny_zoo

APP = str(Path(__file__).resolve().parents[1] / "app.py")
TIMEOUT = 60


def run_page(page: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    if page:
        at.switch_page(f"pages/{page}.py").run()
        assert not at.exception, at.exception
    return at


def png_bytes(size: int = 100) -> bytes:
    rng = np.random.default_rng(1)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (size, size + 20, 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def texts(at: AppTest) -> str:
    return "\n".join(str(m.value) for m in [*at.markdown, *at.caption, *at.info, *at.error, *at.title, *at.header,
                                              *at.subheader])


def test_overview_warns_about_random_classifier_weights(tiny_zoo: Path, tmp_path: Path, monkeypatch) -> None:
    import json
    import shutil

    zoo = tmp_path / "tiny"
    shutil.copytree(tiny_zoo, zoo)
    manifest = json.loads((zoo / "classifiers" / "L" / "manifest.json").read_text())
    manifest.pop("weights_origin", None)  # as an older s2s wrote it: only random_init says so
    (zoo / "classifiers" / "L" / "manifest.json").write_text(json.dumps({**manifest, "random_init": True}))
    monkeypatch.setenv("S2S_ZOO", str(zoo))
    monkeypatch.setenv("S2S_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("S2S_THREADS", "1")
    at = run_page()
    assert [w.value for w in at.warning if "randomly initialised" in w.value] == [
        "Classifier L has randomly initialised weights (fine-tuned with classifier_weights: none): its accuracies "
        "and A_L describe a network that was never trained."]


def lattice_spec(at: AppTest) -> str:
    """The JSON of the Signal order page's lattice figure (Fig. 7)."""
    return next(c.proto.spec for c in at.get("plotly_chart") if "in extent" in c.proto.spec)


def test_overview(app_env: Path) -> None:
    at = run_page()
    assert at.sidebar.selectbox(key="zoo").value == str(app_env.resolve())
    dots = [g.proto.spec for g in at.get("graphviz_chart")]
    assert any("encoder" in d and "frozen" in d and "gradient" in d for d in dots)
    assert "Zoo “tiny”" in texts(at)
    frames = [df.value for df in at.dataframe]
    assert any("family" in f.columns and "parameters" in f.columns for f in frames)
    table1 = next(f for f in frames if "diff top-1" in f.columns)
    assert list(table1["network"][:3]) == ["L", "L∘A_S", "L∘A_L"]
    assert len(at.get("download_button")) >= 2


def test_missing_results_and_bad_zoo(app_env: Path, tmp_path: Path, monkeypatch) -> None:
    bare = tmp_path / "bare"
    build_tiny_zoo(bare, images_per_class=1, evaluate=False)
    monkeypatch.setenv("S2S_ZOO", str(bare))
    at = run_page()
    assert "s2s evaluate" in texts(at)
    for page in ("noise", "information", "signal_order", "patterns"):
        at.switch_page(f"pages/{page}.py").run()
        assert not at.exception
    monkeypatch.setenv("S2S_ZOO", str(tmp_path / "nowhere"))
    at = run_page()
    assert any("not a zoo" in e.value for e in at.error)


def test_no_zoo_message(app_env: Path, tmp_path: Path, monkeypatch) -> None:
    import streamlit as st


    monkeypatch.delenv("S2S_ZOO")
    monkeypatch.setenv("S2S_CHECKPOINTS_DIR", str(tmp_path / "empty"))
    st.cache_data.clear()
    try:
        at = run_page()
        assert any("no zoo found: build one with `s2s demo`" in i.value for i in at.info)
        at.switch_page("pages/signal_order.py").run()  # works without a zoo, on the paper's table
        assert not at.exception and lattice_spec(at)
    finally:
        st.cache_data.clear()


def test_reconstructions(app_env: Path) -> None:
    at = run_page("reconstructions")
    pick = at.selectbox(key="recon_pick")
    assert pick.value.startswith("circle")
    assert len(at.get("image")) > 10  # thumbnails + one stacked image / zoom / difference picture per view
    table = next(df.value for df in at.dataframe if "A_S" in df.value.columns)
    assert list(table.columns) == ["original", "A_S", "A_L", "A_A", "A_V"] and list(table.index) == ["L", "A", "V"]
    assert len(at.get("plotly_chart")) == 1  # the L*a*b* histograms
    square = next(b for b in at.button if b.label == "square")
    square.click().run()
    assert not at.exception and at.selectbox(key="recon_pick").value.startswith("square")
    at.slider(key="recon_zx").set_value(10).run()
    at.select_slider(key="recon_zf").set_value(8).run()
    assert not at.exception
    assert any("zoom ×8" in str(img.proto) for img in at.get("image"))


def test_upload_panel_and_bad_files(app_env: Path) -> None:
    at = run_page("upload")
    assert any("No image yet" in i.value for i in at.info)
    at.file_uploader(key="upload_image").set_value(("photo.png", png_bytes(), "image/png")).run()
    assert not at.exception and not at.error
    assert any("A_V" in df.value.columns for df in at.dataframe)
    assert len(at.get("plotly_chart")) == 1
    at.file_uploader(key="upload_image").set_value(("notes.txt", b"this is not an image", "text/plain")).run()
    assert not at.exception
    assert any(e.value.startswith("notes.txt is not an image file") for e in at.error)
    truncated = png_bytes()[:300]
    at.file_uploader(key="upload_image").set_value(("cut.png", truncated, "image/png")).run()
    assert not at.exception and any("truncated" in e.value for e in at.error)
    huge = io.BytesIO()
    Image.new("1", (9000, 8000)).save(huge, format="PNG")  # 72 megapixels, a few KiB on disk
    at.file_uploader(key="upload_image").set_value(("huge.png", huge.getvalue(), "image/png")).run()
    assert not at.exception and any("megapixel limit" in e.value for e in at.error)
    at.file_uploader(key="upload_image").set_value(("photo.png", png_bytes(), "image/png")).run()
    assert not at.exception and not at.error  # and the app keeps working after the errors


def test_noise(app_env: Path) -> None:
    at = run_page("noise")
    assert "Fig. 4 stated." in texts(at) and "chance is 10 %" in texts(at)
    claims = next(df.value for df in at.dataframe if "acc(i∘A_i) > acc(i)" in df.value.columns)
    assert set(claims["classifier"]) == {"L", "A", "V"} and set(claims["s"]) == {0.5, 1.0}
    first = next(df.value for df in at.dataframe if "A_S" in df.value.columns)
    lab_before = at.get("plotly_chart")[0].proto.spec
    assert "x + U(−0.2, 0.2)" in texts(at)
    at.slider(key="noise_s").set_value(1.0).run()
    assert not at.exception
    charts = at.get("plotly_chart")
    assert len(charts) == 2 and "noise strength s" in charts[1].proto.spec
    assert "x + U(−1, 1)" in texts(at)
    # the L*a*b* histograms are those of the new, noisier input and its reconstructions
    assert "L*a*b* histograms" in charts[0].proto.spec and charts[0].proto.spec != lab_before
    second = next(df.value for df in at.dataframe if "A_S" in df.value.columns)
    assert list(first.columns) == list(second.columns) and list(first.index) == list(second.index)


def test_signal_order(app_env: Path) -> None:
    at = run_page("signal_order")
    # The tiny zoo's random classifiers get acc(i∘A_i) = 0, which RRC cannot divide by: a plain message.
    assert at.radio(key="so_source").value == "zoo"
    assert any("diagonal" in e.value for e in at.error)
    next(b for b in at.button if b.key == "load_paper").click().run()
    assert not at.exception and at.radio(key="so_source").value == "paper"
    fig_05 = lattice_spec(at)
    assert "A_V" in fig_05 and "Every threshold t in" in texts(at)
    bars = next(c.proto.spec for c in at.get("plotly_chart") if "sorted by RRC" in c.proto.spec)
    assert '"same lattice"' in bars  # the threshold interval as a band
    at.slider(key="threshold").set_value(0.97).run()
    fig_097 = lattice_spec(at)
    assert fig_097 != fig_05 and "0.97" in texts(at)
    assert len(at.get("plotly_chart")) == 3  # Table 2, Fig. 6, Fig. 7
    bad = b",L,A\nA_L,0.5,x\nA_A,0.2,0.6\n"
    at.file_uploader(key="cross_csv").set_value(("bad.csv", bad, "text/csv")).run()
    assert not at.exception
    assert any("row 'A_L', column 'A'" in e.value and "not a number" in e.value for e in at.error)
    good = b",L,A\nA_L,0.5,0.4\nA_A,0.2,0.6\n"
    at.file_uploader(key="cross_csv").set_value(("good.csv", good, "text/csv")).run()
    assert not at.exception and not at.error and "A_A" in lattice_spec(at)


def test_information_and_jobs(app_env: Path) -> None:
    at = run_page("information")
    assert len(at.get("plotly_chart")) == 1
    assert "chance" in at.get("plotly_chart")[0].proto.spec
    table = next(df.value for df in at.dataframe)
    assert {"intra mean", "inter std", "intra − chance", "chance mean"} <= set(table.columns) and "A_S" in table.index
    shown = texts(at)
    assert "Chance level (32 grey levels (bins of 8), Miller-Madow bias-corrected)" in shown
    assert "random pairs of unrelated original test images score" in shown and "Intra nMI(x, A(x))" in shown
    at.switch_page("pages/jobs.py").run()
    assert not at.exception
    assert any("No jobs yet" in i.value or "job list" in i.value for i in at.info)


def test_downloads_fall_back_without_kaleido_browser_or_dot(app_env: Path, monkeypatch) -> None:
    import streamlit as st

    from dashboard import downloads

    monkeypatch.setattr(downloads.shutil, "which", lambda name: None)  # no chromium, no Graphviz `dot`
    st.cache_data.clear()
    try:
        at = run_page("signal_order")
        next(b for b in at.button if b.key == "load_paper").click().run()
        keys = {b.key for b in at.get("download_button")}
        assert {"heat_fig_html", "bars_fig_html", "lattice_dl_dot"} <= keys
        assert not {"heat_fig_svg", "lattice_dl_svg"} & keys
        assert any("offered as interactive HTML" in c.value for c in at.caption)
    finally:
        st.cache_data.clear()


def test_jobs_page_lists_jobs_read_only(app_env: Path, tmp_path: Path) -> None:
    from s2s_core.jobs import store
    db = store.JobStore(tmp_path / "runs" / store.DB_NAME)
    job_id = db.insert("evaluate", {"zoo": "checkpoints/demo"}, "cpu")
    at = run_page("jobs")
    frame = at.dataframe[0].value
    assert list(frame["id"]) == [job_id] and list(frame["state"]) == ["queued"]  # listed, not started
    assert db.get(job_id).state == "queued"


def test_overview_shows_the_provenance_of_a_reproduced_zoo(app_env: Path, tmp_path: Path, monkeypatch) -> None:
    import shutil

    from s2s_core.provenance import write_provenance

    zoo = tmp_path / "reproduced"
    shutil.copytree(app_env, zoo)
    record = {"stage": "pretrain", "command": ["s2s", "pretrain", "--steps", "2"], "config": {"steps": 2},
              "started": "2026-11-29T10:00:00+00:00", "finished": "2026-11-29T10:05:00+00:00", "seconds": 300.0,
              "code_version": "0.1.0", "git_commit": "0123456789abcdef", "inputs": {},
              "output": {"path": str(zoo / "base"), "hash": "unit:" + "ab" * 32}, "runtime": {"device": "cpu"},
              "fingerprint": "f" * 64}
    write_provenance(zoo, plan="/plans/paper.yaml", name="paper", records=[record])
    monkeypatch.setenv("S2S_ZOO", str(zoo))
    at = run_page()
    assert "Provenance: how this zoo was built" in texts(at)
    prov = next(df.value for df in at.dataframe if "stage" in df.value.columns and "command" in df.value.columns)
    assert prov["stage"].tolist() == ["pretrain"] and prov["command"][0] == "s2s pretrain --steps 2"
    assert prov["code"][0] == "0.1.0 (0123456789)" and prov["seconds"][0] == 300.0


def test_patterns_page_shows_three_images_per_ae(app_env: Path) -> None:
    at = run_page("patterns")
    assert len(at.get("image")) == 3 * 4  # mean, spectrum, std for A_S, A_L, A_A, A_V
    assert "of that part's power at the un-pooling period 2" in texts(at)
    table = next(df.value for df in at.dataframe)
    assert {"cast_r", "peak_ratio"} <= set(table.columns) and list(table.index) == ["A_S", "A_L", "A_A", "A_V"]
    assert len(at.get("download_button")) == 2 + 3 * 4


def test_signal_order_restricted_to_classes(app_env: Path, tmp_path: Path, monkeypatch) -> None:
    """A per-class table with known counts: Table 2 of the chosen classes is pooled from them."""
    import shutil

    import pandas as pd

    from s2s_core import results

    zoo = tmp_path / "zoo"
    shutil.copytree(app_env, zoo)
    rows = []
    hits = {"circle": {"A_L": (4, 2), "A_A": (3, 3)}, "square": {"A_L": (1, 1), "A_A": (2, 4)}}  # (L, A) hits of 5
    for cls, label in (("circle", 0), ("square", 1)):
        for j, k in (("L", 0), ("A", 1)):
            rows.append((j, "original", label, cls, 5, 5, 5, 1.0, 1.0))
            for ae in ("A_L", "A_A"):
                h = hits[cls][ae][k]
                rows.append((j, ae, label, cls, 5, h, 5, h / 5, 1.0))
    results.write(zoo / "results", {"per_class": pd.DataFrame(rows, columns=results.PER_CLASS_COLUMNS),
                                    "cross_accuracy": pd.DataFrame([[0.5, 0.3], [0.5, 0.7]], columns=["L", "A"],
                                                                   index=pd.Index(["A_L", "A_A"], name="ae"))})
    monkeypatch.setenv("S2S_ZOO", str(zoo))
    at = run_page("signal_order")
    assert not at.error
    at.multiselect(key="so_classes").set_value(["square"]).run()
    assert not at.exception and not at.error
    rrc = next(df.value for df in at.dataframe if list(df.value.columns) == ["L", "A"])
    # square only: acc(L∘A_L) = 1/5, acc(A∘A_A) = 4/5, acc(A∘A_L) = 1/5, acc(L∘A_A) = 2/5
    assert rrc.loc["A_L", "A"] == pytest.approx(0.2 / 0.2) and rrc.loc["A_A", "L"] == pytest.approx(0.4 / 0.2)
    assert "1 of 2 classes (5 images: square)" in texts(at)
