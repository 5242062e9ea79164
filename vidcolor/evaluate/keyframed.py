"""The ``keyframes`` row of `vidcolor eval`: `run`'s own model stage over a whole sequence, coloured from keyframes.

The sequence's frames go in as luma planes (as `run` decodes them), its keyframes (the reference frame, or the
first and the last frame: ``--protocol first-last``) as indexed reference files (``ref_000000.png``), and the
model stage colours every frame as `run` does: held stretches coloured from both sides, the propagation, the chunk
restarts. The scored frames come back as the RGB a player shows for luma + chroma.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from vidcolor.chain.predictor import Predictor
from vidcolor.io.yuv import PlanarFormat, planar_to_rgb, rgb_to_planar
from vidcolor.shots.refs import plan_references
from vidcolor.stream.model_stage import ModelStage
from vidcolor.stream.pipeline import RunOptions


def colour_keyframed(
    predictor: Predictor,
    frames: list[np.ndarray],
    keyframes: dict[int, np.ndarray],
    scored: list[int],
    colorspace: int,
    batch: int = 4,
    warnings: list[str] | None = None,
    max_span: int | None = None,
) -> list[np.ndarray]:
    """RGB frames (H, W, 3) uint8 of one shot, keyframes {frame: RGB image} -> the scored frames' RGB as `run`
    colours them. ``max_span``: the plan's (``run --keyframe-span``; 0: every stretch forward only, as before
    keyframes were coloured from both sides)."""
    h, w = frames[0].shape[:2]
    fmt = PlanarFormat(w, h, 8, False, colorspace, 2 if h % 2 == 0 and w % 2 == 0 else 1, 8)
    luma = [rgb_to_planar(f, fmt)[0] for f in frames]
    chroma: dict[int, np.ndarray] = {}
    with tempfile.TemporaryDirectory(prefix="vidcolor-eval-") as folder:
        for k, image in keyframes.items():
            Image.fromarray(image).save(Path(folder) / f"ref_{k:06d}.png")
        plan = plan_references(folder)
        if max_span is not None:
            plan = replace(plan, max_span=max_span)
        warn = warnings.append if warnings is not None else (lambda message: None)
        stage = ModelStage(predictor, plan, fmt, batch, warn, RunOptions().chunk_frames)
        items = ((i, i, y, plan.index_of(i), None) for i, y in enumerate(luma))
        stage.run(items, lambda item: chroma.__setitem__(item[0], item[3]) or True)
    return [planar_to_rgb(luma[i], chroma[i], fmt) for i in scored]
