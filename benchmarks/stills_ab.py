"""Stills coloured from another view, scored against their colour truth: what `vidcolor image TARGET --ref REF` does
when the reference is another photo of the scene.

The shared eval pairs have grayscale targets (no truth), so this takes its pairs from video with colour truth: for
each sequence of the validation split and the dev set, frame 0 is the reference and the frames at 1/3, 2/3 and
the end are the targets (the same scene from a moved camera, objects moved or turned), and, as an unrelated
reference, the next sequence's frame 0 for the same targets. Each target is coloured as a still (its own stretch:
no propagation), PSNR like `vidcolor eval` (full-size L kept, ab from working size 256 upsampled), gray and Reinhard
(from each reference) beside it.
Variants: ``committed`` (the chain as it is), ``always-place`` (matched colours placed in sub-cells whatever the
relatedness; RelatednessConfig place_low = place_high = 0), ``never-place``; ``--mute S``: the committed chain
with match_variants_ab.py's ``mute S`` variant only.

    python benchmarks/stills_ab.py --json benchmarks/results/stills-ab.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from match_variants_ab import DEV, VAL, with_mute  # noqa: E402

from vidcolor.chain.predictor import Predictor, working_shape  # noqa: E402
from vidcolor.color import rgb_to_l  # noqa: E402
from vidcolor.config import RelatednessConfig  # noqa: E402
from vidcolor.evaluate import metrics  # noqa: E402
from vidcolor.evaluate.baselines import reinhard_ab  # noqa: E402
from vidcolor.evaluate.runner import _recombine, environment  # noqa: E402
from vidcolor.io.media import iter_rgb_frames  # noqa: E402

VARIANTS = {
    "committed": RelatednessConfig(),
    "always-place": RelatednessConfig(place_low=0.0, place_high=1e-6),
    "never-place": RelatednessConfig(place_low=2.0, place_high=3.0),
}


def frames_of(path: str) -> list[np.ndarray]:
    return list(iter_rgb_frames(Path(path)))


@torch.no_grad()
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mute", type=float, default=0, help="match_variants_ab.py's mute variant at this spread")
    p.add_argument("--json", required=True)
    args = p.parse_args()
    if args.mute:
        with_mute(args.mute)
        VARIANTS.pop("always-place"), VARIANTS.pop("never-place")
    predictor = Predictor.from_pretrained(device="cpu", size=256)
    sources = VAL + DEV
    firsts = {s: next(iter_rgb_frames(Path(s), 1)) for s in sources}
    rows: dict[str, dict[str, float]] = {}
    for k, src in enumerate(sources):
        frames = frames_of(src)
        n = len(frames)
        refs = {"own": firsts[src], "next": firsts[sources[(k + 1) % len(sources)]]}
        rgb_refs = {name: torch.from_numpy(ref).permute(2, 0, 1)[None].float() / 255 for name, ref in refs.items()}
        refs = {name: predictor.prepare_reference(ref) for name, ref in refs.items()}
        for at in (n // 3, 2 * n // 3, n - 1):
            image = frames[at]
            l_full = rgb_to_l(torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255)
            l_small = F.interpolate(l_full, size=working_shape(*l_full.shape[-2:], predictor.size), mode="bilinear",
                                    align_corners=False, antialias=True)  # fmt: skip
            row = {"gray": metrics.psnr(_recombine(l_full, torch.zeros_like(l_small).repeat(1, 2, 1, 1))[0], image)}
            for ref_name, reference in refs.items():
                reinhard = reinhard_ab(l_full, rgb_refs[ref_name])
                row[f"{ref_name}/reinhard"] = metrics.psnr(_recombine(l_full, reinhard)[0], image)
                for name, cfg in VARIANTS.items():
                    predictor.chain.match_hints.related = cfg
                    out = _recombine(l_full, predictor.stages(l_small, reference)["ab"])[0]
                    row[f"{ref_name}/{name}"] = metrics.psnr(out, image)
            rows[f"{Path(src).stem}@{at}"] = row
            print(f"{Path(src).stem}@{at}", {k: round(v, 2) for k, v in row.items()}, flush=True)
    keys = list(next(iter(rows.values())))
    means = {k: float(np.mean([r[k] for r in rows.values()])) for k in keys}
    below = {k: sum(r[k] < r["gray"] for r in rows.values()) for k in keys if k != "gray"}
    print("MEAN", {k: round(v, 3) for k, v in means.items()}, "below gray", below)
    settings = {"size": predictor.size, "mute": args.mute, "variants": {k: str(v) for k, v in VARIANTS.items()}}
    out = {"what": __doc__.split("\n\n")[0], "stills": rows, "mean": means, "below_gray": below, "settings": settings,
           "environment": environment(predictor.device)}  # fmt: skip
    Path(args.json).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
