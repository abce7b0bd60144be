"""The generated account of a zoo (``s2s report``): known answers and the README block round trip."""

import re
from pathlib import Path

import numpy as np
import pytest

from s2s_core.analysis.paper import PAPER_NAMES, PAPER_TABLE2
from s2s_core.demo.report import (
    BEGIN,
    END,
    SUMMARY_BEGIN,
    SUMMARY_END,
    chain_ranges,
    readme_block,
    report,
    summary,
    write_into,
)
from s2s_core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "checkpoints" / "demo"


def test_paper_table2_branches_exactly_where_the_lattice_does():
    chain, branch = chain_ranges(list(PAPER_NAMES), PAPER_TABLE2)
    # Sec. 3.4: between t = 0.2 and 0.8 the paper's lattice is NOT a chain everywhere: it branches on (0.525, 0.636]
    assert "t in (0.525, 0.636]" in branch
    assert "t in (0.061, 0.525]" in chain
    assert not any("0.2" in r and "0.8" in r for r in chain)


def test_identity_table_is_a_chain_only_at_the_ends():
    chain, branch = chain_ranges(["a", "b"], np.array([[0.9, 0.0], [0.0, 0.8]]))
    assert chain == ["t ≤ 0.000", "t > 1.000"]
    assert branch == ["t in (0.000, 1.000]"]


def test_report_of_the_shipped_zoo_quotes_its_files():
    text = report(SHIPPED)
    assert "**Table 1**" in text and "**Table 2**" in text and "Noise (Fig. 4)" in text
    assert "chance: 10 % top-1" in text
    assert "How the AEs differ" in text
    assert "Chance level (32 grey levels (bins of 8), Miller-Madow bias-corrected)" in text
    assert "not yet reported" not in text and "the paper's claim acc(i∘A_i) > acc(i) holds for" in text
    assert "chance is 10 %" in text and "**Image-independent patterns**" in text and "**Per class**" in text


def test_readme_block_round_trip(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"head\n{BEGIN}\nold\n{END}\ntail\n")
    assert write_into(readme, "new text\n") is True
    assert readme_block(readme) == "new text\n"
    assert readme.read_text().startswith("head\n") and readme.read_text().endswith("tail\n")
    assert write_into(readme, "new text\n") is False
    readme.write_text("no markers\n")
    with pytest.raises(ConfigError, match="exactly one"):
        write_into(readme, "x")


def test_readme_demo_account_is_generated_from_the_shipped_results():
    """The demo's numbers and claims (docs/DEMO_RESULTS.md) and the README's summary of them are
    `s2s report checkpoints/demo` verbatim (regenerate with `s2s report checkpoints/demo --readme
    docs/DEMO_RESULTS.md --summary README.md` after rebuilding or re-evaluating the zoo)."""
    assert readme_block(ROOT / "docs" / "DEMO_RESULTS.md") == report(SHIPPED)
    text = readme_block(ROOT / "README.md", (SUMMARY_BEGIN, SUMMARY_END))
    assert text == summary(SHIPPED)
    assert text.count("\n") <= 5 and "chance 10 %" in text and "docs/DEMO_RESULTS.md" in text


def test_the_readme_is_a_first_screen():
    """Issue 29: the README shows before it tells (a picture made by docs/make_screenshots.py), gives the two
    commands, links to the rest, and stays short."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 250
    pictures = re.findall(r"!\[[^\]]+\]\(([^)]+)\)", text)
    assert pictures and all((ROOT / p).is_file() for p in pictures)
    for doc in ("docs/DEMO_RESULTS.md", "docs/deploy.md", "docs/CLUSTER.md", "docs/ARCHITECTURE.md"):
        assert f"]({doc})" in text and (ROOT / doc).is_file()
    links = re.findall(r"\]\(((?:docs/)?[A-Za-z_]+\.md)\)", text)
    assert all((ROOT / link).is_file() for link in links)


def test_shipped_zoo_shows_the_papers_phenomenon():
    """Pins what the shipped zoo shows (issue 11): A_S close to the identity, every A_i at least as readable
    by its classifier as A_S, and each A_i moving away from A_S(x) while doing so."""
    import pandas as pd

    acc = pd.read_csv(SHIPPED / "results" / "accuracy.csv").pivot_table(index="classifier", columns="input",
                                                                        values="top1")
    quality = pd.read_csv(SHIPPED / "results" / "recon_quality.csv").set_index("ae")
    assert quality.loc["A_S", "psnr_input"] > 28.0
    for name in acc.index:
        assert acc.loc[name, f"A_{name}"] >= acc.loc[name, "A_S"], name
        assert acc.loc[name, "original"] - acc.loc[name, "A_S"] < 15.0, name  # was 47-63 points before issue 11
        assert quality.loc[f"A_{name}", "psnr_base"] < 40.0, name  # fine-tuning changed the reconstruction


def test_inversion_section_compares_normalised_errors_and_draws_nothing_from_the_logits():
    import pandas as pd

    from s2s_core.demo.report import inversion_section

    # (classifier, layer, depth, x* scaled, A_i(x) scaled, difference interval, top-1 on x*)
    rows = [("L", "conv1", 0.25, 0.3, 0.8, (-0.5, -0.6, -0.4), 0.9), ("L", "fc", 1.0, 0.1, 0.6, (-0.5, -0.6, -0.4), 1.0),
            ("A", "conv1", 0.2, 0.9, 0.4, (0.5, 0.3, 0.7), 0.4), ("A", "fc", 1.0, 0.5, 0.5, (0.0, -0.1, 0.1), 0.9)]
    inv = pd.DataFrame([{"classifier": c, "layer": lay, "kind": "Conv2d", "depth": d, "n": 20, "error_mean": 0.1,
                         "error_std": 0.01, "ae_error_mean": 0.2, "pair_distance": 0.5, "error_norm": e,
                         "error_norm_ci_low": e - 0.05, "error_norm_ci_high": e + 0.05, "ae_error_norm": a,
                         "ae_error_norm_ci_low": a - 0.05, "ae_error_norm_ci_high": a + 0.05, "norm_diff": diff[0],
                         "norm_diff_ci_low": diff[1], "norm_diff_ci_high": diff[2], "top1_inversion": top1,
                         "top1_ae": 0.5, "top1_original": 0.6, "fitted_to_logits": d == 1.0, "chance": 0.1,
                         "steps": 200} for c, lay, d, e, a, diff, top1 in rows])
    header, table, text = inversion_section(inv, ["L", "A"])
    assert "20 test images per classifier, 200 steps" in header and "chance 0.10" in header
    assert "1 means as far from x as another image" in header
    assert table.splitlines()[2].startswith("| L | conv1 (0.25) | 0.500 | 0.30 [0.25, 0.35] | 0.80 [0.75, 0.85] | "
                                            "-0.50 [-0.60, -0.40] | 0.90 | 0.50 | 0.60 |")
    assert "| 1.00 (fitted to the logits) |" in table
    assert ("nearer to x's features than A_i(x) does at L conv1 (depth 0.25: 0.30 vs 0.80, -0.50 [-0.60, -0.40]); "
            "L fc (depth 1.00") in text
    assert "farther at A conv1 (depth 0.20: 0.90 vs 0.40, +0.50 [+0.30, +0.70])" in text
    assert "the intervals hold 0 at A fc (depth 1.00" in text
    assert "Top-1 on x* inverted from the logits (L 1.00, A 0.90) is no evidence" in text
    assert "keeps as much" not in text
    assert "Every interval lies below 1 (the highest end 0.95)" in text
    far = inv.assign(ae_error_norm_ci_high=[0.85, 0.65, 1.2, 0.55])
    assert "An interval reaches 1 (as far as another image) at A conv1." in inversion_section(far)[2]
