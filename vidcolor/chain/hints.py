"""Sparse ab hints for the colorization sub-net: the same functions serve training and inference.

A hint pattern is a binary mask of point positions. At each point the hint value is the mean ab over a small
``patch`` x ``patch`` window around it (as Zhang et al. 2017 sample user points). For video the pattern is drawn
ONCE per reference segment (fixed seed) so that static scenes do not flicker.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


def point_mask(h: int, w: int, count: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """(1, 1, h, w) float mask with ``count`` distinct random positions set to 1."""
    count = max(0, min(count, h * w))
    mask = torch.zeros(h * w)
    if count:
        mask[torch.randperm(h * w, generator=generator)[:count]] = 1.0
    return mask.view(1, 1, h, w)


def hint_pattern(h: int, w: int, density: float, seed: int = 0) -> torch.Tensor:
    """Reusable inference pattern: ``density`` of the pixels (e.g. 0.01), seeded, (1, 1, h, w)."""
    generator = torch.Generator().manual_seed(seed)
    return point_mask(h, w, round(density * h * w), generator)


def apply_hints(ab: torch.Tensor, mask: torch.Tensor, patch: int = 3) -> torch.Tensor:
    """ab (B, 2, H, W), mask (B or 1, 1, H, W) -> hint map (B, 2, H, W): patch-mean ab at mask points, 0 elsewhere."""
    if patch > 1:
        ab = F.avg_pool2d(ab, patch, stride=1, padding=patch // 2, count_include_pad=False)
    return ab * mask


def random_training_hints(
    ab: torch.Tensor,
    generator: torch.Generator,
    empty_share: float = 0.2,
    min_density: float = 5e-4,
    max_density: float = 0.05,
    max_patch: int = 5,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample random hints for training: (hints (B, 2, H, W), mask (B, 1, H, W)).

    A share ``empty_share`` of samples get no hint at all (automatic colorization); the others get a density
    drawn log-uniformly in [min_density, max_density] and one odd patch size in 1..max_patch.
    """
    b, _, h, w = ab.shape
    masks, hints = [], []
    for i in range(b):
        if torch.rand((), generator=generator).item() < empty_share:
            count, patch = 0, 1
        else:
            u = torch.rand((), generator=generator).item()
            density = min_density * (max_density / min_density) ** u
            count = max(1, round(density * h * w))
            patch = 1 + 2 * int(torch.randint(0, max_patch // 2 + 1, (), generator=generator))
        mask = point_mask(h, w, count, generator).to(ab.device)
        masks.append(mask)
        hints.append(apply_hints(ab[i : i + 1], mask, patch))
    return torch.cat(hints), torch.cat(masks)
