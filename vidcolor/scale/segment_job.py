"""One segment of a sharded run, on whichever machine runs it: the same three-thread pipeline as `vidcolor run`
(VideoJob) over a frame range, writing the same resumable chunks into the segment's own folder of the film's work
folder (``.OUT.vidcolor-work/seg-NNNN/``). It does not assemble: the driver muxes every segment's chunks with the
source's audio. A retry (Ray re-runs a task whose worker died) opens the same folder and continues after the last
finished chunk, so nothing already encoded is redone. Only paths, chunk names and frame counts go back.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vidcolor.errors import VidcolorError
from vidcolor.scale.segments import Span
from vidcolor.shots.refs import ReferencePlan
from vidcolor.stream.decode_stage import FrameRange
from vidcolor.stream.pipeline import RunOptions, VideoJob
from vidcolor.stream.work_state import WorkState

KILL_TICKET_ENV = "VIDCOLOR_TEST_KILL_TICKET"  # test-only: a file naming a segment whose first attempt dies


def segment_dir(work_dir: Path, number: int) -> Path:
    return work_dir / f"seg-{number:04d}"


@dataclass(frozen=True)
class SegmentSpec:
    source: str
    output: str
    work_dir: str  # the film's work folder (shared storage: every worker sees the same path)
    plan: ReferencePlan  # the whole film's plan: a frame keeps its shot number, so its reference and hint seed
    options: RunOptions
    span: Span
    frames: FrameRange  # what to decode (seek target, warm-up from the shot's start)
    make_predictor: Callable
    threads: int | None = None  # torch threads on a CPU worker


class _SegmentState(WorkState):
    """The segment's progress file; the test hook may end the process after a chunk is recorded."""

    def __init__(self, directory: Path, fingerprint: dict, number: int) -> None:
        super().__init__(directory, fingerprint)
        self.number = number

    def add(self, name: str, first: int, frames: int) -> None:
        super().add(name, first, frames)
        ticket = os.environ.get(KILL_TICKET_ENV)
        if ticket and Path(ticket).is_file() and Path(ticket).read_text().strip() == str(self.number):
            try:
                os.unlink(ticket)  # only one process claims it: the retry runs on
            except FileNotFoundError:
                return
            os.kill(os.getpid(), signal.SIGKILL)


class SegmentJob(VideoJob):
    def __init__(self, spec: SegmentSpec, on_progress: Callable[[int], None] | None = None) -> None:
        start = spec.span.start
        super().__init__(
            Path(spec.source),
            Path(spec.output),
            spec.plan,
            lambda: spec.make_predictor(need_transfer=spec.plan.needs_transfer()),
            spec.options,
            on_progress=(lambda done, _total: on_progress(done - start)) if on_progress else None,
        )
        self.spec = spec
        self.emit_end = spec.span.end  # the frames after it only colour a held stretch (decoded to its end)

    def run(self) -> dict:
        """Colour the span's frames not yet in its folder. Returns what the driver needs (no frame data)."""
        span = self.spec.span
        self._prepare(self.spec.frames)
        state = _SegmentState(
            segment_dir(Path(self.spec.work_dir), span.number),
            {**self.fingerprint, "span": [span.start, span.end, span.shot_start]},
            span.number,
        )
        state.open(resume=True, fresh=False)
        done_before, seconds = state.frames_done, 0.0
        if done_before < span.frames:
            try:
                seconds = self._stream(state, span.start + done_before)
            except BaseException:
                state.discard_if_empty()
                raise
        if state.frames_done != span.frames and not self.decoder.stopped_early:
            raise VidcolorError(
                f"{self.source}: segment {span.number} decoded {state.frames_done} of its {span.frames} frames "
                f"({span.start}..{span.end})"
            )
        return {
            "number": span.number,
            "chunks": [c["file"] for c in state.chunks],
            "frames": state.frames_done,
            "resumed_from": done_before,
            "encoded": state.frames_done - done_before,
            "seconds": seconds,
            "seeked": self.decoder.seeked,
            "stopped_early": self.decoder.stopped_early,
            "assignments": self.model.assignments if self.model else [],
            "warnings": self.warnings,
            "encoder": f"{self.encoder_note}, {self.fmt.pix_fmt}",
            "pid": os.getpid(),
        }


def run_segment(spec: SegmentSpec, report: Callable[[int], None] | None = None) -> dict:
    """Entry point of a segment task. ``report(frames done in the segment)`` is called a few times a second."""
    if spec.threads:
        import torch

        torch.set_num_threads(spec.threads)
    last = [0.0]

    def throttled(done: int) -> None:
        now = time.monotonic()
        if report and now - last[0] >= 0.5:
            last[0] = now
            report(done)

    result = SegmentJob(spec, throttled).run()
    if report:
        report(result["frames"])
    return result
