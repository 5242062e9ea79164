"""Video output colour: the two chroma planes of a frame from its own luma plane and the predicted ab.

Pure torch functions. A video frame's colour is its chroma: the luma plane (Y') is the source's, passed through
untouched, and only Cb/Cr are computed, at chroma resolution (4:2:0: half the width and height; 4:4:4: full).

Conventions (ITU-R BT.601 / BT.709 / BT.2020 non-constant luminance, matrix coefficients ``kr``, ``kb``):

- Y' in [0, 1] and Cb, Cr in [-0.5, 0.5] are the nominal ("unit") values; codes are integers of ``bits`` bits,
  limited range (Y' 16..235, C 16..240, times 2^(bits-8)) or full range (0..2^bits - 1, C centred on 2^(bits-1)).
- R', G', B' (gamma-encoded, [0, 1] in gamut) follow from Y', Cb, Cr linearly:
  R' = Y' + 2 (1 - kr) Cr,  B' = Y' + 2 (1 - kb) Cb,  G' = Y' - (2 kb (1 - kb) Cb + 2 kr (1 - kr) Cr) / kg.
  So for a chroma scale factor s, every channel is Y' + s d with d linear in (Cb, Cr): the largest s in [0, 1]
  keeping all three in [0, 1] has a closed form (``gamut_scale``), no bisection.

The colour itself: the frame's lightness L (CIE, of the neutral gray with the pixel's luma value, as the networks
see it) together with the predicted ab give R'G'B' (sRGB); its Cb/Cr (the matrix rows) are the output chroma.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from vidcolor.color import gray_to_l, lab_to_rgb

# AVColorSpace -> (kr, kb). 1 BT.709, 4 FCC, 5 BT.470BG, 6 SMPTE 170M (both BT.601), 7 SMPTE 240M, 9/10 BT.2020.
BT601, BT709, BT2020 = (0.299, 0.114), (0.2126, 0.0722), (0.2627, 0.0593)
MATRICES = {1: BT709, 4: (0.30, 0.11), 5: BT601, 6: BT601, 7: (0.212, 0.087), 9: BT2020, 10: BT2020}


@dataclass(frozen=True)
class YCbCr:
    """How a frame's planes encode colour: matrix, bit depth, range, and chroma subsampling (2: 4:2:0, 1: 4:4:4)."""

    kr: float = 0.2126
    kb: float = 0.0722
    bits: int = 8
    full_range: bool = False
    subsampling: int = 2

    @classmethod
    def for_colorspace(cls, colorspace: int, bits: int = 8, full_range: bool = False, subsampling: int = 2):
        kr, kb = MATRICES.get(colorspace, MATRICES[1])
        return cls(kr, kb, bits, full_range, subsampling)

    @property
    def max_code(self) -> int:
        return (1 << self.bits) - 1

    def luma_unit(self, codes: torch.Tensor) -> torch.Tensor:
        """Luma codes (any shape, any dtype) -> nominal Y' (float; 0..1 for codes in the nominal range)."""
        if self.full_range:
            return codes.float() / self.max_code
        k = 1 << (self.bits - 8)
        return (codes.float() - 16 * k) / (219 * k)

    def chroma_codes(self, cbcr: torch.Tensor) -> torch.Tensor:
        """Cb/Cr in [-0.5, 0.5] -> rounded integer codes (int32, clamped to the code range)."""
        half = 1 << (self.bits - 1)
        scale = self.max_code if self.full_range else 224 * (1 << (self.bits - 8))
        return (cbcr * scale + half).round().clamp(0, self.max_code).to(torch.int32)

    def chroma_unit(self, codes: torch.Tensor) -> torch.Tensor:
        """Inverse of ``chroma_codes`` (up to rounding)."""
        scale = self.max_code if self.full_range else 224 * (1 << (self.bits - 8))
        return (codes.float() - (1 << (self.bits - 1))) / scale

    def chroma_shape(self, height: int, width: int) -> tuple[int, int]:
        s = self.subsampling
        return (height + s - 1) // s, (width + s - 1) // s


def luma_l_table(spec: YCbCr) -> torch.Tensor:
    """(2^bits,) float: CIE L (0..100) of the neutral gray whose luma is each code (the networks' input)."""
    codes = torch.arange(spec.max_code + 1)
    return gray_to_l(spec.luma_unit(codes).clamp(0, 1)).flatten()


def rgb_to_cbcr(rgb: torch.Tensor, kr: float, kb: float) -> torch.Tensor:
    """(N, 3, H, W) R'G'B' (any values) -> (N, 2, H, W) Cb, Cr (the matrix rows; [-0.5, 0.5] for RGB in gamut)."""
    r, g, b = rgb.unbind(1)
    y = kr * r + (1 - kr - kb) * g + kb * b
    return torch.stack([(b - y) / (2 * (1 - kb)), (r - y) / (2 * (1 - kr))], dim=1)


def cbcr_to_offsets(cbcr: torch.Tensor, kr: float, kb: float) -> torch.Tensor:
    """(N, 2, H, W) Cb, Cr -> (N, 3, H, W) d with R'G'B' = Y' + d (the chroma's contribution to each channel)."""
    cb, cr = cbcr.unbind(1)
    kg = 1 - kr - kb
    return torch.stack(
        [2 * (1 - kr) * cr, -(2 * kb * (1 - kb) * cb + 2 * kr * (1 - kr) * cr) / kg, 2 * (1 - kb) * cb], dim=1
    )


def gamut_scale(y_low: torch.Tensor, y_high: torch.Tensor, cbcr: torch.Tensor, kr: float, kb: float) -> torch.Tensor:
    """The largest s in [0, 1] such that Y' + s d stays in [0, 1] for R', G' and B' and every Y' in [y_low, y_high].

    y_low, y_high: (N, 1, H, W) unit luma bounds of the pixels that share a chroma sample (equal for 4:4:4);
    cbcr: (N, 2, H, W). Returns (N, 1, H, W). Per channel with offset d: d > 0 needs s <= (1 - y_high) / d,
    d < 0 needs s <= y_low / |d|; d = 0 puts no bound. Luma outside [0, 1] (below black, above white) gives s = 0.
    """
    d = cbcr_to_offsets(cbcr.float(), kr, kb)
    room = torch.where(d > 0, 1 - y_high, y_low)  # distance to the bound each channel moves towards
    size = d.abs()
    bound = torch.where(size > 1e-12, room / size.clamp(min=1e-12), 1.0)
    return bound.amin(dim=1, keepdim=True).clamp(0.0, 1.0)


def luma_blocks(y: torch.Tensor, subsampling: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(N, 1, H, W) luma -> sum, min, max over each chroma sample's block, each (N, 1, ceil(H/s), ceil(W/s)).

    Odd sizes: the last row/column is replicated (the block then holds that pixel twice, min/max unchanged)."""
    if subsampling == 1:
        return y, y, y
    s = subsampling
    pad_h, pad_w = (-y.shape[-2]) % s, (-y.shape[-1]) % s
    if pad_h or pad_w:
        y = F.pad(y.float(), (0, pad_w, 0, pad_h), mode="replicate").to(y.dtype)
    # the block's s * s pixels as strided views, combined pairwise (a reduction over a permuted last axis of 4
    # copied the frame first: 6 times slower on the CPU)
    views = [y[..., i::s, j::s] for i in range(s) for j in range(s)]
    low = high = views[0]
    total = views[0].to(y.dtype if y.is_floating_point() else torch.int32)
    for v in views[1:]:
        low, high, total = torch.minimum(low, v), torch.maximum(high, v), total + v
    return total, low, high


@functools.lru_cache(maxsize=16)
def _block_l_table(spec: YCbCr, device: torch.device) -> torch.Tensor:
    """(s^2 * 2^bits,) float: CIE L of the neutral gray with the mean luma of a block, indexed by its code sum."""
    sums = torch.arange((spec.max_code + 1) * spec.subsampling**2 - (spec.subsampling**2 - 1))
    return gray_to_l(spec.luma_unit(sums.float() / spec.subsampling**2).clamp(0, 1)).flatten().to(device)


def chroma_planes(luma: torch.Tensor, ab: torch.Tensor, spec: YCbCr) -> torch.Tensor:
    """The output chroma codes of a batch of frames.

    luma: (N, 1, H, W) luma codes (uint8/int16/int32, ``spec``'s depth and range), passed through to the output;
    ab: (N, 2, h, w) predicted ab in Lab units, any size (resized to the chroma size here).
    Returns (N, 2, ceil(H/s), ceil(W/s)) int32 Cb, Cr codes such that, decoded with each pixel's own luma (and the
    chroma sample of its block), R', G', B' stay in [0, 1] up to the rounding of the codes.
    """
    luma = luma if luma.dtype in (torch.uint8, torch.int16, torch.int32, torch.int64) else luma.round().long()
    total, low, high = luma_blocks(luma, spec.subsampling)
    size = total.shape[-2:]
    if ab.shape[-2:] != size:
        ab = F.interpolate(ab.float(), size=size, mode="bilinear", align_corners=False)
    l = _block_l_table(spec, luma.device)[total.long()]
    cbcr = rgb_to_cbcr(lab_to_rgb(torch.cat([l, ab.float()], dim=1), clip=False), spec.kr, spec.kb)
    return spec.chroma_codes(cbcr * gamut_scale(spec.luma_unit(low), spec.luma_unit(high), cbcr, spec.kr, spec.kb))


def ycbcr_to_rgb(y: torch.Tensor, cbcr: torch.Tensor, spec: YCbCr) -> torch.Tensor:
    """Unit Y' (N, 1, H, W) and Cb/Cr (N, 2, H, W) at the same size -> (N, 3, H, W) R'G'B', not clipped."""
    return y + cbcr_to_offsets(cbcr, spec.kr, spec.kb)
