"""x264 preset study for `vidcolor run --preset` (issue 12): speed, size and quality of each preset at one crf.

Encodes the luma + chroma planes of real clips (the frames a run would hand the encoder, decoded once into memory)
with each preset, and reports encode fps, bits per pixel and PSNR of the decoded result against those planes.

    python benchmarks/preset_study.py ../shared/data/eval/davis/*.mp4 --json benchmarks/results/presets-cpu.json
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import time

import av
import numpy as np

PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow")


def decode_planes(path: str) -> tuple[list[np.ndarray], float]:
    """Every frame as its (H * 3/2, W) yuv420p array, and the clip's frame rate."""
    with av.open(path) as c:
        s = c.streams.video[0]
        rate = float(s.average_rate or 24)
        return [f.reformat(format="yuv420p").to_ndarray() for f in c.decode(s)], rate


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255**2 / max(mse, 1e-10)))


def encode(planes: list[np.ndarray], rate: float, preset: str, crf: int) -> tuple[float, bytes]:
    buf = io.BytesIO()
    h, w = planes[0].shape[0] * 2 // 3, planes[0].shape[1]
    t0 = time.perf_counter()
    with av.open(buf, "w", format="mp4") as out:
        s = out.add_stream("libx264", rate=round(rate), options={"crf": str(crf), "preset": preset})
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        for p in planes:
            for packet in s.encode(av.VideoFrame.from_ndarray(p, format="yuv420p")):
                out.mux(packet)
        for packet in s.encode():
            out.mux(packet)
    return len(planes) / (time.perf_counter() - t0), buf.getvalue()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("clips", nargs="+")
    ap.add_argument("--crf", type=int, default=18)
    ap.add_argument("--presets", default=",".join(PRESETS))
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    rows = {p: {"fps": [], "bpp": [], "psnr": []} for p in args.presets.split(",")}
    for clip in args.clips:
        planes, rate = decode_planes(clip)
        h, w = planes[0].shape[0] * 2 // 3, planes[0].shape[1]
        for preset in rows:
            fps, data = encode(planes, rate, preset, args.crf)
            with av.open(io.BytesIO(data)) as c:
                back = [f.to_ndarray() for f in c.decode(video=0)]
            rows[preset]["fps"].append(fps)
            rows[preset]["bpp"].append(8 * len(data) / (w * h * len(planes)))
            rows[preset]["psnr"].append(float(np.mean([psnr(a, b) for a, b in zip(planes, back, strict=True)])))
            print(
                f"{os.path.basename(clip)} {preset}: {fps:.1f} fps, {rows[preset]['bpp'][-1]:.4f} bpp, "
                f"{rows[preset]['psnr'][-1]:.2f} dB",
                flush=True,
            )
    mean = {p: {k: float(np.mean(v)) for k, v in r.items()} for p, r in rows.items()}
    for p, m in mean.items():
        print(f"{p:10s} {m['fps']:7.1f} fps {m['bpp']:.4f} bpp {m['psnr']:.2f} dB")
    if args.json:
        env = {
            "cpu_count": os.cpu_count(),
            "machine": platform.machine(),
            "av": av.__version__,
            "ffmpeg": av.library_versions.get("libavcodec"),
        }
        with open(args.json, "w") as f:
            json.dump(
                {"crf": args.crf, "clips": args.clips, "mean": mean, "per_clip": rows, "environment": env}, f, indent=2
            )


if __name__ == "__main__":
    main()
