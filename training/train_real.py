"""Train the matcher head, its calibration and the refiner on REAL video pairs, from the feature store (issue 26).

A pair is a reference frame r and a target frame t of one DAVIS-train sequence (training/build_store.py stored
every frame's frozen descriptors, L and ab): non-rigid motion, zoom, occlusion, lighting, content the reference
shows small or not at all, with ground truth. Gaps run from one frame to the whole sequence, weighted toward long
ones, in both directions. A share of the samples are stored photo pairs (two views of one photo, training/pairs.py)
and a share pool an unrelated frame into the reference (teaches rejection). The sequences in ``VAL_SEQUENCES``
(fast motion, zoom) are never trained on: they are the validation split.

Losses, per sample:
- match: Huber between the carried cell colours and the target's (photo pairs weight hidden cells down);
- calibration: BCE of the confidence against "carried colour within ``tolerance`` of the truth";
- refiner (the matched ab upsampled edge-aware as at inference, the confidence, L -> a correction): Huber on the
  true ab, plus ``--gray-penalty`` x max(0, |out - truth| - |truth|): a colour further from the truth than gray
  costs more than gray, so where the match is weak the refiner learns muted colour, not a confident wrong one.
  A share of samples get an empty match: the automatic colorizer, trained on real frames too.

The trunk never runs here: a step is the head, the warp and the refiner. The refiner runs under bf16 autocast on a
CPU that has it (``--precision``: 1.6x faster here); the head and the warp (softmax at temperature ~0.01) in float32
(bf16 made the head slower on this CPU).

    python training/train_real.py --store runs/store --out runs/real --minutes 120   # resumable: --resume
"""

from __future__ import annotations

import argparse
import contextlib
import math
import random
import sys
import time
from pathlib import Path

import torch
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from training import common  # noqa: E402
from training.store import Store  # noqa: E402
from vidcolor import weights  # noqa: E402
from vidcolor.chain.hint_sources import DenseRefiner  # noqa: E402
from vidcolor.chain.precision import cpu_has_native_bf16  # noqa: E402
from vidcolor.color import lab_to_rgb  # noqa: E402
from vidcolor.config import ColorizerConfig, MatcherConfig  # noqa: E402
from vidcolor.models import ColorizerNet  # noqa: E402
from vidcolor.models.correspond import CELL, upsample_cells  # noqa: E402
from vidcolor.models.matcher import MatcherHead  # noqa: E402

VAL_SEQUENCES = ("car-turn", "dog-agility", "motorbike", "rollerblade")  # fast motion and zoom; never trained on
HUBER_DELTA = 10.0 / 110.0
REFINE_CROP = (16, 24)  # cells (128 x 192 pixels) of each target the refiner trains on
LICENCE = "DAVIS-2016 train split: CC BY-NC 4.0 (research use); photos: BSDS500 (cite Arbelaez et al.), ImageNet terms"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--store", default="runs/store")
    p.add_argument("--out", default="runs/real")
    p.add_argument("--steps", type=int, default=6000)
    p.add_argument("--batch", type=int, default=4, help="pairs per step")
    p.add_argument("--lr", type=float, default=5e-4, help="matcher head (cosine decay to 5 %%)")
    p.add_argument("--refine-lr", type=float, default=1e-4)
    p.add_argument("--calib-lr", type=float, default=0.01)
    p.add_argument("--blocks", type=int, default=1, help="residual context blocks added to the head")
    p.add_argument("--block-hidden", type=int, default=256)
    p.add_argument("--photo-share", type=float, default=0.25, help="samples that are stored photo pairs")
    p.add_argument("--distractor-share", type=float, default=0.2)
    p.add_argument("--empty-share", type=float, default=0.15, help="refiner samples with an empty match")
    p.add_argument("--gap-power", type=float, default=0.5, help="gap weight |t - r| ** power (long gaps favoured)")
    p.add_argument("--hidden-weight", type=float, default=0.25)
    p.add_argument("--gray-penalty", type=float, default=0.5)
    p.add_argument("--continue-from", default="matcher,refiner-small", metavar="HEAD,REFINER")
    p.add_argument("--precision", choices=("auto", "bf16", "fp32"), default="auto")
    common.add_store_run_args(p, val_every=250)
    return p.parse_args(argv)


def open_stores(root: Path) -> tuple[dict[str, Store], dict[str, Store], tuple[Store, Store] | None]:
    """-> training videos, validation videos (``VAL_SEQUENCES``), (photo targets, photo references) or None."""
    videos = {p.name: Store(p) for p in sorted((root / "video").iterdir()) if (p / "meta.json").is_file()}
    for name in videos:
        if "/data/eval/" in str(videos[name].meta.get("source", "")):
            raise SystemExit(f"{name}: evaluation material in the training store")
    train = {k: v for k, v in videos.items() if k not in VAL_SEQUENCES}
    val = {k: v for k, v in videos.items() if k in VAL_SEQUENCES}
    photo = root / "photo"
    photos = None
    if (photo / "pairs-target" / "meta.json").is_file() and (photo / "pairs-reference" / "meta.json").is_file():
        photos = (Store(photo / "pairs-target"), Store(photo / "pairs-reference"))
    return train, val, photos


def sample_gap(n: int, r: int, rng: random.Random, power: float) -> int:
    """A target frame t != r of a sequence of n frames, with weight |t - r| ** power (both directions)."""
    others = [t for t in range(n) if t != r]
    return rng.choices(others, weights=[abs(t - r) ** power for t in others])[0]


def sample_plan(step: int, seed: int, train: dict, photos, args) -> list[dict]:
    """The samples of step ``step``: a pure function of (seed, step, the store's names). A step is either
    ``batch`` targets of one sequence against one reference frame of it (and, for a share of steps, an unrelated
    frame pooled into that reference), or ``batch`` stored photo pairs."""
    rng = random.Random(seed * 1_000_003 + step)
    names = sorted(train)
    if photos is not None and rng.random() < args.photo_share:
        return [{"kind": "photo", "i": rng.randrange(len(photos[0])), "empty": rng.random() < args.empty_share}
                for _ in range(args.batch)]  # fmt: skip
    name = rng.choice(names)
    n = len(train[name])
    r = rng.randrange(n)
    distractor = None
    if rng.random() < args.distractor_share:
        other = rng.choice([m for m in names if m != name])
        distractor = (other, rng.randrange(len(train[other])))
    plan = []
    for _ in range(args.batch):
        item = {"kind": "video", "seq": name, "r": r, "t": sample_gap(n, r, rng, args.gap_power)}
        if distractor is not None:
            item["distractor"] = distractor
        item["empty"] = rng.random() < args.empty_share
        plan.append(item)
    return plan


def _batch(frames: list[dict]) -> dict[str, torch.Tensor]:
    return {k: torch.stack([f[k] for f in frames]) for k in frames[0]}


def load_step(plan: list[dict], train: dict, photos) -> dict:
    """The planned samples as batched float32 tensors: ``t`` (targets), ``r`` (a list of reference batches pooled
    together: one per side, batch 1 for a video step, one per sample for a photo step), ``visible`` or None."""
    if plan[0]["kind"] == "photo":
        idx = [item["i"] for item in plan]
        visible = torch.from_numpy(photos[0].visible[idx].astype("float32"))
        return {"t": _batch([photos[0].frame(i) for i in idx]), "r": [_batch([photos[1].frame(i) for i in idx])],
                "visible": visible}  # fmt: skip
    store = train[plan[0]["seq"]]
    refs = [_batch([store.frame(plan[0]["r"])])]
    if "distractor" in plan[0]:
        name, i = plan[0]["distractor"]
        refs.append(_batch([train[name].frame(i)]))
    return {"t": _batch([store.frame(item["t"]) for item in plan]), "r": refs, "visible": None}


def ref_cells(head: MatcherHead, refs: list[dict]) -> tuple[torch.Tensor, torch.Tensor]:
    """Reference frames -> keys (N, C, P) and values (N, 2, P), several references concatenated along P."""
    keys, values = [], []
    for ref in refs:
        keys.append(head(ref["desc"]).flatten(2))
        values.append(F.avg_pool2d(ref["ab"], CELL).flatten(2))
    return torch.cat(keys, -1), torch.cat(values, -1)


def refine(refiner, l, ab_cells, conf_cells, empty: torch.Tensor | None, autocast) -> torch.Tensor:
    """The refiner exactly as at inference: matched ab upsampled edge-aware + confidence -> ab (N, 2, H, W);
    ``empty`` (N,) bool zeroes a sample's match (automatic colorization)."""
    ab = upsample_cells(ab_cells, l)
    conf = F.interpolate(conf_cells, size=l.shape[-2:], mode="bilinear", align_corners=False)
    if empty is not None:
        keep = (~empty).float().view(-1, 1, 1, 1)
        ab, conf = ab * keep, conf * keep
    return DenseRefiner(refiner, autocast)(l, ab, conf)


def crop_cells(rng: random.Random, h: int, w: int, size: tuple[int, int]) -> tuple[slice, slice]:
    """A random cell-aligned window of at most ``size`` cells in an (h, w) grid of cells."""
    ch, cw = min(size[0], h), min(size[1], w)
    y, x = rng.randrange(h - ch + 1), rng.randrange(w - cw + 1)
    return slice(y, y + ch), slice(x, x + cw)


def rgb(l: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    return lab_to_rgb(torch.cat([l, ab], 1))


@torch.no_grad()
def validate(head, refiner, val: dict, args, autocast) -> dict:
    """Per validation sequence, frame 0 as the reference, every ``val_stride``-th later frame scored: cell RMSE of
    the matched colour (Lab units), PSNR of the refined colour and of gray at working size (L kept)."""
    head.eval(), refiner.eval()
    per_seq = {}
    for name, store in sorted(val.items()):
        ref = store.frame(0)
        keys_r, values = ref_cells(head, [{k: v[None] for k, v in ref.items()}])
        sq, cells, psnr_ref, psnr_gray, frames = 0.0, 0, 0.0, 0.0, 0
        for i in range(1, len(store), args.val_stride):
            t = {k: v[None] for k, v in store.frame(i).items()}
            ab_cells, stats = head.warp(head(t["desc"]), keys_r, values)
            truth_cells = F.avg_pool2d(t["ab"], CELL)
            sq += ((ab_cells - truth_cells) ** 2).sum(1).sum().item()
            cells += truth_cells[0, 0].numel()
            out = refine(refiner, t["l"], ab_cells, head.confidence(stats), None, autocast)
            truth = rgb(t["l"], t["ab"])
            psnr_ref += common.psnr(rgb(t["l"], out), truth)
            psnr_gray += common.psnr(rgb(t["l"], torch.zeros_like(out)), truth)
            frames += 1
        per_seq[name] = {
            "cell_rmse": math.sqrt(sq / cells),
            "psnr_refined": psnr_ref / frames,
            "psnr_gray": psnr_gray / frames,
        }
    head.train(), refiner.train()
    mean = {k: sum(s[k] for s in per_seq.values()) / len(per_seq) for k in next(iter(per_seq.values()))}
    return {"mean": mean, "sequences": per_seq}


def lr_factor(step: int, total: int) -> float:
    """Cosine decay from 1 to 0.05 over ``total`` steps (a constant rate was noisy in the probe)."""
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(step, total) / total))


def build(args) -> tuple[MatcherHead, ColorizerNet, MatcherConfig, ColorizerConfig]:
    head_init, refiner_init = args.continue_from.split(",")
    state, entry = weights.load_trained(head_init)
    base = MatcherConfig.from_dict(entry["config"])
    cfg = MatcherConfig(base.hidden, base.tolerance, args.blocks, args.block_hidden)
    head = MatcherHead(cfg)
    missing, unexpected = head.load_state_dict(state, strict=False)
    if unexpected or any(not k.startswith("blocks.") for k in missing):
        raise SystemExit(f"{head_init}: weights do not fit ({missing}, {unexpected})")
    state, entry = weights.load_trained(refiner_init)
    rcfg = ColorizerConfig.from_dict(entry["config"])
    refiner = ColorizerNet(rcfg)
    refiner.load_state_dict(state)
    return head.train(), refiner.train(), cfg, rcfg


def main(argv=None) -> dict:
    args = parse_args(argv)
    common.begin(args)
    bf16 = args.precision == "bf16" or (args.precision == "auto" and cpu_has_native_bf16())
    autocast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if bf16 else contextlib.nullcontext
    train, val, photos = open_stores(Path(args.store))
    head, refiner, cfg, rcfg = build(args)
    calib = [head.calib_w, head.calib_b]
    body = [p for n, p in head.named_parameters() if not n.startswith("calib")]
    groups = [
        {"params": body, "base": args.lr},
        {"params": calib, "base": args.calib_lr},
        {"params": list(refiner.parameters()), "base": args.refine_lr},
    ]
    opt = torch.optim.Adam(groups)
    out_dir = Path(args.out)
    log = common.JsonlLog(out_dir / "log.jsonl")
    ckpt_path = out_dir / "ckpt.pt"
    step, elapsed = 0, 0.0
    if (args.resume or args.export_only) and ckpt_path.is_file():
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        head.load_state_dict(ckpt["head"])
        refiner.load_state_dict(ckpt["refiner"])
        opt.load_state_dict(ckpt["opt"])
        for g, group in zip(opt.param_groups, groups, strict=True):  # this run's rates, not the checkpoint's
            g["base"] = group["base"]
        step, elapsed = ckpt["step"], ckpt.get("elapsed", 0.0)
        print(f"resumed from {ckpt_path} at step {step}", file=sys.stderr, flush=True)

    def checkpoint() -> None:
        common.save_checkpoint(
            ckpt_path, head=head.state_dict(), refiner=refiner.state_dict(), opt=opt.state_dict(), step=step,
            elapsed=elapsed, args=vars(args),
        )  # fmt: skip

    if not args.export_only:
        if step == 0:
            start = validate(head, refiner, val, args, autocast)["mean"]
            log.write(step=0, **{f"val_{k}": v for k, v in start.items()})
        t_start, t_ckpt = time.time(), time.time()
        elapsed0 = elapsed
        while step < args.steps:
            if args.minutes and time.time() - t_start > 60 * args.minutes:
                break
            for g in opt.param_groups:
                g["lr"] = g["base"] * lr_factor(step, args.steps)
            losses = train_step(head, refiner, sample_plan(step, args.seed, train, photos, args), train, photos, args,
                                cfg, autocast)  # fmt: skip
            opt.zero_grad(set_to_none=True)
            losses["loss"].backward()
            opt.step()
            step += 1
            elapsed = elapsed0 + time.time() - t_start
            record = {k: v.item() for k, v in losses.items()} | {"step": step, "elapsed": round(elapsed, 1)}
            if step % args.val_every == 0 or step == args.steps:
                record.update({f"val_{k}": v for k, v in validate(head, refiner, val, args, autocast)["mean"].items()})
                print(record, file=sys.stderr, flush=True)
            log.write(**record)
            if time.time() - t_ckpt > 60 * args.ckpt_minutes or step == args.steps:
                checkpoint()
                t_ckpt = time.time()
        checkpoint()
    if args.export:
        export(Path(args.export), head, refiner, cfg, rcfg, step, elapsed, args, validate(head, refiner, val, args,
                                                                                        autocast))  # fmt: skip
    return {"step": step}


def train_step(head, refiner, plan, train, photos, args, cfg, autocast, crop=REFINE_CROP) -> dict[str, torch.Tensor]:
    """One step's losses (the mean over its samples). The refiner sees a random window of ``crop`` cells of each
    target (its cost is most of a step's at full frames); the match is scored on every cell."""
    s = load_step(plan, train, photos)
    keys_r, values = ref_cells(head, s["r"])
    ab_cells, stats = head.warp(head(s["t"]["desc"]), keys_r, values)
    truth_cells = F.avg_pool2d(s["t"]["ab"], CELL)
    per_cell = F.huber_loss(ab_cells / 110, truth_cells / 110, delta=HUBER_DELTA, reduction="none").sum(1)
    if s["visible"] is not None:
        w = s["visible"] + args.hidden_weight * (1 - s["visible"])
        match = (w * per_cell).sum() / w.sum()
    else:
        match = per_cell.mean()
    conf = head.confidence(stats.detach())
    right = ((ab_cells.detach() - truth_cells).abs().sum(1, keepdim=True) < cfg.tolerance).float()
    conf_loss = F.binary_cross_entropy(conf.clamp(1e-6, 1 - 1e-6), right)
    rng = random.Random(repr(plan))  # the window: a pure function of the plan
    ys, xs = crop_cells(rng, *ab_cells.shape[-2:], crop)
    pix = slice(ys.start * CELL, ys.stop * CELL), slice(xs.start * CELL, xs.stop * CELL)
    empty = torch.tensor([item["empty"] for item in plan])
    l, truth = s["t"]["l"][..., pix[0], pix[1]], s["t"]["ab"][..., pix[0], pix[1]]
    out = refine(refiner, l, ab_cells.detach()[..., ys, xs], conf.detach()[..., ys, xs], empty, autocast)
    ref_loss = F.huber_loss(out / 110, truth / 110, delta=HUBER_DELTA)
    worse = (out - truth).norm(dim=1) - truth.norm(dim=1)  # > 0: further from the truth than gray is
    ref_loss = ref_loss + args.gray_penalty * F.relu(worse / 110).mean()
    loss = match + 0.1 * conf_loss + ref_loss
    return {"loss": loss, "match": match, "conf": conf_loss, "refine": ref_loss}


def export(directory: Path, head, refiner, cfg, rcfg, step, elapsed, args, figures) -> None:
    """The head as ``matcher``, the refiner as ``refiner-small``, into a weights folder (its manifest updated)."""
    device = torch.device("cpu")
    training = {
        "script": "training/train_real.py",
        "data": ["davis-train (22 DAVIS-2016 train sequences, minus the validation split)", "bsds500-256px.zip",
                 "imagenet-sample-256px.zip (one stored pair of views per photo)"],
        "licence": LICENCE,
        "validation_sequences": list(VAL_SEQUENCES),
        "steps": step,
        "batch": args.batch,
        "minutes": round(elapsed / 60, 1),
        "lr": args.lr, "refine_lr": args.refine_lr, "calib_lr": args.calib_lr, "schedule": "cosine to 5 %",
        "photo_share": args.photo_share, "distractor_share": args.distractor_share, "empty_share": args.empty_share,
        "gap_power": args.gap_power, "gray_penalty": args.gray_penalty,
        "continued_from": args.continue_from,
        "store": "training/build_store.py: frozen VGG19 descriptors (bf16 trunk), working size 256",
        "val": figures,
    }  # fmt: skip
    prov = common.provenance(device, seed=args.seed)
    weights.export_trained(
        "matcher",
        head.state_dict(),
        {"kind": "matcher", "config": cfg.to_dict(), "training": training, "provenance": prov},
        directory,
    )
    weights.export_trained(
        "refiner-small",
        refiner.state_dict(),
        {"kind": "refiner", "config": rcfg.to_dict(), "training": training, "provenance": prov},
        directory,
    )


if __name__ == "__main__":
    main()
