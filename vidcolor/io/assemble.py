"""The final file: the encoded chunks' video muxed with the source's audio and subtitle streams.

A run encodes its frames into chunk files inside a work folder (io.encode.ChunkWriter). ``assemble`` muxes the
chunks' video packets with the source's audio and subtitle packets, copied untouched where the output container
takes them (re-encoded, converted or dropped otherwise, timestamps repaired: see io.streams), into the output.
Every frame keeps the source's pts and time base; colour tags, rotation and sample aspect ratio are copied. What goes
into each audio track is recorded meanwhile, and each track is then placed where the source's players show its
first sample (io.audio_start; MP4/MOV: edit lists rewritten by io.edit_list, in a movie timescale fine enough for
the picture's and the audio's starts both).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Sequence
from pathlib import Path

import av

from vidcolor.io.audio_start import first_sample, place_audio, seconds
from vidcolor.io.edit_list import HEAD, AudioStart, movie_timescale
from vidcolor.io.media import VideoInfo
from vidcolor.io.streams import PacketClock, StreamPlan, plan_streams, window_packets
from vidcolor.io.subtitles import SubtitleTrackMaker, cue_payload, cue_text


def _mux_options(info: VideoInfo, fmt: str, timescales: Sequence[int] = ()) -> dict[str, str]:
    """MP4/MOV: a movie timescale (edit lists) in which the video's and the other tracks' starts (``timescales``:
    audio sample rates, subtitle time bases) are exact. Matroska/WebM: keep a copied track's negative start (AAC
    priming, say) instead of shifting every stream, frames included, by it (block times are signed relative to
    their cluster)."""
    if fmt in ("mp4", "mov"):
        return {"movie_timescale": str(movie_timescale(info.time_base.denominator, list(timescales)))}
    return {"avoid_negative_ts": "disabled"}


def _time(packet: av.Packet) -> float:
    ts = packet.dts if packet.dts is not None else packet.pts
    return float(ts * packet.time_base) if ts is not None else 0.0


def _chunk_packets(chunks: list[Path], out_stream) -> Iterator[tuple[float, int, av.Packet, object]]:
    for path in chunks:
        with av.open(str(path)) as c:
            for packet in c.demux(c.streams.video[0]):
                if packet.size:
                    yield _time(packet), 0, packet, out_stream


def assemble(
    chunks: list[Path],
    info: VideoInfo,
    dest: Path,
    fmt: str,
    plans: list[StreamPlan] | None = None,
    span: tuple[float, float] | None = None,
) -> list[str]:
    """Mux chunk video + the source's other streams into ``dest`` as ``plans`` say (io.streams; made here when
    not given). ``span``: a segment's (start, end) seconds in the source: only the other streams' packets inside
    it, shifted to start at 0 like the segment's frames. Returns one note per non-video stream of the source."""
    subtitle_tracks = SubtitleTrackMaker()
    with av.open(str(chunks[0])) as first, av.open(str(info.path)) as src:
        plans = plan_streams(src, fmt) if plans is None else plans
        starts: dict[int, AudioStart] = {}  # by output stream index: what went into each audio track
        with av.open(str(dest), "w", format=fmt, options=_mux_options(info, fmt, _timescales(src, plans))) as out:
            out.metadata.update({k: v for k, v in src.metadata.items() if k.lower() not in ("encoder", "major_brand")})
            ov = out.add_stream_from_template(first.streams.video[0])
            ov.time_base = info.time_base
            ov.metadata.update(src.streams.video[0].metadata)
            if info.rotation:
                ov.set_display_rotation(info.rotation)
            pairs = []
            for plan in plans:
                s = src.streams[plan.index]
                if plan.action == "copy":
                    o = out.add_stream_from_template(s)
                elif plan.action == "reencode":
                    o = out.add_stream(plan.target, rate=s.codec_context.sample_rate)
                    o.layout = s.codec_context.layout
                elif plan.action == "convert":
                    o = subtitle_tracks.add(out, plan.target)
                    o.time_base = s.time_base
                else:
                    continue
                o.metadata.update(s.metadata)
                o.disposition = s.disposition
                if plan.kind == "audio":
                    starts[o.index] = AudioStart(o.codec_context.sample_rate or s.codec_context.sample_rate)
                pairs.append((s, o, plan))
            try:
                merged = heapq.merge(
                    _chunk_packets(chunks, ov),
                    _source_packets(src, pairs, span, starts),
                    key=lambda item: (item[0], item[1]),
                )
                for _time_s, _kind, packet, stream in merged:
                    packet.stream = stream
                    out.mux(packet)
            finally:
                subtitle_tracks.close()
    if starts:
        place_audio(dest, fmt, starts, {o.index: plan for _, o, plan in pairs})
    return [p.note() for p in plans]


def _timescales(src, plans: list[StreamPlan]) -> list[int]:
    """The sample rates of the audio tracks and the time bases of the subtitle tracks that go into the output."""
    out = []
    for plan in plans:
        s = src.streams[plan.index]
        if plan.kind == "audio" and plan.action in ("copy", "reencode"):
            out.append(s.codec_context.sample_rate or 0)
        elif plan.kind == "subtitle" and plan.action in ("copy", "convert") and s.time_base:
            out.append(s.time_base.denominator)
    return [t for t in out if t > 0]


def _source_packets(src, pairs, span=None, starts=None) -> Iterator[tuple[float, int, av.Packet, object]]:
    """The source's packets for the output's other streams, in order: copied, re-encoded or converted. ``starts``
    (by output stream index) records what goes into each audio track (io.edit_list)."""
    if not pairs:
        return
    starts = {} if starts is None else starts
    by_index = {s.index: (o, plan, PacketClock(s) if plan.kind == "audio" else None) for s, o, plan in pairs}
    try:
        for packet in window_packets(src, [s for s, _, _ in pairs], span):
            out_stream, plan, clock = by_index[packet.stream.index]
            start = starts.get(out_stream.index)
            if plan.action == "reencode":
                for frame in packet.decode():
                    if start and start.presented is None:
                        start.presented = seconds(frame)
                    for p in out_stream.encode(frame):
                        if start:
                            start.sent(seconds(p))
                        yield _time(p), 1, p, out_stream
            elif not packet.size:
                continue
            elif plan.action == "convert":
                text = cue_text(plan.codec, bytes(packet))
                if text:
                    cue = av.Packet(cue_payload(plan.target, text))
                    cue.pts, cue.dts, cue.duration = packet.pts, packet.dts, packet.duration
                    cue.time_base = packet.time_base
                    yield _time(cue), 1, cue, out_stream
            else:
                if clock:
                    clock.fix(packet)
                if start:
                    if start.presented is None and start.packets < HEAD:
                        start.presented = first_sample(packet)
                    start.sent(seconds(packet))
                yield _time(packet), 1, packet, out_stream
    except av.error.ExitError:
        raise  # interrupted (Ctrl-C): not a damaged file
    except av.error.FFmpegError:
        pass  # a truncated source: keep what could be read, the video side says where it stopped
    for o, plan, _ in by_index.values():
        if plan.action == "reencode":
            start = starts.get(o.index)
            for p in o.encode(None):
                if start:
                    start.sent(seconds(p))
                yield _time(p), 1, p, o
