"""Train the transfer sub-net's decoder (encoder = frozen VGG19) to reconstruct its input.

Loss (Xu et al. 2020, 4.1): 0.8 * pixel L2 + 0.2 * perceptual loss (VGG relu1_1..relu4_1 feature distance,
each level divided by the target feature's variance so no level dominates). Adam, lr halved every
``--halve-every`` steps. Resumable (``--resume``), seeded; exports fp16 safetensors + manifest entry at the end.

    python training/train_transfer.py --data ../shared/data/train/*.zip --steps 6000 --out runs/transfer
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
from vidcolor.color import caffe_preprocess  # noqa: E402
from vidcolor.config import TransferConfig  # noqa: E402
from vidcolor.models import TransferNet  # noqa: E402
from vidcolor.weights import export_trained, load_vgg_state, resolve_vgg  # noqa: E402

PERCEPTUAL_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", nargs="+", default=sorted(glob.glob("../shared/data/train/*.zip")))
    p.add_argument("--vgg", default=None, help="VGG19 .pth (else $VIDCOLOR_VGG or the cache)")
    p.add_argument("--out", default="runs/transfer", help="checkpoint + log folder")
    p.add_argument("--steps", type=int, default=6000)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--crop", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--halve-every", type=int, default=2000)
    p.add_argument("--pixel-weight", type=float, default=0.8)
    p.add_argument("--width", type=float, default=0.5, help="decoder width (1.0 mirrors VGG)")
    p.add_argument("--val-share", type=float, default=0.02)
    p.add_argument("--val-count", type=int, default=24)
    p.add_argument("--val-size", type=int, default=256, help="short side of validation images")
    p.add_argument("--val-every", type=int, default=250)
    p.add_argument("--ckpt-every", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0 = torch default)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/ckpt.pt")
    p.add_argument("--export", default="decoder", help="manifest name to export to ('' = no export)")
    p.add_argument("--weights-dir", default=None, help="export folder (default: the project's weights/)")
    return p.parse_args(argv)


def reconstruct(model: TransferNet, rgb: torch.Tensor) -> tuple[torch.Tensor, dict]:
    feats = model.encoder(caffe_preprocess(rgb))
    return model.decoder(*model.decoder_inputs(feats)), feats


def perceptual(model: TransferNet, out: torch.Tensor, feats_in: dict) -> torch.Tensor:
    feats_out = model.encoder(caffe_preprocess(out))
    losses = [F.mse_loss(feats_out[k], feats_in[k]) / (feats_in[k].var().detach() + 1e-6) for k in PERCEPTUAL_LAYERS]
    return torch.stack(losses).mean()


@torch.no_grad()
def validate(model: TransferNet, val: list[torch.Tensor], device: torch.device) -> float:
    model.eval()
    scores = [common.psnr(reconstruct(model, x.to(device))[0], x.to(device)) for x in val]
    model.train()
    return sum(scores) / len(scores)


def main(argv=None) -> dict:
    args = parse_args(argv)
    device, log, train_items, val = setup(args)
    out_dir = Path(args.out)
    cfg = TransferConfig(decoder_width=args.width)
    model = TransferNet(cfg)
    vgg_path = resolve_vgg(args.vgg)
    model.encoder.load_caffe_state_dict(load_vgg_state(vgg_path))
    model.to(device).train()
    opt = torch.optim.Adam(model.decoder.parameters(), lr=args.lr)

    step, last = 0, (float("nan"), float("nan"))
    ckpt_path = out_dir / "ckpt.pt"
    if args.resume and ckpt_path.is_file():
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=False)  # RNG states must stay on the CPU
        model.decoder.load_state_dict(ckpt["decoder"])
        opt.load_state_dict(ckpt["opt"])
        common.set_rng_state(ckpt["rng"])
        step = ckpt["step"]
        last = ckpt.get("pixel", float("nan")), ckpt.get("perceptual", float("nan"))
        print(f"resumed from {ckpt_path} at step {step}", file=sys.stderr)

    amp = (
        torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast("cpu", enabled=False)
    )
    batches = batch_loader(StepBatches(train_items, args.crop, args.batch, args.seed), step, args.steps, args.workers)
    progress = common.Progress(args.steps, start=step)
    t0 = time.time()
    val_psnr = float("nan")
    pix, perc = torch.tensor(last[0]), torch.tensor(last[1])
    for batch in batches:
        for group in opt.param_groups:
            group["lr"] = common.lr_at(step, args.lr, args.halve_every)
        rgb = batch.to(device, non_blocking=True).float() / 255.0  # (B, 3, crop, crop)
        with amp:
            out, feats = reconstruct(model, rgb)
            pix = F.mse_loss(out.float(), rgb)
            perc = perceptual(model, out, feats).float()
            loss = args.pixel_weight * pix + (1 - args.pixel_weight) * perc
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        record = {"step": step, "loss": loss.item(), "pixel": pix.item(), "perceptual": perc.item()}
        if step % args.val_every == 0 or step == args.steps:
            val_psnr = validate(model, val, device)
            record["val_psnr"] = val_psnr
        log.write(**record, lr=opt.param_groups[0]["lr"], elapsed=time.time() - t0)
        progress.update(step, loss=loss.item(), val_psnr=val_psnr)
        if step % args.ckpt_every == 0 or step == args.steps:
            state = {"decoder": model.decoder.state_dict(), "opt": opt.state_dict(), "rng": common.rng_state()}
            state.update(pixel=pix.item(), perceptual=perc.item())  # so an export right after resuming reports them
            common.save_checkpoint(ckpt_path, **state, step=step, config=cfg.to_dict(), args=vars(args))
    progress.close()

    result = {"steps": step, "val_psnr": validate(model, val, device), "pixel": pix.item(), "perceptual": perc.item()}
    if args.export:
        entry = common.manifest_entry(
            "decoder",
            "training/train_transfer.py",
            args,
            cfg,
            len(train_items),
            len(val),
            step,
            device,
            final_pixel_mse=result["pixel"],
            final_perceptual=result["perceptual"],
            val_psnr_db=result["val_psnr"],
            vgg="vgg19-imagenet-caffe-conv4_1 (Simonyan & Zisserman, Keras release, CC BY 4.0)",
        )
        weights_dir = Path(args.weights_dir) if args.weights_dir else None
        path = export_trained(args.export, model.decoder.state_dict(), entry, weights_dir)
        print(f"exported {path} (validation PSNR {result['val_psnr']:.2f} dB)", file=sys.stderr)
    return result


if __name__ == "__main__":
    main()
