"""Train the automatic colours' head (models/autohead.py) from the feature store (issue 26).

The frozen VGG19 trunk's descriptors of every stored frame (training/build_store.py), its L and its ab are all a
step needs: the head sees a frame's cells and learns their colour. Samples: ``--photo-share`` of the steps are
stored photo targets (BSDS500 and the ImageNet sample: many scenes), the rest two training sequences of davis-train
(video frames as ``run`` meets them); never the validation split (train_real.VAL_SEQUENCES) nor anything of
``../shared/data/eval``. Deterministic by seed; every second batch flipped left-right. Loss (``--loss``): squared
error (what PSNR charges: where the colour is unsure the head learns the mean, towards gray) or Huber (10 Lab units)
between each cell's colour and the truth's mean. Validation: PSNR at working size (L kept) of gray, the committed
U-Net's automatic colours, the head's, and the two as the chain joins them (``agree``: their mean, muted where they
disagree) at a few spreads, on every ``--val-stride``-th frame of the validation split. The manifest records the
U-Net (sha256) the spread was chosen with: the loader takes the head only with it.

    python training/train_auto.py --store runs/store --out runs/auto --steps 2000
    python training/train_auto.py --out runs/auto --resume            # continue after an interruption
    python training/train_auto.py --out runs/auto --export-only --export weights
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path

import torch
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from training import common  # noqa: E402
from training.store import Store  # noqa: E402
from training.train_real import LICENCE, VAL_SEQUENCES, lr_factor, open_stores  # noqa: E402
from vidcolor import weights  # noqa: E402
from vidcolor.chain.hint_sources import _empty_input  # noqa: E402
from vidcolor.chain.precision import cpu_has_native_bf16  # noqa: E402
from vidcolor.color import lab_to_rgb  # noqa: E402
from vidcolor.config import AutoHeadConfig, ColorizerConfig  # noqa: E402
from vidcolor.models import ColorizerNet  # noqa: E402
from vidcolor.models.autohead import AutoHead, agree  # noqa: E402
from vidcolor.models.correspond import CELL, upsample_cells  # noqa: E402

NAME = "auto-head"
UNET = "colorizer-small"
HUBER_DELTA = 10.0 / 110.0


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--store", default="runs/store")
    p.add_argument("--out", default="runs/auto")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--batch", type=int, default=12, help="frames per step")
    p.add_argument("--lr", type=float, default=1e-3, help="AdamW, cosine decay to 5 %%")
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--hidden", type=int, default=AutoHeadConfig.hidden)
    p.add_argument("--photo-share", type=float, default=0.7, help="steps of stored photo targets (else video)")
    p.add_argument("--loss", choices=("mse", "huber"), default="mse")
    p.add_argument("--spread", type=float, default=AutoHeadConfig.spread,
                   help="the chain's agreement spread (Lab units; recorded in the config)")  # fmt: skip
    common.add_store_run_args(p, val_every=500)
    p.add_argument("--head", default="", metavar="FILE", help="--export-only: export this head-STEP.pt (one is kept "
                   "at every validation) instead of the last checkpoint")  # fmt: skip
    return p.parse_args(argv)


def frozen_unet() -> tuple[ColorizerNet, str, object]:
    """The committed U-Net (the chain's automatic colours), frozen -> (net, its sha256, an autocast)."""
    state, entry = weights.load_trained(UNET)
    net = ColorizerNet(ColorizerConfig.from_dict(entry["config"]))
    net.load_state_dict(state)
    net.eval().requires_grad_(False)
    bf16 = cpu_has_native_bf16()
    return net, entry["sha256"], lambda: torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16)


def sample_plan(step: int, seed: int, train: dict, n_photos: int, args) -> list[tuple[str, int]]:
    """Step ``step``'s frames as (source, index): ``batch`` photo targets, or half each from two training
    sequences. A pure function of (seed, step, the store's names and sizes)."""
    rng = random.Random(seed * 1_000_003 + step)
    if n_photos and rng.random() < args.photo_share:
        return [("photo", rng.randrange(n_photos)) for _ in range(args.batch)]
    names = sorted(train)
    a, b = rng.choice(names), rng.choice(names)
    half = args.batch // 2
    return [(a, rng.randrange(len(train[a]))) for _ in range(half)] + [
        (b, rng.randrange(len(train[b]))) for _ in range(args.batch - half)
    ]


def load_batch(plan, sources: dict[str, Store], flip: bool) -> dict:
    parts = [sources[name].frame(i) for name, i in plan]
    batch = {k: torch.stack([p[k] for p in parts]) for k in ("desc", "l", "ab")}
    return {k: v.flip(-1) for k, v in batch.items()} if flip else batch


def train_step(head: AutoHead, batch: dict, loss: str) -> torch.Tensor:
    cells = head(batch["desc"], batch["l"]) / 110
    truth = F.avg_pool2d(batch["ab"], CELL) / 110
    return F.mse_loss(cells, truth) if loss == "mse" else F.huber_loss(cells, truth, delta=HUBER_DELTA)


def psnr_lab(l: torch.Tensor, ab: torch.Tensor, truth: torch.Tensor) -> float:
    mse = (lab_to_rgb(torch.cat([l, ab], 1)) - lab_to_rgb(torch.cat([l, truth], 1))).square().mean().item()
    return 10 * math.log10(1 / max(mse, 1e-10))


VAL_SPREADS = (4.0, 8.0, 12.0)  # the agreement spreads validated


@torch.no_grad()
def validate(head: AutoHead, unet, autocast, val: dict[str, Store], stride: int) -> dict:
    """Per validation sequence, every ``stride``-th frame at working size: PSNR (dB) of gray, the U-Net's automatic
    colours, the head's, and the two joined by ``agree`` at each of ``VAL_SPREADS``."""
    head.eval()
    per_seq = {}
    for name, store in sorted(val.items()):
        idx = range(0, len(store), stride)
        sums = dict.fromkeys(["gray", "unet", "head", *(f"agree{s:g}" for s in VAL_SPREADS)], 0.0)
        for i in idx:
            f = store.frame(i)
            l, ab, desc = f["l"][None], f["ab"][None], f["desc"][None]
            u, h = _empty_input(unet, l, autocast)[0], upsample_cells(head(desc, l), l)
            sums["gray"] += psnr_lab(l, torch.zeros_like(ab), ab)
            sums["unet"] += psnr_lab(l, u, ab)
            sums["head"] += psnr_lab(l, h, ab)
            for spread in VAL_SPREADS:
                sums[f"agree{spread:g}"] += psnr_lab(l, agree(u, h, spread), ab)
        per_seq[name] = {k: v / len(idx) for k, v in sums.items()}
    head.train()
    mean = {k: sum(s[k] for s in per_seq.values()) / len(per_seq) for k in next(iter(per_seq.values()))}
    return {"mean": mean, "sequences": per_seq}


def main(argv=None) -> dict:
    args = parse_args(argv)
    common.begin(args)
    train, val, photos = open_stores(Path(args.store))
    sources: dict[str, Store] = dict(train)
    if photos is not None:
        sources["photo"] = photos[0]
    unet, sha, autocast = frozen_unet()
    out_dir = Path(args.out)
    cfg = AutoHeadConfig(hidden=args.hidden, spread=args.spread)
    head = AutoHead(cfg).train()
    opt = torch.optim.AdamW(head.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    log = common.JsonlLog(out_dir / "log.jsonl")
    ckpt_path = out_dir / "ckpt.pt"
    step, elapsed = 0, 0.0
    if args.resume or args.export_only:
        step, elapsed = common.resume(ckpt_path, {"head": head}, opt)
    if args.export_only and args.head:
        kept = torch.load(args.head, map_location="cpu", weights_only=False)
        head.load_state_dict(kept["head"])
        step = kept["step"]
        records = [json.loads(line) for line in (out_dir / "log.jsonl").read_text().splitlines()]
        elapsed = next(r["elapsed"] for r in records if r.get("step") == step and "elapsed" in r)

    def checkpoint() -> None:
        common.save_checkpoint(ckpt_path, head=head.state_dict(), opt=opt.state_dict(), step=step, elapsed=elapsed,
                               args=vars(args))  # fmt: skip

    def val_record() -> dict:
        return {f"val_{k}": v for k, v in validate(head, unet, autocast, val, args.val_stride)["mean"].items()}

    if not args.export_only:
        if step == 0:
            log.write(step=0, **val_record())
        n_photos = len(sources["photo"]) if "photo" in sources else 0
        t_start, t_ckpt, elapsed0 = time.time(), time.time(), elapsed
        while step < args.steps:
            if args.minutes and time.time() - t_start > 60 * args.minutes:
                break
            for g in opt.param_groups:
                g["lr"] = args.lr * lr_factor(step, args.steps)
            plan = sample_plan(step, args.seed, train, n_photos, args)
            loss = train_step(head, load_batch(plan, sources, flip=step % 2 == 1), args.loss)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            elapsed = elapsed0 + time.time() - t_start
            record = {"loss": loss.item(), "step": step, "elapsed": round(elapsed, 1)}
            if step % args.val_every == 0 or step == args.steps:
                record.update(val_record())
                print(record, file=sys.stderr, flush=True)
                torch.save({"head": head.state_dict(), "step": step, "args": vars(args)}, out_dir / f"head-{step}.pt")
            log.write(**record)
            if time.time() - t_ckpt > 60 * args.ckpt_minutes or step == args.steps:
                checkpoint()
                t_ckpt = time.time()
        checkpoint()
    if args.export:
        figures = validate(head, unet, autocast, val, args.val_stride)
        export(Path(args.export), head, cfg, step, elapsed, args, figures, sha)
    return {"step": step}


def export(directory: Path, head: AutoHead, cfg: AutoHeadConfig, step, elapsed, args, figures, sha: str) -> None:
    """The head as ``auto-head`` into a weights folder (its manifest updated)."""
    training = {
        "script": "training/train_auto.py",
        "data": ["davis-train (22 DAVIS-2016 train sequences, minus the validation split)",
                 "bsds500-256px.zip, imagenet-sample-256px.zip (the store's photo targets)"],
        "licence": LICENCE,
        "validation_sequences": list(VAL_SEQUENCES),
        "steps": step, "batch": args.batch, "minutes": round(elapsed / 60, 1), "lr": args.lr,
        "weight_decay": args.weight_decay, "schedule": "cosine to 5 %", "photo_share": args.photo_share,
        "loss": {"mse": "squared error", "huber": "Huber (10 Lab units)"}[args.loss] + " per cell vs the truth's mean",
        "unet": f"{UNET} (frozen; the chain joins its colours and the head's, models/autohead.py agree)",
        "unet_sha256": sha,  # the loader takes the head only with this U-Net
        "store": "training/build_store.py: frozen VGG19 descriptors (bf16 trunk), size 256",
        "val": figures,
    }  # fmt: skip
    prov = common.provenance(torch.device("cpu"), seed=args.seed)
    entry = {"kind": NAME, "config": cfg.to_dict(), "training": training, "provenance": prov}
    weights.export_trained(NAME, head.state_dict(), entry, directory)


if __name__ == "__main__":
    main()
