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

The work is split in two halves, so that a caller can run them apart: ``plan`` (host: the optical flow, the
followed positions, the grids and trusts, pinned when the device is CUDA; its state is the last gray and the anchor)
and ``apply`` (device: the warps and blends; its state is the last output). On CUDA the model stage plans a batch
ahead in a thread of its own while the device works on the one before (chroma_stage.py); called as a function, the
two halves run one after the other.

``restart`` forgets the state: at every cut, reference change and chunk start (`run` restarts where its chunks
start, so a resumed or sharded run colours every frame as one uninterrupted run does).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from vidcolor.config import PropagationConfig
from vidcolor.motion import Motion, anchor_trust, follow, to_unit_grid

Seed = tuple[np.ndarray, torch.Tensor]  # gray uint8 (h, w) on the host, ab (2, h, w) on the device


@dataclass(frozen=True)
class Plan:
    """The host half of a batch of N frames, ready to upload. Per frame i:

    ``sources[i]``: None (the frame starts a stretch with its own colours), "carry" (the previous output, warped) or
    a seed's ab (2, h, w) (a shot started from its reference); ``anchored[i]``: the seed's ab it is anchored to, or
    None. ``grids`` (K, h, w, 2) in [-1, 1] and ``trusts`` (K, h, w) in [0, 1]: one per frame with a source, in
    order; ``anchor_grids`` / ``anchor_trusts``: one per anchored frame. Arrays are float32 tensors on the host
    (pinned for a CUDA device)."""

    sources: tuple
    anchored: tuple
    grids: torch.Tensor | None
    trusts: torch.Tensor | None
    anchor_grids: torch.Tensor | None
    anchor_trusts: torch.Tensor | None

    def __len__(self) -> int:
        return len(self.sources)

    def part(self, start: int, stop: int) -> Plan:
        """Frames ``start`` .. ``stop - 1`` (a batch split after running out of GPU memory)."""
        k0 = sum(s is not None for s in self.sources[:start])
        k1 = k0 + sum(s is not None for s in self.sources[start:stop])
        j0 = sum(a is not None for a in self.anchored[:start])
        j1 = j0 + sum(a is not None for a in self.anchored[start:stop])
        # an empty slice is None, as plan() makes it: apply() tells "no such frames" by None
        cut = lambda x, a, b: x[a:b] if x is not None and b > a else None  # noqa: E731
        return Plan(
            self.sources[start:stop],
            self.anchored[start:stop],
            cut(self.grids, k0, k1),
            cut(self.trusts, k0, k1),
            cut(self.anchor_grids, j0, j1),
            cut(self.anchor_trusts, j0, j1),
        )


class Propagation:
    def __init__(self, config: PropagationConfig | None = None, threads: int = 1, pin: bool = False) -> None:
        """``threads``: host threads for the optical flow of a batch's frames (OpenCV releases the GIL; on CUDA the
        host's cores are otherwise the codecs', on a CPU the networks'). ``pin``: plans in page-locked memory (a
        CUDA device: the upload does not wait for the host)."""
        self.config = config = config or PropagationConfig()
        self.motion = Motion(config)
        self.pin = pin
        self._local = threading.local()
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="vidcolor-flow") if threads > 1 else None
        self.gray: np.ndarray | None = None  # last frame's gray (host, ``plan``)
        self.anchor: tuple | None = None  # the seed's gray (host), ab (device) and the last frame's positions in it
        self.ab: torch.Tensor | None = None  # last frame's output ab (device, ``apply``)
        self.seeded = 0  # shots started from their reference (for tests and reports)

    def _flow(self, prev: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``motion`` with this thread's own DIS instance (they are not thread-safe)."""
        if self._pool is None:
            return self.motion(prev, cur)
        if not hasattr(self._local, "motion"):
            self._local.motion = Motion(self.config)
        return self._local.motion(prev, cur)

    def map(self, fn, *args) -> list:
        """``fn`` over the arguments, in the flow's threads when it has more than one (order kept)."""
        return list(self._pool.map(fn, *args) if self._pool is not None else map(fn, *args))

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
        ab, or None outside a seeded shot. The positions are followed in order on the host (each frame's are the
        previous frame's, followed); the trusts are independent, computed in the flow's threads."""
        cfg, followed = self.config, []
        for step in steps:
            if step is None:
                self.anchor = None
            elif step[2] is not None:  # a shot started from its seed
                self.anchor = (step[3], step[2], step[0])
            elif self.anchor is not None:
                self.anchor = (*self.anchor[:2], follow(self.anchor[2], step[0]))
            followed.append(self.anchor if cfg.anchor else None)

        def trust(gray, anchor):
            return anchor_trust(gray, anchor[0], anchor[2], cfg.anchor_sigma, cfg.anchor_window) if anchor else None

        trusts = self.map(trust, grays, followed)
        return [None if a is None else (a[2], t, a[1]) for a, t in zip(followed, trusts, strict=True)]

    def plan(
        self, grays: Sequence[np.ndarray], seeds: Sequence[Seed] = (), restarts: Sequence[bool] | None = None
    ) -> Plan:
        """The host half: frames' grays (N x (h, w) uint8) in display order -> their ``Plan``. ``seeds``: the
        shot's reference(s) at working size; ``restarts[i]``: frame i starts a new stretch. Never waits for the
        device (a seed's ab is only referred to)."""
        n = len(grays)
        restarts = restarts or [False] * n
        steps: list = [None] * n
        pairs, prev = [], self.gray
        for i in range(n):
            if restarts[i] or prev is None or prev.shape != grays[i].shape:
                steps[i] = self._start(grays[i], seeds)
                self.seeded += steps[i] is not None
            else:
                pairs.append((i, prev, grays[i]))
            prev = grays[i]
        flows = self.map(self._flow, [p[1] for p in pairs], [p[2] for p in pairs])
        for (i, _, _), motion in zip(pairs, flows, strict=True):
            steps[i] = (*motion, None, None)
        anchors = self._follow(steps, grays)
        self.gray = grays[-1] if n else self.gray
        grids, trusts = self._stack([s[:2] for s in steps if s is not None])
        anchor_grids, anchor_trusts = self._stack([a[:2] for a in anchors if a is not None])
        sources = tuple(None if s is None else "carry" if s[2] is None else s[2] for s in steps)
        anchored = tuple(None if a is None else a[2] for a in anchors)
        return Plan(sources, anchored, grids, trusts, anchor_grids, anchor_trusts)

    def _stack(self, pairs: list) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """[(positions (h, w, 2), trust (h, w))] -> unit grids (K, h, w, 2) and trusts (K, h, w) on the host."""
        if not pairs:
            return None, None
        return self._host(self.map(to_unit_grid, [p[0] for p in pairs])), self._host([p[1] for p in pairs])

    def _host(self, arrays: list[np.ndarray]) -> torch.Tensor:
        """Equal float32 arrays stacked into one host tensor, written straight into page-locked memory if ``pin``."""
        out = torch.empty((len(arrays), *arrays[0].shape), dtype=torch.float32, pin_memory=self.pin)
        np.stack(arrays, out=out.numpy())
        return out

    def apply(self, ab: torch.Tensor, plan: Plan) -> torch.Tensor:
        """The device half: own ab (N, 2, h, w) of the planned frames -> propagated ab (same shape and dtype)."""
        n = len(plan)
        if n != len(ab):
            raise ValueError(f"a plan of {n} frames for {len(ab)} frames")
        device, strength = ab.device, self.config.strength
        grids, trusts = _upload(plan.grids, plan.trusts, device, strength)
        seen, seen_trusts = _upload(plan.anchor_grids, plan.anchor_trusts, device, 1.0)
        if seen is not None:  # every anchored frame's seed colours at its followed positions, in one call
            anchored = _warp(torch.stack([a for a in plan.anchored if a is not None]).float(), seen)
        out, k, j, last = [], 0, 0, self.ab
        for i in range(n):
            own = ab[i : i + 1].float()
            source = plan.sources[i]
            if source is None:
                last = own
            else:
                carried = last if isinstance(source, str) else source[None].float()
                last = own + trusts[k : k + 1] * (_warp(carried, grids[k : k + 1]) - own)
                k += 1
            if plan.anchored[i] is None:
                out.append(last)
            else:  # the anchored colour is shown, not carried on: its errors would travel with the motion
                out.append(last + seen_trusts[j : j + 1] * (anchored[j : j + 1] - last))
                j += 1
        self.ab = last
        return torch.cat(out).to(ab.dtype) if n else ab

    def __call__(
        self,
        ab: torch.Tensor,
        grays: Sequence[np.ndarray],
        seeds: Sequence[Seed] = (),
        restarts: Sequence[bool] | None = None,
    ) -> torch.Tensor:
        """Both halves: own ab (N, 2, h, w) and the frames' grays, in display order -> propagated ab."""
        return self.apply(ab, self.plan(grays, seeds, restarts))


def _upload(grids, trusts, device: torch.device, scale: float):
    """Host grids (K, h, w, 2) and trusts (K, h, w) -> on ``device``, trusts (K, 1, h, w) * ``scale``."""
    if grids is None:
        return None, None
    grids = grids.to(device, non_blocking=True)
    return grids, trusts.to(device, non_blocking=True)[:, None] * scale


def _warp(x: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """(N, C, h, w) sampled bicubically at ``grid`` (N, h, w, 2) in [-1, 1]."""
    return F.grid_sample(x, grid, mode="bicubic", padding_mode="border", align_corners=True)
