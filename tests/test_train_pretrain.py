"""``s2s pretrain`` (Sec. 3.2): convergence, exact resume, SIGTERM, NaN guard, torchrun (gloo)."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from s2s_core.checkpoints import load_ae, read_manifest
from s2s_core.errors import ConfigError
from s2s_core.models.segnet import SegNet
from s2s_core.train.config import PretrainConfig, resolve_config
from s2s_core.train.loop import TrainingDivergedError, load_state
from s2s_core.train.pretrain import pretrain
from s2s_core.train.progress import read_events

ROOT = Path(__file__).resolve().parents[1]
PY = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
TINY = {"size": 32, "batch_size": 8, "widths": [8, 16, 16, 32, 32], "depths": [1, 1, 1, 1, 1], "threads": 1,
        "heldout_images": 16, "device": "cpu"}


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """64 smooth 40x40 colour images in two class folders (read as one flat stream)."""
    root = tmp_path_factory.mktemp("photos")
    g = torch.Generator().manual_seed(0)
    for i in range(64):
        (root / f"c{i % 2}").mkdir(exist_ok=True)
        x = F.interpolate(torch.rand(1, 3, 4, 4, generator=g), size=40, mode="bilinear")[0]
        Image.fromarray((x.permute(1, 2, 0).numpy() * 255).astype("uint8")).save(root / f"c{i % 2}" / f"{i}.png")
    (root / "c0" / "broken.png").write_bytes(b"not a png")
    return root


def _cfg(photos: Path, out: Path, **kw) -> PretrainConfig:
    return resolve_config(PretrainConfig, {"data": str(photos), "out": str(out), **TINY, **kw})


def _steps(run: Path) -> list[dict]:
    return [e for e in read_events(run / "progress.jsonl") if e["event"] == "step"]


def test_pretrain_halves_the_mse_and_exports_an_ae_unit(photos, tmp_path):
    cfg = _cfg(photos, tmp_path / "run", steps=150, optimizer="adam", lr=0.005, augment=False, log_every=1,
               eval_every_images=400, ckpt_every=100)
    result = pretrain(cfg, bar=False)
    assert result["stopped"] is False and result["steps"] == 150
    losses = [e["loss"] for e in _steps(tmp_path / "run")]
    assert sum(losses[-20:]) / 20 < 0.5 * losses[0]
    manifest = read_manifest(tmp_path / "run" / "model")
    assert manifest["kind"] == "ae" and manifest["steps"] == 150 and manifest["images_seen"] == 1200
    assert manifest["final_psnr"] > 10 and manifest["seed"] == 0
    # The held-out MSE is below the first training loss, and the mean per-image PSNR is at least the PSNR of
    # the mean MSE (Jensen: -log is convex), with equality only if every image has the same error.
    heldout = manifest["final_heldout_loss"]
    assert 0 < heldout < losses[0]
    assert manifest["final_psnr"] >= 10 * math.log10(1.0 / heldout) - 1e-9
    assert manifest["skipped_images"] >= 1  # the broken file was skipped, not fatal
    assert manifest["runtime"]["device"] == "cpu"
    ae = load_ae(tmp_path / "run" / "model")
    assert ae.config["widths"] == [8, 16, 16, 32, 32]
    events = read_events(tmp_path / "run" / "progress.jsonl")
    kinds = {e["event"] for e in events}
    assert {"step", "eval", "checkpoint", "done"} <= kinds
    for e in events:
        assert {"event", "step", "images", "loss", "lr", "images_per_s", "eta_s", "time"} <= set(e)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["steps"] == 150


def test_k_steps_resume_k_steps_equals_2k_steps(photos, tmp_path):
    """Augmentation on, SGD momentum, a held-out check that steps the scheduler: all restored exactly."""
    common = dict(augment=True, lr=0.05, eval_every_images=24, ckpt_every=3, log_every=1)
    pretrain(_cfg(photos, tmp_path / "full", steps=10, **common), bar=False)
    pretrain(_cfg(photos, tmp_path / "half", steps=5, **common), bar=False)
    pretrain(_cfg(photos, tmp_path / "half", steps=10, **common), resume=True, bar=False)
    full, half = load_ae(tmp_path / "full" / "model"), load_ae(tmp_path / "half" / "model")
    sd_full, sd_half = full.state_dict(), half.state_dict()
    for key, value in sd_full.items():
        assert torch.allclose(value.float(), sd_half[key].float(), atol=1e-6), key
    assert [e["loss"] for e in _steps(tmp_path / "full")] == pytest.approx([e["loss"] for e in _steps(tmp_path / "half")])


def test_nan_guard_stops_and_keeps_the_last_good_checkpoint(photos, tmp_path):
    cfg = _cfg(photos, tmp_path / "run", steps=50, lr=1e6, ckpt_every=1, augment=False)
    with pytest.raises(TrainingDivergedError, match="NaN or infinite|loss became"):
        pretrain(cfg, bar=False)
    events = read_events(tmp_path / "run" / "progress.jsonl")
    assert events[-1]["event"] == "error" and "last good checkpoint" in events[-1]["message"]
    assert not (tmp_path / "run" / "model").exists()
    tensors, meta = load_state(tmp_path / "run" / "ckpt")  # the last good state is there and loads
    assert 1 <= meta["step"] < events[-1]["step"]
    assert all(torch.isfinite(t.float()).all() for k, t in tensors.items() if k.startswith("model/"))
    ae = SegNet(TINY["widths"], TINY["depths"])
    ae.load_state_dict({k.removeprefix("model/ae/"): v for k, v in tensors.items() if k.startswith("model/ae/")})


def _cli_args(photos: Path, out: Path, steps: int) -> list[str]:
    return ["--data", str(photos), "--out", str(out), "--steps", str(steps), "--size", "32", "--batch-size", "4",
            "--widths", "8,16,16,32,32", "--depths", "1,1,1,1,1", "--threads", "1", "--ckpt-every", "5",
            "--log-every", "1", "--heldout-images", "8", "--device", "cpu"]


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


@pytest.mark.slow
def test_sigterm_saves_and_resume_finishes(photos, tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen([PY, "-m", "s2s_core.cli", "pretrain", *_cli_args(photos, out, 100_000)],
                            cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 180  # a guard against a hang, generous for a loaded 2-core machine
        while not any(e["event"] == "checkpoint" for e in read_events(out / "progress.jsonl")):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 75, err  # EXIT_STOPPED: stopped after a checkpoint, resumable
    last = read_events(out / "progress.jsonl")[-1]
    assert last["event"] == "done" and last["status"] == "stopped" and "resume with --resume" in last["message"]
    stopped_at = last["step"]
    assert load_state(out / "ckpt")[1]["step"] == stopped_at
    done = subprocess.run([PY, "-m", "s2s_core.cli", "pretrain", "--resume", "--out", str(out), "--steps",
                           str(stopped_at + 3)], cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    steps = [e["step"] for e in _steps(out)]
    assert steps == list(range(1, stopped_at + 4))  # no step lost or repeated
    assert read_manifest(out / "model")["steps"] == stopped_at + 3


def test_resume_with_another_architecture_is_one_line_and_keeps_config(photos, tmp_path, capsys):
    from s2s_core import cli

    out = tmp_path / "run"
    assert cli.main(["pretrain", *_cli_args(photos, out, 2), "--no-progress-bar"]) == 0
    saved = (out / "config.json").read_text()
    capsys.readouterr()
    code = cli.main(["pretrain", "--resume", "--out", str(out), "--steps", "4", "--widths", "8,16,16,32,64"])
    err = capsys.readouterr().err
    assert code == 1 and len(err.strip().splitlines()) == 1 and len(err) < 300, err
    assert "setting 'widths' was [8, 16, 16, 32, 32] when the run started but is [8, 16, 16, 32, 64] now" in err
    assert (out / "config.json").read_text() == saved  # not overwritten: a plain --resume still works
    assert cli.main(["pretrain", "--resume", "--out", str(out), "--steps", "3", "--no-progress-bar"]) == 0
    assert json.loads((out / "config.json").read_text())["steps"] == 3  # steps may change on resume


@pytest.mark.slow
def test_torchrun_two_processes_on_cpu(photos, tmp_path):
    out = tmp_path / "ddp"
    res = subprocess.run([PY, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                          "-m", "s2s_core.cli", "pretrain", *_cli_args(photos, out, 6)],
                         cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stderr[-3000:]
    assert (out / "ckpt" / "latest.json").exists()
    assert len(list((out / "ckpt").glob("state-*.safetensors"))) == 1
    tensors, meta = load_state(out / "ckpt")
    assert meta["world_size"] == 2 and len(meta["ranks"]) == 2 and meta["step"] == 6
    assert meta["images"] == 6 * 4 * 2
    assert [e["step"] for e in _steps(out)] == list(range(1, 7))  # rank 0 only writes progress
    manifest = read_manifest(out / "model")
    assert manifest["world_size"] == 2 and manifest["images_seen"] == 48


def test_tar_shards_and_encoder_init_from_a_weights_file(photos, tmp_path):
    import tarfile

    from safetensors.torch import save_file

    from s2s_core.train.pretrain import build_model

    for k in range(2):
        with tarfile.open(tmp_path / f"shard-{k}.tar", "w") as tar:
            for p in sorted(photos.rglob("*.png"))[k::2]:
                tar.add(p, arcname=f"{p.parent.name}/{p.name}")
    donor = SegNet(TINY["widths"], TINY["depths"])
    save_file({f"encoder.{k}": v.contiguous() for k, v in donor.encoder.state_dict().items()}, str(tmp_path / "enc.safetensors"))
    cfg = _cfg(photos, tmp_path / "run", steps=3, ckpt_every=2, init_encoder=str(tmp_path / "enc.safetensors"),
               data=[str(tmp_path / "shard-0.tar"), str(tmp_path / "shard-1.tar")])
    built = build_model(cfg)
    assert all(torch.equal(v, built.encoder.state_dict()[k]) for k, v in donor.encoder.state_dict().items())
    meta = pretrain(cfg, bar=False)
    assert meta["images_seen"] == 24 and meta["skipped_images"] >= 1
    assert read_manifest(tmp_path / "run" / "model")["recipe"]["init_encoder"].endswith("enc.safetensors")


def test_cosine_schedule_known_values_and_resume():
    import math

    from s2s_core.train.pretrain import CosineScheduler

    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.4)
    sched = CosineScheduler(opt, total=10, warmup=2)
    lrs = []
    for _ in range(12):
        sched.advance()
        lrs.append(opt.param_groups[0]["lr"])
    assert lrs[0] == pytest.approx(0.2) and lrs[1] == pytest.approx(0.4)  # linear warm-up
    assert lrs[2] == pytest.approx(0.4)  # cosine starts at the base lr
    assert lrs[6] == pytest.approx(0.4 * 0.5 * (1 + math.cos(math.pi * 4 / 8)))
    assert lrs[10] == pytest.approx(0.0, abs=1e-12) and lrs[11] == pytest.approx(0.0, abs=1e-12)
    assert sched.step(1.0) is False  # held-out checks do not change it
    clone = CosineScheduler(torch.optim.SGD([p], lr=0.4), total=10, warmup=2)
    state = sched.state_dict()
    sched2 = CosineScheduler(torch.optim.SGD([p], lr=123.0), total=10, warmup=2)
    sched2.load_state_dict(json.loads(json.dumps(state)))
    assert sched2.done == 12 and sched2.base == [0.4]
    del clone


def test_pretrain_mix_has_the_share_of_shapes_and_is_deterministic():
    from s2s_core.data.demo_data import PretrainMix

    mix = PretrainMix(size=32, seed=0, shapes=0.75)
    a = next(iter(mix.batches(8, seed=3)))
    b = next(iter(mix.batches(8, seed=3)))
    assert a.shape == (8, 3, 32, 32) and torch.equal(a, b)
    assert float(a.min()) >= 0 and float(a.max()) <= 1
    # the first round(n * shapes) images are exactly ShapeGenerator's (training photos), the rest PhotoCropStream's
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    got = mix.sample(4, g1)
    shapes = mix.shape_images.sample(3, g2)[0]
    photos = mix.photos.sample(1, g2)
    assert torch.equal(got, torch.cat([shapes, photos]))
    assert mix.shape_images.split == "train"
    with pytest.raises(ValueError):
        PretrainMix(shapes=1.5)


# ------------------------------------------------------------------ the loss space is a choice (issue 14, item 7)
def test_reconstruction_loss_in_both_spaces_known_answers():
    from s2s_core.models.segnet import IMAGENET_STD
    from s2s_core.train.pretrain import reconstruction_loss

    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    x = torch.rand(2, 3, 8, 8)
    c = torch.tensor([0.1, 0.2, 0.3]).view(1, 3, 1, 1)
    y = x + c
    assert reconstruction_loss(y, x, "pixel").item() == pytest.approx((0.01 + 0.04 + 0.09) / 3, rel=1e-5)
    expected = sum(ci**2 / si**2 for ci, si in zip((0.1, 0.2, 0.3), IMAGENET_STD, strict=True)) / 3
    assert reconstruction_loss(y, x, "normalized", std).item() == pytest.approx(expected, rel=1e-5)
    # about 20x: 1 / std² for std ≈ 0.225
    assert 17 < reconstruction_loss(y, x, "normalized", std).item() / reconstruction_loss(y, x, "pixel").item() < 22
    with pytest.raises(ConfigError, match="loss space"):
        reconstruction_loss(y, x, "lab", std)


def test_normalized_space_scales_each_channels_gradient_by_one_over_std_squared():
    from s2s_core.train.pretrain import reconstruction_loss

    torch.manual_seed(0)
    ae = SegNet([4, 4, 4, 4, 4], [1, 1, 1, 1, 1]).train()
    x = torch.rand(2, 3, 32, 32)
    grads = {}
    for space in ("pixel", "normalized"):
        ae.zero_grad()
        reconstruction_loss(ae(x), x, space, ae.std).backward()
        grads[space] = ae.decoder.conv_final.bias.grad.clone()  # one bias per output channel (normalised space)
    ratio = grads["normalized"] / grads["pixel"]
    assert torch.allclose(ratio, 1 / ae.std.view(3) ** 2, rtol=1e-4)


def test_pretrain_in_normalized_space_trains_and_records_it(photos, tmp_path):
    cfg = _cfg(photos, tmp_path / "norm", steps=40, optimizer="adam", lr=0.005, augment=False, log_every=1,
               eval_every_images=1000, ckpt_every=40, loss_space="normalized")
    pretrain(cfg, bar=False)
    losses = [e["loss"] for e in _steps(tmp_path / "norm")]
    assert sum(losses[-5:]) / 5 < 0.8 * losses[0]
    manifest = read_manifest(tmp_path / "norm" / "model")
    assert manifest["recipe"]["loss_space"] == "normalized"
    assert manifest["final_heldout_loss"] * 10 < losses[-1]  # held-out loss in pixel space: ~20x smaller
    with pytest.raises(ConfigError, match="loss_space"):
        _cfg(photos, tmp_path / "bad", loss_space="lab")


def test_cli_pretrains_a_three_stage_ae_at_32_px(photos, tmp_path, capsys):
    """The demo's own layout through the command (issue 23): any stage count, sizes a multiple of 2**stages."""
    from s2s_core import cli

    out = tmp_path / "run"
    args = ["--data", str(photos), "--out", str(out), "--steps", "2", "--size", "32", "--batch-size", "4",
            "--widths", "16,32,64", "--depths", "1,1,1", "--threads", "1", "--heldout-images", "8",
            "--device", "cpu", "--no-progress-bar"]
    assert cli.main(["pretrain", *args]) == 0
    ae = load_ae(out / "model")
    assert ae.config["widths"] == [16, 32, 64] and ae.multiple == 8
    assert ae.encode(torch.rand(1, 3, 32, 32)).features.shape == (1, 64, 4, 4)  # a 4x4 bottleneck, not 1x1
    capsys.readouterr()
    bad = ["--data", str(photos), "--out", str(tmp_path / "bad"), "--size", "36", "--widths", "16,32,64",
           "--depths", "1,1,1"]
    assert cli.main(["pretrain", *bad]) == 1
    assert "size: 36 is not a positive multiple of 8" in capsys.readouterr().err


def test_stratified_sample_known_answers():
    from s2s_core.data.datasets import stratified_sample

    root = Path("/d")
    files = [f"/d/{c}/img_{i:03d}.png" for c in "abc" for i in range(10)] + [f"/d/z/img_{i:03d}.png" for i in range(30)]
    picked = stratified_sample(files, root, 12, seed=0)
    per_class = {c: sum(f.startswith(f"/d/{c}/") for f in picked) for c in "abcz"}
    assert per_class == {"a": 2, "b": 2, "c": 2, "z": 6}  # 12 x 10/60 and 12 x 30/60
    assert picked == stratified_sample(list(reversed(files)), root, 12, seed=0)  # deterministic, order-free
    assert picked != stratified_sample(files, root, 12, seed=1)
    assert sorted(stratified_sample(files, root, 100, seed=0)) == sorted(files)
    # 7 from 3 equal classes: 2 each, the seventh to one class chosen by the seed
    three = [f for f in files if not f.startswith("/d/z/")]
    assert sorted(sum(f.startswith(f"/d/{c}/") for f in stratified_sample(three, root, 7, seed=0)) for c in "abc") == [2, 2, 3]


def test_the_held_out_set_is_a_stratified_sample_not_the_first_class(tmp_path):
    """Three class folders of one colour each, named img_000.png... in every folder: 6 held-out images are
    2 of each colour (the first 6 files in name order would all be the first class)."""
    from s2s_core.train import distributed
    from s2s_core.train.pretrain import heldout_set

    for c, colour in zip("abc", [(255, 0, 0), (0, 255, 0), (0, 0, 255)], strict=True):
        (tmp_path / c).mkdir()
        for i in range(8):
            Image.new("RGB", (32, 32), colour).save(tmp_path / c / f"img_{i:03d}.png")
    cfg = resolve_config(PretrainConfig, {"data": str(tmp_path), **TINY, "heldout_images": 6})
    images = heldout_set(cfg, distributed.DistInfo())
    dominant = images.float().mean((2, 3)).argmax(1).tolist()
    assert sorted(dominant) == [0, 0, 1, 1, 2, 2]
    assert torch.equal(images, heldout_set(cfg, distributed.DistInfo()))
