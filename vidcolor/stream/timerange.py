"""Times people type (``--start``, ``--duration``, ``image --frame``) and the frame range they select. Torch-free:
every check here runs before torch is imported.

A time is seconds (``90``, ``12.5``), a timecode (``1:30``, ``01:02:03.5``) or a frame number (``240f``). Frames
count from 0. A time in seconds selects the first frame shown at or after it, as ffmpeg's ``-ss`` does: found among
the frames' own times where they are given (``times``: variable frame rate), else at the film's average rate
(exact for constant frame rate). A segment is the half-open frame range [first, first + frames); a duration that
runs past the end stops at the end, as ffmpeg's ``-t`` does.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from vidcolor.errors import VidcolorError

_TIMECODE = re.compile(r"^(?:(\d+):)?(\d+):(\d+(?:\.\d*)?)$")


@dataclass(frozen=True)
class TimeSpec:
    """A typed time: ``frame`` when given as a frame number, else ``seconds``."""

    text: str
    seconds: float = 0.0
    frame: int | None = None

    def to_frames(self, rate: Fraction, times: Sequence[float] | None = None) -> int:
        """The time as a frame index: the first frame at or after it among ``times`` (each frame's seconds from
        the first; a frame within a microsecond counts as at it), else at ``rate`` (frames per second)."""
        if self.frame is not None:
            return self.frame
        if times is not None:
            return bisect.bisect_left(times, self.seconds - 1e-6)
        return round(self.seconds * float(rate))


def parse_time(text: str, option: str) -> TimeSpec:
    """``90``, ``12.5``, ``1:30``, ``01:02:03.5`` or ``240f`` -> TimeSpec; anything else (negative, NaN, garbage)
    is one clear error naming ``option``."""
    raw = str(text).strip()
    low = raw.lower()
    try:
        if low.endswith("f"):
            frame = int(low[:-1])
            if frame < 0:
                raise ValueError
            return TimeSpec(raw, frame=frame)
        m = _TIMECODE.match(low)
        if m:
            h, mi, s = int(m.group(1) or 0), int(m.group(2)), float(m.group(3))
            if mi >= 60 and m.group(1) or s >= 60:
                raise ValueError
            return TimeSpec(raw, seconds=3600 * h + 60 * mi + s)
        seconds = float(low)
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError
        return TimeSpec(raw, seconds=seconds)
    except ValueError:
        pass
    if low.startswith("-"):
        raise VidcolorError(f"{option} {raw}: a time cannot be negative")
    raise VidcolorError(f"{option} {raw}: not a time (use seconds like 12.5, a timecode like 01:02:03.5, or 240f)")


@dataclass(frozen=True)
class FrameWindow:
    """Frames [first, first + frames) of a film, selected with ``--start``/``--duration``; ``first_seconds``: the
    first frame's own time from the film's first (where the frames' times were read: variable frame rate)."""

    first: int
    frames: int
    first_seconds: float | None = None

    @property
    def end(self) -> int:
        return self.first + self.frames


def _fmt(frames: int, rate: Fraction) -> str:
    return _clock(float(frames / rate) if rate else 0.0)


def _clock(seconds: float) -> str:
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{int(h):02d}:{int(m):02d}:{s:06.3f}"


def resolve_window(
    source: str,
    total: int,
    rate: Fraction,
    start: TimeSpec | None,
    duration: TimeSpec | None,
    start_option: str = "--start",
    times: Sequence[float] | None = None,
) -> FrameWindow | None:
    """The frame range of ``--start``/``--duration`` on a film of ``total`` frames; None when neither is given.
    ``times``: each frame's seconds from the first (``io.seek.display_pts``), at least up to the range's end.
    A start at or past the end and an empty duration are errors naming the film and its length."""
    if start is None and duration is None:
        return None
    first = start.to_frames(rate, times) if start else 0
    if first >= total or (times is not None and first >= len(times) and start.frame is None):
        raise VidcolorError(
            f"{source}: {start_option} {start.text} is past the end of the video ({_fmt(total, rate)}, {total} frames)"
        )
    if duration and duration.frame is None and times is not None:  # frames shown before start + duration
        begin = start.seconds if start and start.frame is None else (times[first] if first < len(times) else 0.0)
        count = bisect.bisect_left(times, begin + duration.seconds - 1e-6) - first
    else:
        count = duration.to_frames(rate) if duration else total - first
    if count < 1:
        raise VidcolorError(f"{source}: --duration {duration.text} selects no frame (at {float(rate):.3f} fps)")
    at = times[first] if times is not None and first < len(times) else None
    return FrameWindow(first, min(count, total - first), at)


def frame_label(window: FrameWindow, rate: Fraction, times: Sequence[float] | None = None) -> str:
    """``frames 240..480 (00:00:10.000-00:00:20.000)`` for messages (``times``: the frames' own, where known)."""
    if times is not None and window.end < len(times):
        return f"frames {window.first}..{window.end} ({_clock(times[window.first])}-{_clock(times[window.end])})"
    return f"frames {window.first}..{window.end} ({_fmt(window.first, rate)}-{_fmt(window.end, rate)})"
