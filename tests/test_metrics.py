"""Each metric against hand-computed values."""

import math

import numpy as np
import pytest

from vidcolor.evaluate import metrics


def test_psnr_known_values():
    a = np.zeros((4, 4, 3), np.uint8)
    b = np.full((4, 4, 3), 10, np.uint8)
    assert metrics.psnr(a, b) == pytest.approx(10 * math.log10(255**2 / 100))
    assert metrics.psnr(a, a) == float("inf")


def test_ssim_identical_and_different():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (32, 40, 3), dtype=np.uint8)
    assert metrics.ssim(a, a) == pytest.approx(1.0)
    assert metrics.ssim(a, 255 - a) < 0.0
    assert 0.0 < metrics.ssim(a, np.clip(a.astype(int) + rng.integers(-20, 20, a.shape), 0, 255).astype(np.uint8)) < 1


def _smooth_pair(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """A deterministic RGB pair: waves, and the same scaled with a diagonal ripple added."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    a = np.stack([128 + 100 * np.sin(x / 5 + c) * np.cos(y / 7) for c in range(3)], axis=-1)
    b = a * 0.8 + 30 * np.sin((x + 2 * y) / 3)[..., None]
    return np.clip(a, 0, 255).astype(np.uint8), np.clip(b, 0, 255).astype(np.uint8)


@pytest.mark.parametrize(
    ("size", "rgb", "gray"),
    [
        ((48, 64), 0.5207546359453278, 0.5152385552780696),  # the valid part: 5-pixel borders dropped
        ((8, 9), 0.587706243883019, 0.5362207414668515),  # under 11 pixels: the whole map, mirrored borders
        ((4, 4), 0.7486842752327093, 0.8643906148653276),  # smaller than the window's half-width
    ],
)
def test_ssim_matches_the_previous_implementation(size, rgb, gray):
    """The figures of the hand-written float64 SSIM (OpenCV Gaussian blur) this module used before kornia's: the
    README's SSIM columns were measured with it."""
    a, b = _smooth_pair(*size)
    assert metrics.ssim(a, b) == pytest.approx(rgb, abs=1e-5)
    assert metrics.ssim(a[..., 0], b[..., 0]) == pytest.approx(gray, abs=1e-5)


def test_colorfulness_known_values():
    gray = np.full((8, 8, 3), 128, np.uint8)
    assert metrics.colorfulness(gray) == 0.0
    red = np.zeros((8, 8, 3), np.uint8)
    red[..., 0] = 200  # rg = 200, yb = 100, no spread -> 0.3 * hypot(200, 100)
    assert metrics.colorfulness(red) == pytest.approx(0.3 * math.hypot(200, 100))


def test_js_divergence_and_cdc():
    p = np.array([1.0, 0.0])
    q = np.array([0.0, 1.0])
    assert metrics.js_divergence(p, p) == 0.0
    assert metrics.js_divergence(p, q) == pytest.approx(math.log(2))
    frame = np.random.default_rng(1).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    assert metrics.cdc([frame] * 6) == 0.0
    black, white = np.zeros_like(frame), np.full_like(frame, 255)
    # alternate black/white: d = 1 pairs differ fully (ln 2), d = 2 and 4 pairs are identical (0)
    assert metrics.cdc([black, white] * 4) == pytest.approx(math.log(2) / 3)


def test_warp_error_zero_for_static_and_positive_for_flicker():
    rng = np.random.default_rng(2)
    base = (rng.random((48, 64, 3)) * 255).astype(np.uint8)
    base = np.ascontiguousarray(np.repeat(np.repeat(base[::8, ::8], 8, 0), 8, 1))
    flows = metrics.FlowCache([base] * 3)
    assert metrics.warp_error([base] * 3, flows) == pytest.approx(0.0, abs=1e-6)
    flicker = [base, np.clip(base.astype(int) + 40, 0, 255).astype(np.uint8), base]
    assert metrics.warp_error(flicker, flows) > 0.01
