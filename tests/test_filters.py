"""Box and guided filters by running sums give what the windowed filters give."""

import cv2
import numpy as np
import pytest
import torch
from kornia.filters import guided_blur
from torch.nn import functional as F

from vidcolor.models.filters import box_mean, guided_filter


@pytest.mark.parametrize("window", [1, 2, 5, 9])
def test_box_mean_is_opencvs_blur(window):
    x = np.random.default_rng(window).random((23, 31)).astype(np.float32) * 100
    ours = box_mean(torch.from_numpy(x)[None, None], window)[0, 0].numpy()
    assert np.allclose(ours, cv2.blur(x, (window, window)), atol=1e-3)


def test_box_mean_is_a_pooling_with_mirrored_borders():
    x = torch.rand(2, 3, 17, 40)
    pooled = F.avg_pool2d(F.pad(x, (4, 4, 4, 4), mode="reflect"), 9, stride=1)
    assert torch.allclose(box_mean(x, 9), pooled, atol=1e-5)


def test_guided_filter_is_kornias_guided_blur():
    torch.manual_seed(0)
    guide, src = torch.rand(2, 1, 64, 96), torch.randn(2, 2, 64, 96) * 30
    assert torch.allclose(guided_filter(guide, src, 9, 1e-3), guided_blur(guide, src, 9, 1e-3), atol=1e-3)
    flat, part = torch.full((1, 1, 32, 32), 0.5), src[:1, :, :32, :32]  # a flat guide: twice box-smoothed
    assert torch.allclose(guided_filter(flat, part, 9, 1e-3), box_mean(box_mean(part, 9), 9), atol=1e-4)
