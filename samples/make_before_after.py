"""Make the README's picture, docs/before-after.jpg, from the project's own sample (no third-party content):
the black-and-white input, the colour reference and what vidcolor makes of them, side by side with labels.

    python samples/make_before_after.py   # needs the VGG19 weights, as `vidcolor image` does

It colours the sample still exactly as
`vidcolor image samples/landscape-gray.png --ref samples/landscape-ref.png -o OUT.png` does (default settings).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

import vidcolor

HERE = Path(__file__).resolve().parent
OUTPUT = HERE.parent / "docs" / "before-after.jpg"
GAP, LABEL = 8, 26  # pixels between panels and above them, for the labels


def compose(panels: list[tuple[str, np.ndarray]]) -> Image.Image:
    """(label, (H, W, 3) uint8) panels of one height -> one white sheet, panels left to right under their labels."""
    height = panels[0][1].shape[0]
    width = sum(image.shape[1] for _, image in panels) + GAP * (len(panels) + 1)
    sheet = Image.new("RGB", (width, height + LABEL + GAP), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=15)
    x = GAP
    for label, image in panels:
        draw.text((x, LABEL // 2 + 2), label, fill=(30, 30, 30), font=font, anchor="lm")
        sheet.paste(Image.fromarray(image), (x, LABEL))
        x += image.shape[1] + GAP
    return sheet


def main() -> None:
    gray_path, ref_path = HERE / "landscape-gray.png", HERE / "landscape-ref.png"
    gray = np.asarray(Image.open(gray_path).convert("RGB"))
    reference = np.asarray(Image.open(ref_path).convert("RGB"))
    coloured = vidcolor.colorize_image(gray_path, ref_path)
    sheet = compose([("black-and-white input", gray), ("colour reference", reference), ("vidcolor's output", coloured)])
    sheet.save(OUTPUT, quality=90, optimize=True)
    print(f"wrote {OUTPUT} ({sheet.width}x{sheet.height}, {OUTPUT.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
