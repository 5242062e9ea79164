"""Argument checks that need no network: they run before torch is imported (``import torch`` alone takes
seconds), so a mistyped option or a wrong file fails in a fraction of a second. Nothing here imports torch."""

from __future__ import annotations

from vidcolor.errors import VidcolorError

MIN_SIZE, MAX_SIZE = 64, 4096


def check_size(size: int) -> int:
    """The working size rounded up to a multiple of 8; an error outside MIN_SIZE..MAX_SIZE."""
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise VidcolorError(f"--size {size}: working size must be between {MIN_SIZE} and {MAX_SIZE} pixels")
    return (size + 7) // 8 * 8
