"""Train the colour gate (models/gate.py) of the automatic colours on real frames (issue 26: "know when not to
colour").

The committed refiner with an empty match is the automatic colorizer; it is frozen here. For every stored frame
(training/build_store.py's store: L and ab at working size) the refiner runs ONCE, as at inference (bf16 autocast
where the CPU has it), and its bottleneck features and automatic ab are cached (fp16, ``<out>/cache``, rebuilt when
the refiner's weights, the store or the frame stride change). The gate then trains from the cache alone: the loss is
the squared ab error of gain x automatic ab against the truth, so the gain it learns is the least-squares scale of
the colour given what the refiner saw (0 = gray where the colour is likely wrong).

Data: the davis-train sequences minus the validation split (``train_real.VAL_SEQUENCES``, never trained on: it
picks nothing but is reported), every ``--every``-th frame, and the stored photo targets. Checkpoints (resumable,
``--resume``) and a JSON-lines log in ``--out``; ``--export DIR`` writes ``gate.safetensors`` and its manifest entry.

    python training/train_gate.py --store runs/store --out runs/gate --steps 3000
    python training/train_gate.py --store runs/store --out runs/gate --export-only --export weights
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from training import common, gate_cache  # noqa: E402
from training.store import Store  # noqa: E402
from training.train_real import LICENCE, VAL_SEQUENCES, open_stores, rgb  # noqa: E402
from vidcolor import weights  # noqa: E402
from vidcolor.chain.precision import cpu_has_native_bf16  # noqa: E402
from vidcolor.config import ColorizerConfig, GateConfig, MatcherConfig  # noqa: E402
from vidcolor.models import ColorizerNet  # noqa: E402
from vidcolor.models.gate import ColourGate  # noqa: E402
from vidcolor.models.matcher import MatcherHead  # noqa: E402

REFINER = "refiner-small"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--store", default="runs/store")
    p.add_argument("--out", default="runs/gate")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--max-gain", type=float, default=1.5)
    p.add_argument("--every", type=int, default=2, help="every N-th frame of a training sequence")
    p.add_argument(
        "--pairs-from",
        choices=("random", "ends"),
        default="random",
        help="matched pairs: random (reference anywhere, --pairs per sequence) or ends (the first and the "
        "last frame each colour every --every-th other frame)",
    )
    p.add_argument("--pairs", type=int, default=40, help="matched pairs per training sequence")
    p.add_argument("--gap-power", type=float, default=0.5)
    p.add_argument("--distractor-share", type=float, default=0.2)
    p.add_argument(
        "--photos",
        action="store_true",
        help="also the stored photos (the refiner trained on them, so "
        "its colours there are better than on frames it never saw)",
    )
    p.add_argument("--auto-share", type=float, default=0.5, help="steps on automatic passes (the rest: matched)")
    p.add_argument("--val-every", type=int, default=250)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--export", default=None, help="weights folder to write gate.safetensors + manifest entry into")
    p.add_argument("--export-only", action="store_true")
    return p.parse_args(argv)


def load_nets() -> tuple[ColorizerNet, MatcherHead, str]:
    """The committed refiner and matcher head (frozen) and a stamp of their weights."""
    state, entry = weights.load_trained(REFINER)
    refiner = ColorizerNet(ColorizerConfig.from_dict(entry["config"]))
    refiner.load_state_dict(state)
    head_state, head_entry = weights.load_trained("matcher")
    head = MatcherHead(MatcherConfig.from_dict(head_entry["config"]))
    head.load_state_dict(head_state)
    return refiner.eval(), head.eval(), entry["sha256"] + head_entry["sha256"]


def build_cache(args, refiner, head, sha: str, autocast) -> tuple[dict[str, dict], dict[str, dict]]:
    """-> training groups (auto / match x videos / photos) and validation groups (auto and match per sequence),
    each a dict of tensors (``gate_cache.FIELDS``)."""
    train, val, photos = open_stores(Path(args.store))
    cache = Path(args.out) / "cache"

    def load(name: str, store: Store, build, *settings) -> dict:
        t = time.time()
        items = gate_cache.cached(cache / f"{name}.npz", gate_cache.stamp(sha, store.meta, *settings), build)
        print(f"{name}: {len(items['l'])} items ({time.time() - t:.0f} s)", flush=True)
        return items

    def auto(store: Store, every: int):
        return lambda: gate_cache.auto_items(refiner, store, list(range(0, len(store), every)), autocast)

    def match(store: Store, pairs, others=None):
        return lambda: gate_cache.match_items(refiner, head, store, pairs, autocast, others)

    groups: dict[str, list[dict]] = {"auto-video": [], "match-video": []}
    for name, store in train.items():
        groups["auto-video"].append(load(f"auto-{name}", store, auto(store, args.every), args.every))
        if args.pairs_from == "ends":  # as `run` meets them: the first (or last) frame colours every other
            n = len(store)
            pairs = [(t, 0, None) for t in range(1, n, args.every)] + [
                (t, n - 1, None) for t in range(0, n - 1, args.every)
            ]
            settings = ("ends", args.every)
        else:
            pairs = gate_cache.video_pairs(train, name, args.pairs, args.seed, args.gap_power, args.distractor_share)
            settings = (args.pairs, args.seed, args.gap_power, args.distractor_share)
        groups["match-video"].append(load(f"match-{name}", store, match(store, pairs), *settings))
    joined = {k: {f: torch.cat([v[f] for v in parts]) for f in gate_cache.FIELDS} for k, parts in groups.items()}
    if photos is not None and args.photos:
        joined["auto-photo"] = load("auto-photos", photos[0], auto(photos[0], 1), 1)
        pairs = [(i, i, None) for i in range(0, len(photos[0]), 2)]
        joined["match-photo"] = load("match-photos", photos[0], match(photos[0], pairs, photos[1]), 2)
    checks = {}
    for name, store in val.items():
        checks[f"auto {name}"] = load(f"val-auto-{name}", store, auto(store, 1), 1)
        pairs = [(t, 0, None) for t in range(1, len(store))]
        checks[f"match {name}"] = load(f"val-match-{name}", store, match(store, pairs), "frame 0")
    return joined, checks


def gated_error(gate: ColourGate, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """-> (mean squared ab error of the gated colour, the gated ab (N, 2, H, W))."""
    out, l, truth = batch["out"].float(), batch["l"].float(), batch["ab"].float()
    ab = gate(batch["bottleneck"].float(), l, out) * out
    return ((ab - truth) ** 2).mean(), ab


def rgb_psnr(l: torch.Tensor, ab: torch.Tensor, truth: torch.Tensor) -> list[float]:
    """Per-frame PSNR (8-bit RGB) of L + ab against L + truth."""
    out, gt = rgb(l, ab), rgb(l, truth)
    return [common.psnr(a, b) for a, b in zip(out, gt, strict=True)]


@torch.no_grad()
def validate(gate: ColourGate, checks: dict[str, dict]) -> dict:
    """Per validation group ("auto car-turn", "match car-turn", ...) and mean per kind: RGB PSNR at working size
    of gray, the refiner's colours and the gated ones, and the gated chroma's share of the refiner's."""
    rows = {}
    for name, items in checks.items():
        row = {"gray": [], "refiner": [], "gated": [], "chroma": []}
        for start in range(0, len(items["l"]), 16):
            batch = {k: v[start : start + 16] for k, v in items.items()}
            l, out, truth = batch["l"].float(), batch["out"].float(), batch["ab"].float()
            _, gated = gated_error(gate, batch)
            row["gray"] += rgb_psnr(l, torch.zeros_like(out), truth)
            row["refiner"] += rgb_psnr(l, out, truth)
            row["gated"] += rgb_psnr(l, gated, truth)
            row["chroma"] += [float(gated.norm(dim=1).mean() / out.norm(dim=1).mean().clamp_min(1e-6))] * len(l)
        rows[name] = {k: float(np.mean(v)) for k, v in row.items()}
    for kind in ("auto", "match"):
        mine = [r for n, r in rows.items() if n.startswith(kind + " ")]
        rows[f"{kind} mean"] = {k: float(np.mean([r[k] for r in mine])) for k in mine[0]}
    return rows


def main(argv=None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    common.seed_everything(args.seed)
    bf16 = cpu_has_native_bf16()
    autocast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if bf16 else contextlib.nullcontext
    refiner, head, sha = load_nets()
    if bf16:
        refiner = refiner.to(memory_format=torch.channels_last)
    out = Path(args.out)
    groups, val = build_cache(args, refiner, head, sha, autocast)
    names = sorted(groups)
    shares = [args.auto_share if n.startswith("auto") else 1 - args.auto_share for n in names]
    shares = [s * len(groups[n]["l"]) / sum(len(groups[m]["l"]) for m in names if m[:4] == n[:4])
              for s, n in zip(shares, names, strict=True)]  # fmt: skip
    cfg = GateConfig(features=8 * refiner.cfg.width, hidden=args.hidden, max_gain=args.max_gain)
    gate = ColourGate(cfg)
    opt = torch.optim.Adam(gate.parameters(), lr=args.lr)
    log, ckpt, step, elapsed = common.JsonlLog(out / "log.jsonl"), out / "ckpt.pt", 0, 0.0
    if (args.resume or args.export_only) and ckpt.is_file():
        state = torch.load(ckpt, map_location="cpu", weights_only=False)
        gate.load_state_dict(state["gate"])
        opt.load_state_dict(state["opt"])
        step, elapsed = state["step"], state["elapsed"]
        common.set_rng_state(state["rng"])
    rng = random.Random(args.seed + step)
    sizes = {n: len(groups[n]["l"]) for n in names}
    figures = validate(gate, val) if step == 0 and not args.export_only else {}
    if figures:
        log.write(step=0, val=figures)
        print("step 0", json.dumps({k: figures[k] for k in ("auto mean", "match mean")}), flush=True)
    start, last_save = time.time() - elapsed, time.time()
    while step < args.steps and not args.export_only:
        group = groups[rng.choices(names, weights=shares)[0]]
        idx = torch.tensor(rng.sample(range(len(group["l"])), args.batch))
        for g in opt.param_groups:
            g["lr"] = args.lr * 0.5 * (1 + np.cos(np.pi * step / args.steps))
        loss, _ = gated_error(gate, {k: v[idx] for k, v in group.items()})
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        record = {"step": step, "loss": float(loss.detach()), "elapsed": round(time.time() - start, 1)}
        if step % args.val_every == 0 or step == args.steps:
            figures = validate(gate, val)
            record["val"] = figures
            means = {k: figures[k] for k in ("auto mean", "match mean")}
            print(f"step {step} loss {float(loss):.2f}", json.dumps(means), flush=True)
        if step % 50 == 0 or "val" in record:
            log.write(**record)
        if time.time() - last_save > 120 or step == args.steps:
            common.save_checkpoint(ckpt, gate=gate.state_dict(), opt=opt.state_dict(), step=step,
                                   elapsed=time.time() - start, rng=common.rng_state())  # fmt: skip
            last_save = time.time()
    if args.export:
        figures = figures or validate(gate, val)
        export(Path(args.export), gate, cfg, step, time.time() - start, args, figures, sizes)
    return figures


def export(directory: Path, gate, cfg, step, elapsed, args, figures, sizes) -> None:
    training = {
        "script": "training/train_gate.py",
        "data": [f"davis-train (22 DAVIS-2016 train sequences minus the validation split), every {args.every}th "
                 "frame", "bsds500-256px.zip + imagenet-sample-256px.zip (the store's photo targets)"],
        "licence": LICENCE,
        "frames": sizes,
        "validation_sequences": list(VAL_SEQUENCES),
        "refiner": REFINER + " (frozen; its automatic pass cached once per frame)",
        "steps": step, "batch": args.batch, "lr": args.lr, "schedule": "cosine",
        "minutes": round(elapsed / 60, 1),
        "pairs_per_sequence": args.pairs, "gap_power": args.gap_power, "distractor_share": args.distractor_share,
        "auto_share": args.auto_share,
        "val_rgb_psnr_at_256": {k: figures.get(k) for k in ("auto mean", "match mean")},
    }  # fmt: skip
    entry = {"kind": "gate", "config": cfg.to_dict(), "training": training,
             "provenance": common.provenance(torch.device("cpu"), seed=args.seed)}  # fmt: skip
    print("exported", weights.export_trained("gate", gate.state_dict(), entry, directory))


if __name__ == "__main__":
    main()
