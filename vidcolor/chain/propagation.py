"""Colour carried along the motion through a shot: the frame's own colours where nothing can be carried.

Per frame t of a shot, at working size (ab in Lab units, (2, h, w)):

    out_t = (1 - a) * own_t + a * warp(out_{t-1}),    a = strength * trust   (tracks.py)

so what the shot has shown keeps its colour as the camera moves and objects turn (the reference's colours are not
re-guessed from a weaker match in every frame), flicker drops, and where the motion cannot be trusted (occlusions,
new content, cuts in the flow) the frame's own colours take over. The warp is bicubic (bilinear softened colour
edges frame after frame). The state is one frame: memory does not grow with the shot.

A shot starts from its reference when the reference is a view of its first frame (a colourised frame of the shot:
the usual way to colour a film from keyframes): the reference is then taken as the frame before the first, and its
own colours, not the match's, are carried in. Any other reference (mean trust under ``seed_trust``) changes
nothing here. In a shot so started, every pixel is also followed back to the reference (the flows composed) and
shown in the reference's own colour wherever its neighbourhood still matches the reference's luminance (the anchor,
tracks.py): colours the frame-to-frame carry would have let fade come back when the content does. The anchored
colour is shown, not carried (its errors would travel with the motion); the state stays one frame plus the followed
positions.

The work is split in two halves, so that a caller can run them apart: ``plan`` (host: the optical flows, in
threads, and which frame carries, starts or follows what; its state is the last gray and the shot's anchor) and
``apply`` (the networks' device: positions, trusts, the followed positions (tracks.py), the warps and blends, a
batch at a time; its state is the last output and the followed positions). On CUDA the model stage plans a batch
ahead in a thread of its own while the device works on the one before (stream/chroma_stage.py), and the host's share per
frame is the two flows and a copy into page-locked memory; called as a function, the two halves run one after the
other.

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

from vidcolor.chain.motion import Motion
from vidcolor.chain.tracks import anchor_trust, flow_trust, follow, to_unit
from vidcolor.config import PropagationConfig

Seed = tuple[np.ndarray, torch.Tensor]  # gray uint8 (h, w) on the host, ab (2, h, w) on the device


@dataclass(frozen=True)
class Plan:
    """The host half of a batch of N frames, ready to upload. Per frame i:

    ``sources[i]``: None (the frame starts a stretch with its own colours), "carry" (the previous output, warped) or
    a seed's ab (2, h, w) (a shot started from its reference); ``anchored[i]``: None, or (the seed's ab, True where
    the frame starts the anchor (its positions in the seed are its motion's), False where it follows the frame
    before's). For the K frames with a source, in order: ``flows`` (K, 2, h, w, 2) float32 (t -> t-1, t-1 -> t) and
    ``grays`` (K, 2, h, w) uint8 (frame t-1 or the seed, frame t); ``anchor_grays`` (J, h, w) uint8: each anchored
    frame's seed. Host tensors (page-locked for a CUDA device)."""

    sources: tuple
    anchored: tuple
    flows: torch.Tensor | None
    grays: torch.Tensor | None
    anchor_grays: torch.Tensor | None

    def __len__(self) -> int:
        return len(self.sources)

    @property
    def starts(self) -> tuple[bool, ...]:
        """Per frame: whether it starts a stretch (nothing carried into it: a cut, a restart, the first frame)."""
        return tuple(not isinstance(s, str) for s in self.sources)

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
            cut(self.flows, k0, k1),
            cut(self.grays, k0, k1),
            cut(self.anchor_grays, j0, j1),
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
        self.anchor: Seed | None = None  # the shot's seed while its frames are followed back to it (``plan``)
        self.ab: torch.Tensor | None = None  # last frame's output ab (device, ``apply``)
        self.anchor_pos: torch.Tensor | None = None  # last anchored frame's positions in its seed (``apply``)
        self.seeded = 0  # shots started from their reference (for tests and reports)
        self.trust: torch.Tensor | None = None  # the last batch's anchor trust (N, 1, h, w), 0 where not anchored

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

    def close(self) -> None:
        """Let the flow's threads go (a propagation made for one stretch)."""
        if self._pool is not None:
            self._pool.shutdown()

    def restart(self) -> None:
        self.gray = self.ab = self.anchor = self.anchor_pos = None

    def starts_from(self, gray: np.ndarray, seeds: Sequence[Seed]) -> bool:
        """Whether one of ``seeds`` is a view of ``gray`` (a stretch would start from it)."""
        return self._start(gray, seeds) is not None

    def _start(self, gray: np.ndarray, seeds: Sequence[Seed]) -> tuple | None:
        """The seed that is a view of ``gray`` (most trusted, at least ``seed_trust`` on average, judged here on
        the host): (the seed's gray, the flows, the seed's ab), or None."""
        best, best_trust = None, self.config.seed_trust
        for seed_gray, seed_ab in seeds:
            if seed_gray.shape != gray.shape:
                continue
            flows = self.motion(seed_gray, gray)
            pair = torch.from_numpy(np.stack([seed_gray, gray]))
            _, trust = flow_trust(pair[:1], pair[1:], *(torch.from_numpy(f)[None] for f in flows), self.config.sigma)
            mean = trust.mean().item()
            if mean >= best_trust:
                best, best_trust = (seed_gray, flows, seed_ab), mean
        return best

    def plan(
        self, grays: Sequence[np.ndarray], seeds: Sequence[Seed] = (), restarts: Sequence[bool] | None = None
    ) -> Plan:
        """The host half: frames' grays (N x (h, w) uint8) in display order -> their ``Plan``. ``seeds``: the
        shot's reference(s) at working size; ``restarts[i]``: frame i starts a new stretch. Never waits for the
        device (a seed's ab is only referred to)."""
        n = len(grays)
        restarts = restarts or [False] * n
        steps: list = [None] * n  # per frame: None or (the gray it comes from, its flows, a seed's ab or None)
        pairs, prev = [], self.gray
        for i in range(n):
            if restarts[i] or prev is None or prev.shape != grays[i].shape:
                steps[i] = self._start(grays[i], seeds)
                self.seeded += steps[i] is not None
            else:
                pairs.append((i, prev))
            prev = grays[i]
        flows = self.map(self._flow, [p[1] for p in pairs], [grays[i] for i, _ in pairs])
        for (i, before), motion in zip(pairs, flows, strict=True):
            steps[i] = (before, motion, None)
        anchored, anchor_grays = [], []
        for step in steps:
            if step is None:
                self.anchor = None
            elif step[2] is not None:  # a shot started from its seed
                self.anchor = (step[0], step[2])
            if self.config.anchor and self.anchor is not None:
                anchored.append((self.anchor[1], step[2] is not None))
                anchor_grays.append(self.anchor[0])
            else:
                anchored.append(None)
        self.gray = grays[-1] if n else self.gray
        moving = [(s, g) for s, g in zip(steps, grays, strict=True) if s is not None]
        sources = tuple(None if s is None else "carry" if s[2] is None else s[2] for s in steps)
        return Plan(
            sources,
            tuple(anchored),
            self._host([s[1] for s, _ in moving]),
            self._host([(s[0], g) for s, g in moving]),
            self._host([(g,) for g in anchor_grays]),
        )

    def _host(self, rows: list[tuple[np.ndarray, ...]]) -> torch.Tensor | None:
        """K rows of M equal arrays -> one (K, M, ...) host tensor, or (K, ...) when M is 1, each array copied once,
        straight into page-locked memory if ``pin``."""
        if not rows:
            return None
        first = rows[0][0]
        shape = (len(rows), *(() if len(rows[0]) == 1 else (len(rows[0]),)), *first.shape)
        out = torch.empty(shape, dtype=torch.from_numpy(first[:0]).dtype, pin_memory=self.pin)
        host = out.numpy().reshape(len(rows), len(rows[0]), *first.shape)
        for k, row in enumerate(rows):
            for m, array in enumerate(row):
                host[k, m] = array
        return out

    def apply(self, ab: torch.Tensor, plan: Plan) -> torch.Tensor:
        """The device half: own ab (N, 2, h, w) of the planned frames -> propagated ab (same shape and dtype)."""
        n = len(plan)
        if n != len(ab):
            raise ValueError(f"a plan of {n} frames for {len(ab)} frames")
        with torch.autocast(ab.device.type, enabled=False):
            out = self._apply(ab, plan) if n else ab
        return out

    def _apply(self, ab: torch.Tensor, plan: Plan) -> torch.Tensor:
        cfg, device = self.config, ab.device
        pos = trusts = grays = None
        if plan.flows is not None:
            flows = plan.flows.to(device, non_blocking=True)
            grays = plan.grays.to(device, non_blocking=True)
            pos, trust = flow_trust(grays[:, 0], grays[:, 1], flows[:, 0], flows[:, 1], cfg.sigma)
            grids, trusts = to_unit(pos), cfg.strength * trust[:, None]
        followed, frames, k = [], [], 0  # the anchored frames' positions in their seeds, their index among K
        for source, anchored in zip(plan.sources, plan.anchored, strict=True):
            if anchored is not None:
                step = pos[k : k + 1]
                self.anchor_pos = step if anchored[1] else follow(self.anchor_pos, step)
                followed.append(self.anchor_pos)
                frames.append(k)
            k += source is not None
        if followed:  # every anchored frame's trust and seed colours at its followed positions, in one call each
            seen = torch.cat(followed)
            anchor_grays = plan.anchor_grays.to(device, non_blocking=True)
            cur = torch.cat([grays[k : k + 1, 1] for k in frames])  # slices: an index list would be a copy that waits
            seen_trusts = anchor_trust(cur, anchor_grays, seen, cfg.anchor_sigma, cfg.anchor_window)
            seeds = torch.stack([a[0] for a in plan.anchored if a is not None]).float()
            anchored_ab = _warp(seeds, to_unit(seen, *seeds.shape[2:]))
            seen_trusts = seen_trusts[:, None]
        out, k, j, last = [], 0, 0, self.ab
        trust_out = torch.zeros((len(plan), 1, *ab.shape[-2:]), device=device)
        for i in range(len(plan)):
            own = ab[i : i + 1].float()
            source = plan.sources[i]
            if source is None:
                last = own
            else:
                carried = last if isinstance(source, str) else source[None].float()  # lerp: see keyframes.blend
                last = torch.lerp(own, _warp(carried, grids[k : k + 1]), trusts[k : k + 1])
                k += 1
            if plan.anchored[i] is None:
                out.append(last)
            else:  # the anchored colour is shown, not carried on: its errors would travel with the motion
                out.append(torch.lerp(last, anchored_ab[j : j + 1], seen_trusts[j : j + 1]))
                trust_out[i] = seen_trusts[j]
                j += 1
        self.ab, self.trust = last, trust_out
        return torch.cat(out).to(ab.dtype)

    def __call__(
        self,
        ab: torch.Tensor,
        grays: Sequence[np.ndarray],
        seeds: Sequence[Seed] = (),
        restarts: Sequence[bool] | None = None,
    ) -> torch.Tensor:
        """Both halves: own ab (N, 2, h, w) and the frames' grays, in display order -> propagated ab."""
        return self.apply(ab, self.plan(grays, seeds, restarts))


def _warp(x: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """(N, C, h, w) sampled bicubically at ``grid`` (N, h, w, 2) in [-1, 1]."""
    return F.grid_sample(x, grid, mode="bicubic", padding_mode="border", align_corners=True)
