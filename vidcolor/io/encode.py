"""Video output with PyAV: planar Y'CbCr frames -> encoded chunks -> the final file with the original audio.

A run encodes its frames into chunk files inside a work folder (MP4: exact integer time bases, the encoder's
negative start dts kept through edit lists), so a crash loses at most one chunk. ``assemble`` then muxes the
chunks' video packets with the source's audio and subtitle packets, copied untouched where the output container
takes them (re-encoded, converted or dropped otherwise, timestamps repaired: see io.streams), into the output.
Every frame keeps the source's pts and time base; colour tags, rotation and sample aspect ratio are copied. In an
MP4/MOV output each audio track's edit list is then rewritten (io.edit_list) so that players show its first sample
when the source's players do: delay and priming together, exact in a movie timescale fine enough for both.
"""

from __future__ import annotations

import gc
import heapq
import io
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vidcolor.errors import VidcolorError
from vidcolor.io.edit_list import HEAD, AudioStart, movie_timescale, set_audio_edits
from vidcolor.io.media import VideoInfo
from vidcolor.io.streams import PacketClock, StreamPlan, plan_streams, window_packets
from vidcolor.io.subtitles import SubtitleTrackMaker, cue_payload, cue_text
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


def _mux_options(info: VideoInfo, fmt: str, timescales: Sequence[int] = ()) -> dict[str, str]:
    """MP4/MOV: a movie timescale (edit lists) in which the video's and the other tracks' starts (``timescales``:
    audio sample rates, subtitle time bases) are exact. Matroska/WebM: keep a copied track's negative start (AAC
    priming, say) instead of shifting every stream, frames included, by it (block times are signed relative to
    their cluster)."""
    if fmt in ("mp4", "mov"):
        return {"movie_timescale": str(movie_timescale(info.time_base.denominator, list(timescales)))}
    return {"avoid_negative_ts": "disabled"}


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


def _time(packet: av.Packet) -> float:
    ts = packet.dts if packet.dts is not None else packet.pts
    return float(ts * packet.time_base) if ts is not None else 0.0


def _seconds(item) -> Fraction | None:
    """A packet's or frame's presentation time, exact (None without one)."""
    ts = item.pts if item.pts is not None else getattr(item, "dts", None)
    return Fraction(ts) * item.time_base if ts is not None and item.time_base else None


def _first_sample(packet: av.Packet) -> Fraction | None:
    """The time of the first sample that decoding ``packet`` gives, codec delay and priming skipped as players
    skip them (None while the decoder gives nothing yet, or where it refuses the packet, as players skip it)."""
    if packet.stream.codec_context is None:  # no decoder for it here
        return None
    try:
        frames = packet.decode()
    except av.error.ExitError:
        raise
    except av.error.FFmpegError:
        return None
    return _seconds(frames[0]) if frames else None


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
        _place_audio(dest, fmt, starts, {o.index: plan for _, o, plan in pairs})
    return [p.note() for p in plans]


def _place_audio(dest: Path, fmt: str, starts: dict[int, AudioStart], plans: dict[int, StreamPlan]) -> None:
    """MP4/MOV: each audio track's edit list rewritten (io.edit_list). Then, in any container, the first sample
    players get from each audio track is compared with the source's: a track that starts elsewhere says so in its
    note (MP4/MOV: audio before time 0, cut; Matroska: a copied track's priming the output cannot mark skipped)."""
    cuts = set_audio_edits(dest, starts) if fmt in ("mp4", "mov") else {}
    firsts = _first_samples(dest, [i for i, s in starts.items() if s.presented is not None])
    for index, start in starts.items():
        if index in cuts:
            plans[index].cut = float(cuts[index])
        elif index in firsts and start.presented is not None:
            plans[index].moved = float(firsts[index] - start.presented)


def _first_samples(path: Path, indices: list[int]) -> dict[int, Fraction]:
    """The time of the first sample players get from each of the audio streams ``indices`` of ``path``."""
    found: dict[int, Fraction] = {}
    if not indices:
        return found
    tried = dict.fromkeys(indices, 0)
    try:
        with av.open(str(path)) as c:
            for packet in c.demux([c.streams[i] for i in indices]):
                i = packet.stream.index
                if i in found or tried[i] >= HEAD or not packet.size:
                    continue
                tried[i] += 1
                t = _first_sample(packet)
                if t is not None:
                    found[i] = t
                if all(i in found or n >= HEAD for i, n in tried.items()):
                    break
    except av.error.ExitError:
        raise
    except av.error.FFmpegError:
        pass  # what was found so far: a track not read back gets no note
    return found


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
                        start.presented = _seconds(frame)
                    for p in out_stream.encode(frame):
                        if start:
                            start.sent(_seconds(p))
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
                        start.presented = _first_sample(packet)
                    start.sent(_seconds(packet))
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
                    start.sent(_seconds(p))
                yield _time(p), 1, p, o
