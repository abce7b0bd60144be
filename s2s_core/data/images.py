"""The one image loader: files, uploads and tar members -> RGB images and ``(3, H, W)`` tensors in [0, 1].

Every model in s2s (SegNet AE of Sec. 3.1, classifiers of Sec. 3.3) takes RGB floats in [0, 1]; this
module is where arbitrary user images become that. Policies, in the order they are applied:

1. **Size limits before decoding.** ``Image.open`` only reads the header; the declared width × height is
   checked against ``max_pixels`` (default 64 megapixels) *before* any pixel data is decoded, and the
   byte size against ``max_bytes``. Limits are passed per call; this module never changes PIL's global
   ``Image.MAX_IMAGE_PIXELS``. PIL's own guard still runs inside ``Image.open``: above
   ``2 * Image.MAX_IMAGE_PIXELS`` (~179 MP by default) it raises ``DecompressionBombError``, which becomes
   :class:`ImageLoadError` here, so the effective limit is ``min(max_pixels, 2 * Image.MAX_IMAGE_PIXELS)``.
   Between ``Image.MAX_IMAGE_PIXELS`` and twice that, PIL emits a ``DecompressionBombWarning`` while
   reading the header; the image is then rejected by our own check (if above ``max_pixels``). The
   warning is not filtered, because changing the process-wide warning filters is not thread-safe.
2. **Complete decoding.** Truncated files raise (``ImageFile.LOAD_TRUNCATED_IMAGES`` is never set), so a
   cut-off JPEG or PNG is an error rather than a half-grey picture. GIF/TIFF/WebP: the first frame.
3. **EXIF orientation** is applied (``ImageOps.exif_transpose``); a corrupt EXIF block is ignored.
4. **Colour conversion to 8-bit RGB.** Grayscale (``1``, ``L``) is replicated to three channels; 16-bit
   grayscale (``I;16*``) is scaled by 255/65535 (not clipped); 32-bit ``I`` is read as 16-bit when any
   value exceeds 255 and as 8-bit otherwise; float ``F`` is read as [0, 1] when all values lie there,
   else as [0, 255], else as [0, 65535]. Images with alpha (``LA``, ``RGBA``, ``PA``, ``P``/``L``/``RGB``
   with a transparency key) are **composited onto white**. ``CMYK``/``YCbCr`` use PIL's conversion.

Every failure (missing file, not an image, truncated, empty, zero-size, too large, unsupported mode) raises
:class:`~s2s_core.errors.ImageLoadError` with a one-line message, chained to the original exception.

Resizing policy of :func:`load_image_tensor`: ``size=int S`` resizes the shorter side to S and centre-crops
S×S (the "center-crop, single-scale" evaluation of Table 1); ``size=(H, W)`` resizes to exactly H×W
(aspect not kept); ``multiple_of=m`` then brings each side to its nearest multiple of m (at least m), e.g.
32 for SegNet's five 2×2 poolings, **keeping the aspect ratio**: one uniform scale (the larger of the two
sides' ratios), then a centre crop of what overhangs (:func:`fit_to_multiple`). All resizing is antialiased
bicubic.
"""

from __future__ import annotations

import io
import logging
import math
import os
import re
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from s2s_core.errors import ImageLoadError

log = logging.getLogger(__name__)

#: Largest image accepted by default, in pixels (64 megapixels).
DEFAULT_MAX_PIXELS = 64_000_000
#: Largest encoded file accepted by default, in bytes (256 MiB).
DEFAULT_MAX_BYTES = 256 * 1024 * 1024
#: File extensions treated as images when scanning folders and tar shards.
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif"})
_FORMATS_TEXT = "PNG, JPEG, WebP, BMP, TIFF, GIF"
_WHITE = (255, 255, 255)
#: What every s2s image path does with transparency (for help texts and notes).
ALPHA_POLICY = "transparent pixels are composited onto white"

ImageSource = str | os.PathLike | bytes | bytearray | memoryview | BinaryIO


def is_image_name(name: str | os.PathLike) -> bool:
    """True when the file name has one of :data:`IMAGE_EXTENSIONS` (case-insensitive)."""
    return os.path.splitext(os.fspath(name))[1].lower() in IMAGE_EXTENSIONS


def _read_source(source: ImageSource, max_bytes: int) -> tuple[bytes, str]:
    """Return the encoded bytes and a display name; enforce ``max_bytes``."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, name = bytes(source), "image data"
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        name = path.name or str(path)
        try:
            size = path.stat().st_size
            if size > max_bytes:
                raise ImageLoadError(f"{name} is {size / 1e6:.1f} MB, above the {max_bytes / 1e6:.0f} MB limit")
            data = path.read_bytes()
        except FileNotFoundError as exc:
            raise ImageLoadError(f"image file not found: {path}") from exc
        except IsADirectoryError as exc:
            raise ImageLoadError(f"{path} is a folder, not an image file") from exc
        except OSError as exc:
            raise ImageLoadError(f"cannot read {path}: {exc.strerror or exc}") from exc
    elif hasattr(source, "read"):
        name = Path(str(getattr(source, "name", "") or "upload")).name
        try:
            if hasattr(source, "seek"):
                source.seek(0)
            data = source.read(max_bytes + 1)
        except (OSError, ValueError) as exc:
            raise ImageLoadError(f"cannot read {name}: {exc}") from exc
        if not isinstance(data, (bytes, bytearray)):
            raise ImageLoadError(f"{name} was opened in text mode; open image files in binary mode ('rb')")
        data = bytes(data)
    else:
        raise ImageLoadError(f"cannot load an image from a {type(source).__name__}; give a path, bytes or a file")
    if not data:
        raise ImageLoadError(f"{name} is empty (0 bytes)")
    if len(data) > max_bytes:
        raise ImageLoadError(f"{name} is larger than the {max_bytes / 1e6:.0f} MB limit")
    return data, name


def _check_pixels(name: str, size: tuple[int, int], max_pixels: int) -> None:
    width, height = size
    if width <= 0 or height <= 0:
        raise ImageLoadError(f"{name} has zero size ({width}×{height} pixels)")
    if width * height > max_pixels:
        raise ImageLoadError(
            f"{name} is {width}×{height} = {width * height / 1e6:.0f} megapixels, "
            f"above the {max_pixels / 1e6:.0f} megapixel limit"
        )


def _composite_on_white(im: Image.Image) -> Image.Image:
    rgba = im.convert("RGBA")
    background = Image.new("RGBA", rgba.size, _WHITE + (255,))
    return Image.alpha_composite(background, rgba).convert("RGB")


def _high_depth_to_l(im: Image.Image) -> Image.Image:
    """``I;16*``, ``I`` or ``F`` grayscale -> 8-bit ``L`` with the scaling documented in the module."""
    arr = np.asarray(im).astype(np.float64)
    if im.mode.startswith("I;16"):
        full = 65535.0
    elif im.mode == "F":
        finite = arr[np.isfinite(arr)]
        top, bottom = (float(finite.max()), float(finite.min())) if finite.size else (0.0, 0.0)
        full = 1.0 if (top <= 1.0 and bottom >= 0.0) else 255.0 if top <= 255.0 else 65535.0
    else:  # "I": 32-bit signed
        full = 65535.0 if arr.max(initial=0) > 255 else 255.0
    arr = np.nan_to_num(arr, nan=0.0, posinf=full, neginf=0.0)
    scaled = np.clip(np.rint(arr * (255.0 / full)), 0, 255).astype(np.uint8)
    return Image.fromarray(scaled)


def _alpha_note(im: Image.Image, rgb: Image.Image, name: str) -> tuple[str, bool] | None:
    """What compositing ``im`` onto white did, in one sentence, and whether it left a blank image; None when
    its alpha is fully opaque.

    The loud case is a picture drawn only in the alpha channel (every pixel one colour, e.g. a white digit
    whose shape is its alpha): on white it is a blank image, and a classifier would still answer.
    """
    if im.convert("RGBA").getchannel("A").getextrema()[0] == 255:
        return None
    if all(lo == hi for lo, hi in rgb.getextrema()):
        return (f"{name}: its picture is only in the alpha channel (every pixel has the same colour), so "
                f"composited onto white it is a blank image; flatten it onto a contrasting background first"), True
    return f"{name} has transparency: {ALPHA_POLICY}", False


def to_rgb(im: Image.Image, name: str = "image", notes: list[str] | None = None) -> Image.Image:
    """Convert any PIL mode to 8-bit RGB (policies in the module docstring; alpha onto white).

    With ``notes``, a sentence saying how transparency was handled is appended to it (see
    :func:`_alpha_note`); without, a picture that compositing leaves blank is logged as a warning.
    """
    try:
        if im.mode.startswith("I") or im.mode == "F":
            return _high_depth_to_l(im).convert("RGB")
        if im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info:
            rgb = _composite_on_white(im)
            note = _alpha_note(im, rgb, name)
            if note is not None and notes is not None:
                notes.append(note[0])
            elif note is not None and note[1]:  # blank: worth a warning where nobody collects notes
                log.warning(note[0])
            return rgb
        return im.convert("RGB") if im.mode != "RGB" else im
    except (ValueError, OSError, TypeError) as exc:
        raise ImageLoadError(f"{name} has colour mode {im.mode}, which cannot be converted to RGB") from exc


def load_image(
    source: ImageSource,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    draft: tuple[int, int] | None = None,
    notes: list[str] | None = None,
) -> Image.Image:
    """Load an image file, path, uploaded file or bytes as an 8-bit RGB ``PIL.Image``.

    ``draft=(w, h)`` lets JPEG decode at a reduced scale (1/2, 1/4, 1/8) that stays at least w×h; used by
    the streams of Sec. 3.2 to make large photos cheap when only a small crop is needed. The size
    limits are checked on the declared (full) size. Transparency is composited onto white on every path
    (files, uploads, data sets); ``notes`` collects a sentence saying so for an image that had any (commands
    print it). Raises :class:`ImageLoadError` on any failure.
    """
    data, name = _read_source(source, max_bytes)
    try:
        with Image.open(io.BytesIO(data)) as im:
            _check_pixels(name, im.size, max_pixels)
            if draft is not None and im.format == "JPEG":
                im.draft(im.mode, draft)
            im.load()
            try:
                oriented = ImageOps.exif_transpose(im)
            except Exception as exc:  # a broken EXIF block must not make a good image unreadable
                log.debug("ignoring unreadable EXIF data in %s: %s", name, exc)
                oriented = im
            rgb = to_rgb(oriented, name, notes)
            if rgb is im:
                rgb = im.copy()
    except ImageLoadError:
        raise
    except UnidentifiedImageError as exc:
        raise ImageLoadError(f"{name} is not an image file PIL can read ({_FORMATS_TEXT})") from exc
    except Image.DecompressionBombError as exc:
        found = re.search(r"\((\d+) pixels\)", str(exc))
        declared = f" = {int(found.group(1)) / 1e6:.0f} megapixels" if found else ""
        raise ImageLoadError(
            f"{name} declares a size{declared} above the "
            f"{min(max_pixels, 2 * (Image.MAX_IMAGE_PIXELS or 0)) / 1e6:.0f} megapixel limit (possible decompression bomb)"
        ) from exc
    except MemoryError as exc:
        raise ImageLoadError(f"{name} is too large to decode in the available memory") from exc
    except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError, EOFError, struct.error, ...
        reason = "truncated" if "truncated" in str(exc).lower() else "damaged or truncated"
        raise ImageLoadError(f"{name} is {reason} and cannot be decoded ({type(exc).__name__}: {exc})") from exc
    _check_pixels(name, rgb.size, max_pixels)
    return rgb


def image_to_tensor(image: Image.Image) -> torch.Tensor:
    """PIL image (any mode) -> float32 tensor ``(3, H, W)`` in [0, 1]."""
    rgb = to_rgb(image)
    arr = np.asarray(rgb, dtype=np.uint8)
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).float().div_(255.0)


def tensor_to_uint8(t: torch.Tensor) -> np.ndarray:
    """``(3, H, W)`` or ``(1, 3, H, W)`` float in [0, 1] -> ``np.uint8`` array ``(H, W, 3)``.

    Values are clamped to [0, 1] (NaN -> 0) and rounded to the nearest of 256 levels.
    """
    if t.dim() == 4 and t.shape[0] == 1:
        t = t[0]
    if t.dim() != 3 or t.shape[0] != 3:
        raise ValueError(f"expected an image tensor of shape (3, H, W), got {tuple(t.shape)}")
    t = torch.nan_to_num(t.detach().float().cpu(), nan=0.0).clamp_(0.0, 1.0)
    return t.mul(255.0).round_().to(torch.uint8).permute(1, 2, 0).contiguous().numpy()


def tensor_to_image(t: torch.Tensor) -> Image.Image:
    """``(3, H, W)`` float in [0, 1] -> RGB ``PIL.Image`` (clamped, rounded; see :func:`tensor_to_uint8`)."""
    return Image.fromarray(tensor_to_uint8(t), mode="RGB")


def resize_center_crop(image: Image.Image, size: int, resize: int | None = None) -> Image.Image:
    """Resize the shorter side to ``resize`` (default ``size``; antialiased bicubic), then centre-crop ``size × size``.

    ``resize=256, size=224`` is the evaluation crop of torchvision's ImageNet classifiers.
    """
    resize = size if resize is None else resize
    if resize < size:
        raise ValueError(f"resize ({resize}) must be at least the crop size ({size})")
    width, height = image.size
    scale = resize / min(width, height)
    new_w, new_h = max(resize, round(width * scale)), max(resize, round(height * scale))
    left, top = (new_w - size) // 2, (new_h - size) // 2
    box = (left / scale, top / scale, (left + size) / scale, (top + size) / scale)
    return image.resize((size, size), Image.Resampling.BICUBIC, box=box)


def random_resized_crop(
    image: Image.Image,
    size: int,
    *,
    scale: tuple[float, float] = (0.25, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    generator: torch.Generator | None = None,
) -> Image.Image:
    """A random crop covering a fraction ``scale`` of the area with aspect in ``ratio``, resized to S×S.

    How the streams of Sec. 3.2 turn arbitrary photos into ``size × size`` training samples. Parameters
    are drawn from ``generator`` (deterministic for a seeded generator); after 10 failed draws it falls
    back to the centre square (:func:`resize_center_crop`).
    """
    width, height = image.size
    area = width * height
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    for _ in range(10):
        u = torch.rand(4, generator=generator).tolist()
        target = area * (scale[0] + (scale[1] - scale[0]) * u[0])
        aspect = math.exp(log_lo + (log_hi - log_lo) * u[1])
        w, h = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            left, top = int(u[2] * (width - w + 1)), int(u[3] * (height - h + 1))
            return image.resize((size, size), Image.Resampling.BICUBIC, box=(left, top, left + w, top + h))
    return resize_center_crop(image, size)


def _round_multiple(value: int, multiple: int) -> int:
    return max(multiple, int(round(value / multiple)) * multiple)


def fit_to_multiple(image: Image.Image, multiple: int) -> Image.Image:
    """Each side to its nearest multiple of ``multiple`` (at least ``multiple``) without distorting the image.

    One uniform scale ``s = max(W'/W, H'/H)`` (W', H' the target sides) makes both sides at least their
    targets; the overhang of the other side is cropped evenly from both ends, in the same resampling (no
    second interpolation). 464×442 with m=32: s = 448/442, about 470×448, cropped to 448×448; the aspect ratio
    of what remains is the original's.
    """
    width, height = image.size
    target = (_round_multiple(width, multiple), _round_multiple(height, multiple))
    if target == image.size:
        return image
    scale = max(target[0] / width, target[1] / height)
    box_w, box_h = target[0] / scale, target[1] / scale  # the kept region, in source pixels
    left, top = (width - box_w) / 2, (height - box_h) / 2
    return image.resize(target, Image.Resampling.BICUBIC, box=(left, top, left + box_w, top + box_h))


def load_image_tensor(
    source: ImageSource,
    size: int | tuple[int, int] | None = None,
    *,
    multiple_of: int | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    notes: list[str] | None = None,
) -> torch.Tensor:
    """Load an image as a float32 tensor ``(3, H, W)`` in [0, 1] (resize policy in the module docstring).

    ``size=None`` keeps the original size; ``size=S`` gives ``(3, S, S)`` (shorter side to S, centre crop);
    ``size=(H, W)`` gives ``(3, H, W)``; ``multiple_of=m`` rounds H and W to the nearest multiple of m.
    ``notes``: see :func:`load_image`.
    """
    image = load_image(source, max_pixels=max_pixels, max_bytes=max_bytes, notes=notes)
    original = image.size
    if isinstance(size, int):
        if size < 1:
            raise ImageLoadError(f"image size must be at least 1 pixel, got {size}")
        image = resize_center_crop(image, size)
        how = "shorter side resized, centre-cropped"
    elif size is not None:
        height, width = size
        if height < 1 or width < 1:
            raise ImageLoadError(f"image size must be at least 1×1 pixels, got {height}×{width}")
        image = image.resize((width, height), Image.Resampling.BICUBIC)
        how = "resized to exactly that size"
    else:
        how = "aspect kept"
    if multiple_of is not None:
        if multiple_of < 1:
            raise ImageLoadError(f"multiple_of must be at least 1, got {multiple_of}")
        image = fit_to_multiple(image, multiple_of)
        how += f"; sides to multiples of {multiple_of}, scaled uniformly and the overhang centre-cropped"
    if notes is not None and image.size != original:
        notes.append(f"{original[0]}x{original[1]} px -> {image.width}x{image.height} px ({how})")
    return image_to_tensor(image)
