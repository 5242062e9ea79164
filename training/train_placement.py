"""Train the learned placement (models/placement.py ``PlacementHead``) on REAL video pairs from the feature store.

The chain places each 8 x 8 cell's matched colour in its four 4 x 4 sub-cells by choosing among the sub-cells of
the cell's ``top`` best reference cells (session 16: frozen relu3_1 similarity). On the validation split a perfect
choice among those candidates would score 2.2 dB above the frozen one per frame (benchmarks/placement_bounds.py),
so this learns the sub-cell descriptors, the placement temperature and the parent match's weight from pairs of
frames of one DAVIS-train sequence (reference r, target t, gaps from one frame to the whole sequence, weighted
toward long ones, both directions). The committed matcher head is frozen: it gives the candidates exactly as at
inference. Loss (``--loss``): ``mixture`` (default), the negative log-likelihood of the truth's mean ab per
sub-cell under the candidates as a mixture (each a Gaussian of ``--sigma`` Lab units at its colour, weighted as
placed): it rewards weight on a candidate of the right colour and does not reward hedging between colours;
``huber``: Huber between the placed (weighted mean) colour and the truth's, which made the colours duller (a
hedge between two colours is their mean); ``refined``: Huber between the truth and the committed refiner's colours
(frozen, run as at inference on the placed colours upsampled edge-aware and the match's confidence) on a random
window of ``REFINE_CROP`` cells of each target: what `run` shows, not what the refiner is fed.

The trunk never runs here: the store (training/build_store.py) holds each frame's frozen cell descriptors and
sub-cell descriptors. The sequences in ``train_real.VAL_SEQUENCES`` are never trained on; validation scores them
(frame 0 as the reference, every ``--val-stride``-th frame): RMSE of the placed colour per sub-cell, beside the
frozen placement's and the cells' own.

    python training/train_placement.py --store runs/store --out runs/placement --minutes 60   # --resume continues
    python training/train_placement.py --out runs/placement --export-only --export weights
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from pathlib import Path

import torch
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from training import common  # noqa: E402
from training.train_real import (  # noqa: E402
    HUBER_DELTA,
    LICENCE,
    REFINE_CROP,
    VAL_SEQUENCES,
    crop_cells,
    lr_factor,
    open_stores,
    sample_gap,
)
from vidcolor import weights  # noqa: E402
from vidcolor.chain.hint_sources import DenseRefiner  # noqa: E402
from vidcolor.chain.precision import cpu_has_native_bf16  # noqa: E402
from vidcolor.config import ColorizerConfig, MatcherConfig, PlacementConfig  # noqa: E402
from vidcolor.models import ColorizerNet  # noqa: E402
from vidcolor.models.correspond import CELL, upsample_cells  # noqa: E402
from vidcolor.models.matcher import MatcherHead  # noqa: E402
from vidcolor.models.placement import (  # noqa: E402
    PlacementHead,
    candidate_logits,
    place,
    reference_sub_cells,
    sub_cell_rows,
)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--store", default="runs/store")
    p.add_argument("--out", default="runs/placement")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=4, help="targets per step (one reference frame of one sequence)")
    p.add_argument("--lr", type=float, default=1e-3, help="cosine decay to 5 %%")
    p.add_argument("--hidden", type=int, default=PlacementConfig.hidden)
    p.add_argument("--top", type=int, default=PlacementConfig.top)
    p.add_argument("--gap-power", type=float, default=0.5, help="gap weight |t - r| ** power (long gaps favoured)")
    p.add_argument("--loss", choices=("mixture", "huber", "refined"), default="mixture")
    p.add_argument("--sigma", type=float, default=6.0, help="mixture: each candidate's spread in Lab units")
    p.add_argument("--huber", type=float, default=5.0, help="huber: delta in Lab units")
    common.add_store_run_args(p, val_every=250)
    return p.parse_args(argv)


def frozen_matcher() -> MatcherHead:
    state, entry = weights.load_trained("matcher")
    head = MatcherHead(MatcherConfig.from_dict(entry["config"]))
    head.load_state_dict(state)
    return head.eval().requires_grad_(False)


def sample_plan(step: int, seed: int, train: dict, args) -> tuple[str, int, list[int]]:
    """Step ``step``'s sequence, reference frame and ``batch`` target frames: a pure function of (seed, step, the
    store's names)."""
    rng = random.Random(seed * 1_000_003 + step)
    name = rng.choice(sorted(train))
    n = len(train[name])
    r = rng.randrange(n)
    return name, r, [sample_gap(n, r, rng, args.gap_power) for _ in range(args.batch)]


def frames(store, idx: list[int]) -> dict[str, torch.Tensor]:
    parts = [store.frame(i, fine=True) for i in idx]
    return {k: torch.stack([p[k] for p in parts]) for k in ("desc", "l", "ab", "fine")}


def frozen_refiner() -> DenseRefiner:
    """The committed refiner, frozen, under the CPU's native bf16 where it has it (as at inference)."""
    state, entry = weights.load_trained("refiner-small")
    net = ColorizerNet(ColorizerConfig.from_dict(entry["config"]))
    net.load_state_dict(state)
    net.eval().requires_grad_(False)
    bf16 = cpu_has_native_bf16()
    return DenseRefiner(net, lambda: torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16))


@torch.no_grad()
def candidates(matcher: MatcherHead, ref: dict, tgt: dict, top: int):
    """The frozen match of targets against one reference -> (cell ab (N, 2, h, w), (similarities, indices) of each
    cell's ``top`` best reference cells (N, h*w, top), the calibrated confidence (N, 1, h, w))."""
    keys_r = matcher(ref["desc"]).flatten(2)
    values = F.avg_pool2d(ref["ab"], CELL).flatten(2)
    ab, stats, tops = matcher.warp(matcher(tgt["desc"]), keys_r, values, top=top)
    return ab, tops, matcher.confidence(stats)


def placed(head: PlacementHead | None, matcher, ref: dict, tgt: dict, tops) -> torch.Tensor:
    """Sub-cell colours (N, 2, 2h, 2w) from the learned head, or the frozen placement where ``head`` is None."""
    sims, parents = tops
    if head is None:
        fine_r, fine_t, tau, scale = ref["fine"], tgt["fine"], PlacementConfig.tau, 1.0
    else:
        fine_r, fine_t, tau, scale = head(ref["fine"]), head(tgt["fine"]), head.tau, head.prior_scale
    ref_keys, ref_values = reference_sub_cells(fine_r, ref["ab"])
    return place(parents, sims, fine_t, ref_keys, ref_values, matcher.tau, tau, scale)


@torch.no_grad()
def validate(head: PlacementHead, matcher: MatcherHead, val: dict, args) -> dict:
    """Per validation sequence (frame 0 the reference, every ``val_stride``-th frame): RMSE per sub-cell (Lab
    units) of the learned placement, the frozen one and the cells' own colour."""
    head.eval()
    per_seq = {}
    for name, store in sorted(val.items()):
        ref = frames(store, [0])
        sq = {"learned": 0.0, "frozen": 0.0, "cells": 0.0}
        count = 0
        for start in range(1, len(store), 4 * args.val_stride):
            idx = list(range(start, min(len(store), start + 4 * args.val_stride), args.val_stride))
            tgt = frames(store, idx)
            ab_cells, tops, _ = candidates(matcher, ref, tgt, args.top)
            size = (2 * ab_cells.shape[-2], 2 * ab_cells.shape[-1])
            truth = F.adaptive_avg_pool2d(tgt["ab"], size)
            outs = {
                "learned": placed(head, matcher, ref, tgt, tops),
                "frozen": placed(None, matcher, ref, tgt, tops),
                "cells": F.interpolate(ab_cells, size=size, mode="nearest"),
            }
            for k, out in outs.items():
                sq[k] += (out - truth).square().sum(1).sum().item()
            count += truth[:, 0].numel()
        per_seq[name] = {f"rmse_{k}": math.sqrt(v / count) for k, v in sq.items()}
    head.train()
    mean = {k: sum(s[k] for s in per_seq.values()) / len(per_seq) for k in next(iter(per_seq.values()))}
    return {"mean": mean, "sequences": per_seq}


def mixture_nll(head: PlacementHead, matcher: MatcherHead, ref: dict, tgt: dict, tops, sigma: float) -> torch.Tensor:
    """Mean over sub-cells of -log sum_c w_c N(truth; colour_c, sigma) (up to a constant): the candidates as a
    mixture, weighted as the head places them."""
    sims, parents = tops
    ref_keys, ref_values = reference_sub_cells(head(ref["fine"]), ref["ab"])
    fine_t = head(tgt["fine"])
    truth = sub_cell_rows(F.adaptive_avg_pool2d(tgt["ab"], fine_t.shape[-2:]))  # (N, Q, 4, 2)
    parts = []
    for i in range(len(parents)):
        logits, values = candidate_logits(parents[i], sims[i], fine_t[i : i + 1], ref_keys, ref_values, matcher.tau,
                                          head.tau, head.prior_scale)  # fmt: skip
        d2 = (values[:, None] - truth[i][:, :, None]).square().sum(-1)  # (Q, 4, 4k)
        parts.append(-torch.logsumexp(logits - d2 / (2 * sigma**2), dim=-1).mean())
    return torch.stack(parts).mean()


def refined_loss(out, tgt: dict, confidence, refiner: DenseRefiner, rng: random.Random) -> torch.Tensor:
    """Huber (as train_real's) between the truth and the refiner's colours from the placed ones ``out`` (N, 2, 2h,
    2w), on one random window of ``REFINE_CROP`` cells."""
    ys, xs = crop_cells(rng, *confidence.shape[-2:], REFINE_CROP)
    pix = slice(ys.start * CELL, ys.stop * CELL), slice(xs.start * CELL, xs.stop * CELL)
    l, truth = tgt["l"][..., pix[0], pix[1]], tgt["ab"][..., pix[0], pix[1]]
    ab = upsample_cells(out[..., 2 * ys.start : 2 * ys.stop, 2 * xs.start : 2 * xs.stop], l)
    conf = F.interpolate(confidence[..., ys, xs], size=l.shape[-2:], mode="bilinear", align_corners=False)
    return F.huber_loss(refiner(l, ab, conf) / 110, truth / 110, delta=HUBER_DELTA)


def train_step(head, matcher, plan, train, args, refiner: DenseRefiner | None = None) -> dict[str, torch.Tensor]:
    name, r, ts = plan
    store = train[name]
    ref, tgt = frames(store, [r]), frames(store, ts)
    _, tops, confidence = candidates(matcher, ref, tgt, args.top)
    if args.loss == "mixture":
        return {"loss": mixture_nll(head, matcher, ref, tgt, tops, args.sigma)}
    out = placed(head, matcher, ref, tgt, tops)
    if args.loss == "refined":
        return {"loss": refined_loss(out, tgt, confidence, refiner, random.Random(repr(plan)))}
    truth = F.adaptive_avg_pool2d(tgt["ab"], out.shape[-2:])
    loss = F.huber_loss(out, truth, delta=args.huber)
    return {"loss": loss, "rmse": (out.detach() - truth).square().sum(1).mean().sqrt()}


def main(argv=None) -> dict:
    args = parse_args(argv)
    common.begin(args)
    train, val, _ = open_stores(Path(args.store))
    missing = [n for n, s in {**train, **val}.items() if s.fine is None]
    if missing:
        raise SystemExit(
            f"{', '.join(missing)}: no sub-cell descriptors in the store (rebuild: training/build_store.py)"
        )
    matcher = frozen_matcher()
    refiner = frozen_refiner() if args.loss == "refined" else None
    cfg = PlacementConfig(top=args.top, hidden=args.hidden)
    head = PlacementHead(cfg).train()
    opt = torch.optim.Adam(head.parameters(), lr=args.lr)
    out_dir = Path(args.out)
    log = common.JsonlLog(out_dir / "log.jsonl")
    ckpt_path = out_dir / "ckpt.pt"
    step, elapsed = 0, 0.0
    if args.resume or args.export_only:
        step, elapsed = common.resume(ckpt_path, {"head": head}, opt)

    def checkpoint() -> None:
        common.save_checkpoint(ckpt_path, head=head.state_dict(), opt=opt.state_dict(), step=step, elapsed=elapsed,
                               args=vars(args))  # fmt: skip

    if not args.export_only:
        if step == 0:
            log.write(step=0, **{f"val_{k}": v for k, v in validate(head, matcher, val, args)["mean"].items()})
        t_start, t_ckpt, elapsed0 = time.time(), time.time(), elapsed
        while step < args.steps:
            if args.minutes and time.time() - t_start > 60 * args.minutes:
                break
            for g in opt.param_groups:
                g["lr"] = args.lr * lr_factor(step, args.steps)
            losses = train_step(head, matcher, sample_plan(step, args.seed, train, args), train, args, refiner)
            opt.zero_grad(set_to_none=True)
            losses["loss"].backward()
            opt.step()
            step += 1
            elapsed = elapsed0 + time.time() - t_start
            record = {k: v.item() for k, v in losses.items()} | {"step": step, "elapsed": round(elapsed, 1)}
            record |= {"tau": head.tau.item(), "prior_scale": head.prior_scale.item()}
            if step % args.val_every == 0 or step == args.steps:
                record.update({f"val_{k}": v for k, v in validate(head, matcher, val, args)["mean"].items()})
                print(record, file=sys.stderr, flush=True)
            log.write(**record)
            if time.time() - t_ckpt > 60 * args.ckpt_minutes or step == args.steps:
                checkpoint()
                t_ckpt = time.time()
        checkpoint()
    if args.export:
        export(Path(args.export), head, cfg, step, elapsed, args, validate(head, matcher, val, args))
    return {"step": step}


LOSS_SETTINGS = {  # what the manifest records of each loss's settings
    "mixture": lambda args: {"sigma": args.sigma},
    "huber": lambda args: {"huber": args.huber},
    "refined": lambda args: {"huber": HUBER_DELTA * 110, "refine_crop_cells": list(REFINE_CROP)},
}


def export(directory: Path, head: PlacementHead, cfg: PlacementConfig, step, elapsed, args, figures) -> None:
    """The head as ``placement`` into a weights folder (its manifest updated)."""
    training = {
        "script": "training/train_placement.py",
        "data": ["davis-train (22 DAVIS-2016 train sequences, minus the validation split)"],
        "licence": LICENCE.split("; photos")[0],
        "validation_sequences": list(VAL_SEQUENCES),
        "steps": step, "batch": args.batch, "minutes": round(elapsed / 60, 1), "lr": args.lr,
        "schedule": "cosine to 5 %", "gap_power": args.gap_power, "loss": args.loss,
        **LOSS_SETTINGS[args.loss](args),
        "matcher": "the committed matcher head, frozen (its candidates as at inference)",
        "store": "training/build_store.py: frozen VGG19 descriptors and sub-cell descriptors (bf16 trunk), size 256",
        "val": figures,
    }  # fmt: skip
    prov = common.provenance(torch.device("cpu"), seed=args.seed)
    entry = {"kind": "placement", "config": cfg.to_dict(), "training": training, "provenance": prov}
    weights.export_trained("placement", head.state_dict(), entry, directory)


if __name__ == "__main__":
    main()
