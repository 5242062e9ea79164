"""Synthetic test media made with PyAV: tiny frames, a sine audio track, optional VFR, rotation, odd sizes."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def make_video(
    path: Path,
    frames: int = 10,
    width: int = 64,
    height: int = 48,
    fps: int = 24,
    audio: str | None = "aac",
    pts: list[int] | None = None,
    time_base: Fraction | None = None,
    rotation: int = 0,
    colour: bool = False,
    language: str | None = "eng",
) -> Path:
    """Gray (or colour) moving gradient video; ``pts`` in ``time_base`` units give variable frame rate."""
    fmt = {".mkv": "matroska", ".mov": "mov", ".avi": "avi"}.get(path.suffix, "mp4")
    with av.open(str(path), "w", format=fmt) as out:
        v = out.add_stream("libx264", rate=fps, options={"crf": "12", "preset": "ultrafast"})
        v.width, v.height = width, height
        v.pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
        if time_base is not None:
            v.codec_context.time_base = time_base
            v.time_base = time_base
        if rotation:
            v.set_display_rotation(rotation)
        a = None
        if audio:
            a = out.add_stream(audio, rate=16000)
            a.layout = "mono"
            if language:
                a.metadata["language"] = language
        y, x = np.mgrid[0:height, 0:width]
        for i in range(frames):
            g = ((x * 3 + y * 2 + 9 * i) % 256).astype(np.uint8)
            img = np.stack([g, (255 - g), (g // 2 + 60)], -1) if colour else np.stack([g] * 3, -1)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img.astype(np.uint8)), format="rgb24")
            if pts is not None:
                frame.pts, frame.time_base = pts[i], time_base
            for p in v.encode(frame):
                out.mux(p)
        if a is not None:
            seconds = frames / fps
            t = np.arange(int(16000 * seconds)) / 16000
            samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
            sample_fmt = "s16" if audio.startswith("pcm_s16") else "flt" if audio != "aac" else "fltp"
            data = (samples * 32767).astype(np.int16) if sample_fmt == "s16" else samples
            af = av.AudioFrame.from_ndarray(data, format=sample_fmt, layout="mono")
            af.sample_rate, af.pts = 16000, 0
            for p in a.encode(af):
                out.mux(p)
            for p in a.encode(None):
                out.mux(p)
        for p in v.encode(None):
            out.mux(p)
    return path


def frame_times(path: Path) -> list[Fraction]:
    with av.open(str(path)) as c:
        return [Fraction(f.pts) * f.time_base for f in c.decode(c.streams.video[0])]


def frames_rgb(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(c.streams.video[0])]


def audio_payloads(path: Path) -> list[bytes]:
    with av.open(str(path)) as c:
        if not c.streams.audio:
            return []
        return [bytes(p) for p in c.demux(c.streams.audio[0]) if p.size]


def rotation(path: Path) -> int:
    with av.open(str(path)) as c:
        for f in c.decode(c.streams.video[0]):
            return int(round(f.rotation or 0))
    return 0


SRT = "1\n00:00:00,050 --> 00:00:00,200\nHello there\n\n2\n00:00:00,250 --> 00:00:00,400\nSecond line\n"


def add_subtitles(video: Path, dest: Path, language: str = "fra") -> Path:
    """Copy ``video``'s streams into Matroska ``dest`` and add a SubRip track (FFmpeg's .srt demuxer reads SRT)."""
    srt = dest.with_suffix(".srt")
    srt.write_text(SRT)
    with av.open(str(video)) as src, av.open(str(srt)) as subs, av.open(str(dest), "w", format="matroska") as out:
        pairs = [(s, out.add_stream_from_template(s)) for s in src.streams]
        for s, o in pairs:
            o.metadata.update(s.metadata)
        t = out.add_stream_from_template(subs.streams[0])
        t.metadata["language"] = language
        for packet in src.demux():
            if packet.size:
                packet.stream = dict(pairs)[packet.stream]
                out.mux(packet)
        for packet in subs.demux():
            if packet.size:
                packet.stream = t
                out.mux(packet)
    return dest


def subtitle_payloads(path: Path) -> list[bytes]:
    with av.open(str(path)) as c:
        if not c.streams.subtitles:
            return []
        return [bytes(p) for p in c.demux(c.streams.subtitles[0]) if p.size]


def make_planar_video(
    path: Path, frames: int = 6, width: int = 64, height: int = 48, pix_fmt: str = "yuv420p", colorspace: int = 1
) -> Path:
    """Losslessly encoded (x264 qp 0) frames of textured luma and coloured chroma written plane by plane, so the
    decoded planes are exactly what was written (any x264 pixel format: 8/10 bit, 4:2:0/4:4:4, yuvj)."""
    rng = np.random.default_rng(width * height + frames)
    deep = "10" in pix_fmt
    top = 1023 if deep else 255
    y, x = np.mgrid[0:height, 0:width]
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=24, options={"qp": "0", "preset": "ultrafast"})
        s.width, s.height, s.pix_fmt = width, height, pix_fmt
        s.codec_context.colorspace = colorspace
        for i in range(frames):
            frame = av.VideoFrame(width, height, pix_fmt)
            for p, plane in enumerate(frame.planes):
                ph, pw = plane.height, plane.width
                if p == 0:
                    values = (x * 5 + y * 3 + 11 * i) % (top + 1) * 0.8 + rng.integers(0, top // 8, (ph, pw))
                else:
                    values = np.full((ph, pw), (top + 1) // 2) + rng.integers(-top // 6, top // 6, (ph, pw))
                dtype = np.dtype("<u2" if deep else np.uint8)
                view = np.frombuffer(plane, dtype).reshape(ph, plane.line_size // dtype.itemsize)[:, :pw]
                view[:] = np.clip(values, 0, top).astype(dtype)
            frame.pts = i
            for packet in s.encode(frame):
                out.mux(packet)
        for packet in s.encode():
            out.mux(packet)
    return path


def luma_planes(path: Path) -> tuple[str, list[np.ndarray]]:
    """(pixel format, each decoded frame's Y plane as uint8/uint16 (H, W))."""
    planes, name = [], ""
    with av.open(str(path)) as c:
        for f in c.decode(c.streams.video[0]):
            name = f.format.name
            dtype = np.dtype("<u2" if "10" in name or "12" in name else np.uint8)
            p = f.planes[0]
            planes.append(np.frombuffer(p, dtype).reshape(p.height, p.line_size // dtype.itemsize)[:, : p.width].copy())
    return name, planes


def copy_stream(src: Path, dest: Path, kind: str = "video", **open_options) -> Path:
    """``src``'s first stream of ``kind`` alone, its packets copied into ``dest`` (``open_options``: av.open's,
    e.g. format="matroska" or options={"movflags": "faststart"})."""
    with av.open(str(src)) as i, av.open(str(dest), "w", **open_options) as o:
        stream = getattr(i.streams, kind)[0]
        s = o.add_stream_from_template(stream)
        for packet in i.demux(stream):
            if packet.size:
                packet.stream = s
                o.mux(packet)
    return dest
