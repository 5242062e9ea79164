"""A stretch of a shot coloured from both of its keyframes: forward from the earlier, back from the later, blended.

Between keyframes at frames a < b (a coloured view of each), frame t (a <= t < b) has two colourings at working
size: ``forward`` (the shot's propagation started from keyframe a, as a forward-only run colours it) and ``back``
(the same propagation run backwards in time, started from keyframe b: the reference is taken as the frame after
b - 1, its colours carried back along the motion and anchored where a pixel followed forward to b still matches
it). Each comes with its anchor trust per pixel (tracks.py: how well the pixel still looks like where it came from
in its keyframe). They are blended per pixel:

    w_f = d_f * (floor + trust_f),   w_b = d_b * (floor + trust_b),   out = (w_f * forward + w_b * back) / (w_f + w_b)

with d_f = (b - t) / (b - a) and d_b = (t - a) / (b - a): next to a keyframe its own side wins (frame a is its
forward colouring, frame b - 1 mostly the back one, so nothing jumps into b), between them the side that is trusted
there. Before a shot's first keyframe (no a) the distances are 1: the back colouring wherever it is trusted.

The back pass starts from the forward colouring (the frame's "own" colours where nothing can be carried back), so
where the motion back from b cannot be followed both sides agree and the blend changes nothing. Memory: the
forward colouring, its trust and the gray of every frame of the stretch at working size (about 0.8 MB a frame at
256 x 455), bounded by the plan's ``max_span``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from vidcolor.chain.propagation import Propagation, Seed
from vidcolor.config import PropagationConfig

FLOOR = 0.05  # a side's weight where its anchor trust is 0 (its carried colour still counts a little)


def side_weights(t: int, a: int | None, b: int) -> tuple[float, float]:
    """Frame ``t`` of a stretch between keyframes at ``a`` (None: no earlier keyframe) and ``b`` -> the distance
    weights (d_f, d_b) in [0, 1] of the forward and the back colouring."""
    if a is None:
        return 1.0, 1.0
    span = max(1, b - a)
    return (b - t) / span, (t - a) / span


def blend(
    forward: torch.Tensor, trust_f: torch.Tensor, back: torch.Tensor, trust_b: torch.Tensor, d_f: float, d_b: float
) -> torch.Tensor:
    """ab (N, 2, h, w) of both sides, their trusts (N, 1, h, w) in [0, 1] and the distance weights -> blended ab
    (N, 2, h, w). A side with distance weight 0 does not count at all."""
    w_f = d_f * (FLOOR + trust_f.float())
    w_b = d_b * (FLOOR + trust_b.float())
    # one lerp, not products broadcast over the channels: those ran 10-100x slower on the CPU when its cores were
    # shared (0.05 against 1-8 ms a 256 x 456 frame on the 2-core machine)
    return torch.lerp(forward.float(), back.float(), w_b / (w_f + w_b).clamp_min(1e-6))


class Stretch:
    """The forward colouring of a stretch's frames, frame by frame in display order (``add``), then blended with
    the back colouring from its later keyframe (``close``). ``first``: the stretch's first frame; ``a``: its
    earlier keyframe (``first`` or None); ``b``: the later keyframe (one past the stretch's last frame)."""

    def __init__(self, first: int, a: int | None, b: int) -> None:
        self.first, self.a, self.b = first, a, b
        self.ab: list[torch.Tensor] = []  # (2, h, w) float16 per frame (the blend replaces it)
        self.trust: list[torch.Tensor] = []  # (1, h, w) float16 per frame
        self.grays: list[np.ndarray] = []  # (h, w) uint8 per frame

    def __len__(self) -> int:
        return len(self.ab)

    @property
    def nbytes(self) -> int:
        """What the stretch holds: 7 bytes a pixel of the working size a frame (ab and trust fp16, gray uint8)."""
        return sum(x.numel() * x.element_size() for x in (*self.ab, *self.trust)) + sum(g.nbytes for g in self.grays)

    def add(self, ab: torch.Tensor, trust: torch.Tensor, grays: Sequence[np.ndarray]) -> None:
        """A batch's forward colouring (N, 2, h, w), its trust (N, 1, h, w) and grays, the next N frames."""
        self.ab += list(ab.half())
        self.trust += list(trust.half())
        self.grays += list(grays)

    def close(self, seeds: Sequence[Seed], config: PropagationConfig, batch: int = 4, threads: int = 1) -> int:
        """Run the back pass from ``seeds`` (the later keyframe at working size) over the held frames, last to
        first, and blend each frame's two colourings in place. Returns the frames the back colouring reached
        (0 when no seed is a view of the last frame: then nothing changes)."""
        back = Propagation(config, threads=threads)
        try:
            return self._back(back, seeds, batch)
        finally:
            back.close()

    def _back(self, back: Propagation, seeds: Sequence[Seed], batch: int) -> int:
        stop = self.first if self.a is None else self.first + 1  # the earlier keyframe keeps its forward colours
        order = list(range(len(self) - 1, stop - self.first - 1, -1))
        for k in range(0, len(order), batch):
            part = order[k : k + batch]
            plan = back.plan([self.grays[i] for i in part], seeds, [k == 0] + [False] * (len(part) - 1))
            if not back.seeded:  # no seed is a view of the last frame: nothing to carry back
                return 0
            carried = back.apply(torch.stack([self.ab[i] for i in part]).float(), plan)
            for j, i in enumerate(part):
                d_f, d_b = side_weights(self.first + i, self.a, self.b)
                fwd, trust = self.ab[i][None], self.trust[i][None]
                self.ab[i] = blend(fwd, trust, carried[j : j + 1], back.trust[j : j + 1], d_f, d_b)[0].half()
        return len(order)
