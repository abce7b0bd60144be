"""`s2s demo`: a smoke build with tiny step counts gives a valid zoo; the shipped zoo verifies."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from s2s_core import results
from s2s_core.analysis.dataset import registry
from s2s_core.checkpoints import read_unit
from s2s_core.cli import main
from s2s_core.data.images import load_image_tensor
from s2s_core.demo.recipe import DemoRecipe, quick_recipe
from s2s_core.errors import ConfigError
from s2s_core.zoo import Zoo, read_zoo_info

SHIPPED = Path(__file__).resolve().parents[1] / "checkpoints" / "demo"


@pytest.fixture(scope="module")
def quick_zoo(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "zoo"
    progress = out.parent / "progress.jsonl"
    assert main(["demo", "--quick", "--extras", "--out", str(out), "--progress", str(progress)]) == 0
    return out


@pytest.mark.slow
def test_quick_build_writes_a_zoo_that_loads(quick_zoo: Path) -> None:
    zoo = Zoo.load(quick_zoo)
    assert sorted(zoo.classifiers) == sorted(quick_recipe().classifiers)
    assert sorted(zoo.decoders) == sorted(zoo.classifiers)
    assert sorted(zoo.controls) == sorted(zoo.decoders)  # the S2S controls, built beside every A_i
    assert zoo.classes and len(zoo.classes) == zoo.num_classes == 10
    x = torch.rand(2, 3, zoo.input_size, zoo.input_size)
    recon = zoo.reconstruct_all(x)
    assert set(recon) == {"A_S", *(f"A_{n}" for n in zoo.decoders)}
    assert all(r.shape == x.shape for r in recon.values())
    assert not (quick_zoo.parent / "zoo.partial").exists()
    assert DemoRecipe.from_dict(json.loads((quick_zoo / "recipe.json").read_text())) == quick_recipe()


@pytest.mark.slow
def test_quick_build_evaluated_every_table(quick_zoo: Path) -> None:
    tables = results.read_all(quick_zoo / "results")
    default = registry.default_tables()  # not the opt-in ones (inversion)
    assert default < set(results.RESULT_FILES)
    # the demo also scores its two-shape composites and randomises its classifiers (opt-in elsewhere)
    built = default | {"preprocessing", "class_sensitivity", "randomisation"}
    assert set(tables) == {k for k in built if results.spec(k).kind == "table"}
    assert set(results.read_arrays(quick_zoo / "results", "ae_pattern_images"))  # the AE pattern images too
    assert (quick_zoo / "data" / "test_pairs.csv").is_file() and (quick_zoo / "data" / "test_pairs_second").is_dir()
    acc, cross = tables["accuracy"], tables["cross_accuracy"]
    # Table 2's diagonal is i∘A_i of Table 1
    for clf in cross.columns:
        own = acc[(acc.classifier == clf) & (acc.input == f"A_{clf}")].top1.item()
        assert cross.loc[f"A_{clf}", clf] == pytest.approx(own, abs=1e-6)
    # noise at s = 0 is the clean input: the same top-1 as Table 1 for i, i∘A_S and i∘A_i
    noise = tables["noise"]
    clean = noise[noise.s == 0]
    assert len(clean) == 3 * len(cross.columns)
    for row in clean.itertuples():
        expected = acc[(acc.classifier == row.classifier) & (acc.input == row.input)].top1.item()
        assert row.top1 == pytest.approx(expected, abs=1e-6)
    assert sorted(noise.s.unique()) == pytest.approx([i / 10 for i in range(11)])
    nmi = tables["nmi"]
    assert set(nmi.ae) == {"original", "A_S", *(f"A_{c}" for c in cross.columns)}  # original: the chance level
    assert set(nmi.kind) == {"intra", "inter"}
    assert ((nmi["mean"] > -0.05) & (nmi["mean"] <= 1)).all()  # the bias-corrected estimator may dip below 0
    n_test = quick_recipe().test_images
    assert (nmi[nmi.kind == "intra"].n == n_test).all() and (nmi[nmi.kind == "inter"].n == n_test // 2).all()
    lab = tables["lab_histograms"]
    widths = lab.bin_hi - lab.bin_lo
    mass = (lab.density * widths).groupby([lab.ae, lab.channel]).sum()
    assert mass.to_numpy() == pytest.approx(1.0, abs=1e-4)  # densities are written with 6 decimals


@pytest.mark.slow
def test_progress_events_end_with_done(quick_zoo: Path) -> None:
    events = [json.loads(line) for line in (quick_zoo.parent / "progress.jsonl").read_text().splitlines()]
    assert events[0]["event"] == "start"
    assert events[-1]["event"] == "done"
    steps = [e for e in events if e["event"] == "step"]
    assert steps[-1]["step"] == steps[-1]["total_steps"]


@pytest.mark.slow
def test_existing_zoo_is_not_overwritten_without_force(quick_zoo: Path, capsys) -> None:
    assert main(["demo", "--quick", "--out", str(quick_zoo)]) == 1
    assert "--force" in capsys.readouterr().err


def test_bad_recipe_values_are_refused() -> None:
    with pytest.raises(ConfigError, match="ae_steps"):
        DemoRecipe(ae_steps=0).validate()
    with pytest.raises(ConfigError, match="unknown keys"):
        DemoRecipe.from_dict({"ae_stepz": 3})
    with pytest.raises(ConfigError, match="multiple of 8"):
        DemoRecipe(size=50).validate()


def test_shipped_demo_zoo_hashes_verify_and_results_exist() -> None:
    assert (SHIPPED / "zoo.json").is_file(), f"the shipped demo zoo is missing from {SHIPPED}"
    info = read_zoo_info(SHIPPED)
    units = [info.base, *info.aes.values(), *(v for v in info.classifiers.values() if isinstance(v, str))]
    for unit in units:
        read_unit(SHIPPED / unit)  # raises CheckpointError on any hash mismatch
    default = {k for k in registry.default_tables() | {"preprocessing"} if results.spec(k).kind == "table"}
    assert set(results.read_all(info.results_dir)) >= default  # every table, readable
    assert results.read_arrays(info.results_dir, "ae_pattern_images")  # and the arrays
    size = sum(p.stat().st_size for p in SHIPPED.rglob("*") if p.is_file())
    assert size <= 40 * 1024 * 1024, f"the shipped zoo is {size / 2**20:.1f} MB (limit 40 MB)"


@pytest.mark.slow
def test_the_build_is_deterministic_for_its_seed(quick_zoo: Path, tmp_path) -> None:
    """A second quick build with the same seed writes bitwise identical weights (same sha256 in manifests)."""
    again = tmp_path / "zoo"
    assert main(["demo", "--quick", "--out", str(again), "--no-evaluate"]) == 0
    info = read_zoo_info(quick_zoo)
    units = [info.base, *info.aes.values(), *info.classifiers.values()]
    for unit in units:
        first = json.loads((quick_zoo / unit / "manifest.json").read_text())["files"]
        second = json.loads((again / unit / "manifest.json").read_text())["files"]
        assert first == second, unit


def test_a_changed_recipe_rebuilds_only_the_stages_it_affects(tmp_path) -> None:
    from s2s_core.demo.build import _drop_stale_stages

    old = DemoRecipe()
    for sub in ("base", "ae_run", "results", "data/test", *(f"classifiers/{s}" for s in "LAVRI"),
                *(f"aes/{s}" for s in "LAVRI")):
        (tmp_path / sub).mkdir(parents=True)
    new = DemoRecipe.from_dict({**old.to_dict(), "ft_lr": {**old.ft_lr, "I": old.ft_lr["I"] * 2}})
    _drop_stale_stages(tmp_path, old, new)
    assert not (tmp_path / "aes" / "I").exists() and not (tmp_path / "results").exists()
    assert all((tmp_path / "aes" / s).exists() for s in "LAVR")
    assert (tmp_path / "base").exists() and (tmp_path / "classifiers" / "I").exists()
    # a change to A_S invalidates A_S and every decoder fine-tuned from it, not the classifiers
    newer = DemoRecipe.from_dict({**new.to_dict(), "ae_steps": new.ae_steps + 1})
    _drop_stale_stages(tmp_path, new, newer)
    assert not (tmp_path / "base").exists() and not any((tmp_path / "aes").iterdir())
    assert all((tmp_path / "classifiers" / s).exists() for s in "LAVRI")


def test_shipped_demo_zoo_reconstructs_and_classifies_a_test_image() -> None:
    """The zoo the README and the dashboard open by default loads, and works on one of its own test images."""
    assert (SHIPPED / "zoo.json").is_file(), f"the shipped demo zoo is missing from {SHIPPED}"
    zoo = Zoo.load(SHIPPED)
    path = sorted((SHIPPED / "data" / "test").glob("*/*.png"))[0]
    x = load_image_tensor(path, size=zoo.input_size).unsqueeze(0)
    recon = zoo.reconstruct_all(x)
    assert set(recon) == {"A_S", *(f"A_{n}" for n in zoo.names)}
    mse = float(((recon["A_S"].clamp(0, 1) - x) ** 2).mean())
    assert 10 * math.log10(1 / mse) > 12  # A_S is a trained AE (about 28 dB on its test images), not random weights
    label = zoo.classes.index(path.parent.name)
    right = [n for n, clf in zoo.classifiers.items() if int(clf(x).argmax()) == label]
    assert len(right) > len(zoo.classifiers) / 2, right  # the classifiers reach ~99% on this data
