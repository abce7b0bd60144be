"""Bad input anywhere gives one plain line, never a traceback; reserved names cannot corrupt a zoo."""

from __future__ import annotations

import pytest

from s2s_core.cli import main
from s2s_core.errors import CheckpointError, ConfigError
from s2s_core.weights import torch_load_safe
from s2s_core.zoo import check_member_name, write_zoo_manifest


@pytest.mark.parametrize("name", ["S", "A_L", "", "a/b"])
def test_names_that_would_collide_with_A_S_or_an_AE_are_refused(name, tmp_path) -> None:
    with pytest.raises(ConfigError, match="reserved or invalid"):
        check_member_name(name)
    with pytest.raises(ConfigError):
        write_zoo_manifest(tmp_path, name="z", input_size=64, num_classes=10, base="base",
                           classifiers={name: "c"}, aes={name: "a"})


def test_bad_noise_grid_is_a_usage_error_not_a_traceback(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", str(tmp_path), "--data", str(tmp_path), "--noise-grid", "a,b"])
    assert exc.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last == "s2s evaluate: error: argument --noise-grid: must be comma-separated numbers in [0, 1], got 'a,b'"
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", str(tmp_path), "--data", str(tmp_path), "--noise-grid", "0,1.5"])
    assert exc.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith("in [0, 1], got '0,1.5'")


def test_infinite_threshold_is_refused(tmp_path, capsys) -> None:
    csv = tmp_path / "cross.csv"
    csv.write_text(",L,A\nA_L,0.5,0.4\nA_A,0.3,0.6\n")
    assert main(["signal-order", str(csv), "--threshold", "inf", "--json"]) == 1
    assert "finite" in capsys.readouterr().err


def test_a_text_file_is_not_a_checkpoint_and_not_called_pickle(tmp_path) -> None:
    path = tmp_path / "notes.pth"
    path.write_text("hello, this is not a checkpoint\n")
    with pytest.raises(CheckpointError, match="not a (readable )?PyTorch checkpoint"):
        torch_load_safe(path)


def test_reconstruct_into_an_unwritable_place_is_one_line(tmp_path, capsys) -> None:
    from s2s_core.checkpoints import save_ae
    from s2s_core.models.segnet import SegNet

    save_ae(tmp_path / "ae", SegNet((4, 4, 4, 4, 4), (1, 1, 1, 1, 1)))
    from PIL import Image

    Image.new("RGB", (32, 32), "red").save(tmp_path / "in.png")
    (tmp_path / "file").write_text("x")
    code = main(["reconstruct", "--ae", str(tmp_path / "ae"), "--image", str(tmp_path / "in.png"),
                 "--out", str(tmp_path / "file" / "out.png")])
    assert code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"s2s reconstruct: error: cannot write {tmp_path / 'file' / 'out.png'}")
    assert not (tmp_path / "file").is_dir()
