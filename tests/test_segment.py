"""Preview segments: `run --start/--duration` (and frame numbers) keeps that part only, timed from 0, its audio
cut to match; it seeks instead of decoding from the start; bad ranges are one clean line."""

import json
import subprocess
import sys
import threading
from fractions import Fraction

import av
import numpy as np
import pytest
from media import frame_times, luma_planes
from test_fail_fast import CHECK
from test_pipeline import ref, tiny_predictor  # noqa: F401 - fixture

from vidcolor.io.encode import EncodeSettings
from vidcolor.io.media import probe
from vidcolor.io.seek import frame_seconds, frames_at
from vidcolor.io.yuv import plan_planar
from vidcolor.shots.refs import plan_references
from vidcolor.stream.decode_stage import DecodeStage
from vidcolor.stream.pipeline import RunOptions
from vidcolor.stream.timerange import FrameWindow, TimeSpec, parse_time, resolve_window
from vidcolor.stream.video import run_video

RATE, SAMPLE_RATE, ONSET = 24, 16000, 1.25  # the sound starts 1.25 s into the film


def film(path, frames=48, keyint=12, audio=True):
    """Frames whose luma differs per frame (so a wrong frame shows), a keyframe every ``keyint`` frames, and audio
    that is silent until ONSET seconds, then a tone."""
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=RATE, options={"crf": "10", "preset": "ultrafast", "g": str(keyint)})
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        a = out.add_stream("aac", rate=SAMPLE_RATE) if audio else None
        if a is not None:
            a.layout = "mono"
        y, x = np.mgrid[0:48, 0:64]
        for i in range(frames):
            g = ((x * 3 + y * 2 + 9 * i) % 256).astype(np.uint8)
            for p in v.encode(av.VideoFrame.from_ndarray(np.stack([g] * 3, -1), format="rgb24")):
                out.mux(p)
        if a is not None:
            t = np.arange(int(SAMPLE_RATE * frames / RATE)) / SAMPLE_RATE
            tone = (0.3 * np.sin(2 * np.pi * 440 * t) * (t >= ONSET)).astype(np.float32)[None]
            af = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
            af.sample_rate, af.pts = SAMPLE_RATE, 0
            for p in [*a.encode(af), *a.encode(None)]:
                out.mux(p)
        for p in v.encode(None):
            out.mux(p)
    return path


def run_segment(src, out, start, duration, refs=None):
    options = RunOptions(3, 4, EncodeSettings("libx264", 0, "ultrafast"))  # lossless: the luma is compared exactly
    return run_video(
        str(src), str(out), str(refs) if refs else None, tiny_predictor, options, True, None, None, None,
        start=parse_time(start, "--start") if start is not None else None,
        duration=parse_time(duration, "--duration") if duration is not None else None,
    )  # fmt: skip


def sound_onset(path) -> float:
    """Seconds from time 0 to where the sound starts."""
    with av.open(str(path)) as c:
        for frame in c.decode(c.streams.audio[0]):
            loud = np.flatnonzero(np.abs(frame.to_ndarray()[0]) > 0.05)
            if loud.size:
                return float(Fraction(frame.pts) * frame.time_base + Fraction(int(loud[0]), frame.sample_rate))
    raise AssertionError("no sound")


def audio_seconds(path) -> tuple[float, float]:
    """(first packet time, end of the last packet) of the audio track."""
    with av.open(str(path)) as c:
        s = c.streams.audio[0]
        times = [(p.pts * s.time_base, (p.pts + p.duration) * s.time_base) for p in c.demux(s) if p.size]
    return float(times[0][0]), float(times[-1][1])


def test_segment_frames_timing_and_audio_cut(tmp_path, ref):  # noqa: F811
    src = film(tmp_path / "film.mp4")
    out = tmp_path / "preview.mp4"
    summary = run_segment(src, out, "1", "0.5", ref)
    assert summary.frames == 12
    assert frame_times(out) == [Fraction(i, RATE) for i in range(12)]  # the segment starts at time 0
    _, planes_in = luma_planes(src)
    _, planes_out = luma_planes(out)
    assert len(planes_out) == 12
    assert all(np.array_equal(a, b) for a, b in zip(planes_out, planes_in[24:36], strict=True))  # frames 24..35
    assert sound_onset(out) == pytest.approx(ONSET - 1.0, abs=0.02)  # lip sync: the sound starts 0.25 s in
    first, last = audio_seconds(out)
    assert 0 <= first < 0.07 and last == pytest.approx(0.5, abs=0.07)  # cut at packets of 1024 samples (64 ms)


def test_segment_by_frame_numbers_and_timecode(tmp_path):
    src = film(tmp_path / "film.mp4", audio=False)
    _, planes_in = luma_planes(src)
    run_segment(src, tmp_path / "a.mp4", "30f", "6f")
    assert all(np.array_equal(a, b) for a, b in zip(luma_planes(tmp_path / "a.mp4")[1], planes_in[30:36], strict=True))
    assert len(luma_planes(tmp_path / "a.mp4")[1]) == 6
    summary = run_segment(src, tmp_path / "b.mp4", "00:00:01.500", "10")  # runs past the end: stops there
    assert summary.frames == 12
    assert np.array_equal(luma_planes(tmp_path / "b.mp4")[1][0], planes_in[36])


def test_segment_seeks_instead_of_decoding_from_the_start(tmp_path):
    src = film(tmp_path / "long.mp4", frames=480, keyint=24, audio=False)
    info = probe(src)
    stage = DecodeStage(src, info, plan_planar(info, "libx264"), plan_references(None), window=FrameWindow(400, 10))
    items = list(stage.frames(threading.Event()))
    assert [i[0] for i in items] == list(range(400, 410))  # numbered as in the whole film
    assert items[0][1] == 0 and all(b[1] > a[1] for a, b in zip(items, items[1:], strict=False))
    assert stage.decoded < 50, stage.decoded  # from the keyframe before frame 400, not from frame 0
    _, planes = luma_planes(src)
    assert np.array_equal(items[0][2], planes[400])


def vfr_film(path, pts, rate=100):
    """Frames shown at ``pts`` (hundredths of a second), frame i's gray level 7 * i (so a wrong frame shows)."""
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=rate, options={"crf": "10", "preset": "ultrafast"})
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        v.codec_context.time_base = v.time_base = Fraction(1, 100)
        for i, t in enumerate(pts):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 7 * i, np.uint8), format="rgb24")
            frame.pts, frame.time_base = t, Fraction(1, 100)
            for p in v.encode(frame):
                out.mux(p)
        for p in v.encode(None):
            out.mux(p)
    return path


@pytest.mark.parametrize("ext", [".mp4", ".mkv"])
def test_variable_frame_rate_segments_by_the_frames_own_times(tmp_path, ext):
    # 100 fps for 0.1 s, then 5 fps: the average rate (about 13 fps) puts 1.0 s at frame 13 (shown at 0.7 s)
    pts = [*range(0, 11), *range(30, 200, 20)]
    src = vfr_film(tmp_path / f"vfr{ext}", pts)
    _, planes_in = luma_planes(src)
    summary = run_segment(src, tmp_path / "p.mp4", "1.0", "0.5")
    assert summary.frames == 2  # the frames shown at 1.1 and 1.3 s
    _, planes_out = luma_planes(tmp_path / "p.mp4")
    assert all(np.array_equal(a, b) for a, b in zip(planes_out, planes_in[15:17], strict=True))
    times = [i / 100 for i in pts]
    window = resolve_window("v", len(pts), Fraction(13), parse_time("1", "-"), parse_time("0.5", "-"), times=times)
    assert window == FrameWindow(15, 2, 1.1)
    assert resolve_window("v", len(pts), Fraction(13), parse_time("0.05", "-"), None, times=times).first == 5
    info = probe(src)
    assert frame_seconds(info, parse_time("1", "--frame")) == pytest.approx(times)  # read from the packets
    at = info.start_pts + round(Fraction(110, 100) / info.time_base)  # `image --frame 1.0`'s seek
    assert list(frames_at(src, info, [15], lambda frame: frame.pts, pts=[at])) == [(15, at)]
    # 10 frames 0.1 s apart, then 0.025 s: in Matroska a frame sits where the average rate puts frame 20
    pts = [*range(0, 100, 10), *range(100, 150, 2)]
    src = vfr_film(tmp_path / f"vfr2{ext}", pts, rate=25)
    _, planes_in = luma_planes(src)
    run_segment(src, tmp_path / "q.mp4", "1.2", "0.1")
    _, planes_out = luma_planes(tmp_path / "q.mp4")
    assert len(planes_out) == 5 and all(np.array_equal(a, b) for a, b in zip(planes_out, planes_in[20:25], strict=True))


def test_constant_frame_rate_needs_no_packet_times(tmp_path):
    src = film(tmp_path / "film.mp4", frames=48, audio=False)
    info = probe(src)
    assert frame_seconds(info, parse_time("1", "--start"), parse_time("0.5", "--duration")) is None  # one seek
    assert frame_seconds(info, parse_time("30f", "--start")) is None


@pytest.mark.parametrize(
    "text, seconds, frame",
    [("90", 90.0, None), ("12.5", 12.5, None), ("1:30", 90.0, None), ("01:02:03.5", 3723.5, None), ("240f", 0, 240)],
)
def test_time_forms(text, seconds, frame):
    spec = parse_time(text, "--start")
    assert (spec.seconds, spec.frame) == (seconds, frame)
    assert TimeSpec("x", 2.0).to_frames(Fraction(24)) == 48


def test_bad_ranges_are_one_line_before_torch(tmp_path):
    src = film(tmp_path / "film.mp4", audio=False)  # 2 s, 48 frames
    out = tmp_path / "o.mp4"
    run = ["run", str(src), "-o", str(out)]
    cases = {
        "--start 5 is past the end": [*run, "--start", "5"],
        "--start 48f is past the end": [*run, "--start", "48f"],
        "cannot be negative": [*run, "--duration", "-1"],
        "selects no frame": [*run, "--duration", "0"],
        "not a time": [*run, "--start", "soon"],
        "--frame 2.5 is past the end": ["image", str(src), "--frame", "2.5", "-o", str(tmp_path / "f.png")],
        "not with --ray": [*run, "--start", "1", "--ray", "local"],
    }
    args = list(cases.values())
    proc = subprocess.run([sys.executable, "-c", CHECK, json.dumps(args)], capture_output=True, text=True, check=True)
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    for (what, _), (code, output, torch_loaded) in zip(cases.items(), results, strict=True):
        assert code == 1 and output.startswith("vidcolor: error:") and len(output.splitlines()) == 1, (what, output)
        assert what in output, (what, output)
        assert not torch_loaded
    assert not out.exists() and not (tmp_path / "f.png").exists()
