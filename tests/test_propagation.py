"""Propagation: colours carried along the motion, trust zero where the motion leaves the frame or fails its check,
restarts at cuts and chunk starts, started from a reference that is a view of the first frame, one frame of state."""

import cv2
import numpy as np
import pytest
import torch

from vidcolor.chain.motion import Motion, gray_u8
from vidcolor.chain.propagation import Propagation
from vidcolor.chain.relatedness import Relatedness
from vidcolor.chain.tracks import anchor_trust, box_blur, flow_trust, follow, sample
from vidcolor.config import PropagationConfig
from vidcolor.stream.model_stage import ModelStage


def _t(*arrays):
    """Host arrays -> torch tensors with a batch axis of one."""
    return [torch.from_numpy(np.ascontiguousarray(a))[None] for a in arrays]


def _track(prev, cur, motion=None):
    """Positions (h, w, 2) of ``cur``'s pixels in ``prev`` and their trust (h, w), as numpy."""
    back, ahead = (motion or Motion())(prev, cur)
    pos, trust = flow_trust(*_t(prev, cur, back, ahead), PropagationConfig().sigma)
    return pos[0].numpy(), trust[0].numpy()


def _scene(h=64, w=120, seed=0) -> np.ndarray:
    """A textured gray scene (uint8), smooth enough for optical flow."""
    noise = np.random.default_rng(seed).random((h, w)).astype(np.float32)
    return gray_u8(cv2.GaussianBlur(noise, (0, 0), 2.0) * 300 - 100)


def _pan(scene: np.ndarray, shift: int, width: int = 96) -> np.ndarray:
    return np.ascontiguousarray(scene[:, shift : shift + width])


def test_motion_finds_a_pan_and_distrusts_what_left_the_frame():
    scene = _scene()
    prev, cur = _pan(scene, 0), _pan(scene, 3)  # the camera pans right: content moves 3 px left
    grid, trust = _track(prev, cur)
    assert grid.shape == (64, 96, 2) and trust.shape == (64, 96) and trust.dtype == np.float32
    inner = (slice(8, -8), slice(8, -12))
    assert np.median(grid[inner][..., 0] - np.arange(96)[None, 8:-12]) == pytest.approx(3, abs=0.3)
    assert np.median(trust[inner]) > 0.8
    assert trust[:, -2:].mean() < 0.3  # these pixels were outside the previous frame
    unrelated = _track(_scene(seed=5)[:, :96], cur)[1]
    assert unrelated.mean() < 0.3


def test_colour_is_carried_where_the_frame_alone_has_none():
    scene = _scene()
    grays = [_pan(scene, 2 * i) for i in range(6)]
    own = torch.zeros(6, 2, 64, 96)
    own[0, 0, 20:40, 30:60] = 40.0  # only frame 0 knows the patch is red
    out = Propagation()(own, grays)
    assert torch.equal(out[0], own[0])
    for t in range(1, 6):  # the patch moved 2 px left per frame and kept most of its colour
        inside = out[t, 0, 24:36, 34 - 2 * t : 56 - 2 * t]
        assert inside.mean() > 40 * 0.98**t * 0.8, t
        assert out[t, 0, :, 75:].abs().max() < 4  # nowhere near the patch: still gray


def test_restart_forgets_and_state_is_one_frame():
    scene = _scene()
    grays = [_pan(scene, i) for i in range(4)]
    own = torch.zeros(4, 2, 64, 96)
    own[0] = 30.0
    prop = Propagation()
    out = prop(own, grays, restarts=[True, False, True, False])
    assert out[1].mean() > 20 and torch.equal(out[2], own[2]) and out[3].abs().max() < 1e-6
    for _ in range(20):  # a long shot: the state stays one frame
        prop(own[:1] * 0, grays[:1])
    assert prop.ab.shape == (1, 2, 64, 96) and prop.gray.shape == (64, 96)
    prop.restart()
    assert prop.ab is None and prop.gray is None


def test_a_reference_that_is_the_first_frame_starts_the_shot_and_another_does_not():
    scene = _scene()
    grays = [_pan(scene, 2 + i) for i in range(3)]
    ref_ab = torch.zeros(2, 64, 96)
    ref_ab[1] = 25.0  # the keyframe, coloured: yellow everywhere
    own = torch.zeros(3, 2, 64, 96)
    prop = Propagation()
    out = prop(own, grays, seeds=[(_pan(scene, 0), ref_ab)])
    assert prop.seeded == 1 and out[0, 1, 8:-8, 8:-8].mean() > 20
    other = Propagation()
    out = other(own, grays, seeds=[(_scene(seed=9)[:, :96], ref_ab)])
    assert other.seeded == 0 and torch.equal(out, own)
    small = Propagation()  # a reference of another shape is never a view of the frame
    assert torch.equal(small(own, grays, seeds=[(_pan(scene, 0)[:32], ref_ab[:, :32])]), own)


@pytest.mark.parametrize("preset,stride", [("ultrafast", 6), ("ultrafast", 8), ("medium", 3), ("medium", None)])
def test_flow_settings_reach_dis_and_find_the_pan(preset, stride):
    config = PropagationConfig(preset=preset, patch_stride=stride)
    motion = Motion(config)
    assert motion.dis.getFinestScale() == 0
    if stride is not None:
        assert motion.dis.getPatchStride() == stride
    scene = _scene()
    grid, trust = _track(_pan(scene, 0), _pan(scene, 3), motion)
    inner = (slice(8, -8), slice(8, -12))
    dx = grid[..., 0] - np.arange(96, dtype=np.float32)[None]
    assert abs(float(np.median(dx[inner])) - 3.0) < 0.3 and trust[inner].mean() > 0.7


def test_bad_preset_is_refused():
    with pytest.raises(ValueError, match="preset"):
        Motion(PropagationConfig(preset="slowest"))


@pytest.mark.parametrize("lookahead", [0, 1, 2])
def test_model_stage_restarts_at_each_cut_and_chunk_start(lookahead):
    """The restart grid is the encoder's chunk grid: first frame, each cut, every chunk_frames frames; batches are
    planned in order, each once, and submitted with their own plan, however far planning runs ahead."""
    stage = ModelStage.__new__(ModelStage)
    stage.batch, stage.chunk_frames = 3, 4
    stage.emit_from, stage.emit_to, stage.holds = 0, None, False
    stage._fallbacks, stage._told = 0, set()
    seen, submitted, out = [], [], []

    class Chroma:
        ahead = 0
        relatedness = Relatedness()

        def plan(self, luma, ref, restarts):
            seen.extend(restarts)
            return len(seen)

        class Done:
            def __init__(self, n):
                self.n = n

            def result(self):
                return [None] * self.n

    stage.chroma = Chroma()
    stage.chroma.lookahead = lookahead

    def submit(luma, ref, seed, plan):
        submitted.append(plan)
        assert len(seen) - plan <= lookahead * 3  # planned at most ``lookahead`` batches ahead
        return Chroma.Done(len(luma))

    stage._submit = submit
    stage.references = lambda shot, gray, start: (None, shot)
    shots = [0] * 6 + [1] * 9
    frames = [(i, i, np.zeros((2, 2), np.uint8), s, None) for i, s in enumerate(shots)]
    assert stage.run(iter(frames), lambda item: out.append(item[0]) or True)
    assert [i for i, r in enumerate(seen) if r] == [0, 4, 6, 10, 14]
    assert submitted == sorted(set(submitted)) and submitted[-1] == 15 and out == list(range(15))


def test_flow_threads_give_the_same_colours():
    scene = _scene()
    grays = [_pan(scene, 2 * i) for i in range(5)]
    own = torch.rand(5, 2, 64, 96, generator=torch.Generator().manual_seed(0)) * 20
    one = Propagation()(own, grays)
    four = Propagation(threads=4)(own, grays)
    assert torch.equal(one, four)


def test_follow_composes_the_flows_back_to_the_anchor():
    scene = _scene()
    grays = [_pan(scene, 2 * i) for i in range(3)]  # 2 px per frame
    grid = torch.from_numpy(_track(grays[0], grays[1])[0])[None]
    grid = follow(grid, torch.from_numpy(_track(grays[1], grays[2])[0])[None])
    inner = (slice(8, -8), slice(8, -16))
    assert np.median(grid[0][inner][..., 0].numpy() - np.arange(96)[None, 8:-16]) == pytest.approx(4, abs=0.4)
    trust = anchor_trust(*_t(grays[2], grays[0]), grid, 0.05, 5)[0].numpy()
    assert np.median(trust[inner]) > 0.7 and trust[:, -2:].max() == 0  # those pixels were never in the anchor
    assert anchor_trust(*_t(_scene(seed=3)[:, :96], grays[0]), grid, 0.05, 5)[0][inner].mean() < 0.5


def test_sampling_and_blur_match_opencv():
    """The device maths use OpenCV's conventions: bilinear remap with the border replicated (exact weights, so
    within OpenCV's 1/32-pixel steps) and blur's mirrored border."""
    rng = np.random.default_rng(1)
    img = rng.random((20, 30), dtype=np.float32) * 255
    pos = np.stack(np.meshgrid(np.arange(30), np.arange(20)), -1).astype(np.float32)
    pos += rng.uniform(-3, 3, pos.shape).astype(np.float32)  # some points fall outside: replicated
    ours = sample(*_t(img[None]), *_t(pos))[0, 0].numpy()
    theirs = cv2.remap(img, pos[..., 0], pos[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    assert np.abs(ours - theirs).max() < 255 / 32
    assert np.allclose(box_blur(*_t(img), 5)[0].numpy(), cv2.blur(img, (5, 5)), atol=1e-3)
    assert np.allclose(box_blur(*_t(img), 4)[0].numpy(), cv2.blur(img, (4, 4)), atol=1e-3)


def test_the_anchor_keeps_the_reference_colours_the_carry_lets_fade():
    scene = _scene()
    grays = [_pan(scene, 1 + i) for i in range(12)]
    ref_ab = torch.zeros(2, 64, 96)
    ref_ab[0] = 30.0
    own = torch.zeros(12, 2, 64, 96)  # the frames alone know no colour
    seeds = [(_pan(scene, 0), ref_ab)]
    anchored = Propagation()(own, grays, seeds=seeds)
    faded = Propagation(PropagationConfig(anchor=False))(own, grays, seeds=seeds)
    inner = (slice(None), 0, slice(10, -10), slice(10, -24))
    assert anchored[-1][inner[1:]].mean() > 27 > faded[-1][inner[1:]].mean()
    assert anchored[inner].mean() > faded[inner].mean()
    prop = Propagation()  # the anchor is shown, not carried: the state is the faded colours
    prop(own, grays, seeds=seeds)
    assert torch.allclose(prop.ab, faded[-1:], atol=1e-4)
    assert prop.anchor is not None and prop.anchor_pos.shape == (1, 64, 96, 2)
    prop(own[:2], grays[:2], restarts=[True, False])  # a restart without a seed that matches: no anchor
    assert prop.anchor is None
    prop.anchor = (grays[0], ref_ab)
    prop.restart()
    assert prop.anchor is None and prop.anchor_pos is None


def test_a_plan_applied_in_parts_gives_the_whole_batch_colours():
    """A batch split after running out of GPU memory: its parts, applied in turn, colour as the whole does, also
    where a shot starts from its reference inside the batch and the next part follows that anchor."""
    scene, other = _scene(), _scene(seed=9)
    grays = [_pan(other, i) for i in range(2)] + [_pan(scene, 1 + i) for i in range(6)]  # a cut at frame 2
    ref_ab = torch.zeros(2, 64, 96)
    ref_ab[0] = 30.0
    seeds = [(_pan(scene, 1), ref_ab)]  # a view of frame 2
    restarts = [True, False, True] + [False] * 5
    own = torch.rand(8, 2, 64, 96, generator=torch.Generator().manual_seed(1)) * 10
    whole = Propagation()
    plan = whole.plan(grays, seeds, restarts)
    assert [None if a is None else a[1] for a in plan.anchored] == [None, None, True] + [False] * 5
    expected = whole.apply(own, plan)
    split = Propagation()
    plan = split.plan(grays, seeds, restarts)
    parts = [split.apply(own[a:b], plan.part(a, b)) for a, b in [(0, 3), (3, 4), (4, 4), (4, 8)]]
    assert torch.equal(torch.cat(parts), expected) and torch.equal(split.ab, whole.ab)
    assert expected[3:, 0, 10:-10, 10:-20].mean() > 20  # the anchor shows the reference's colour
