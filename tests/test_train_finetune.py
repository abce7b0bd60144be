"""``s2s finetune`` (Sec. 3.3): a copy of A_S fine-tuned through a frozen classifier."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from s2s_core import cli
from s2s_core.checkpoints import load_ae, load_finetuned, read_manifest, save_ae, save_classifier
from s2s_core.models.classifiers import Classifier
from s2s_core.models.segnet import SegNet
from s2s_core.train.finetune import FinetuneNet, finetune_ae
from s2s_core.train.loop import TrainingDivergedError, load_state
from s2s_core.train.progress import read_events

WIDTHS, DEPTHS = (8, 16, 16, 32, 32), (1, 1, 1, 1, 1)


def _images(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, 3, 32, 32) smooth images; class 0 reddish, class 1 bluish; labels (n,)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    x = 0.5 * F.interpolate(torch.rand(n, 3, 4, 4, generator=g), size=32, mode="bilinear")
    x[y == 0, 0] += 0.45
    x[y == 1, 2] += 0.45
    return x.clamp(0, 1), y


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    """A LeNet-5 demo net (64 px input: the wrapper resizes differentiably) trained to tell red from blue."""
    torch.manual_seed(0)
    clf = Classifier.from_name("lenet5_demo")
    x, y = _images(128, seed=1)
    opt = torch.optim.Adam(clf.parameters(), lr=3e-3)
    for step in range(40):
        i = (step * 16) % 128
        loss = F.cross_entropy(clf(x[i:i + 16]), y[i:i + 16])
        opt.zero_grad()
        loss.backward()
        opt.step()
    clf.zero_grad(set_to_none=True)
    return clf.eval()


def _state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _batches(n_batches: int, seed: int = 2) -> list[tuple[torch.Tensor, torch.Tensor]]:
    x, y = _images(8 * n_batches, seed)
    return [(x[i:i + 8], y[i:i + 8]) for i in range(0, len(x), 8)]


def test_decoder_only_finetuning_lowers_ce_and_touches_nothing_else(classifier, tmp_path):
    torch.manual_seed(0)
    ae = SegNet(WIDTHS, DEPTHS)
    enc0, dec0, clf0 = _state(ae.encoder), _state(ae.decoder), _state(classifier)
    batches = _batches(8) * 8  # 64 steps over 8 fixed batches
    result = finetune_ae(ae, classifier, batches, steps=64, lr=2e-3, log_every=1, run_dir=tmp_path / "run")
    losses = [e["loss"] for e in read_events(tmp_path / "run" / "progress.jsonl") if e["event"] == "step"]
    assert result.step == 64 and len(losses) == 64
    assert sum(losses[-8:]) / 8 < 0.5 * sum(losses[:8]) / 8, losses
    assert result.loss == pytest.approx(losses[-1])
    # encoder and classifier bitwise unchanged, BatchNorm buffers included; the decoder moved
    for before, module in ((enc0, ae.encoder), (clf0, classifier)):
        after = module.state_dict()
        assert any("running_var" in k for k in before) or module is classifier
        for key, value in before.items():
            assert torch.equal(value, after[key]), key
    assert any(not torch.equal(v, ae.decoder.state_dict()[k]) for k, v in dec0.items())
    assert all(not p.requires_grad for p in classifier.parameters())


def test_encoder_runs_without_autograd_in_decoder_mode(classifier):
    ae = SegNet(WIDTHS, DEPTHS)
    seen = []
    ae.encoder.register_forward_hook(lambda *_: seen.append(torch.is_grad_enabled()))
    net = FinetuneNet(ae, classifier, "decoder")
    recon, logits = net(_images(4, 0)[0])
    assert seen == [False] and recon.requires_grad and logits.shape == (4, 10)
    assert not ae.encoder.training and ae.decoder.training and not classifier.training
    logits.sum().backward()
    assert all(p.grad is None for p in ae.encoder.parameters()) and all(p.grad is None for p in classifier.parameters())
    assert all(p.grad is not None for p in ae.decoder.parameters())


@pytest.mark.parametrize(("train", "moves"), [("encoder", {"encoder"}), ("both", {"encoder", "decoder"})])
def test_train_encoder_or_both(classifier, train, moves):
    torch.manual_seed(0)
    ae = SegNet(WIDTHS, DEPTHS)
    before = {"encoder": _state(ae.encoder), "decoder": _state(ae.decoder)}
    clf0 = _state(classifier)
    finetune_ae(ae, classifier, _batches(3), steps=3, train=train, optimizer="sgd", lr=0.01)
    for half in ("encoder", "decoder"):
        after = getattr(ae, half).state_dict()
        changed = any(not torch.equal(v, after[k]) for k, v in before[half].items())
        assert changed == (half in moves), half
    assert all(torch.equal(v, classifier.state_dict()[k]) for k, v in clf0.items())


def test_nan_batch_stops_with_a_clear_error_and_keeps_the_checkpoint(classifier, tmp_path):
    ae = SegNet(WIDTHS, DEPTHS)
    batches = _batches(5)
    batches[4] = (torch.full_like(batches[4][0], float("nan")), batches[4][1])
    with pytest.raises(TrainingDivergedError, match="loss became nan at step 5"):
        finetune_ae(ae, classifier, batches, steps=5, ckpt_every=2, run_dir=tmp_path / "run")
    assert load_state(tmp_path / "run" / "ckpt")[1]["step"] == 4


def test_resume_is_exact_for_a_reiterable_source(classifier, tmp_path):
    torch.manual_seed(0)
    a, b = SegNet(WIDTHS, DEPTHS), SegNet(WIDTHS, DEPTHS)
    b.load_state_dict(a.state_dict())
    batches = _batches(6)
    finetune_ae(a, classifier, batches, steps=6, lr=1e-3, run_dir=tmp_path / "a")
    finetune_ae(b, classifier, batches, steps=3, lr=1e-3, run_dir=tmp_path / "b")
    c = SegNet(WIDTHS, DEPTHS)  # other weights: the checkpoint must restore everything
    finetune_ae(c, classifier, batches, steps=6, lr=1e-3, run_dir=tmp_path / "b", resume=True)
    for key, value in a.state_dict().items():
        assert torch.allclose(value.float(), c.state_dict()[key].float(), atol=1e-6), key


CLASSES = [f"class{i}" for i in range(10)]  # the test classifier's label order


def _image_folder(root: Path) -> Path:
    x, y = _images(32, seed=3)
    for i, (img, label) in enumerate(zip(x, y, strict=True)):
        (root / f"class{int(label)}").mkdir(parents=True, exist_ok=True)
        Image.fromarray((img.permute(1, 2, 0).numpy() * 255).astype("uint8")).save(root / f"class{int(label)}" / f"{i}.png")
    return root


def test_finetune_command_writes_a_decoder_unit(classifier, tmp_path, capsys):
    torch.manual_seed(0)
    base = SegNet(WIDTHS, DEPTHS)
    save_ae(tmp_path / "zoo" / "base", base, {"note": "test"})
    save_classifier(tmp_path / "zoo" / "classifiers" / "L", classifier, {}, classes=CLASSES)
    data = _image_folder(tmp_path / "labelled")
    out = tmp_path / "zoo" / "runs" / "L"
    code = cli.main(["finetune", "--base", str(tmp_path / "zoo" / "base"), "--classifier",
                     str(tmp_path / "zoo" / "classifiers" / "L"), "--data", str(data), "--out", str(out),
                     "--size", "32", "--batch-size", "8", "--steps", "6", "--ckpt-every", "3", "--threads", "1",
                     "--set", "recon_weight=0.5", "--device", "cpu"])
    assert code == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["steps"] == 6
    manifest = read_manifest(out / "model")
    assert manifest["kind"] == "decoder" and manifest["trained"] == "decoder" and manifest["classifier"] == "L"
    assert manifest["recipe"]["recon_weight"] == 0.5 and manifest["classes"] == CLASSES
    assert manifest["data_classes"] == ["class0", "class1"] and manifest["classifier_weights"] == "unit"
    assert (out / "model" / manifest["base"]).resolve() == (tmp_path / "zoo" / "base").resolve()
    tuned = load_finetuned(out / "model")
    base_again = load_ae(tmp_path / "zoo" / "base")
    for k, v in base_again.encoder.state_dict().items():
        assert torch.equal(v, tuned.encoder.state_dict()[k])
    assert json.loads((out / "config.json").read_text())["recon_weight"] == 0.5
    assert read_events(out / "progress.jsonl")[-1]["status"] == "completed"
    # the run dir is a one-classifier zoo, so the dashboard's picker lists it
    from s2s_core.zoo import Zoo, list_zoos

    assert out.resolve() in [p.resolve() for p in list_zoos(tmp_path / "zoo" / "runs")]
    run_zoo = Zoo.load(out)
    assert sorted(run_zoo.decoders) == ["L"] and sorted(run_zoo.classifiers) == ["L"]
    assert run_zoo.classes == CLASSES
    # a second run into the same dir without --resume is refused
    assert cli.main(["finetune", "--base", str(tmp_path / "zoo" / "base"), "--classifier",
                     str(tmp_path / "zoo" / "classifiers" / "L"), "--data", str(data), "--out", str(out),
                     "--size", "32"]) == 1
    assert "--resume" in capsys.readouterr().err


def test_command_resume_is_exact_with_augmentation_across_epochs(classifier, tmp_path, capsys):
    """6 steps straight == 3 steps, stop, --resume to 6 (augmentations on; 4 batches per epoch, so the run
    crosses an epoch boundary; two DataLoader workers): every augmentation is tied to (seed, epoch, index), not to
    a worker's RNG stream, which a resumed run enters at another place."""
    torch.manual_seed(0)
    save_ae(tmp_path / "base", SegNet(WIDTHS, DEPTHS), {})
    save_classifier(tmp_path / "clf", classifier, {}, classes=CLASSES)
    data = _image_folder(tmp_path / "labelled")
    common = ["finetune", "--base", str(tmp_path / "base"), "--classifier", str(tmp_path / "clf"), "--data",
              str(data), "--size", "32", "--batch-size", "8", "--threads", "1", "--device", "cpu",
              "--set", "augment=true", "--set", "lr=0.001", "--ckpt-every", "3", "--num-workers", "2"]
    assert cli.main([*common, "--out", str(tmp_path / "straight"), "--steps", "6"]) == 0
    assert cli.main([*common, "--out", str(tmp_path / "split"), "--steps", "3"]) == 0
    assert cli.main([*common, "--out", str(tmp_path / "split"), "--steps", "6", "--resume"]) == 0, capsys.readouterr().err
    a, b = load_finetuned(tmp_path / "straight" / "model"), load_finetuned(tmp_path / "split" / "model")
    for key, value in a.decoder.state_dict().items():
        assert torch.allclose(value.float(), b.decoder.state_dict()[key].float(), atol=1e-6), key


def test_registry_name_means_published_weights(tmp_path, capsys):
    """A registry name without cached weights is refused; random weights only on request, then recorded."""
    torch.manual_seed(0)
    save_ae(tmp_path / "base", SegNet(WIDTHS, DEPTHS), {"size": 32})
    data = _image_folder(tmp_path / "labelled")
    common = ["finetune", "--base", str(tmp_path / "base"), "--data", str(data), "--batch-size", "8",
              "--steps", "2", "--threads", "1", "--device", "cpu"]
    assert cli.main([*common, "--classifier", "resnet18", "--out", str(tmp_path / "r")]) == 1
    err = capsys.readouterr().err
    assert "not in the local cache" in err and len(err.strip().splitlines()) == 1
    assert cli.main([*common, "--classifier", "lenet5_demo", "--out", str(tmp_path / "l")]) == 1
    assert "no pre-trained weights exist for lenet5_demo" in capsys.readouterr().err
    out = tmp_path / "random"
    assert cli.main([*common, "--classifier", "lenet5_demo", "--classifier-weights", "none", "--classifier-name", "L",
                     "--out", str(out)]) == 0, capsys.readouterr().err
    manifest = read_manifest(out / "model")
    assert manifest["classifier_weights"] == "none" and manifest["size"] == 32  # size from the base AE
    assert manifest["classes"] == ["class0", "class1"]  # one output per class folder, in folder order
    clf_manifest = read_manifest(out / "classifier")
    assert clf_manifest["random_init"] is True and clf_manifest["args"] == {"num_classes": 2}
    from s2s_core.zoo import Zoo

    zoo = Zoo.load(out)  # the zoo evaluates the very random network the decoder was tuned through
    assert zoo.classes == ["class0", "class1"] and zoo.input_size == 32


def test_finetune_refuses_a_data_class_the_classifier_does_not_know(classifier, tmp_path, capsys):
    save_ae(tmp_path / "base", SegNet(WIDTHS, DEPTHS), {"size": 32})
    save_classifier(tmp_path / "clf", classifier, {}, classes=[f"k{i}" for i in range(10)])
    data = _image_folder(tmp_path / "labelled")
    assert cli.main(["finetune", "--base", str(tmp_path / "base"), "--classifier", str(tmp_path / "clf"), "--data",
                     str(data), "--out", str(tmp_path / "o"), "--steps", "1", "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert "data class 'class0' is not a class of classifier" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_a_classifier_unit_is_named_by_its_record_not_by_the_run_folder(classifier, tmp_path, capsys):
    """train-classifier writes RUN/model; the fine-tuned AE must not call its classifier 'model' (issue 23)."""
    from s2s_core.train.finetune import unit_classifier_name

    named = save_classifier(tmp_path / "train-digits" / "model", classifier, {"name": "digits"}, classes=CLASSES)
    unnamed = save_classifier(tmp_path / "old-run" / "model", classifier, {}, classes=CLASSES)
    in_zoo = save_classifier(tmp_path / "zoo" / "classifiers" / "L", classifier, {}, classes=CLASSES)
    assert unit_classifier_name(named) == "digits"
    assert unit_classifier_name(unnamed) == "lenet5_demo"  # the architecture, not the folder
    assert unit_classifier_name(in_zoo) == "L"  # a zoo's folder is the short name
    torch.manual_seed(0)
    save_ae(tmp_path / "base", SegNet(WIDTHS, DEPTHS))
    out = tmp_path / "ft"
    code = cli.main(["finetune", "--base", str(tmp_path / "base"), "--classifier", str(named), "--data",
                     str(_image_folder(tmp_path / "labelled")), "--out", str(out), "--size", "32", "--batch-size",
                     "8", "--steps", "1", "--threads", "1", "--device", "cpu", "--no-progress-bar"])
    assert code == 0, capsys.readouterr().err
    assert read_manifest(out / "model")["classifier"] == "digits"
    assert json.loads((out / "zoo.json").read_text())["classifiers"].keys() == {"digits"}
