"""The streaming video pipeline on synthetic media: timing, audio, odd inputs, failures, resume."""

import json
import os
from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import colour_image, tiny_predictor
from media import (
    add_subtitles,
    audio_payloads,
    copy_stream,
    frame_times,
    frames_rgb,
    make_video,
    rotation,
    subtitle_payloads,
)
from PIL import Image

from vidcolor.chain.predictor import Predictor
from vidcolor.cli.commands import cli
from vidcolor.color import rgb_to_l
from vidcolor.errors import VidcolorError
from vidcolor.io.encode import EncodeSettings
from vidcolor.stream.pipeline import RunOptions
from vidcolor.stream.video import run_video
from vidcolor.stream.work_state import work_dir_for

FAST = EncodeSettings("libx264", 18, "ultrafast")


@pytest.fixture
def ref(tmp_path):
    path = tmp_path / "ref.png"
    Image.fromarray(colour_image(seed=7)).save(path)
    return path


def run(src, out, refs=None, factory=tiny_predictor, **kw):
    options = RunOptions(**{"batch": 3, "chunk_frames": 4, "encode": FAST, **kw})
    return run_video(str(src), str(out), str(refs) if refs else None, factory, options, quiet=True)


@pytest.mark.parametrize("ext", [".mp4", ".mkv"])
def test_frames_timing_and_audio_kept(tmp_path, ref, ext):
    src = make_video(tmp_path / f"in{ext}", frames=10)
    out = tmp_path / f"out{ext}"
    summary = run(src, out, ref)
    assert summary.frames == 10
    t_in, t_out = frame_times(src), frame_times(out)
    assert len(t_out) == len(t_in)
    if ext == ".mp4":
        assert t_out == t_in
    else:  # Matroska stores milliseconds
        assert max(abs(a - b) for a, b in zip(t_in, t_out, strict=True)) <= Fraction(1, 1000)
    assert audio_payloads(out) == audio_payloads(src)
    import av

    with av.open(str(out)) as c:
        assert c.streams.audio[0].metadata.get("language") == "eng"
    assert not work_dir_for(out).exists()
    rgb = frames_rgb(out)
    assert rgb[0].shape == (48, 64, 3)
    assert np.abs(rgb[3].astype(int) - rgb[3][..., [1, 2, 0]].astype(int)).max() > 0  # it is in colour


def test_audio_codec_mp4_refuses_is_reencoded(tmp_path, ref):
    src = make_video(tmp_path / "in.mov", audio="pcm_s16le")
    summary = run(src, tmp_path / "out.mp4", ref)
    assert any("re-encoded to aac" in note for note in summary.streams)
    import av

    with av.open(str(tmp_path / "out.mp4")) as c:
        assert c.streams.audio[0].codec_context.name == "aac"
        assert c.streams.audio[0].duration and c.streams.audio[0].duration > 0


def test_subtitles_copied_where_the_container_takes_them(tmp_path, ref):
    src = add_subtitles(make_video(tmp_path / "plain.mkv", frames=10), tmp_path / "in.mkv")
    assert subtitle_payloads(src) == [b"Hello there", b"Second line"]
    summary = run(src, tmp_path / "out.mkv", ref)
    assert subtitle_payloads(tmp_path / "out.mkv") == subtitle_payloads(src)
    assert audio_payloads(tmp_path / "out.mkv") == audio_payloads(src)
    import av

    with av.open(str(tmp_path / "out.mkv")) as c:
        assert c.streams.subtitles[0].metadata.get("language") == "fra"
    assert any(note.startswith("subtitle") and "copied" in note for note in summary.streams)
    summary = run(src, tmp_path / "out.mp4", ref)  # MP4 takes only mov_text: converted, and said
    assert [p[2:] for p in subtitle_payloads(tmp_path / "out.mp4") if len(p) > 2] == subtitle_payloads(src)
    assert any("converted to mov_text" in note for note in summary.streams)


def test_variable_frame_rate_kept_exactly(tmp_path, ref):
    tb = Fraction(1, 1000)
    pts = [0, 40, 120, 130, 400, 410, 900, 1000]
    src = make_video(tmp_path / "vfr.mp4", frames=8, pts=pts, time_base=tb, audio=None)
    run(src, tmp_path / "out.mp4", ref)
    assert frame_times(tmp_path / "out.mp4") == frame_times(src)


def test_odd_size_and_rotation(tmp_path, ref):
    src = make_video(tmp_path / "odd.mp4", frames=5, width=63, height=47, rotation=90, audio=None)
    run(src, tmp_path / "out.mp4", ref)
    rgb = frames_rgb(tmp_path / "out.mp4")
    assert len(rgb) == 5 and rgb[0].shape == (47, 63, 3)
    assert rotation(tmp_path / "out.mp4") == 90


def test_colour_source_and_automatic_mode(tmp_path):
    src = make_video(tmp_path / "c.mp4", frames=4, colour=True, audio=None)
    run(src, tmp_path / "out.mp4")
    assert len(frame_times(tmp_path / "out.mp4")) == 4


def test_model_error_stops_everything_and_leaves_no_output(tmp_path, ref):
    src = make_video(tmp_path / "in.mp4", frames=12)

    class Boom(Exception):
        pass

    def broken(**kw):
        p = tiny_predictor()
        calls = []

        def small_ab(*a, **k):
            calls.append(1)
            if len(calls) > 1:
                raise Boom("out of memory, say")
            return Predictor.small_ab(p, *a, **k)

        p.small_ab = small_ab
        return p

    out = tmp_path / "out.mp4"
    with pytest.raises(VidcolorError, match="model stage: Boom: out of memory"):
        run(src, out, ref, factory=broken)
    assert not out.exists()
    assert not list(tmp_path.glob(".out.partial*"))


def test_resume_gives_the_same_frames(tmp_path, ref):
    src = make_video(tmp_path / "in.mp4", frames=14)
    straight = tmp_path / "straight.mp4"
    run(src, straight, ref, batch=2)

    def dies_late(**kw):
        p = tiny_predictor()
        seen = []

        def small_ab(l_full, *a, **k):
            seen.append(len(l_full))
            if sum(seen) > 9:
                raise RuntimeError("power cut")
            return Predictor.small_ab(p, l_full, *a, **k)

        p.small_ab = small_ab
        return p

    out = tmp_path / "resumed.mp4"
    with pytest.raises(VidcolorError, match="power cut"):
        run(src, out, ref, factory=dies_late, batch=2)
    assert not out.exists() and work_dir_for(out).exists()
    with pytest.raises(VidcolorError, match="--resume"):
        run(src, out, ref, batch=2)
    with pytest.raises(VidcolorError, match="differs in its encoder settings"):
        run(src, out, ref, batch=2, resume=True, encode=replace(FAST, crf=30))
    stamp = ref.stat()
    os.utime(ref, ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 10**9))  # the reference replaced under its name
    with pytest.raises(VidcolorError, match=r"differs in its reference files \(changed since\).*--fresh"):
        run(src, out, ref, batch=2, resume=True)
    os.utime(ref, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    progress = work_dir_for(out) / "progress.json"  # as a version before the files were stamped saved it
    saved = json.loads(progress.read_text())
    del saved["fingerprint"]["ref_files"]
    progress.write_text(json.dumps(saved))
    summary = run(src, out, ref, batch=2, resume=True)
    assert summary.resumed_from in (4, 8)  # whole chunks of 4 that were done before the crash survive
    a, b = frames_rgb(straight), frames_rgb(out)
    assert len(a) == len(b) == 14
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert frame_times(out) == frame_times(src)
    assert audio_payloads(out) == audio_payloads(src)


def test_truncated_files(tmp_path, ref):
    src = make_video(tmp_path / "in.mkv", frames=30)
    data = src.read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: len(data) * 2 // 3])
    summary = run(cut, tmp_path / "out.mkv", ref)
    assert 0 < summary.frames < 30
    mp4 = make_video(tmp_path / "in.mp4", frames=10)
    bad = tmp_path / "cut.mp4"
    bad.write_bytes(mp4.read_bytes()[:2000])
    with pytest.raises(VidcolorError, match="cut.mp4.*cut short"):  # its index (written last) is gone
        run(bad, tmp_path / "o2.mp4", ref)


def test_a_frame_of_a_rotated_video_is_shown_upright(tmp_path):
    from vidcolor.stream.still import colorize_frame
    from vidcolor.stream.timerange import parse_time

    src = make_video(tmp_path / "phone.mp4", frames=3, rotation=90)  # 64x48 stored, shown 48 wide
    out = colorize_frame(str(src), parse_time("0", "--frame"), None, str(tmp_path / "f.png"), tiny_predictor, True)
    assert Image.open(out).size == (48, 64)


def test_an_mp4_cut_after_its_index_says_so(tmp_path, ref):
    src = make_video(tmp_path / "in.mp4", frames=24, audio=None)
    whole = copy_stream(src, tmp_path / "whole.mp4", options={"movflags": "faststart"})  # the index first
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 2 // 3])
    summary = run(cut, tmp_path / "out.mp4", ref)
    assert 0 < summary.frames < 24
    assert "lists 24 frames" in summary.stopped_early and "truncated?" in summary.stopped_early
    assert run(whole, tmp_path / "out-whole.mp4", ref).stopped_early is None


def cli_error(*args):
    res = CliRunner().invoke(cli, [str(a) for a in args])
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert res.exit_code == 1 and len(lines) == 1 and lines[0].startswith("vidcolor: error:"), res.output
    return lines[0]


def test_cli_bad_inputs(tmp_path, ref, images):
    src = make_video(tmp_path / "in.mp4", frames=3)
    assert "vidcolor image" in cli_error("run", images["gray"], "-o", tmp_path / "o.mp4")
    notes = tmp_path / "notes.mp4"
    notes.write_text("not a video")
    assert "notes.mp4" in cli_error("run", notes, "-o", tmp_path / "o.mp4")
    assert "overwrite" in cli_error("run", src, "-o", src)
    assert "extension" in cli_error("run", src, "-o", tmp_path / "o.xyz")
    assert "grayscale" in cli_error("run", src, "--refs", images["gray"], "-o", tmp_path / "o.mp4")
    assert "no such" in cli_error("run", src, "--refs", tmp_path / "none", "-o", tmp_path / "o.mp4")
    audio_only = tmp_path / "audio.m4a"
    import av

    with av.open(str(audio_only), "w", format="mp4") as c:
        a = c.add_stream("aac", rate=16000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 16000
        for p in a.encode(frame):
            c.mux(p)
        for p in a.encode(None):
            c.mux(p)
    assert "no video stream" in cli_error("run", audio_only, "-o", tmp_path / "o.mp4")


def test_indexed_reference_folder(tmp_path):
    from vidcolor.shots.refs import plan_references

    folder = tmp_path / "refs"
    folder.mkdir()
    for i, idx in enumerate((0, 5)):
        Image.fromarray(colour_image(seed=i)).save(folder / f"ref_{idx:06d}.png")
    plan = plan_references(str(folder))
    assert [s.start for s in plan.segments] == [0, 5]
    assert plan.segment_of(4).paths[0].name == "ref_000000.png"
    assert plan.segment_of(5).paths[0].name == "ref_000005.png"
    assert plan.segment_of(5).seed != plan.segment_of(0).seed
    src = make_video(tmp_path / "in.mp4", frames=8, audio=None)
    assert run(src, tmp_path / "out.mp4", folder).frames == 8


def test_ten_bit_source_and_gray_levels(tmp_path, ref):
    import av

    from vidcolor.io.media import frame_gray

    path = tmp_path / "ten.mkv"
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=24, options={"preset": "ultrafast", "qp": "0"})
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p10le"
        for level in (30, 100, 200):
            img = np.full((48, 64, 3), level, np.uint8)
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p10le")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    with av.open(str(path)) as c:
        levels = [int(np.median(frame_gray(f))) for f in c.decode(c.streams.video[0])]
    assert all(abs(a - b) <= 1 for a, b in zip(levels, (30, 100, 200), strict=True))
    assert run(path, tmp_path / "out.mp4", ref).frames == 3


def test_avi_with_b_frames_keeps_presentation_order_and_times(tmp_path, ref):
    src = make_video(tmp_path / "b.avi", frames=10, audio=None)  # x264 B-frames in AVI: no real pts stored
    run(src, tmp_path / "out.mp4", ref)
    assert frame_times(tmp_path / "out.mp4") == frame_times(src)
    a, b = frames_rgb(src), frames_rgb(tmp_path / "out.mp4")

    def lightness(frames):  # what the output keeps of the input: its L, frame by frame
        return rgb_to_l(torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float() / 255).mean(dim=(1, 2, 3))

    assert np.corrcoef(lightness(a).numpy(), lightness(b).numpy())[0, 1] > 0.99  # same order of frames


def test_the_run_says_where_its_stages_waited(tmp_path, ref):
    """A slow model stage shows as the encoder (and its process) waiting for frames, not the model for its output."""
    import time

    src = make_video(tmp_path / "in.mp4", frames=6)

    def slow(**kw):
        p = tiny_predictor()

        def small_ab(*a, **k):
            time.sleep(0.2)
            return Predictor.small_ab(p, *a, **k)

        p.small_ab = small_ab
        return p

    waits = run(src, tmp_path / "out.mp4", ref, factory=slow, batch=2).waits
    stages = ["decoder: output", "model: input", "model: output", "encoder: input", "encoder: a free slot"]
    assert set(waits) == {*stages, "encoder process: idle", "encoder process: busy"}
    assert all(v >= 0 for v in waits.values()) and waits["encoder process: busy"] > 0
    assert waits["encoder: input"] >= 0.4 and waits["encoder process: idle"] >= 0.4  # three batches, 0.2 s each
    assert waits["model: output"] < 0.2 < waits["encoder: input"]
