"""Placing matched colours in 4 x 4 sub-cells (models/placement.py) on stills: each eval photo pair's target
coloured from its reference (a different photo of the same scene; what `vidcolor image` does), with the committed
placement and with none (each 8 x 8 cell's colour fills it), PSNR like `vidcolor eval` (full-size L kept, ab from
working size 256 upsampled). The video sets say little about stills: these pairs differ in viewpoint and scale.
``--always``: place whatever the relatedness says (``RelatednessConfig.place`` 0: as before the gate).

A target must be in colour (its truth): the shared eval pairs' targets are grayscale, and until session 19 this
script scored against them, which measures how much colour an output adds, not whether it is right; it now refuses
them, as `vidcolor eval` does.

    python benchmarks/pairs_placement_ab.py ../shared/data/eval/pairs --json out.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vidcolor.chain.predictor import Predictor, working_shape  # noqa: E402
from vidcolor.color import rgb_to_l  # noqa: E402
from vidcolor.config import PlacementConfig, RelatednessConfig  # noqa: E402
from vidcolor.evaluate import metrics  # noqa: E402
from vidcolor.evaluate.runner import _recombine, environment  # noqa: E402
from vidcolor.io.image import is_grayscale, read_image  # noqa: E402

VARIANTS = {"placed": PlacementConfig(), "cells only": PlacementConfig(top=0)}


@torch.no_grad()
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folder", type=Path, help="NAME-reference.jpg / NAME-target.jpg pairs")
    p.add_argument("--always", action="store_true", help="place whatever the relatedness")
    p.add_argument("--json", required=True)
    args = p.parse_args()
    predictor = Predictor.from_pretrained(device="cpu", size=256)
    if args.always:
        predictor.chain.match_hints.related = RelatednessConfig(place=0.0)
    targets = sorted(args.folder.glob("*-target.*"))
    rows: dict[str, dict[str, float]] = {}
    for target in targets:
        ref = next(args.folder.glob(target.name.replace("-target.", "-reference.").rsplit(".", 1)[0] + ".*"))
        image = read_image(target)
        if is_grayscale(image):
            raise SystemExit(f"{target}: a grayscale target has no colour truth to score against")
        l_full = rgb_to_l(torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255)
        l_small = F.interpolate(l_full, size=working_shape(*l_full.shape[-2:], predictor.size), mode="bilinear",
                                align_corners=False, antialias=True)  # fmt: skip
        for name, placement in VARIANTS.items():
            predictor.matcher.placement = placement
            reference = predictor.prepare_reference(read_image(ref))
            out = _recombine(l_full, predictor.stages(l_small, reference)["ab"])[0]
            rows.setdefault(target.name, {})[name] = metrics.psnr(out, image)
        print(target.name, {k: round(v, 2) for k, v in rows[target.name].items()}, flush=True)
    means = {k: float(np.mean([r[k] for r in rows.values()])) for k in VARIANTS}
    better = sum(r["placed"] > r["cells only"] for r in rows.values())
    print("MEAN", {k: round(v, 3) for k, v in means.items()}, f"placed better on {better} of {len(rows)}")
    out = {"what": __doc__.split("\n\n")[0], "pairs": rows, "mean": means, "placed_better": better,
           "settings": {"size": predictor.size, "placement": str(VARIANTS["placed"]), "always": args.always},
           "environment": environment(predictor.device)}  # fmt: skip
    Path(args.json).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
