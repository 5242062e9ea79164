"""Progress of several films at once: frames done, frames per second and ETA per film and overall.

On a terminal: tqdm bars (the field's standard, as for one film in vidcolor/stream/progress.py), one per running film
and one for all films. In a pipe or a log file nothing is drawn while the work runs: only the lines that must stay (a
film finished, failed or skipped) and, at the end, one summary line per film. Frames already done when the run
started (a resumed run, a skipped film) do not count toward the speed.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from tqdm import tqdm


def _eta(remaining: int, fps: float) -> str:
    if fps <= 0:
        return "--:--:--"
    return time.strftime("%H:%M:%S", time.gmtime(remaining / fps))


def line(name: str, done: int, total: int, fps: float) -> str:
    total = max(total, done)
    pct = 100 * done / max(total, 1)
    return f"{name}: {done}/{total} frames ({pct:.0f}%) {fps:.2f} fps ETA {_eta(total - done, fps)}"


class FilmsProgress:
    def __init__(self, quiet: bool = False, stream: TextIO | None = None) -> None:
        self.quiet, self.stream = quiet, stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start: dict[str, tuple[float, int]] = {}  # film -> (time first seen, frames done then)
        self.bars: dict[str, tqdm] = {}
        self.last: list[tuple[str, int, int]] = []

    def _fps(self, name: str, done: int, now: float) -> float:
        t0, d0 = self.start.setdefault(name, (now, done))
        return (done - d0) / (now - t0) if now > t0 else 0.0

    def lines(self, films: list[tuple[str, int, int]], now: float | None = None) -> list[str]:
        """``films``: (name, frames done, total frames) of each film started so far; the overall line last."""
        now = time.perf_counter() if now is None else now
        out = [line(name, done, total, self._fps(name, done, now)) for name, done, total in films]
        done, total = sum(f[1] for f in films), sum(f[2] for f in films)
        out.append(line("all films", done, total, self._fps("\0all", done, now)))
        return out

    def _bar(self, name: str, done: int, total: int) -> tqdm:
        if name not in self.bars:
            self.bars[name] = tqdm(
                total=total,
                initial=done,
                desc=name,
                unit="frame",
                file=self.stream,
                dynamic_ncols=True,
                position=len(self.bars),
                leave=True,
                smoothing=0.1,
            )
        return self.bars[name]

    def __call__(self, films: list[tuple[str, int, int]], active: set[str] | None = None) -> None:
        if not films:
            return
        self.lines(films)  # starts each film's clock at its first sight
        self.last = films
        if self.quiet or not self.tty:
            return
        overall = ("all films", sum(f[1] for f in films), sum(f[2] for f in films))
        for name, done, total in [overall, *[f for f in films if active is None or f[0] in active]]:
            bar = self._bar(name, done, total)
            bar.total = max(total, done)
            bar.update(done - bar.n)

    def close(self) -> None:
        """Close the bars; in a pipe, one summary line per film and overall."""
        for bar in self.bars.values():
            bar.close()
        self.bars.clear()
        if not self.quiet and not self.tty and self.last:
            for row in self.lines(self.last):
                print(row, file=self.stream, flush=True)
        self.last = []

    def note(self, message: str) -> None:
        """A line that must not be overwritten (a film finished, failed or skipped)."""
        if self.quiet:
            return
        if self.bars:
            tqdm.write(message, file=self.stream)
        else:
            print(message, file=self.stream, flush=True)
