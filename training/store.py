"""A store of what stays fixed about a training frame: the frozen VGG trunk's descriptors, its L and its ab.

The VGG19 trunk is frozen, so the matcher head, its calibration and the refiner can train from stored descriptors
instead of running the trunk twice per pair and step (issue 26: the trunk is most of a step's time on a CPU).

Layout (one folder per source, in an ignored folder such as ``runs/store``)::

    <name>/meta.json    what was stored and from what: the fingerprint below, the frame count, the shapes
    <name>/desc.npy     (N, 768, h, w) float16  unit descriptors of the GRAY frame (``correspond.descriptors``)
    <name>/l.npy        (N, 1, H, W) float16    L in 0..100 at working size (H = 8h, W = 8w)
    <name>/ab.npy       (N, 2, H, W) float16    ab in Lab units at working size
    <name>/fine.npy     (N, 256, 2h, 2w) float16 the frozen sub-cell descriptors (``placement.fine_descriptors`` of
                        relu3_1 at stride 4), for stores built with ``fine`` (videos: the learned placement trains
                        from them)

Videos are stored frame by frame at the working size ``run`` would use (``working_shape``: short side ``size``,
multiples of 8), frames resized as the predictor resizes them. Photo pairs (two views of one photo,
training/pairs.py, one kept augmentation per photo) are stored as two sources, ``<name>-target`` and
``<name>-reference`` with the same frame index, plus ``visible.npy`` (N, h, w) in the target's folder.

The fingerprint (VGG weights' tensor hash, size, source file size and modification time, the store's version, the
precision the trunk ran at, whether it holds the sub-cell descriptors) is checked on open: a store made from other
weights or settings is rebuilt, never silently reused. Files are written under a temporary name and renamed, so an
interrupted build leaves no store that looks complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from vidcolor.color import caffe_preprocess, l_to_gray_rgb, rgb_to_lab
from vidcolor.models.correspond import descriptors
from vidcolor.models.placement import FINE_LAYER, fine_descriptors
from vidcolor.models.vgg import VGGEncoder

VERSION = 1


@dataclass(frozen=True)
class Fingerprint:
    vgg: str  # hash of the trunk's tensors
    size: int  # short side of the working size
    source: str  # "<file size>:<mtime ns>" of each source file, joined
    precision: str  # "bf16" or "fp32": the trunk's autocast while storing
    version: int = VERSION
    fine: bool = False  # the sub-cell descriptors too (fine.npy)

    def record(self) -> dict:
        """What meta.json keeps: the fields, less those still at a default added after version 1 (so stores made
        before them stay current)."""
        return {k: v for k, v in asdict(self).items() if k != "fine" or v}


def vgg_hash(vgg: VGGEncoder) -> str:
    """sha256 over the trunk's float32 tensors in name order (the same for the same weights on any device)."""
    h = hashlib.sha256()
    for name, t in sorted(vgg.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def file_stamp(*paths: str | os.PathLike) -> str:
    return "|".join(f"{Path(p).stat().st_size}:{Path(p).stat().st_mtime_ns}" for p in paths)


class Store:
    """One stored source, memory-mapped: ``desc``, ``l``, ``ab`` (and ``visible`` for photo-pair targets)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.meta = json.loads((self.folder / "meta.json").read_text())
        self.desc = np.load(self.folder / "desc.npy", mmap_mode="r")
        self.l = np.load(self.folder / "l.npy", mmap_mode="r")
        self.ab = np.load(self.folder / "ab.npy", mmap_mode="r")
        vis, fine = self.folder / "visible.npy", self.folder / "fine.npy"
        self.visible = np.load(vis, mmap_mode="r") if vis.is_file() else None
        self.fine = np.load(fine, mmap_mode="r") if fine.is_file() else None

    def __len__(self) -> int:
        return len(self.desc)

    def frame(self, i: int, fine: bool = False) -> dict[str, torch.Tensor]:
        """Frame ``i`` as float32 tensors: desc (768, h, w), l (1, H, W), ab (2, H, W); with ``fine`` also its sub-cell
        descriptors (256, 2h, 2w) (only the placement's training reads them: 3.7 MB a frame at size 256)."""
        arrays = {"desc": self.desc, "l": self.l, "ab": self.ab}
        if fine:
            if self.fine is None:
                raise ValueError(f"{self.folder}: no sub-cell descriptors stored (rebuild: training/build_store.py)")
            arrays["fine"] = self.fine
        return {k: torch.from_numpy(np.array(a[i], dtype=np.float32)) for k, a in arrays.items()}


def is_current(folder: Path, fingerprint: Fingerprint) -> bool:
    meta = Path(folder) / "meta.json"
    if not meta.is_file():
        return False
    try:
        return json.loads(meta.read_text()).get("fingerprint") == fingerprint.record()
    except (OSError, ValueError):
        return False


@torch.no_grad()
def gray_descriptors(vgg: VGGEncoder, l: torch.Tensor, bf16: bool, fine: bool = False):
    """(B, 1, H, W) L 0..100 -> (B, 768, H/8, W/8) frozen unit descriptors of the gray image (float32); with
    ``fine`` also its sub-cell descriptors (B, 256, H/4, W/4) (as the chain's ``Matcher`` makes them)."""
    x = caffe_preprocess(l_to_gray_rgb(l)).contiguous(memory_format=torch.channels_last)
    with torch.autocast(l.device.type, dtype=torch.bfloat16, enabled=bf16):
        feats = vgg(x)
    desc = descriptors(feats)
    if not fine:
        return desc
    return desc, fine_descriptors(feats[FINE_LAYER], desc.shape[-2:]).contiguous()


def resize_rgb(rgb: np.ndarray, shape: tuple[int, int]) -> torch.Tensor:
    """(H, W, 3) uint8 -> (1, 3, h, w) float RGB in [0, 1], resized as the predictor resizes (antialiased)."""
    t = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float() / 255.0
    return F.interpolate(t, size=shape, mode="bilinear", align_corners=False, antialias=True).clamp(0, 1)


def _write(folder: Path, arrays: dict[str, np.ndarray], meta: dict) -> None:
    """All arrays and meta.json into ``folder`` atomically (a temporary folder renamed at the end)."""
    tmp = folder.with_name(f".tmp-{folder.name}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name, a in arrays.items():
        np.save(tmp / f"{name}.npy", a)
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)


def store_frames(
    folder: Path,
    frames,
    shape: tuple[int, int],
    vgg: VGGEncoder,
    fingerprint: Fingerprint,
    batch: int = 8,
    source: str = "",
) -> Store:
    """RGB uint8 frames (an iterable of (H, W, 3)) -> a store in ``folder`` at working shape ``shape``; ``source``
    (the file they came from) is recorded in meta.json."""
    bf16 = fingerprint.precision == "bf16"
    device = next(vgg.parameters()).device
    descs, ls, abs_, fines = [], [], [], []
    pending: list[torch.Tensor] = []

    def flush() -> None:
        lab = rgb_to_lab(torch.cat(pending).to(device))
        desc = gray_descriptors(vgg, lab[:, :1], bf16, fine=fingerprint.fine)
        if fingerprint.fine:
            desc, fine = desc
            fines.append(fine.half().cpu().numpy())
        descs.append(desc.half().cpu().numpy())
        ls.append(lab[:, :1].half().cpu().numpy())
        abs_.append(lab[:, 1:].half().cpu().numpy())
        pending.clear()

    for rgb in frames:
        pending.append(resize_rgb(rgb, shape))
        if len(pending) == batch:
            flush()
    if pending:
        flush()
    if not descs:
        raise ValueError(f"{folder.name}: no frames to store")
    arrays = {"desc": np.concatenate(descs), "l": np.concatenate(ls), "ab": np.concatenate(abs_)}
    if fines:
        arrays["fine"] = np.concatenate(fines)
    meta = {"fingerprint": fingerprint.record(), "frames": len(arrays["desc"]), "shape": list(shape), "source": source}
    _write(folder, arrays, meta)
    return Store(folder)


def store_pairs(folder: Path, pairs, vgg: VGGEncoder, fingerprint: Fingerprint, batch: int = 8) -> tuple[Store, Store]:
    """Photo pairs (``training.pairs.Pair``: target, reference (3, S, S) RGB, visible (S/8, S/8)) -> two stores,
    ``<folder>-target`` (with ``visible``) and ``<folder>-reference``, frame i of each being pair i."""
    bf16 = fingerprint.precision == "bf16"
    device = next(vgg.parameters()).device
    sides: dict[str, dict[str, list]] = {s: {"desc": [], "l": [], "ab": []} for s in ("target", "reference")}
    visible: list[np.ndarray] = []
    pending: list = []

    def flush() -> None:
        for side in sides:
            lab = rgb_to_lab(torch.stack([getattr(p, side) for p in pending]).to(device))
            sides[side]["desc"].append(gray_descriptors(vgg, lab[:, :1], bf16).half().cpu().numpy())
            sides[side]["l"].append(lab[:, :1].half().cpu().numpy())
            sides[side]["ab"].append(lab[:, 1:].half().cpu().numpy())
        visible.extend(p.visible.numpy().astype(np.uint8) for p in pending)
        pending.clear()

    for pair in pairs:
        pending.append(pair)
        if len(pending) == batch:
            flush()
    if pending:
        flush()
    out = []
    for side, parts in sides.items():
        arrays = {k: np.concatenate(v) for k, v in parts.items()}
        if side == "target":
            arrays["visible"] = np.stack(visible)
        sub = folder.with_name(f"{folder.name}-{side}")
        _write(sub, arrays, {"fingerprint": fingerprint.record(), "frames": len(visible), "pairs": True})
        out.append(Store(sub))
    return out[0], out[1]
