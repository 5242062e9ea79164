"""Scale-out without Ray: the segment planner, seeking to a frame range, segments run in-process and assembled,
and batch files (validation before any work, a failing film, a rerun that does nothing)."""

import os
import subprocess
import sys
import threading

import pytest
import torch
import yaml
from conftest import tiny_predictor
from scale_media import SHOTS, assert_same_film, make_film, make_refs, options
from zoo import make_packed_avi

from vidcolor.errors import VidcolorError
from vidcolor.io.media import probe
from vidcolor.io.timestamps import restore_pts
from vidcolor.io.yuv import plan_planar
from vidcolor.scale.film import FilmJob, FilmRun
from vidcolor.scale.segment_job import run_segment, segment_dir
from vidcolor.scale.segments import Span, plan_segments, shot_pieces
from vidcolor.shots.refs import plan_references
from vidcolor.stream.decode_stage import DecodeStage, FrameRange
from vidcolor.stream.video import run_video


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny frames: one torch thread is as fast, and does not collapse when other work shares the cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ---------------------------------------------------------------------------------------------- the planner


def test_segments_are_whole_shots_and_balanced():
    starts = [0, 30, 45, 50, 90, 120]  # shots of 30, 15, 5, 40, 30, 10 frames
    spans = plan_segments(starts, 130, parts=3, limit=1000)
    assert [(s.start, s.end) for s in spans] == [(0, 45), (45, 90), (90, 130)]  # 45 / 45 / 40: the best split
    assert all(s.start in starts and not s.split for s in spans)
    assert spans[0].start == 0 and spans[-1].end == 130
    assert all(a.end == b.start for a, b in zip(spans, spans[1:], strict=False))


def test_more_parts_than_shots_never_splits_a_short_shot():
    spans = plan_segments([0, 10, 22], 32, parts=8, limit=100)
    assert [(s.start, s.end) for s in spans] == [(0, 10), (10, 22), (22, 32)]


def test_a_shot_longer_than_the_limit_is_split_on_the_chunk_grid():
    pieces = shot_pieces([0, 5], 105, limit=40, align=8)  # shot 5..105 (100 frames) > 40: three pieces
    assert pieces[0] == (0, 5, 0)
    assert all(shot == 5 and (a - 5) % 8 == 0 for a, _, shot in pieces[1:])
    assert all(b - a <= 40 for a, b, _ in pieces) and pieces[-1][1] == 105
    spans = plan_segments([0], 100, parts=2, align=16)  # one shot, two workers: split near the middle, on the grid
    assert [(s.start, s.end, s.shot_start) for s in spans] == [(0, 48, 0), (48, 100, 0)]
    assert spans[1].split and not spans[0].split


def test_planner_rejects_an_empty_film():
    with pytest.raises(ValueError):
        plan_segments([0], 0, 2)


# ---------------------------------------------------------------------------------------------- seeking


def _decoded(path, span=None):
    info = probe(path)
    fmt = plan_planar(info, "libx264")
    stage = DecodeStage(path, info, fmt, plan_references(None), span)
    items = [(i, pts, luma.tobytes()) for i, pts, luma, _shot, _first in stage.frames(threading.Event())]
    return items, stage


@pytest.mark.parametrize("kind", ["h264-bframes", "divx-avi"])
def test_a_frame_range_seeks_and_maps_frames_like_the_whole_film_decoder(tmp_path, kind):
    path = make_film(tmp_path / "f.mp4", (20, 20), gop=4) if kind == "h264-bframes" else None
    if kind == "divx-avi":  # decoder pts come out shuffled (1, 3, 2, 5, 4 ...): restored by a window
        path = make_packed_avi(tmp_path / "f.avi", frames=30)
    whole, _ = _decoded(path)
    pts = [p for _, p, _ in whole]
    for first, end in [(17, 29), (25, None), (1, 2)]:
        span = FrameRange(first, end, pts[first], pts[max(0, first - 8)])
        part, stage = _decoded(path, span)
        assert part == whole[first:end]
        assert stage.seeked
    bogus = pts[17] + 1 if pts[18] - pts[17] > 1 else pts[-1] + 100  # no frame has that time
    wrong = FrameRange(17, 21, bogus, pts[9])  # so: decode from the start and count
    part, stage = _decoded(path, wrong)
    assert part == whole[17:21] and not stage.seeked


def test_restore_pts_says_when_it_makes_a_time_up():
    made_up = []
    out = list(restore_pts([(0, "a"), (None, "b"), (2, "c")], 1, on_repair=lambda: made_up.append(1)))
    assert [p for p, _ in out] == [0, 2, 3] and len(made_up) == 1  # the held-back 2 moves up; 3 is made up


# ---------------------------------------------------------------------------------------------- segments in-process


@pytest.mark.parametrize("per_shot", [True, False])
def test_segments_run_apart_then_assembled_equal_a_single_run(tmp_path, per_shot):
    """The sharded machinery without Ray: each segment through run_segment (a split shot too), then finish."""
    src = make_film(tmp_path / "film.mp4")
    refs = make_refs(tmp_path / "refs") if per_shot else make_refs(tmp_path / "refs") / "checks.png"
    single = tmp_path / "single.mp4"
    run_video(str(src), str(single), str(refs), tiny_predictor, options(), quiet=True)
    out = tmp_path / "sharded.mp4"
    film = FilmRun(FilmJob(src, out, str(refs), None, "luma", None, options(), tiny_predictor))
    specs = film.prepare(parts=4, limit=8)  # every shot is longer than 8: split on the 4-frame chunk grid
    assert len(specs) == 4 and any(s.span.split for s in specs)
    for spec in specs:
        film.results[spec.span.number] = run_segment(spec)
    assert any(r["seeked"] for r in film.results.values())
    summary = film.finish()
    assert summary.frames == sum(SHOTS)
    assert_same_film(single, out)
    assert not film.work_dir.exists()
    if per_shot:  # the shot file a single run writes: the same shots and references
        assert (tmp_path / "sharded.shots.yaml").read_text() == (tmp_path / "single.shots.yaml").read_text()


def test_a_segment_retried_after_a_crash_keeps_its_finished_chunks(tmp_path):
    src = make_film(tmp_path / "film.mp4")
    film = FilmRun(FilmJob(src, tmp_path / "out.mp4", None, None, None, None, options(), tiny_predictor))
    spec = film.prepare(parts=1)[0]
    first = run_segment(spec)
    folder = segment_dir(film.work_dir, 0)
    stamps = {f: os.stat(folder / f).st_mtime_ns for f in first["chunks"]}
    again = run_segment(spec)  # a retry: everything is there, nothing is encoded
    assert again["encoded"] == 0 and again["resumed_from"] == sum(SHOTS)
    assert {f: os.stat(folder / f).st_mtime_ns for f in first["chunks"]} == stamps


# ---------------------------------------------------------------------------------------------- batch files


def _batch(tmp_path, jobs, **extra):
    path = tmp_path / "jobs.yaml"
    path.write_text(yaml.safe_dump({"jobs": jobs, **extra}))
    return path


def _cli(*args):
    """The command in a fresh interpreter; stdout says whether torch was imported by the time it exited."""
    code = (
        "import atexit, sys; atexit.register(lambda: print('torch' in sys.modules)); "
        "from vidcolor.cli.commands import main; sys.argv = ['vidcolor', *sys.argv[1:]]; main()"
    )
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)


@pytest.mark.parametrize(
    "jobs, message",
    [
        ([{"source": "missing.mp4", "output": "a.mp4"}], "job 1 (missing.mp4): source"),
        ([{"source": "film.mp4", "output": "o.mp4"}, {"source": "film.mp4", "output": "o.mp4"}], "is also job 1's"),
        ([{"source": "film.mp4", "output": "film.mp4"}], "would overwrite the input"),
        ([{"source": "film.mp4", "output": "o.mp4"}, {"source": "film2.mp4", "output": "film.mp4"}], "job 1's source"),
        ([{"source": "film.mp4", "output": "o.mp4", "sorce": 1}], "unknown key 'sorce'"),
        ([{"source": "film.mp4", "output": "o.mp4", "crf": "high"}], "'crf' must be int"),
        ([{"source": "film.mp4", "output": "o.mp4", "keyframe_span": -1}], "'keyframe_span' must be at least 0"),
        ([{"source": "film.mp4", "output": "o.avi"}], "unknown video extension"),
        ([{"source": "film.mp4", "output": "o.mp4", "refs": "nope.png"}], "no such reference"),
        ([{"source": "film.mp4"}], "needs 'output'"),
    ],
)
def test_batch_file_errors_are_one_line_before_any_work(tmp_path, jobs, message):
    make_film(tmp_path / "film.mp4", (4,))
    make_film(tmp_path / "film2.mp4", (4,))
    path = _batch(tmp_path, jobs)
    proc = _cli("batch", str(path))
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.strip() == "False"  # checked before torch was imported
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vidcolor: error: ") and message in lines[0], proc.stderr
    assert "jobs.yaml" in lines[0]
    assert not list(tmp_path.glob("o*.mp4")) and not list(tmp_path.glob(".*vidcolor-work"))


def test_batch_in_process_reports_a_failed_film_goes_on_and_a_rerun_does_nothing(tmp_path, monkeypatch):
    import vidcolor.scale.batch as batch

    monkeypatch.setattr(batch, "predictor_factory", lambda *a, **k: tiny_predictor)
    monkeypatch.setattr("vidcolor.stream.video.check_encoder", lambda *a, **k: None)  # an encoder failing only in use
    make_film(tmp_path / "a.mp4", (6, 5))
    make_film(tmp_path / "b.mp4", (7,))
    make_refs(tmp_path / "refs")
    jobs = [
        {"source": "a.mp4", "output": "out/a.mp4", "refs": "refs", "chunk_frames": 4, "preset": "ultrafast"},
        {"source": "b.mp4", "output": "out/bad.mp4", "codec": "no-such-codec"},
        {"source": "b.mp4", "output": "out/b.mp4", "refs": "refs/sky.png", "preset": "ultrafast"},
    ]
    (tmp_path / "out").mkdir()
    path = _batch(tmp_path, jobs)
    assert batch.run_batch(str(path), None, None, None, "cpu", quiet=True) == 1
    assert (tmp_path / "out/a.mp4").is_file() and (tmp_path / "out/b.mp4").is_file()
    assert not (tmp_path / "out/bad.mp4").exists()
    stamps = [os.stat(tmp_path / f"out/{n}.mp4").st_mtime_ns for n in "ab"]
    path = _batch(tmp_path, [jobs[0], jobs[2]])
    assert batch.run_batch(str(path), None, None, None, "cpu", quiet=True) == 0
    assert [os.stat(tmp_path / f"out/{n}.mp4").st_mtime_ns for n in "ab"] == stamps


def test_batch_with_an_unusable_encoder_is_refused_before_any_film(tmp_path, monkeypatch):
    import vidcolor.scale.batch as batch

    monkeypatch.setattr(batch, "predictor_factory", lambda *a, **k: tiny_predictor)
    make_film(tmp_path / "a.mp4", (6,))
    make_refs(tmp_path / "refs")
    jobs = [
        {"source": "a.mp4", "output": "out/a.mp4", "refs": "refs", "preset": "ultrafast"},
        {"source": "a.mp4", "output": "out/a.webm", "refs": "refs"},  # libx264 cannot go into WebM
    ]
    (tmp_path / "out").mkdir()
    path = _batch(tmp_path, jobs)
    with pytest.raises(VidcolorError, match=r"job 2 \(a.mp4\): .*a.webm: a .webm file cannot hold libx264"):
        batch.run_batch(str(path), None, None, None, "cpu", quiet=True)
    assert not list((tmp_path / "out").iterdir())


def test_ray_missing_is_a_clear_error(tmp_path, monkeypatch):
    import builtins

    import vidcolor.scale.batch as batch

    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ModuleNotFoundError("No module named 'ray'", name="ray")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    monkeypatch.delitem(sys.modules, "vidcolor.scale.cluster", raising=False)
    with pytest.raises(Exception, match=r"pip install 'vidcolor\[ray\]'"):
        batch.connect("local", 1)


def test_span_fields():
    span = Span(2, 10, 20, 5)
    assert span.frames == 10 and span.split


def test_workers_without_ray_or_below_one_is_an_error(tmp_path):
    make_film(tmp_path / "film.mp4", (4,))
    for extra, message in (
        (["--workers", "2"], "--workers needs --ray"),
        (["--ray", "local", "--workers", "0"], "at least 1"),
    ):
        proc = _cli("run", str(tmp_path / "film.mp4"), "-o", str(tmp_path / "o.mp4"), *extra)
        assert proc.returncode == 1 and proc.stderr.startswith("vidcolor: error:") and message in proc.stderr
        assert proc.stdout.strip() == "False"


def test_progress_lines_per_film_and_overall():
    from vidcolor.scale.progress import FilmsProgress

    progress = FilmsProgress(quiet=True)
    progress.lines([("a.mp4", 0, 100), ("b.mp4", 50, 200)], now=0.0)
    rows = progress.lines([("a.mp4", 40, 100), ("b.mp4", 70, 200)], now=10.0)
    assert rows[0] == "a.mp4: 40/100 frames (40%) 4.00 fps ETA 00:00:15"
    assert rows[1] == "b.mp4: 70/200 frames (35%) 2.00 fps ETA 00:01:05"
    assert rows[2] == "all films: 110/300 frames (37%) 6.00 fps ETA 00:00:31"


def test_films_progress_bars_on_a_terminal_and_one_summary_in_a_pipe():
    import io

    from vidcolor.scale.progress import FilmsProgress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    term, pipe = Terminal(), io.StringIO()
    for stream in (term, pipe):
        progress = FilmsProgress(stream=stream)
        progress([("a.mp4", 0, 100), ("b.mp4", 0, 200)])
        progress([("a.mp4", 40, 100), ("b.mp4", 70, 200)])
        progress.note("a.mp4: done")
        progress.close()
    assert "all films" in term.getvalue() and "110/300" in term.getvalue() and "frame" in term.getvalue()
    assert "a.mp4: done" in term.getvalue()
    rows = pipe.getvalue().splitlines()  # nothing drawn while it runs: the note, then one line per film and overall
    assert rows[0] == "a.mp4: done" and len(rows) == 4
    assert rows[1].startswith("a.mp4: 40/100 frames") and rows[3].startswith("all films: 110/300 frames")
