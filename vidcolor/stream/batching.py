"""Model batches that shrink when the GPU runs out of memory: the batch is halved (down to one frame), a warning
says so once per halving, and the run goes on with the smaller batch. Torch is only looked up, never imported."""

from __future__ import annotations

import sys
from collections.abc import Callable

import numpy as np


def is_out_of_memory(exc: BaseException) -> bool:
    torch = sys.modules.get("torch")
    oom = getattr(torch, "OutOfMemoryError", None) if torch else None
    if oom is not None and isinstance(exc, oom):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def _free_cache() -> None:
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


class AdaptiveBatch:
    """``run(fn, frames)`` applies ``fn`` to slices of at most ``size`` frames and concatenates the results."""

    def __init__(self, size: int, warn: Callable[[str], None]) -> None:
        self.size, self.warn = max(1, size), warn

    def shrink(self, failed: int) -> None:
        """A batch of ``failed`` frames did not fit: free the cache, halve, say so."""
        _free_cache()
        self.size = max(1, failed // 2)
        self.warn(f"out of GPU memory with a batch of {failed} frames: going on with {self.size}")

    def run(self, fn: Callable[[np.ndarray], np.ndarray], frames: np.ndarray) -> np.ndarray:
        parts, i = [], 0
        while i < len(frames):
            part = frames[i : i + self.size]
            try:
                parts.append(fn(part))
            except Exception as exc:
                if not is_out_of_memory(exc) or len(part) == 1:
                    raise
                self.shrink(len(part))
                continue
            i += len(part)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)
