"""The image loader: formats, colour modes, EXIF, damaged/empty/huge files, resizing, tensor round trips."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from s2s_core.data.images import (
    image_to_tensor,
    load_image,
    load_image_tensor,
    random_resized_crop,
    resize_center_crop,
    tensor_to_image,
    tensor_to_uint8,
    to_rgb,
)
from s2s_core.errors import ImageLoadError

RED = (220, 30, 40)


def _encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _png_header_only(width: int, height: int) -> bytes:
    """A small PNG whose header declares width×height but whose pixel data is a few bytes."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _noise_image(w: int = 64, h: int = 48, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


@pytest.mark.parametrize(
    ("fmt", "suffix", "tol"),
    [("PNG", ".png", 0), ("JPEG", ".jpg", 6), ("WEBP", ".webp", 6), ("BMP", ".bmp", 0), ("TIFF", ".tif", 0),
     ("GIF", ".gif", 12)],
)
def test_formats_load_as_rgb(tmp_path: Path, fmt: str, suffix: str, tol: int) -> None:
    path = tmp_path / f"img{suffix}"
    Image.new("RGB", (16, 12), RED).save(path, format=fmt)
    im = load_image(path)
    assert im.mode == "RGB" and im.size == (16, 12)
    assert np.abs(np.asarray(im).astype(int) - RED).max() <= tol


def test_path_bytes_and_file_objects_are_equivalent(tmp_path: Path) -> None:
    path = tmp_path / "noise.png"
    _noise_image().save(path)
    data = path.read_bytes()
    ref = np.asarray(load_image(path))
    assert np.array_equal(np.asarray(load_image(str(path))), ref)
    assert np.array_equal(np.asarray(load_image(data)), ref)
    assert np.array_equal(np.asarray(load_image(bytearray(data))), ref)
    with open(path, "rb") as fh:
        assert np.array_equal(np.asarray(load_image(fh)), ref)
    stream = io.BytesIO(data)
    stream.read(10)  # a half-read upload is rewound
    assert np.array_equal(np.asarray(load_image(stream)), ref)


@pytest.mark.parametrize(
    ("mode", "value", "expected"),
    [("1", 1, (255, 255, 255)), ("L", 77, (77, 77, 77)), ("CMYK", (0, 255, 255, 0), (255, 0, 0)),
     ("YCbCr", (76, 85, 255), (254, 0, 0))],
)
def test_simple_modes(tmp_path: Path, mode: str, value, expected) -> None:
    path = tmp_path / f"{mode}.tif"
    Image.new(mode, (5, 4), value).save(path)
    pixels = np.asarray(load_image(path)).astype(int)
    assert np.abs(pixels - expected).max() <= 2


def test_cmyk_jpeg(tmp_path: Path) -> None:
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(path, quality=95)
    pixel = np.asarray(load_image(path))[4, 4].astype(int)
    assert np.abs(pixel - (255, 0, 0)).max() <= 8


def test_16bit_grey_is_scaled_not_clipped(tmp_path: Path) -> None:
    values = np.array([[0, 1000, 32896, 65535]], dtype=np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(values).save(path)
    assert Image.open(path).mode.startswith("I")
    pixels = np.asarray(load_image(path))
    assert pixels[0, :, 0].tolist() == [0, 4, 128, 255]
    assert (pixels[..., 0] == pixels[..., 2]).all()


def test_32bit_int_and_float_grey(tmp_path: Path) -> None:
    wide = Image.fromarray(np.array([[0, 257 * 100, 65535]], dtype=np.int32))
    assert wide.mode == "I"
    assert np.asarray(to_rgb(wide))[0, :, 1].tolist() == [0, 100, 255]
    narrow = Image.fromarray(np.array([[0, 100, 255]], dtype=np.int32))
    assert np.asarray(to_rgb(narrow))[0, :, 1].tolist() == [0, 100, 255]
    path = tmp_path / "float.tif"
    Image.fromarray(np.array([[0.0, 0.5, 1.0]], dtype=np.float32)).save(path)
    assert np.asarray(load_image(path))[0, :, 0].tolist() == [0, 128, 255]


def test_alpha_is_composited_on_white(tmp_path: Path) -> None:
    path = tmp_path / "rgba.png"
    Image.new("RGBA", (4, 4), (255, 0, 0, 128)).save(path)
    assert np.abs(np.asarray(load_image(path))[0, 0].astype(int) - (255, 127, 127)).max() <= 1
    path = tmp_path / "la.png"
    Image.new("LA", (4, 4), (0, 0)).save(path)
    assert np.asarray(load_image(path)).min() == 255
    pa = Image.new("PA", (2, 2))
    pa.putpalette([0, 0, 255] * 256)
    assert np.asarray(to_rgb(pa)).min() == 255  # alpha 0 everywhere -> white


def test_palette_with_transparency(tmp_path: Path) -> None:
    im = Image.new("P", (4, 2), 0)
    im.putpalette([0, 0, 255, 255, 0, 0] + [0, 0, 0] * 254)
    im.putpixel((3, 1), 1)
    path = tmp_path / "pal.png"
    im.save(path, transparency=0)
    pixels = np.asarray(load_image(path))
    assert pixels[0, 0].tolist() == [255, 255, 255]  # transparent index -> white
    assert pixels[1, 3].tolist() == [255, 0, 0]


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    im = Image.new("RGB", (20, 10), (255, 0, 0))
    im.paste((0, 0, 255), (10, 0, 20, 10))  # left red, right blue
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    path = tmp_path / "rot.jpg"
    im.save(path, exif=exif, quality=95)
    loaded = load_image(path)
    assert loaded.size == (10, 20)
    pixels = np.asarray(loaded).astype(int)
    assert pixels[2, 5, 0] > 200 and pixels[2, 5, 2] < 60  # top is red
    assert pixels[17, 5, 2] > 200 and pixels[17, 5, 0] < 60  # bottom is blue


def test_animated_gif_gives_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=50, loop=0)
    assert Image.open(path).n_frames == 3
    assert np.asarray(load_image(path))[4, 4].tolist() == [255, 0, 0]


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_files_raise(tmp_path: Path, fmt: str) -> None:
    data = _encode(_noise_image(96, 96), fmt)
    path = tmp_path / f"cut.{fmt.lower()}"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageLoadError, match="truncated") as info:
        load_image(path)
    assert info.value.__cause__ is not None


@pytest.mark.parametrize(
    ("data", "pattern"),
    [(b"definitely not an image" * 10, "not an image file"), (b"", "empty"),
     (_png_header_only(0, 10), "not an image file|zero size")],
)
def test_bad_bytes_raise_one_error_type(data: bytes, pattern: str) -> None:
    with pytest.raises(ImageLoadError, match=pattern):
        load_image(data)


def test_bad_paths(tmp_path: Path) -> None:
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ImageLoadError, match="empty.png is empty"):
        load_image(tmp_path / "empty.png")
    with pytest.raises(ImageLoadError, match="not found"):
        load_image(tmp_path / "missing.jpg")
    with pytest.raises(ImageLoadError, match="folder"):
        load_image(tmp_path)
    (tmp_path / "upload.png").write_bytes(b"GIF89a but not really")
    with pytest.raises(ImageLoadError, match=r"upload.png is not an image file PIL can read \(PNG, JPEG"):
        load_image(tmp_path / "upload.png")
    with pytest.raises(ImageLoadError, match="cannot load an image from a int"):
        load_image(3)  # type: ignore[arg-type]


def test_pixel_limit_is_checked_before_decoding() -> None:
    # 9000×9000 is below PIL's own warning threshold: our limit rejects it from the header alone
    # (the file has no pixel data, so decoding would have failed with a different message).
    with pytest.raises(ImageLoadError, match="9000×9000 = 81 megapixels, above the 64 megapixel limit"):
        load_image(_png_header_only(9000, 9000))
    # 30000×30000 trips PIL's decompression-bomb error inside Image.open; still our error type.
    with pytest.raises(ImageLoadError, match="900 megapixels") as info:
        load_image(_png_header_only(30000, 30000))
    assert isinstance(info.value.__cause__, Image.DecompressionBombError)
    # Between PIL's warning threshold (~89 MP) and its error threshold PIL warns (we never touch the
    # process-wide warning filters), then our own limit rejects the image.
    with pytest.warns(Image.DecompressionBombWarning), pytest.raises(ImageLoadError, match="100 megapixels"):
        load_image(_png_header_only(10000, 10000))
    small = _encode(Image.new("RGB", (100, 100)), "PNG")
    with pytest.raises(ImageLoadError, match="above the 0 megapixel limit"):
        load_image(small, max_pixels=5000)
    assert load_image(small, max_pixels=10_000).size == (100, 100)


def test_byte_limit() -> None:
    data = _encode(_noise_image(), "PNG")
    with pytest.raises(ImageLoadError, match="MB limit"):
        load_image(io.BytesIO(data), max_bytes=100)


def test_jpeg_draft_decodes_at_reduced_scale() -> None:
    data = _encode(_noise_image(800, 600), "JPEG")
    assert load_image(data).size == (800, 600)
    reduced = load_image(data, draft=(150, 150))
    assert reduced.size == (200, 150)


def test_load_image_tensor_sizes(tmp_path: Path) -> None:
    im = Image.new("RGB", (40, 20), (255, 0, 0))
    im.paste((0, 0, 255), (10, 0, 30, 20))  # red | blue | red
    path = tmp_path / "bands.png"
    im.save(path)
    full = load_image_tensor(path)
    assert full.shape == (3, 20, 40) and full.dtype == torch.float32
    assert full.min() >= 0.0 and full.max() <= 1.0
    crop = load_image_tensor(path, 20)  # shorter side 20, centre 20×20 = the blue band
    assert crop.shape == (3, 20, 20)
    assert torch.allclose(crop.mean(dim=(1, 2)), torch.tensor([0.0, 0.0, 1.0]), atol=0.02)
    assert load_image_tensor(path, 10).shape == (3, 10, 10)
    assert load_image_tensor(path, (16, 24)).shape == (3, 16, 24)
    assert load_image_tensor(path, multiple_of=32).shape == (3, 32, 32)
    assert load_image_tensor(path, (70, 100), multiple_of=32).shape == (3, 64, 96)


def test_tensor_conversions_round_and_clamp() -> None:
    t = torch.tensor([-0.5, 0.2, 0.5, 1.5, float("nan"), 1.0]).view(1, 2, 3).expand(3, 2, 3)
    arr = tensor_to_uint8(t)
    assert arr.shape == (2, 3, 3) and arr.dtype == np.uint8
    assert arr[..., 0].ravel().tolist() == [0, 51, 128, 255, 0, 255]
    assert tensor_to_image(t.unsqueeze(0)).size == (3, 2)
    noise = _noise_image(7, 5)
    back = tensor_to_image(image_to_tensor(noise))
    assert np.array_equal(np.asarray(back), np.asarray(noise))
    with pytest.raises(ValueError, match=r"\(3, H, W\)"):
        tensor_to_uint8(torch.zeros(4, 5, 5))


def test_crops() -> None:
    im = _noise_image(120, 80)
    assert resize_center_crop(im, 32).size == (32, 32)
    a = random_resized_crop(im, 24, generator=torch.Generator().manual_seed(1))
    b = random_resized_crop(im, 24, generator=torch.Generator().manual_seed(1))
    c = random_resized_crop(im, 24, generator=torch.Generator().manual_seed(2))
    assert a.size == (24, 24)
    assert np.array_equal(np.asarray(a), np.asarray(b))
    assert not np.array_equal(np.asarray(a), np.asarray(c))
    # impossible aspect ratios fall back to the centre square
    assert random_resized_crop(im, 16, ratio=(50.0, 60.0)).size == (16, 16)


# ------------------------------------------------------------------ transparency (issue 23 item 8)


def _alpha_digit(colour: int) -> bytes:
    """A 32x32 "1" drawn only in the alpha channel: every pixel has RGB ``colour``, the stroke alpha 255,
    the rest alpha 0 (as sklearn's digits saved with the ink as opacity)."""
    rgba = np.zeros((32, 32, 4), np.uint8)
    rgba[..., :3] = colour
    rgba[6:26, 14:18, 3] = 255
    return _encode(Image.fromarray(rgba, "RGBA"), "PNG")


def test_a_dark_digit_in_alpha_is_composited_onto_white_and_said_so() -> None:
    notes: list[str] = []
    x = load_image_tensor(_alpha_digit(0), notes=notes)
    assert torch.all(x[:, 6:26, 14:18] == 0) and x[:, :6].eq(1).all() and x[:, :, :14].eq(1).all()
    assert notes == ["image data has transparency: transparent pixels are composited onto white"]


def test_a_white_digit_only_in_alpha_is_blank_on_white_and_warned_about(caplog) -> None:
    notes: list[str] = []
    x = load_image_tensor(_alpha_digit(255), notes=notes)
    assert x.eq(1).all()  # on white nothing is left: the loader says so instead of staying silent
    assert len(notes) == 1 and "only in the alpha channel" in notes[0] and "blank" in notes[0]
    with caplog.at_level("WARNING", logger="s2s_core.data.images"):
        load_image(_alpha_digit(255))  # without a notes list (data sets): a logged warning
    assert any("only in the alpha channel" in r.getMessage() for r in caplog.records)


def test_an_opaque_alpha_channel_gives_no_note() -> None:
    rgba = np.full((8, 8, 4), 255, np.uint8)
    notes: list[str] = []
    load_image_tensor(_encode(Image.fromarray(rgba, "RGBA"), "PNG"), notes=notes)
    assert notes == []


def test_datasets_composite_alpha_onto_white(tmp_path: Path) -> None:
    from s2s_core.data.datasets import LabelledImageFolder

    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "img_000.png").write_bytes(_alpha_digit(0))
    x, _ = LabelledImageFolder(tmp_path, 32)[0]
    assert x[:, 16, 16].eq(0).all() and x[:, 2, 2].eq(1).all()  # the stroke black, the transparent rest white


# ------------------------------------------------------------------ aspect ratio (issue 23 item 17)


def test_multiple_of_keeps_the_aspect_ratio_and_says_what_it_did() -> None:
    """464x442 to multiples of 32: 448x448 by one uniform scale (448/442) and a centre crop, not a stretch.
    A centred 100x100 black square stays square, 101 +- 1 px a side (a stretch: about 97 wide, 101 high)."""
    im = np.full((442, 464, 3), 255, np.uint8)
    im[171:271, 182:282] = 0
    notes: list[str] = []
    x = load_image_tensor(_encode(Image.fromarray(im), "PNG"), multiple_of=32, notes=notes)
    assert x.shape == (3, 448, 448)
    dark = x[0] < 0.5
    width, height = int(dark.any(0).sum()), int(dark.any(1).sum())
    assert abs(width - height) <= 1 and all(abs(side - 100 * 448 / 442) <= 1.5 for side in (width, height))
    assert notes == ["464x442 px -> 448x448 px (aspect kept; sides to multiples of 32, scaled uniformly and the "
                     "overhang centre-cropped)"]


def test_multiple_of_leaves_fitting_images_untouched() -> None:
    im = Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 96, 3), dtype=np.uint8))
    notes: list[str] = []
    x = load_image_tensor(_encode(im, "PNG"), multiple_of=32, notes=notes)
    assert torch.equal(x, image_to_tensor(im)) and notes == []
