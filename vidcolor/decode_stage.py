"""The decoder thread of `vidcolor run`: the source's frames as luma planes, with their true times and shot numbers.

Each frame comes out as (index, pts, luma, shot number, first gray of that shot or None). Timestamps are the
source's even where the decoder hands them out of order (io/timestamps.py). Shots come from the plan, or from the
cut detector run on every frame (skipped ones too, so a resumed run numbers shots the same way). Gray (full-range
8-bit, from the luma by table) is made only where a detector or reference matching needs it. Torch-free.

A ``window`` (``run --start/--duration``) seeks to the keyframe before its first frame instead of decoding from the
start, keeps its frames only (numbered as in the whole film), and shifts their timestamps so that the segment's
first frame is at time 0, as ffmpeg's ``-ss``/``-t`` do; ``span`` records the segment's (start, end) timestamps
in the source so that the audio can be cut to match.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import av

from vidcolor.errors import VidcolorError
from vidcolor.io.media import VideoInfo, open_video
from vidcolor.io.seek import frame_pts, half_frame, seek_frames, span_seconds
from vidcolor.io.timestamps import restore_pts
from vidcolor.io.yuv import PlanarFormat, frame_luma, gray_table
from vidcolor.refs import ReferencePlan
from vidcolor.timerange import FrameWindow


class DecodeStage:
    def __init__(
        self, source: Path, info: VideoInfo, fmt: PlanarFormat, plan: ReferencePlan, window: FrameWindow | None = None
    ) -> None:
        self.source, self.info, self.fmt, self.plan, self.window = source, info, fmt, plan, window
        self.cuts: list[int] = []  # frames where the inline detector found a cut
        self.stopped_early: str | None = None  # why decoding ended before the end of the file
        self.span: tuple[int, int] | None = None  # a window's (first pts, end pts) in the source's time base
        self.decoded = 0  # frames the decoder produced (a window's seek skips most of the film)

    @property
    def first(self) -> int:
        return self.window.first if self.window else 0

    @property
    def total(self) -> int:
        return self.window.frames if self.window else self.info.frames

    @property
    def span_seconds(self) -> tuple[float, float] | None:
        """A window's (start, end) seconds in the source's clock: as decoded once its frames came, else as planned."""
        if not self.window:
            return None
        if self.span:
            return float(self.span[0] * self.info.time_base), float(self.span[1] * self.info.time_base)
        return span_seconds(self.info, self.window.first, self.window.end)

    def frames(self, stop: threading.Event) -> Iterator[tuple]:
        """Every frame in display order until the end, a decoding error (``stopped_early`` says where) or ``stop``."""
        from vidcolor.shots.detect import make_detector

        plan, info = self.plan, self.info
        detector = make_detector(plan.detector, plan.threshold) if plan.detector else None
        to_gray = gray_table(self.fmt) if detector or plan.candidates else None
        container = open_video(self.source)
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        failure: list[BaseException] = []

        window, step = self.window, round(1 / (info.rate * info.time_base)) if info.rate else 1
        target = frame_pts(info, window.first) - half_frame(info) if window else None

        def decoded():
            try:
                frames = seek_frames(container, stream, info, window.first) if window else container.decode(stream)
                for frame in frames:
                    if stop.is_set():
                        return
                    self.decoded += 1
                    if target is not None and frame.pts is not None and frame.pts < target:
                        continue  # between the keyframe and the segment
                    yield frame.pts, frame_luma(frame, self.fmt)
            except av.error.FFmpegError as exc:
                failure.append(exc)

        source = decoded()
        timed = restore_pts(source, step)
        try:
            index, shot, shot_first, origin = self.first, -1, None, None
            for pts, luma in timed:
                if stop.is_set():
                    return
                if window:
                    if index >= window.end:
                        break
                    origin = pts if origin is None else origin
                    self.span = (origin, pts + step)
                    pts -= origin  # the segment starts at time 0
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
                yield index, pts, luma, shot, shot_first
                index += 1
            if failure:
                self.stopped_early = (
                    f"decoding stopped at frame {index} ({failure[0].__class__.__name__}): file damaged?"
                )
        finally:
            timed.close()  # the generators let go of the decoder before its container closes
            source.close()
            container.close()
