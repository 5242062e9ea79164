"""Motion between two gray frames at working size: OpenCV's DIS optical flow (Kroeger et al. 2016), on the host.

The propagation (propagation.py) carries each frame's colours to the next along this motion. The flow runs on the
host from the frames' luma (OpenCV releases the interpreter's lock: a batch's flows run in threads), and only the
flows leave it: where each pixel came from and how far to trust that (tracks.py) are computed from them in torch,
on the device that runs the networks (on the host, once per shot start, only to judge whether a reference is a view
of the frame).

Gray frames are uint8 (H, W) at the working size, 0..255 = L 0..100 (``gray_u8``).
"""

from __future__ import annotations

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


class Motion:
    """One DIS instance (not thread-safe: one per thread)."""

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
        """Gray uint8 (H, W) frames t - 1 and t -> flows (H, W, 2) float32 in pixels: t -> t - 1 (for each pixel of
        t, its displacement into t - 1) and t - 1 -> t (for the forward-backward check, tracks.flow_trust)."""
        prev, cur = np.ascontiguousarray(prev), np.ascontiguousarray(cur)
        return self.dis.calc(cur, prev, None), self.dis.calc(prev, cur, None)
