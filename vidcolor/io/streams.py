"""The source's other streams in the output: copied, re-encoded, converted or dropped, decided up front and said.

- Decisions go by codec id (``mp3``), never by decoder name (``mp3float``).
- Audio the output container takes is copied byte for byte; other audio is re-encoded (AAC, Opus for WebM).
- Text subtitles the container does not take are converted (mov_text <-> SubRip / WebVTT); bitmap ones dropped.
- A second video track, data and attachment streams are dropped; every dropped stream is named in the summary.
- Audio packet timestamps that repeat or go back (AVI remuxed with a packet-based audio time base, VBR audio in
  AVI) are rebuilt from the previous packet's time and duration, else the muxer refuses them (``Invalid argument``)
  after the whole film was computed. ``check_streams`` runs the copy into the output format up front (into a sink
  that discards the bytes, audio only) so such a problem is repaired, or reported, before any frame is decoded.
- Each audio track's first sample is shown when the source's players show it (MP4/MOV: edit lists written by
  io.edit_list); where an output cannot (MP4/MOV audio before time 0, cut; AAC priming copied into Matroska,
  played), the note says by how many ms.
- A segment (``run --start/--duration``) keeps the packets that start within its (start, end) seconds, shifted so
  that the segment starts at time 0: the audio is cut to match at packet boundaries (about 20 ms for AAC).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from fractions import Fraction

import av

from vidcolor.errors import VidcolorError
from vidcolor.io.subtitles import TARGET as SUBTITLE_TARGET
from vidcolor.io.subtitles import convertible

MP4_AUDIO = {"aac", "mp3", "mp2", "ac3", "eac3", "alac", "opus", "flac"}
PCM = {"pcm_s16le", "pcm_s24le", "pcm_s16be", "pcm_s24be"}
AUDIO_COPY = {"mp4": MP4_AUDIO, "mov": MP4_AUDIO | PCM, "matroska": None, "webm": {"opus", "vorbis"}}
SUBTITLE_COPY = {
    "mp4": {"mov_text"},
    "mov": {"mov_text"},
    "matroska": {"subrip", "ass", "ssa", "webvtt", "dvd_subtitle", "hdmv_pgs_subtitle"},
    "webm": {"webvtt"},
}
FALLBACK_AUDIO = {"mp4": "aac", "mov": "aac", "matroska": "aac", "webm": "libopus"}


@dataclass
class StreamPlan:
    index: int
    kind: str  # audio, subtitle, video, data, attachment
    codec: str  # codec id name
    action: str  # copy, reencode, convert, drop
    target: str | None = None  # encoder (reencode) or subtitle codec (convert)
    why: str = ""
    repaired: int = 0  # packets whose timestamps were rebuilt (copy)
    cut: float = 0.0  # seconds of audio before time 0 that an MP4/MOV output could not keep (io.edit_list)
    moved: float = 0.0  # seconds the output's first audio sample comes after the source's (negative: before)

    def note(self) -> str:
        head = f"{self.kind} #{self.index} ({self.codec})"
        timing = ""
        if self.cut >= 0.0005:
            timing = f"; its first {self.cut * 1000:.1f} ms cut (before time 0, where an MP4/MOV track cannot start)"
        elif abs(self.moved) >= 0.001:
            when = "earlier" if self.moved < 0 else "later"
            timing = f"; its first sample {abs(self.moved) * 1000:.1f} ms {when} than in the source"
        if self.action == "copy":
            fixed = f", {self.repaired} packet timestamps repaired" if self.repaired else ""
            return f"{head} copied{fixed}{timing}"
        verb = {"reencode": "re-encoded to", "convert": "converted to"}.get(self.action)
        return f"{head} {verb} {self.target}: {self.why}{timing}" if verb else f"{head} dropped: {self.why}"


def codec_name(stream) -> str:
    """The codec id's name: ``mp3`` for a stream that FFmpeg decodes with ``mp3float``."""
    cc = stream.codec_context
    codec = getattr(cc, "codec", None)
    return getattr(codec, "canonical_name", None) or cc.name or "unknown"


def plan_streams(src: av.container.InputContainer, fmt: str) -> list[StreamPlan]:
    first_video = src.streams.video[0].index
    plans = []
    for s in src.streams:
        if s.index == first_video:
            continue
        codec, kind = codec_name(s), s.type
        if kind == "audio":
            allowed = AUDIO_COPY.get(fmt)
            if allowed is None or codec in allowed:
                plans.append(StreamPlan(s.index, kind, codec, "copy"))
            else:
                why = f"{fmt} does not take {codec}"
                plans.append(StreamPlan(s.index, kind, codec, "reencode", FALLBACK_AUDIO[fmt], why))
        elif kind == "subtitle":
            if codec in SUBTITLE_COPY.get(fmt, ()):
                plans.append(StreamPlan(s.index, kind, codec, "copy"))
            elif convertible(codec, fmt):
                why = f"{fmt} does not take {codec} (text kept, styling not)"
                plans.append(StreamPlan(s.index, kind, codec, "convert", SUBTITLE_TARGET[fmt], why))
            else:
                plans.append(StreamPlan(s.index, kind, codec, "drop", why=f"{fmt} does not take {codec}"))
        elif kind == "video":
            plans.append(StreamPlan(s.index, kind, codec, "drop", why="only the first video track is colorized"))
        else:
            plans.append(StreamPlan(s.index, kind or "data", codec, "drop", why=f"{kind} streams are not carried"))
    return plans


def packet_seconds(packet: av.Packet) -> float | None:
    ts = packet.pts if packet.pts is not None else packet.dts
    return float(ts * packet.time_base) if ts is not None and packet.time_base else None


def window_packets(src: av.container.InputContainer, streams: list, span: tuple[float, float] | None):
    """Demuxed packets of ``streams``; with ``span`` (start, end seconds in the source's clock) only those that
    start inside it, timestamps shifted by ``start``; the demuxer seeks near ``start`` first."""
    if span is None:
        yield from src.demux(*streams)
        return
    start, end = span
    src.seek(max(0, int((start - 1.0) * av.time_base)), backward=True)
    for packet in src.demux(*streams):
        t = packet_seconds(packet)
        if t is None or t < start - 1e-6:
            continue
        if t >= end - 1e-6:
            if t > end + 2.0:  # packets are interleaved by time: everything after this is later still
                return
            continue
        shift = round(start / packet.time_base)
        packet.pts = packet.pts - shift if packet.pts is not None else None
        packet.dts = packet.dts - shift if packet.dts is not None else None
        yield packet


class PacketClock:
    """Strictly increasing dts for one copied audio stream: a packet whose timestamp repeats, goes back or is
    missing gets the previous packet's time plus its duration (from the packet, else the codec's frame size)."""

    def __init__(self, stream) -> None:
        cc = stream.codec_context
        tb = stream.time_base or Fraction(1, cc.sample_rate or 1)
        frame = Fraction(cc.frame_size or 1024, cc.sample_rate or 48000)
        self.default = max(1, round(frame / tb))
        self.last: int | None = None
        self.next: int | None = None
        self.repaired = 0

    def fix(self, packet: av.Packet) -> av.Packet:
        dts = packet.dts if packet.dts is not None else packet.pts
        if dts is None or (self.last is not None and dts <= self.last):
            if self.next is None:
                dts = 0 if self.last is None else self.last + self.default
            else:
                dts = max(self.next, (self.last or 0) + 1)
            packet.pts = packet.dts = dts
            self.repaired += 1
        self.last = dts
        self.next = dts + (packet.duration or self.default)
        return packet


class _Sink(io.RawIOBase):
    """A seekable file that keeps nothing: the dry run's output."""

    def __init__(self) -> None:
        self.pos = self.end = 0

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def write(self, b) -> int:
        n = len(memoryview(b))
        self.pos += n
        self.end = max(self.end, self.pos)
        return n

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = {0: offset, 1: self.pos + offset, 2: self.end + offset}[whence]
        return self.pos

    def tell(self) -> int:
        return self.pos


def check_streams(path, fmt: str, span: tuple[float, float] | None = None) -> list[StreamPlan]:
    """Plan the streams, then copy every copied audio stream into ``fmt`` (bytes discarded), timestamps repaired:
    the number of repairs goes into the plan; a stream the muxer still refuses is re-encoded instead. ``span``:
    the segment's (start, end) seconds, the only part copied."""
    with av.open(str(path)) as src:
        plans = plan_streams(src, fmt)
        copies = {p.index: p for p in plans if p.action == "copy" and p.kind == "audio"}
        if not copies:
            return plans
        for plan in copies.values():
            try:
                plan.repaired = _dry_run(src, plan.index, fmt, span)
            except av.error.ExitError:
                raise KeyboardInterrupt from None
            except av.error.FFmpegError as exc:
                plan.action, plan.target = "reencode", FALLBACK_AUDIO[fmt]
                plan.why = f"copying it into {fmt} failed ({exc.__class__.__name__}: {exc.strerror})"
    return plans


def _dry_run(src: av.container.InputContainer, index: int, fmt: str, span: tuple[float, float] | None) -> int:
    src.seek(0)
    stream = src.streams[index]
    clock = PacketClock(stream)
    with av.open(_Sink(), "w", format=fmt) as out:
        o = out.add_stream_from_template(stream)
        try:
            for packet in window_packets(src, [stream], span):
                if packet.size:
                    packet.stream = o
                    out.mux(clock.fix(packet))
        except (av.error.InvalidDataError, av.error.EOFError):
            pass  # a damaged tail: the final mux stops there too
    return clock.repaired


def check_or_fail(path, fmt: str, span: tuple[float, float] | None = None) -> list[StreamPlan]:
    try:
        return check_streams(path, fmt, span)
    except av.error.FFmpegError as exc:
        raise VidcolorError(f"{path}: reading its audio and subtitle streams failed ({exc.strerror or exc})") from None
