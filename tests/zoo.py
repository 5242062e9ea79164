"""Synthetic equivalents of real-world files that broke things: packed-B-frame DivX AVI, odd audio timestamps."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

DIVX_USER_DATA = b"\x00\x00\x01\xb2DivX503b1393p"  # 'p': packed bitstream, as DivX 5 / Xvid write in AVI
VOP = b"\x00\x00\x01\xb6"
ONSET = 0.1  # seconds of silence at the start of the audio of make_av: where the sound starts shows the sync


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


def delay_avi_audio(path: Path, ticks: int) -> Path:
    """Start the AVI's audio ``ticks`` of its time base late (its stream header's dwStart; FFmpeg writes AC3 with
    one tick per frame: 32 ms at 48 kHz), as AVI editors write an audio delay."""
    data = bytearray(path.read_bytes())
    at = 0
    while data[at : at + 4] != b"auds":
        at = data.index(b"strh", at) + 8
    start = at + 28  # dwStart: after type, handler, flags, priority, language, initial frames, scale and rate
    data[start : start + 4] = ticks.to_bytes(4, "little")
    path.write_bytes(bytes(data))
    return path


def _audio_stream(out, codec: str, rate: int = 48000):
    a = out.add_stream(codec, rate=rate)
    a.layout = "stereo" if codec == "ac3" else "mono"
    return a


def _encode_tone(stream, seconds: float, pitch: float = 440) -> list[av.Packet]:
    cc = stream.codec_context
    rate, channels = cc.sample_rate, cc.layout.nb_channels
    t = np.arange(int(rate * seconds)) / rate
    samples = np.repeat((0.3 * np.sin(2 * np.pi * pitch * t)).astype(np.float32)[None], channels, 0)
    frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout=cc.layout.name)
    frame.sample_rate, frame.pts = rate, 0
    return list(stream.encode(frame)) + list(stream.encode(None))


def decoded_pts(path: Path) -> list[int]:
    """The pts the decoder gives, in the order it gives them."""
    with av.open(str(path)) as c:
        return [f.pts for f in c.decode(c.streams.video[0])]


def make_av(
    path: Path,
    fmt: str,
    vcodec: str,
    acodec: str,
    frames: int = 12,
    audio_start: float = 0.0,
    width: int = 64,
    height: int = 48,
    rate: int = 24,
    sample_rate: int = 48000,
) -> Path:
    """Video + a tone starting ``audio_start`` seconds after the first frame (negative: before it)."""
    with av.open(str(path), "w", format=fmt) as out:
        v = out.add_stream(vcodec, rate=rate)
        v.width, v.height, v.pix_fmt = width, height, "yuv420p"
        strict = {"strict": "experimental"} if acodec == "vorbis" else {}  # FFmpeg's own Vorbis encoder
        a = out.add_stream(acodec, rate=sample_rate, options=strict)
        a.layout = "stereo"
        shift = round(max(0.0, -audio_start) * rate)  # audio before the video: the video starts later
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(gradient(i, width, height), format="rgb24")
            frame.pts, frame.time_base = i + shift, Fraction(1, rate)
            for p in v.encode(frame):
                out.mux(p)
        for p in v.encode(None):
            out.mux(p)
        cc = a.codec_context
        start = round(max(0.0, audio_start) * sample_rate)
        t = np.arange(int(sample_rate * frames / rate)) / sample_rate
        tone = np.repeat((0.3 * np.sin(2 * np.pi * 440 * t) * (t >= ONSET)).astype(np.float32)[None], 2, 0)
        fmt_name = cc.codec.audio_formats[0].name if cc.codec.audio_formats else "fltp"
        step = cc.frame_size or 1024
        for k in range(0, tone.shape[1], step):
            chunk = tone[:, k : k + step]
            if chunk.shape[1] < step and cc.frame_size:
                chunk = np.pad(chunk, ((0, 0), (0, step - chunk.shape[1])))
            frame = _audio_frame(chunk, fmt_name)
            frame.sample_rate, frame.pts, frame.time_base = sample_rate, start + k, Fraction(1, sample_rate)
            for p in a.encode(frame):
                out.mux(p)
        for p in a.encode(None):
            out.mux(p)
    return path


def _audio_frame(planar: np.ndarray, fmt: str) -> av.AudioFrame:
    """(channels, samples) float32 -> an AudioFrame in ``fmt`` (planar or packed, float or int16/32)."""
    data = planar
    if fmt.startswith("s16"):
        data = (planar * 32767).astype(np.int16)
    elif fmt.startswith("s32"):
        data = (planar * 2147483647).astype(np.int32)
    if not fmt.endswith("p"):
        data = data.T.reshape(1, -1)
    return av.AudioFrame.from_ndarray(np.ascontiguousarray(data), format=fmt, layout="stereo")


def av_offset(path: Path) -> Fraction:
    """First video frame time minus first audio sample time, as a player decodes them."""
    with av.open(str(path)) as c:
        v = next(iter(c.decode(c.streams.video[0])))
    with av.open(str(path)) as c:
        a = next(iter(c.decode(c.streams.audio[0])))
    return Fraction(v.pts) * v.time_base - Fraction(a.pts) * a.time_base


def onset_offset(path: Path) -> float:
    """Time from the first video frame to the start of the sound (seconds): lip sync, whatever the container or
    codec does with encoder priming (played or skipped silence)."""
    with av.open(str(path)) as c:
        v = next(iter(c.decode(c.streams.video[0])))
    with av.open(str(path)) as c:
        for frame in c.decode(c.streams.audio[0]):
            data = frame.to_ndarray()
            data = data.reshape(-1, frame.samples) if frame.format.is_planar else data.reshape(frame.samples, -1).T
            loud = np.flatnonzero(np.abs(data).max(0) > 0.05 * _full(frame))
            if loud.size:
                return float(
                    Fraction(frame.pts) * frame.time_base
                    + Fraction(int(loud[0]), frame.sample_rate)
                    - Fraction(v.pts) * v.time_base
                )
    raise AssertionError(f"{path}: no sound")


def _full(frame) -> float:
    return {"s16": 32767.0, "s32": 2147483647.0}.get(frame.format.name.rstrip("p"), 1.0)


def make_multitrack_mp4(path: Path, frames: int = 12, rate: int = 24) -> Path:
    """2 x H.264 + 2 x AAC (eng, fra) + 2 x mov_text (eng, fra) in MP4, like a disc rip with a commentary."""
    from vidcolor.io.subtitles import ASS_HEADER

    with av.open(str(path), "w", format="mp4") as out:
        videos = []
        for width in (64, 32):
            v = out.add_stream("libx264", rate=rate, options={"preset": "ultrafast"})
            v.width, v.height, v.pix_fmt = width, 48, "yuv420p"
            videos.append(v)
        audios, subs = [], []
        for lang in ("eng", "fra"):
            a = out.add_stream("aac", rate=48000)
            a.layout, a.metadata["language"] = "stereo", lang
            audios.append(a)
        for lang in ("eng", "fra"):
            s = out.add_stream("mov_text")
            s.codec_context.subtitle_header = ASS_HEADER
            s.time_base, s.metadata["language"] = Fraction(1, 1000), lang
            subs.append(s)
        for i in range(frames):
            for v in videos:
                frame = av.VideoFrame.from_ndarray(gradient(i, v.width, v.height), format="rgb24")
                frame.pts, frame.time_base = i, Fraction(1, rate)
                for p in v.encode(frame):
                    out.mux(p)
        for v in videos:
            for p in v.encode(None):
                out.mux(p)
        for k, a in enumerate(audios):
            for p in _encode_tone(a, frames / rate, 440 * (k + 1)):
                out.mux(p)
        for k, s in enumerate(subs):
            for n, start in enumerate((50, 250)):
                text = f"{s.metadata['language']} line {n + 1}".encode()
                cue = av.Packet(len(text).to_bytes(2, "big") + text)
                cue.stream, cue.pts, cue.dts, cue.duration = s, start + k, start + k, 150
                cue.time_base = Fraction(1, 1000)
                out.mux(cue)
    return path


def subtitle_cues(path: Path) -> list[list[tuple[str, int, int]]]:
    """Per subtitle track: (text, start ms, duration ms) of each cue, whatever the subtitle format."""
    from vidcolor.io.streams import codec_name
    from vidcolor.io.subtitles import cue_text

    tracks = []
    with av.open(str(path)) as c:
        for s in c.streams.subtitles:
            cues = []
            for p in c.demux(s):
                text = cue_text(codec_name(s), bytes(p)) if p.size else ""
                if text:
                    cues.append((text, round(p.pts * p.time_base * 1000), round(p.duration * p.time_base * 1000)))
            c.seek(0)
            tracks.append(cues)
    return tracks
