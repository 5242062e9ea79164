"""The video encoder: its settings, the checks before any work, and the chunk files it writes.

``EncodeSettings`` holds the codec, crf and preset (``--codec auto``: ``resolve_codec``); ``check_encoder`` says,
before any frame is computed, each way they cannot work. ``ChunkWriter`` encodes planar Y'CbCr frames into chunk
files inside a work folder (MP4: exact integer time bases, the encoder's negative start dts kept through edit
lists), so a crash loses at most one chunk; io.assemble muxes the chunks with the source's other streams.
"""

from __future__ import annotations

import gc
import io
import os
import sys
import tempfile
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vidcolor.errors import VidcolorError
from vidcolor.io.media import VideoInfo
from vidcolor.io.yuv import PlanarFormat, planar_frame

OUTPUT_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm"}


NVENC_PRESETS = {
    "ultrafast": "p1",
    "superfast": "p1",
    "veryfast": "p2",
    "faster": "p3",
    "fast": "p4",
    "medium": "p5",
    "slow": "p6",
    "slower": "p7",
    "veryslow": "p7",
}
AUTO_CANDIDATES = ("h264_nvenc",)  # tried in turn by --codec auto; libx264 when none opens


@dataclass(frozen=True)
class EncodeSettings:
    codec: str = "libx264"
    crf: int = 18
    preset: str = "medium"

    def options(self) -> dict[str, str]:
        """Encoder options; crf 0 means lossless (x264: qp 0, the only lossless mode at 10 bits)."""
        if self.codec.endswith("_nvenc"):
            quality = {"tune": "lossless"} if self.crf == 0 else {"rc": "vbr", "cq": str(self.crf)}
            return {"preset": NVENC_PRESETS.get(self.preset, self.preset), **quality}
        if self.crf == 0 and self.codec == "libx264":
            return {"qp": "0", "preset": self.preset}
        if self.crf == 0 and self.codec == "libx265":
            return {"preset": self.preset, "x265-params": "lossless=1:log-level=error"}
        if self.codec == "libx265":  # x265 logs on stderr itself (not through FFmpeg): keep it to errors
            return {"crf": str(self.crf), "preset": self.preset, "x265-params": "log-level=error"}
        return {"crf": str(self.crf), "preset": self.preset}


def encoder_opens(codec: str) -> bool:
    """Whether ``codec`` opens on this machine (hardware encoders fail here without their device)."""
    try:
        _open(codec, {})
    except (av.error.FFmpegError, ValueError, OSError):
        return False
    return True


CRF_MAX = {"libx264": 51, "libx265": 51, "libvpx-vp9": 63, "libaom-av1": 63, "libsvtav1": 63}


def _open(codec: str, options: dict[str, str]) -> None:
    """Open ``codec`` with ``options`` on a small frame (raises what FFmpeg raises)."""
    cc = av.CodecContext.create(codec, "w")
    cc.width, cc.height, cc.pix_fmt, cc.time_base = 256, 256, "yuv420p", Fraction(1, 25)  # above NVENC's minimum
    cc.options = options
    cc.open()


def _header(codec: str, fmt: str) -> None:
    """An in-memory ``fmt`` file with a ``codec`` video stream, up to its header (where a muxer refuses a codec)."""
    with av.open(io.BytesIO(), "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = 256, 256, "yuv420p"
        stream.codec_context.time_base = stream.time_base = Fraction(1, 25)
        container.start_encoding()


def _fails(trial, *args) -> str | None:
    """None when ``trial(*args)`` works, else what went wrong, in the encoder's own words where it printed any: the
    process's stderr is caught meanwhile (encoders such as x264 print their complaints there themselves; with no
    stderr to catch, for instance closed, the trial just runs)."""
    with tempfile.TemporaryFile() as caught:
        if sys.stderr is not None:
            sys.stderr.flush()
        saved = None
        try:
            saved = os.dup(2)
            os.dup2(caught.fileno(), 2)
        except OSError:
            saved = None
        try:
            trial(*args)
            return None
        except (av.error.FFmpegError, ValueError) as exc:
            error = str(exc)  # not the exception: its traceback would keep the encoder alive past the catch
        finally:
            gc.collect()  # the encoder is freed (and x265 says goodbye) while stderr is still caught
            if saved is not None:
                os.dup2(saved, 2)
                os.close(saved)
        caught.seek(0)
        said = [line for line in caught.read().decode(errors="replace").splitlines() if "error" in line.lower()]
    return " ".join((said[-1] if said else error).split())


def check_encoder(settings: EncodeSettings, output: Path | None = None) -> None:
    """Before any work, one line for each way the encoder settings cannot work: an encoder this build lacks or that
    is not a video encoder, a crf outside its range, a preset (or other option) it does not open with, an
    ``output`` container that cannot hold its video. ``--codec auto`` is resolved first (``resolve_codec``)."""
    name = settings.codec
    try:
        codec = av.Codec(name, "w")
    except (av.error.FFmpegError, ValueError):
        raise VidcolorError(f"--codec {name}: no such encoder here (libx264, libx265, libvpx-vp9, ...)") from None
    if codec.type != "video":
        raise VidcolorError(f"--codec {name}: encodes {codec.type}, not video")
    top = CRF_MAX.get(codec.name, 63)
    if not 0 <= settings.crf <= top:
        raise VidcolorError(f"--crf {settings.crf}: {codec.name} takes 0 (lossless) to {top}")
    failed = _fails(_open, name, settings.options())
    if failed:
        raise VidcolorError(f"--codec {name} --preset {settings.preset} --crf {settings.crf}: the encoder does not "
                            f"open with these ({failed})")  # fmt: skip
    if output is not None and _fails(_header, name, output_format(output)):
        fits = "libvpx-vp9" if output.suffix.lower() == ".webm" else "libx264"
        raise VidcolorError(f"{output}: a {output.suffix} file cannot hold {codec.name} video (use --codec {fits}, "
                            "or an .mp4/.mkv output)")  # fmt: skip


def resolve_codec(settings: EncodeSettings) -> tuple[EncodeSettings, str]:
    """``--codec auto``: the first hardware encoder that opens (NVENC), else libx264. Returns the settings to use
    and a note saying which encoder it is and why."""
    if settings.codec != "auto":
        return settings, settings.codec
    for codec in AUTO_CANDIDATES:
        if encoder_opens(codec):
            return replace(settings, codec=codec), f"{codec} (auto)"
    return replace(settings, codec="libx264"), f"libx264 (auto: {', '.join(AUTO_CANDIDATES)} did not open)"


def output_format(path: Path) -> str:
    fmt = OUTPUT_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise VidcolorError(f"{path}: unknown video extension (use {', '.join(sorted(OUTPUT_FORMATS))})")
    return fmt


def _exact_mp4(info: VideoInfo) -> dict[str, str]:
    """MP4/MOV write edit lists in the movie timescale (1000 by default): a non-zero start would round to the
    millisecond. Using the track's own timescale keeps every pts exact."""
    return {"movie_timescale": str(info.time_base.denominator)}


class ChunkWriter:
    """Encodes (pts, luma, chroma) planes into ``chunk-NNNNN.mp4`` files of ``chunk_frames`` frames each."""

    def __init__(
        self, work_dir: Path, info: VideoInfo, settings: EncodeSettings, fmt: PlanarFormat, first_chunk: int = 0
    ) -> None:
        self.work_dir, self.info, self.settings, self.fmt = work_dir, info, settings, fmt
        self.number = first_chunk
        self.container = self.stream = None
        self.frames = 0

    def _open(self) -> None:
        self.tmp = self.work_dir / f".chunk-{self.number:05d}.mp4.tmp"
        self.container = av.open(str(self.tmp), "w", format="mp4", options=_exact_mp4(self.info))
        try:
            s = self.container.add_stream(self.settings.codec, rate=self.info.rate, options=self.settings.options())
        except (av.error.FFmpegError, ValueError) as exc:
            raise VidcolorError(f"--codec {self.settings.codec}: cannot encode with it ({exc})") from None
        s.width, s.height, s.pix_fmt = self.info.width, self.info.height, self.fmt.pix_fmt
        s.codec_context.time_base = self.info.time_base
        s.time_base = self.info.time_base
        cc = s.codec_context
        cc.colorspace, cc.color_range = self.fmt.colorspace, self.fmt.color_range
        if self.info.color_primaries not in (0, 2):
            cc.color_primaries = self.info.color_primaries
        if self.info.color_trc not in (0, 2):
            cc.color_trc = self.info.color_trc
        if self.info.sample_aspect_ratio:
            cc.sample_aspect_ratio = self.info.sample_aspect_ratio
        self.stream = s
        self.frames = 0

    def write(self, pts: int, luma: np.ndarray, chroma: np.ndarray) -> None:
        """luma (H, W) and chroma (2, h, w) codes of the planar format: no conversion on the way to the encoder."""
        try:
            frame = planar_frame(luma, chroma, self.fmt)
        except ValueError as exc:
            raise VidcolorError(f"internal: {exc}") from None
        self.write_frame(pts, frame)

    def write_frame(self, pts: int, frame: av.VideoFrame) -> None:
        """A frame already in the planar format (io.yuv.planar_frame), shown at ``pts``."""
        if self.container is None:
            self._open()
        frame.pts, frame.time_base = pts, self.info.time_base
        for packet in self.stream.encode(frame):
            self.container.mux(packet)
        self.frames += 1

    def close_chunk(self) -> tuple[str, int] | None:
        """Flush and finish the current chunk; returns (file name, frame count), None if it was empty."""
        if self.container is None:
            return None
        for packet in self.stream.encode():
            self.container.mux(packet)
        self.container.close()
        final = self.work_dir / f"chunk-{self.number:05d}.mp4"
        self.tmp.replace(final)
        self.container = self.stream = None
        self.number += 1
        frames, self.frames = self.frames, 0
        return final.name, frames

    def abort(self) -> None:
        if self.container is not None:
            try:
                self.container.close()
            except av.error.FFmpegError:
                pass
            self.tmp.unlink(missing_ok=True)
            self.container = None
