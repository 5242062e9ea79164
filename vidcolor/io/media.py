"""Video input with PyAV: probing, and frames as numpy arrays. No torch here.

Facts this module relies on (PyAV 18.1, FFmpeg 8.1; DESIGN.md 4): decoders return frames in presentation order;
the Y plane of a YUV frame is the luma, so a gray frame needs no RGB round trip; limited-range luma (16..235,
or 64..940 in 10 bit) is expanded to full range 0..255 here, once, so that every later stage sees gray values.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vidcolor.errors import VidcolorError
from vidcolor.io.image import IMAGE_EXTS

Y8_FORMATS = {
    "yuv420p",
    "yuvj420p",
    "yuv422p",
    "yuvj422p",
    "yuv444p",
    "yuvj444p",
    "yuv440p",
    "yuvj440p",
    "nv12",
    "nv21",
    "nv16",
    "gray",
    "yuv411p",
    "yuv410p",
}
Y16_FORMATS = {
    "yuv420p10le",
    "yuv422p10le",
    "yuv444p10le",
    "p010le",
    "gray10le",
    "yuv420p12le",
    "yuv422p12le",
    "yuv444p12le",
    "gray12le",
}
LIMITED, FULL = 1, 2  # AVColorRange: MPEG (limited), JPEG (full)


@dataclass
class StreamInfo:
    index: int
    kind: str  # "audio" or "subtitle"
    codec: str
    language: str | None


@dataclass
class VideoInfo:
    path: Path
    format: str
    width: int
    height: int
    pix_fmt: str
    time_base: Fraction
    rate: Fraction
    frames: int  # exact where the container knows it, else estimated from duration x rate
    frames_exact: bool
    duration: float | None
    colorspace: int
    color_range: int
    color_primaries: int
    color_trc: int
    rotation: int
    sample_aspect_ratio: Fraction | None
    others: list[StreamInfo] = field(default_factory=list)
    start_pts: int = 0  # pts of the first frame (frame numbers count from it)


def open_video(path: str | os.PathLike) -> av.container.InputContainer:
    path = Path(path)
    if not path.exists():
        raise VidcolorError(f"{path}: no such file")
    if path.is_dir():
        raise VidcolorError(f"{path}: is a folder, expected a video file")
    if path.suffix.lower() in IMAGE_EXTS:
        raise VidcolorError(f"{path}: is an image, not a video (for a still: `vidcolor image {path.name}`, no --frame)")
    try:
        container = av.open(str(path))
    except av.error.EOFError:
        raise VidcolorError(f"{path}: empty or cut short, nothing to decode") from None
    except (av.error.FFmpegError, OSError) as exc:
        cut = isinstance(exc, av.error.InvalidDataError) and path.suffix.lower() in (".mp4", ".m4v", ".mov")
        hint = ": cut short or unfinished? (an MP4's index is written last)" if cut else ""
        raise VidcolorError(f"{path}: not a readable video ({exc.__class__.__name__}){hint}") from None
    if not container.streams.video:
        empty = not container.streams
        container.close()
        if empty:  # an MP4 writes its index (the streams) last: a download or recording cut short has none
            raise VidcolorError(f"{path}: no streams at all: cut short or unfinished (an MP4's index comes last)?")
        raise VidcolorError(f"{path}: has no video stream")
    return container


def probe(path: str | os.PathLike) -> VideoInfo:
    """Stream parameters, plus what only a decoded frame tells (colour tags, rotation)."""
    path = Path(path)
    container = open_video(path)
    try:
        vs = container.streams.video[0]
        cc = vs.codec_context
        try:
            first = next(iter(container.decode(vs)), None)
        except av.error.FFmpegError:
            first = None
        if first is None:
            raise VidcolorError(f"{path}: no decodable video frame")
        rate = Fraction(vs.average_rate or vs.guessed_rate or vs.base_rate or 24)
        duration = float(vs.duration * vs.time_base) if vs.duration and vs.time_base else None
        if duration is None and container.duration:
            duration = container.duration / av.time_base
        exact = bool(vs.frames)
        frames = vs.frames if exact else max(1, round((duration or 0) * rate))
        others = [
            StreamInfo(s.index, s.type, s.codec_context.name, s.metadata.get("language"))
            for s in container.streams
            if s.type in ("audio", "subtitle")
        ]
        return VideoInfo(
            path=path,
            format=container.format.name,
            width=first.width,
            height=first.height,
            pix_fmt=first.format.name,
            time_base=Fraction(vs.time_base),
            rate=rate,
            frames=frames,
            frames_exact=exact,
            duration=duration,
            colorspace=int(first.colorspace),
            color_range=int(first.color_range),
            color_primaries=int(first.color_primaries),
            color_trc=int(first.color_trc),
            rotation=int(round(first.rotation or 0)),
            sample_aspect_ratio=Fraction(cc.sample_aspect_ratio) if cc.sample_aspect_ratio else None,
            others=others,
            start_pts=first.pts or 0,
        )
    finally:
        container.close()


def is_full_range(frame: av.VideoFrame) -> bool:
    return frame.color_range == FULL or frame.format.name.startswith("yuvj")


def frame_gray(frame: av.VideoFrame) -> np.ndarray:
    """(H, W) uint8 full-range gray from a decoded frame: the Y plane where there is one, else Rec.601 luma."""
    name = frame.format.name
    w, h = frame.width, frame.height
    if name in Y8_FORMATS or name in Y16_FORMATS:
        plane = frame.planes[0]
        if name in Y8_FORMATS:
            y = np.frombuffer(plane, np.uint8).reshape(h, plane.line_size)[:, :w].astype(np.float32)
        else:
            bits = 12 if "12" in name else 10
            y = np.frombuffer(plane, "<u2").reshape(h, plane.line_size // 2)[:, :w].astype(np.float32)
            if name == "p010le":
                y = y / 64.0  # p010 keeps its 10 bits in the high end of each 16-bit word
            y = y / (1 << (bits - 8))  # now on the 8-bit scale
        if not is_full_range(frame) and name not in ("gray", "gray10le", "gray12le"):
            y = (y - 16.0) * (255.0 / 219.0)
        return np.clip(y + 0.5, 0, 255).astype(np.uint8)
    rgb = frame.to_ndarray(format="rgb24").astype(np.float32)
    return np.clip(rgb @ np.array([0.299, 0.587, 0.114], np.float32) + 0.5, 0, 255).astype(np.uint8)


def iter_rgb_frames(path: str | os.PathLike, max_frames: int | None = None) -> Iterator[np.ndarray]:
    """Decoded frames of the first video stream as (H, W, 3) uint8 RGB copies, in presentation order."""
    container = open_video(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for i, frame in enumerate(container.decode(stream)):
            if max_frames is not None and i >= max_frames:
                break
            yield frame.to_ndarray(format="rgb24").copy()
    except av.error.FFmpegError as exc:
        raise VidcolorError(f"{path}: decoding failed ({exc})") from None
    finally:
        container.close()


def frame_step(info: VideoInfo) -> int:
    """One frame's duration at the average rate, in the stream's time base (at least 1)."""
    return max(1, round(1 / (info.rate * info.time_base))) if info.rate else 1


def ends_short(info: VideoInfo, frames: int, last_pts: int | None) -> str | None:
    """Why a file that decoded without an error still looks cut short: its index lists more frames than came out
    and the last one shown (timestamp ``last_pts``) ends well before the duration the container states (an MP4 cut
    after its index was written, say), else None. Frames an edit list hides at the start do not count: the end is
    what matters."""
    if not info.frames_exact or frames >= info.frames or last_pts is None or not info.duration:
        return None
    step = frame_step(info)
    shown = float((last_pts + step) * info.time_base)
    if shown >= info.duration - max(2 * step * float(info.time_base), 0.02 * info.duration):
        return None
    return (f"the file ends at frame {frames} ({shown:.2f} s) but its index lists {info.frames} frames "
            f"({info.duration:.2f} s): truncated?")  # fmt: skip
