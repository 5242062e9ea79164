"""Propagation memory of one shot: colours of frames already coloured, matched like the reference's.

As ColorMNet/XMem keep features of past frames, a shot's own output becomes extra reference cells: key = the
frame's matching key per cell, value = the OUTPUT ab of that cell. Content the reference never showed (the far
side of a turning car, a field the camera pans onto) is then coloured like its neighbours in time instead of
fading to a grey average. Bounded and safe:

- written every ``every``-th frame, only the cells whose confidence is at least ``min_confidence`` (a wrong
  colour is not propagated);
- at most ``max_frames`` frames held; when full, the least used frame (fewest cells that picked one of its cells
  as their best match since it was written, per frame held) is dropped: memory is constant in the film's length;
- a new ``MatchMemory`` per shot: the pipeline and eval make one at every cut and reference change.

Tensors stay on the predictor's device; nothing here depends on CPU vs CUDA.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch.nn import functional as F


@dataclass(frozen=True)
class MemoryConfig:
    every: int = 4
    max_frames: int = 4
    min_confidence: float = 0.5


@dataclass(eq=False)  # entries are compared by identity (remove)
class _Entry:
    keys: torch.Tensor  # (C, p)
    values: torch.Tensor  # (2, p)
    uses: float = 0.0
    age: int = 0


@dataclass
class MatchMemory:
    config: MemoryConfig = MemoryConfig()
    entries: list[_Entry] = field(default_factory=list)
    frames_seen: int = 0

    @property
    def cells(self) -> int:
        return sum(e.keys.shape[1] for e in self.entries)

    def reset(self) -> None:
        self.entries.clear()
        self.frames_seen = 0

    def extend(self, keys: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
        """The reference's keys (C, P) and values (2, P) with the memory's appended -> (keys, values, P): the
        reference's cells come first, so indices >= P are memory cells."""
        if not self.entries:
            return keys, values, keys.shape[1]
        k = torch.cat([keys, *(e.keys.to(keys.dtype) for e in self.entries)], dim=1)
        v = torch.cat([values, *(e.values.to(values.dtype) for e in self.entries)], dim=1)
        return k, v, keys.shape[1]

    def count_uses(self, best: torch.Tensor, ref_cells: int) -> None:
        """best (N, h*w): each target cell's best-match index into ``extend``'s cells -> usage per memory frame."""
        offset = ref_cells
        for e in self.entries:
            n = e.keys.shape[1]
            e.uses += float(((best >= offset) & (best < offset + n)).sum())
            offset += n

    def write(self, keys: torch.Tensor, ab: torch.Tensor, confidence: torch.Tensor) -> None:
        """One coloured frame: keys (C, h, w), its output ab per cell (2, h, w), confidence (1, h, w) in [0, 1].
        Kept when it is an ``every``-th frame of the shot: pooled 2 x 2 (a quarter of the cells, as XMem compresses
        its long-term memory), its confident cells only."""
        index = self.frames_seen
        self.frames_seen += 1
        if index % self.config.every:
            return
        keys = F.normalize(F.avg_pool2d(keys[None].float(), 2, ceil_mode=True)[0], dim=0)
        ab = F.avg_pool2d(ab[None].float(), 2, ceil_mode=True)[0]
        confidence = F.avg_pool2d(confidence[None].float(), 2, ceil_mode=True)[0]
        sel = confidence.flatten() >= self.config.min_confidence
        if not bool(sel.any()):
            return
        for e in self.entries:
            e.age += 1
        self.entries.append(_Entry(keys.flatten(1)[:, sel].detach(), ab.flatten(1)[:, sel].float().detach()))
        if len(self.entries) > self.config.max_frames:
            # least used per frame held (the newest entry has not been read yet: it is never the one dropped)
            candidates = self.entries[:-1]
            drop = min(candidates, key=lambda e: e.uses / max(e.age, 1))
            self.entries.remove(drop)
