"""Habits shared by the training scripts: seeding, JSONL log, atomic resumable checkpoints, progress, export."""

from __future__ import annotations

import json
import os
import platform
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return (
        f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} threads)"
    )


class JsonlLog:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path

    def write(self, **record) -> None:
        record["time"] = datetime.now(UTC).isoformat(timespec="seconds")
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")


def save_checkpoint(path: Path, **state) -> None:
    """Atomic: a crash while saving leaves the previous checkpoint intact."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{path.name}")
    torch.save(state, tmp)
    os.replace(tmp, path)


def add_store_run_args(p, val_every: int) -> None:
    """The options every flat trainer of the feature store shares: validation, checkpoints, time limit, seed,
    threads, resume and export (into a weights folder)."""
    p.add_argument("--val-every", type=int, default=val_every)
    p.add_argument("--val-stride", type=int, default=3, help="every n-th frame of a validation sequence is scored")
    p.add_argument("--ckpt-minutes", type=float, default=4.0)
    p.add_argument("--minutes", type=float, default=0, help="stop (checkpointed) after this wall-clock time")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--export", default="", metavar="DIR", help="write the weights into DIR (a weights folder)")
    p.add_argument("--export-only", action="store_true", help="export the checkpoint and stop")


def begin(args) -> None:
    """A store trainer's start: its ``--threads`` (0: torch's default) and ``--seed`` (add_store_run_args)."""
    if args.threads:
        torch.set_num_threads(args.threads)
    seed_everything(args.seed)


def resume(path: Path, modules: dict, opt) -> tuple[int, float]:
    """Load a checkpoint's modules (its keys -> the modules to fill) and optimiser state -> (step, elapsed seconds);
    (0, 0.0) where there is none."""
    if not path.is_file():
        return 0, 0.0
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    for key, module in modules.items():
        module.load_state_dict(ckpt[key])
    opt.load_state_dict(ckpt["opt"])
    print(f"resumed from {path} at step {ckpt['step']}", file=sys.stderr, flush=True)
    return ckpt["step"], ckpt.get("elapsed", 0.0)


def rng_state() -> dict:
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])


class Progress:
    """One status line on a terminal (steps, rate, ETA, latest figures); plain lines every ``every`` otherwise."""

    def __init__(self, total: int, start: int = 0, every: int = 50) -> None:
        self.total, self.start, self.every = total, start, every
        self.t0 = time.time()
        self.tty = sys.stderr.isatty()

    def update(self, step: int, **figures) -> None:
        done = step - self.start
        rate = done / max(1e-9, time.time() - self.t0)
        eta = (self.total - step) / max(rate, 1e-9)
        text = " ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in figures.items())
        line = f"step {step}/{self.total} {rate:.2f} it/s eta {eta / 60:.1f} min {text}"
        if self.tty:
            print("\r" + line, end="", file=sys.stderr, flush=True)
        elif step % self.every == 0 or step == self.total:
            print(line, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.tty:
            print(file=sys.stderr)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB of two RGB tensors in [0, 1], after 8-bit quantisation."""
    a8 = (a.clamp(0, 1) * 255).round()
    b8 = (b.clamp(0, 1) * 255).round()
    mse = ((a8 - b8) ** 2).mean().item()
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def lr_at(step: int, base_lr: float, halve_every: int) -> float:
    return base_lr * 0.5 ** (step // halve_every)


def provenance(device: torch.device, **extra) -> dict:
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "device": device_name(device),
        "torch": torch.__version__,
        **extra,
    }


def manifest_entry(
    kind: str, script: str, args, cfg, train_items: int, val_items: int, step: int, device: torch.device, **figures
) -> dict:
    """The manifest entry of an exported model: architecture, data, schedule, final figures, provenance."""
    return {
        "kind": kind,
        "config": cfg.to_dict(),
        "training": {
            "script": script,
            "data": [Path(d).name for d in args.data],
            "train_images": train_items,
            "val_images": val_items,
            "steps": step,
            "batch": args.batch,
            "crop": args.crop,
            "lr": args.lr,
            "halve_every": args.halve_every,
            **figures,
        },
        "provenance": provenance(device, seed=args.seed),
    }
