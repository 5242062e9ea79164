"""Held stretches of `vidcolor run`: the frames before a keyframe, coloured from both sides (chain/keyframes.py).

A segment of the plan that a keyframe of the same shot follows is "held": its frames are collected as they are
decoded (each luma plane spooled to a temporary file beside the output: memory stays at the working size), then

1. forward, in batches: the network with the stretch's references (its own and the keyframe's, cells pooled) and
   the shot's propagation from the segment's first frame; the working-size colours, their trust and grays are held;
2. back, from the later keyframe, last frame to first, blended in place;
3. each frame's chroma planes from its full-size luma (read back from the spool) and its blended colours.

Whether the stretch is coloured from both sides is decided from the frames themselves: the later keyframe must be a
view of the stretch's last frame (the seed's trust, as a shot starts from its reference). A keyframe that starts
another scene fails that test: the segment is then coloured forward only, as an unheld one. Since a held stretch is
always coloured from its first frame, whatever a run's first frame is, a resumed run, a ``--start`` segment and a
Ray shard colour its frames as one run does (they decode from the stretch's start: ``ReferencePlan.lead``).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from vidcolor.chain.keyframes import Stretch
from vidcolor.chain.reference import Reference
from vidcolor.stream.chroma_stage import ChromaStage, upload

# The back pass's optical flows: nothing else computes then (the networks wait for it), so on the 2-core CPU both
# cores (on a many-core CUDA host, as many as the chroma stage's plan takes).
BACK_FLOW_THREADS = min(4, os.cpu_count() or 1)


class LumaSpool:
    """Luma planes in an unnamed temporary file (gone when closed, or when the process dies): written once as they
    are decoded, read back for the forward pass and again for the chroma."""

    def __init__(self, directory: Path | None = None) -> None:
        self.file = tempfile.TemporaryFile(prefix=".vidcolor-spool-", dir=directory)
        self.slots: list[tuple[int, tuple[int, ...], np.dtype]] = []

    def add(self, plane: np.ndarray) -> int:
        """Append a plane; returns its slot."""
        self.slots.append((self.file.seek(0, 2), plane.shape, plane.dtype))
        self.file.write(np.ascontiguousarray(plane).tobytes())
        return len(self.slots) - 1

    def read(self, slot: int) -> np.ndarray:
        offset, shape, dtype = self.slots[slot]
        buf = bytearray(int(np.prod(shape)) * np.dtype(dtype).itemsize)
        self.file.seek(offset)
        self.file.readinto(buf)
        return np.frombuffer(buf, dtype).reshape(shape)

    def clear(self) -> None:
        self.file.seek(0)
        self.file.truncate()
        self.slots.clear()

    def close(self) -> None:
        self.file.close()


class HeldSegment:
    """The frames of one held segment as they come: (index, pts, spool slot, shot, first gray, restart)."""

    def __init__(self, shot: int, spool: LumaSpool) -> None:
        self.shot, self.spool = shot, spool
        self.items: list[tuple] = []

    def add(self, item: tuple, restart: bool) -> None:
        index, pts, luma, shot, first_gray = item[:5]
        self.items.append((index, pts, self.spool.add(luma), shot, first_gray, restart))

    def luma(self, item: tuple) -> np.ndarray:
        return self.spool.read(item[2])


def colour_held(
    chroma: ChromaStage,
    held: HeldSegment,
    refs: tuple[Reference | None, Reference],
    hint_seed: int,
    keyframes: tuple[int | None, int],
    batch: int,
    emits: Callable[[int], bool],
    put: Callable[[tuple], bool],
    alive: Callable[[], bool] = lambda: True,
) -> bool | None:
    """Colour a held segment from both sides and hand on the frames ``emits`` says are this run's, as (index, pts,
    luma, chroma, shot). ``refs``: the segment's own reference (None: automatic) and the later keyframe's;
    ``keyframes``: (the earlier keyframe's frame or None, the later one's). Returns None, having handed on
    nothing, when the later keyframe is not a view of the segment's last frame (colour it forward only); else
    whether every frame was handed on (False as soon as ``alive()`` is False: the run was stopped)."""
    own, key = refs
    last_gray = chroma.gray(held.luma(held.items[-1]))
    prop = chroma.propagation
    if not prop.starts_from(last_gray, key.seeds):
        return None
    both = Reference.combine([own, key]) if own is not None else key
    stretch = Stretch(held.items[0][0], *keyframes)
    forward_seeds = tuple(own.seeds) if own is not None else ()
    for k in range(0, len(held.items), batch):
        if not alive():  # a stopped run does not colour the rest of the stretch first
            return False
        part = held.items[k : k + batch]
        lumas = [held.luma(item) for item in part]
        grays = prop.map(chroma.gray, lumas)
        plan = prop.plan(grays, forward_seeds, [k == 0] + [False] * (len(part) - 1))
        ab = chroma.small_ab(upload(lumas, chroma.predictor.device), both, hint_seed, plan)
        stretch.add(ab, prop.trust, grays)
    if not alive():
        return False
    stretch.close(key.seeds, prop.config, batch, BACK_FLOW_THREADS)
    for k in range(0, len(held.items), batch):
        part = [(i, item) for i, item in enumerate(held.items[k : k + batch], k) if emits(item[0])]
        if not part:
            continue
        lumas = [held.luma(item) for _, item in part]
        ab = torch.stack([stretch.ab[i] for i, _ in part]).float()
        codes = chroma.planes(upload(lumas, chroma.predictor.device), ab)
        out = codes.cpu().numpy()
        out = out.view(np.uint16) if out.dtype == np.int16 else out
        for (_, item), luma, c in zip(part, lumas, out, strict=True):
            if not put((item[0], item[1], luma, c, item[3])):
                return False
    return True
