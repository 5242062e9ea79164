"""A/B of the propagation's anchor on the DAVIS dev set (issue 11; figures in
benchmarks/results/anchor-ab-davis-cpu.json; the prototype of tracks.follow / tracks.anchor_trust, then motion.py's).

Uses the chain outputs cached by `python benchmarks/propagation_ab.py cache`. Per variant
[a, sigma (L units 0..100), window (px), carried] each frame is first propagated as vidcolor/chain/propagation.py does
(strength 0.98, bicubic, seeded from the reference), then every pixel followed back to the reference through the
composed flows takes the reference's ab with weight a * inside * exp(-box_window(|L - L_ref at the position|) / sigma);
carried = 1 feeds that anchored colour back into the propagation (it lost: the anchor's errors travel).

    python benchmarks/anchor_ab.py '[[1.0,5,5,0],[1.0,4,3,0]]' out.json [medium|medium0]
"""

import glob
import json
import sys

import cv2
import numpy as np
import propagation_ab as P
import torch

from vidcolor.evaluate.runner import load_sequence

torch.set_num_threads(2)


def _warp(x, mx, my):
    o = cv2.remap(np.ascontiguousarray(x.permute(1, 2, 0).numpy()), mx, my, cv2.INTER_CUBIC,
                  borderMode=cv2.BORDER_REPLICATE)  # fmt: skip
    return torch.from_numpy(o.reshape(o.shape[0], o.shape[1], -1)).permute(2, 0, 1)


def anchored(c, fl, a, sigma, window, carried):
    L, final = torch.cat([c["ref_l"], c["l"]]), torch.cat([c["ref_ab"], c["final"]])
    ref_ab, ref_l = c["ref_ab"][0].permute(1, 2, 0).numpy().copy(), c["ref_l"][0, 0].numpy()
    h, w = ref_l.shape
    mapx, mapy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    outs, shown = [c["ref_ab"][0]], []
    for t in range(1, len(L)):
        mx, my, fb, inside = fl[t]
        valid = torch.exp(-(L[t] - _warp(L[t - 1], mx, my)).abs() / 40) * torch.from_numpy((fb < 1) * inside)[None]
        o = (1 - 0.98 * valid) * final[t] + 0.98 * valid * _warp(outs[-1], mx, my)
        mapx = cv2.remap(mapx, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        mapy = cv2.remap(mapy, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        inr = ((mapx >= 0) & (mapx <= w - 1) & (mapy >= 0) & (mapy <= h - 1)).astype(np.float32)
        anc = cv2.remap(ref_ab, mapx, mapy, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
        d = np.abs(L[t, 0].numpy() - cv2.remap(ref_l, mapx, mapy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE))
        trust = torch.from_numpy(inr * np.exp(-(cv2.blur(d, (window, window)) if window > 1 else d) / sigma))[None]
        oa = o + a * trust * (torch.from_numpy(anc).permute(2, 0, 1) - o)
        outs.append(oa if carried else o)
        shown.append(oa)
    return torch.stack(shown)


if __name__ == "__main__":
    variants = json.loads(sys.argv[1])
    preset = {"medium": 2, "medium0": 3}[sys.argv[3] if len(sys.argv) > 3 else "medium0"]
    res = {}
    for path in sorted(glob.glob(P.DAVIS)):
        seq = load_sequence(path, None)
        c = P.load_cached(seq)
        fl = P.flows(c["l"], preset, c["ref_l"])
        for v in variants:
            res.setdefault(str(v), {})[seq.name] = P.score(seq, anchored(c, fl, *v))
        print(seq.name, {k: round(r[seq.name]["psnr"], 2) for k, r in res.items()}, flush=True)
    for k, v in res.items():
        print(k, {m: round(float(np.mean([x[m] for x in v.values()])), 5) for m in next(iter(v.values()))})
    json.dump(res, open(sys.argv[2], "w"), indent=1)
