"""Import of the authors' SegNet checkpoints, checked against an independently written reference network,
and the ``s2s import-pth`` / ``s2s reconstruct`` commands."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from s2s_core.authors_import import import_pth
from s2s_core.checkpoints import load_ae, read_manifest
from s2s_core.cli import main
from s2s_core.errors import CheckpointError
from s2s_core.models.authors import convert_authors_state_dict

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
W = (4, 8, 12, 16, 16)  # small widths, VGG16 depths (2, 2, 3, 3, 3)


def _cbr(module: nn.Module, name: str, c_in: int, c_out: int) -> None:
    setattr(module, f"conv{name}", nn.Conv2d(c_in, c_out, 3, padding=1))
    setattr(module, f"bn{name}", nn.BatchNorm2d(c_out))


class RefSegNet(nn.Module):
    """The authors' layout written out by hand (like the common PyTorch SegNet ports), for comparison only.

    Input and output: ImageNet-normalised RGB (B, 3, H, W).
    """

    def __init__(self) -> None:
        super().__init__()
        w1, w2, w3, w4, w5 = W
        self.encoder, self.decoder = nn.Module(), nn.Module()
        e, d = self.encoder, self.decoder
        for name, c_in, c_out in [("11", 3, w1), ("12", w1, w1), ("21", w1, w2), ("22", w2, w2),
                                  ("31", w2, w3), ("32", w3, w3), ("33", w3, w3), ("41", w3, w4), ("42", w4, w4),
                                  ("43", w4, w4), ("51", w4, w5), ("52", w5, w5), ("53", w5, w5)]:
            _cbr(e, name, c_in, c_out)
        for name, c_in, c_out in [("53d", w5, w5), ("52d", w5, w5), ("51d", w5, w4), ("43d", w4, w4),
                                  ("42d", w4, w4), ("41d", w4, w3), ("33d", w3, w3), ("32d", w3, w3),
                                  ("31d", w3, w2), ("22d", w2, w2), ("21d", w2, w1), ("12d", w1, w1),
                                  ("11d", w1, w1)]:
            _cbr(d, name, c_in, c_out)
        d.conv_final = nn.Conv2d(w1, 3, 1)
        self.pool = nn.MaxPool2d(2, 2, return_indices=True)
        self.unpool = nn.MaxUnpool2d(2, 2)

    @staticmethod
    def _run(module: nn.Module, names: str, x: torch.Tensor) -> torch.Tensor:
        for name in names.split():
            x = F.relu(getattr(module, f"bn{name}")(getattr(module, f"conv{name}")(x)))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e, d = self.encoder, self.decoder
        x1 = self._run(e, "11 12", x)
        p1, i1 = self.pool(x1)
        x2 = self._run(e, "21 22", p1)
        p2, i2 = self.pool(x2)
        x3 = self._run(e, "31 32 33", p2)
        p3, i3 = self.pool(x3)
        x4 = self._run(e, "41 42 43", p3)
        p4, i4 = self.pool(x4)
        x5 = self._run(e, "51 52 53", p4)
        p5, i5 = self.pool(x5)
        y = self._run(d, "53d 52d 51d", self.unpool(p5, i5, output_size=x5.size()))
        y = self._run(d, "43d 42d 41d", self.unpool(y, i4, output_size=x4.size()))
        y = self._run(d, "33d 32d 31d", self.unpool(y, i3, output_size=x3.size()))
        y = self._run(d, "22d 21d", self.unpool(y, i2, output_size=x2.size()))
        y = self._run(d, "12d 11d", self.unpool(y, i1, output_size=x1.size()))
        return d.conv_final(y)


@pytest.fixture(scope="module")
def ref() -> RefSegNet:
    torch.manual_seed(3)
    net = RefSegNet()
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.normal_(0, 0.1)
    return net.eval()


def ref_reconstruct(ref: RefSegNet, x01: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return ref((x01 - MEAN) / STD) * STD + MEAN


def authors_file(ref: RefSegNet, path: Path, *, wrapper: str | None, prefix: str, drop_nbt: bool) -> Path:
    sd = {prefix + k: v for k, v in ref.state_dict().items() if not (drop_nbt and k.endswith("num_batches_tracked"))}
    torch.save({wrapper: sd, "epoch": 72, "lr": 0.01} if wrapper else sd, path)
    return path


@pytest.mark.parametrize(("wrapper", "prefix", "drop_nbt"), [
    (None, "", False),
    ("model_state", "", True),
    ("state_dict", "module.", False),
    ("model_state", "module.", True),
    (None, "module.", True),
])
def test_import_matches_reference(ref: RefSegNet, tmp_path: Path, wrapper, prefix: str, drop_nbt: bool) -> None:
    pth = authors_file(ref, tmp_path / "segnet.pth", wrapper=wrapper, prefix=prefix, drop_nbt=drop_nbt)
    unit = import_pth(pth, tmp_path / "A_S")
    manifest = read_manifest(unit)
    assert manifest["args"]["widths"] == list(W) and manifest["args"]["depths"] == [2, 2, 3, 3, 3]
    assert manifest["source"]["file"] == "segnet.pth"
    ae = load_ae(unit)
    x = torch.rand(2, 3, 64, 32)
    with torch.no_grad():
        torch.testing.assert_close(ae(x), ref_reconstruct(ref, x), rtol=1e-5, atol=1e-5)


def test_convert_rejects_non_segnet_and_wrong_shapes(ref: RefSegNet) -> None:
    with pytest.raises(CheckpointError, match="not a SegNet checkpoint"):
        convert_authors_state_dict({"fc.weight": torch.zeros(2, 2)})
    sd = dict(ref.state_dict())
    sd["decoder.conv_final.weight"] = torch.zeros(3, 5, 1, 1)
    with pytest.raises(CheckpointError, match=r"'decoder\.conv_final\.weight' has shape \(3, 5, 1, 1\)"):
        convert_authors_state_dict(sd)
    sd = dict(ref.state_dict())
    del sd["decoder.bn21d.running_mean"]
    with pytest.raises(CheckpointError, match="decoder.bn21d.running_mean"):
        convert_authors_state_dict({"model_state": sd})


class Marker:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (os.mkdir, (str(self.path),))


def test_import_refuses_pickle(ref: RefSegNet, tmp_path: Path, capsys) -> None:
    pth = tmp_path / "pickled.pth"
    torch.save({"model_state": ref.state_dict(), "args": Marker(tmp_path / "code-ran")}, pth)
    with pytest.raises(CheckpointError, match="pickle"):
        import_pth(pth, tmp_path / "out")
    assert main(["import-pth", str(pth), str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "pickle" in err and err.startswith("s2s import-pth: error:")
    assert not (tmp_path / "code-ran").exists() and not (tmp_path / "out").exists()


def write_png(path: Path, h: int, w: int) -> Path:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([xx * 255 // w, yy * 255 // h, (xx + yy) % 256], -1) + rng.integers(0, 30, (h, w, 3))
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path)
    return path


def test_cli_import_then_reconstruct_equals_their_network(ref: RefSegNet, tmp_path: Path, capsys) -> None:
    pth = authors_file(ref, tmp_path / "segnet.pth", wrapper="model_state", prefix="module.", drop_nbt=True)
    assert main(["import-pth", str(pth), str(tmp_path / "A_S")]) == 0
    assert "widths [4, 8, 12, 16, 16]" in capsys.readouterr().out
    img = write_png(tmp_path / "in.png", 64, 96)
    assert main(["reconstruct", "--ae", str(tmp_path / "A_S"), "--image", str(img), "--out",
                 str(tmp_path / "out.png")]) == 0
    got = np.asarray(Image.open(tmp_path / "out.png").convert("RGB")).astype(int)
    x = torch.from_numpy(np.asarray(Image.open(img).convert("RGB")).copy()).permute(2, 0, 1)[None].float() / 255
    expected = (ref_reconstruct(ref, x)[0].clamp(0, 1) * 255).round().permute(1, 2, 0).numpy().astype(int)
    assert got.shape == (64, 96, 3)
    assert np.abs(got - expected).max() <= 1


def test_cli_reconstruct_sizes_and_errors(ref: RefSegNet, tmp_path: Path, capsys) -> None:
    import_pth(authors_file(ref, tmp_path / "s.pth", wrapper=None, prefix="", drop_nbt=False), tmp_path / "A_S")
    img = write_png(tmp_path / "odd.png", 50, 70)
    assert main(["reconstruct", "--ae", str(tmp_path / "A_S"), "--image", str(img), "--out",
                 str(tmp_path / "r.png")]) == 0
    assert Image.open(tmp_path / "r.png").size == (64, 64)  # each side rounded to the nearest multiple of 32
    assert main(["reconstruct", "--ae", str(tmp_path / "A_S"), "--image", str(img), "--out",
                 str(tmp_path / "s.png"), "--size", "32"]) == 0
    assert Image.open(tmp_path / "s.png").size == (32, 32)
    capsys.readouterr()
    assert main(["reconstruct", "--ae", str(tmp_path / "A_S"), "--image", str(img), "--out",
                 str(tmp_path / "t.png"), "--size", "48"]) == 1
    err = capsys.readouterr().err.strip()
    assert "multiple of 32" in err and "\n" not in err
    assert main(["reconstruct", "--ae", str(tmp_path / "nope"), "--image", str(img), "--out",
                 str(tmp_path / "t.png")]) == 1
    assert "no unit directory" in capsys.readouterr().err
    assert main(["reconstruct", "--ae", str(tmp_path / "A_S"), "--image", str(tmp_path / "s.pth"), "--out",
                 str(tmp_path / "t.png")]) == 1
    assert not (tmp_path / "t.png").exists()
