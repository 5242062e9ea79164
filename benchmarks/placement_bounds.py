"""How much can a better choice among the match's candidates buy? (issue 26, after session 16's placement). Per
frame (every ``--step``-th frame of the validation split and the dev set, frame 0 as the reference, working size
256, no propagation), the refiner fed with:

- ``cells``: the 8 x 8 match (as before placement);
- ``placed``: the committed placement (models/placement.py: each 4 x 4 sub-cell among the sub-cells of its cell's
  ``top`` best reference cells, by the similarity of their sub-cell descriptors: learned where weights/ has a
  placement head, else frozen relu3_1; benchmarks/results/placement-bounds.json was measured with the frozen one);
- ``oracle parent K``: each 8 x 8 cell takes whichever of its K best reference cells' mean ab is nearest the truth's
  mean there (the most a re-ranking of the cell match could buy);
- ``oracle sub K``: each 4 x 4 sub-cell takes whichever of the 4K candidate sub-cells' mean ab is nearest the
  truth's (the most a learned placement among those candidates could buy);
- ``truth 4px``: the truth's own mean ab per 4 x 4 (the ceiling of any match at that stride);
- ``learned``: with ``--fine-head CKPT``, the learned placement of a training/train_placement.py checkpoint.

All with the match's calibrated confidence, as the chain feeds the refiner. Scored like eval (full-size L kept).

    python benchmarks/placement_bounds.py --step 3 --json out.json
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
from benchmarks.oracle_stride import working_truth  # noqa: E402
from vidcolor.chain.matching import cell_means  # noqa: E402
from vidcolor.chain.predictor import Predictor  # noqa: E402
from vidcolor.config import PlacementConfig  # noqa: E402
from vidcolor.evaluate import metrics  # noqa: E402
from vidcolor.evaluate.runner import _recombine, environment  # noqa: E402
from vidcolor.io.media import iter_rgb_frames  # noqa: E402
from vidcolor.models.correspond import upsample_cells  # noqa: E402
from vidcolor.models.placement import PlacementHead, from_sub_cells, sub_cell_rows  # noqa: E402

TOPS = (8, 32)


def nearest(candidates: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """candidates (..., M, 2) and truth (..., 2) -> (..., 2): the candidate nearest the truth."""
    pick = (candidates - truth[..., None, :]).square().sum(-1).argmin(-1)
    return candidates.gather(-2, pick[..., None, None].expand(*pick.shape, 1, 2))[..., 0, :]


@torch.no_grad()
def score(predictor: Predictor, frames: list[np.ndarray], ref_rgb: np.ndarray, head=None) -> dict[str, float]:
    """Frames (H, W, 3) uint8 of one size and the reference frame -> mean PSNR per row; ``head``: a learned
    placement (``PlacementHead``) for the ``learned`` row."""
    matcher = predictor.matcher
    rgb_ref = torch.from_numpy(ref_rgb).permute(2, 0, 1)[None].float() / 255
    reference = predictor.reference_at_working_size(predictor.resize_rgb(rgb_ref))
    learned = None
    if head is not None:
        matcher.fine_head = head
        learned = head, predictor.reference_at_working_size(predictor.resize_rgb(rgb_ref))
        matcher.fine_head = None
    scores: dict[str, list[float]] = {}
    for i in range(0, len(frames), 4):
        chunk = frames[i : i + 4]
        l_full, l_small, ab_true = working_truth(chunk, predictor.size)
        size = tuple(l_small.shape[-2:])
        frame = matcher.describe(l_small)
        h, w = frame.keys.shape[-2:]
        rows = {}
        for k in TOPS:
            matcher.placement = PlacementConfig(top=k)
            m = matcher.match(frame, reference)
            weight = F.interpolate(m.confidence, size=size, mode="bilinear", align_corners=False)
            _, parents = m.top  # (N, Q, k)
            if k == TOPS[0]:
                rows["cells"] = (m.ab, weight)
                rows["placed"] = (matcher.place(frame, reference, m), weight)
                if learned is not None:
                    frozen_head, matcher.fine_head = matcher.fine_head, learned[0]
                    rows["learned"] = (matcher.place(frame, learned[1], m), weight)
                    matcher.fine_head = frozen_head
                rows["truth 4px"] = (cell_means(ab_true, (2 * h, 2 * w)), weight)
            true_cells = cell_means(ab_true, (h, w)).flatten(2).transpose(1, 2)  # (N, Q, 2)
            parent_values = reference.values.t()[parents]  # (N, Q, k, 2)
            best = nearest(parent_values, true_cells)  # (N, Q, 2)
            rows[f"oracle parent {k}"] = (best.transpose(1, 2).reshape(-1, 2, h, w), weight)
            true_sub = sub_cell_rows(cell_means(ab_true, (2 * h, 2 * w)))  # (N, Q, 4, 2)
            cand = reference.fine_values[parents].flatten(2, 3)  # (N, Q, 4k, 2)
            best_sub = nearest(cand[:, :, None].expand(-1, -1, 4, -1, -1), true_sub)  # (N, Q, 4, 2)
            rows[f"oracle sub {k}"] = (from_sub_cells(best_sub.permute(0, 3, 1, 2), h, w), weight)
        rows = {name: predictor.dense(l_small, upsample_cells(ab, l_small), wt) for name, (ab, wt) in rows.items()}
        rows["gray"] = torch.zeros_like(ab_true)
        for name, ab in rows.items():
            outs = _recombine(l_full, ab)
            scores.setdefault(name, []).extend(metrics.psnr(o, g) for o, g in zip(outs, chunk, strict=True))
    matcher.placement = PlacementConfig()
    return {k: float(np.mean(v)) for k, v in scores.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--step", type=int, default=3)
    p.add_argument("--splits", default="val,dev")
    p.add_argument("--fine-head", default=None, metavar="CKPT", help="a training/train_placement.py checkpoint")
    p.add_argument("--json", required=True)
    args = p.parse_args()
    predictor = Predictor.from_pretrained(device="cpu", size=256)
    head = None
    if args.fine_head:
        ckpt = torch.load(args.fine_head, map_location="cpu", weights_only=False)
        head = PlacementHead(PlacementConfig(top=ckpt["args"]["top"], hidden=ckpt["args"]["hidden"])).eval()
        head.load_state_dict(ckpt["head"])
    res: dict[str, dict] = {}
    splits = args.splits.split(",")
    for split in splits:
        for source in VAL if split == "val" else DEV:
            name = Path(source).stem
            frames = list(iter_rgb_frames(source))
            res[name] = {"split": split, **score(predictor, frames[1 :: args.step], frames[0], head)}
            print(name, " | ".join(f"{k} {v:.2f}" for k, v in res[name].items() if k != "split"), flush=True)
    means = {}
    for split in splits:
        rows = [r for r in res.values() if r["split"] == split]
        means[split] = {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k != "split"}
        print(split, "MEAN", " | ".join(f"{k} {v:.2f}" for k, v in means[split].items()), flush=True)
    out = {"what": __doc__.split("\n\n")[0], "step": args.step, "fine_head": args.fine_head, "rows": res,
           "means": means, "environment": environment(predictor.device)}  # fmt: skip
    Path(args.json).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
