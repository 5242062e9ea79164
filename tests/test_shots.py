"""Shots: cut detection on synthetic multi-shot video, shot files, validation, per-shot references."""

from pathlib import Path

import av
import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from PIL import Image

from vidcolor.cli.commands import cli
from vidcolor.errors import VidcolorError
from vidcolor.io.media import probe
from vidcolor.shots.files import Shot, ShotFile, read_shot_file, write_csv, write_yaml
from vidcolor.shots.job import detect_cuts

CUTS = [8, 17]
FRAMES = 25


def scene(kind: int, t: int, h: int = 48, w: int = 64) -> np.ndarray:
    """Three visually distinct scenes (in colour), each with a little motion."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    if kind == 0:  # sky over a field: smooth, horizontal
        g = np.where(y < h / 2, 200 - y * 2, 90 + 10 * np.sin((x + t) / 3))
        rgb = np.stack([g * 0.5, g * 0.7, g], -1)
    elif kind == 1:  # checkerboard: strong texture
        g = 60 + 140 * (((x + t) // 6 + y // 6) % 2)
        rgb = np.stack([g, g * 0.4, g * 0.3], -1)
    else:  # rings: round structures
        r = np.hypot(x - w / 2 - t / 2, y - h / 2)
        g = 128 + 100 * np.sin(r / 2.5)
        rgb = np.stack([g * 0.3, g, g * 0.5], -1)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def kind_of(i: int) -> int:
    return sum(i >= c for c in CUTS)


@pytest.fixture
def film(tmp_path) -> Path:
    path = tmp_path / "film.mp4"
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=24, options={"crf": "12", "preset": "ultrafast"})
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        for i in range(FRAMES):
            gray = scene(kind_of(i), i) @ np.array([0.299, 0.587, 0.114])
            img = np.repeat(gray.round().astype(np.uint8)[..., None], 3, -1)
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    return path


@pytest.fixture
def refs(tmp_path) -> Path:
    folder = tmp_path / "refs"
    folder.mkdir()
    for k, name in enumerate(("sky", "checks", "rings")):
        Image.fromarray(scene(k, 3)).save(folder / f"{name}.png")
    return folder


@pytest.mark.parametrize("detector", ["luma", "scdet"])
def test_cuts_found_within_one_frame(film, detector):
    cuts, frames, _, fps = detect_cuts(film, detector, None)
    assert frames == FRAMES and fps > 0
    assert len(cuts) == len(CUTS)
    assert all(abs(a - b) <= 1 for a, b in zip(cuts, CUTS, strict=True))


def test_yaml_and_csv_round_trip(tmp_path, film, refs):
    info = probe(film)
    ref = str(refs / "sky.png")
    data = ShotFile(
        [Shot(0, 8, [ref], 0.5), Shot(8, 17, [ref, str(refs / "rings.png")]), Shot(17, 25)],
        FRAMES,
        info.rate,
        film.name,
        info.duration,
        "luma",
    )
    write_yaml(tmp_path / "s.yaml", data)
    write_csv(tmp_path / "s.csv", data)
    doc = yaml.safe_load((tmp_path / "s.yaml").read_text())
    assert doc["shots"][0]["reference"] == "refs/sky.png"  # relative to the shot file, for people
    assert doc["shots"][1]["start_time"] == "00:00:00.333"
    for name in ("s.yaml", "s.csv"):
        back = read_shot_file(tmp_path / name, info)
        assert [(s.start, s.end) for s in back.shots] == [(0, 8), (8, 17), (17, 25)]
        assert [len(s.reference) for s in back.shots] == [1, 2, 0]
        assert back.shots[0].reference[0] == str((refs / "sky.png").resolve())


def test_pyscenedetect_csv_import(tmp_path, film):
    csv_text = (
        "Timecode List:,00:00:00.333,00:00:00.708\n"
        "Scene Number,Start Frame,Start Timecode,Start Time (seconds),End Frame,End Timecode,End Time (seconds)\n"
        "1,1,00:00:00.000,0.000,8,00:00:00.333,0.333\n"
        "2,9,00:00:00.333,0.333,17,00:00:00.708,0.708\n"
        "3,18,00:00:00.708,0.708,25,00:00:01.042,1.042\n"
    )
    (tmp_path / "scenes.csv").write_text(csv_text)
    data = read_shot_file(tmp_path / "scenes.csv", probe(film))
    assert [(s.start, s.end) for s in data.shots] == [(0, 8), (8, 17), (17, 25)]


@pytest.mark.parametrize(
    ("shots", "frames", "message"),
    [
        ([(0, 10), (10, 25)], 30, "made for a video of 30 frames"),
        ([(0, 10), (9, 25)], 25, "overlaps"),
        ([(0, 10), (12, 25)], 25, "belong to no shot"),
        ([(0, 10), (10, 30)], 25, "past the video"),
        ([(0, 10), (10, 10)], 25, "empty"),
    ],
)
def test_bad_shot_files_rejected_before_decoding(tmp_path, film, shots, frames, message):
    info = probe(film)
    write_yaml(tmp_path / "bad.yaml", ShotFile([Shot(a, b) for a, b in shots], frames, info.rate, "x.mp4"))
    with pytest.raises(VidcolorError, match=message):
        read_shot_file(tmp_path / "bad.yaml", info)


def test_missing_reference_rejected(tmp_path, film):
    info = probe(film)
    write_yaml(tmp_path / "s.yaml", ShotFile([Shot(0, 25, [str(tmp_path / "gone.png")])], FRAMES, info.rate))
    res = CliRunner().invoke(
        cli, ["run", str(film), "--shots", str(tmp_path / "s.yaml"), "-o", str(tmp_path / "o.mp4")]
    )
    assert res.exit_code == 1 and "gone.png not found" in res.output
    assert not (tmp_path / "o.mp4").exists()


def test_each_shot_gets_its_own_reference(tmp_path, film, refs, vgg_path, random_weights):
    out = tmp_path / "film.shots.yaml"
    res = CliRunner().invoke(
        cli, ["shots", str(film), "--refs", str(refs), "-o", str(out), "--vgg", str(vgg_path), "--size", "64"]
    )
    assert res.exit_code == 0, res.output
    data = read_shot_file(out, probe(film))
    assert [Path(s.reference[0]).name for s in data.shots] == ["sky.png", "checks.png", "rings.png"]
    assert all(s.score is not None for s in data.shots)
    assert (tmp_path / "film.shots.csv").is_file()
    # the same assignment inline, during one streaming pass of `run`
    video = tmp_path / "colour.mp4"
    quick = ["--vgg", str(vgg_path), "--size", "64", "--preset", "ultrafast"]
    res = CliRunner().invoke(cli, ["run", str(film), "--refs", str(refs), "-o", str(video), *quick])
    assert res.exit_code == 0, res.output
    inline = read_shot_file(tmp_path / "colour.shots.yaml", probe(film))
    assert [(s.start, s.end) for s in inline.shots] == [(s.start, s.end) for s in data.shots]
    assert [Path(s.reference[0]).name for s in inline.shots] == ["sky.png", "checks.png", "rings.png"]
    # and following the shot file
    res = CliRunner().invoke(cli, ["run", str(film), "--shots", str(out), "-o", str(tmp_path / "f.mp4"), *quick])
    assert res.exit_code == 0, res.output
