"""Going to a frame without decoding the film up to it: seek to the keyframe before it, decode from there.

Frame numbers map to timestamps at the average rate (``VideoInfo.start_pts`` is frame 0), exact for constant
frame rate; for variable frame rate the frames' own times are read from the packets (``frame_seconds``). A seek
lands on a keyframe at or before the target; where the container indexes decoding times (B-frames) that keyframe
can show after the target, so a seek that overshoots is retried further back.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import av

from vidcolor.io.media import VideoInfo, open_video

BACKOFF = (0.0, 1.0, 5.0, 30.0)  # seconds before the target tried in turn; then the start of the file


def frame_pts(info: VideoInfo, index: int) -> int:
    """Timestamp (stream time base) of frame ``index`` at the average rate."""
    return info.start_pts + round(index / (info.rate * info.time_base))


def pts_at(info: VideoInfo, seconds: float) -> int:
    """The timestamp (stream time base) ``seconds`` after the first frame's (``frame_seconds``' times back)."""
    return info.start_pts + round(seconds / info.time_base)


def half_frame(info: VideoInfo) -> int:
    return max(1, round(1 / (2 * info.rate * info.time_base)))


def seek_frames(container, stream, info: VideoInfo, index: int, target: int | None = None) -> Iterator[av.VideoFrame]:
    """Decoded frames from the keyframe before frame ``index`` (timestamp ``target``; default: at the average
    rate) on, in display order (a generator)."""
    target = frame_pts(info, index) if target is None else target
    for back in (*BACKOFF, None):
        if back is None or target - round(back / info.time_base) <= info.start_pts:
            container.seek(0, backward=True)  # from the start of the file
            yield from container.decode(stream)
            return
        container.seek(target - round(back / info.time_base), stream=stream, backward=True)
        frames = container.decode(stream)
        first = next(frames, None)
        if first is None:
            continue
        if first.pts is not None and first.pts > target + half_frame(info):
            continue  # landed after the target: further back
        yield first
        yield from frames
        return


def frames_at(
    path: str | os.PathLike,
    info: VideoInfo,
    indices: list[int],
    convert: Callable[[av.VideoFrame], object],
    pts: list[int] | None = None,
) -> Iterator[tuple[int, object]]:
    """(index, convert(frame)) for each frame index, one seek each (ascending indices decode nothing twice when
    they share a keyframe interval, but each still seeks). Indices past the end are skipped. ``pts``: each frame's
    own timestamp where known (``display_pts``: variable frame rate), else found at the average rate."""
    container = open_video(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        half = half_frame(info)
        for n, index in enumerate(indices):
            target = pts[n] if pts is not None else frame_pts(info, index)
            for frame in seek_frames(container, stream, info, index, target):
                if frame.pts is None or frame.pts >= target - half:
                    yield index, convert(frame)
                    break
    finally:
        container.close()


def span_seconds(info: VideoInfo, first: int, end: int) -> tuple[float, float]:
    """(start, end) seconds in the source's clock of frames [first, end) at the average rate."""
    return float(frame_pts(info, first) * info.time_base), float(frame_pts(info, end) * info.time_base)


def display_pts(path, start_pts: int, time_base, until: float | None = None) -> list[int] | None:
    """The video packets' timestamps in display order (no decoding), from the first frame's (``start_pts``; frames
    an edit list hides before it are left out), read up to ``until`` seconds after it plus a reordering margin
    (None: all). Frame i of the film shows at ``(pts[i] - start_pts) * time_base``: exact for variable frame rate,
    where counting at the average rate lands elsewhere. None when a packet has no timestamp (AVI's frame numbers
    and the average rate then say the same)."""
    stamps: list[int] = []
    margin = 5.0  # seconds: decode order strays from display order by a few frames only
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for packet in container.demux(stream):
            if not packet.size:
                continue
            if packet.pts is None:
                return None
            if packet.pts >= start_pts:
                stamps.append(packet.pts)
            if until is not None and float((packet.pts - start_pts) * time_base) > until + margin:
                break
    return sorted(stamps)


def on_rate_grid(info: VideoInfo, seconds: float, packets: int = 48) -> bool:
    """Whether the frames from ``seconds`` on (one seek, ``packets`` packets read) sit where the average rate puts
    them, to a tick, one step apart: a constant frame rate, where frame numbers and times map by the rate alone."""
    step = 1 / (info.rate * info.time_base)  # ticks per frame
    target = pts_at(info, seconds)
    stamps = []
    with av.open(str(info.path)) as container:
        stream = container.streams.video[0]
        container.seek(max(info.start_pts, target - round(1 / info.time_base)), stream=stream, backward=True)
        for packet in container.demux(stream):
            if packet.size and packet.pts is not None:
                stamps.append(packet.pts)
            if len(stamps) >= packets:
                break
    stamps.sort()
    settled = stamps[:-8] if len(stamps) > 16 else stamps  # the tail's reordered frames may not all be in yet
    steps = [b - a for a, b in zip(settled, settled[1:], strict=False)]
    on_grid = all(abs(k - round(k)) * step <= 1 for k in ((p - info.start_pts) / step for p in stamps))
    return on_grid and all(abs(d - step) <= 1 for d in steps)


def frame_seconds(info: VideoInfo, *specs) -> list[float] | None:
    """The frames' own times (seconds from the first) far enough for ``specs`` (timerange.TimeSpec or None), where
    the frames are off the average rate's grid (variable frame rate); None where the rate alone maps times and frame
    numbers (constant frame rate: one seek checks it), for AVI (constant rate by design), without packet
    timestamps, or when no spec is given."""
    given = [s for s in specs if s is not None]
    if not given or info.format == "avi":
        return None
    near = sum(s.seconds if s.frame is None else float(s.frame / info.rate) for s in given[:1])
    if on_rate_grid(info, near):
        return None
    seconds = [s.seconds for s in given if s.frame is None]
    until = sum(seconds) if len(seconds) == len(given) else None  # a frame number: all of them
    pts = display_pts(info.path, info.start_pts, info.time_base, until)
    return None if pts is None else [float((p - info.start_pts) * info.time_base) for p in pts]
