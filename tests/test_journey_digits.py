"""A new user's own data, end to end, following the README's commands (issue 23): scikit-learn's digits at
32 px (file names repeated in every class folder, folders not in label order), LeNet-5 trained here with
``s2s train-classifier``, a 3-stage A_S, one and two classifiers, every page opened with AppTest.

What must hold on data the demo generator did not make:
- Table 1's baseline of a unit trained here is its accuracy under its own recorded protocol;
- the unit is labelled as trained here, with no published accuracy;
- tables from a subset evaluation never mix silently with the rest;
- every page opens, the Reconstructions page included (repeated file names);
- the report reads right for one classifier.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch
from own_data import digits_tree
from streamlit.testing.v1 import AppTest

from s2s_core import results
from s2s_core.checkpoints import load_classifier, read_manifest
from s2s_core.cli import main
from s2s_core.data.datasets import LabelledImageFolder
from s2s_core.demo.report import report
from s2s_core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
PAGES = ["overview", "reconstructions", "upload", "noise", "signal_order", "compare", "information", "patterns",
         "lenses", "jobs"]
COMMON = ["--threads", "1", "--device", "cpu", "--no-progress-bar"]


def _train(data: dict[str, Path], out: Path, seed: int) -> Path:
    assert main(["train-classifier", "--arch", "lenet5", "--size", "32", "--data", str(data["train"]),
                 "--val", str(data["val"]), "--epochs", "6", "--batch-size", "32", "--seed", str(seed),
                 "--preset", "small", "--out", str(out), *COMMON]) == 0
    return out / "model"


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> dict[str, Path]:
    """Two classifiers trained here, a 3-stage A_S at 32 px, A_L and A_M, a one- and a two-classifier zoo,
    both evaluated on the test split (recorded with ``zoo create --test``)."""
    tmp = tmp_path_factory.mktemp("digits")
    data = digits_tree(tmp / "digits", per_class={"train": 50, "val": 10, "test": 12})
    units = {"L": _train(data, tmp / "clf-L", seed=0), "M": _train(data, tmp / "clf-M", seed=1)}
    assert main(["pretrain", "--data", str(data["train"]), "--out", str(tmp / "pre"), "--steps", "30",
                 "--batch-size", "16", "--size", "32", "--widths", "8,16,32", "--depths", "1,1,1", *COMMON]) == 0
    base = tmp / "pre" / "model"
    for key, unit in units.items():
        assert main(["finetune", "--base", str(base), "--classifier", str(unit), "--data", str(data["train"]),
                     "--out", str(tmp / f"ft-{key}"), "--steps", "6", "--batch-size", "16", *COMMON]) == 0
    zoos = {}
    for name, keys in (("one", ["L"]), ("two", ["L", "M"])):
        args = ["zoo", "create", str(tmp / name), "--base", str(base), "--test", str(data["test"])]
        for key in keys:
            args += ["--ae", f"{key}={tmp / f'ft-{key}' / 'model'}", "--classifier", f"{key}={units[key]}"]
        assert main(args) == 0
        assert main(["evaluate", str(tmp / name), "--noise-grid", "0,0.5", "--batch-size", "30",
                     "--threads", "1", "--device", "cpu"]) == 0  # --data defaults to the zoo's test images
        zoos[name] = tmp / name
    return {"tmp": tmp, **data, **{f"unit_{k}": v for k, v in units.items()}, **zoos,
            "ft_L": tmp / "ft-L" / "model", "ft_M": tmp / "ft-M" / "model", "base": base}


def _own_protocol_top1(unit: Path, test: Path) -> float:
    """The oracle: the unit on the test images cut by its own recorded validation crop."""
    manifest = read_manifest(unit)
    clf = load_classifier(unit)
    data = LabelledImageFolder(test, int(manifest["input_size"]), crop="center", resize=int(manifest["resize_size"]),
                               classes=clf.classes)
    x = torch.stack([data[i][0] for i in range(len(data))])
    y = torch.tensor(data.targets)
    with torch.inference_mode():
        return float((clf(x).argmax(1) == y).float().mean())


def test_table1_baseline_is_the_units_accuracy_under_its_own_protocol(digits) -> None:
    manifest = read_manifest(digits["unit_L"])
    assert manifest["weights_origin"] == "trained" and "weights" not in manifest
    assert (manifest["resize_size"], manifest["input_size"]) == (37, 32)  # resize 37, centre crop 32
    acc = results.read(digits["one"] / "results", "accuracy")
    top1 = float(acc[(acc.classifier == "L") & (acc.input == "original")].top1.iloc[0])
    expected = _own_protocol_top1(digits["unit_L"], digits["test"])
    assert expected > 0.5  # trained, not at chance (10 classes)
    assert top1 == pytest.approx(expected, abs=1e-6)
    protocol = results.read(digits["one"] / "results", "preprocessing").set_index("model")
    assert protocol.loc["L", "resize_size"] == 37 and protocol.loc["L", "source"] == "its unit's validation crop"
    assert protocol.loc["L", "weights"] == "trained" and pd.isna(protocol.loc["L", "published_top1"])


def test_every_results_file_records_its_data(digits) -> None:
    sources = results.sources(digits["two"] / "results")
    assert sources and all(rec is not None for rec in sources.values())
    (rec,) = {rec.data_id for rec in sources.values()}
    folder, n, digest = rec
    assert n == 120 and digest == results.files_digest(
        p.relative_to(digits["test"]).as_posix() for p in digits["test"].rglob("*.png"))
    assert Path(folder) == Path(digits["test"]).resolve() or folder.endswith("test")


def test_a_subset_evaluation_cannot_mix_data_sets_silently(digits, tmp_path, capsys) -> None:
    zoo = tmp_path / "zoo"
    shutil.copytree(digits["two"], zoo, symlinks=True)
    (zoo / "zoo.json").write_text((digits["two"] / "zoo.json").read_text().replace(
        '"test": "', f'"test": "{digits["two"]}/'))  # the copy keeps pointing at the same test images
    zoo_json = json.loads((zoo / "zoo.json").read_text())
    zoo_json["base"] = str(digits["base"])
    zoo_json["aes"] = {"L": str(digits["ft_L"]), "M": str(digits["ft_M"])}
    zoo_json["classifiers"] = {"L": str(digits["unit_L"]), "M": str(digits["unit_M"])}
    (zoo / "zoo.json").write_text(json.dumps(zoo_json))
    subset = tmp_path / "subset"
    for folder in sorted(digits["test"].iterdir())[:3]:
        shutil.copytree(folder, subset / folder.name)
    before = (zoo / "results" / "accuracy.csv").read_bytes()
    capsys.readouterr()
    assert main(["evaluate", str(zoo), "--data", str(subset), "--only", "accuracy", "--threads", "1"]) == 1
    err = capsys.readouterr().err
    assert "other data" in err and "cross_accuracy.csv" in err and "--other-data" in err
    assert (zoo / "results" / "accuracy.csv").read_bytes() == before  # refused before any work: nothing lost
    assert main(["evaluate", str(zoo), "--data", str(subset), "--only", "accuracy", "--threads", "1",
                 "--other-data", "keep"]) == 0
    assert "come from different data" in capsys.readouterr().out
    with pytest.raises(ConfigError, match="different data"):
        report(zoo)
    text = report(zoo, allow_mixed=True)
    assert text.count("**Warning:**") == 1 and "36 images of" in text and "120 images of" in text
    assert main(["evaluate", str(zoo), "--data", str(subset), "--only", "accuracy", "--threads", "1",
                 "--other-data", "drop"]) == 0
    assert set(results.sources(zoo / "results")) == {"accuracy", "preprocessing"}
    assert results.mixed_data_message(zoo / "results") is None


def test_the_report_reads_right_for_one_classifier(digits) -> None:
    text = report(digits["one"])
    for wrong in ("the demo", "1 of 1", "1 classifiers", "shapes' share", "furthest", "class is the shape"):
        assert wrong not in text, wrong
    assert "Through A_S L loses" in text and "Through its own A_i it ends" in text
    assert "every table below comes from the same 120 images of" in text


def test_zoo_create_refuses_an_ae_paired_with_another_classifier(digits, tmp_path) -> None:
    with pytest.raises(ConfigError, match="fine-tuned through another classifier"):
        from s2s_core.commands.zoo import create_zoo

        create_zoo(tmp_path / "bad", base=digits["base"], aes={"L": str(digits["ft_M"])},
                   classifiers={"L": str(digits["unit_L"])})
    assert not (tmp_path / "bad").exists()


@pytest.mark.parametrize("zoo", ["one", "two"])
def test_every_page_opens_on_the_users_zoo(digits, zoo, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("S2S_ZOO", str(digits[zoo]))
    monkeypatch.setenv("S2S_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("S2S_THREADS", "1")
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception, at.exception
    for page in PAGES:
        at.switch_page(f"pages/{page}.py").run()
        assert not at.exception, (page, at.exception)
        if page == "overview":
            assert any("120 images of" in c.value for c in at.caption)
            assert not [w for w in at.warning if "different data" in w.value]
        if page == "reconstructions":  # img_000.png is in every class folder: one button per class and file
            keys = [b.key for b in at.button if b.key and b.key.startswith("thumb_")]
            assert len(keys) == len(set(keys)) >= 10


@pytest.mark.browser
def test_every_page_in_a_real_browser_without_an_exception(digits, tmp_path) -> None:
    """The user's two-classifier zoo in chromium: every page, through the sidebar, 0 exceptions on screen."""
    from browser_harness import CHROMIUM, CHROMIUM_ARGS, IDLE, on_page_js, serve
    from needs import system_dependency

    system_dependency(CHROMIUM.exists(), "Debian's chromium is not installed at /usr/bin/chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        system_dependency(False, "playwright (python) is not installed: pip install -e '.[test]'")
    titles = {"overview": "Overview", "reconstructions": "Reconstructions", "upload": "Upload", "noise": "Noise",
              "signal_order": "Signal order", "compare": "Compare two", "information": "Information",
              "patterns": "AE patterns", "lenses": "Lenses", "jobs": "Training jobs"}
    env = {"S2S_ZOO": str(digits["two"]), "S2S_RUNS_DIR": str(tmp_path / "runs"), "S2S_THREADS": "1"}
    artifacts = Path(__file__).resolve().parent / "artifacts"
    artifacts.mkdir(exist_ok=True)
    seen: dict[str, int] = {}
    with serve(env, tmp_path / "streamlit.log") as (url, _proc), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(url)
        page.wait_for_selector(IDLE, timeout=240_000)
        for name, title in titles.items():
            page.locator('[data-testid="stSidebarNav"] a').filter(has_text=title).first.click()
            page.wait_for_function(on_page_js("" if name == "overview" else name), timeout=180_000)
            page.wait_for_timeout(300)
            page.wait_for_selector(IDLE, timeout=180_000)
            seen[name] = page.locator('[data-testid="stException"]').count()
            if name == "reconstructions":  # every thumbnail and reconstruction drawn, then a picture of it
                page.wait_for_function("() => { const im = [...document.querySelectorAll('[data-testid=stMain] img')];"
                                       " return im.length > 40 && im.every(i => i.complete && i.naturalWidth > 0); }",
                                       timeout=180_000)
                page.screenshot(path=str(artifacts / "own_data_reconstructions.png"), full_page=True)
        browser.close()
    assert seen == dict.fromkeys(titles, 0), seen
    assert not errors, errors
