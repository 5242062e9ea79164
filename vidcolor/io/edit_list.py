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

The rewrite never costs the file: where it cannot be done (a movie box that is not the file's last, boxes this does
not follow, a disk that fills as the box grows) the file stays as the muxer wrote it, and io.audio_start's read-back
says in the track's note where its audio starts. Box sizes and durations are read in 32 or 64 bits, as written.
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


def _head(data: bytes, offset: int) -> int:
    """The length of the header of the box at ``offset``: 16 where its size is 64-bit (largesize), else 8."""
    return 16 if struct.unpack(">I", data[offset : offset + 4])[0] == 1 else 8


def _box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(body), kind) + body


def _find(data: bytes, path: list[bytes], start: int = 0, end: int | None = None) -> tuple[int, int] | None:
    """(offset, size) of the box at ``path`` below ``data[start:end]``."""
    end = len(data) if end is None else end
    for kind, offset, size in _children(data, start, end):
        if kind == path[0]:
            inside = offset + _head(data, offset)
            return (offset, size) if len(path) == 1 else _find(data, path[1:], inside, offset + size)
    return None


def _body(data: bytes, where: tuple[int, int] | None) -> bytes | None:
    return data[where[0] + _head(data, where[0]) : where[0] + where[1]] if where else None


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
    stbl, inside, end = [b"mdia", b"minf", b"stbl"], offset + _head(data, offset), offset + size
    handler = _body(data, _find(data, [b"mdia", b"hdlr"], inside, end))
    mdhd = _body(data, _find(data, [b"mdia", b"mdhd"], inside, end))
    stts = _body(data, _find(data, [*stbl, b"stts"], inside, end))
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
    any. The movie box must be the file's last (FFmpeg's default; not with +faststart or fragments): it is
    rewritten in place, the media untouched.

    Where that cannot be done (boxes this does not follow, a disk that fills as the movie box grows) the file stays
    as the muxer wrote it and {} is returned: io.audio_start then reads back where each track starts and its note
    says. OSError only where the old movie box could not be written back either: the file is damaged (it is written
    under a temporary name, renamed only once complete: stream.pipeline.finish_output)."""
    try:
        f = open(path, "r+b", buffering=0)  # unbuffered: a failed write is seen here, not at close
    except OSError:
        return {}
    with f:
        try:
            moov = _last_box(f, b"moov")
            data = _read_at(f, *moov) if moov else None
        except (OSError, ValueError, struct.error):
            return {}
        if data is None:
            return {}
        try:
            new, cuts = _rewrite(data, starts)
        except (ValueError, IndexError, struct.error):
            return {}  # boxes this does not follow: the file stays as the muxer wrote it
        if new != data and not _overwrite(f, moov[0], data, new):
            return {}
    return cuts


def _last_box(f, kind: bytes) -> tuple[int, int] | None:
    """(offset, size) of the top-level box ``kind`` of the open file ``f`` where it is the file's last, else None."""
    f.seek(0, os.SEEK_END)
    end = f.tell()
    offset, found = 0, None
    while offset + 8 <= end:
        f.seek(offset)
        size, name = struct.unpack(">I4s", f.read(8))
        if size == 1:
            size = struct.unpack(">Q", f.read(8))[0]
        elif size == 0:
            size = end - offset
        if size < 8:
            return None
        found = (offset, size) if name == kind else None
        offset += size
    return found if found and found[0] + found[1] == end else None


def _read_at(f, at: int, size: int) -> bytes:
    f.seek(at)
    parts = []
    while size > 0:
        part = f.read(size)
        if not part:
            raise ValueError("the file ends inside a box")
        parts.append(part)
        size -= len(part)
    return b"".join(parts)


def _write_at(f, at: int, data: bytes) -> None:
    f.seek(at)
    view = memoryview(data)
    while view:
        view = view[f.write(view) :]


def _overwrite(f, at: int, old: bytes, new: bytes) -> bool:
    """Put ``new`` in place of ``old``, the last bytes of the open file ``f`` from offset ``at``: True when done.
    What ``new`` adds past ``old``'s end is written first, so a disk that fills (or a file size limit) fails while
    ``old`` is whole; on any failure ``old`` is written back, over space the file already has, and False returned
    (OSError where even that fails)."""
    try:
        _write_at(f, at + len(old), new[len(old) :])
        _write_at(f, at, new[: len(old)])
        f.truncate(at + len(new))
        return True
    except OSError:
        _write_at(f, at, old)
        f.truncate(at + len(old))
        return False


def _rewrite(moov: bytes, starts: dict[int, AudioStart]) -> tuple[bytes, dict[int, Fraction]]:
    mvhd = _body(moov, _find(moov, [b"mvhd"], _head(moov, 0)))
    if mvhd is None:
        return moov, {}
    movie = _timescale(mvhd)
    parts, cuts, lengths = [], {}, []
    for kind, offset, size in _children(moov, _head(moov, 0), len(moov)):
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
            box = _box(b"mvhd", _set_duration(box[_head(box, 0) :], b"mvhd", max(lengths)))
        out.append(box)
    return _box(b"moov", b"".join(out)), {i: c for i, c in cuts.items() if c}  # the tracks that lost a part


def _rewrite_trak(moov: bytes, offset: int, size: int, starts: dict[int, AudioStart], movie: int):
    """(the trak box, its duration in the movie timescale, (stream index, seconds cut) or None)."""
    box, inside = moov[offset : offset + size], offset + _head(moov, offset)
    tkhd = _body(moov, _find(moov, [b"tkhd"], inside, offset + size))
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
    for kind, at, n in _children(moov, inside, offset + size):
        if kind == b"edts":
            continue
        piece = moov[at : at + n]
        if kind == b"tkhd":
            piece = _box(b"tkhd", _set_duration(piece[_head(piece, 0) :], b"tkhd", length)) + _elst(edits)
        children.append(piece)
    return _box(b"trak", b"".join(children)), length, (track_id - 1, cut)
