"""Inference-side variants of `run`'s path, scored like `vidcolor eval` (exemplar_yuv: luma planes -> the model
stage -> chroma planes, all frames, frame 0 as the reference, working size 256) on the validation split of the
real-motion training (car-turn, dog-agility, motorbike, rollerblade; never trained on) and the DAVIS dev set.
Issue 26 asked whether matching survives zoom better with the reference's cells at more than one scale, and
whether weak matches should fall back to muted colour; these variants measure both without retraining:

- ``base``: the committed chain;
- ``scales``: the reference's cells also at 2x (its descriptors and mean ab per 8 x 8 cell of the reference
  upscaled, so a zoomed-in target finds cells of its size), pooled with the 1x cells;
- ``gain G``: the refined matched colour (each frame's own, before the propagation) scaled by G; ``gain G
  confidence``: by 1 + (G - 1) x the calibrated confidence of the match there;
- ``fallback KIND LO HI``: final = lerp(fallback, refined, clamp((confidence - LO) / (HI - LO), 0, 1)) per pixel,
  the calibrated match confidence; KIND gray (0) or auto (the refiner's automatic colours);
- ``memory K W S``: a training-free memory of the shot's own coloured frames beside the reference's cells (the last
  K of every W-th frame's output, its keys scaled by S; ``with_memory``); ``memory K W S truth``: the same memory
  holding those frames' true colours (an oracle: the ceiling of any memory of the shot); ``memory K W S trust``:
  each memory cell trusted as far as its frame's calibrated confidence there;
- ``placement K T``: the matched colours placed in 4 x 4 sub-cells (models/placement.py: the K best reference cells
  of each 8 x 8 cell, their 4 x 4 cells weighted by the frozen relu3_1 similarity at temperature T); K 0: none;
- ``fine-head CKPT``: the learned placement (models/placement.py ``PlacementHead``) from a checkpoint of
  training/train_placement.py; ``fine-head none``: the frozen placement even where a trained one is committed;
- ``mute S``: where the reference is not a view of the shot, the matched colours muted where they disagree with
  the automatic ones (``with_mute``: spread S Lab units);
- ``related LO HI``: the chain's fallback to the automatic colours where the reference shows too little of a shot
  (chain/relatedness.py: a stretch's relatedness = the best share so far of a frame's cells that are mutual nearest
  neighbours with the reference's; final = lerp(auto, refined, clamp((relatedness - LO) / (HI - LO), 0, 1)) for the
  whole frame) with thresholds LO and HI instead of the config's; ``unguarded``: without it (as before issue 26's
  fallback landed).

``--ref IMAGE`` colours every sequence from that image instead of its frame 0 (an unrelated reference); ``--ref next``
colours each sequence from the next sequence's frame 0 (the same kind of material, another scene).

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
import tempfile
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
from vidcolor.evaluate.runner import _mean_figures, environment, evaluate  # noqa: E402
from vidcolor.io.image import write_image  # noqa: E402
from vidcolor.io.media import iter_rgb_frames  # noqa: E402
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


def with_gain(gain: float, by_confidence: bool = False) -> None:
    """The refined colour x ``gain``; ``by_confidence``: x (1 + (gain - 1) * the calibrated confidence) per pixel."""
    plain = hint_sources.DenseRefiner.__call__

    def call(self, l, ab, conf):
        return (1 + (gain - 1) * conf if by_confidence else gain) * plain(self, l, ab, conf)

    hint_sources.DenseRefiner.__call__ = call


def refined(hints, l_small, keys, reference, ref_keys=None, ref_values=None):
    """What ``MatchHints`` computes -> (matched ab, confidence at the working size, refined ab); ``ref_keys`` and
    ``ref_values`` replace the reference's cells."""
    ref_keys = reference.keys if ref_keys is None else ref_keys
    ref_values = reference.values if ref_values is None else ref_values
    ab_cells, conf_cells = hints.matcher.warp(keys, ref_keys, ref_values)
    ab_match = upsample_cells(ab_cells, l_small)
    confidence = F.interpolate(conf_cells, size=l_small.shape[-2:], mode="bilinear", align_corners=False)
    return ab_match, confidence, hints.dense(l_small, ab_match, confidence)


def with_fallback(kind: str, lo: float, hi: float) -> None:
    def call(self, l_small, frame, reference, mask, relate=None):
        keys = frame.keys  # the variant matches cells only (no placement in sub-cells)
        ab_match, confidence, final = refined(self, l_small, keys, reference)
        fallback = self.dense.auto(l_small) if kind == "auto" else torch.zeros_like(final)
        return ab_match, torch.lerp(fallback, final, ((confidence - lo) / (hi - lo)).clamp(0, 1))

    hint_sources.MatchHints.__call__ = call


def with_mute(spread: float) -> None:
    """Where the reference is not a view of the shot (its relatedness below the placement ramp's top), the matched
    colours are muted where they disagree with the automatic ones: final x spread^2 / (spread^2 + |final - auto|^2),
    weighted by 1 - the placement weight (session 19; not adopted)."""

    def call(self, l_small, frame, reference, mask, relate=None):
        verdict, ab_match, final = self.refined(l_small, frame, reference, mask, relate)
        placing = verdict.placing if verdict is not None else None
        view = placing if placing is not None else torch.zeros(len(final), device=final.device)
        auto = None
        if bool((view < 1).any()):
            auto = self.automatic.auto(l_small, frame.desc)
            d2 = (final.float() - auto.float()).square().sum(1, keepdim=True)
            muted = final * (spread**2 / (spread**2 + d2))
            final = torch.lerp(muted, final.float(), view.view(-1, 1, 1, 1).float())
        if verdict is not None and verdict.weights is not None:
            auto = self.automatic.auto(l_small, frame.desc) if auto is None else auto
            final = torch.lerp(auto, final, verdict.weights.view(-1, 1, 1, 1))
        return ab_match, final

    hint_sources.MatchHints.__call__ = call


def with_relatedness(lo: float, hi: float) -> None:
    """The fallback to the automatic colours (chain/relatedness.py) with other thresholds; ``off``: never."""
    from vidcolor.chain import relatedness

    def weight(related, cfg):
        return torch.ones_like(related) if lo >= hi else ((related - lo) / (hi - lo)).clamp(0, 1)

    relatedness.fallback_weight = weight


def scored(sources: list[str], ref: str | None) -> dict:
    """``evaluate``'s exemplar_yuv row; ``ref="next"``: each sequence from the next one's frame 0."""
    if ref != "next":
        return evaluate(sources, Predictor.from_pretrained, ref=ref, only=["exemplar_yuv"])[0]
    res: dict = {"sequences": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for k, source in enumerate(sources):
            other = sources[(k + 1) % len(sources)]
            image = Path(tmp) / f"{Path(other).stem}.png"
            write_image(image, next(iter_rgb_frames(Path(other), 1)))
            part, _ = evaluate([source], Predictor.from_pretrained, ref=str(image), only=["exemplar_yuv"])
            res["sequences"].update(part["sequences"])
            res["settings"] = part["settings"]
    rows = [r["methods"]["exemplar_yuv"] for r in res["sequences"].values()]
    res["mean"] = {"exemplar_yuv": _mean_figures(rows)}
    return res


def with_memory(frames: int, every: int, shrink: float, truth: bool = False, trust: bool = False) -> None:
    """A training-free memory of the shot's own coloured frames: every ``every``-th frame's keys (pooled 2 x 2) and
    its output colours (after the propagation) are kept as extra cells beside the reference's, the last ``frames``
    of them; their keys are scaled by ``shrink`` (< 1: a memory cell wins only where it matches clearly better than
    any reference cell). State per sequence (eval colours one sequence at a time). ``truth``: the memory holds the
    frames' TRUE colours instead (an oracle: the most any memory of those frames could add); ``trust``: a memory cell's
    logit is raised by log(its frame's calibrated confidence there), so unsure colours are not carried."""
    from vidcolor.chain.matching import cell_means
    from vidcolor.chain.propagation import Propagation
    from vidcolor.color import rgb_to_lab
    from vidcolor.evaluate import runner

    state: dict = {"ref": None}
    apply = Propagation.apply
    through = runner._ThroughPlanes.__call__

    def seen(self, chunk, reference):
        state["chunk"] = chunk
        return through(self, chunk, reference)

    def true_ab(i, size):
        rgb = torch.from_numpy(state["chunk"][i]).permute(2, 0, 1)[None].float() / 255
        rgb = F.interpolate(rgb, size=size, mode="bilinear", align_corners=False, antialias=True)
        return rgb_to_lab(rgb.clamp(0, 1))[:, 1:]

    def call(self, l_small, frame, reference, mask, relate=None):
        keys = frame.keys  # the variant matches cells only (no placement in sub-cells)
        if state["ref"] is not reference:
            state.update(ref=reference, keys=[], values=[], conf=[], count=0)
        ref_keys = torch.cat([reference.keys, *state["keys"]], 1)
        ref_values = torch.cat([reference.values, *state["values"]], 1)
        query = keys
        if trust:  # one more channel: 1 in the query, tau * log(confidence) in a memory key, 0 in a reference key
            tau = float(self.matcher.head.tau)
            bias = [torch.zeros(1, reference.keys.shape[1])] + [tau * c.clamp_min(1e-3).log() for c in state["conf"]]
            ref_keys = torch.cat([ref_keys, torch.cat(bias, 1)], 0)
            query = torch.cat([keys.float(), torch.ones_like(keys[:, :1]).float()], 1)
        ab_match, confidence, final = refined(self, l_small, query, reference, ref_keys, ref_values)
        state["pending"] = F.normalize(F.avg_pool2d(keys.float(), 2), dim=1)
        state["pending_conf"] = F.adaptive_avg_pool2d(confidence.float(), state["pending"].shape[-2:])
        return ab_match, final

    def recorded(self, ab, plan):
        out = apply(self, ab, plan)
        pending = state.get("pending")
        if pending is not None and len(pending) == len(out):
            for i in range(len(out)):
                state["count"] += 1
                if state["count"] % every == 0:
                    state["keys"] = (state["keys"] + [shrink * pending[i].flatten(1)])[-frames:]
                    ab = true_ab(i, out.shape[-2:]) if truth else out[i : i + 1]
                    ab_cells = cell_means(ab, pending.shape[-2:])[0].flatten(1)
                    state["values"] = (state["values"] + [ab_cells])[-frames:]
                    state["conf"] = (state["conf"] + [state["pending_conf"][i].flatten(1)])[-frames:]
        return out

    hint_sources.MatchHints.__call__ = call
    Propagation.apply = recorded
    if truth:
        runner._ThroughPlanes.__call__ = seen


def with_placement(top: int, tau: float) -> None:
    """The matched colours placed in 4 x 4 sub-cells (models/placement.py) with ``top`` candidates and temperature
    ``tau`` instead of the config's; top 0: none (each 8 x 8 cell's colour fills it, the chain before session 16)."""
    from vidcolor.chain import matching
    from vidcolor.config import PlacementConfig

    matching.PlacementConfig = lambda: PlacementConfig(top=top, tau=tau)


def with_fine_head(path: str) -> None:
    """The networks' learned placement from ``path`` (a train_placement checkpoint), or none (``path`` "none")."""
    import dataclasses

    from vidcolor.chain import predictor
    from vidcolor.config import PlacementConfig
    from vidcolor.models.placement import PlacementHead

    plain = predictor.load_networks

    def load(*a, **k):
        head = None
        if path != "none":
            ckpt = torch.load(path, map_location="cpu", weights_only=False)
            head = PlacementHead(PlacementConfig(top=ckpt["args"]["top"], hidden=ckpt["args"]["hidden"]))
            head.load_state_dict(ckpt["head"])
        return dataclasses.replace(plain(*a, **k), placement=head)

    predictor.load_networks = load


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("variant", nargs="+", help="a variant and its arguments (above)")
    p.add_argument("--splits", default="val,dev")
    p.add_argument("--ref", default=None, help="one reference image for every sequence, or next")
    p.add_argument("--json", required=True)
    args = p.parse_args()
    name, *rest = args.variant
    if name == "scales":
        with_scales([float(s) for s in rest[0].split(",")])
    elif name == "gain":
        with_gain(float(rest[0]), by_confidence="confidence" in rest[1:])
    elif name == "fallback":
        with_fallback(rest[0], float(rest[1]), float(rest[2]))
    elif name == "mute":
        with_mute(float(rest[0]))
    elif name == "related":
        with_relatedness(float(rest[0]), float(rest[1]))
    elif name == "memory":
        with_memory(int(rest[0]), int(rest[1]), float(rest[2]), truth="truth" in rest[3:], trust="trust" in rest[3:])
    elif name == "placement":
        with_placement(int(rest[0]), float(rest[1]))
    elif name == "fine-head":
        with_fine_head(rest[0])
    elif name == "unguarded":
        with_relatedness(1.0, 0.0)
    elif name != "base":
        raise SystemExit(f"unknown variant {name}")
    out: dict = {"variant": args.variant, "ref": args.ref, "splits": {}}
    for split in args.splits.split(","):
        start = time.time()
        sources = VAL if split == "val" else DEV
        res = scored(sources, args.ref)
        rows = {s: r["methods"]["exemplar_yuv"] for s, r in res["sequences"].items()}
        out["splits"][split] = {"sequences": rows, "mean": res["mean"]["exemplar_yuv"],
                                "seconds": round(time.time() - start, 1)}  # fmt: skip
        out["settings"] = res["settings"]
        print(split, " ".join(args.variant), f"{res['mean']['exemplar_yuv']['psnr']:.3f} dB", flush=True)
    out["environment"] = environment(torch.device("cpu"))
    Path(args.json).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
