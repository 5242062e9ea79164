"""Still images: read as (H, W, 3) uint8 RGB with EXIF orientation applied; write atomically."""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from vidcolor.errors import VidcolorError
from vidcolor.io.atomic import write_atomic

WRITE_FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".bmp": "BMP",
    ".webp": "WEBP",
}
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif")
GRAY_TOLERANCE = 3  # 8-bit levels of channel difference still counted as gray (JPEG noise)


def check_image(path: str | os.PathLike) -> Path:
    """Cheap up-front check that ``path`` is a readable image file (header and structure)."""
    path = Path(path)
    if not path.exists():
        raise VidcolorError(f"{path}: no such file")
    if path.is_dir():
        raise VidcolorError(f"{path}: is a folder, expected an image file")
    try:
        with Image.open(path) as img:
            img.verify()
    except Image.DecompressionBombError as exc:
        raise VidcolorError(f"{path}: {_too_large(exc)}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        reason = "not an image file" if isinstance(exc, UnidentifiedImageError) else f"unreadable image ({exc})"
        raise VidcolorError(f"{path}: {reason}") from None
    return path


def _too_large(exc: Exception) -> str:
    """PIL refuses images over twice Image.MAX_IMAGE_PIXELS (decompression bomb guard): say so in a line."""
    m = re.search(r"\((\d+) pixels\)", str(exc))
    size = f"{int(m.group(1)) / 1e6:.0f} megapixels; " if m else ""
    limit = 2 * (Image.MAX_IMAGE_PIXELS or 0) / 1e6
    return f"image too large ({size}PIL refuses over {limit:.0f} megapixels): scale it down"


def read_image(path: str | os.PathLike, crop: bool = True) -> np.ndarray:
    """(H, W, 3) uint8 RGB. Gray, palette, CMYK and 16-bit images are converted; EXIF rotation applied. An image
    with transparency is laid on white (the hidden pixels' colours are not its) and, with ``crop`` (a reference),
    cropped to its visible part; a target keeps its size (``crop=False``)."""
    path = check_image(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # palette transparency and PIL's size warnings: handled
            with Image.open(path) as img:
                return _to_rgb(ImageOps.exif_transpose(img), crop)
    except Image.DecompressionBombError as exc:
        raise VidcolorError(f"{path}: {_too_large(exc)}") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise VidcolorError(f"{path}: unreadable image ({exc})") from None


def _to_rgb(img: Image.Image, crop: bool = True) -> np.ndarray:
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        arr = (arr / max(1.0, 65535.0 if arr.max() > 255 else 255.0) * 255.0).round().astype(np.uint8)
        return np.repeat(arr[..., None], 3, axis=2)
    if img.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        box = rgba.getchannel("A").getbbox()
        if box is None and crop:
            raise ValueError("every pixel is transparent")
        rgba = rgba.crop(box) if crop else rgba
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(white, rgba).convert("RGB")).copy()
    return np.asarray(img.convert("RGB")).copy()


def is_grayscale(rgb: np.ndarray) -> bool:
    """True when the image carries (almost) no colour: channels equal up to JPEG noise on 99.5% of pixels."""
    x = rgb.astype(np.int16)
    spread = np.maximum(np.abs(x[..., 0] - x[..., 1]), np.abs(x[..., 1] - x[..., 2]))
    return float(np.quantile(spread, 0.995)) <= GRAY_TOLERANCE


def write_format(path: str | os.PathLike) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in WRITE_FORMATS:
        raise VidcolorError(f"{path}: unknown image extension (use one of {', '.join(sorted(WRITE_FORMATS))})")
    return WRITE_FORMATS[suffix]


def write_image(path: str | os.PathLike, rgb: np.ndarray) -> None:
    """Write (H, W, 3) uint8 to ``path`` atomically (temporary file in the same folder, then rename)."""
    fmt = write_format(path)
    options = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
    write_atomic(path, lambda tmp: Image.fromarray(rgb).save(tmp, format=fmt, **options))


def upright(image: np.ndarray, rotation: int) -> np.ndarray:
    """A decoded frame (H, W, ...) as players show it: turned by its display matrix's angle (``VideoInfo.rotation``,
    counterclockwise degrees, a multiple of 90)."""
    turns = round(rotation / 90) % 4
    return np.ascontiguousarray(np.rot90(image, turns)) if turns else image
