"""Continue the colorization U-Net (the chain's automatic colours, and the paper's refinement) on real video frames.

Since session 15 the U-Net with no hints gives the automatic colours; it learned from 5,100 steps of small photos
only. This continues it, with its own objective (train_colorizer.py: hints at random points, none for a quarter of
the samples, half of the hinted ones from a degraded ab; Huber loss weighted at the hints), on the feature store's L
and ab (training/store.py: davis-train frames at working size 256, outside the validation split, and the stored
photo pairs' targets, so it keeps what the photos taught). Random 128 x 128 crops, mirrored half the time.
Validation: the automatic colours (no hints) of every 4th frame of the validation split (car-turn, dog-agility,
motorbike, rollerblade: never trained on) at working size, PSNR of L + predicted ab against L + true ab, beside gray.

    python training/train_colorizer_real.py --store runs/store --out runs/colorizer-real --steps 1500 --minutes 25
    python training/train_colorizer_real.py --store runs/store --out runs/colorizer-real --export-only \
        --export colorizer-small --weights-dir weights

Resumable (``--resume``; a checkpoint every ``--ckpt-minutes``), JSON-lines log beside the checkpoint.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from training import common  # noqa: E402
from training.train_colorizer import inputs_from_lab, weighted_huber  # noqa: E402
from training.train_real import open_stores  # noqa: E402
from vidcolor import weights  # noqa: E402
from vidcolor.color import denormalize_ab, lab_to_rgb, normalize_l  # noqa: E402
from vidcolor.config import ColorizerConfig  # noqa: E402
from vidcolor.models import ColorizerNet  # noqa: E402

SOURCE = "colorizer-small"  # the committed U-Net this run starts from


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--store", default="runs/store")
    p.add_argument("--out", default="runs/colorizer-real")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--minutes", type=float, default=0, help="stop after this long (0: run every step)")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--crop", type=int, default=128)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--halve-every", type=int, default=750)
    p.add_argument("--photo-share", type=float, default=0.5, help="samples from the stored photo pairs")
    p.add_argument("--hint-weight", type=float, default=10.0)
    p.add_argument("--empty-share", type=float, default=0.25)
    p.add_argument("--degraded-share", type=float, default=0.5)
    p.add_argument("--val-every", type=int, default=250)
    p.add_argument("--ckpt-minutes", type=float, default=4.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--export-only", action="store_true")
    p.add_argument("--export", default="", help="manifest name to export to ('' = none)")
    p.add_argument("--weights-dir", default=None)
    return p.parse_args(argv)


def sample(rng: random.Random, train: dict, photos, args) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of random crops -> L (B, 1, c, c) and ab (B, 2, c, c) in Lab units."""
    ls, abs_ = [], []
    names = sorted(train)
    for _ in range(args.batch):
        if photos is not None and rng.random() < args.photo_share:
            store = photos[0]
        else:
            store = train[rng.choice(names)]
        frame = store.frame(rng.randrange(len(store)))
        h, w = frame["l"].shape[-2:]
        c = min(args.crop, h, w)
        y, x = rng.randrange(h - c + 1), rng.randrange(w - c + 1)
        l, ab = frame["l"][:, y : y + c, x : x + c], frame["ab"][:, y : y + c, x : x + c]
        if rng.random() < 0.5:
            l, ab = l.flip(-1), ab.flip(-1)
        ls.append(l)
        abs_.append(ab)
    return torch.stack(ls), torch.stack(abs_)


@torch.no_grad()
def validate(model: ColorizerNet, val: dict) -> dict[str, float]:
    """Automatic colours of every 4th frame of the validation split: mean PSNR at working size, and gray's."""
    model.eval()
    scores: dict[str, list[float]] = {"auto": [], "gray": []}
    for store in val.values():
        for i in range(0, len(store), 4):
            f = store.frame(i)
            l, ab = f["l"][None], f["ab"][None]
            empty = torch.zeros_like(ab)
            pred = denormalize_ab(model(normalize_l(l), empty, empty[:, :1]))
            truth = lab_to_rgb(torch.cat([l, ab], 1))
            scores["auto"].append(common.psnr(lab_to_rgb(torch.cat([l, pred], 1)), truth))
            scores["gray"].append(common.psnr(lab_to_rgb(torch.cat([l, empty], 1)), truth))
    model.train()
    return {k: sum(v) / len(v) for k, v in scores.items()}


def main(argv=None) -> dict:
    args = parse_args(argv)
    common.begin(args)
    train, val, photos = open_stores(Path(args.store))
    state, source_entry = weights.load_trained(SOURCE)
    cfg = ColorizerConfig.from_dict(source_entry["config"])
    model = ColorizerNet(cfg)
    model.load_state_dict({k: v.float() for k, v in state.items()})
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    out_dir = Path(args.out)
    log = common.JsonlLog(out_dir / "log.jsonl")
    ckpt_path = out_dir / "ckpt.pt"
    step, elapsed = 0, 0.0
    if args.resume or args.export_only:
        step, elapsed = common.resume(ckpt_path, {"model": model}, opt)
    rng = random.Random(args.seed * 1_000_003 + step)  # a resumed run draws new crops, deterministically
    generator = torch.Generator().manual_seed(args.seed * 7919 + step)

    def checkpoint() -> None:
        common.save_checkpoint(ckpt_path, model=model.state_dict(), opt=opt.state_dict(), step=step, elapsed=elapsed,
                               args=vars(args))  # fmt: skip

    if not args.export_only:
        if step == 0:
            log.write(step=0, **{f"val_{k}": v for k, v in validate(model, val).items()})
        t_start, t_ckpt, elapsed0 = time.time(), time.time(), elapsed
        while step < args.steps and not (args.minutes and time.time() - t_start > 60 * args.minutes):
            for group in opt.param_groups:
                group["lr"] = common.lr_at(step, args.lr, args.halve_every)
            l, ab = sample(rng, train, photos, args)
            l_norm, ab_norm, hints, mask = inputs_from_lab(l, ab, args, generator)
            loss = weighted_huber(model(l_norm, hints, mask).float(), ab_norm, mask, args.hint_weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            elapsed = elapsed0 + time.time() - t_start
            record = {"step": step, "loss": loss.item(), "elapsed": round(elapsed, 1)}
            if step % args.val_every == 0 or step == args.steps:
                record.update({f"val_{k}": v for k, v in validate(model, val).items()})
                print(record, file=sys.stderr, flush=True)
            log.write(**record)
            if time.time() - t_ckpt > 60 * args.ckpt_minutes or step == args.steps:
                checkpoint()
                t_ckpt = time.time()
        checkpoint()
    figures = validate(model, val)
    if args.export:
        entry = {
            "kind": "colorizer",
            "config": cfg.to_dict(),
            "training": {
                **source_entry["training"],
                "continued": {
                    "script": "training/train_colorizer_real.py",
                    "from": f"{SOURCE} sha256 {source_entry['sha256'][:16]}",
                    "data": [
                        "davis-train: 18 of 22 sequences (car-turn, dog-agility, motorbike, rollerblade held "
                        "out), CC BY-NC 4.0",
                        "the feature store's photo pairs (targets) from the zips above",
                    ],
                    "steps": step,
                    "batch": args.batch,
                    "crop": args.crop,
                    "lr": args.lr,
                    "halve_every": args.halve_every,
                    "photo_share": args.photo_share,
                    "minutes": round(elapsed / 60, 1),
                    "val_auto_psnr_db_at_256": figures["auto"],
                    "val_gray_psnr_db_at_256": figures["gray"],
                },  # fmt: skip
            },
            "provenance": common.provenance(torch.device("cpu"), seed=args.seed),
        }
        path = weights.export_trained(args.export, model.state_dict(), entry, Path(args.weights_dir or "weights"))
        print(f"exported {path}", file=sys.stderr)
    return {"steps": step, **figures}


if __name__ == "__main__":
    main()
