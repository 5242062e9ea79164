"""Single frames coloured exactly as `vidcolor run` colours them (for `review` and `image --frame`): the frame's own
luma plane -> the chroma stage (the predictor's ab at chroma resolution, Cb/Cr in closed form) -> the RGB a player
shows. References are prepared once per set of files, as in the model stage."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vidcolor.chain.predictor import Predictor
from vidcolor.io.yuv import PlanarFormat, planar_to_rgb
from vidcolor.stream.chroma_stage import ChromaStage
from vidcolor.stream.references import PreparedReferences


class FramePreview:
    def __init__(self, predictor: Predictor, fmt: PlanarFormat) -> None:
        self.predictor, self.fmt = predictor, fmt
        self.chroma = ChromaStage(predictor, fmt)
        self.reference = PreparedReferences(predictor)

    def __call__(self, luma: np.ndarray, paths: tuple[Path, ...] = (), seed: int = 0) -> np.ndarray:
        """(H, W) luma codes of the frame -> (H, W, 3) uint8 RGB as the output video shows it."""
        chroma = self.chroma(luma[None], self.reference(tuple(Path(p) for p in paths)), seed)[0]
        return planar_to_rgb(luma, chroma, self.fmt)
