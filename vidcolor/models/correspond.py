"""Dense correspondence between a gray target and a colour reference (an extension of Xu et al. 2020).

The paper samples its hints from the transfer sub-net's T_ab, which has the reference's colour STATISTICS but not
its colour PLACEMENT. Exemplar video methods that score well on DAVIS (Deep Exemplar, ColorMNet) instead match the
target to the reference and carry the reference's colours along the matches. This module does that with the
VGG19 encoder the project already runs, and no learned parameters:

- descriptors: relu3_1 (average-pooled to stride 8) and relu4_1 of the GRAY version of an image, each centred and
  L2-normalised per position, concatenated and normalised again -> (N, 768, H/8, W/8). Both sides are gray, so the
  match is about content and texture, never about colours the target does not have.
- soft_warp: cosine similarity of every target cell to every reference cell, softmax with temperature ``tau``
  (0.01, as Zhang et al. 2019 "Deep exemplar-based video colorization") over the reference cells, and the
  reference's mean ab per cell carried along -> ab at stride 8 and a confidence (the best similarity).
Pure functions; shapes in the docstrings; ab in Lab units.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from vidcolor.models.filters import guided_filter

MATCH_LAYERS = ("conv3_1", "conv4_1")
CELL = 8  # stride of relu4_1: one descriptor per 8 x 8 pixels
DESC_CHANNELS = 768  # relu3_1 (256) + relu4_1 (512)
TAU = 0.01
CHUNK = 4096  # target cells per similarity block: bounds memory at large working sizes
MAX_CELLS = 4096  # above this many cells a side is pooled: matching cost stays flat as the working size grows
GUIDE_RADIUS, GUIDE_EPS = 4, 1e-3  # guided filter for the matched ab: 9 x 9 window, L scaled to [0, 1]


def _unit(x: torch.Tensor) -> torch.Tensor:
    """Centre each position's feature vector over channels and give it unit length. (N, C, h, w) -> same."""
    return F.normalize(x - x.mean(dim=1, keepdim=True), dim=1)


def descriptors(feats: dict[str, torch.Tensor]) -> torch.Tensor:
    """VGG features by layer name (``VGGEncoder`` output) -> (N, 768, H/8, W/8) unit descriptors."""
    f3 = F.avg_pool2d(feats["conv3_1"].float(), 2)  # (N, 256, H/8, W/8)
    f4 = feats["conv4_1"].float()  # (N, 512, H/8, W/8)
    return F.normalize(torch.cat([_unit(f3), _unit(f4)], dim=1), dim=1)


def coarsen(desc: torch.Tensor, max_cells: int = MAX_CELLS) -> torch.Tensor:
    """(N, C, h, w) descriptors -> at most about ``max_cells`` cells (averaged over k x k blocks, renormalised)."""
    h, w = desc.shape[-2:]
    k = math.ceil(math.sqrt(h * w / max_cells))
    if k <= 1:
        return desc
    return F.normalize(F.adaptive_avg_pool2d(desc, (math.ceil(h / k), math.ceil(w / k))), dim=1)


def reference_cells(desc_ref: torch.Tensor, ab_ref: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A reference's descriptors (1, C, h, w) and its ab (1, 2, 8h, 8w) -> keys (C, P) and values (2, P): the
    descriptor and the mean ab of each of its P cells (coarsened past MAX_CELLS). Several references combine by
    concatenating P."""
    if tuple(ab_ref.shape[-2:]) != (CELL * desc_ref.shape[-2], CELL * desc_ref.shape[-1]):
        raise ValueError(f"ab {tuple(ab_ref.shape[-2:])} is not {CELL} x the descriptors' {tuple(desc_ref.shape[-2:])}")
    desc_ref = coarsen(desc_ref)
    ab_cells = F.adaptive_avg_pool2d(ab_ref.float(), desc_ref.shape[-2:])  # (1, 2, h', w')
    return desc_ref[0].flatten(1), ab_cells[0].flatten(1)


def soft_warp(
    desc_target: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, tau: float = TAU
) -> tuple[torch.Tensor, torch.Tensor]:
    """desc_target (N, C, h, w), keys (C, P), values (2, P) -> (ab (N, 2, h, w), confidence (N, 1, h, w)).

    ab = softmax(similarity / tau) @ values per target cell; confidence = the best cosine similarity in [-1, 1].
    """
    n, c, h, w = desc_target.shape
    queries = desc_target.float().flatten(2).transpose(1, 2)  # (N, h*w, C)
    keys, values_t = keys.float(), values.float().t()  # (C, P), (P, 2)
    ab_parts, conf_parts = [], []
    for start in range(0, h * w, CHUNK):
        sim = queries[:, start : start + CHUNK] @ keys  # (N, chunk, P)
        conf_parts.append(sim.amax(dim=-1))
        ab_parts.append(torch.softmax(sim / tau, dim=-1) @ values_t)  # (N, chunk, 2)
    ab = torch.cat(ab_parts, dim=1).transpose(1, 2).reshape(n, 2, h, w)
    confidence = torch.cat(conf_parts, dim=1).reshape(n, 1, h, w)
    return ab, confidence


def confidence_weight(confidence: torch.Tensor, threshold: float = 0.6, softness: float = 0.05) -> torch.Tensor:
    """Similarity -> weight in (0, 1) of the matched colours against the refinement net's (sigmoid step)."""
    return torch.sigmoid((confidence - threshold) / softness)


def upsample_cells(ab_cells: torch.Tensor, l_small: torch.Tensor) -> torch.Tensor:
    """Matched ab per cell (N, 2, h, w) (8 x 8 cells, or 4 x 4 sub-cells where placed) -> (N, 2, H, W) at the L's
    size: bilinear, then edge-aware (a guided filter on L (N, 1, H, W), L 0..100) so colour edges follow the frame's
    edges."""
    ab = F.interpolate(ab_cells.float(), size=l_small.shape[-2:], mode="bilinear", align_corners=False)
    return guided_filter(l_small.float() / 100.0, ab, 2 * GUIDE_RADIUS + 1, GUIDE_EPS)
