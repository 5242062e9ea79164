"""The mutual-neighbour share (chain/relatedness.py) of each eval photo pair: a target against its own reference (a
different photo of the same scene), and against the next pair's reference. Below the fallback's ``high`` a still
would take the automatic colours, so related pairs must stay above it.

    python benchmarks/pairs_share.py ../shared/data/eval/pairs --json out.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vidcolor.chain.predictor import Predictor  # noqa: E402
from vidcolor.color import rgb_to_l  # noqa: E402
from vidcolor.config import RelatednessConfig  # noqa: E402
from vidcolor.evaluate.runner import environment  # noqa: E402
from vidcolor.io.image import read_image  # noqa: E402


@torch.no_grad()
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folder", type=Path, help="NAME-reference.jpg / NAME-target.jpg pairs")
    p.add_argument("--json", required=True)
    args = p.parse_args()
    predictor = Predictor.from_pretrained(device="cpu", size=256)
    targets = sorted(args.folder.glob("*-target.*"))
    refs = [next(args.folder.glob(t.name.replace("-target.", "-reference.").rsplit(".", 1)[0] + ".*")) for t in targets]
    prepared = [predictor.prepare_reference(read_image(r)) for r in refs]
    rows = {}
    for i, target in enumerate(targets):
        rgb = torch.from_numpy(read_image(target)).permute(2, 0, 1)[None].float() / 255
        keys = predictor.matcher.keys(rgb_to_l(predictor.resize_rgb(rgb)))
        share = {}
        for kind, ref in (("own", prepared[i]), ("next", prepared[(i + 1) % len(targets)])):
            share[kind] = float(predictor.matcher.warp(keys, ref.keys, ref.values, share=True)[2][0])
        rows[target.name] = share
        print(target.name, {k: round(v, 3) for k, v in share.items()}, flush=True)
    own, other = [r["own"] for r in rows.values()], [r["next"] for r in rows.values()]
    out = {"what": __doc__.split("\n\n")[0], "pairs": rows, "own_min": min(own), "next_max": max(other),
           "high": RelatednessConfig().high, "environment": environment(predictor.device)}  # fmt: skip
    print(f"own reference: min {min(own):.3f}; next pair's reference: max {max(other):.3f}")
    Path(args.json).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
