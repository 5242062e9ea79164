"""Choose the reference for a shot: the one whose VGG statistics best match the shot's first frame.

Both sides are compared as GRAY images (the reference reduced to its luminance), so the match is about content and
texture, not about the colours that pre-colorization would guess. Distance: per VGG level (relu1_1..relu4_1), the
relative L2 distance of the channel means plus that of the channel stds, summed. Lower is closer; the score is
written into the shot file so that people can see weak matches.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from vidcolor.chain.predictor import Predictor, working_shape
from vidcolor.color import caffe_preprocess, gray_to_l, l_to_gray_rgb, rgb_to_l
from vidcolor.models.adain import mean_std

Signature = list[tuple[torch.Tensor, torch.Tensor]]


@torch.no_grad()
def signature(predictor: Predictor, image: np.ndarray) -> Signature:
    """(H, W) gray or (H, W, 3) RGB uint8 -> per-level (mean, std) of VGG features of its gray version."""
    x = torch.from_numpy(np.ascontiguousarray(image)).float().div(255).to(predictor.device)
    x = x[None, None] if x.ndim == 2 else x.permute(2, 0, 1)[None]
    l_full = gray_to_l(x) if x.shape[1] == 1 else rgb_to_l(x)
    hs, ws = working_shape(*l_full.shape[-2:], predictor.size)
    rgb = l_to_gray_rgb(F.interpolate(l_full, size=(hs, ws), mode="bilinear", align_corners=False, antialias=True))
    stats: Signature = []
    predictor.transfer.encoder(caffe_preprocess(rgb), hook=lambda _level, feat: stats.append(mean_std(feat)) or feat)
    return [(m.flatten(), s.flatten()) for m, s in stats]


def distance(a: Signature, b: Signature) -> float:
    total = 0.0
    for (ma, sa), (mb, sb) in zip(a, b, strict=True):
        total += float((ma - mb).norm() / (mb.norm() + 1e-6)) + float((sa - sb).norm() / (sb.norm() + 1e-6))
    return total


def best_match(frame_sig: Signature, candidates: list[Signature]) -> tuple[int, list[float]]:
    scores = [distance(frame_sig, c) for c in candidates]
    return int(np.argmin(scores)), scores
