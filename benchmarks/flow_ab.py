"""A/B of the production propagation's settings on the DAVIS dev set (issue 11/12; the figures in
benchmarks/results/flow-ab-davis-cpu.json): each variant is a set of PropagationConfig overrides, run through
vidcolor.chain.propagation.Propagation (batches of 4, the shot started from frame 0's reference) over the chain outputs
cached by `python benchmarks/propagation_ab.py cache`, and scored on ALL frames (PSNR, CDC, colourfulness gap).
The optical flow's cost per frame (both directions, one OpenCV thread; the committed figures also include the
checks, made on the host then, in torch since: tracks.py) is timed on 20 frame pairs of the first sequence.

    python benchmarks/flow_ab.py '[{}, {"preset": "medium", "patch_stride": 3}]' out.json
"""

import glob
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from propagation_ab import DAVIS, load_cached, score  # noqa: E402

from vidcolor.chain.motion import Motion, gray_u8  # noqa: E402
from vidcolor.chain.propagation import Propagation  # noqa: E402
from vidcolor.config import PropagationConfig  # noqa: E402
from vidcolor.evaluate.runner import load_sequence  # noqa: E402


def flow_ms(config: PropagationConfig, grays: list[np.ndarray], pairs: int = 20) -> float:
    cv2.setNumThreads(1)
    motion = Motion(config)
    motion(grays[0], grays[1])
    t0 = time.perf_counter()
    for i in range(1, pairs + 1):
        motion(grays[i - 1], grays[i])
    cv2.setNumThreads(-1)
    return 1000 * (time.perf_counter() - t0) / pairs


def main() -> None:
    variants = json.loads(sys.argv[1])
    configs = [replace(PropagationConfig(), **v) for v in variants]
    res = {str(v): {"config": v, "sequences": {}} for v in variants}
    for n, path in enumerate(sorted(glob.glob(DAVIS))):
        seq = load_sequence(path, None)
        c = load_cached(seq)
        grays = [gray_u8(p) for p in c["l"][:, 0].numpy()]
        seeds = [(gray_u8(c["ref_l"][0, 0].numpy()), c["ref_ab"][0])]
        for v, config in zip(variants, configs, strict=True):
            if n == 0:
                res[str(v)]["flow_ms_per_frame"] = flow_ms(config, grays)
            prop = Propagation(config)
            out = torch.cat(
                [
                    prop(c["final"][i : i + 4], grays[i : i + 4], seeds, [i == 0] + [False] * 3)
                    for i in range(0, len(grays), 4)
                ]
            )
            res[str(v)]["sequences"][seq.name] = score(seq, out)
        print(seq.name, [round(res[str(v)]["sequences"][seq.name]["psnr"], 2) for v in variants], flush=True)
    for row in res.values():
        for key in ("psnr", "cdc", "cfgap"):
            row[f"mean_{key}"] = float(np.mean([s[key] for s in row["sequences"].values()]))
        print(row["config"], f"{row['mean_psnr']:.3f} dB, flow {row['flow_ms_per_frame']:.1f} ms/frame")
    json.dump(res, open(sys.argv[2], "w"), indent=1)


if __name__ == "__main__":
    main()
