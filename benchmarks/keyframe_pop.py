"""Keyframes from both sides (issue 27): the colour pop at a keyframe, quality between keyframes, and the cost.

Per sequence, all its frames, keyframes at the first, middle and last frames (their ground-truth colours), coloured
by `run`'s own model stage (vidcolor/evaluate/keyframed.py) twice: forward only (``--keyframe-span 0``: as before
issue 27) and from both sides (the default). Reported per sequence and mode:

- pop: the change of mean chroma (CIE a, b of the frame's mean, Euclidean) into each inner and last keyframe,
  divided by the clip's median frame-to-frame change (the issue's floor: at most 3); the ground truth's own ratio
  beside it (a scene may change its colours there);
- psnr of the frames that are not keyframes, against the ground truth;
- seconds per frame of the model stage (wall and this process's CPU time; no other job on the machine).

    python benchmarks/keyframe_pop.py OUT.json SEQUENCE.mp4 [...]
"""

import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from vidcolor.chain.predictor import Predictor
from vidcolor.evaluate import metrics
from vidcolor.evaluate.keyframed import colour_keyframed
from vidcolor.evaluate.runner import environment
from vidcolor.io.media import iter_rgb_frames, probe
from vidcolor.io.yuv import SWS_COLORSPACES


def mean_chroma(frame: np.ndarray) -> np.ndarray:
    lab = cv2.cvtColor(frame.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    return lab[..., 1:].reshape(-1, 2).mean(0)


def pops(frames: list[np.ndarray], keys: list[int]) -> dict[str, float]:
    chroma = np.stack([mean_chroma(f) for f in frames])
    change = np.linalg.norm(np.diff(chroma, axis=0), axis=1)  # change[t - 1]: from frame t - 1 to t
    median = float(np.median(change))
    return {str(k): float(change[k - 1] / max(median, 1e-9)) for k in keys if k > 0}


def main() -> None:
    out, sources = Path(sys.argv[1]), sys.argv[2:]
    predictor = Predictor.from_pretrained()
    results = {"sequences": {}, "environment": environment(predictor.device),
               "precision": predictor.precision.describe(), "size": predictor.size}  # fmt: skip
    for source in sources:
        frames = list(iter_rgb_frames(Path(source)))
        n = len(frames)
        keys = [0, n // 2, n - 1]
        space = probe(Path(source)).colorspace
        space = space if space in SWS_COLORSPACES else 6
        row = {"frames": n, "keyframes": keys, "ground_truth_pop": pops(frames, keys)}  # the scene's own changes
        for mode, span in (("forward", 0), ("both", None)):
            t0, c0 = time.perf_counter(), time.process_time()
            coloured = colour_keyframed(predictor, frames, {k: frames[k] for k in keys}, list(range(n)), space,
                                        max_span=span)  # fmt: skip
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            between = [i for i in range(n) if i not in keys]
            row[mode] = {
                "pop": pops(coloured, keys),
                "psnr_between": float(np.mean([metrics.psnr(coloured[i], frames[i]) for i in between])),
                "seconds_per_frame": wall / n,
                "cpu_seconds_per_frame": cpu / n,
            }
        row["cost_ratio"] = row["both"]["seconds_per_frame"] / row["forward"]["seconds_per_frame"]
        results["sequences"][Path(source).stem] = row
        print(Path(source).stem, json.dumps({m: row[m] for m in ("forward", "both")}), flush=True)
    seqs = results["sequences"].values()
    results["mean"] = {
        mode: {
            "psnr_between": float(np.mean([r[mode]["psnr_between"] for r in seqs])),
            "max_pop": float(max(max(r[mode]["pop"].values()) for r in seqs)),
            "seconds_per_frame": float(np.mean([r[mode]["seconds_per_frame"] for r in seqs])),
        }
        for mode in ("forward", "both")
    }
    results["mean"]["cost_ratio"] = results["mean"]["both"]["seconds_per_frame"] / results["mean"]["forward"][
        "seconds_per_frame"]  # fmt: skip
    out.write_text(json.dumps(results, indent=1))
    print(json.dumps(results["mean"]))


if __name__ == "__main__":
    main()
