"""How fine must a match be? (issue 26: "finer-stride features to place colour at edges"). The refiner fed with a
PERFECT match at several cell sizes: each cell carries the ground truth's mean ab over its c x c pixels at working
size (upsampled with the chain's guided filter), confidence 1 (c = 8 is `eval`'s oracle-match, the matcher's own
stride); beside it the truth's own ab at working size (what working size 256 allows at all) and gray. Every
``--step``-th frame of the validation split (car-turn, dog-agility, motorbike, rollerblade) and the dev set, scored
like eval (full-size L kept, ab from working size upsampled).

    python benchmarks/oracle_stride.py --step 3 --json out.json
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

from benchmarks.match_variants_ab import DEV, VAL  # noqa: E402
from vidcolor.chain.matching import cell_means  # noqa: E402
from vidcolor.chain.predictor import Predictor, working_shape  # noqa: E402
from vidcolor.color import rgb_to_l, rgb_to_lab  # noqa: E402
from vidcolor.evaluate import metrics  # noqa: E402
from vidcolor.evaluate.runner import _recombine, environment  # noqa: E402
from vidcolor.io.media import iter_rgb_frames  # noqa: E402
from vidcolor.models.correspond import upsample_cells  # noqa: E402

CELLS = (16, 8, 4, 2)


def working_truth(chunk: list[np.ndarray], size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Frames (H, W, 3) uint8 of one size -> their L at full size (N, 1, H, W), L at the working size (N, 1, h, w)
    and the truth's ab there (N, 2, h, w), resized as the predictor resizes."""
    rgb = torch.from_numpy(np.stack(chunk)).permute(0, 3, 1, 2).float() / 255
    l_full = rgb_to_l(rgb)
    shape = working_shape(*l_full.shape[-2:], size)
    l_small = F.interpolate(l_full, size=shape, mode="bilinear", align_corners=False, antialias=True)
    rgb_small = F.interpolate(rgb, size=shape, mode="bilinear", align_corners=False, antialias=True)
    return l_full, l_small, rgb_to_lab(rgb_small.clamp(0, 1))[:, 1:]


@torch.no_grad()
def score(predictor: Predictor, frames: list[np.ndarray]) -> dict[str, float]:
    """Frames (H, W, 3) uint8 of one size -> mean PSNR per row."""
    scores: dict[str, list[float]] = {}
    for i in range(0, len(frames), 4):
        chunk = frames[i : i + 4]
        l_full, l_small, ab_true = working_truth(chunk, predictor.size)
        size = tuple(l_small.shape[-2:])
        rows = {"gray": torch.zeros_like(ab_true), "truth at working size": ab_true}
        for c in CELLS:
            ab = upsample_cells(cell_means(ab_true, (size[0] // c, size[1] // c)), l_small)
            rows[f"refiner on truth cells {c}px"] = predictor.dense(l_small, ab, torch.ones_like(l_small))
        for name, ab in rows.items():
            outs = _recombine(l_full, ab)
            scores.setdefault(name, []).extend(metrics.psnr(o, g) for o, g in zip(outs, chunk, strict=True))
    return {k: float(np.mean(v)) for k, v in scores.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--step", type=int, default=3)
    p.add_argument("--json", required=True)
    args = p.parse_args()
    predictor = Predictor.from_pretrained(device="cpu", size=256)
    res: dict[str, dict] = {}
    for split, sources in (("val", VAL), ("dev", DEV)):
        for source in sources:
            name = Path(source).stem
            res[name] = {"split": split, **score(predictor, list(iter_rgb_frames(source))[1 :: args.step])}
            print(name, " | ".join(f"{k} {v:.2f}" for k, v in res[name].items() if k != "split"), flush=True)
    means = {}
    for split in ("val", "dev"):
        rows = [r for r in res.values() if r["split"] == split]
        means[split] = {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k != "split"}
        print(split, "MEAN", " | ".join(f"{k} {v:.2f}" for k, v in means[split].items()), flush=True)
    out = {"what": __doc__.split("\n\n")[0], "step": args.step, "rows": res, "means": means,
           "environment": environment(predictor.device)}  # fmt: skip
    Path(args.json).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
