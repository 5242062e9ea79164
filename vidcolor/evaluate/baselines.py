"""Reference-free and trivial baselines, computed in Lab with the target's own L (no weights involved)."""

from __future__ import annotations

import torch

from vidcolor.color import rgb_to_lab


def gray_ab(l_full: torch.Tensor) -> torch.Tensor:
    """ab = 0 everywhere: (N, 1, H, W) -> (N, 2, H, W)."""
    return torch.zeros(l_full.shape[0], 2, *l_full.shape[2:], dtype=l_full.dtype, device=l_full.device)


def reinhard_ab(l_full: torch.Tensor, rgb_ref: torch.Tensor) -> torch.Tensor:
    """Global Lab mean/std transfer (Reinhard et al. 2001) from the reference onto a gray target.

    The target's ab has zero mean and zero spread, so the transferred ab is the reference's mean ab everywhere
    (its spread has nothing to scale). rgb_ref: (1, 3, h, w) in [0, 1].
    """
    ab_mean = rgb_to_lab(rgb_ref)[:, 1:].mean(dim=(2, 3), keepdim=True)  # (1, 2, 1, 1)
    return ab_mean.expand(l_full.shape[0], -1, *l_full.shape[2:]).to(l_full.dtype)
