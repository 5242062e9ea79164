"""Keyframes from both sides (issue 27): the blend, the back pass, the plan's held stretches, the model stage's
holding and its equality under resume / segments / shards, the cap and its fallback."""

import time
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from conftest import colour_image, tiny_predictor
from media import frames_rgb
from PIL import Image

from vidcolor.chain.keyframes import Stretch, blend, side_weights
from vidcolor.chain.predictor import working_shape
from vidcolor.config import PropagationConfig
from vidcolor.io.media import probe
from vidcolor.io.yuv import frame_luma, plan_planar
from vidcolor.shots.refs import ReferencePlan, plan_references
from vidcolor.stream.chroma_stage import ChromaStage
from vidcolor.stream.keyframe_stage import LumaSpool
from vidcolor.stream.model_stage import ModelStage

FRAMES, KEYS = 16, (0, 6, 13)  # keyframes inside the stretch's chunks (chunks of 4) and batches (of 3)


def panning_frames(n: int = FRAMES, h: int = 48, w: int = 64, step: int = 2) -> list[np.ndarray]:
    """A colourful textured scene the camera pans across, ``step`` pixels a frame (RGB uint8)."""
    scene = colour_image(h, w + step * n, seed=5).astype(np.int16)
    rng = np.random.default_rng(3)
    scene = np.clip(scene + rng.integers(-40, 40, scene.shape[:2])[..., None], 0, 255).astype(np.uint8)
    return [scene[:, step * i : step * i + w] for i in range(n)]


def write_clip(path: Path, frames: list[np.ndarray]) -> Path:
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=24, options={"crf": "10", "preset": "ultrafast", "g": "5"})
        s.width, s.height, s.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    return path


def write_keys(folder: Path, frames: list[np.ndarray], keys=KEYS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for k in keys:
        Image.fromarray(frames[k]).save(folder / f"ref_{k:06d}.png")
    return folder


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    folder = tmp_path_factory.mktemp("keys")
    frames = panning_frames()
    src = write_clip(folder / "pan.mp4", frames)
    fmt = plan_planar(probe(src), "libx264")
    with av.open(str(src)) as c:
        lumas = [frame_luma(f, fmt) for f in c.decode(video=0)]
    return src, fmt, lumas, write_keys(folder / "keys", frames), frames


# ------------------------------------------------------------------------------------------------------ the maths


def test_side_weights_favour_the_near_keyframe():
    assert side_weights(10, 10, 20) == (1.0, 0.0)  # the earlier keyframe keeps its own colours
    d_f, d_b = side_weights(19, 10, 20)
    assert d_b == 0.9 and d_f == pytest.approx(0.1)
    assert side_weights(3, None, 20) == (1.0, 1.0)  # before the first keyframe: trust alone decides


def test_blend_takes_the_trusted_side_and_the_near_keyframe():
    fwd, back = torch.full((1, 2, 4, 6), 10.0), torch.full((1, 2, 4, 6), -10.0)
    left = torch.zeros(1, 1, 4, 6)
    left[..., :3] = 1.0  # forward trusted on the left half, back on the right
    out = blend(fwd, left, back, 1 - left, 0.5, 0.5)
    assert (out[..., :3] > 8).all() and (out[..., 3:] < -8).all()
    assert torch.equal(blend(fwd, left, back, 1 - left, 1.0, 0.0), fwd)  # next to the earlier keyframe: its side
    near_b = blend(fwd, torch.ones_like(left), back, torch.ones_like(left), 0.05, 0.95)
    assert (near_b < -8).all()  # a frame just before the later keyframe agrees with it


def test_the_back_pass_carries_the_later_keyframe_and_leaves_the_earlier_alone():
    frames = panning_frames(10, 48, 64)
    grays = [np.array(Image.fromarray(f).convert("L")) for f in frames]
    stretch = Stretch(first=0, a=0, b=9)
    ab = torch.zeros(9, 2, 48, 64)
    stretch.add(ab, torch.zeros(9, 1, 48, 64), grays[:9])
    key_ab = torch.tensor([20.0, -10.0])[:, None, None].expand(2, 48, 64)
    reached = stretch.close([(grays[9], key_ab)], PropagationConfig(), batch=4)
    assert reached == 8  # frames 8 .. 1: frame 0 is the earlier keyframe
    assert torch.equal(stretch.ab[0].float(), torch.zeros(2, 48, 64))
    last = stretch.ab[8].float()
    assert (last[0].median() > 15) and (last[1].median() < -7)  # frame 8 takes keyframe 9's colours
    middle = stretch.ab[4].float()[0].median()
    assert 0 < middle < last[0].median()  # further back, the forward side counts more
    unrelated = np.random.default_rng(0).integers(0, 255, (48, 64), dtype=np.uint8)
    other = Stretch(0, 0, 9)
    other.add(ab, torch.zeros(9, 1, 48, 64), grays[:9])
    assert other.close([(unrelated, key_ab)], PropagationConfig()) == 0  # no view of frame 8: nothing changes
    assert all(torch.equal(x.float(), torch.zeros(2, 48, 64)) for x in other.ab)


# ------------------------------------------------------------------------------------------------------- the plan


def test_indexed_references_are_keyframes_and_their_stretches_held(tmp_path):
    write_keys(tmp_path / "k", panning_frames(), (3, 10, 14))
    plan = plan_references(str(tmp_path / "k"))
    assert [(s.start, s.paths[0].name, s.keyframe) for s in plan.segments] == [
        (0, "ref_000003.png", False), (3, "ref_000003.png", True), (10, "ref_000010.png", True),
        (14, "ref_000014.png", True),
    ]  # fmt: skip
    assert [plan.held(n) for n in range(4)] == [True, True, True, False]
    assert (plan.lead(0), plan.lead(7), plan.lead(12), plan.lead(20)) == (0, 3, 10, 20)
    assert (plan.tail(5), plan.tail(10), plan.tail(11), plan.tail(16)) == (10, 10, 14, 16)
    capped = ReferencePlan(plan.segments, plan.note, max_span=5)
    assert capped.too_long() == [(3, 10)] and not capped.held(1) and capped.held(2)
    assert capped.lead(7) == 7


def test_a_luma_spool_gives_back_what_it_took(tmp_path):
    spool = LumaSpool(tmp_path)
    planes = [np.arange(12, dtype=np.uint8).reshape(3, 4) + i for i in range(3)]
    planes.append(np.full((2, 2), 700, np.uint16))
    slots = [spool.add(p) for p in planes]
    for slot, plane in zip(slots, planes, strict=True):
        assert np.array_equal(spool.read(slot), plane) and spool.read(slot).flags.writeable
    assert not list(tmp_path.iterdir())  # an unnamed file: nothing left behind, even by a killed process
    spool.close()


# ------------------------------------------------------------------------------------------------ the model stage


def _run(clip, plan, emit=(0, None), frames=None, batch=3, warnings=None):
    _, fmt, lumas, _, _ = clip
    warn = warnings.append if warnings is not None else (lambda message: None)
    stage = ModelStage(tiny_predictor(), plan, fmt, batch, warn, chunk_frames=4, emit=emit)
    first, end = frames or (0, len(lumas))
    items = ((i, i, lumas[i], plan.index_of(i), None) for i in range(first, end))
    out = []
    assert stage.run(items, lambda item: out.append(item) or True)
    return {item[0]: item[3] for item in out}


def test_held_stretches_change_the_colours_before_the_last_keyframe_only(clip):
    """(A keyframe's own frame changes a little too: the network sees both keyframes' cells there.)"""
    plan = plan_references(str(clip[3]))
    both = _run(clip, plan)
    forward = _run(clip, ReferencePlan(plan.segments, plan.note, max_span=0))
    assert sorted(both) == sorted(forward) == list(range(FRAMES))
    changed = [i for i in range(FRAMES) if not np.array_equal(both[i], forward[i])]
    assert set(range(1, 6)) | set(range(7, 13)) <= set(changed) <= set(range(13))  # after the last: as before


def test_no_pop_into_a_keyframe(clip):
    """The change of mean chroma into each keyframe against the clip's median change: forward only it jumps there
    (the colours carried from the earlier keyframe meet the later one's), from both sides it does not."""
    plan = plan_references(str(clip[3]))

    def ratios(out):
        mean = np.stack([out[i].reshape(2, -1).astype(float).mean(1) for i in range(FRAMES)])
        change = np.linalg.norm(np.diff(mean, axis=0), axis=1)
        return [change[k - 1] / np.median(change) for k in KEYS[1:]]

    before, after = ratios(_run(clip, ReferencePlan(plan.segments, plan.note, max_span=0))), ratios(_run(clip, plan))
    assert max(before) > 3 and max(after) <= 3, (before, after)


@pytest.mark.parametrize(
    ("emit", "decoded"),
    [((8, None), (6, FRAMES)), ((0, 9), (0, 13)), ((4, 12), (0, 13)), ((13, None), (13, FRAMES))],
    ids=["resume-inside-a-stretch", "segment-ending-inside", "segment-across-a-keyframe", "after-the-last"],
)
def test_a_run_starting_or_ending_inside_a_stretch_colours_it_as_one_run(clip, emit, decoded):
    plan = plan_references(str(clip[3]))
    assert (plan.lead(emit[0]), plan.tail(emit[1] or FRAMES)) == decoded  # what run's decoder is asked for
    whole = _run(clip, plan)
    part = _run(clip, plan, emit, decoded)
    assert sorted(part) == list(range(emit[0], emit[1] or FRAMES))
    assert all(np.array_equal(part[i], whole[i]) for i in part)


def test_past_the_cap_the_stretch_is_coloured_forward_only_and_nothing_is_held(clip, monkeypatch):
    plan = plan_references(str(clip[3]))
    capped = ReferencePlan(plan.segments, plan.note, max_span=6)  # 0-5 and 6-12: 6 and 7 frames
    held, sizes = [], []
    import vidcolor.chain.keyframes as keyframes
    import vidcolor.stream.model_stage as model_stage

    close = keyframes.Stretch.close
    monkeypatch.setattr(keyframes.Stretch, "close", lambda self, *a: sizes.append(self.nbytes) or close(self, *a))

    original = model_stage.HeldSegment.add
    monkeypatch.setattr(model_stage.HeldSegment, "add", lambda self, *a: held.append(a[0][0]) or original(self, *a))
    warnings = []
    out = _run(clip, capped, warnings=warnings)
    assert held == list(range(6))  # the 7-frame stretch is never held
    h, w = working_shape(*clip[2][0].shape, 64)
    assert sizes == [6 * 7 * h * w]  # at working size, whatever the frame size: at most max_span frames of it
    assert any("7 frames before the keyframe at frame 13" in w and "forward only" in w for w in warnings)
    forward = _run(clip, ReferencePlan(plan.segments, plan.note, max_span=0))
    assert all(np.array_equal(out[i], forward[i]) for i in range(6, FRAMES))


def test_a_keyframe_of_another_scene_is_not_carried_back(clip, tmp_path):
    frames = clip[4]
    keys = write_keys(tmp_path / "k", frames, (0, 6))
    Image.fromarray(colour_image(48, 64, seed=11)).save(keys / "ref_000006.png")  # not a view of frame 5
    plan = plan_references(str(keys))
    warnings = []
    out = _run(clip, plan, warnings=warnings)
    forward = _run(clip, ReferencePlan(plan.segments, plan.note, max_span=0))
    assert all(np.array_equal(out[i], forward[i]) for i in range(FRAMES))
    assert any("no view of frame 5" in w for w in warnings)


def test_cuda_twin_of_the_held_stretch(clip):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    plan = plan_references(str(clip[3]))
    _, fmt, lumas, _, _ = clip
    out = {}
    stage = ModelStage(tiny_predictor("cuda"), plan, fmt, 3, chunk_frames=4)
    items = ((i, i, lumas[i], plan.index_of(i), None) for i in range(FRAMES))
    assert stage.run(items, lambda item: out.__setitem__(item[0], item[3]) or True)
    cpu = _run(clip, plan)
    assert all(np.abs(out[i].astype(int) - cpu[i].astype(int)).mean() < 1.0 for i in range(FRAMES))


# --------------------------------------------------------------------------------------------- whole runs


def test_run_resume_and_segment_inside_stretches_equal_one_run(clip, tmp_path, monkeypatch):
    from dataclasses import replace

    from vidcolor.errors import VidcolorError
    from vidcolor.io.encode import EncodeSettings
    from vidcolor.stream.pipeline import RunOptions
    from vidcolor.stream.timerange import TimeSpec
    from vidcolor.stream.video import run_video

    src, keys = clip[0], clip[3]
    options = RunOptions(batch=3, chunk_frames=4, encode=EncodeSettings("libx264", 0, "ultrafast"))  # lossless
    single = tmp_path / "single.mp4"
    run_video(str(src), str(single), str(keys), tiny_predictor, options, quiet=True)
    whole = frames_rgb(single)
    assert len(whole) == FRAMES

    calls = []
    planes = ChromaStage.planes

    def dies(self, luma, ab):  # the 5th batch of chroma planes: frame 12's, frames 6-11 handed on before it
        calls.append(len(luma))
        if len(calls) == 5:
            time.sleep(0.5)  # the encoder writes frames 6-9, closing the chunk 6-9, before the failure
            raise RuntimeError("power cut")
        return planes(self, luma, ab)

    out = tmp_path / "resumed.mp4"
    monkeypatch.setattr(ChromaStage, "planes", dies)
    with pytest.raises(VidcolorError, match="power cut"):
        run_video(str(src), str(out), str(keys), tiny_predictor, options, quiet=True)
    monkeypatch.undo()
    summary = run_video(str(src), str(out), str(keys), tiny_predictor, replace(options, resume=True), quiet=True)
    assert summary.resumed_from == 10  # inside the stretch 6-12: decoded from 6 again, handed on from 10
    assert all(np.array_equal(a, b) for a, b in zip(whole, frames_rgb(out), strict=True))

    part = tmp_path / "part.mp4"
    run_video(str(src), str(part), str(keys), tiny_predictor, options, quiet=True, start=TimeSpec("8f", frame=8),
              duration=TimeSpec("3f", frame=3))  # fmt: skip
    assert all(np.array_equal(a, b) for a, b in zip(whole[8:11], frames_rgb(part), strict=True))


def test_ray_shards_cut_inside_stretches_equal_one_run(clip, tmp_path):
    """The sharded machinery without Ray: shards of at most 5 frames cut the stretches 0-5 and 6-12 (each shard
    decodes its stretch from the start and to the end), assembled equal to one run, frame for frame."""
    from vidcolor.io.encode import EncodeSettings
    from vidcolor.scale.film import FilmJob, FilmRun
    from vidcolor.scale.segment_job import run_segment
    from vidcolor.stream.pipeline import RunOptions
    from vidcolor.stream.video import run_video

    src, keys = clip[0], clip[3]
    options = RunOptions(batch=3, chunk_frames=4, encode=EncodeSettings("libx264", 0, "ultrafast"))
    single = tmp_path / "single.mp4"
    run_video(str(src), str(single), str(keys), tiny_predictor, options, quiet=True)
    out = tmp_path / "sharded.mp4"
    film = FilmRun(FilmJob(src, out, str(keys), None, None, None, options, tiny_predictor))
    specs = film.prepare(parts=4, limit=5)
    inside = [s for s in specs if s.frames.first < s.span.start or (s.frames.end or FRAMES) > s.span.end]
    assert inside  # some shard decodes more than it hands on
    for spec in specs:
        film.results[spec.span.number] = run_segment(spec)
    assert film.finish().frames == FRAMES
    assert all(np.array_equal(a, b) for a, b in zip(frames_rgb(single), frames_rgb(out), strict=True))


# --------------------------------------------------------------------------------------------------- shot files


def _shot_file(clip, tmp_path, keyframes, name="s.yaml"):
    from vidcolor.shots.files import Shot, ShotFile, write_csv, write_yaml

    info = probe(clip[0])
    data = ShotFile([Shot(0, 9, [], None, keyframes), Shot(9, FRAMES)], FRAMES, info.rate, clip[0].name)
    path = tmp_path / name
    (write_csv if name.endswith(".csv") else write_yaml)(path, data)
    return path, info


@pytest.mark.parametrize("name", ["s.yaml", "s.csv"])
def test_a_shot_file_pins_keyframes_and_keeps_them(clip, tmp_path, name):
    from vidcolor.shots.files import read_shot_file
    from vidcolor.shots.refs import plan_from_shots

    keys = {k: str(clip[3] / f"ref_{k:06d}.png") for k in (0, 6)}
    path, info = _shot_file(clip, tmp_path, keys, name)
    data = read_shot_file(path, info)
    assert data.shots[0].keyframes == keys and data.shots[1].keyframes == {}
    plan = plan_from_shots(data)
    expected = [(0, True, True), (6, True, False), (9, False, True)]
    assert [(s.start, s.keyframe, s.cut) for s in plan.segments] == expected
    assert plan.held(0) and not plan.held(1)  # the stretch 6-8 ends at a cut: nothing is coloured back across it
    assert "2 keyframes" in plan.note


@pytest.mark.parametrize(
    ("keyframes", "message"),
    [({12: "ref_000013.png"}, "keyframe 12 lies outside the shot"), ({3: "nothing.png"}, "keyframe 3: image"),
     ("3=a.png;x=b.png", "frame=image pairs")],
)  # fmt: skip
def test_shot_file_keyframe_errors_are_one_line(clip, tmp_path, keyframes, message):
    import yaml

    from vidcolor.errors import VidcolorError
    from vidcolor.shots.files import read_shot_file

    path, info = _shot_file(clip, tmp_path, {})
    doc = yaml.safe_load(path.read_text())
    doc["shots"][0]["keyframes"] = (
        {k: str(clip[3] / v) for k, v in keyframes.items()} if isinstance(keyframes, dict) else keyframes
    )
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(VidcolorError, match=message):
        read_shot_file(path, info)


def test_run_follows_a_shot_files_keyframes_as_it_follows_indexed_names(clip, tmp_path):
    from vidcolor.io.encode import EncodeSettings
    from vidcolor.shots.files import Shot, ShotFile, write_yaml
    from vidcolor.shots.job import make_shots
    from vidcolor.stream.pipeline import RunOptions
    from vidcolor.stream.video import run_video

    src, keys = clip[0], clip[3]
    options = RunOptions(batch=3, chunk_frames=4, encode=EncodeSettings("libx264", 0, "ultrafast"))
    by_name, by_file = tmp_path / "names.mp4", tmp_path / "file.mp4"
    run_video(str(src), str(by_name), str(keys), tiny_predictor, options, quiet=True)
    pinned = {k: str(keys / f"ref_{k:06d}.png") for k in KEYS}
    write_yaml(tmp_path / "s.yaml", ShotFile([Shot(0, FRAMES, [], None, pinned)], FRAMES, probe(src).rate, src.name))
    run_video(str(src), str(by_file), None, tiny_predictor, options, quiet=True, shots=str(tmp_path / "s.yaml"))
    assert all(np.array_equal(a, b) for a, b in zip(frames_rgb(by_name), frames_rgb(by_file), strict=True))
    data = make_shots(str(src), str(tmp_path / "made.yaml"), str(keys), "luma", None, tiny_predictor, quiet=True)
    assert {k: Path(v).name for s in data.shots for k, v in s.keyframes.items()} == {
        k: f"ref_{k:06d}.png" for k in KEYS
    }  # `shots` writes indexed names as keyframes of the shots that hold them


def test_a_stopped_run_does_not_colour_the_rest_of_a_stretch(clip, monkeypatch):
    import vidcolor.stream.keyframe_stage as keyframe_stage

    _, fmt, lumas, keys, _ = clip
    plan = plan_references(str(keys))
    stage = ModelStage(tiny_predictor(), plan, fmt, 3, chunk_frames=4)
    stage.alive = lambda: False  # the run was stopped (Ctrl-C, another stage failed) while the stretch was held
    closes = []
    monkeypatch.setattr(keyframe_stage.Stretch, "close", lambda *a: closes.append(a))
    out = []
    items = ((i, i, lumas[i], plan.index_of(i), None) for i in range(FRAMES))
    assert not stage.run(items, lambda item: out.append(item) or True)
    assert out == [] and closes == []
