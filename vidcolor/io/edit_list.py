"""The audio tracks of an MP4/MOV output placed exactly on the film's timeline: their edit lists written here.

An MP4 track is placed by its edit list: an empty edit delays it, a media edit that starts inside the media skips its
first samples (encoder priming, a copied track's codec delay), and the format takes both at once. FFmpeg's mov muxer
writes one or the other, from the first packet's time alone: a track whose first packet comes after time 0 gets the
empty edit and plays its priming (AAC re-encoded from Vorbis that starts 44 ms after the picture: its first sample
at 22 ms), and that empty edit is rounded down to the movie timescale (a 1/24 s grid for an AVI source: an audio
delay under 41.7 ms was lost). So after the muxer is done, each audio track's edit list is rewritten from what went
into it (``AudioStart``): an empty edit up to the time players show the source's first sample (the first decoded
sample, codec delay and priming skipped), then the media from the sample that belongs there.

A track whose first sample comes before time 0 keeps only what is after it (an MP4 track cannot start before the
film; delaying the picture instead would move every frame): its note says how much was cut. ``movie_timescale``
picks a movie timescale in which both the picture's and the audio's starts are exact.
"""

from __future__ import annotations

import math
import os
import struct
from dataclasses import dataclass, field
from fractions import Fraction

HEAD = 16  # packet times kept per track: the muxer drops unreadable packets at a track's start (AC3, E-AC3)
TIMESCALE_MAX = 2**31 - 1


@dataclass
class AudioStart:
    """What went into one audio track of the output: when players show its first sample (seconds on the film's
    clock: the source's first decoded sample, re-encoded or not), the times of its first packets, how many packets
    and the sample rate."""

    rate: int
    presented: Fraction | None = None
    times: list[Fraction | None] = field(default_factory=list)
    packets: int = 0

    def sent(self, seconds: Fraction | None) -> None:
        if len(self.times) < HEAD:
            self.times.append(seconds)
        self.packets += 1


def movie_timescale(video_timescale: int, sample_rates: list[int]) -> int:
    """The movie timescale (edit lists are written in it): a multiple of the video's timescale (its frames keep
    their times) and of every audio sample rate (the audio's start is exact); the video's own if that gets too
    large for the format's 32-bit field."""
    scale = max(1, video_timescale)
    for rate in sample_rates:
        wider = math.lcm(scale, max(1, rate))
        if wider > TIMESCALE_MAX:
            return scale
        scale = wider
    return scale


def _children(data: bytes, start: int, end: int) -> list[tuple[bytes, int, int]]:
    """(type, offset, size) of the boxes in ``data[start:end]``."""
    out = []
    while start + 8 <= end:
        size, kind = struct.unpack(">I4s", data[start : start + 8])
        if size == 1:
            size = struct.unpack(">Q", data[start + 8 : start + 16])[0]
        elif size == 0:
            size = end - start
        if size < 8 or start + size > end:
            raise ValueError(f"damaged {kind!r} box")
        out.append((kind, start, size))
        start += size
    return out


def _box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(body), kind) + body


def _find(data: bytes, path: list[bytes], start: int = 0, end: int | None = None) -> tuple[int, int] | None:
    """(offset, size) of the box at ``path`` below ``data[start:end]``."""
    end = len(data) if end is None else end
    for kind, offset, size in _children(data, start, end):
        if kind == path[0]:
            return (offset, size) if len(path) == 1 else _find(data, path[1:], offset + 8, offset + size)
    return None


def _body(data: bytes, where: tuple[int, int] | None) -> bytes | None:
    return data[where[0] + 8 : where[0] + where[1]] if where else None


def _timescale(body: bytes) -> int:
    """mvhd / mdhd: the timescale, after the creation and modification times (32 or 64 bits by version)."""
    return struct.unpack(">I", body[12:16] if body[0] == 0 else body[20:24])[0]


def _duration_at(body: bytes, kind: bytes) -> tuple[int, str]:
    """mvhd / tkhd: where the duration is and its format (after the times, mvhd's timescale or tkhd's track id and
    a reserved word; 32 or 64 bits by version)."""
    wide = body[0] == 1
    at = (24 if wide else 16) if kind == b"mvhd" else (28 if wide else 20)
    return at, ">Q" if wide else ">I"


def _set_duration(body: bytes, kind: bytes, value: int) -> bytes:
    at, fmt = _duration_at(body, kind)
    if value >= 1 << (8 * struct.calcsize(fmt)):
        return body  # would not fit this version of the box: the old figure stays (only a display duration)
    return body[:at] + struct.pack(fmt, value) + body[at + struct.calcsize(fmt) :]


def _get_duration(body: bytes, kind: bytes) -> int:
    at, fmt = _duration_at(body, kind)
    return struct.unpack(fmt, body[at : at + struct.calcsize(fmt)])[0]


def _elst(edits: list[tuple[int, int]]) -> bytes:
    """An edts box holding ``edits``: (duration in the movie timescale, media time or -1 for an empty edit)."""
    wide = any(d > 0xFFFFFFFF or not -(2**31) <= t < 2**31 for d, t in edits)
    entry = ">Qq" if wide else ">Ii"
    body = struct.pack(">B3xI", 1 if wide else 0, len(edits))
    body += b"".join(struct.pack(entry, d, t) + struct.pack(">hh", 1, 0) for d, t in edits)
    return _box(b"edts", _box(b"elst", body))


def _media(data: bytes, offset: int, size: int) -> tuple[int, int, int] | None:
    """(timescale, duration, sample count) of a sound track's media (mdhd, stts), None for other tracks."""
    stbl = [b"mdia", b"minf", b"stbl"]
    handler = _body(data, _find(data, [b"mdia", b"hdlr"], offset + 8, offset + size))
    mdhd = _body(data, _find(data, [b"mdia", b"mdhd"], offset + 8, offset + size))
    stts = _body(data, _find(data, [*stbl, b"stts"], offset + 8, offset + size))
    if not handler or handler[8:12] != b"soun" or not mdhd or not stts:
        return None
    (entries,) = struct.unpack(">I", stts[4:8])
    runs = [struct.unpack(">II", stts[8 + 8 * i : 16 + 8 * i]) for i in range(entries)]
    return _timescale(mdhd), sum(n * d for n, d in runs), sum(n for n, _ in runs)


def plan_edits(start: AudioStart, timescale: int, duration: int, samples: int, movie: int):
    """(edits, seconds cut before time 0) for a sound track, or None where what was muxed is not what was sent
    (the muxer merged packets, or dropped more than the first few)."""
    dropped = start.packets - samples
    if start.presented is None or not 0 <= dropped < len(start.times):
        return None
    first = start.times[dropped]
    if first is None:
        return None
    presented = max(start.presented, first)
    skip = round((presented - first) * timescale)
    cut = Fraction(0)
    if presented < 0:
        cut = -presented
        skip += round(cut * timescale)
    if skip >= duration:
        return None
    edits = []
    delay = round(presented * movie) if presented > 0 else 0
    if delay > 0:
        edits.append((delay, -1))
    edits.append((-(-(duration - skip) * movie // timescale), skip))
    return edits, cut


def set_audio_edits(path: str | os.PathLike, starts: dict[int, AudioStart]) -> dict[int, Fraction]:
    """Rewrite the edit list of each sound track of the MP4/MOV at ``path`` whose stream index is in ``starts``
    (FFmpeg numbers tracks from 1 in stream order). Returns the seconds cut before time 0, by stream index, where
    any. The movie box must be the file's last (FFmpeg's default): it is rewritten in place, the media untouched."""
    with open(path, "r+b") as f:
        f.seek(0, os.SEEK_END)
        end = f.tell()
        offset = 0
        moov = None
        while offset + 8 <= end:
            f.seek(offset)
            size, kind = struct.unpack(">I4s", f.read(8))
            if size == 1:
                size = struct.unpack(">Q", f.read(8))[0]
            elif size == 0:
                size = end - offset
            if size < 8:
                return {}
            if kind == b"moov":
                moov = (offset, size)
            offset += size
        if moov is None or moov[0] + moov[1] != end:
            return {}
        f.seek(moov[0])
        data = f.read(moov[1])
        try:
            new, cuts = _rewrite(data, starts)
        except (ValueError, struct.error):
            return {}  # boxes this does not follow: the file stays as the muxer wrote it
        if new != data:
            f.seek(moov[0])
            f.write(new)
            f.truncate()
    return cuts


def _rewrite(moov: bytes, starts: dict[int, AudioStart]) -> tuple[bytes, dict[int, Fraction]]:
    mvhd = _body(moov, _find(moov, [b"mvhd"], 8))
    if mvhd is None:
        return moov, {}
    movie = _timescale(mvhd)
    parts, cuts, lengths = [], {}, []
    for kind, offset, size in _children(moov, 8, len(moov)):
        box = moov[offset : offset + size]
        if kind == b"trak":
            box, length, cut = _rewrite_trak(moov, offset, size, starts, movie)
            lengths.append(length)
            if cut is not None:
                cuts[cut[0]] = cut[1]
        parts.append((kind, box))
    if not cuts:  # no track rewritten
        return moov, {}
    out = []
    for kind, box in parts:
        if kind == b"mvhd":
            box = _box(b"mvhd", _set_duration(box[8:], b"mvhd", max(lengths)))
        out.append(box)
    return _box(b"moov", b"".join(out)), {i: c for i, c in cuts.items() if c}  # the tracks that lost a part


def _rewrite_trak(moov: bytes, offset: int, size: int, starts: dict[int, AudioStart], movie: int):
    """(the trak box, its duration in the movie timescale, (stream index, seconds cut) or None)."""
    box = moov[offset : offset + size]
    tkhd = _body(moov, _find(moov, [b"tkhd"], offset + 8, offset + size))
    if tkhd is None:
        return box, 0, None
    length = _get_duration(tkhd, b"tkhd")
    track_id = struct.unpack(">I", tkhd[12:16] if tkhd[0] == 0 else tkhd[20:24])[0]
    start = starts.get(track_id - 1)
    media = _media(moov, offset, size) if start else None
    planned = plan_edits(start, *media, movie) if media else None
    if planned is None:
        return box, length, None
    edits, cut = planned
    length = sum(d for d, _ in edits)
    children = []
    for kind, at, n in _children(moov, offset + 8, offset + size):
        if kind == b"edts":
            continue
        piece = moov[at : at + n]
        if kind == b"tkhd":
            piece = _box(b"tkhd", _set_duration(piece[8:], b"tkhd", length)) + _elst(edits)
        children.append(piece)
    return _box(b"trak", b"".join(children)), length, (track_id - 1, cut)
