"""Make the project's own sample media (no third-party content): a painted landscape as a colour reference
and a different view of it in black and white.

    python samples/make_samples.py   # writes landscape-ref.png, landscape-gray.png and landscape-gray.mp4
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


def film(path: Path, seconds: float = 3.0, fps: int = 24) -> None:
    """A black-and-white pan across the landscape with a little tune as its sound track (AAC in MP4)."""
    import av

    rate = 44100
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps, options={"crf": "26", "preset": "slow"})
        video.width, video.height, video.pix_fmt = 320, 240, "yuv420p"
        audio = out.add_stream("aac", rate=rate)
        audio.layout = "mono"
        frames = int(seconds * fps)
        for i in range(frames):
            gray = np.asarray(landscape(320, 240, 0.1 + 0.2 * i / frames, seed=3).convert("L"))
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(np.stack([gray] * 3, -1)), format="rgb24")
            for packet in video.encode(frame):
                out.mux(packet)
        t = np.arange(int(seconds * rate)) / rate
        notes = np.array([262, 330, 392, 523])[(t * 2).astype(int) % 4]
        tune = (0.2 * np.sin(2 * np.pi * notes * t) * np.exp(-3 * (t % 0.5))).astype(np.float32)[None]
        frame = av.AudioFrame.from_ndarray(tune, format="fltp", layout="mono")
        frame.sample_rate, frame.pts = rate, 0
        for packet in [*audio.encode(frame), *audio.encode(None), *video.encode(None)]:
            out.mux(packet)


def main() -> None:
    landscape(320, 240, 0.0, seed=1).save(HERE / "landscape-ref.png")
    landscape(320, 240, 0.25, seed=2).convert("L").save(HERE / "landscape-gray.png")
    film(HERE / "landscape-gray.mp4")
    print(f"wrote landscape-ref.png, landscape-gray.png and landscape-gray.mp4 in {HERE}")


if __name__ == "__main__":
    main()
