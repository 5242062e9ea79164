"""Inference-side variants of `run`'s path, scored like `vidcolor eval` (exemplar_yuv: luma planes -> the model
stage -> chroma planes, all frames, frame 0 as the reference, working size 256) on the validation split of the
real-motion training (car-turn, dog-agility, motorbike, rollerblade; never trained on) and the DAVIS dev set.
Issue 26 asked whether matching survives zoom better with the reference's cells at more than one scale, and
whether weak matches should fall back to muted colour; these variants measure both without retraining:

- ``base``: the committed chain;
- ``scales``: the reference's cells also at 2x (its descriptors and mean ab per 8 x 8 cell of the reference
  upscaled, so a zoomed-in target finds cells of its size), pooled with the 1x cells;
- ``gain G``: the refined matched colour (each frame's own, before the propagation) scaled by G;
- ``fallback KIND LO HI``: final = lerp(fallback, refined, clamp((confidence - LO) / (HI - LO), 0, 1)) per pixel,
  the calibrated match confidence; KIND gray (0) or auto (the refiner's automatic colours);
- ``related LO HI``: a sequence's relatedness to its reference = the best share so far of a frame's cells that are
  mutual nearest neighbours with the reference's (benchmarks/match_confidence.py); final = lerp(auto, refined,
  clamp((relatedness - LO) / (HI - LO), 0, 1)) for the whole frame (a prototype of a per-shot fallback: its state is
  kept on the reference, which each sequence prepares anew).

``--ref IMAGE`` colours every sequence from that image instead of its frame 0 (an unrelated reference).

    python benchmarks/match_variants_ab.py base --json out.json
    python benchmarks/match_variants_ab.py fallback gray 0 1 --splits val --json out.json

Each variant patches one method of the chain for the process; the JSON has per-sequence and mean figures, the
variant and the environment.
"""

from __future__ import annotations

import argparse
import glob
import json
import sys
import time
from pathlib import Path

import torch
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from training.train_real import VAL_SEQUENCES  # noqa: E402
from vidcolor.chain import hint_sources  # noqa: E402
from vidcolor.chain.matching import Matcher  # noqa: E402
from vidcolor.chain.predictor import Predictor  # noqa: E402
from vidcolor.color import caffe_preprocess, l_to_gray_rgb  # noqa: E402
from vidcolor.evaluate.runner import environment, evaluate  # noqa: E402
from vidcolor.models.correspond import descriptors, upsample_cells  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
DEV = sorted(glob.glob(str(SHARED / "eval" / "davis" / "*.mp4")))
VAL = [str(SHARED / "train" / "davis-train" / f"{s}.mp4") for s in VAL_SEQUENCES]  # never trained on


def with_scales(scales: list[float]) -> None:
    """Matcher.cells also returns the cells of the reference resized by each of ``scales``."""
    plain = Matcher.cells

    def cells(self, lab):
        keys, values = plain(self, lab)
        ks, vs = [keys], [values]
        h, w = lab.shape[-2:]
        for s in scales:
            size = (max(8, round(h * s / 8) * 8), max(8, round(w * s / 8) * 8))
            lab_s = F.interpolate(lab.float(), size=size, mode="bilinear", align_corners=False, antialias=s < 1)
            with self._autocast():
                desc = descriptors(self.encoder(caffe_preprocess(l_to_gray_rgb(lab_s[:, :1]))))
            if self.head is not None:
                desc = self.head(desc)
            ks.append(desc[0].flatten(1))
            vs.append(F.adaptive_avg_pool2d(lab_s[:, 1:], desc.shape[-2:])[0].flatten(1))
        return torch.cat(ks, 1), torch.cat(vs, 1)

    Matcher.cells = cells


def with_gain(gain: float) -> None:
    plain = hint_sources.DenseRefiner.__call__
    hint_sources.DenseRefiner.__call__ = lambda self, l, ab, conf: gain * plain(self, l, ab, conf)


def mutual_share(keys: torch.Tensor, ref_keys: torch.Tensor) -> float:
    """keys (1, C, h, w) of a frame, ref_keys (C, P) -> share of the frame's cells that are mutual nearest
    neighbours with a reference cell (cosine similarity)."""
    sim = keys[0].flatten(1).t().float() @ ref_keys.float()  # (h*w, P)
    best_ref, best_frame = sim.argmax(1), sim.argmax(0)
    return float((best_frame[best_ref] == torch.arange(sim.shape[0], device=sim.device)).float().mean())


def refined(hints, l_small, keys, reference):
    """What ``MatchHints`` computes -> (matched ab, confidence at the working size, refined ab)."""
    ab_cells, conf_cells = hints.matcher.warp(keys, reference.keys, reference.values)
    ab_match = upsample_cells(ab_cells, l_small)
    confidence = F.interpolate(conf_cells, size=l_small.shape[-2:], mode="bilinear", align_corners=False)
    return ab_match, confidence, hints.dense(l_small, ab_match, confidence)


def with_fallback(kind: str, lo: float, hi: float) -> None:
    def call(self, l_small, keys, reference, mask):
        ab_match, confidence, final = refined(self, l_small, keys, reference)
        fallback = self.dense.auto(l_small) if kind == "auto" else torch.zeros_like(final)
        return ab_match, torch.lerp(fallback, final, ((confidence - lo) / (hi - lo)).clamp(0, 1))

    hint_sources.MatchHints.__call__ = call


def with_relatedness(lo: float, hi: float) -> None:
    def call(self, l_small, keys, reference, mask):
        ab_match, _, final = refined(self, l_small, keys, reference)
        weights = []
        for frame_keys in keys:  # frames in order: the best share so far, per reference
            share = mutual_share(frame_keys[None], reference.keys)
            best = max(getattr(reference, "_best_share", 0.0), share)
            object.__setattr__(reference, "_best_share", best)  # the prototype's per-sequence state
            weights.append(min(max((best - lo) / (hi - lo), 0.0), 1.0))
        w = torch.tensor(weights, device=final.device).view(-1, 1, 1, 1)
        if bool((w < 1).any()):
            final = torch.lerp(self.dense.auto(l_small), final, w)
        return ab_match, final

    hint_sources.MatchHints.__call__ = call


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("variant", nargs="+", help="base | scales S[,S] | gain G | fallback gray|auto LO HI")
    p.add_argument("--splits", default="val,dev")
    p.add_argument("--ref", default=None, help="one reference image for every sequence")
    p.add_argument("--json", required=True)
    args = p.parse_args()
    name, *rest = args.variant
    if name == "scales":
        with_scales([float(s) for s in rest[0].split(",")])
    elif name == "gain":
        with_gain(float(rest[0]))
    elif name == "fallback":
        with_fallback(rest[0], float(rest[1]), float(rest[2]))
    elif name == "related":
        with_relatedness(float(rest[0]), float(rest[1]))
    elif name != "base":
        raise SystemExit(f"unknown variant {name}")
    out: dict = {"variant": args.variant, "ref": args.ref, "splits": {}}
    for split in args.splits.split(","):
        start = time.time()
        sources = VAL if split == "val" else DEV
        res, _ = evaluate(sources, Predictor.from_pretrained, ref=args.ref, only=["exemplar_yuv"])
        rows = {s: r["methods"]["exemplar_yuv"] for s, r in res["sequences"].items()}
        out["splits"][split] = {"sequences": rows, "mean": res["mean"]["exemplar_yuv"],
                                "seconds": round(time.time() - start, 1)}  # fmt: skip
        out["settings"] = res["settings"]
        print(split, " ".join(args.variant), f"{res['mean']['exemplar_yuv']['psnr']:.3f} dB", flush=True)
    out["environment"] = environment(torch.device("cpu"))
    Path(args.json).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
