"""Presentation times of decoded frames, restored where the decoder hands them out of order or not at all.

Decoders return frames in display order, but some return their ``pts`` shuffled: MPEG-4 Part 2 with packed
B-frames in AVI (DivX/Xvid) gives 1, 3, 2, 5, 4, ... (DESIGN.md 4). The set of timestamps is the source's, their
order is not; forcing them monotonic (adding a frame duration to every late one) shifted every frame one frame
late. Here a small window of frames is held back and each frame, in decoding order, takes the smallest timestamp
seen so far: a timestamp displaced by fewer than ``window`` places lands on its frame.

Frames without a timestamp, or whose restored timestamp does not advance (a damaged or timestamp-less stream),
get the previous one plus one frame duration, as before.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
WINDOW = 8  # frames held back: MPEG-4 / H.264 reorder depths are at most a few frames


def restore_pts(
    items: Iterable[tuple[int | None, T]],
    step: int,
    window: int = WINDOW,
    on_repair: Callable[[], None] | None = None,
) -> Iterator[tuple[int, T]]:
    """(pts, item) pairs in decoding (display) order -> (pts, item) with strictly increasing pts.

    ``step``: one frame duration in the stream's time base, for frames without a usable timestamp (``on_repair``
    is called for each such frame: its time is made up, so seeking to it would not find it)."""
    step = max(1, step)
    held: deque[T] = deque()
    stamps: list[int] = []  # min-heap of the timestamps not yet given out
    last: int | None = None

    def release() -> tuple[int, T]:
        nonlocal last
        item = held.popleft()
        pts = heapq.heappop(stamps) if stamps else None
        if pts is None or (last is not None and pts <= last):
            pts = 0 if last is None else last + step
            if on_repair:
                on_repair()
        last = pts
        return pts, item

    for pts, item in items:
        held.append(item)
        if pts is not None:
            heapq.heappush(stamps, pts)
        if len(held) > window:
            yield release()
    while held:
        yield release()
