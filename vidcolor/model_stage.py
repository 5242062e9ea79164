"""The model thread of `vidcolor run`: decoded frames in, (index, pts, luma, chroma) out.

Frames are batched within a shot (a batch never mixes references); each shot's reference is prepared once per set
of files (a file used by ten shots is read once) or, for a folder of unindexed references, chosen by matching the
shot's first frame. The batches go through the chroma stage (chroma_stage.py); on CUDA the next batch is submitted
before the previous one is waited for, so upload, compute and download overlap.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from vidcolor.batching import AdaptiveBatch, is_out_of_memory
from vidcolor.chroma_stage import ChromaStage
from vidcolor.io.image import read_image
from vidcolor.io.yuv import PlanarFormat
from vidcolor.predictor import Predictor, Reference
from vidcolor.refs import ReferencePlan


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
    ) -> None:
        self.predictor, self.plan, self.batch = predictor, plan, batch
        self.chroma = ChromaStage(predictor, fmt)
        self.batches = AdaptiveBatch(batch, warn)  # halves when the GPU runs out of memory
        self.assignments: list[dict] = []  # per detected shot: the chosen reference and its match score
        self._signatures = None
        self._references: dict[tuple[Path, ...], Reference] = {}

    def reference(self, shot: int, first_gray: np.ndarray | None, start: int) -> tuple[Reference | None, int]:
        """The prepared reference of a shot and its hint seed."""
        if self.plan.candidates:
            from vidcolor.shots.assign import best_match, signature

            if self._signatures is None:
                self._signatures = [signature(self.predictor, read_image(p)) for p in self.plan.candidates]
            best, scores = best_match(signature(self.predictor, first_gray), self._signatures)
            paths = (self.plan.candidates[best],)
            self.assignments.append({"start": start, "reference": [str(paths[0])], "score": scores[best]})
        else:
            paths = self.plan.segments[shot].paths
        if not paths:
            return None, shot
        if paths not in self._references:
            prepared = [self.predictor.prepare_reference(read_image(p), p.name) for p in paths]
            self._references[paths] = Reference.combine(prepared)
        return self._references[paths], shot

    def _submit(self, luma: list[np.ndarray], ref: Reference | None, seed: int):
        """One batch to the chroma stage (in flight on CUDA); out of GPU memory -> smaller batches from then on."""
        if len(luma) <= self.batches.size:
            try:
                return self.chroma.submit(luma, ref, seed)
            except Exception as exc:
                if not is_out_of_memory(exc) or len(luma) == 1:
                    raise
                self.batches.shrink(len(luma))
        return _Ready(self.batches.run(lambda part: self.chroma(part, ref, seed), luma))

    def run(self, frames: Iterable[tuple], put: Callable[[tuple], bool]) -> bool:
        """``frames``: (index, pts, luma, shot, first gray of the shot) until the decoder ends; ``put`` hands
        (index, pts, luma, chroma, shot) on and returns False when the run stops. True when every frame was handed
        on."""
        pending: list[tuple] = []
        current: dict[int, tuple[Reference | None, int]] = {}
        in_flight: deque = deque()

        def emit(batch, group) -> bool:
            return all(put((*item[:3], c, item[3])) for item, c in zip(group, batch.result(), strict=True))

        def flush() -> bool:
            while pending:
                shot = pending[0][3]
                n = 1
                while n < len(pending) and pending[n][3] == shot:
                    n += 1
                group, pending[:] = pending[:n], pending[n:]
                if shot not in current:
                    current.clear()
                    current[shot] = self.reference(shot, group[0][4], group[0][0])
                ref, seed = current[shot]
                in_flight.append((self._submit([item[2] for item in group], ref, seed), group))
                while len(in_flight) > self.chroma.ahead:
                    if not emit(*in_flight.popleft()):
                        return False
            return True

        for item in frames:
            pending.append(item)
            if len(pending) >= self.batch and not flush():
                return False
        return flush() and all(emit(*in_flight.popleft()) for _ in range(len(in_flight)))
