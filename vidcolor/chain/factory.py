"""The Predictor built later: the working size is checked now (preflight.py), torch is imported only when the
factory is called. Nothing here imports torch at import time."""

from __future__ import annotations

from vidcolor.chain.preflight import check_size


def predictor_factory(vgg, device: str, size: int, hints: str = "match", precision: str | None = None):
    """A function that builds the Predictor when called (importing torch then), the size checked now.
    ``hints``: match, match-frozen (the frozen matcher: the chain before the learned parts) or transfer;
    ``precision``: auto (None), fp32, bf16 or fp16 (chain/precision.py)."""
    check_size(size)
    matcher = "frozen" if hints == "match-frozen" else "learned"
    hints = "transfer" if hints == "transfer" else "match"

    def make(**kwargs):
        from vidcolor.chain.predictor import Predictor

        kwargs.setdefault("matcher", matcher)
        kwargs.setdefault("precision", precision)
        return Predictor.from_pretrained(vgg=vgg, device=device, size=size, hints=hints, **kwargs)

    return make
