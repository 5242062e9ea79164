"""Colour carried along the motion through a shot: the frame's own colours where nothing can be carried.

Per frame t of a shot, at working size (ab in Lab units, (2, h, w)):

    out_t = (1 - a) * own_t + a * warp(out_{t-1}),    a = strength * trust   (motion.py)

so what the shot has shown keeps its colour as the camera moves and objects turn (the reference's colours are not
re-guessed from a weaker match in every frame), flicker drops, and where the motion cannot be trusted (occlusions,
new content, cuts in the flow) the frame's own colours take over. The warp is bicubic (bilinear softened colour
edges frame after frame). The state is one frame: memory does not grow with the shot.

A shot starts from its reference when the reference is a view of its first frame (a colourised frame of the shot:
the usual way to colour a film from keyframes): the reference is then taken as the frame before the first, and its
own colours, not the match's, are carried in. Any other reference (mean trust under ``seed_trust``) changes
nothing here. In a shot so started, every pixel is also followed back to the reference (the flows composed) and
shown in the reference's own colour wherever its neighbourhood still matches the reference's luminance (the anchor,
motion.py): colours the frame-to-frame carry would have let fade come back when the content does. The anchored
colour is shown, not carried (its errors would travel with the motion); the state stays one frame plus the followed
positions.

``restart`` forgets the state: at every cut, reference change and chunk start (`run` restarts where its chunks
start, so a resumed or sharded run colours every frame as one uninterrupted run does).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import torch
from torch.nn import functional as F

from vidcolor.config import PropagationConfig
from vidcolor.motion import Motion, anchor_trust, follow, to_unit_grid

Seed = tuple[np.ndarray, torch.Tensor]  # gray uint8 (h, w) on the host, ab (2, h, w) on the device


class Propagation:
    def __init__(self, config: PropagationConfig | None = None, threads: int = 1) -> None:
        """``threads``: host threads for the optical flow of a batch's frames (OpenCV releases the GIL; on CUDA the
        host's cores are otherwise the codecs', on a CPU the networks')."""
        self.config = config = config or PropagationConfig()
        self.motion = Motion(config)
        self._local = threading.local()
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="vidcolor-flow") if threads > 1 else None
        self.gray: np.ndarray | None = None  # last frame's gray (host)
        self.ab: torch.Tensor | None = None  # last frame's output ab (device)
        self.anchor: tuple | None = None  # the seed's gray (host), ab (device) and the last frame's positions in it
        self.seeded = 0  # shots started from their reference (for tests and reports)

    def _flow(self, prev: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray, None]:
        """``motion`` in a pool thread, with that thread's own DIS instance (they are not thread-safe)."""
        if not hasattr(self._local, "motion"):
            self._local.motion = Motion(self.config)
        return (*self._local.motion(prev, cur), None, None)

    def restart(self) -> None:
        self.gray = self.ab = self.anchor = None

    def _start(self, gray: np.ndarray, seeds: Sequence[Seed]) -> tuple | None:
        """The seed that is a view of ``gray`` (most trusted, at least ``seed_trust`` on average): (its motion's
        positions, trust, the seed's ab, the seed's gray), or None."""
        best, best_trust = None, self.config.seed_trust
        for seed_gray, seed_ab in seeds:
            if seed_gray.shape != gray.shape:
                continue
            grid, trust = self.motion(seed_gray, gray)
            if trust.mean() >= best_trust:
                best, best_trust = (grid, trust, seed_ab, seed_gray), trust.mean()
        return best

    def _follow(self, steps: list, grays: Sequence[np.ndarray]) -> list:
        """Per frame, its positions in the shot's seed, the anchor trust (``motion.anchor_trust``) and the seed's
        ab, or None outside a seeded shot. Sequential on the host: each frame's positions are the previous frame's,
        followed."""
        cfg, anchors = self.config, []
        for step, gray in zip(steps, grays, strict=True):
            if step is None:
                self.anchor = None
            elif step[2] is not None:  # a shot started from its seed
                self.anchor = (step[3], step[2], step[0])
            elif self.anchor is not None:
                self.anchor = (*self.anchor[:2], follow(self.anchor[2], step[0]))
            if self.anchor is None or not cfg.anchor:
                anchors.append(None)
            else:
                seed_gray, seed_ab, grid = self.anchor
                trust = anchor_trust(gray, seed_gray, grid, cfg.anchor_sigma, cfg.anchor_window)
                anchors.append((grid, trust, seed_ab))
        return anchors

    def __call__(
        self,
        ab: torch.Tensor,
        grays: Sequence[np.ndarray],
        seeds: Sequence[Seed] = (),
        restarts: Sequence[bool] | None = None,
    ) -> torch.Tensor:
        """Frames in display order: own ab (N, 2, h, w) and their grays (N x (h, w) uint8) -> propagated ab.
        ``seeds``: the shot's reference(s) at working size; ``restarts[i]``: frame i starts a new stretch."""
        n = len(grays)
        restarts = restarts or [False] * n
        # host first (flow for the whole batch), then one upload: the device is never waited for
        steps: list = []
        prev = self.gray
        for i in range(n):
            if restarts[i] or prev is None or prev.shape != grays[i].shape:
                start = self._start(grays[i], seeds)
                steps.append(start)
                self.seeded += start is not None
            elif self._pool is not None:
                steps.append(self._pool.submit(self._flow, prev, grays[i]))
            else:
                steps.append((*self.motion(prev, grays[i]), None, None))
            prev = grays[i]
        steps = [s.result() if isinstance(s, Future) else s for s in steps]
        anchors = self._follow(steps, grays)
        grids, trusts = self._upload([s[:2] for s in steps if s is not None], ab.device, self.config.strength)
        seen, seen_trusts = self._upload([a[:2] for a in anchors if a is not None], ab.device, 1.0)
        if len(seen):  # every anchored frame's seed colours at its followed positions, in one call
            anchored = _warp(torch.stack([a[2] for a in anchors if a is not None]).float(), seen)
        out, k, j, last = [], 0, 0, self.ab
        for i in range(n):
            own = ab[i : i + 1].float()
            if steps[i] is None:
                last = own
            else:
                carried = steps[i][2][None].float() if steps[i][2] is not None else last
                last = own + trusts[k : k + 1] * (_warp(carried, grids[k : k + 1]) - own)
                k += 1
            if anchors[i] is None:
                out.append(last)
            else:  # the anchored colour is shown, not carried on: its errors would travel with the motion
                out.append(last + seen_trusts[j : j + 1] * (anchored[j : j + 1] - last))
                j += 1
        self.gray, self.ab = grays[-1] if n else self.gray, last
        return torch.cat(out).to(ab.dtype) if n else ab

    @staticmethod
    def _upload(pairs: list, device: torch.device, scale: float) -> tuple[torch.Tensor, torch.Tensor] | tuple[()]:
        """[(positions (h, w, 2), trust (h, w))] on the host -> grid_sample grids (K, h, w, 2) and trusts
        (K, 1, h, w) * ``scale`` on ``device``, in one copy each."""
        if not pairs:
            return (), ()
        grids = torch.from_numpy(np.stack([to_unit_grid(p[0]) for p in pairs]))
        trusts = torch.from_numpy(np.stack([p[1] for p in pairs]))
        if device.type == "cuda":
            grids, trusts = grids.pin_memory(), trusts.pin_memory()
        grids = grids.to(device, non_blocking=True)
        return grids, trusts.to(device, non_blocking=True)[:, None] * scale


def _warp(x: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """(N, C, h, w) sampled bicubically at ``grid`` (N, h, w, 2) in [-1, 1]."""
    return F.grid_sample(x, grid, mode="bicubic", padding_mode="border", align_corners=True)
