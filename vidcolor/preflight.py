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


def predictor_factory(vgg, device: str, size: int, hints: str = "match"):
    """A function that builds the Predictor when called (importing torch then), the size checked now.
    ``hints``: match, match-frozen (the frozen matcher: the chain before the learned parts) or transfer."""
    check_size(size)
    matcher = "frozen" if hints == "match-frozen" else "learned"
    hints = "transfer" if hints == "transfer" else "match"

    def make(**kwargs):
        from vidcolor.predictor import Predictor

        kwargs.setdefault("matcher", matcher)
        return Predictor.from_pretrained(vgg=vgg, device=device, size=size, hints=hints, **kwargs)

    return make
