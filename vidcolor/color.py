"""Colour conversions and the normalisation conventions, written down once.

Pure functions on tensors. Conventions used everywhere in vidcolor:

- RGB: float in [0, 1], sRGB (gamma-encoded), shape (B, 3, H, W).
- Lab: CIELab, D65 white, via kornia. ``L`` in [0, 100]; ``a``, ``b`` roughly in [-128, 127]
  (the sRGB gamut spans a in [-86, 98], b in [-108, 95]).
- Network inputs/outputs are normalised: ``l_norm = (L - 50) / 50`` in [-1, 1] and ``ab_norm = ab / 110``
  (the sRGB gamut maps into about [-1, 1]).
- VGG19 (Caffe weights) takes BGR, 0..255, minus the per-channel mean ``CAFFE_MEAN_BGR``; no std division.
"""

from __future__ import annotations

import torch
from kornia.color import lab_to_rgb as _kornia_lab_to_rgb
from kornia.color import rgb_to_lab as _kornia_rgb_to_lab

L_CENTER = 50.0
L_SCALE = 50.0
AB_SCALE = 110.0
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB in [0, 1] -> (B, 3, H, W) Lab (L in [0, 100])."""
    return _kornia_rgb_to_lab(rgb.float().clamp(0.0, 1.0))


def lab_to_rgb(lab: torch.Tensor, clip: bool = True) -> torch.Tensor:
    """(B, 3, H, W) Lab -> (B, 3, H, W) RGB; clipped to [0, 1] unless ``clip=False``."""
    return _kornia_lab_to_rgb(lab.float(), clip=clip)


def rgb_to_l(rgb: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB in [0, 1] -> (B, 1, H, W) L in [0, 100]."""
    return rgb_to_lab(rgb)[:, :1]


def gray_to_l(gray: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) gray value in [0, 1] (R = G = B) -> (B, 1, H, W) L in [0, 100].

    For a neutral pixel the relative luminance Y is the linearised value itself, so L needs one channel: the same
    sRGB decoding and CIE f() as kornia's rgb_to_lab, a third of its work (tested equal)."""
    v = gray.float().clamp(0.0, 1.0)
    y = torch.where(v > 0.04045, ((v + 0.055) / 1.055).pow(2.4), v / 12.92)
    f = torch.where(y > 0.008856, y.pow(1.0 / 3.0), 7.787 * y + 4.0 / 29.0)
    return 116.0 * f - 16.0


_L_OF_UINT8 = gray_to_l(torch.arange(256, dtype=torch.float32).div(255.0)).flatten()  # (256,)


def gray_u8_to_l(gray: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) uint8 gray -> (B, 1, H, W) float L in [0, 100], by a 256-entry lookup table."""
    return _L_OF_UINT8.to(gray.device)[gray.long()]


def l_to_gray_rgb(l: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) L -> (B, 3, H, W) neutral RGB with that lightness."""
    return lab_to_rgb(torch.cat([l, torch.zeros_like(l), torch.zeros_like(l)], dim=1))


def normalize_l(l: torch.Tensor) -> torch.Tensor:
    """L in [0, 100] -> [-1, 1]."""
    return (l - L_CENTER) / L_SCALE


def normalize_ab(ab: torch.Tensor) -> torch.Tensor:
    """ab in Lab units -> about [-1, 1]."""
    return ab / AB_SCALE


def denormalize_ab(ab_norm: torch.Tensor) -> torch.Tensor:
    """Network ab in about [-1, 1] -> Lab units."""
    return ab_norm * AB_SCALE


def caffe_preprocess(rgb: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB in [0, 1] -> Caffe VGG input: BGR, 0..255, mean-subtracted."""
    mean = torch.tensor(CAFFE_MEAN_BGR, dtype=rgb.dtype, device=rgb.device).view(1, 3, 1, 1)
    return rgb.flip(1) * 255.0 - mean


def lab_to_rgb_keep_l(l: torch.Tensor, ab: torch.Tensor, iters: int = 10) -> torch.Tensor:
    """Recombine L and ab into RGB in [0, 1] without letting clipping change brightness.

    Where ``L + ab`` falls outside the sRGB gamut, that pixel's chroma is scaled down (bisection on a
    per-pixel factor in [0, 1]) until it fits; the pixel's L is kept exactly (up to float error).
    l: (B, 1, H, W) in [0, 100]; ab: (B, 2, H, W). Returns (B, 3, H, W).
    """
    l = l.float().clamp(0.0, 100.0)
    ab = ab.float()
    rgb = lab_to_rgb(torch.cat([l, ab], dim=1), clip=False)
    eps = 1e-4
    outside = ((rgb < -eps) | (rgb > 1 + eps)).any(dim=1)  # (B, H, W)
    if bool(outside.any()):
        idx = outside.nonzero(as_tuple=True)
        l_out = l[idx[0], :, idx[1], idx[2]]  # (N, 1)
        ab_out = ab[idx[0], :, idx[1], idx[2]]  # (N, 2)
        lo = torch.zeros_like(l_out)
        hi = torch.ones_like(l_out)
        for _ in range(iters):
            mid = (lo + hi) / 2
            lab = torch.cat([l_out, ab_out * mid], dim=1).view(-1, 3, 1, 1)
            test = lab_to_rgb(lab, clip=False).view(-1, 3)
            ok = ((test >= -eps) & (test <= 1 + eps)).all(dim=1, keepdim=True)
            lo = torch.where(ok, mid, lo)
            hi = torch.where(ok, hi, mid)
        lab = torch.cat([l_out, ab_out * lo], dim=1).view(-1, 3, 1, 1)
        rgb[idx[0], :, idx[1], idx[2]] = lab_to_rgb(lab, clip=False).view(-1, 3)
    return rgb.clamp(0.0, 1.0)
