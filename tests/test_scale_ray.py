"""Sharding on a local Ray runtime (skipped where Ray is not installed; CI installs it with the dev extra):
equality with a single-process run, a worker killed mid-segment, and `vidcolor batch --ray local`."""

import os
from pathlib import Path

import pytest
import torch
import yaml
from click.testing import CliRunner
from conftest import tiny_predictor
from media import audio_payloads, frame_times
from scale_media import SHOTS, assert_same_film, make_film, make_refs, options

from vidcolor.cli.commands import cli
from vidcolor.scale.batch import run_sharded
from vidcolor.scale.segment_job import KILL_TICKET_ENV
from vidcolor.stream.video import run_video

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def ticket(tmp_path_factory):
    """One local runtime for the module (2 CPUs: two segments at once, one thread each). The returned path is the
    test hook's ticket: a segment whose number is written there kills its own process after its first chunk."""
    path = tmp_path_factory.mktemp("hook") / "kill-ticket"
    here = str(Path(__file__).parent)  # the workers unpickle the tests' tiny predictor: they import from here
    paths = [here, os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [here]
    env = {KILL_TICKET_ENV: str(path), "PYTHONPATH": os.pathsep.join(paths)}
    before = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # workers inherit the environment of the runtime started now
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="warning")
    yield path
    ray.shutdown()
    for k, v in before.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="module")
def film(tmp_path_factory):
    """A 3-shot film, its candidate references, and the single-process run's output to compare with."""
    folder = tmp_path_factory.mktemp("film")
    src, refs = make_film(folder / "film.mp4"), make_refs(folder / "refs")
    single = folder / "single.mp4"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run_video(str(src), str(single), str(refs), tiny_predictor, options(), quiet=True)
    finally:
        torch.set_num_threads(threads)
    return src, refs, single


def _sharded(src, refs, out, workers=2):
    return run_sharded(
        str(src), str(out), str(refs), None, "luma", None, options(), tiny_predictor, "local", workers, quiet=True
    )


def _shots(path):
    """(start, end, reference file, score) of each shot of a shot file."""
    shots = yaml.safe_load(path.read_text())["shots"]
    return [(s["start"], s["end"], Path(s["reference"]).name, s["score"]) for s in shots]


def test_two_workers_give_the_single_run_frames_times_and_sound(ticket, film, tmp_path):
    src, refs, single = film
    out = tmp_path / "sharded.mp4"
    summary = _sharded(src, refs, out)
    assert summary.frames == sum(SHOTS) and summary.resumed_from == 0
    assert_same_film(single, out)
    assert _shots(tmp_path / "sharded.shots.yaml") == _shots(single.with_name("single.shots.yaml"))
    assert not list(tmp_path.glob(".*vidcolor-work"))


def test_a_worker_killed_mid_segment_is_retried_and_resumes_after_its_last_chunk(ticket, film, tmp_path):
    src, refs, single = film
    ticket.write_text("1")  # segment 1 (frames 22..32: chunks of 4) dies right after recording its first chunk
    out = tmp_path / "sharded.mp4"
    summary = _sharded(src, refs, out)
    assert not ticket.exists()  # the first attempt claimed the ticket and was killed
    assert summary.resumed_from == options().chunk_frames  # the retry kept that chunk: not encoded again
    assert summary.frames == sum(SHOTS)
    assert_same_film(single, out)


def test_batch_on_ray_with_the_real_weights_then_a_rerun_does_nothing(ticket, tmp_path, vgg_path):
    make_film(tmp_path / "a.mp4")
    make_film(tmp_path / "b.mp4", (9, 7))
    make_refs(tmp_path / "refs")
    settings = {"size": 64, "chunk_frames": 6, "preset": "ultrafast"}
    jobs = [
        {"source": "a.mp4", "output": "a-colour.mp4", "refs": "refs", **settings},
        {"source": "b.mp4", "output": "b-colour.mkv", "refs": "refs/sky.png", **settings},
    ]
    path = tmp_path / "jobs.yaml"
    path.write_text(yaml.safe_dump({"jobs": jobs}))
    args = ["batch", str(path), "--ray", "local", "--workers", "2", "--vgg", str(vgg_path), "--device", "cpu"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "2 of 2 films done" in result.output
    for name, out in (("a", "a-colour.mp4"), ("b", "b-colour.mkv")):
        src = tmp_path / f"{name}.mp4"
        assert len(frame_times(tmp_path / out)) == len(frame_times(src))
        assert audio_payloads(tmp_path / out) == audio_payloads(src)
    stamps = [os.stat(tmp_path / n).st_mtime_ns for n in ("a-colour.mp4", "b-colour.mkv")]
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 0 and "nothing to do" in again.output
    assert [os.stat(tmp_path / n).st_mtime_ns for n in ("a-colour.mp4", "b-colour.mkv")] == stamps
