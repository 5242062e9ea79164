"""Train the learned correspondence head and the refinement net that uses the whole match (issue 11).

Pairs: two views of one photo (training/pairs.py), target and reference both seen GRAY by the frozen VGG19; a
share of the batches pools a view of an unrelated photo into the reference (teaches rejection).
- Matcher head (models/matcher.py): keys from the frozen descriptors; loss = Huber between the reference's cell
  colours carried by the soft warp and the target's cell colours (full weight where the reference shows the cell,
  ``--hidden-weight`` where it does not); its calibration is fitted by BCE to "carried colour within
  ``tolerance`` Lab units of the truth".
- Refiner (ColorizerNet, the colorization sub-net's architecture, started from its trained weights with the
  output layer at zero): input L, the dense matched ab (upsampled edge-aware, as at inference) and the
  confidence map in the mask channel; output a CORRECTION added to the matched ab (so it starts as the match
  itself and learns where to change it); Huber loss of the sum on the true ab. A share of samples get an EMPTY
  match (zeros): then the correction is the whole colour, the automatic colorizer.

    python training/train_matcher.py --steps 3000 --threads 2
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import random
import sys
import time
from pathlib import Path

import torch
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from training import common  # noqa: E402
from training.data import ImageSource, list_images, split  # noqa: E402
from training.pairs import CELL, distractor, make_pair  # noqa: E402
from vidcolor import weights  # noqa: E402
from vidcolor.chain.hint_sources import DenseRefiner  # noqa: E402
from vidcolor.color import caffe_preprocess, l_to_gray_rgb, lab_to_rgb, rgb_to_lab  # noqa: E402
from vidcolor.config import ColorizerConfig, MatcherConfig  # noqa: E402
from vidcolor.models import ColorizerNet, VGGEncoder  # noqa: E402
from vidcolor.models.correspond import TAU, descriptors, soft_warp, upsample_cells  # noqa: E402
from vidcolor.models.matcher import MatcherHead  # noqa: E402

HUBER_DELTA = 10.0 / 110.0


def parse_args(argv=None) -> argparse.Namespace:
    here = Path(__file__).resolve().parent.parent.parent / "shared/data/train"
    default_data = sorted(glob.glob(str(here / "*-256px.zip")))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", nargs="+", default=default_data, help="photos (>= 128 px); the 256 px zips")
    p.add_argument("--out", default="runs/matcher")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--crop", type=int, default=128, help="side of each view")
    p.add_argument("--lr", type=float, default=1e-3, help="matcher head")
    p.add_argument("--refine-lr", type=float, default=2e-4)
    p.add_argument("--calib-lr", type=float, default=0.02, help="the confidence calibration's 4 parameters")
    p.add_argument("--halve-every", type=int, default=1500)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--hidden-weight", type=float, default=0.25, help="loss weight of cells the reference hides")
    p.add_argument("--distractor-share", type=float, default=0.3)
    p.add_argument("--empty-share", type=float, default=0.15, help="refiner samples with an empty match")
    p.add_argument("--refiner-init", default="colorizer-small", help="manifest name to start the refiner from")
    p.add_argument(
        "--continue-from",
        default=None,
        metavar="HEAD,REFINER",
        help="start from trained weights (manifest names, e.g. matcher,refiner-small) instead of from scratch",
    )
    p.add_argument("--workers", type=int, default=0, help="DataLoader processes making the pairs")
    p.add_argument("--minutes", type=float, default=0, help="stop (and export) after this wall-clock time")
    p.add_argument("--no-refine", action="store_true", help="train the matcher head only")
    p.add_argument("--val-share", type=float, default=0.03)
    p.add_argument("--val-count", type=int, default=32)
    p.add_argument("--val-every", type=int, default=200)
    p.add_argument("--ckpt-every", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--vgg", default=None)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--export", default="matcher", help="manifest name of the head ('' = no export)")
    p.add_argument("--export-refiner", default="refiner-small")
    p.add_argument("--weights-dir", default=None)
    return p.parse_args(argv)


def gray_descriptors(vgg: VGGEncoder, l: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) L -> frozen unit descriptors (B, 768, H/8, W/8) of the gray image."""
    with torch.no_grad():
        return descriptors(vgg(caffe_preprocess(l_to_gray_rgb(l))))


def cells(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, CELL)


def batch_at(source: ImageSource, items: list, step: int, args, val: bool = False) -> dict[str, torch.Tensor]:
    """Batch ``step``: a pure function of (seed, step) -> target, reference (B, 3, S, S), visible (B, h, w),
    optional distractor (B, 3, S, S)."""
    rng = random.Random(args.seed * 1_000_003 + step + (7_777_777 if val else 0))
    pairs = [make_pair(source.read(rng.choice(items)), args.crop, rng.randrange(1 << 30)) for _ in range(args.batch)]
    out = {
        "target": torch.stack([p.target for p in pairs]),
        "reference": torch.stack([p.reference for p in pairs]),
        "visible": torch.stack([p.visible for p in pairs]),
    }
    if rng.random() < args.distractor_share:
        out["distractor"] = torch.stack(
            [distractor(source.read(rng.choice(items)), args.crop, rng.randrange(1 << 30)) for _ in pairs]
        )
    return out


class PairBatches(torch.utils.data.Dataset):
    """Batch number ``step`` -> ``batch_at(step)``, for DataLoader workers (each opens its own zip handles)."""

    def __init__(self, items: list, args) -> None:
        self.items, self.args, self.source = items, args, None

    def __len__(self) -> int:
        return 1 << 40

    def __getitem__(self, step: int) -> dict[str, torch.Tensor]:
        if self.source is None:
            self.source = ImageSource()
        return batch_at(self.source, self.items, step, self.args)


def match_batch(vgg, head, batch, device, learned: bool = True):
    """-> target Lab (B, 3, S, S), matched ab per cell (B, 2, h, w), stats or confidence, visible."""
    lab_t = rgb_to_lab(batch["target"].to(device))
    refs = [batch["reference"]] + ([batch["distractor"]] if "distractor" in batch else [])
    keys_r, values = [], []
    desc_t = gray_descriptors(vgg, lab_t[:, :1])
    for ref in refs:
        lab_r = rgb_to_lab(ref.to(device))
        desc_r = gray_descriptors(vgg, lab_r[:, :1])
        keys_r.append((head(desc_r) if learned else desc_r).flatten(2))
        values.append(cells(lab_r[:, 1:]).flatten(2))
    keys_r, values = torch.cat(keys_r, -1), torch.cat(values, -1)
    if learned:
        ab, stats = head.warp(head(desc_t), keys_r, values)
        return lab_t, ab, stats
    parts = [soft_warp(desc_t[i : i + 1], keys_r[i], values[i], TAU) for i in range(len(desc_t))]
    return lab_t, torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


def refine(refiner, lab_t, ab_cells, conf_cells, empty: torch.Tensor | None = None) -> torch.Tensor:
    """Matched ab + the refiner's correction -> ab in Lab units (B, 2, S, S). ``empty`` (B,) bool zeroes a sample's
    match (automatic colorization)."""
    l = lab_t[:, :1]
    ab = upsample_cells(ab_cells, l)
    conf = F.interpolate(conf_cells, size=l.shape[-2:], mode="bilinear", align_corners=False)
    if empty is not None:
        keep = (~empty).float().view(-1, 1, 1, 1).to(l.device)
        ab, conf = ab * keep, conf * keep
    return DenseRefiner(refiner, contextlib.nullcontext)(l, ab, conf)  # exactly as at inference


def to_rgb_psnr(lab_t: torch.Tensor, ab: torch.Tensor) -> float:
    if ab.shape[-2:] != lab_t.shape[-2:]:
        ab = upsample_cells(ab, lab_t[:, :1])
    return common.psnr(lab_to_rgb(torch.cat([lab_t[:, :1], ab], 1)), lab_to_rgb(lab_t))


@torch.no_grad()
def validate(vgg, head, refiner, val_batches, device, tolerance) -> dict:
    """Mean PSNR of the target rebuilt from: the frozen matcher, the learned one, the refiner on the learned
    match, the refiner with an empty match ('auto'); plus the calibration error of the learned confidence."""
    head.eval()
    if refiner is not None:
        refiner.eval()
    sums = {"frozen": 0.0, "learned": 0.0, "refined": 0.0, "auto": 0.0, "calib_err": 0.0, "gray": 0.0}
    for batch in val_batches:
        lab_t, ab_f, _ = match_batch(vgg, head, batch, device, learned=False)
        sums["frozen"] += to_rgb_psnr(lab_t, ab_f)
        sums["gray"] += to_rgb_psnr(lab_t, torch.zeros_like(lab_t[:, 1:]))
        lab_t, ab_l, stats = match_batch(vgg, head, batch, device)
        sums["learned"] += to_rgb_psnr(lab_t, ab_l)
        conf = head.confidence(stats)
        right = ((ab_l - cells(lab_t[:, 1:])).abs().sum(1, keepdim=True) < tolerance).float()
        sums["calib_err"] += calibration_error(conf, right)
        if refiner is not None:
            sums["refined"] += to_rgb_psnr(lab_t, refine(refiner, lab_t, ab_l, conf))
            empty = torch.ones(len(lab_t), dtype=torch.bool)
            sums["auto"] += to_rgb_psnr(lab_t, refine(refiner, lab_t, ab_l, conf, empty))
    head.train()
    if refiner is not None:
        refiner.train()
    return {k: v / len(val_batches) for k, v in sums.items()}


def calibration_error(conf: torch.Tensor, right: torch.Tensor, bins: int = 10) -> float:
    """Expected calibration error: |mean confidence - share right| per confidence bin, weighted by the bin's size."""
    conf, right = conf.flatten(), right.flatten()
    idx = (conf * bins).long().clamp(max=bins - 1)
    err = 0.0
    for b in range(bins):
        sel = idx == b
        if sel.any():
            err += sel.float().mean().item() * abs(conf[sel].mean().item() - right[sel].mean().item())
    return err


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    common.seed_everything(args.seed)
    device = common.pick_device(args.device)
    out_dir = Path(args.out)
    log = common.JsonlLog(out_dir / "log.jsonl")
    train_items, val_items = split(list_images(args.data), args.val_share)
    source = ImageSource()
    val_batches = [batch_at(source, val_items, i, args, val=True) for i in range(max(1, args.val_count // args.batch))]

    vgg = VGGEncoder().to(device).eval()
    vgg.load_caffe_state_dict(weights.load_vgg_state(weights.resolve_vgg(args.vgg)))
    cfg = MatcherConfig(hidden=args.hidden)
    head = MatcherHead(cfg).to(device).train()
    calib = [head.calib_w, head.calib_b]
    groups = [
        {"params": [p for p in head.parameters() if all(p is not c for c in calib)], "lr": args.lr, "base": args.lr},
        {"params": calib, "lr": args.calib_lr, "base": args.calib_lr},
    ]
    head_init, refiner_init = (args.continue_from or ",").split(",")
    if head_init:
        head.load_state_dict(weights.load_trained(head_init)[0])
    refiner, refiner_cfg = None, None
    if not args.no_refine:
        state, entry = weights.load_trained(refiner_init or args.refiner_init)
        refiner_cfg = ColorizerConfig.from_dict(entry["config"])
        refiner = ColorizerNet(refiner_cfg)
        refiner.load_state_dict(state)
        if not refiner_init:
            torch.nn.init.zeros_(refiner.out.weight)  # a correction of the match: starts at none
            torch.nn.init.zeros_(refiner.out.bias)
        refiner = refiner.to(device).train()
        groups.append({"params": list(refiner.parameters()), "lr": args.refine_lr, "base": args.refine_lr})
    opt = torch.optim.Adam(groups)

    step, last = 0, {}
    ckpt_path = out_dir / "ckpt.pt"
    if args.resume and ckpt_path.is_file():
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=False)  # RNG states must stay on the CPU
        head.load_state_dict(ckpt["head"])
        if refiner is not None:
            refiner.load_state_dict(ckpt["refiner"])
        opt.load_state_dict(ckpt["opt"])
        common.set_rng_state(ckpt["rng"])
        step, last = ckpt["step"], ckpt.get("last", {})
        print(f"resumed from {ckpt_path} at step {step}", file=sys.stderr)

    progress = common.Progress(args.steps, start=step, every=10)
    t0 = time.time()
    figures: dict = {}
    loader = iter(
        torch.utils.data.DataLoader(
            PairBatches(train_items, args), batch_size=None, sampler=range(step, args.steps), num_workers=args.workers
        )
    )

    def checkpoint(step: int, last: dict) -> None:
        state = {"head": head.state_dict(), "opt": opt.state_dict(), "rng": common.rng_state()}
        if refiner is not None:
            state["refiner"] = refiner.state_dict()
        common.save_checkpoint(ckpt_path, **state, step=step, last=last, args=vars(args))

    while step < args.steps:
        if args.minutes and time.time() - t0 > 60 * args.minutes:
            print(f"stopping at step {step}: --minutes {args.minutes} reached", file=sys.stderr)
            checkpoint(step, last)
            break
        for g in opt.param_groups:
            g["lr"] = common.lr_at(step, g["base"], args.halve_every)
        batch = next(loader)
        lab_t, ab, stats = match_batch(vgg, head, batch, device)
        target = cells(lab_t[:, 1:])
        vis = batch["visible"].to(device)[:, None]
        w = vis + args.hidden_weight * (1 - vis)
        per_cell = F.huber_loss(ab / 110.0, target / 110.0, delta=HUBER_DELTA, reduction="none").sum(1, keepdim=True)
        loss_match = (w * per_cell).sum() / w.sum()
        conf = head.confidence(stats.detach())
        right = ((ab.detach() - target).abs().sum(1, keepdim=True) < cfg.tolerance).float()
        loss_conf = F.binary_cross_entropy(conf.clamp(1e-6, 1 - 1e-6), right)
        loss = loss_match + 0.1 * loss_conf
        last = {"loss_match": loss_match.item(), "loss_conf": loss_conf.item(), "tau": head.tau.item()}
        if refiner is not None:
            empty = torch.rand(len(lab_t)) < args.empty_share
            out = refine(refiner, lab_t, ab.detach(), conf.detach(), empty)
            loss_ref = F.huber_loss(out / 110.0, lab_t[:, 1:] / 110.0, delta=HUBER_DELTA)
            loss = loss + loss_ref
            last["loss_refine"] = loss_ref.item()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        record = {"step": step, **last}
        if step % args.val_every == 0 or step == args.steps:
            figures = validate(vgg, head, refiner, val_batches, device, cfg.tolerance)
            record.update({f"val_{k}": v for k, v in figures.items()})
        log.write(**record, elapsed=time.time() - t0)
        progress.update(step, **last, **{k: figures[k] for k in ("frozen", "learned", "refined") if k in figures})
        if step % args.ckpt_every == 0 or step == args.steps:
            checkpoint(step, last)
    progress.close()

    figures = validate(vgg, head, refiner, val_batches, device, cfg.tolerance)
    result = {"steps": step, **last, **{f"val_{k}": v for k, v in figures.items()}}
    print(f"validation: {figures}", file=sys.stderr)
    weights_dir = Path(args.weights_dir) if args.weights_dir else None
    shared = {f"val_psnr_{k}_db": v for k, v in figures.items() if k != "calib_err"}
    shared.update(val_pairs=len(val_batches) * args.batch, val_calibration_error=figures["calib_err"])
    if args.export:
        entry = common.manifest_entry(
            "matcher",
            "training/train_matcher.py",
            args,
            cfg,
            len(train_items),
            len(val_items),
            step,
            device,
            final_loss_match=last.get("loss_match"),
            tau=head.tau.item(),
            **shared,
        )
        weights.export_trained(args.export, head.state_dict(), entry, weights_dir)
    if refiner is not None and args.export_refiner:
        entry = common.manifest_entry(
            "refiner",
            "training/train_matcher.py",
            args,
            refiner_cfg,
            len(train_items),
            len(val_items),
            step,
            device,
            init=args.refiner_init,
            refine_lr=args.refine_lr,
            empty_share=args.empty_share,
            final_loss_refine=last.get("loss_refine"),
            **shared,
        )
        weights.export_trained(args.export_refiner, refiner.state_dict(), entry, weights_dir)
    return result


if __name__ == "__main__":
    main()
