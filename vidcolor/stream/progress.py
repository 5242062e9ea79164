"""Progress of long work as people know it: a tqdm bar (frames, fps, ETA), one per film or segment.

On a terminal the bar redraws in place; in a pipe or a log file (stderr not a TTY) nothing is drawn while the work
runs and ``close`` writes one summary line (unless the caller prints its own); ``quiet`` prints nothing at all.
Messages written while a bar is shown (warnings) go through ``write`` so they do not tear the bar. Torch-free.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from tqdm import tqdm


class Progress:
    """``update(frames)`` adds finished frames; ``__call__(done, total)`` takes absolute counts (VideoJob's
    ``on_progress``); the first count seen is the starting point (a resumed run), not part of the rate."""

    def __init__(
        self,
        desc: str = "",
        total: int | None = None,
        quiet: bool = False,
        summary: bool = True,
        unit: str = "frame",
        stream: TextIO | None = None,
    ) -> None:
        self.desc, self.total, self.quiet, self.summary, self.unit = desc, total, quiet, summary, unit
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.bar: tqdm | None = None
        self.start: int | None = None
        self.done = 0
        self.t0 = time.perf_counter()
        self.closed = False

    def _open(self, initial: int) -> None:
        self.start, self.done, self.t0 = initial, initial, time.perf_counter()
        if self.tty and not self.quiet:
            self.bar = tqdm(
                total=self.total,
                initial=initial,
                desc=self.desc or None,
                unit=self.unit,
                file=self.stream,
                dynamic_ncols=True,
                smoothing=0.1,
                leave=True,
            )

    def update(self, frames: int = 1) -> None:
        if self.start is None:
            self._open(0)
        self.done += frames
        if self.bar is not None:
            if self.total is not None and self.done > self.total:  # estimated totals (MKV) can be short
                self.total = self.bar.total = self.done
            self.bar.update(frames)

    def __call__(self, done: int, total: int | None = None) -> None:
        if total is not None and self.start is None:
            self.total = max(total, done)
        if self.start is None:
            self._open(done)
        if total is not None and self.bar is not None and total != self.bar.total:
            self.bar.total = max(total, done)
        if done > self.done:
            self.update(done - self.done)

    @property
    def rate(self) -> float:
        """Frames per second since the first count (the frames of a resumed run's earlier part excluded)."""
        return (self.done - (self.start or 0)) / max(time.perf_counter() - self.t0, 1e-9)

    def write(self, message: str) -> None:
        """A line (a warning) printed above the bar, or plainly when there is none."""
        if self.quiet:
            return
        if self.bar is not None:
            self.bar.write(message, file=self.stream)
        else:
            print(message, file=self.stream, flush=True)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.bar is not None:
            self.bar.close()
        elif self.summary and not self.quiet and self.start is not None:
            name = f"{self.desc}: " if self.desc else ""
            seconds = time.perf_counter() - self.t0
            of = f"/{self.total}" if self.total else ""
            print(
                f"{name}{self.done}{of} {self.unit}s in {seconds:.1f} s ({self.rate:.2f} {self.unit}s/s)",
                file=self.stream,
                flush=True,
            )
