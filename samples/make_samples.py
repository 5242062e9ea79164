"""Make the project's own sample media (no third-party content): a painted landscape as a colour reference
and a different view of it in black and white.

    python samples/make_samples.py            # writes samples/landscape-ref.png and samples/landscape-gray.png
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

HERE = Path(__file__).resolve().parent


def landscape(width: int, height: int, shift: float, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, height)[:, None, None]
    sky = (1 - y) * np.array([70, 130, 210]) + y * np.array([185, 215, 240])
    img = np.broadcast_to(sky, (height, width, 3)).copy()
    x = np.arange(width)
    for base, amp, freq, colour in ((0.55, 0.06, 2.1, (60, 120, 55)), (0.7, 0.05, 3.3, (95, 150, 60))):
        ridge = (base + amp * np.sin(2 * np.pi * freq * (x / width + shift))) * height
        rows = np.arange(height)[:, None]
        img[rows > ridge[None, :]] = colour
    field = np.arange(height)[:, None] > 0.85 * height
    img[np.broadcast_to(field, (height, width))] = (170, 140, 70)
    img += rng.normal(0, 6, img.shape)
    pil = Image.fromarray(img.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(pil)
    sx = int(width * (0.8 - 0.3 * shift))
    draw.ellipse([sx - 18, 20, sx + 18, 56], fill=(250, 215, 60))
    hx = int(width * (0.3 + 0.4 * shift))
    draw.rectangle([hx, int(0.62 * height), hx + 50, int(0.8 * height)], fill=(180, 40, 35))
    draw.polygon(
        [(hx - 6, int(0.62 * height)), (hx + 25, int(0.5 * height)), (hx + 56, int(0.62 * height))], fill=(90, 55, 35)
    )
    draw.rectangle([hx + 18, int(0.7 * height), hx + 32, int(0.8 * height)], fill=(240, 230, 200))
    return pil.filter(ImageFilter.GaussianBlur(0.7))


def main() -> None:
    landscape(320, 240, 0.0, seed=1).save(HERE / "landscape-ref.png")
    landscape(320, 240, 0.25, seed=2).convert("L").save(HERE / "landscape-gray.png")
    print(f"wrote {HERE / 'landscape-ref.png'} and {HERE / 'landscape-gray.png'}")


if __name__ == "__main__":
    main()
