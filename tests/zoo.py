"""Synthetic equivalents of real-world files that broke things: packed-B-frame DivX AVI, odd audio timestamps."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

DIVX_USER_DATA = b"\x00\x00\x01\xb2DivX503b1393p"  # 'p': packed bitstream, as DivX 5 / Xvid write in AVI
VOP = b"\x00\x00\x01\xb6"


def gradient(i: int, width: int, height: int) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    g = ((x * 3 + y * 2 + 9 * i) % 256).astype(np.uint8)
    return np.stack([g] * 3, -1)


def _n_vop(time: int, rate: int) -> bytes:
    """A not-coded P-VOP (the placeholder DivX writes in the packet after a packed P+B pair)."""
    bits = max(1, (rate - 1).bit_length())
    s = "01" + "0" + "1" + format(time % rate, f"0{bits}b") + "1" + "0"  # type P, time, markers, vop_coded=0
    s += "0" + "1" * ((8 - (len(s) + 1) % 8) % 8)  # stuffing to the byte
    return VOP + int(s, 2).to_bytes(len(s) // 8, "big")


def _mpeg4_packets(frames: int, width: int, height: int, rate: int) -> tuple[list[av.Packet], bytes]:
    enc = av.CodecContext.create("mpeg4", "w")
    enc.width, enc.height, enc.pix_fmt = width, height, "yuv420p"
    enc.time_base, enc.framerate = Fraction(1, rate), rate
    enc.options = {"bf": "1"}
    enc.open()
    packets = []
    for i in range(frames):
        frame = av.VideoFrame.from_ndarray(gradient(i, width, height), format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        packets += enc.encode(frame)
    packets += enc.encode(None)
    return packets, bytes(enc.extradata or b"")


def make_packed_avi(
    path: Path, frames: int = 20, width: int = 64, height: int = 48, rate: int = 24, audio: str | None = None
) -> Path:
    """MPEG-4 Part 2 with one B-frame, packed as DivX does (P+B in one packet, then an N-VOP), in AVI.

    FFmpeg's decoder returns these frames in display order with shuffled pts (1, 3, 2, 5, 4, ...)."""
    packets, extradata = _mpeg4_packets(frames, width, height, rate)
    payloads, i = [], 0
    while i < len(packets):
        data = bytes(packets[i])
        if i == 0:
            k = data.index(VOP)
            data = data[:k] + DIVX_USER_DATA + data[k:]
        if i + 1 < len(packets) and packets[i + 1].pts < packets[i].pts:  # P followed by its B: pack them
            payloads += [data + bytes(packets[i + 1]), _n_vop(packets[i].pts, rate)]
            i += 2
        else:
            payloads.append(data)
            i += 1
    with av.open(str(path), "w", format="avi") as out:
        v = out.add_stream("mpeg4", rate=rate)
        v.width, v.height, v.pix_fmt = width, height, "yuv420p"
        v.codec_context.extradata = extradata
        v.time_base = Fraction(1, rate)
        a = _audio_stream(out, audio) if audio else None
        for k, data in enumerate(payloads):
            packet = av.Packet(data)
            packet.stream, packet.pts, packet.dts, packet.time_base = v, k, k, Fraction(1, rate)
            packet.is_keyframe = k == 0
            out.mux(packet)
        if a is not None:
            for p in _encode_tone(a, frames / rate):
                out.mux(p)
    return path


def _audio_stream(out, codec: str, rate: int = 48000):
    a = out.add_stream(codec, rate=rate)
    a.layout = "stereo" if codec == "ac3" else "mono"
    return a


def _encode_tone(stream, seconds: float) -> list[av.Packet]:
    cc = stream.codec_context
    rate, channels = cc.sample_rate, cc.layout.nb_channels
    t = np.arange(int(rate * seconds)) / rate
    samples = np.repeat((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None], channels, 0)
    frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout=cc.layout.name)
    frame.sample_rate, frame.pts = rate, 0
    return list(stream.encode(frame)) + list(stream.encode(None))


def decoded_pts(path: Path) -> list[int]:
    """The pts the decoder gives, in the order it gives them."""
    with av.open(str(path)) as c:
        return [f.pts for f in c.decode(c.streams.video[0])]
