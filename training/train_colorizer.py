"""Train the colorization sub-net (U-Net): hint-guided refinement and, with empty hints, automatic colorization.

Inputs (Xu et al. 2020, 4.1; Zhang et al. 2017): L, ab hints at random points (random count including zero,
patch-mean values) and their mask; target = the full ab. Loss = Huber((1 + lambda*M) * out, (1 + lambda*M) * ab)
with lambda = 10. A share of the hinted samples take their hints from a DEGRADED ab (blurred, desaturated,
shifted), like the transfer sub-net's coarse T_ab at inference, while the target stays the true ab.

    python training/train_colorizer.py --data ../shared/data/train/*.zip --width 16 --steps 8000
"""

from __future__ import annotations

import argparse
import glob
import sys
import time
from pathlib import Path

import torch
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from training import common  # noqa: E402
from training.data import StepBatches, batch_loader, setup  # noqa: E402
from vidcolor.chain.hints import apply_hints, hint_pattern, random_training_hints  # noqa: E402
from vidcolor.color import lab_to_rgb, normalize_ab, normalize_l, rgb_to_lab  # noqa: E402
from vidcolor.config import ColorizerConfig  # noqa: E402
from vidcolor.models import ColorizerNet  # noqa: E402
from vidcolor.weights import export_trained  # noqa: E402

HUBER_DELTA = 10.0 / 110.0  # 10 Lab units on the normalised ab scale: L1-like beyond, which keeps colours vivid


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", nargs="+", default=sorted(glob.glob("../shared/data/train/*.zip")))
    p.add_argument("--out", default="runs/colorizer", help="checkpoint + log folder")
    p.add_argument("--width", type=int, default=16, help="U-Net base width (Zhang et al.: 64)")
    p.add_argument("--steps", type=int, default=8000)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--crop", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--halve-every", type=int, default=3000)
    p.add_argument("--hint-weight", type=float, default=10.0, help="lambda of the loss")
    p.add_argument("--empty-share", type=float, default=0.25, help="samples with no hint (automatic mode)")
    p.add_argument("--degraded-share", type=float, default=0.5, help="hinted samples whose hints are degraded")
    p.add_argument("--val-share", type=float, default=0.02)
    p.add_argument("--val-count", type=int, default=48)
    p.add_argument("--val-size", type=int, default=128)
    p.add_argument("--val-every", type=int, default=250)
    p.add_argument("--ckpt-every", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--export", default="colorizer", help="manifest name ('' = no export)")
    p.add_argument("--weights-dir", default=None)
    return p.parse_args(argv)


def degrade_ab(ab_norm: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Coarse-T_ab-like ab: gaussian blur (sigma 1..4 px), chroma scaled 0.6..1.1, shifted up to 3 px."""
    b = ab_norm.shape[0]
    out = []
    for i in range(b):
        r = torch.rand(4, generator=generator).tolist()
        sigma = 1.0 + 3.0 * r[0]
        k = int(2 * round(2 * sigma) + 1)
        x = torch.arange(k, dtype=ab_norm.dtype, device=ab_norm.device) - k // 2
        g = torch.exp(-(x**2) / (2 * sigma**2))
        g = g / g.sum()
        a = ab_norm[i : i + 1]
        a = F.conv2d(
            F.pad(a, (k // 2, k // 2, 0, 0), mode="replicate"), g.view(1, 1, 1, k).repeat(2, 1, 1, 1), groups=2
        )
        a = F.conv2d(
            F.pad(a, (0, 0, k // 2, k // 2), mode="replicate"), g.view(1, 1, k, 1).repeat(2, 1, 1, 1), groups=2
        )
        a = a * (0.6 + 0.5 * r[1])
        a = torch.roll(a, shifts=(int(6 * r[2]) - 3, int(6 * r[3]) - 3), dims=(2, 3))
        out.append(a)
    return torch.cat(out)


def make_inputs(rgb: torch.Tensor, args, generator: torch.Generator):
    lab = rgb_to_lab(rgb)
    return inputs_from_lab(lab[:, :1], lab[:, 1:], args, generator)


def inputs_from_lab(l: torch.Tensor, ab: torch.Tensor, args, generator: torch.Generator):
    """L (B, 1, H, W) 0..100 and ab (B, 2, H, W) in Lab units -> the net's inputs and target: normalised L, the
    normalised ab (target), hints (from a degraded ab for ``args.degraded_share`` of the samples) and their mask
    (none for ``args.empty_share``)."""
    l_norm, ab_norm = normalize_l(l), normalize_ab(ab)
    source = ab_norm
    if args.degraded_share > 0:
        pick = (torch.rand(l.shape[0], generator=generator) < args.degraded_share).view(-1, 1, 1, 1).to(l.device)
        source = torch.where(pick, degrade_ab(ab_norm, generator), ab_norm)
    hints, mask = random_training_hints(source, generator, empty_share=args.empty_share)
    return l_norm, ab_norm, hints, mask


def weighted_huber(out: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, lam: float) -> torch.Tensor:
    w = 1.0 + lam * mask
    return F.huber_loss(w * out, w * target, delta=HUBER_DELTA)


@torch.no_grad()
def validate(model: ColorizerNet, val: list[torch.Tensor], device: torch.device) -> dict:
    """Mean PSNR (true L + predicted ab vs the image) without hints ('auto') and with 1% oracle hints."""
    model.eval()
    scores = {"auto": [], "oracle": []}
    for rgb in val:
        rgb = rgb.to(device)
        lab = rgb_to_lab(rgb)
        l_norm, ab_norm = normalize_l(lab[:, :1]), normalize_ab(lab[:, 1:])
        h, w = rgb.shape[-2:]
        empty = torch.zeros_like(ab_norm)
        mask = hint_pattern(h, w, 0.01, seed=0).to(device)
        runs = {"auto": (empty, empty[:, :1]), "oracle": (apply_hints(ab_norm, mask, 3), mask)}
        for name, (hints, m) in runs.items():
            ab = model(l_norm, hints, m) * 110.0
            scores[name].append(common.psnr(lab_to_rgb(torch.cat([lab[:, :1], ab], 1)), rgb))
    model.train()
    return {k: sum(v) / len(v) for k, v in scores.items()}


def main(argv=None) -> dict:
    args = parse_args(argv)
    device, log, train_items, val = setup(args)
    out_dir = Path(args.out)
    cfg = ColorizerConfig(width=args.width)
    model = ColorizerNet(cfg).to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    generator = torch.Generator().manual_seed(args.seed)

    step, last_loss = 0, float("nan")
    ckpt_path = out_dir / "ckpt.pt"
    if args.resume and ckpt_path.is_file():
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=False)  # RNG states must stay on the CPU
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["opt"])
        common.set_rng_state(ckpt["rng"])
        generator.set_state(ckpt["generator"])
        step = ckpt["step"]
        last_loss = ckpt.get("loss", float("nan"))  # so an export right after resuming reports it
        print(f"resumed from {ckpt_path} at step {step}", file=sys.stderr)

    amp = (
        torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast("cpu", enabled=False)
    )
    batches = batch_loader(StepBatches(train_items, args.crop, args.batch, args.seed), step, args.steps, args.workers)
    progress = common.Progress(args.steps, start=step)
    t0 = time.time()
    figures = {"auto": float("nan"), "oracle": float("nan")}
    loss = torch.tensor(last_loss)
    for batch in batches:
        for group in opt.param_groups:
            group["lr"] = common.lr_at(step, args.lr, args.halve_every)
        rgb = batch.to(device, non_blocking=True).float() / 255.0  # (B, 3, crop, crop)
        l_norm, ab_norm, hints, mask = make_inputs(rgb, args, generator)
        with amp:
            out = model(l_norm, hints, mask).float()
        loss = weighted_huber(out, ab_norm, mask, args.hint_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        record = {"step": step, "loss": loss.item()}
        if step % args.val_every == 0 or step == args.steps:
            figures = validate(model, val, device)
            record.update({f"val_psnr_{k}": v for k, v in figures.items()})
        log.write(**record, lr=opt.param_groups[0]["lr"], elapsed=time.time() - t0)
        progress.update(step, loss=loss.item(), auto=figures["auto"], oracle=figures["oracle"])
        if step % args.ckpt_every == 0 or step == args.steps:
            state = {"model": model.state_dict(), "opt": opt.state_dict(), "rng": common.rng_state()}
            state["generator"] = generator.get_state()
            common.save_checkpoint(
                ckpt_path, **state, step=step, loss=loss.item(), config=cfg.to_dict(), args=vars(args)
            )
    progress.close()

    figures = validate(model, val, device)
    result = {"steps": step, "loss": loss.item(), **{f"val_psnr_{k}": v for k, v in figures.items()}}
    if args.export:
        entry = common.manifest_entry(
            "colorizer",
            "training/train_colorizer.py",
            args,
            cfg,
            len(train_items),
            len(val),
            step,
            device,
            empty_share=args.empty_share,
            degraded_share=args.degraded_share,
            final_loss=result["loss"],
            val_psnr_auto_db=figures["auto"],
            val_psnr_oracle_1pct_db=figures["oracle"],
        )
        weights_dir = Path(args.weights_dir) if args.weights_dir else None
        path = export_trained(args.export, model.state_dict(), entry, weights_dir)
        print(
            f"exported {path} (val PSNR auto {figures['auto']:.2f} dB, oracle {figures['oracle']:.2f} dB)",
            file=sys.stderr,
        )
    return result


if __name__ == "__main__":
    main()
