"""Adaptive instance normalisation (Huang & Belongie 2017): stateless, no learnable parameters.

AdaIN(x, y) = sigma(y) * (x - mu(x)) / sigma(x) + mu(y), per channel and per sample.
Here y enters only through its statistics, so a reference's statistics can be computed once and reused.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

EPS = 1e-5


def mean_std(feat: torch.Tensor, eps: float = EPS) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, C, H, W) -> mean (B, C, 1, 1), std (B, C, 1, 1) over the spatial positions (biased variance)."""
    mean = feat.mean(dim=(2, 3), keepdim=True)
    var = feat.var(dim=(2, 3), keepdim=True, unbiased=False)
    return mean, (var + eps).sqrt()


def adain(content: torch.Tensor, style_mean: torch.Tensor, style_std: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """Give ``content`` (B, C, H, W) the per-channel mean/std ``style_mean``/``style_std`` (B or 1, C, 1, 1)."""
    c_mean, c_std = mean_std(content, eps)
    return style_std * (content - c_mean) / c_std + style_mean


@dataclass(frozen=True)
class ReferenceStats:
    """Mean/std of a reference at the 8 AdaIN points: encoder relu{i}_1 and decoder conv{i}_1, i = 4..1 order
    as computed. Each tensor is (1, C, 1, 1) and broadcasts over a batch of frames."""

    encoder: tuple[tuple[torch.Tensor, torch.Tensor], ...]
    decoder: tuple[tuple[torch.Tensor, torch.Tensor], ...]

    def to(self, device=None, dtype=None) -> ReferenceStats:
        def move(pairs):
            return tuple((m.to(device=device, dtype=dtype), s.to(device=device, dtype=dtype)) for m, s in pairs)

        return ReferenceStats(move(self.encoder), move(self.decoder))

    @staticmethod
    def average(stats: list[ReferenceStats], weights: list[float] | None = None) -> ReferenceStats:
        """Combine several references: weighted mean of means, and of variances (a mixture's moments)."""
        if not stats:
            raise ValueError("no statistics to average")
        w = torch.tensor(weights or [1.0] * len(stats), dtype=torch.float64)
        w = (w / w.sum()).tolist()

        def mix(groups):
            out = []
            for pairs in zip(*groups, strict=True):
                mean = sum(wi * m for wi, (m, _) in zip(w, pairs, strict=True))
                second = sum(wi * (s * s + m * m) for wi, (m, s) in zip(w, pairs, strict=True))
                out.append((mean, (second - mean * mean).clamp_min(EPS).sqrt()))
            return tuple(out)

        return ReferenceStats(mix([s.encoder for s in stats]), mix([s.decoder for s in stats]))
