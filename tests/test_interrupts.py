"""Hostile conditions during a run: SIGTERM, a full disk, the GPU out of memory. Work is kept, --resume finishes."""

import errno
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from media import audio_payloads, frame_times, frames_rgb, make_video
from test_pipeline import ref, run, tiny_predictor  # noqa: F401 - fixture

from vidcolor.chain.predictor import Predictor
from vidcolor.errors import VidcolorError
from vidcolor.io.encoder_process import EncoderProcess
from vidcolor.stream.work_state import work_dir_for


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupt_stops_fast_keeps_work_and_resume_finishes(tmp_path, ref, vgg_path, sig):  # noqa: F811
    src = make_video(tmp_path / "long.mp4", frames=100)
    out = tmp_path / "out.mp4"
    env = {
        **os.environ,
        "VIDCOLOR_TEST_RANDOM_WEIGHTS": "1",
        "VIDCOLOR_WEIGHTS": str(tmp_path / "none"),
        "VIDCOLOR_VGG": str(vgg_path),
    }
    cmd = [sys.executable, "-m", "vidcolor", "run", str(src), "--refs", str(ref), "-o", str(out), "--size", "64"]
    cmd += ["--batch", "2", "--chunk-frames", "8", "--preset", "ultrafast", "--quiet"]
    # Ctrl-C as from a terminal: a suite started in the background (`pytest &` in a script) ignores SIGINT, and its
    # children would inherit that (the run then finished as if never interrupted)
    restore = (lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)) if sig == signal.SIGINT else None
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True, preexec_fn=restore)
    progress = work_dir_for(out) / "progress.json"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if progress.is_file() and json.loads(progress.read_text())["chunks"]:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be stopped"
    t0 = time.time()
    proc.send_signal(sig)
    proc.wait(timeout=30)
    stderr = proc.stderr.read()
    assert time.time() - t0 < 5, (time.time() - t0, stderr[-2000:])
    assert proc.returncode != 0 and "Traceback" not in stderr
    assert "--resume" in stderr  # says how to go on
    assert not out.exists() and json.loads(progress.read_text())["chunks"]  # the finished chunks are kept
    done = subprocess.run(cmd + ["--resume"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert frame_times(out) == frame_times(src)
    assert audio_payloads(out) == audio_payloads(src)


def test_disk_full_keeps_finished_chunks_and_resume_completes(tmp_path, ref, monkeypatch):  # noqa: F811
    src = make_video(tmp_path / "in.mp4", frames=14)
    straight = tmp_path / "straight.mp4"
    run(src, straight, ref, batch=2)
    original = EncoderProcess.write  # the parent side (the child's OSErrors come back as such: test_encoder_process)
    written = []

    def fills_the_disk(self, pts, *planes):
        if len(written) >= 10:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        written.append(pts)
        return original(self, pts, *planes)

    monkeypatch.setattr(EncoderProcess, "write", fills_the_disk)
    out = tmp_path / "out.mp4"
    full = r"no space left on the device \(encoder stage\).*8 frames finished.*--resume"
    with pytest.raises(VidcolorError, match=full):
        run(src, out, ref, batch=2)
    assert not out.exists()
    kept = json.loads((work_dir_for(out) / "progress.json").read_text())["chunks"]
    assert [c["frames"] for c in kept] == [4, 4] and not list(work_dir_for(out).glob(".chunk-*"))
    monkeypatch.setattr(EncoderProcess, "write", original)  # space is back
    summary = run(src, out, ref, batch=2, resume=True)
    assert summary.resumed_from == 8
    a, b = frames_rgb(straight), frames_rgb(out)
    assert len(a) == len(b) == 14 and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_gpu_out_of_memory_halves_the_batch_and_goes_on(tmp_path, ref):  # noqa: F811
    src = make_video(tmp_path / "in.mp4", frames=12)
    sizes = []

    def tight_memory(**kw):
        p = tiny_predictor()

        def small_ab(l_full, *a, **k):
            sizes.append(len(l_full))
            if len(l_full) > 2:  # this "GPU" holds two frames at most
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
            return Predictor.small_ab(p, l_full, *a, **k)

        p.small_ab = small_ab
        return p

    from vidcolor.io.encode import EncodeSettings
    from vidcolor.shots.refs import plan_references
    from vidcolor.stream.pipeline import RunOptions, VideoJob

    options = RunOptions(8, 4, EncodeSettings("libx264", 18, "ultrafast"))
    job = VideoJob(src, tmp_path / "out.mp4", plan_references(str(ref)), tight_memory, options)
    summary = job.run()
    assert summary.frames == 12 and frame_times(tmp_path / "out.mp4") == frame_times(src)
    assert sizes[:2] == [8, 4] and set(sizes[2:]) == {2} and sum(sizes[2:]) == 12  # halved twice, then kept
    assert job.warnings == [
        "out of GPU memory with a batch of 8 frames: going on with 4",
        "out of GPU memory with a batch of 4 frames: going on with 2",
    ]


def test_out_of_memory_with_one_frame_is_an_error(tmp_path, ref):  # noqa: F811
    src = make_video(tmp_path / "in.mp4", frames=4)

    def no_memory(**kw):
        p = tiny_predictor()

        def small_ab(l_full, *a, **k):
            raise torch.OutOfMemoryError("CUDA out of memory")

        p.small_ab = small_ab
        return p

    with pytest.raises(VidcolorError, match="model stage: OutOfMemoryError"):
        run(src, tmp_path / "out.mp4", ref, factory=no_memory)
    assert not work_dir_for(tmp_path / "out.mp4").exists()


def test_final_mux_failure_is_one_line_and_resume_only_muxes(tmp_path, ref, monkeypatch):  # noqa: F811
    import av

    import vidcolor.stream.pipeline as pipeline

    src = make_video(tmp_path / "in.mp4", frames=10)
    original = pipeline.assemble

    def refuses(*a, **k):
        raise av.error.ArgumentError(22, "Invalid argument")

    monkeypatch.setattr(pipeline, "assemble", refuses)
    out = tmp_path / "out.mp4"
    with pytest.raises(VidcolorError, match="writing the final file failed.*kept.*--resume"):
        run(src, out, ref)
    assert not out.exists() and not list(tmp_path.glob(".out.partial*"))
    monkeypatch.setattr(pipeline, "assemble", original)
    calls = []

    def counted(**kw):
        p = tiny_predictor()
        p.colorize = lambda frames, *a, **k: calls.append(len(frames)) or Predictor.colorize(p, frames, *a, **k)
        return p

    summary = run(src, out, ref, resume=True, factory=counted)
    assert summary.resumed_from == 10 and calls == []  # nothing computed again
    assert frame_times(out) == frame_times(src) and audio_payloads(out) == audio_payloads(src)
