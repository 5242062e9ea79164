"""Pictures where people look: thumbnails, labelled contact sheets (`eval --sheet`, `review --sheet`) and images
embedded in a web page (`review`). numpy in, numpy (or text) out; no torch."""

from __future__ import annotations

import base64
import io

import cv2
import numpy as np
from PIL import Image

FONT = cv2.FONT_HERSHEY_SIMPLEX
HEADER = 24  # pixels above a sheet's first row, for the column names


def as_rgb(image: np.ndarray) -> np.ndarray:
    """(H, W) gray or (H, W, 3) RGB uint8 -> (H, W, 3) RGB uint8."""
    return np.repeat(image[..., None], 3, -1) if image.ndim == 2 else image


def thumbnail(
    image: np.ndarray, width: int | None = None, height: int | None = None, upscale: bool = False
) -> np.ndarray:
    """(H, W[, 3]) uint8 -> RGB uint8 scaled (area filter) to ``width`` or ``height`` (the other side follows the
    aspect ratio; with both, it fits inside them). Smaller images stay as they are unless ``upscale``."""
    h, w = image.shape[:2]
    scale = min(width / w if width else np.inf, height / h if height else np.inf)
    scale = scale if upscale else min(scale, 1.0)
    if not np.isfinite(scale) or scale == 1:
        return as_rgb(image)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return as_rgb(cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR))


def contact_sheet(columns: dict[str, list[tuple[str, np.ndarray]]], tile_w: int = 200) -> np.ndarray:
    """Columns of (row label, image) tiles, each scaled to ``tile_w`` wide, under their column names; row labels
    are written on the first column's tiles. Rows take the first column's heights. -> (H, W, 3) uint8 sheet."""
    names = list(columns)
    grid = [[(label, thumbnail(image, tile_w, upscale=True)) for label, image in columns[name]] for name in names]
    heights = [tile.shape[0] for _, tile in grid[0]]
    offsets = np.cumsum([HEADER, *heights])
    sheet = np.full((int(offsets[-1]), tile_w * len(names), 3), 255, np.uint8)
    for c, (name, tiles) in enumerate(zip(names, grid, strict=True)):
        cv2.putText(sheet, name, (c * tile_w + 6, 17), FONT, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        for r, (label, tile) in enumerate(tiles):
            y, th = int(offsets[r]), min(tile.shape[0], heights[r])
            sheet[y : y + th, c * tile_w : c * tile_w + tile.shape[1]] = tile[:th]
            if c == 0 and label:
                cv2.putText(sheet, label, (4, y + 14), FONT, 0.4, (0, 0, 0), 3, cv2.LINE_AA)
                cv2.putText(sheet, label, (4, y + 14), FONT, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    return sheet


def data_uri(image: np.ndarray, quality: int = 85) -> str:
    """(H, W[, 3]) uint8 -> a ``data:image/jpeg;base64,...`` URI for an <img> in a self-contained page."""
    buf = io.BytesIO()
    Image.fromarray(as_rgb(image)).save(buf, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
