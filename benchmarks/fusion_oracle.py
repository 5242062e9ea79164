"""How much could a better blend of a frame's own colours and the propagated ones buy? (issue 26: a learned gate
on what the shot has shown)

Runs `run`'s path (exemplar_yuv, `vidcolor eval`'s row: luma planes -> the model stage, frame 0 as the reference,
all frames) on the validation split and the dev set and records, per frame at working size, the model's own ab
(before the propagation) and the propagated ab the chain shows. Scores at working size (the truth's L with each ab,
RGB PSNR per frame): the propagated colours, the frame's own, and an oracle that takes, per 8 x 8 block, whichever
of the two is nearer the truth (``own_share``: the share of blocks where the own colours win). The oracle is the
most any per-block choice between the two could add; a learned gate (session 19) got +0.05 dB of it.

    python benchmarks/fusion_oracle.py --json benchmarks/results/fusion-oracle.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from match_variants_ab import DEV, VAL  # noqa: E402

from vidcolor.chain.predictor import Predictor  # noqa: E402
from vidcolor.chain.propagation import Propagation  # noqa: E402
from vidcolor.color import lab_to_rgb, rgb_to_lab  # noqa: E402
from vidcolor.evaluate import runner  # noqa: E402
from vidcolor.evaluate.runner import environment, evaluate  # noqa: E402

REC: dict[str, list] = {"own": [], "out": [], "rgb": []}


def _recording() -> None:
    """Propagation.apply and the planes' pass record the own ab, the shown ab and the frames."""
    apply, through = Propagation.apply, runner._ThroughPlanes.__call__

    def recorded(self, ab, plan):
        out = apply(self, ab, plan)
        REC["own"].append(ab.float().clone())
        REC["out"].append(out.float().clone())
        return out

    def seen(self, chunk, reference):
        REC["rgb"].extend(chunk)
        return through(self, chunk, reference)

    Propagation.apply, runner._ThroughPlanes.__call__ = recorded, seen


def _psnr(a: torch.Tensor, b: torch.Tensor) -> list[float]:
    return (10 * torch.log10(1 / ((a - b) ** 2).mean(dim=(1, 2, 3)))).tolist()


def sequence(src: str) -> dict:
    """One sequence -> per-frame PSNRs (lists) of out, own, oracle8 and gray, and the own colours' share."""
    for k in REC:
        REC[k] = []
    res, _ = evaluate([src], Predictor.from_pretrained, only=["exemplar_yuv"])
    own, out = torch.cat(REC["own"]), torch.cat(REC["out"])
    size = out.shape[-2:]
    rgb = torch.from_numpy(np.stack(REC["rgb"])).permute(0, 3, 1, 2).float() / 255
    rgb = F.interpolate(rgb, size=size, mode="bilinear", align_corners=False, antialias=True).clamp(0, 1)
    lab = rgb_to_lab(rgb)
    truth_l, truth_ab = lab[:, :1], lab[:, 1:]

    def score(ab):
        return _psnr(lab_to_rgb(torch.cat([truth_l, ab], 1)).clamp(0, 1), rgb)

    e_own = F.avg_pool2d(((own - truth_ab) ** 2).sum(1, keepdim=True), 8)
    e_out = F.avg_pool2d(((out - truth_ab) ** 2).sum(1, keepdim=True), 8)
    pick = F.interpolate((e_own < e_out).float(), size=size, mode="nearest")
    oracle = pick * own + (1 - pick) * out
    return {"n": len(out), "full_eval": res["sequences"][Path(src).stem]["methods"]["exemplar_yuv"]["psnr"],
            "out": score(out), "own": score(own), "oracle8": score(oracle), "gray": score(torch.zeros_like(truth_ab)),
            "own_share": float(pick.mean())}  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", required=True)
    args = p.parse_args()
    _recording()
    res: dict = {"splits": {}}
    for split, sources in (("val", VAL), ("dev", DEV)):
        for src in sources:
            start = time.time()
            row = sequence(src)
            res["splits"].setdefault(split, {})[Path(src).stem] = row
            means = {k: round(float(np.mean(v)), 2) for k, v in row.items() if isinstance(v, list)}
            print(split, Path(src).stem, row["n"], means, round(row["own_share"], 3), round(time.time() - start))
    res["mean"] = {
        split: {k: float(np.mean([np.mean(s[k]) for s in seqs.values()])) for k in ("out", "own", "oracle8", "gray")}
        for split, seqs in res["splits"].items()
    }
    res["environment"] = environment(torch.device("cpu"))
    Path(args.json).write_text(json.dumps(res) + "\n")


if __name__ == "__main__":
    main()
