"""The model thread of `vidcolor run`: decoded frames in, (index, pts, luma, chroma) out.

Frames are batched within a shot (a batch never mixes references); each shot's reference comes from references.py
(prepared once per set of files, or chosen by matching the shot's first frame). The batches go through the chroma
stage (chroma_stage.py); on CUDA each batch's plan (the propagation's host half) is started as soon as its frames
are in, the batch before it is then submitted, and only then is the batch before that waited for: planning, upload,
compute and download overlap. The propagation restarts where the encoder starts a chunk (every ``chunk_frames``
frames and at each cut, counted from the first frame this run colours): a resumed or sharded run starts on that
grid, so it colours each frame as one uninterrupted run does. A segment that a keyframe of the same shot follows is
held whole and coloured from both sides (keyframe_stage.py); it is coloured from its first frame whatever frame the
run starts at (``emit`` says which frames are handed on).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from pathlib import Path

import numpy as np

from vidcolor.chain.predictor import Predictor
from vidcolor.chain.reference import Reference
from vidcolor.io.yuv import PlanarFormat
from vidcolor.shots.refs import ReferencePlan
from vidcolor.stream.batching import AdaptiveBatch, is_out_of_memory
from vidcolor.stream.chroma_stage import ChromaStage
from vidcolor.stream.keyframe_stage import HeldSegment, LumaSpool, colour_held
from vidcolor.stream.references import ShotReferences


class _Ready:
    """A batch computed already (the out-of-memory path): the same ``result()`` as a submitted one."""

    def __init__(self, chroma: np.ndarray) -> None:
        self.chroma = chroma

    def result(self) -> np.ndarray:
        return self.chroma


class ModelStage:
    def __init__(
        self,
        predictor: Predictor,
        plan: ReferencePlan,
        fmt: PlanarFormat,
        batch: int,
        warn: Callable[[str], None] = lambda message: None,
        chunk_frames: int = 240,
        propagate: bool = True,
        emit: tuple[int, int | None] = (0, None),
        spool_dir: Path | None = None,
    ) -> None:
        """``emit``: the frames [first, end) this run hands on (frames before it are decoded only to colour a
        held stretch from its start, and after it to its end); ``spool_dir``: where held luma planes are
        spooled (the work folder; default: the system's temporary folder)."""
        self.predictor, self.plan, self.batch, self.chunk_frames = predictor, plan, batch, chunk_frames
        self.emit_from, self.emit_to = emit
        self.spool_dir, self.warn = spool_dir, warn
        self.holds = propagate and not plan.detector and not plan.candidates
        self.alive: Callable[[], bool] = lambda: True  # False once the run is stopped (set by the pipeline)
        for a, b in plan.too_long() if self.holds else ():
            warn(f"frames {a}-{b - 1}: {b - a} frames before the keyframe at frame {b}, more than the "
                 f"{plan.max_span} held at most (--keyframe-span): coloured forward only")  # fmt: skip
        self.chroma = ChromaStage(predictor, fmt, propagate)
        self.batches = AdaptiveBatch(batch, warn)  # halves when the GPU runs out of memory
        self.references = ShotReferences(predictor, plan)
        self.assignments = self.references.assignments  # per detected shot: the chosen reference and its score
        self._fallbacks, self._told = 0, set()  # frames that took automatic colours; shots told about

    def tell_fallbacks(self, shot: int, first: int, ref: Reference | None) -> None:
        """Say once per shot when its reference showed too little of it and automatic colours took over
        (chain/relatedness.py)."""
        seen = self.chroma.relatedness.fallbacks
        if seen > self._fallbacks and ref is not None and shot not in self._told:
            self._told.add(shot)
            self.warn(f"frames from {max(first, self.emit_from)}: the reference {ref.name or ''} shows too little of "
                      "this shot; automatic colours where it shows nothing")  # fmt: skip
        self._fallbacks = seen

    def emits(self, index: int) -> bool:
        return index >= self.emit_from and (self.emit_to is None or index < self.emit_to)

    def _colour_held(self, held: HeldSegment, put: Callable[[tuple], bool]) -> bool | None:
        """A held segment from both sides (keyframe_stage.py); None: colour it forward only."""
        shot = held.shot
        own, seed = self.references(shot, held.items[0][4], held.items[0][0])
        here, nxt = self.plan.segments[shot], self.plan.segments[shot + 1]
        keyframes = (here.start if here.keyframe else None, nxt.start)
        refs = (own, self.references.prepared(nxt.paths))
        done = colour_held(self.chroma, held, refs, seed, keyframes, self.batches.size, self.emits, put, self.alive)
        self.tell_fallbacks(shot, held.items[0][0], own or refs[1])
        if done is None:
            self.warn(
                f"frames {here.start}-{nxt.start - 1}: the keyframe at frame {nxt.start} is no view of frame "
                f"{nxt.start - 1} (another scene?): coloured forward only"
            )
        return done

    def _submit(self, luma: list[np.ndarray], ref: Reference | None, seed: int, plan):
        """One planned batch to the chroma stage (in flight on CUDA); out of GPU memory -> smaller batches from then
        on, each with its part of the plan (a failure of the plan itself is no reason to shrink)."""
        plan = plan.result() if isinstance(plan, Future) else plan
        if len(luma) <= self.batches.size:
            try:
                return self.chroma.submit(luma, ref, seed, plan=plan)
            except Exception as exc:
                if not is_out_of_memory(exc) or len(luma) == 1:
                    raise
                self.batches.shrink(len(luma))

        def part_fn(part):
            whole = plan.part(part[0], part[-1] + 1) if plan is not None else None
            return self.chroma([luma[i] for i in part], ref, seed, plan=whole)

        return _Ready(self.batches.run(part_fn, list(range(len(luma)))))

    def run(self, frames: Iterable[tuple], put: Callable[[tuple], bool]) -> bool:
        """``frames``: (index, pts, luma, shot, first gray of the shot) until the decoder ends; ``put`` hands
        (index, pts, luma, chroma, shot) on and returns False when the run stops. True when every frame was handed
        on."""
        pending: list[tuple] = []
        current: dict[int, tuple[Reference | None, int]] = {}
        planned: deque = deque()  # (plan, luma, reference, hint seed, frames): planning, not yet submitted
        in_flight: deque = deque()  # (submitted batch, frames)
        since, last_shot = 0, None  # frames since the current chunk started, and its shot

        def emit(batch, group) -> bool:
            return all(put((*item[:3], c, item[3])) for item, c in zip(group, batch.result(), strict=True))

        def submit() -> bool:
            plan, luma, ref, seed, group = planned.popleft()
            in_flight.append((self._submit(luma, ref, seed, plan), group))
            self.tell_fallbacks(group[0][3], group[0][0], ref)
            while len(in_flight) > self.chroma.ahead:
                if not emit(*in_flight.popleft()):
                    return False
            return True

        def flush() -> bool:
            while pending:
                shot = pending[0][3]
                n = 1
                while n < len(pending) and pending[n][3] == shot:
                    n += 1
                group, pending[:] = pending[:n], pending[n:]
                if shot not in current:
                    current.clear()
                    current[shot] = self.references(shot, group[0][4], group[0][0])
                ref, seed = current[shot]
                luma, restarts = [item[2] for item in group], [item[5] for item in group]
                planned.append((self.chroma.plan(luma, ref, restarts), luma, ref, seed, group))
                while len(planned) > self.chroma.lookahead:
                    if not submit():
                        return False
            return True

        def drain() -> bool:  # everything before a held segment handed on, in order
            if not flush() or not all(submit() for _ in range(len(planned))):
                return False
            return all(emit(*in_flight.popleft()) for _ in range(len(in_flight)))

        def close(segment: HeldSegment) -> bool:
            current.clear()  # the next segment prepares its own reference
            done = self._colour_held(segment, put)
            if done is not None:
                return done
            for item in segment.items:  # forward only, as an unheld segment (its chunk-start restarts kept)
                if self.emits(item[0]):
                    pending.append((*item[:2], segment.luma(item), *item[3:]))
                    if len(pending) >= self.batch and not flush():
                        return False
            return drain()

        spool = None
        held: HeldSegment | None = None
        try:
            for item in frames:
                index, shot = item[0], item[3]
                if held is not None and shot != held.shot:
                    if not close(held):
                        return False
                    held = None
                    spool.clear()
                restart = False
                if self.emits(index):
                    restart = shot != last_shot or since >= self.chunk_frames
                    since, last_shot = (1 if restart else since + 1), shot
                if self.holds and self.plan.held(shot):
                    if held is None:
                        if not drain():
                            return False
                        spool = spool or LumaSpool(self.spool_dir)
                        held = HeldSegment(shot, spool)
                    held.add(item, restart)
                    continue
                if self.emits(index):
                    pending.append((*item[:5], restart))
                if len(pending) >= self.batch and not flush():
                    return False
            if held is not None and not close(held):
                return False
            return drain()
        finally:
            if spool is not None:
                spool.close()
