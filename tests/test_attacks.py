"""Known answers for the attacks through S2S (issue 28): FGSM on a linear model in closed form, PGD inside its
ball, nothing to gain against a model that ignores its input, foolbox against our own few lines, ε = 0 gives
Table 1, and ``s2s attack`` on the tiny zoo."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from torch import nn

from s2s_core import results
from s2s_core.analysis.stats import wilson_interval
from s2s_core.attacks.gradient_structure import edge_mask, mass_on, random_shares
from s2s_core.attacks.methods import craft, pgd
from s2s_core.attacks.run import attack_zoo
from s2s_core.attacks.summary import curves, defence_table, transfer_matrix
from s2s_core.attacks.threat import AttackSettings
from s2s_core.attacks.through import ThroughAE
from s2s_core.cli import main
from s2s_core.demo.report import attack_section
from s2s_core.errors import ConfigError
from s2s_core.zoo import Zoo


def _linear(classes: int = 2, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 6 * 6, classes)).eval()


def _convnet() -> nn.Module:
    torch.manual_seed(1)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
                         nn.Linear(32, 4)).eval()


@pytest.mark.parametrize("library", ["foolbox", "torch"])
def test_fgsm_on_a_linear_model_is_its_closed_form(library):
    """Two classes, logits W x + b, cross-entropy of y: ∇x = p_{y'} (w_{y'} − w_y) with p_{y'} > 0, so FGSM is
    clip(x + ε sign(w_{y'} − w_y), 0, 1) whatever x is."""
    model, eps = _linear(), 8 / 255
    x = torch.rand(6, 3, 6, 6, generator=torch.Generator().manual_seed(2))
    y = torch.tensor([0, 1, 0, 1, 1, 0])
    w = model[1].weight.detach()  # (2, 108)
    direction = (w[1 - y] - w[y]).sign().view_as(x)
    expected = (x + eps * direction).clamp(0, 1)
    assert torch.allclose(craft(model, x, y, "fgsm", eps, library=library), expected, atol=1e-6)


@pytest.mark.parametrize("library", ["foolbox", "torch"])
def test_pgd_stays_within_eps_and_the_unit_cube(library):
    model, eps = _convnet(), 4 / 255
    x = torch.rand(5, 3, 8, 8, generator=torch.Generator().manual_seed(3))
    x[0] = 0.0
    x[1] = 1.0  # at the bounds the ball is cut by [0, 1]
    y = torch.arange(5) % 4
    x_adv = craft(model, x, y, "pgd", eps, steps=7, library=library)
    assert (x_adv - x).abs().max() <= eps + 1e-6
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    assert (x_adv - x).abs().max() > eps / 2  # it did move


def test_pgd_with_a_random_start_stays_within_eps():
    model, eps = _convnet(), 16 / 255
    x = torch.rand(4, 3, 8, 8, generator=torch.Generator().manual_seed(4))
    x_adv = pgd(model, x, torch.zeros(4, dtype=torch.long), eps, 3, random_start=True,
                generator=torch.Generator().manual_seed(0))
    assert (x_adv - x).abs().max() <= eps + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1


class _Blind(nn.Module):
    """Logits that do not depend on the input (its gradient is zero)."""

    def __init__(self) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.tensor([0.3, -1.0, 2.0]))

    def forward(self, x):
        return self.bias.expand(x.shape[0], -1) + 0 * x.flatten(1).sum(1, keepdim=True)


@pytest.mark.parametrize("library", ["foolbox", "torch"])
@pytest.mark.parametrize("attack", ["fgsm", "pgd"])
def test_an_attack_on_a_model_that_ignores_its_input_changes_nothing(attack, library):
    model = _Blind().eval()
    x = torch.rand(4, 3, 5, 5, generator=torch.Generator().manual_seed(5))
    y = torch.tensor([0, 1, 2, 0])
    x_adv = craft(model, x, y, attack, 8 / 255, library=library)
    assert torch.equal(x_adv, x)  # sign(0) = 0: no step at all
    assert torch.equal(model(x_adv).argmax(1), model(x).argmax(1))


@pytest.mark.parametrize("attack", ["fgsm", "pgd"])
def test_foolbox_and_ours_agree(attack):
    """Same loss, same step, no random start: the same examples (PGD within float noise of the sign at ties)."""
    model = _convnet()
    x = torch.rand(8, 3, 8, 8, generator=torch.Generator().manual_seed(6))
    y = torch.arange(8) % 4
    ours = craft(model, x, y, attack, 4 / 255, steps=10, library="torch")
    theirs = craft(model, x, y, attack, 4 / 255, steps=10, library="foolbox")
    if attack == "fgsm":
        assert torch.equal(ours, theirs)
    else:
        assert (ours - theirs).abs().max() < 1e-5
    assert torch.equal(model(ours).argmax(1), model(theirs).argmax(1))
    assert all(p.requires_grad and p.grad is None for p in model.parameters())  # crafting leaves the model as it was


def test_craft_refuses_bad_settings():
    model, x, y = _linear(), torch.rand(1, 3, 6, 6), torch.tensor([0])
    for kwargs in ({"attack": "cw"}, {"eps": -0.1}, {"steps": 0}, {"library": "art"}):
        args = {"attack": "pgd", "eps": 0.1, "steps": 3, "library": "torch", **kwargs}
        with pytest.raises(ConfigError):
            craft(model, x, y, args.pop("attack"), args.pop("eps"), **args)
    with pytest.raises(ConfigError):
        AttackSettings(threats=("black",))


def test_edge_share_known_answers():
    x = torch.zeros(1, 3, 20, 20)
    x[:, :, 5:15, 5:15] = 1.0  # a square: its edges are the 4 ring pixels around its border
    mask = edge_mask(x, share=0.1)
    assert mask.sum() == 40 and not mask[0, 10, 10] and not mask[0, 0, 0]
    assert mass_on(mask.float(), mask).item() == pytest.approx(1.0)
    assert mass_on(torch.ones(1, 20, 20), mask).item() == pytest.approx(0.1)
    assert random_shares(mask.expand(200, -1, -1)).mean().item() == pytest.approx(0.1, abs=0.01)


def test_eps_zero_reproduces_table1(tiny_zoo):
    """Every test image of the tiny zoo (as ``s2s evaluate`` read them): top-1 of i, i∘A_S, i∘A_i at ε = 0 is
    accuracy.csv's, in every threat model."""
    settings = AttackSettings(attacks=("fgsm", "pgd"), eps=(0,), steps=2, library="foolbox")
    result, paths = attack_zoo(tiny_zoo, tiny_zoo / "data" / "test", settings, limit=None, batch_size=4,
                               device="cpu")
    table1 = results.read(tiny_zoo / "results", "accuracy").set_index(["classifier", "input"])["top1"]
    adv = result.adversarial
    assert set(adv["threat"]) == {"gray", "white"} and (adv["n"] == 9).all()
    for row in adv.itertuples():
        assert row.top1 == pytest.approx(table1[(row.classifier, row.view)], abs=1e-6), row
        assert row.ci_low <= row.top1 <= row.ci_high
    transfer = result.transfer
    for row in transfer.itertuples():
        assert row.top1 == pytest.approx(table1[(row.target, row.view)], abs=1e-6), row
    assert set(paths) == {"adversarial", "adversarial_transfer", "gradient_structure"}
    structure = results.read(tiny_zoo / "results", "gradient_structure")
    assert set(structure["view"]) == {"original", "A_L", "A_A", "A_V", "random"}
    assert structure["mean"].between(0, 1).all()


def test_attack_command_writes_its_tables(tiny_zoo, capsys):
    code = main(["attack", str(tiny_zoo), "--attacks", "pgd", "--eps", "0,8", "--steps", "2", "--limit", "4",
                 "--threat", "gray,white,transfer", "--library", "torch", "--threads", "1"])
    assert code == 0, capsys.readouterr().err
    adv = results.read(tiny_zoo / "results", "adversarial")
    assert set(adv["eps"]) == {0, 8} and (adv["n"] == 4).all()
    white = adv[(adv.threat == "white") & (adv.eps == 8)]
    assert set(white["view"]) == {"original", "A_S", "A_L", "A_A", "A_V"}
    assert set(white[white.classifier == "L"]["view"]) == {"original", "A_S", "A_L"}
    transfer = results.read(tiny_zoo / "results", "adversarial_transfer")
    assert len(transfer) == 2 * 3 * 3 * 2  # ε, source, target, view (j, j∘A_j)
    assert isinstance(transfer, pd.DataFrame)
    # recorded as drawn from the evaluation's split, so the report reads them beside Table 1
    assert results.sources(tiny_zoo / "results")["adversarial"].n == 9


@pytest.mark.parametrize("argv, message", [
    (["--eps", "4,x"], "--eps must be"),
    (["--attacks", "cw"], "--attacks must be"),
    (["--threat", "black"], "--threat must be"),
])
def test_attack_command_refuses_bad_options(tiny_zoo, capsys, argv, message):
    with pytest.raises(SystemExit):
        main(["attack", str(tiny_zoo), *argv])
    assert message in capsys.readouterr().err


def test_attack_command_refuses_zero_steps(tiny_zoo, capsys):
    assert main(["attack", str(tiny_zoo), "--steps", "0"]) == 1
    assert "at least 1" in capsys.readouterr().err


def _table(rows):
    out = []
    for clf, eps, threat, view, k, n in rows:
        low, high = wilson_interval(k, n)
        out.append({"classifier": clf, "attack": "pgd", "eps": eps, "threat": threat, "view": view, "top1": k / n,
                    "ci_low": low, "ci_high": high, "n": n})
    return pd.DataFrame(out)


def test_report_says_where_a_i_helps_gray_and_white():
    """V: A_V lifts 10 % to 66 % gray-box but only to 12 % white-box; L: no help at all."""
    rows = [("V", 4, "gray", "original", 20, 200), ("V", 4, "gray", "A_S", 90, 200), ("V", 4, "gray", "A_V", 132, 200),
            ("V", 4, "white", "A_V", 24, 200), ("V", 8, "gray", "original", 2, 200),
            ("V", 8, "gray", "A_V", 100, 200), ("V", 8, "white", "A_V", 40, 200),
            ("L", 4, "gray", "original", 50, 200), ("L", 4, "gray", "A_L", 52, 200),
            ("L", 4, "white", "A_L", 40, 200), ("L", 8, "gray", "original", 50, 200),
            ("L", 8, "gray", "A_L", 50, 200), ("L", 8, "white", "A_L", 40, 200)]
    table = _table(rows)
    d = defence_table(table, "pgd").set_index(["classifier", "eps"])
    assert d.loc[("V", 4), "gray_helps"] and not d.loc[("V", 4), "white_helps"]
    assert d.loc[("V", 8), "white_helps"] and not d.loc[("L", 4), "gray_helps"]
    text = "\n".join(attack_section(table, ["L", "V"]))
    assert "gray-box setting for L at no ε; V at 4, 8/255" in text
    assert "white-box attack for L at no ε; V at 8/255" in text
    assert "Athalye" in text and "66.0 [59.2, 72.2]" in text
    structure = pd.DataFrame([{"classifier": c, "view": v, "mean": m, "ci_low": m - 0.01, "ci_high": m + 0.01, "n": 200}
                              for c, v, m in [("V", "original", 0.2), ("V", "A_V", 0.3), ("V", "random", 0.1),
                                              ("L", "original", 0.2), ("L", "A_L", 0.21), ("L", "random", 0.1)]])
    text = "\n".join(attack_section(table, ["L", "V"], structure))
    assert "lies above i's for V, below it for none (intervals apart), and the intervals overlap for L" in text
    curve = curves(table, "V", "pgd")
    assert set(curve["curve"]) == {"i", "i∘A_S (gray)", "i∘A_i (gray)", "i∘A_i (white)"}


def test_transfer_matrix_rows_are_sources_and_columns_targets():
    transfer = pd.DataFrame([
        {"source": s, "target": t, "view": v, "attack": "fgsm", "eps": 4, "top1": top1, "n": 10}
        for s, t, v, top1 in [("L", "L", "original", 0.1), ("L", "V", "original", 0.8), ("V", "L", "original", 0.6),
                              ("V", "V", "original", 0.0), ("L", "V", "A_V", 0.9), ("V", "V", "A_V", 0.5),
                              ("L", "L", "A_L", 0.4), ("V", "L", "A_L", 0.7)]])
    plain = transfer_matrix(transfer, "fgsm", 4)
    assert plain.loc["L", "V"] == 0.8 and plain.loc["V", "L"] == 0.6
    through = transfer_matrix(transfer, "fgsm", 4, "A_j")
    assert through.loc["V", "V"] == 0.5 and through.loc["L", "L"] == 0.4
    adv = _table([("L", 4, "gray", "original", 20, 200), ("V", 4, "gray", "original", 10, 200)])
    adv["attack"] = "fgsm"
    text = "\n".join(attack_section(adv, ["L", "V"], transfer=transfer))
    assert "j reads the examples crafted on i at 60.0–80.0 % top-1, j∘A_j at 70.0–90.0 % (+10.0 points" in text
    assert "as well or better" in text


def test_through_ae_is_i_on_the_reconstruction_with_gradients(tiny_zoo):
    zoo = Zoo.load(tiny_zoo)
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(7))
    with torch.inference_mode():
        want = {ae: zoo.classifiers["A"](zoo.reconstruct_all(x)[f"A_{ae}"]) for ae in ("A", "S")}
    for ae in ("A", "S"):
        model = ThroughAE(zoo, "A", ae)
        assert not model.training
        x_grad = x.clone().requires_grad_(True)
        out = model(x_grad)
        assert torch.allclose(out, want[ae], atol=1e-5)
        out.sum().backward()
        assert x_grad.grad is not None and x_grad.grad.abs().sum() > 0
