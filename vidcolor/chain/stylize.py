"""Photorealistic stylization with the transfer sub-net alone (Xu et al. 2020, 4.4-4.5): `vidcolor stylize`.

``stylize(content, reference)`` with ``content == reference`` reproduces the image: that is how the decoder's
quality is checked (training/eval_decoder.py).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from vidcolor.chain.predictor import Predictor, to_float01, to_uint8_frames
from vidcolor.chain.reference import Reference
from vidcolor.errors import VidcolorError


@torch.no_grad()
def stylize_small(predictor: Predictor, content: np.ndarray, reference: Reference) -> tuple[torch.Tensor, torch.Tensor]:
    """(H, W, 3) uint8 -> (content, transfer output), both (1, 3, h, w) in [0, 1] at the working size."""
    if predictor.transfer is None:
        raise VidcolorError("this predictor was built without the transfer sub-net")
    rgb_small = predictor.resize_rgb(to_float01(content[None]).to(predictor.device))
    with predictor._autocast():
        out_small = predictor.transfer(rgb_small, reference.stats).float()
    return rgb_small, out_small


@torch.no_grad()
def stylize(predictor: Predictor, content: np.ndarray, reference: Reference) -> np.ndarray:
    """(H, W, 3) uint8 colour content -> stylised (H, W, 3) uint8 at the content's size.

    The network runs at the working size; its CHANGE to the content is upsampled and added to the full-resolution
    content, so fine detail the working size cannot hold is kept (identity stays sharp).
    """
    rgb_small, out_small = stylize_small(predictor, content, reference)
    rgb_full = to_float01(content[None]).to(predictor.device)
    delta = F.interpolate(out_small - rgb_small, size=content.shape[:2], mode="bilinear", align_corners=False)
    return to_uint8_frames(rgb_full + delta)[0]
