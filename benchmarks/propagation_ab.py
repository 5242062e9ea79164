"""A/B of the propagation's design on the DAVIS dev set (issue 11; the figures in
benchmarks/results/propagation-ab-davis-cpu.json; the prototype of vidcolor/chain/propagation.py).

Step 1 caches the chain's outputs at working size per sequence (L, matched ab, confidence, final ab; committed
weights); step 2 applies each variant ([mode, strength, sigma in L units, gamma, seeded from the reference,
interpolation, guided radius, eps, DIS preset]) and scores ALL frames (PSNR, CDC, colourfulness gap).

    python benchmarks/propagation_ab.py cache
    python benchmarks/propagation_ab.py '[["base",0,0,0],["post",0.98,40,0,1,"cubic"]]' out.json

The memory rows of that JSON were measured with vidcolor/memory.py as of commit de78a16 (removed since: it lost
0.2-0.3 dB in every variant).
"""

import glob
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.nn import functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from vidcolor.chain.factory import predictor_factory  # noqa: E402
from vidcolor.chain.predictor import working_shape  # noqa: E402
from vidcolor.color import rgb_to_l, rgb_to_lab  # noqa: E402
from vidcolor.evaluate import metrics  # noqa: E402
from vidcolor.evaluate.runner import _batches, _recombine, load_sequence  # noqa: E402
from vidcolor.evaluate.runner import score as runner_score  # noqa: E402
from vidcolor.models.correspond import upsample_cells  # noqa: E402

CACHE = Path("/tmp/propagation-ab")
DAVIS = str(ROOT.parent / "shared/data/eval/davis/*.mp4")
torch.set_num_threads(2)


def flows(L, preset, seed=None):
    if seed is not None:
        L = torch.cat([seed, L])
    dis = cv2.DISOpticalFlow_create(min(preset, 2))
    if preset == 3:
        dis.setFinestScale(0)
    if preset == 4:
        dis.setFinestScale(0)
        dis.setVariationalRefinementIterations(10)
    u8 = [(l[0].numpy() * 2.55).clip(0, 255).astype(np.uint8) for l in L]
    res = [None]
    h, w = u8[0].shape
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    for t in range(1, len(u8)):
        fw = dis.calc(u8[t], u8[t - 1], None)
        bw = dis.calc(u8[t - 1], u8[t], None)
        mx, my = gx + fw[..., 0], gy + fw[..., 1]
        bw_at = cv2.remap(bw, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        fb = np.sum((fw + bw_at) ** 2, -1) / (0.01 * (np.sum(fw**2, -1) + np.sum(bw_at**2, -1)) + 0.5)
        inside = ((mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1)).astype(np.float32)
        res.append((mx, my, fb.astype(np.float32), inside))
    return res


INTERP = [cv2.INTER_LINEAR]
GUIDE = [0, 0]


def warp(x, mx, my, interp=None):  # x (C,h,w) tensor
    a = x.permute(1, 2, 0).numpy()
    o = cv2.remap(np.ascontiguousarray(a), mx, my, interp or INTERP[0], borderMode=cv2.BORDER_REPLICATE)
    if o.ndim == 2:
        o = o[..., None]
    return torch.from_numpy(o).permute(2, 0, 1)


def propagate(c, fl, beta, sigma, gamma, mode, refiner=None, seed=False):
    L, final, conf, match = c["l"], c["final"], c["conf"], c["match"]
    outs = [final[0]]
    if seed:
        L = torch.cat([c["ref_l"], L])
        final = torch.cat([c["ref_ab"], final])
        conf = torch.cat([conf[:1], conf])
        match = torch.cat([c["ref_ab"], match])
        outs = [c["ref_ab"][0]]
    for t in range(1, len(L)):
        mx, my, fb, inside = fl[t]
        wl = warp(L[t - 1], mx, my)
        valid = torch.exp(-(L[t] - wl).abs() / sigma) * torch.from_numpy((fb < 1) * inside)[None]
        prev = warp(outs[-1], mx, my)
        if GUIDE[0]:
            from kornia.filters import guided_blur

            prev = guided_blur(L[t][None] / 100.0, prev[None], GUIDE[0], GUIDE[1])[0]
        if mode == "post":
            w = beta * valid * (1 - conf[t]) ** gamma
            outs.append((1 - w) * final[t] + w * prev)
        elif mode == "pre":
            p = beta * valid * (1 - conf[t]) ** gamma
            cc = conf[t] + p
            m = (conf[t] * match[t] + p * prev) / cc.clamp_min(1e-6)
            with torch.no_grad():
                outs.append(refiner(L[t : t + 1], m[None], cc.clamp(0, 1)[None])[0])
        elif mode == "pre2":
            w = beta * valid
            m = (1 - w) * match[t] + w * prev
            cc = (1 - w) * conf[t] + w
            with torch.no_grad():
                outs.append(refiner(L[t : t + 1], m[None], cc[None])[0])
    return torch.stack(outs[1:] if seed else outs)


def score(seq, ab):
    """PSNR, CDC and colourfulness gap of working-size ``ab`` on the sequence's own L (the eval's figures)."""
    gt = torch.from_numpy(np.stack(seq.frames)).permute(0, 3, 1, 2).float() / 255
    frames = []
    for i in range(0, len(gt), 16):
        frames += _recombine(rgb_to_l(gt[i : i + 16]), ab[i : i + 16])
    r = runner_score(seq, frames, None)
    return {"psnr": r["psnr"], "cdc": r["cdc"], "cfgap": r["colorfulness_gap"]}


def load_cached(seq):
    """The cached chain outputs of ``seq`` with its reference's L and ab at working size."""
    c = torch.load(CACHE / f"{seq.name}.pt")
    ref = torch.from_numpy(seq.reference).permute(2, 0, 1)[None].float() / 255
    ref = F.interpolate(ref, size=c["l"].shape[-2:], mode="bilinear", align_corners=False, antialias=True)
    lab = rgb_to_lab(ref)
    c["ref_l"], c["ref_ab"] = lab[:, :1], lab[:, 1:]
    return c


def build_cache():
    CACHE.mkdir(parents=True, exist_ok=True)
    pred = predictor_factory(None, "cpu", 256, "match")()
    ch = pred.chain
    for path in sorted(glob.glob(DAVIS)):
        seq = load_sequence(path, None)
        ref = pred.prepare_reference(seq.reference, "reference")
        out = {k: [] for k in ("l", "match", "conf", "final", "keys", "cells", "ccells")}
        t = time.time()
        for chunk in _batches(seq.frames, 4):
            gt = torch.from_numpy(np.stack(chunk)).permute(0, 3, 1, 2).float() / 255
            l_full = rgb_to_l(gt)
            hs, ws = working_shape(*l_full.shape[-2:], 256)
            l_small = F.interpolate(l_full, size=(hs, ws), mode="bilinear", align_corners=False, antialias=True)
            with torch.no_grad():
                keys = ch.matcher.keys(l_small)
                ab_cells, conf_cells = ch.matcher.warp(keys, ref.keys, ref.values)
                ab_match = upsample_cells(ab_cells, l_small)
                w = F.interpolate(conf_cells, size=l_small.shape[-2:], mode="bilinear", align_corners=False)
                final = ch.dense(l_small, ab_match, w)
            out["l"].append(l_small)
            out["match"].append(ab_match)
            out["conf"].append(w)
            out["final"].append(final)
            out["keys"].append(keys.half())
            out["cells"].append(ab_cells)
            out["ccells"].append(conf_cells)
        o = {k: torch.cat(v) for k, v in out.items()}
        o["ref_keys"], o["ref_values"] = ref.keys, ref.values
        torch.save(o, CACHE / f"{seq.name}.pt")
        print(seq.name, len(seq.frames), time.time() - t, flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "cache":
        build_cache()
        sys.exit()
    variants = json.loads(sys.argv[1])  # list of [mode, beta, sigma, gamma]
    refiner = None
    if any(v[0] in ("pre", "pre2") for v in variants):
        from vidcolor.chain.factory import predictor_factory

        refiner = predictor_factory(None, "cpu", 256, "match")().chain.dense
    res = {}
    for path in sorted(glob.glob(DAVIS)):
        seq = load_sequence(path, None)
        c = load_cached(seq)
        cache = {}
        for v in variants:
            mode, beta, sigma, gamma = v[:4]
            INTERP[0] = {"cubic": cv2.INTER_CUBIC, "lanczos": cv2.INTER_LANCZOS4}.get(
                v[5] if len(v) > 5 else "", cv2.INTER_LINEAR
            )
            GUIDE[:] = [v[6], v[7]] if len(v) > 7 else [0, 0]
            seed = len(v) > 4 and v[4]
            preset = v[8] if len(v) > 8 else "medium"
            key = (bool(seed), preset)
            if key not in cache and mode != "base":
                p = {"ultrafast": 0, "fast": 1, "medium": 2, "medium0": 3, "medium0v": 4}[preset]
                cache[key] = flows(c["l"], p, c["ref_l"] if seed else None)
            ab = c["final"] if mode == "base" else propagate(c, cache[key], beta, sigma, gamma, mode, refiner, seed)
            res.setdefault(str(v), {})[seq.name] = score(seq, ab)
        res.setdefault("gt", {})[seq.name] = {"cdc": metrics.cdc(seq.frames)}
        print(seq.name, {k: round(r[seq.name]["psnr"], 2) for k, r in res.items() if "psnr" in r[seq.name]}, flush=True)
    for k, v in res.items():
        print(k, {m: round(float(np.mean([x[m] for x in v.values()])), 5) for m in next(iter(v.values()))})
    json.dump(res, open(sys.argv[2], "w"), indent=1)
