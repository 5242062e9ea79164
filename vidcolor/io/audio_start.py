"""Where each audio track of the output starts: the first sample players get, read back and compared.

While ``io.assemble`` muxes, it records in an ``AudioStart`` (io.edit_list) what goes into each audio track: when
players show the source's first sample (``first_sample``: the first decoded sample, codec delay and priming skipped
as players skip them) and the times of the first packets. After the muxer is done, ``place_audio`` rewrites the
MP4/MOV edit lists from it (io.edit_list), then decodes each output audio track's first sample and compares it with
the source's: a track that starts elsewhere says so in its note (io.streams.StreamPlan: ``cut``, ``moved``).

Times are exact ``Fraction`` seconds on the film's clock.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av

from vidcolor.io.edit_list import HEAD, AudioStart, set_audio_edits
from vidcolor.io.streams import StreamPlan


def seconds(item) -> Fraction | None:
    """A packet's or frame's presentation time, exact (None without one)."""
    ts = item.pts if item.pts is not None else getattr(item, "dts", None)
    return Fraction(ts) * item.time_base if ts is not None and item.time_base else None


def first_sample(packet: av.Packet) -> Fraction | None:
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
    return seconds(frames[0]) if frames else None


def place_audio(dest: Path, fmt: str, starts: dict[int, AudioStart], plans: dict[int, StreamPlan]) -> None:
    """MP4/MOV: each audio track's edit list rewritten (io.edit_list). Then, in any container, the first sample
    players get from each audio track is compared with the source's: a track that starts elsewhere says so in its
    note (MP4/MOV: audio before time 0, cut; Matroska: a copied track's priming the output cannot mark skipped)."""
    cuts = set_audio_edits(dest, starts) if fmt in ("mp4", "mov") else {}
    firsts = _first_samples(dest, fmt, [i for i, s in starts.items() if s.presented is not None])
    for index, start in starts.items():
        if index in cuts:
            plans[index].cut = float(cuts[index])
        elif index in firsts and start.presented is not None:
            plans[index].moved = float(firsts[index] - start.presented)


def _first_samples(path: Path, fmt: str, indices: list[int]) -> dict[int, Fraction]:
    """The time of the first sample players get from each of the audio streams ``indices`` (as muxed) of the
    ``fmt`` file ``path``. MP4/MOV leave out a track the muxer got no packet for, so the streams read back are
    numbered afresh: there a muxed stream is found by its track id (its index + 1, as io.edit_list finds it)."""
    found: dict[int, Fraction] = {}
    if not indices:
        return found
    try:
        with av.open(str(path)) as c:
            muxed = {s.id - 1 if fmt in ("mp4", "mov") else s.index: s for s in c.streams if s.type == "audio"}
            streams = {muxed[i].index: i for i in indices if i in muxed}  # read-back index -> muxed index
            if not streams:
                return found
            tried = dict.fromkeys(streams.values(), 0)
            for packet in c.demux([c.streams[i] for i in streams]):
                i = streams[packet.stream.index]
                if i in found or tried[i] >= HEAD or not packet.size:
                    continue
                tried[i] += 1
                t = first_sample(packet)
                if t is not None:
                    found[i] = t
                if all(i in found or n >= HEAD for i, n in tried.items()):
                    break
    except av.error.ExitError:
        raise
    except av.error.FFmpegError:
        pass  # what was found so far: a track not read back gets no note
    return found
