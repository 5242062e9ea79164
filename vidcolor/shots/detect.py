"""Cut detectors that work on grayscale footage, fed one gray frame at a time (so `run` can detect inline).

- ``luma``: mean absolute difference (gray levels) of 64x36 thumbnails between consecutive frames. A cut needs
  at least ``threshold`` levels AND ``ratio`` times the mean difference of the previous frames (so a fast pan,
  whose every frame differs a lot, is not a string of cuts). Luma only, so B&W footage works.
- ``scdet``: FFmpeg's scene-change filter through a PyAV filter graph (score in percent, cut above ``threshold``).
"""

from __future__ import annotations

from collections import deque

import av
import cv2
import numpy as np

DETECTORS = ("luma", "scdet")
DEFAULT_THRESHOLD = {"luma": 30.0, "scdet": 5.0}


class LumaCutDetector:
    def __init__(self, threshold: float = 30.0, ratio: float = 1.8, window: int = 8, min_shot: int = 6) -> None:
        self.threshold, self.ratio, self.min_shot = threshold, ratio, min_shot
        self.recent: deque[float] = deque(maxlen=window)
        self.prev: np.ndarray | None = None
        self.since_cut = 0

    def score(self, gray: np.ndarray) -> float:
        thumb = cv2.resize(gray, (64, 36), interpolation=cv2.INTER_AREA).astype(np.float32)
        diff = float(np.abs(thumb - self.prev).mean()) if self.prev is not None else 0.0
        self.prev = thumb
        return diff

    def update(self, gray: np.ndarray) -> bool:
        """True when ``gray`` (H, W uint8) starts a new shot. The first frame never does."""
        first = self.prev is None
        diff = self.score(gray)
        self.since_cut += 1
        level = float(np.mean(self.recent)) if self.recent else 0.0
        cut = (
            not first
            and self.since_cut >= self.min_shot
            and diff >= self.threshold
            and diff >= self.ratio * max(level, 1.0)
        )
        if cut:
            self.recent.clear()
            self.since_cut = 0
        else:
            self.recent.append(diff)
        return cut


class ScdetCutDetector:
    def __init__(self, threshold: float = 10.0, min_shot: int = 6) -> None:
        self.threshold, self.min_shot = threshold, min_shot
        self.graph = None
        self.since_cut = 0
        self.index = 0

    def _build(self, gray: np.ndarray) -> None:
        h, w = gray.shape
        self.graph = av.filter.Graph()
        src = self.graph.add_buffer(width=w, height=h, format="gray", time_base=1 / 1000)
        scdet = self.graph.add("scdet", f"threshold={self.threshold}")
        sink = self.graph.add("buffersink")
        src.link_to(scdet)
        scdet.link_to(sink)
        self.graph.configure()

    def update(self, gray: np.ndarray) -> bool:
        if self.graph is None:
            self._build(gray)
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(gray), format="gray")
        frame.pts, self.index = self.index, self.index + 1
        self.graph.push(frame)
        out = self.graph.pull()  # scdet passes each frame straight through with its score attached
        score = float(out.metadata.get("lavfi.scd.score", 0.0))
        self.since_cut += 1
        cut = self.index > 1 and self.since_cut >= self.min_shot and score >= self.threshold
        if cut:
            self.since_cut = 0
        return cut


def make_detector(name: str, threshold: float | None = None):
    if name not in DETECTORS:
        raise ValueError(f"unknown detector {name!r} (use {', '.join(DETECTORS)})")
    t = DEFAULT_THRESHOLD[name] if threshold is None else threshold
    return LumaCutDetector(t) if name == "luma" else ScdetCutDetector(t)
