"""Motion between two gray frames at working size, and how far to trust it: numpy + OpenCV, no torch.

The propagation (propagation.py) carries each frame's colours to the next along this motion. It runs on the host,
from the frames' luma, so on CUDA the device never waits for it. For every pixel of frame t:

- where it was in frame t - 1: dense optical flow t -> t - 1 (OpenCV's DIS, Kroeger et al. 2016);
- the trust in [0, 1]: zero where the point leaves the frame or where the flow fails the forward-backward check
  (t -> t-1 -> t must come back within 0.7 px + 10 % of the motion: occlusions and flow errors, Sundaram et al. 2010),
  and exp(-|L_t - warped L_{t-1}| / sigma) elsewhere (a changed luminance means a different surface).

The anchor (``follow``, ``anchor_trust``): when a shot starts from its reference, each pixel is also followed back
to the reference through the chain of flows, and the reference's own colour is taken wherever the luminance around
the followed point still matches the reference's (a local photometric check, not the product of every step's trust:
a track the frame-to-frame check lost is found again when it matches).

Gray frames are uint8 (H, W) at the working size, 0..255 = L 0..100 (``gray_u8``).
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

from vidcolor.config import PropagationConfig

PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


def gray_u8(l_plane: np.ndarray) -> np.ndarray:
    """L 0..100 (H, W) float -> uint8 0..255."""
    return np.clip(np.rint(l_plane * 2.55), 0, 255).astype(np.uint8)


@functools.lru_cache(maxsize=8)
def _pixel_grid(h: int, w: int) -> np.ndarray:
    """Each pixel's own position (h, w, 2) (x, y), float32; built once per working shape (read-only)."""
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    grid = np.stack([gx, gy], axis=-1)
    grid.flags.writeable = False
    return grid


def sample_grid(flow: np.ndarray) -> np.ndarray:
    """Flow (H, W, 2) in pixels -> absolute sample positions (H, W, 2) (x, y) in the other frame."""
    return _pixel_grid(*flow.shape[:2]) + flow


def to_unit_grid(grid: np.ndarray) -> np.ndarray:
    """Pixel positions (H, W, 2) -> torch ``grid_sample`` coordinates in [-1, 1] (align_corners=True)."""
    h, w = grid.shape[:2]
    scale = np.array([2.0 / max(w - 1, 1), 2.0 / max(h - 1, 1)], dtype=np.float32)
    return grid * scale - 1.0


def _squared_norm(v: np.ndarray) -> np.ndarray:
    """(H, W, 2) -> (H, W) x^2 + y^2; the same sums as np.sum(v**2, axis=-1), which is 15 times slower here."""
    v2 = v * v
    return v2[..., 0] + v2[..., 1]


class Motion:
    """One DIS instance (not thread-safe: one per propagation)."""

    def __init__(self, config: PropagationConfig | None = None) -> None:
        config = config or PropagationConfig()
        if config.preset not in PRESETS:
            raise ValueError(f"optical-flow preset {config.preset!r}: choose one of {', '.join(PRESETS)}")
        self.config = config
        self.dis = cv2.DISOpticalFlow_create(PRESETS[config.preset])
        if config.finest_scale is not None:
            self.dis.setFinestScale(config.finest_scale)
        if config.patch_stride is not None:
            self.dis.setPatchStride(config.patch_stride)

    def __call__(self, prev: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Gray uint8 (H, W) frames t - 1 and t -> (positions (H, W, 2) float32 in frame t - 1 of each pixel of
        frame t, trust (H, W) float32 in [0, 1])."""
        prev, cur = np.ascontiguousarray(prev), np.ascontiguousarray(cur)
        back = self.dis.calc(cur, prev, None)  # for each pixel of t, its displacement into t - 1
        ahead = self.dis.calc(prev, cur, None)
        grid = sample_grid(back)
        map_x, map_y = grid[..., 0], grid[..., 1]
        ahead_at = cv2.remap(ahead, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        round_trip = _squared_norm(back + ahead_at)
        bound = 0.01 * (_squared_norm(back) + _squared_norm(ahead_at)) + 0.5
        h, w = cur.shape
        inside = (map_x >= 0) & (map_x <= w - 1) & (map_y >= 0) & (map_y <= h - 1)
        warped = cv2.remap(prev, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        change = np.abs(cur.astype(np.float32) - warped.astype(np.float32)) / 255.0
        trust = np.exp(-change / self.config.sigma) * ((round_trip < bound) & inside)
        return grid, trust.astype(np.float32)


def follow(anchor_grid: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Anchor positions (H, W, 2) of frame t - 1's pixels and frame t's positions in t - 1 (``Motion``) -> anchor
    positions (H, W, 2) of frame t's pixels (the flows composed)."""
    return cv2.remap(anchor_grid, grid[..., 0], grid[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def anchor_trust(cur: np.ndarray, anchor: np.ndarray, anchor_grid: np.ndarray, sigma: float, window: int) -> np.ndarray:
    """Gray uint8 (H, W) frame, gray uint8 (h, w) anchor and the frame's positions in it (H, W, 2) -> trust (H, W)
    float32 in [0, 1]: exp(-mean |L - anchor L at the position| over a ``window``-pixel square / sigma), zero where
    the position left the anchor."""
    h, w = anchor.shape
    map_x, map_y = anchor_grid[..., 0], anchor_grid[..., 1]
    seen = cv2.remap(anchor, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    change = np.abs(cur.astype(np.float32) - seen.astype(np.float32)) / 255.0
    if window > 1:
        change = cv2.blur(change, (window, window))
    inside = (map_x >= 0) & (map_x <= w - 1) & (map_y >= 0) & (map_y <= h - 1)
    return (np.exp(-change / sigma) * inside).astype(np.float32)
