"""Planar Y'CbCr in and out with PyAV and numpy (no torch): the source's luma plane, the output's pixel format,
frames built from planes, and the RGB a player would show.

The output keeps the source's luma plane untouched, so its depth and range follow the source: 8-bit sources give
8-bit output; 10- and 12-bit sources give 10-bit output where the codec takes it (12-bit luma is rounded to 10 bits,
and to 8 bits for codecs without 10-bit input). Even sizes are 4:2:0, odd sizes 4:4:4 (4:2:0 needs even sizes).
"""

from __future__ import annotations

from dataclasses import dataclass

import av
import numpy as np

from vidcolor.io.media import FULL, LIMITED, Y8_FORMATS, Y16_FORMATS, VideoInfo

# AVColorSpace with a plain Y'CbCr matrix (709, 601 as 470BG / 170M, 240M, 2020 NCL) -> swscale's matrix number
SWS_COLORSPACES = {1: 1, 4: 4, 5: 5, 6: 5, 7: 7, 9: 9, 10: 9}
GRAY_FORMATS = {"gray", "gray10le", "gray12le"}


@dataclass(frozen=True)
class PlanarFormat:
    """What the encoder receives: planar Y'CbCr of ``bits`` bits, ``subsampling`` 2 (4:2:0) or 1 (4:4:4)."""

    width: int
    height: int
    bits: int
    full_range: bool
    colorspace: int  # AVColorSpace of the matrix (tagged on the output too)
    subsampling: int
    source_bits: int

    @property
    def pix_fmt(self) -> str:
        return ("yuv420p" if self.subsampling == 2 else "yuv444p") + ("10le" if self.bits == 10 else "")

    @property
    def color_range(self) -> int:
        return FULL if self.full_range else LIMITED

    @property
    def dtype(self) -> type:
        return np.uint8 if self.bits == 8 else np.uint16

    @property
    def chroma_shape(self) -> tuple[int, int]:
        s = self.subsampling
        return (self.height + s - 1) // s, (self.width + s - 1) // s


def source_bits(pix_fmt: str) -> int:
    if pix_fmt in Y16_FORMATS:
        return 12 if "12" in pix_fmt else 10
    return 8


def source_full_range(info: VideoInfo) -> bool:
    """Whether the source's luma codes use the full range (JPEG-style yuvj*, gray formats, or tagged so)."""
    return info.pix_fmt.startswith("yuvj") or info.pix_fmt in GRAY_FORMATS or info.color_range == FULL


def codec_formats(codec: str) -> set[str]:
    try:
        return {f.name for f in av.Codec(codec, "w").video_formats or ()}
    except (av.error.FFmpegError, ValueError):
        return set()


def plan_planar(info: VideoInfo, codec: str) -> PlanarFormat:
    """The output's planar format for a source: its luma depth and range, a plain matrix (the source's, else
    BT.709 for HD and BT.601 for SD), 4:2:0 unless a side is odd."""
    bits_in = source_bits(info.pix_fmt)
    sub = 2 if info.width % 2 == 0 and info.height % 2 == 0 else 1
    ten = ("yuv420p10le" if sub == 2 else "yuv444p10le") in codec_formats(codec)
    space = info.colorspace if info.colorspace in SWS_COLORSPACES else (1 if info.height >= 720 else 6)
    bits = 10 if bits_in > 8 and ten else 8
    return PlanarFormat(info.width, info.height, bits, source_full_range(info), space, sub, bits_in)


def _plane(frame: av.VideoFrame, index: int, dtype) -> np.ndarray:
    plane = frame.planes[index]
    item = np.dtype(dtype).itemsize
    return np.frombuffer(plane, dtype).reshape(plane.height, plane.line_size // item)[:, : plane.width]


def _reformat(frame: av.VideoFrame, fmt: PlanarFormat) -> av.VideoFrame:
    return frame.reformat(
        format=fmt.pix_fmt, dst_colorspace=SWS_COLORSPACES[fmt.colorspace], dst_color_range=fmt.color_range
    )


def frame_luma(frame: av.VideoFrame, fmt: PlanarFormat) -> np.ndarray:
    """(H, W) luma codes of the output's depth (uint8 or uint16), copied out of a decoded frame.

    YUV and gray sources: their own Y plane (bit for bit when the depths agree). Other sources (RGB, palette):
    luma computed by swscale with the output's matrix and range."""
    name = frame.format.name
    if name in Y8_FORMATS or name in Y16_FORMATS:
        bits = source_bits(name)
        y = _plane(frame, 0, np.uint8 if bits == 8 else "<u2")
        if name == "p010le":
            y = y >> 6  # p010 keeps its 10 bits in the high end of each 16-bit word
        if bits > fmt.bits:
            shift = bits - fmt.bits
            y = np.minimum((y.astype(np.uint32) + (1 << (shift - 1))) >> shift, (1 << fmt.bits) - 1)
        return np.ascontiguousarray(y, dtype=fmt.dtype)
    return np.ascontiguousarray(_plane(_reformat(frame, fmt), 0, fmt.dtype))


def gray_table(fmt: PlanarFormat) -> np.ndarray:
    """(2^bits,) uint8: full-range 8-bit gray of each luma code (for cut detection and reference matching)."""
    codes = np.arange(1 << fmt.bits, dtype=np.float64)
    if fmt.full_range:
        unit = codes / ((1 << fmt.bits) - 1)
    else:
        k = 1 << (fmt.bits - 8)
        unit = (codes - 16 * k) / (219 * k)
    return np.clip(unit * 255 + 0.5, 0, 255).astype(np.uint8)


def planar_frame(luma: np.ndarray, chroma: np.ndarray, fmt: PlanarFormat) -> av.VideoFrame:
    """luma (H, W) and chroma (2, h, w) codes -> a VideoFrame of ``fmt.pix_fmt`` tagged with its matrix and range."""
    h, w = fmt.height, fmt.width
    if luma.shape != (h, w) or chroma.shape != (2, *fmt.chroma_shape):
        raise ValueError(f"planes {luma.shape} + {chroma.shape} do not make a {w}x{h} {fmt.pix_fmt} frame")
    frame = av.VideoFrame(w, h, fmt.pix_fmt)  # each plane written once, straight into the frame's buffers
    dtype = np.uint8 if fmt.bits == 8 else "<u2"
    for i, plane in enumerate((luma, chroma[0], chroma[1])):
        _plane(frame, i, dtype)[:] = plane
    frame.colorspace, frame.color_range = fmt.colorspace, fmt.color_range
    return frame


def planar_to_rgb(luma: np.ndarray, chroma: np.ndarray, fmt: PlanarFormat) -> np.ndarray:
    """(H, W, 3) uint8 RGB as a player shows the planes (swscale: the frame's matrix and range, chroma upsampled)."""
    return planar_frame(luma, chroma, fmt).to_ndarray(format="rgb24")


def rgb_to_planar(rgb: np.ndarray, fmt: PlanarFormat) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 3) uint8 RGB -> (luma (H, W), chroma (2, h, w)) codes of ``fmt`` (swscale), e.g. a colour video's
    own planes to score the passthrough path against."""
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
    planar = _reformat(frame, fmt)
    dtype = fmt.dtype if fmt.bits == 8 else "<u2"
    planes = [np.array(_plane(planar, i, dtype), dtype=fmt.dtype) for i in range(3)]
    return planes[0], np.stack(planes[1:])
