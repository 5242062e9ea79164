"""The model stage of `vidcolor run`: a batch of luma planes in, their chroma planes out.

Per batch: luma codes -> (device) L of each code by table lookup -> the predictor's ab at working size -> the
shot's propagation (chain/propagation.py) -> ab at chroma resolution ->
Cb/Cr codes from L + ab with the output's matrix and range, chroma limited to the gamut in closed form
(vidcolor/chain/chroma.py). Only the chroma crosses back to the host: for 4:2:0 half the bytes of the luma that came in.

On CUDA the transfers overlap the work: luma goes up from pinned host buffers (a small ring, each slot reused only
after its copy has finished), chroma comes down on a side stream into pinned buffers, and ``submit`` returns before
the batch is done, so the caller can queue the next batch first (``ahead`` batches in flight). The propagation's host
half (the luma planes scaled to gray at the working size, the optical flows, which frame carries or follows what:
``plan``) runs in a thread of its own, ``lookahead`` batches ahead of the device work, so the model thread only
launches kernels and copies. On the CPU ``submit`` computes at once, the plan is made in line and nothing is pinned.
"""

from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace

import cv2
import numpy as np
import torch
from torch.nn import functional as F

from vidcolor.chain.chroma import YCbCr, chroma_planes, luma_l_table
from vidcolor.chain.motion import gray_u8
from vidcolor.chain.predictor import Predictor, working_shape
from vidcolor.chain.propagation import Plan, Propagation
from vidcolor.chain.reference import Reference
from vidcolor.chain.relatedness import Relatedness
from vidcolor.config import PropagationConfig
from vidcolor.io.yuv import PlanarFormat

RING_DEPTH = 4  # pinned buffers per shape: more than the batches in flight plus the one being filled
# On CUDA the host's optical flow bounds the model stage (its plan alone ran at 173 fps at 1080p with 8 threads on a
# 16-core H200 host, the whole stage at 180): there DIS stops one pyramid level above the working size. One core of
# the 2-core dev machine: 2.9 against 11.3 ms per frame; DAVIS dev set, all frames: propagated 32.785 against
# 32.832 dB, CDC 0.00098 both (benchmarks/results/flow-ab-davis-cpu-finest1.json). The CPU, where the networks
# bound a run, keeps the finest flow.
CUDA_FLOW = {"finest_scale": 1}
# Whether the host's waits for an upload or a download (events it synchronises on) sleep instead of spinning (CUDA's
# default for an event is to spin: a core kept busy beside x264's threads while the model thread waits). Not yet
# measured on a lent GPU: benchmarks/e2e_contention_ab.py "blocking events" sets it; the default stays until then.
BLOCKING_EVENTS = False


def _host_event():
    """An event the host will wait on (``BLOCKING_EVENTS``)."""
    return torch.cuda.Event(blocking=BLOCKING_EVENTS)


class _PinnedRing:
    """Pinned host tensors per (shape, dtype), handed out in turn; a slot is reused after its event completes."""

    def __init__(self, depth: int = RING_DEPTH) -> None:
        self.depth = depth
        self.slots: dict[tuple, list[list]] = {}
        self.turn: dict[tuple, int] = {}

    def take(self, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        key = (tuple(shape), dtype)
        if key not in self.slots:
            if len(self.slots) >= 4:  # shapes change rarely (last batch of a shot): keep a few
                old = next(iter(self.slots))
                self.slots.pop(old), self.turn.pop(old)
            self.slots[key] = [[torch.empty(shape, dtype=dtype).pin_memory(), None] for _ in range(self.depth)]
            self.turn[key] = 0
        slot = self.slots[key][self.turn[key]]
        self.turn[key] = (self.turn[key] + 1) % self.depth
        if slot[1] is not None:
            slot[1].synchronize()  # the copy that last used this buffer has finished
        return slot

    @staticmethod
    def done(slot: list, event) -> None:
        slot[1] = event


@dataclass
class Pending:
    """A submitted batch; ``result()`` waits for it and returns (N, 2, h, w) chroma codes (uint8 or uint16)."""

    host: torch.Tensor
    event: object | None = None  # torch.cuda.Event of the download, None when computed already

    def result(self) -> np.ndarray:
        if self.event is not None:
            self.event.synchronize()
        out = self.host.numpy()
        out = out.view(np.uint16) if out.dtype == np.int16 else out  # 10-bit codes never reach the sign bit
        return out.copy() if self.event is not None else out  # a pinned buffer is reused: copy it out


def _signed(luma: np.ndarray) -> np.ndarray:
    """uint16 codes viewed as int16 (torch has no uint16 arithmetic; 10-bit codes never reach the sign bit)."""
    return np.ascontiguousarray(luma).view(np.int16) if luma.dtype == np.uint16 else luma


def upload(luma: list[np.ndarray], device: torch.device) -> torch.Tensor:
    """N (H, W) luma planes -> (N, 1, H, W) codes on ``device`` (uint8, or uint16 viewed as int16)."""
    return torch.from_numpy(_signed(np.stack(luma)))[:, None].to(device)


def area_factor(height: int, width: int, hs: int, ws: int) -> int:
    """The largest whole k >= 2 that divides both sides of a (height, width) plane and leaves it between 1 and 2
    times (hs, ws) (the bilinear step after it then skips no pixel), else 1. OpenCV's area resize takes a fast path
    for whole factors only: scaling 1920x1080 to 455x256 directly took 2.1 ms on one core of the 2-core dev
    machine, by 4 to 480x270 then bilinearly 0.57 ms (mean difference 0.23 of 255)."""
    for k in range(min(height // hs, width // ws), 1, -1):
        if height % k == 0 and width % k == 0:
            return k if height // k < 2 * hs and width // k < 2 * ws else 1
    return 1


class ChromaStage:
    def __init__(
        self,
        predictor: Predictor,
        fmt: PlanarFormat,
        propagate: bool = True,
        lookahead: int | None = None,
        flow_threads: int | None = None,
        flow: PropagationConfig | None = None,
    ) -> None:
        """``propagate``: carry colours along the motion from batch to batch (frames must come in display order;
        ``restarts`` say where a shot or a chunk starts). ``lookahead``: batches whose plan may be made ahead, in
        a thread; ``flow_threads``: the plan's threads (defaults: on CUDA 1 batch ahead and 4 threads; on the CPU,
        where the networks have the cores, in line and one). ``flow``: the propagation's settings (default: the
        config's, on CUDA with ``CUDA_FLOW``)."""
        self.predictor, self.fmt = predictor, fmt
        self.spec = YCbCr.for_colorspace(fmt.colorspace, fmt.bits, fmt.full_range, fmt.subsampling)
        table = luma_l_table(self.spec)  # luma code -> L
        self.l_table = table.to(predictor.device)
        self.gray_table = gray_u8(table.numpy()) if propagate else None  # luma code -> gray for the flow
        self.gray_shape = working_shape(fmt.height, fmt.width, predictor.size)  # the flow's frames (h, w)
        self.gray_factor = area_factor(fmt.height, fmt.width, *self.gray_shape)
        self.cuda = predictor.device.type == "cuda"
        # On CUDA the optical flow is the host's largest share of the model stage: 4 threads (measured on a 16-core
        # H200 host, whole run at 1080p and 4K: 4 beat 8 and 2; benchmarks/results/e2e-ab-cuda-h200-*.json).
        if flow_threads is None:
            flow_threads = min(4, os.cpu_count() or 1) if self.cuda else 1
        flow = flow or (replace(PropagationConfig(), **CUDA_FLOW) if self.cuda else PropagationConfig())
        self.propagation = Propagation(flow, threads=flow_threads, pin=self.cuda) if propagate else None
        self.relatedness = Relatedness()  # the stretch's, beside the propagation (chain/relatedness.py)
        self.ahead = 1 if self.cuda else 0  # batches left in flight while the next one is submitted
        self.lookahead = (1 if self.cuda else 0) if lookahead is None else lookahead
        self.lookahead = self.lookahead if propagate else 0  # nothing to plan: no batch waits for the next
        self._planner = None
        if self.lookahead and propagate:
            self._planner = ThreadPoolExecutor(1, thread_name_prefix="vidcolor-plan")
        if self.cuda:
            self.inputs, self.outputs = _PinnedRing(), _PinnedRing()
            self.side = torch.cuda.Stream(predictor.device)
            # The host's cores belong to the decoder and the encoder (x264 takes them all at 1080p and up): torch's
            # own CPU threads only copy here, and their spinning workers slowed the codecs measurably.
            torch.set_num_threads(1)
            # Likewise OpenCV's pool: the flow threads run each OpenCV call in line (whole run +15-25 % at 1080p
            # and 4K on that host: its pool's workers spin beside x264's threads).
            cv2.setNumThreads(1)

    def __call__(
        self,
        luma: np.ndarray | list[np.ndarray],
        reference: Reference | None,
        hint_seed: int = 0,
        restarts: list[bool] | None = None,
        plan: Plan | Future | None = None,
    ) -> np.ndarray:
        """(N, H, W) luma codes -> (N, 2, h, w) chroma codes of the same dtype (``fmt.chroma_shape``)."""
        return self.submit(luma, reference, hint_seed, restarts, plan).result()

    def gray(self, plane: np.ndarray) -> np.ndarray:
        """A luma plane -> gray uint8 (h, w) at the working size (the propagation's optical flow)."""
        hs, ws = self.gray_shape
        k = self.gray_factor
        if k > 1:  # OpenCV's area resize by a whole factor, then a small bilinear step: 4x cheaper at 1080p
            plane = cv2.resize(plane, (plane.shape[1] // k, plane.shape[0] // k), interpolation=cv2.INTER_AREA)
            return self.gray_table[cv2.resize(plane, (ws, hs), interpolation=cv2.INTER_LINEAR)]
        return self.gray_table[cv2.resize(plane, (ws, hs), interpolation=cv2.INTER_AREA)]

    def plan(
        self, luma: np.ndarray | list[np.ndarray], reference: Reference | None, restarts: list[bool] | None = None
    ) -> Plan | Future | None:
        """The propagation's host half of a batch (frames in display order, every batch planned once, in turn):
        a Future of its ``Plan`` when planning runs ahead, else the Plan; None without the propagation."""
        if self.propagation is None:
            return None
        seeds = tuple(reference.seeds) if reference is not None else ()
        if self._planner is None:
            return self._plan(luma, seeds, restarts)
        return self._planner.submit(self._plan, list(luma), seeds, restarts)

    def _plan(self, luma, seeds, restarts) -> Plan:
        return self.propagation.plan(self.propagation.map(self.gray, luma), seeds, restarts)

    @torch.no_grad()
    def compute(self, luma: torch.Tensor, reference: Reference | None, hint_seed: int = 0, plan: Plan | None = None):
        """(N, 1, H, W) luma codes on the device -> (N, 2, h, w) int16 chroma codes on the device. ``plan``: the
        propagation's host half for these frames (``plan()``)."""
        return self.planes(luma, self.small_ab(luma, reference, hint_seed, plan))

    @torch.no_grad()
    def small_ab(self, luma: torch.Tensor, reference: Reference | None, hint_seed: int = 0, plan: Plan | None = None):
        """(N, 1, H, W) luma codes on the device -> (N, 2, h, w) ab at the working size, propagated by ``plan``.
        The stretch's relatedness to its reference restarts where the plan's stretches start (without the
        propagation every frame is a stretch of its own)."""
        temporal = None
        if plan is not None:

            def temporal(ab):
                return self.propagation.apply(ab, plan)

        starts = plan.starts if plan is not None else [True] * len(luma)

        def relate(shares):
            return self.relatedness.verdict(shares, starts)

        return self.predictor.small_ab(self.l_table[luma.long()], reference, hint_seed, temporal, relate)

    @torch.no_grad()
    def planes(self, luma: torch.Tensor, ab_small: torch.Tensor) -> torch.Tensor:
        """(N, 1, H, W) luma codes and their (N, 2, h, w) ab at the working size (device) -> (N, 2, h, w) chroma
        codes (int16 for more than 8 bits, else uint8) at the chroma's resolution."""
        ab = F.interpolate(ab_small, size=self.fmt.chroma_shape, mode="bilinear", align_corners=False)
        return chroma_planes(luma, ab, self.spec).to(torch.int16 if self.fmt.bits > 8 else torch.uint8)

    def submit(
        self,
        luma: np.ndarray | list[np.ndarray],
        reference: Reference | None,
        hint_seed: int = 0,
        restarts: list[bool] | None = None,
        plan: Plan | Future | None = None,
    ) -> Pending:
        """(N, H, W) luma codes, or a list of N (H, W) planes (on CUDA each is copied once, into a pinned buffer).
        ``plan``: made by ``plan()`` for these frames; made here from ``restarts`` when not given. A failure (out
        of GPU memory) leaves the propagation's device state (the last output, the followed positions) and the
        stretch's relatedness as they were, so a planned batch can be submitted again in parts, each with its
        ``Plan.part``."""
        shape = (len(luma), *luma[0].shape) if len(luma) else (0,)
        if len(shape) != 3 or shape[1:] != (self.fmt.height, self.fmt.width):
            raise ValueError(f"luma of shape {shape} for a {self.fmt.width}x{self.fmt.height} video")
        plan = self.plan(luma, reference, restarts) if plan is None else plan
        plan = plan.result() if isinstance(plan, Future) else plan
        p = self.propagation
        r = self.relatedness
        last, related = ((p.ab, p.anchor_pos) if p is not None else None), (r.best, r.settled, r.fallbacks)
        try:
            return self._submit(luma, shape, reference, hint_seed, plan)
        except Exception:
            if p is not None:
                p.ab, p.anchor_pos = last
            r.best, r.settled, r.fallbacks = related
            raise

    def _submit(self, luma, shape: tuple, reference: Reference | None, hint_seed: int, plan: Plan | None) -> Pending:
        if not self.cuda:
            host = torch.from_numpy(_signed(np.stack(luma) if isinstance(luma, list) else luma))
            return Pending(self.compute(host[:, None], reference, hint_seed, plan))
        slot = self.inputs.take(shape, torch.int16 if luma[0].dtype == np.uint16 else torch.uint8)
        pinned = slot[0].numpy()
        for i, plane in enumerate(luma):
            pinned[i] = _signed(plane)  # a plain memcpy, no torch CPU threads
        device_luma = slot[0].to(self.predictor.device, non_blocking=True)
        uploaded = _host_event()
        uploaded.record()
        self.inputs.done(slot, uploaded)
        codes = self.compute(device_luma[:, None], reference, hint_seed, plan)
        computed = torch.cuda.Event()
        computed.record()
        out = self.outputs.take(codes.shape, codes.dtype)
        with torch.cuda.stream(self.side):
            self.side.wait_event(computed)
            out[0].copy_(codes, non_blocking=True)
            downloaded = _host_event()
            downloaded.record(self.side)
        codes.record_stream(self.side)
        self.outputs.done(out, downloaded)
        return Pending(out[0], downloaded)
