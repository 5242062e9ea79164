"""Per-shot references on a clip made by joining the shared DAVIS sequences (cuts at the joins).

1. Detection: the joined clip, reduced to gray and encoded (H.264), goes through each detector; found cuts are
   matched to the true joins (within one frame): misses, false cuts, frames per second.
2. Quality: exemplar colorization with per-shot references (the first frame of each sequence) against one
   reference for the whole clip (its first frame); PSNR/SSIM on the frames that are not references. Reinhard
   (global colour transfer) with the same two reference choices is reported beside it.

    python benchmarks/shots_davis.py --max-frames 20 --json benchmarks/results/shots-davis-cpu.json
"""

from __future__ import annotations

import argparse
import glob
import sys
import tempfile
from pathlib import Path

import av
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vidcolor.chain.predictor import Predictor  # noqa: E402
from vidcolor.evaluate import metrics  # noqa: E402
from vidcolor.evaluate.report import write_json  # noqa: E402
from vidcolor.evaluate.runner import Sequence, colorize_sequence, environment  # noqa: E402
from vidcolor.io.media import iter_rgb_frames  # noqa: E402
from vidcolor.shots.detect import DETECTORS  # noqa: E402
from vidcolor.shots.job import detect_cuts  # noqa: E402


def joined(shared: Path, max_frames: int | None) -> tuple[list[np.ndarray], list[int], list[str]]:
    frames, starts, names = [], [], []
    for path in sorted(glob.glob(str(shared / "data/eval/davis/*.mp4"))):
        starts.append(len(frames))
        names.append(Path(path).stem)
        frames += list(iter_rgb_frames(path, max_frames))
    return frames, starts, names


def encode_gray(frames: list[np.ndarray], path: Path) -> None:
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=24, options={"crf": "18", "preset": "veryfast"})
        s.height, s.width = frames[0].shape[:2]
        s.pix_fmt = "yuv420p"
        for f in frames:
            gray = (f @ np.array([0.299, 0.587, 0.114])).round().astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(np.repeat(gray[..., None], 3, -1)), "rgb24")
            for p in s.encode(frame):
                out.mux(p)
        for p in s.encode():
            out.mux(p)


def score(frames, outputs) -> dict:
    return {
        "psnr": float(np.mean([metrics.psnr(o, g) for o, g in zip(outputs, frames, strict=True)])),
        "ssim": float(np.mean([metrics.ssim(o, g) for o, g in zip(outputs, frames, strict=True)])),
    }


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--shared", default=str(Path(__file__).resolve().parent.parent.parent / "shared"))
    p.add_argument("--max-frames", type=int, default=None, help="frames per sequence")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--vgg", default=None)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)

    frames, starts, names = joined(Path(args.shared), args.max_frames)
    cuts_true = starts[1:]
    detection = {}
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "joined-gray.mp4"
        encode_gray(frames, clip)
        for name in DETECTORS:
            found, _n, _f, fps = detect_cuts(clip, name, None)
            matched = {t for t in cuts_true if any(abs(t - c) <= 1 for c in found)}
            false = [c for c in found if all(abs(t - c) > 1 for t in cuts_true)]
            detection[name] = {"found": found, "missed": sorted(set(cuts_true) - matched), "false": false, "fps": fps}
            print(f"{name}: missed {detection[name]['missed']}, false {false}, {fps:.0f} frames/s", file=sys.stderr)

    predictor = Predictor.from_pretrained(vgg=args.vgg, size=args.size)
    ends = [*starts[1:], len(frames)]
    per_shot = {"exemplar": [], "reinhard": []}
    single = {"exemplar": [], "reinhard": []}
    scored = []
    for a, b in zip(starts, ends, strict=True):
        shot = frames[a + 1 : b]  # the shot's first frame is its reference: not scored
        scored += shot
        own = colorize_sequence(Sequence("", shot, frames[a], True), predictor, ["exemplar", "reinhard"])
        one = colorize_sequence(Sequence("", shot, frames[0], True), predictor, ["exemplar", "reinhard"])
        for m in per_shot:
            per_shot[m] += own[m]
            single[m] += one[m]
    result = {
        "sequences": names,
        "frames": len(frames),
        "joins": cuts_true,
        "detection": detection,
        "quality": {
            f"{kind}_{m}": score(scored, outs[m])
            for kind, outs in (("per_shot", per_shot), ("single", single))
            for m in outs
        },
        "settings": {"max_frames_per_sequence": args.max_frames, "size": predictor.size},
        "environment": environment(predictor.device),
    }
    q = result["quality"]
    result["per_shot_gain_db"] = q["per_shot_exemplar"]["psnr"] - q["single_exemplar"]["psnr"]
    for k, v in q.items():
        print(f"{k}: PSNR {v['psnr']:.2f} SSIM {v['ssim']:.4f}")
    print(f"per-shot references gain {result['per_shot_gain_db']:.2f} dB over one reference")
    if args.json:
        write_json(args.json, result)
    return result


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    main()
