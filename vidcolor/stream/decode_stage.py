"""The decoder thread of `vidcolor run`: the source's frames as luma planes, with their true times and shot numbers.

Each frame comes out as (index, pts, luma, shot number, first gray of that shot or None). Timestamps are the
source's even where the decoder hands them out of order (io/timestamps.py). Shots come from the plan, or from the
cut detector run on every frame (skipped ones too, so a resumed run numbers shots the same way). Gray (full-range
8-bit, from the luma by table) is made only where a detector or reference matching needs it. Torch-free.

A ``FrameRange`` (a segment of a sharded run, vidcolor/scale) decodes frames ``first`` .. ``end - 1`` only: the
container seeks to the keyframe before ``seek_pts`` and frames are dropped until the one whose restored timestamp
is ``first_pts``, which takes index ``first``: the same index and time the whole-film decoder gives it. Where that
frame is not found (timestamps repaired or missing), it decodes from the start and counts, as the whole-film pass.

A ``FrameWindow`` (``run --start/--duration``, a preview) is such a range found at the average frame rate, and its
timestamps are shifted so that its first frame is at time 0, as ffmpeg's ``-ss``/``-t`` do; ``window_seconds``
gives its span in the source's clock so that the audio can be cut to match.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av

from vidcolor.errors import VidcolorError
from vidcolor.io.media import VideoInfo, ends_short, frame_step, open_video
from vidcolor.io.seek import frame_pts, pts_at, span_seconds
from vidcolor.io.timestamps import restore_pts
from vidcolor.io.yuv import PlanarFormat, frame_luma, gray_table
from vidcolor.shots.refs import ReferencePlan
from vidcolor.stream.timerange import FrameWindow

# The decoder's threads (0: FFmpeg's choice, one per core and more). A many-core CUDA host runs x264's threads
# beside them: benchmarks/e2e_contention_ab.py "decoder threads 4" measures fewer; the default stays until then.
DECODE_THREADS = 0


@dataclass(frozen=True)
class FrameRange:
    first: int  # first frame decoded and yielded (a shot's start when a split shot warms up from it)
    end: int | None  # one past the last frame; None: to the end of the file
    first_pts: int | None = None  # restored pts of frame ``first`` (None: no seeking, decode from the start)
    seek_pts: int | None = None  # where to seek (a few frames before ``first``, so the pts window is full)


class DecodeStage:
    def __init__(
        self,
        source: Path,
        info: VideoInfo,
        fmt: PlanarFormat,
        plan: ReferencePlan,
        span: FrameRange | None = None,
        window: FrameWindow | None = None,
    ) -> None:
        if window and span is None:  # seek a few frames early so that the restored timestamps are settled
            # a held stretch is coloured from its start to its end (ReferencePlan.lead, .tail): decode all of it
            first, end = plan.lead(window.first), plan.tail(window.end)
            at = frame_pts(info, first)
            if window.first_seconds is not None:  # the frame's own time (variable frame rate)
                at = pts_at(info, window.first_seconds) if first == window.first else None  # else: count from 0
            lead = None if at is None else at - (frame_pts(info, 8) - info.start_pts)
            span = FrameRange(first, end, at, lead)
        self.source, self.info, self.fmt, self.plan, self.span, self.window = source, info, fmt, plan, span, window
        self.window_pts: tuple[int, int] | None = None  # a window's (first pts, end pts) as decoded
        self.decoded = 0  # frames the decoder produced (a seek skips most of the film)
        self.cuts: list[int] = []  # frames where the inline detector found a cut
        self.stopped_early: str | None = None  # why decoding ended before the end of the file
        self.repaired_pts = False  # some timestamp was missing or out of reach and had to be made up
        self.seeked = False  # a FrameRange was reached by seeking (else by decoding from the start)

    @property
    def first(self) -> int:
        return self.window.first if self.window else 0

    @property
    def total(self) -> int:
        return self.window.frames if self.window else self.info.frames

    @property
    def window_seconds(self) -> tuple[float, float] | None:
        """A window's (start, end) seconds in the source's clock: as decoded once its frames came, else as planned."""
        if not self.window:
            return None
        if self.window_pts:
            return float(self.window_pts[0] * self.info.time_base), float(self.window_pts[1] * self.info.time_base)
        return span_seconds(self.info, self.window.first, self.window.end)

    def frames(self, stop: threading.Event) -> Iterator[tuple]:
        """Every frame in display order until the end, a decoding error (``stopped_early`` says where) or ``stop``;
        with a FrameRange, only its frames."""
        span = self.span
        if span and span.first_pts is not None and span.first > 0:
            found = yield from self._frames(stop, seek=True)
            if found:
                return
        yield from self._frames(stop, seek=False)

    def _frames(self, stop: threading.Event, seek: bool) -> Iterator[tuple]:
        """Returns False when seeking did not land on the range's first frame (nothing was yielded then)."""
        from vidcolor.shots.detect import make_detector

        plan, info = self.plan, self.info
        detector = make_detector(plan.detector, plan.threshold) if plan.detector else None
        to_gray = gray_table(self.fmt) if detector or plan.candidates else None
        container = open_video(self.source)
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.thread_count = DECODE_THREADS
        failure: list[BaseException] = []
        span = self.span
        first, end = (span.first, span.end) if span else (0, None)
        if seek:
            container.seek(span.seek_pts if span.seek_pts is not None else span.first_pts, stream=stream)

        def decoded():
            try:
                for frame in container.decode(stream):
                    if stop.is_set():
                        return
                    self.decoded += 1
                    yield frame.pts, frame_luma(frame, self.fmt)
            except av.error.FFmpegError as exc:
                failure.append(exc)

        def repaired() -> None:
            self.repaired_pts = True

        step = frame_step(info)
        source = decoded()
        timed = restore_pts(source, step, on_repair=repaired)
        try:
            index, shot, shot_first, origin, last_pts = (None if seek else 0), -1, None, None, None
            for pts, luma in timed:
                if stop.is_set():
                    return True
                if index is None:  # seeking: find the range's first frame by its time
                    if pts < span.first_pts:
                        continue
                    if pts != span.first_pts:
                        return False
                    index, self.seeked = first, True
                if end is not None and index >= end:
                    return True
                if index < first:
                    index += 1
                    continue
                if luma.shape != (info.height, info.width):
                    size = f"{info.width}x{info.height} -> {luma.shape[1]}x{luma.shape[0]}"
                    raise VidcolorError(
                        f"{self.source}: the picture size changes at frame {index} ({size}), which is not "
                        "supported: cut the video there and colorize the parts separately"
                    )
                gray = to_gray[luma] if to_gray is not None else None
                number = (shot + 1 if detector.update(gray) or shot < 0 else shot) if detector else plan.index_of(index)
                if number != shot:
                    shot, shot_first = number, gray
                    if detector and index > self.first:
                        self.cuts.append(index)
                if self.window and self.window.first <= index < self.window.end:
                    origin = pts if origin is None else origin
                    self.window_pts = (origin, pts + step)
                if self.window:  # the preview starts at time 0 (frames decoded before it only colour a stretch)
                    pts -= origin if origin is not None else pts
                last_pts = pts
                yield index, pts, luma, shot, shot_first
                index += 1
            if index is None:
                return False
            if failure:
                self.stopped_early = (
                    f"decoding stopped at frame {index} ({failure[0].__class__.__name__}): file damaged?"
                )
            elif end is None and not stop.is_set():
                self.stopped_early = ends_short(info, index, last_pts)
            return True
        finally:
            timed.close()  # the generators let go of the decoder before its container closes
            source.close()
            container.close()
