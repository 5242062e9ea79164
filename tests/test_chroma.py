"""Chroma from luma + ab: the closed-form gamut limit against brute force, range of every decoded pixel, luma kept."""

import pytest
import torch

from vidcolor.chain.chroma import (
    MATRICES,
    YCbCr,
    _block_l_table,
    cbcr_to_offsets,
    chroma_planes,
    gamut_scale,
    luma_blocks,
    luma_l_table,
    rgb_to_cbcr,
    ycbcr_to_rgb,
)
from vidcolor.color import gray_to_l, rgb_to_lab

SPECS = [
    YCbCr.for_colorspace(1, 8, False, 2),
    YCbCr.for_colorspace(6, 8, True, 2),
    YCbCr.for_colorspace(5, 10, False, 1),
    YCbCr.for_colorspace(9, 10, True, 2),
]


def brute_force_scale(y_low, y_high, cbcr, kr, kb, steps=20001):
    """Largest s on a fine grid of [0, 1] keeping R'G'B' in [0, 1] for both luma bounds (each channel is linear in
    Y', so the two bounds are the extremes)."""
    s = torch.linspace(0, 1, steps).view(1, steps, 1, 1)
    d = cbcr_to_offsets(cbcr, kr, kb)  # (N, 3, H, W)
    ok = torch.ones(cbcr.shape[0], steps, *cbcr.shape[-2:], dtype=torch.bool)
    for c in range(3):
        for y in (y_low, y_high):
            v = y + s * d[:, c : c + 1]
            ok &= (v >= -1e-7) & (v <= 1 + 1e-7)
    # ok is monotone in s (the set of good s is an interval containing 0 when y is in [0, 1])
    index = torch.where(ok, torch.arange(steps).view(1, steps, 1, 1), -1).amax(dim=1, keepdim=True)
    return index.clamp(min=0).float() / (steps - 1)


@pytest.mark.parametrize("space", [1, 5, 9])
def test_gamut_scale_is_the_largest_safe_factor(space):
    kr, kb = MATRICES[space]
    gen = torch.Generator().manual_seed(space)
    y1, y2 = torch.rand(2, 4, 1, 16, 16, generator=gen)
    y_low, y_high = torch.minimum(y1, y2), torch.maximum(y1, y2)
    cbcr = (torch.rand(4, 2, 16, 16, generator=gen) - 0.5) * 1.4  # many out of gamut, some inside
    s = gamut_scale(y_low, y_high, cbcr, kr, kb)
    assert s.shape == (4, 1, 16, 16) and (s >= 0).all() and (s <= 1).all()
    d = cbcr_to_offsets(cbcr * s, kr, kb)
    for y in (y_low, y_high):
        rgb = y + d
        assert rgb.min() >= -1e-5 and rgb.max() <= 1 + 1e-5  # every channel in range at both luma extremes
    brute = brute_force_scale(y_low, y_high, cbcr, kr, kb)
    assert (s - brute).abs().max() < 1e-4  # and no smaller than needed
    assert (s < 1).float().mean() > 0.3 and (s == 1).any()  # the test exercises both cases


def test_gamut_scale_neutral_where_luma_is_outside_the_nominal_range():
    kr, kb = MATRICES[1]
    y = torch.tensor([-0.02, 0.0, 0.5, 1.0, 1.03]).view(1, 1, 1, 5)
    cbcr = torch.full((1, 2, 1, 5), 0.2)
    s = gamut_scale(y, y, cbcr, kr, kb)
    assert s[0, 0, 0, 0] == 0 and s[0, 0, 0, 4] == 0 and s[0, 0, 0, 1] == 0 and s[0, 0, 0, 3] == 0
    assert 0 < s[0, 0, 0, 2] <= 1


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.bits}-{'full' if s.full_range else 'ltd'}-{s.subsampling}")
def test_chroma_planes_decode_in_range_and_keep_luma(spec):
    gen = torch.Generator().manual_seed(spec.bits + spec.subsampling)
    h, w = 23, 30  # odd height: 4:2:0 blocks replicate the last row
    luma = torch.randint(0, spec.max_code + 1, (3, 1, h, w), generator=gen)
    ab = (torch.rand(3, 2, 7, 9, generator=gen) - 0.5) * 240  # far beyond the sRGB gamut in places
    codes = chroma_planes(luma, ab, spec)
    assert codes.shape == (3, 2, *spec.chroma_shape(h, w)) and codes.dtype == torch.int32
    assert codes.min() >= 0 and codes.max() <= spec.max_code
    cbcr = spec.chroma_unit(codes)
    s = spec.subsampling
    cbcr_full = cbcr.repeat_interleave(s, dim=2).repeat_interleave(s, dim=3)[..., :h, :w]  # each pixel's sample
    y = spec.luma_unit(luma)
    rgb = ycbcr_to_rgb(y, cbcr_full, spec)
    nominal = ((y >= 0) & (y <= 1)).expand_as(rgb)
    half_code = 0.5 / (spec.max_code if spec.full_range else 224 * (1 << (spec.bits - 8)))
    tol = 2 * half_code * 1.9  # rounding of both codes, times the largest matrix coefficient
    assert rgb[nominal].min() >= -tol and rgb[nominal].max() <= 1 + tol
    # the luma of the decoded colour is the luma that came in: chroma never moves it
    luma_back = spec.kr * rgb[:, 0] + (1 - spec.kr - spec.kb) * rgb[:, 1] + spec.kb * rgb[:, 2]
    assert torch.allclose(luma_back, y[:, 0], atol=1e-5)
    assert (codes != (1 << (spec.bits - 1))).float().mean() > 0.25  # and often in colour (random luma: wide blocks)


def test_neutral_ab_gives_neutral_chroma():
    spec = YCbCr.for_colorspace(1, 8, False, 2)
    luma = torch.randint(16, 236, (2, 1, 16, 20))
    codes = chroma_planes(luma, torch.zeros(2, 2, 4, 5), spec)
    assert (codes - 128).abs().max() <= 1  # the gray of kornia's Lab -> sRGB is neutral up to float error


def test_chroma_follows_the_colour_of_in_gamut_pixels():
    """Chroma from (the colour's luma, the colour's ab) points the same way as the colour's own Cb/Cr."""
    spec = YCbCr.for_colorspace(6, 8, True, 1)
    gen = torch.Generator().manual_seed(3)
    rgb = 0.15 + 0.7 * torch.rand(1, 3, 12, 12, generator=gen)
    own = rgb_to_cbcr(rgb, spec.kr, spec.kb)
    y = spec.kr * rgb[:, :1] + (1 - spec.kr - spec.kb) * rgb[:, 1:2] + spec.kb * rgb[:, 2:]
    codes = chroma_planes((y * 255).round(), rgb_to_lab(rgb)[:, 1:], spec)
    got = spec.chroma_unit(codes)
    cosine = (own * got).sum(1) / (own.norm(dim=1) * got.norm(dim=1) + 1e-9)
    strong = own.norm(dim=1) > 0.05
    assert cosine[strong].mean() > 0.95


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int16])
def test_luma_blocks_match_a_per_block_reduction(dtype):
    y = torch.randint(0, 256 if dtype == torch.uint8 else 1024, (2, 1, 7, 9), dtype=dtype)
    total, low, high = luma_blocks(y, 2)
    padded = torch.nn.functional.pad(y.float(), (0, 1, 0, 1), mode="replicate")
    blocks = padded.unfold(2, 2, 2).unfold(3, 2, 2).reshape(2, 1, 4, 5, 4)
    assert total.dtype == torch.int32 and low.dtype == high.dtype == dtype
    assert torch.equal(total.float(), blocks.sum(-1)) and torch.equal(low.float(), blocks.amin(-1))
    assert torch.equal(high.float(), blocks.amax(-1))


def test_luma_blocks_and_l_table():
    y = torch.arange(15, dtype=torch.float32).view(1, 1, 3, 5)
    total, low, high = luma_blocks(y, 2)
    assert total.shape == (1, 1, 2, 3)
    assert low[0, 0, 0, 0] == 0 and high[0, 0, 0, 0] == 6 and total[0, 0, 0, 0] == 12
    assert total[0, 0, 1, 2] == 4 * 14
    assert low[0, 0, 1, 2] == 14 and high[0, 0, 1, 2] == 14  # corner block: one pixel, replicated
    table = luma_l_table(YCbCr(bits=8, full_range=False))
    assert table.shape == (256,) and table[16] == 0 and table[:16].eq(0).all() and table[235:].eq(100).all()
    assert torch.allclose(table[128], gray_to_l(torch.tensor((128.0 - 16) / 219)).flatten())
    assert luma_l_table(YCbCr(bits=10, full_range=True)).shape == (1024,)
    spec = YCbCr(bits=10, full_range=False, subsampling=2)  # uniform blocks: the L of their code
    row = torch.arange(0, 1024, 3, dtype=torch.int32)
    codes = row.view(1, 1, 1, -1).repeat_interleave(2, 2).repeat_interleave(2, 3)
    flat = chroma_planes(codes, torch.zeros(1, 2, 1, row.numel()), spec)
    assert (flat - 512).abs().max() <= 1
    assert torch.allclose(_block_l_table(spec, torch.device("cpu"))[4 * row], luma_l_table(spec)[row])
