"""The model stage: planning the propagation ahead in a thread (as on CUDA) colours every frame as planning in line
does, and a batch split after running out of GPU memory colours it as the whole batch would have."""

import av
import cv2
import numpy as np
import pytest
from conftest import tiny_predictor
from media import make_planar_video
from PIL import Image

from vidcolor.io.media import probe
from vidcolor.io.yuv import PlanarFormat, frame_luma, plan_planar
from vidcolor.shots.refs import ReferencePlan, Segment
from vidcolor.stream.chroma_stage import ChromaStage, area_factor
from vidcolor.stream.model_stage import ModelStage

SHOTS = [0] * 7 + [1] * 6  # a cut at frame 7; chunks of 4 frames restart the propagation too


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """The clip's format, luma planes, and its first frame in colour as shot 0's reference (a view of that frame:
    the shot starts from it and is anchored to it)."""
    folder = tmp_path_factory.mktemp("stage")
    src = make_planar_video(folder / "in.mp4", len(SHOTS), 96, 64, "yuv420p")
    fmt = plan_planar(probe(src), "libx264")
    with av.open(str(src)) as c:
        frames = list(c.decode(video=0))
    Image.fromarray(frames[0].to_ndarray(format="rgb24")).save(folder / "ref.png")
    return fmt, [frame_luma(f, fmt) for f in frames], folder / "ref.png"


def _colour(clip, lookahead: int, threads: int = 1, squeeze: bool = False) -> list[np.ndarray]:
    """Every frame's chroma through ModelStage.run (batches of 3, chunks of 4). Shot 0 starts from its reference
    and is anchored to it until the chunk restart at frame 4 (whose start finds no seed), so the batch of frames 3-5
    mixes an anchored frame and unanchored ones; shot 1 is automatic. ``squeeze``: that batch runs out of memory
    part-way, and batches of 1 go on."""
    fmt, lumas, ref = clip
    plan = ReferencePlan((Segment(0, (ref,), 0), Segment(7, (), 1)), "a keyframe for shot 0, then automatic")
    warnings, plans = [], []
    stage = ModelStage(tiny_predictor(), plan, fmt, batch=3, warn=warnings.append, chunk_frames=4)
    stage.chroma = ChromaStage(stage.predictor, fmt, lookahead=lookahead, flow_threads=threads)
    propagation = stage.chroma.propagation
    start, make_plan = propagation._start, propagation.plan
    propagation._start = lambda gray, seeds: start(gray, seeds) if propagation.seeded == 0 else None
    propagation.plan = lambda *args: plans.append(make_plan(*args)) or plans[-1]
    if squeeze:
        submit, calls = stage.chroma._submit, []

        def tight(luma, *args):
            calls.append(len(luma))
            if len(calls) == 2:
                stage.chroma.propagation.ab = None  # failed part-way: the stage must put its state back
                stage.chroma.propagation.anchor_pos = None
                raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
            return submit(luma, *args)

        stage.chroma._submit = tight
    frames = ((i, i, luma, shot, None) for i, (luma, shot) in enumerate(zip(lumas, SHOTS, strict=True)))
    out = []
    assert stage.run(frames, lambda item: out.append(item) or True)
    assert [item[0] for item in out] == list(range(len(SHOTS)))
    assert len(warnings) == squeeze and stage.batches.size == (1 if squeeze else 3)
    assert propagation.seeded == 1 and [a is not None for a in plans[1].anchored] == [True, False, False]
    return [item[3] for item in out]


def test_planning_ahead_in_threads_gives_the_same_colours(clip):
    inline = _colour(clip, lookahead=0)
    assert inline[0].shape == (2, 32, 48)
    for lookahead, threads in [(1, 1), (2, 3)]:
        ahead = _colour(clip, lookahead, threads)
        assert all(np.array_equal(a, b) for a, b in zip(inline, ahead, strict=True)), (lookahead, threads)


def test_a_batch_split_for_memory_keeps_its_plan_and_colours(clip):
    whole = _colour(clip, lookahead=1)
    split = _colour(clip, lookahead=1, squeeze=True)
    assert all(np.array_equal(a, b) for a, b in zip(whole, split, strict=True))


def test_without_the_propagation_nothing_is_planned_and_no_batch_waits(clip):
    fmt = clip[0]
    stage = ChromaStage(tiny_predictor(), fmt, propagate=False, lookahead=1)
    assert stage.lookahead == 0 and stage.plan([clip[1][0]], None) is None


@pytest.mark.parametrize(
    ("height", "width", "factor"),
    [(1080, 1920, 4), (2160, 3840, 8), (720, 1280, 2), (480, 854, 1), (1081, 1919, 1), (64, 96, 1), (2160, 3838, 1)],
)
def test_gray_for_the_flow_takes_whole_area_steps_and_stays_close(height, width, factor):
    predictor = tiny_predictor()
    predictor.size = 256
    fmt = PlanarFormat(width, height, 8, False, 1, 1 if height % 2 or width % 2 else 2, 8)
    stage = ChromaStage(predictor, fmt)
    assert area_factor(height, width, *stage.gray_shape) == stage.gray_factor == factor
    y, x = np.mgrid[0:height, 0:width]
    plane = (120 + 90 * np.sin(x * 120 / width) * np.cos(y * 90 / height)).astype(np.uint8)  # ~20 px waves at 256
    hs, ws = stage.gray_shape
    direct = stage.gray_table[cv2.resize(plane, (ws, hs), interpolation=cv2.INTER_AREA)]
    gray = stage.gray(plane)
    assert gray.shape == (hs, ws) and gray.dtype == np.uint8
    diff = np.abs(gray.astype(int) - direct)
    assert diff.mean() < 1.0 and (factor > 1 or diff.max() == 0)
