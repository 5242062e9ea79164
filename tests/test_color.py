import pytest
import torch

from vidcolor import color


def test_known_lab_values():
    rgb = torch.tensor([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]).view(3, 3, 1, 1)
    lab = color.rgb_to_lab(rgb).view(3, 3)
    assert lab[0].tolist() == pytest.approx([100.0, 0.0, 0.0], abs=0.05)
    assert lab[1].tolist() == pytest.approx([0.0, 0.0, 0.0], abs=0.05)
    assert lab[2].tolist() == pytest.approx([53.24, 80.09, 67.20], abs=0.1)  # sRGB red, D65


def test_lab_round_trip():
    rgb = torch.rand(2, 3, 16, 24)
    back = color.lab_to_rgb(color.rgb_to_lab(rgb))
    assert torch.allclose(back, rgb, atol=1e-4)


def test_normalisation_ranges():
    rgb = torch.rand(1, 3, 32, 32)
    lab = color.rgb_to_lab(rgb)
    assert color.normalize_l(lab[:, :1]).abs().max() <= 1.0 + 1e-6
    assert color.normalize_ab(lab[:, 1:]).abs().max() <= 1.0
    ab = torch.randn(1, 2, 4, 4)
    assert torch.allclose(color.denormalize_ab(color.normalize_ab(ab)), ab)


def test_caffe_preprocess_is_bgr_0_255_mean_subtracted():
    rgb = torch.tensor([1.0, 0.5, 0.0]).view(1, 3, 1, 1)
    out = color.caffe_preprocess(rgb).view(3)
    assert out.tolist() == pytest.approx([0 - 103.939, 127.5 - 116.779, 255 - 123.68])


def test_keep_l_reduces_chroma_not_lightness():
    l = torch.tensor([5.0, 50.0, 95.0, 60.0]).view(1, 1, 2, 2)
    ab = torch.tensor([[90.0, -100.0, 80.0, 5.0], [90.0, 100.0, -100.0, 5.0]]).view(1, 2, 2, 2)
    rgb = color.lab_to_rgb_keep_l(l, ab)
    assert rgb.min() >= 0 and rgb.max() <= 1
    l_back = color.rgb_to_lab(rgb)[:, :1]
    assert torch.allclose(l_back, l, atol=0.15)
    # plain clipping changes brightness on these pixels: that is what we avoid
    clipped = color.rgb_to_lab(color.lab_to_rgb(torch.cat([l, ab], 1)))[:, :1]
    assert (clipped - l).abs().max() > 1.0
    # in-gamut pixel untouched
    ab_back = color.rgb_to_lab(rgb)[:, 1:]
    assert ab_back[0, :, 1, 1].tolist() == pytest.approx([5.0, 5.0], abs=0.1)


def test_gray_l_shortcuts_equal_the_full_conversion():
    gray_u8 = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16)
    rgb_to_lab, gray_to_l, gray_u8_to_l = color.rgb_to_lab, color.gray_to_l, color.gray_u8_to_l
    gray = gray_u8.float() / 255.0
    full = rgb_to_lab(gray.expand(-1, 3, -1, -1))[:, :1]
    assert torch.allclose(gray_to_l(gray), full, atol=1e-3)
    assert torch.allclose(gray_u8_to_l(gray_u8), full, atol=1e-3)
    assert gray_u8_to_l(gray_u8).dtype == torch.float32
