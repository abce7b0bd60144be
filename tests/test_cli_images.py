"""What the commands that read one image say about it (issue 23 items 8 and 17): transparency composited
onto white, how the image was resized, and where ``s2s invert`` writes its sidecar."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from s2s_core.checkpoints import save_ae
from s2s_core.cli import build_parser, main
from s2s_core.models.segnet import SegNet


@pytest.fixture(scope="module")
def ae_unit(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    return save_ae(tmp_path_factory.mktemp("ae") / "A_S", SegNet([4, 4, 4, 4, 4], [1, 1, 1, 1, 1]))


def _white_digit_in_alpha(path: Path, width: int, height: int) -> Path:
    rgba = np.full((height, width, 4), 255, np.uint8)
    rgba[..., 3] = 0
    rgba[height // 4: 3 * height // 4, width // 2 - 10: width // 2 + 10, 3] = 255
    Image.fromarray(rgba, "RGBA").save(path)
    return path


def test_reconstruct_keeps_the_aspect_and_says_what_it_did_to_the_image(ae_unit, tmp_path, capsys) -> None:
    image = _white_digit_in_alpha(tmp_path / "digit.png", 464, 442)
    assert main(["reconstruct", "--ae", str(ae_unit), "--image", str(image), "--out", str(tmp_path / "r.png")]) == 0
    out = capsys.readouterr().out
    assert Image.open(tmp_path / "r.png").size == (448, 448)
    assert "note: 464x442 px -> 448x448 px (aspect kept; sides to multiples of 32" in out
    assert "note: digit.png: its picture is only in the alpha channel" in out and "blank" in out


def test_image_flags_state_the_transparency_policy_and_invert_names_its_real_sidecar() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices
    for command in ("reconstruct", "invert"):
        image = next(a for a in sub[command]._actions if "--image" in a.option_strings)
        assert "composited onto white" in image.help
    help_text = io.StringIO()
    sub["invert"].print_help(help_text)
    assert "inv.png -> inv.json" in " ".join(help_text.getvalue().split())
    assert "OUT.json" not in help_text.getvalue()  # it writes OUT with .json for its suffix, not OUT.png.json
