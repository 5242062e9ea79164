"""Can the match tell a wrong reference from a hard frame? (issue 26, "know when not to colour"). Per frame, with a
sequence's own first frame as the reference against unrelated references (a landscape photo; the next sequence's
first frame): ``confidence``, the mean of the calibrated match confidence over the frame's cells, and ``mutual``,
the share of the frame's cells whose best reference cell has them as its best frame cell (mutual nearest
neighbours of the learned keys). Every 4th frame from frame 1, working size 256; per sequence and reference: min,
10th percentile, mean and max over the frames.

    python benchmarks/match_confidence.py --json benchmarks/results/match-confidence-own-vs-unrelated.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import av
import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.match_variants_ab import DEV, VAL  # noqa: E402
from vidcolor.chain.predictor import Predictor  # noqa: E402
from vidcolor.color import rgb_to_l  # noqa: E402
from vidcolor.evaluate.runner import environment  # noqa: E402

LANDSCAPE = Path(__file__).resolve().parent.parent / "samples" / "landscape-ref.png"


def frames(path: str) -> list[np.ndarray]:
    with av.open(path) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def summary(values: list[float]) -> list[float]:
    return [min(values), float(np.percentile(values, 10)), float(np.mean(values)), max(values)]


@torch.no_grad()
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", required=True)
    args = p.parse_args()
    predictor = Predictor.from_pretrained()
    seqs = {Path(s).stem: frames(s) for s in DEV + VAL}
    names = list(seqs)
    landscape = np.array(Image.open(LANDSCAPE).convert("RGB"))
    out = {}
    for i, name in enumerate(names):
        refs = {"own": seqs[name][0], "landscape": landscape, "other": seqs[names[(i + 1) % len(names)]][0]}
        row = {}
        for kind, image in refs.items():
            reference = predictor.prepare_reference(image)
            confidence, mutual = [], []
            for frame in seqs[name][1::4]:
                rgb = torch.from_numpy(frame).permute(2, 0, 1)[None].float() / 255
                keys = predictor.matcher.keys(rgb_to_l(predictor.resize_rgb(rgb)))
                _, conf, share = predictor.matcher.warp(keys, reference.keys, reference.values, share=True)
                confidence.append(float(conf.mean()))
                mutual.append(float(share[0]))
            row[kind] = {"confidence": summary(confidence), "mutual": summary(mutual)}
        out[name] = row
        print(name, {k: {m: [round(x, 3) for x in v] for m, v in r.items()} for k, r in row.items()}, flush=True)
    result = {"what": __doc__.split("\n\n")[0], "sequences": out, "environment": environment(predictor.device)}
    Path(args.json).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
