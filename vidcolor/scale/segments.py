"""Split a film into shot-aligned segments of balanced length: the unit of distributed work. Pure functions.

Shots are contiguous runs of frames, given by their start frames. Segments are contiguous runs of whole shots,
chosen so that the longest segment is as short as it can be (``parts`` segments at most: binary search on the
capacity, greedy fill). A shot is never split unless it is longer than ``limit`` frames (default: the film's length
divided by ``parts``, so that one long shot does not leave the other workers idle); then it is cut into pieces of
at most ``limit`` frames, on the chunk grid (below), and the pieces are placed like shots.

Why a split shot still gives the frames a single run gives: in `vidcolor run` the state that lives across frames is
per shot (its reference and the seed of its hint pattern, see shots/refs.py), never per frame (no propagation memory,
no temporal filter). A piece of a split shot keeps the shot's number, so its reference and seed. The one thing read
from the shot itself, the first frame matched against a folder of candidate references, is "warmed up": a piece
decodes from its shot's start (``shot_start``) and colours from its own ``start``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    number: int  # segment number, 0-based, in film order
    start: int  # first frame (0-based)
    end: int  # one past the last frame
    shot_start: int  # start of the shot that holds ``start`` (== start unless a long shot was split here)

    @property
    def frames(self) -> int:
        return self.end - self.start

    @property
    def split(self) -> bool:
        return self.shot_start != self.start


def shot_pieces(starts: list[int], frames: int, limit: int, align: int = 1) -> list[tuple[int, int, int]]:
    """Shots [start, end) from their starts, the longer-than-``limit`` ones cut into pieces of at most ``limit``
    frames (``align`` if that is more) whose cuts fall on multiples of ``align`` frames from the shot's start (the
    chunk grid). Returns (start, end, shot_start) per piece, in order."""
    bounds = sorted({s for s in starts if 0 < s < frames} | {0})
    align = max(1, align)
    pieces = []
    for a, b in zip(bounds, [*bounds[1:], frames], strict=True):
        n = max(1, -(-(b - a) // max(1, limit)))
        step = b - a if n == 1 else max(align, -(-(b - a) // n) // align * align)  # on the grid
        cuts = [*range(a, b, step), b]
        pieces += [(cuts[k], cuts[k + 1], a) for k in range(len(cuts) - 1)]
    return pieces


def _groups(lengths: list[int], capacity: int) -> list[int]:
    """Greedy: indices where a new group starts so that no group exceeds ``capacity`` (each length <= capacity)."""
    heads, total = [0], 0
    for i, n in enumerate(lengths):
        if total + n > capacity and total > 0:
            heads.append(i)
            total = 0
        total += n
    return heads


def plan_segments(starts: list[int], frames: int, parts: int, limit: int | None = None, align: int = 1) -> list[Span]:
    """At most ``parts`` segments of whole shots (shot ``starts``: 0-based first frames) over ``frames`` frames,
    the longest as short as possible; shots longer than ``limit`` (default ceil(frames / parts)) are split on the
    ``align`` grid (chunk_frames: a run's chunks restart at each cut and every chunk_frames frames within a shot,
    so a sharded run's chunks hold the very frames a single run's do)."""
    if frames < 1:
        raise ValueError("a film of no frames has no segments")
    parts = max(1, parts)
    limit = limit if limit is not None else -(-frames // parts)
    pieces = shot_pieces(starts, frames, limit, align)
    lengths = [b - a for a, b, _ in pieces]
    lo, hi = max(lengths), sum(lengths)
    while lo < hi:  # the smallest capacity that needs at most ``parts`` groups
        mid = (lo + hi) // 2
        if len(_groups(lengths, mid)) <= parts:
            hi = mid
        else:
            lo = mid + 1
    heads = _groups(lengths, lo)
    spans = []
    for number, (h, t) in enumerate(zip(heads, [*heads[1:], len(pieces)], strict=True)):
        spans.append(Span(number, pieces[h][0], pieces[t - 1][1], pieces[h][2]))
    return spans
