"""Progress of several films at once: frames done, frames per second and ETA per film and overall.

On a terminal one line is rewritten in place; elsewhere (a log file, a job scheduler) a block of lines is printed
every 10 s. Frames already done when the run started (a resumed run, a skipped film) do not count toward the speed.
"""

from __future__ import annotations

import sys
import time


def _eta(remaining: int, fps: float) -> str:
    if fps <= 0:
        return "--:--:--"
    return time.strftime("%H:%M:%S", time.gmtime(remaining / fps))


def line(name: str, done: int, total: int, fps: float) -> str:
    total = max(total, done)
    pct = 100 * done / max(total, 1)
    return f"{name}: {done}/{total} frames ({pct:.0f}%) {fps:.2f} fps ETA {_eta(total - done, fps)}"


class FilmsProgress:
    def __init__(self, quiet: bool = False, every: float = 10.0) -> None:
        self.quiet, self.tty, self.every = quiet, sys.stderr.isatty(), every
        self.start: dict[str, tuple[float, int]] = {}  # film -> (time first seen, frames done then)
        self.last_print = 0.0

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

    def __call__(self, films: list[tuple[str, int, int]], active: set[str] | None = None) -> None:
        if self.quiet or not films:
            return
        now = time.perf_counter()
        rows = self.lines(films, now)
        if now - self.last_print < (0.5 if self.tty else self.every):
            return
        self.last_print = now
        if self.tty:
            shown = [r for f, r in zip(films, rows, strict=False) if active is None or f[0] in active]
            print("\r\033[K" + " | ".join([*shown[-2:], rows[-1]]), end="", file=sys.stderr, flush=True)
        else:
            for r in [r for f, r in zip(films, rows, strict=False) if active is None or f[0] in active] + rows[-1:]:
                print(r, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.tty and not self.quiet and self.last_print:
            print(file=sys.stderr)

    def note(self, message: str) -> None:
        """A line that must not be overwritten (a film finished, failed or skipped)."""
        if not self.quiet:
            print(("\r\033[K" if self.tty else "") + message, file=sys.stderr, flush=True)
