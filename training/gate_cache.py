"""What the colour gate trains on: the frozen refiner's passes over stored frames, run once and cached.

Two kinds of pass, exactly as at inference (bf16 autocast where the CPU has it):

- ``auto``: the refiner with an empty match (the automatic colorizer) on one frame;
- ``match``: a target frame matched to a reference frame of the same sequence through the committed matcher head
  (keys from the stored trunk descriptors, the learned warp and calibration), the match upsampled edge-aware, then
  the refiner; a share of pairs pool an unrelated frame into the reference, as a wrong reference would.

Each cached item: the refiner's bottleneck (C, h, w), its output ab (2, H, W), the frame's L (1, H, W) and true ab,
fp16. A cache file is rebuilt when its stamp (refiner and matcher hashes, the store's fingerprint, the sampling
settings) changes; written under a temporary name and renamed.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from training.store import Store
from training.train_real import ref_cells, sample_gap
from vidcolor.color import denormalize_ab, normalize_ab, normalize_l
from vidcolor.models import ColorizerNet
from vidcolor.models.correspond import upsample_cells
from vidcolor.models.matcher import MatcherHead

FIELDS = ("bottleneck", "out", "l", "ab")


def stamp(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def refiner_pass(refiner: ColorizerNet, l: torch.Tensor, ab_match: torch.Tensor, conf: torch.Tensor, autocast):
    """As ``DenseRefiner``: L (N, 1, H, W), matched ab and confidence at that size -> (ab, bottleneck)."""
    with autocast():
        correction, bottleneck = refiner.forward_with_bottleneck(normalize_l(l), normalize_ab(ab_match), conf)
    return ab_match + denormalize_ab(correction.float()), bottleneck.float()


@torch.no_grad()
def auto_items(refiner, store: Store, frames: list[int], autocast) -> dict[str, np.ndarray]:
    parts = {k: [] for k in FIELDS}
    for start in range(0, len(frames), 8):
        idx = frames[start : start + 8]
        l = torch.from_numpy(np.array(store.l[idx], dtype=np.float32))
        empty = torch.zeros(l.shape[0], 2, *l.shape[-2:])
        out, bottleneck = refiner_pass(refiner, l, empty, empty[:, :1], autocast)
        _append(parts, bottleneck, out, l, torch.from_numpy(np.array(store.ab[idx], dtype=np.float32)))
    return _concat(parts)


@torch.no_grad()
def match_items(refiner, head: MatcherHead, target: Store, pairs: list[tuple], autocast, others=None) -> dict:
    """``pairs``: (target index, reference index, distractor (Store, index) or None); the reference is ``others`` at
    that index when given (photo pairs: the second view), else the target store's own frame."""
    parts = {k: [] for k in FIELDS}
    source = others or target
    for t, r, distractor in pairs:
        refs = [{k: v[None] for k, v in source.frame(r).items()}]
        if distractor is not None:
            refs.append({k: v[None] for k, v in distractor[0].frame(distractor[1]).items()})
        keys_r, values = ref_cells(head, refs)
        frame = {k: v[None] for k, v in target.frame(t).items()}
        ab_cells, stats = head.warp(head(frame["desc"]), keys_r, values)
        ab = upsample_cells(ab_cells, frame["l"])
        conf = F.interpolate(head.confidence(stats), size=frame["l"].shape[-2:], mode="bilinear", align_corners=False)
        out, bottleneck = refiner_pass(refiner, frame["l"], ab, conf, autocast)
        _append(parts, bottleneck, out, frame["l"], frame["ab"])
    return _concat(parts)


def video_pairs(stores: dict[str, Store], name: str, count: int, seed: int, gap_power: float, distractor: float):
    """``count`` (target, reference, distractor) triples of sequence ``name``: reference anywhere, target by
    ``sample_gap`` (long gaps favoured, both directions), a share with an unrelated sequence's frame pooled in."""
    rng = random.Random(stamp(seed, name))
    n, names = len(stores[name]), sorted(stores)
    pairs = []
    for _ in range(count):
        r = rng.randrange(n)
        other = None
        if rng.random() < distractor and len(names) > 1:
            o = rng.choice([m for m in names if m != name])
            other = (stores[o], rng.randrange(len(stores[o])))
        pairs.append((sample_gap(n, r, rng, gap_power), r, other))
    return pairs


def cached(path: Path, key: str, build) -> dict[str, torch.Tensor]:
    """The arrays at ``path`` if its stamp is ``key``, else ``build()``'s, written atomically."""
    meta = path.with_suffix(".json")
    if path.is_file() and meta.is_file() and json.loads(meta.read_text()).get("stamp") == key:
        arrays = dict(np.load(path))
    else:
        arrays = build()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".tmp-{path.name}")
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
        tmp.replace(path)
        meta.write_text(json.dumps({"stamp": key, "items": len(arrays["l"])}))
    return {k: torch.from_numpy(v) for k, v in arrays.items()}


def _append(parts, bottleneck, out, l, ab) -> None:
    for k, v in zip(FIELDS, (bottleneck, out, l, ab), strict=True):
        parts[k].append(v.float().half().numpy())


def _concat(parts) -> dict[str, np.ndarray]:
    return {k: np.concatenate(v) for k, v in parts.items()}
