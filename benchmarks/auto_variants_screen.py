"""Which automatic colours (no reference) score best, and does a second opinion tell where they are wrong? (issue 26:
automatic mode must not score below gray). A screen, not `vidcolor eval`: every ``--step``-th frame of the dev set
and of the validation split (car-turn, dog-agility, motorbike, rollerblade: never trained on), and every colour image
of ``--photos``, each scored like eval (full-size L kept, ab from working size 256 upsampled). Per frame:

- ``a`` the refiner on an empty match (the automatic colours before session 15), ``f`` the same on the mirrored
  frame (mirrored back), ``s`` the colorization U-Net with no hints (the paper's pre-colorization);
- variants: each alone, blends of them, and the blend ``m = (a + s) / 2`` muted where the two disagree
  (m * clamp(1 - d / k), d = |a - s| averaged over 15 x 15 pixels), or by a constant;
- ``--set cast``: the U-Net's colours with their cast removed: s - k * (the frame's mean ab), and scaled by a
  constant, beside them (the U-Net gives a warm, sepia-like cast to sea, sky and asphalt);
- ``--set chain``: the U-Net's colours beside the chain's automatic colours (``Chain.auto``: with a committed auto
  head, the two joined, models/autohead.py).

    python benchmarks/auto_variants_screen.py --step 3 --photos ../shared/data/eval/pairs --json out.json

Prints per sequence and the means with the number of sequences below gray in brackets.
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
from vidcolor.chain.predictor import Predictor, working_shape  # noqa: E402
from vidcolor.color import rgb_to_l  # noqa: E402
from vidcolor.evaluate import metrics  # noqa: E402
from vidcolor.evaluate.runner import _recombine, environment  # noqa: E402
from vidcolor.io.image import IMAGE_EXTS, is_grayscale, read_image  # noqa: E402
from vidcolor.io.media import iter_rgb_frames  # noqa: E402


def blur(x: torch.Tensor, k: int = 15) -> torch.Tensor:
    return F.avg_pool2d(x, k, 1, k // 2, count_include_pad=False)


def variants(a: torch.Tensor, f: torch.Tensor, s: torch.Tensor) -> dict[str, torch.Tensor]:
    """The three opinions (N, 2, h, w) -> ab of every variant."""
    m, d = (a + s) / 2, blur((a - s).norm(dim=1, keepdim=True))
    out = {"gray": torch.zeros_like(a), "refiner": a, "unet": s, "flipmean": (a + f) / 2, "mean": m,
           "mean3": (a + f + s) / 3, "0.7refiner": 0.7 * a + 0.3 * s, "0.3refiner": 0.3 * a + 0.7 * s,
           "mean-x0.85": 0.85 * m}  # fmt: skip
    for k in (20, 30, 45, 60):
        out[f"mean-mute{k}"] = m * (1 - d / k).clamp(0, 1)
    return out


def cast_variants(s: torch.Tensor) -> dict[str, torch.Tensor]:
    """The U-Net's colours (N, 2, h, w) -> ab of each cast variant."""
    cast = s.mean((-2, -1), keepdim=True)
    out = {"gray": torch.zeros_like(s), "unet": s, "unet-x0.7": 0.7 * s}
    for k in (0.25, 0.5, 0.75, 1.0):
        out[f"decast{k}"] = s - k * cast
    return out


@torch.no_grad()
def score(predictor: Predictor, frames: list[np.ndarray], which: str = "blends") -> dict[str, float]:
    """Frames (H, W, 3) uint8 of one size -> mean PSNR per variant."""
    scores: dict[str, list[float]] = {}
    for i in range(0, len(frames), 4):
        chunk = frames[i : i + 4]
        l_full = rgb_to_l(torch.from_numpy(np.stack(chunk)).permute(0, 3, 1, 2).float() / 255)
        size = working_shape(*l_full.shape[-2:], predictor.size)
        l_small = F.interpolate(l_full, size=size, mode="bilinear", align_corners=False, antialias=True)
        s = predictor.sparse.auto(l_small)
        if which == "cast":
            named = cast_variants(s)
        elif which == "chain":
            named = {"gray": torch.zeros_like(s), "unet": s, "chain": predictor.chain.auto(l_small)}
        else:
            a = predictor.dense.auto(l_small)
            named = variants(a, predictor.dense.auto(l_small.flip(-1)).flip(-1), s)
        for name, ab in named.items():
            outs = _recombine(l_full, ab)
            scores.setdefault(name, []).extend(metrics.psnr(o, g) for o, g in zip(outs, chunk, strict=True))
    return {k: float(np.mean(v)) for k, v in scores.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--step", type=int, default=3)
    p.add_argument("--photos", type=Path, default=None, help="a folder of colour photos")
    p.add_argument("--photos-only", action="store_true", help="skip the video sequences")
    p.add_argument("--set", choices=("blends", "cast", "chain"), default="blends", help="which variants (above)")
    p.add_argument("--json", required=True)
    args = p.parse_args()
    predictor = Predictor.from_pretrained(device="cpu", size=256)
    res: dict[str, dict] = {}
    groups = [("dev", [(Path(s).stem, s) for s in DEV]), ("val", [(Path(s).stem, s) for s in VAL])]
    groups = [] if args.photos_only else groups
    for split, sources in groups:
        for name, source in sources:
            res[name] = {"split": split, **score(predictor, list(iter_rgb_frames(source))[1 :: args.step], args.set)}
            print(name, " ".join(f"{k}={v:.2f}" for k, v in res[name].items() if k != "split"), flush=True)
    if args.photos:
        for f in sorted(f for f in args.photos.iterdir() if f.suffix.lower() in IMAGE_EXTS):
            image = read_image(f)
            if not is_grayscale(image):
                res[f.name] = {"split": "photos", **score(predictor, [image], args.set)}
    means = {}
    for split in ("dev", "val", "photos"):
        rows = [r for r in res.values() if r["split"] == split]
        if rows:
            keys = [k for k in rows[0] if k != "split"]
            means[split] = {k: {"psnr": float(np.mean([r[k] for r in rows])),
                                "below_gray": sum(r[k] < r["gray"] for r in rows)} for k in keys}  # fmt: skip
            print(split, "MEAN", " ".join(f"{k}={v['psnr']:.2f}({v['below_gray']})" for k, v in means[split].items()))
    out = {"what": __doc__.split("\n\n")[0], "step": args.step, "rows": res, "means": means,
           "environment": environment(predictor.device)}  # fmt: skip
    Path(args.json).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
