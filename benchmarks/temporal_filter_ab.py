"""A/B of a luminance-gated temporal filter on the exemplar chain (issue 11; measured, not shipped).

One pass of the chain per DAVIS sequence (ab at working size kept), then each variant: ab_t <- (1 - w) ab_t +
w ab_{t-1}, w = beta * exp(-|L_t - L_{t-1}| (5x5 mean) / sigma); PSNR, CDC and colourfulness gap on all frames.

    python benchmarks/temporal_filter_ab.py   # writes benchmarks/results/temporal-filter-ab-davis-cpu.json
"""

import glob
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from vidcolor.chain.factory import predictor_factory  # noqa: E402
from vidcolor.chain.predictor import working_shape  # noqa: E402
from vidcolor.color import rgb_to_l  # noqa: E402
from vidcolor.evaluate import metrics  # noqa: E402
from vidcolor.evaluate.runner import _batches, _recombine, load_sequence, score  # noqa: E402

torch.set_num_threads(1)
pred = predictor_factory(None, "cpu", 256, "match")()
VARIANTS = [(0, 1)] + [(b, s) for b in (0.3, 0.5, 0.7) for s in (2.0, 5.0)]
res = {}
for path in sorted(glob.glob(str(ROOT.parent / "shared/data/eval/davis/*.mp4"))):
    seq = load_sequence(path, None)
    ref = pred.prepare_reference(seq.reference, "reference")
    ls, abs_, lf = [], [], []
    t = time.time()
    for chunk in _batches(seq.frames, 4):
        gt = torch.from_numpy(np.stack(chunk)).permute(0, 3, 1, 2).float() / 255
        l_full = rgb_to_l(gt)
        hs, ws = working_shape(*l_full.shape[-2:], pred.size)
        l_small = F.interpolate(l_full, size=(hs, ws), mode="bilinear", align_corners=False, antialias=True)
        with torch.no_grad():
            st = pred.stages(l_small, ref, every=["exemplar_match"])
        ls.append(l_small)
        abs_.append(st["exemplar_match"])
        lf.append(l_full)
    L, AB, LF = torch.cat(ls), torch.cat(abs_), torch.cat(lf)
    print(path, "nets", time.time() - t, flush=True)
    for beta, sigma in VARIANTS:
        out = AB.clone()
        if beta:
            for i in range(1, len(out)):
                d = F.avg_pool2d((L[i] - L[i - 1]).abs()[None], 5, 1, 2)[0]
                w = beta * torch.exp(-d / sigma)
                out[i] = (1 - w) * AB[i] + w * out[i - 1]
        frames = []
        for i in range(0, len(out), 8):
            frames += _recombine(LF[i : i + 8], out[i : i + 8])
        r = score(seq, frames, None)
        r = {"psnr": r["psnr"], "cdc": r["cdc"], "cf_gap": r["colorfulness_gap"]}
        res.setdefault(f"{beta},{sigma}", {})[path.split("/")[-1]] = r
        print(path.split("/")[-1], beta, sigma, r, flush=True)
    gt_cdc = metrics.cdc(seq.frames)
    res.setdefault("gt", {})[path.split("/")[-1]] = {"cdc": gt_cdc}
json.dump(res, open(ROOT / "benchmarks/results/temporal-filter-ab-davis-cpu.json", "w"), indent=1)
for k, v in res.items():
    print(k, {m: round(float(np.mean([x[m] for x in v.values()])), 5) for m in next(iter(v.values()))})
