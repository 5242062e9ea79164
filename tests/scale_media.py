"""Shared helpers of the scale-out tests: a 3-shot film with sound and B-frames, a tiny predictor, comparisons."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
from media import audio_payloads, frame_times, frames_rgb
from PIL import Image
from test_shots import scene

from vidcolor.io.encode import EncodeSettings
from vidcolor.stream.pipeline import RunOptions

SHOTS = (10, 12, 10)  # frames per shot: cuts at 10 and 22
FAST = EncodeSettings("libx264", 18, "ultrafast")


def make_film(path: Path, shots=SHOTS, gop: int = 4, fps: int = 24) -> Path:
    """Gray film of distinct scenes (tests/test_shots.py), x264 with B-frames and a keyframe every ``gop`` frames,
    and a sine sound track."""
    ends = np.cumsum(shots)
    n = int(ends[-1])
    with av.open(str(path), "w") as out:
        x264 = {"crf": "12", "preset": "ultrafast", "bf": "2", "g": str(gop), "keyint_min": "1"}
        s = out.add_stream("libx264", rate=fps, options=x264)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        a = out.add_stream("aac", rate=16000)
        a.layout = "mono"
        for i in range(n):
            kind = int(np.searchsorted(ends, i, side="right")) % 3
            gray = (scene(kind, i) @ np.array([0.299, 0.587, 0.114])).round().astype(np.uint8)
            for p in s.encode(av.VideoFrame.from_ndarray(np.repeat(gray[..., None], 3, -1), format="rgb24")):
                out.mux(p)
        t = np.arange(int(16000 * n / fps)) / 16000
        tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
        frame = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 16000, 0
        for p in [*a.encode(frame), *a.encode(None), *s.encode()]:
            out.mux(p)
    return path


def make_refs(folder: Path) -> Path:
    folder.mkdir(exist_ok=True)
    for k, name in enumerate(("sky", "checks", "rings")):
        Image.fromarray(scene(k, 3)).save(folder / f"{name}.png")
    return folder


def options(**kw) -> RunOptions:
    return RunOptions(**{"batch": 3, "chunk_frames": 4, "encode": FAST, **kw})


def psnr(a: Path, b: Path) -> float:
    """The lowest PSNR (dB) over the frames of two videos of the same length; inf where all are equal."""
    worst = float("inf")
    for x, y in zip(frames_rgb(a), frames_rgb(b), strict=True):
        mse = float(np.mean((x.astype(np.float64) - y.astype(np.float64)) ** 2))
        worst = min(worst, 10 * np.log10(255**2 / mse) if mse else float("inf"))
    return worst


def assert_same_film(a: Path, b: Path) -> None:
    """Frame count, timestamps and audio bytes identical; every decoded frame at least 45 dB PSNR."""
    assert frame_times(a) == frame_times(b)
    assert audio_payloads(a) == audio_payloads(b) and audio_payloads(a)
    assert psnr(a, b) >= 45.0
