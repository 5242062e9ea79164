import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from vidcolor import __version__
from vidcolor.cli.commands import cli


def run(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    return result.exit_code, result.output


def assert_one_line_error(code, output, *needles):
    assert code != 0
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert lines[0].startswith("vidcolor: error:"), output
    assert "Traceback" not in output
    for needle in needles:
        assert str(needle) in lines[0]


def test_version():
    code, out = run("--version")
    assert code == 0 and __version__ in out


def test_missing_file(tmp_path):
    code, out = run("image", tmp_path / "nope.png", "-o", tmp_path / "o.png")
    assert_one_line_error(code, out, "nope.png", "no such file")


def test_not_an_image(tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("hello")
    code, out = run("image", bad, "-o", tmp_path / "o.png")
    assert_one_line_error(code, out, "notes.png", "not an image")


def test_truncated_image(tmp_path, images):
    data = images["colour"].read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: len(data) // 3])
    code, out = run("image", cut, "-o", tmp_path / "o.png")
    assert_one_line_error(code, out, "cut.jpg")
    assert not (tmp_path / "o.png").exists()


def test_gray_reference(tmp_path, images):
    code, out = run("image", images["colour"], "--ref", images["gray"], "-o", tmp_path / "o.png")
    assert_one_line_error(code, out, "gray.png", "grayscale")


def test_absurd_size(tmp_path, images):
    code, out = run("image", images["gray"], "-o", tmp_path / "o.png", "--size", 3)
    assert_one_line_error(code, out, "--size")


def test_overwrite_input(images):
    before = images["gray"].read_bytes()
    code, out = run("image", images["gray"], "--ref", images["ref"], "-o", images["gray"])
    assert_one_line_error(code, out, "overwrite")
    assert images["gray"].read_bytes() == before


def test_unknown_output_extension(tmp_path, images):
    code, out = run("image", images["gray"], "-o", tmp_path / "o.xyz")
    assert_one_line_error(code, out, "o.xyz", "extension")


def test_missing_vgg_names_every_way(tmp_path, images, random_weights, monkeypatch):
    monkeypatch.delenv("VIDCOLOR_VGG", raising=False)
    monkeypatch.setenv("VIDCOLOR_CACHE", str(tmp_path / "cache"))
    code, out = run("image", images["gray"], "--ref", images["ref"], "-o", tmp_path / "o.png")
    assert_one_line_error(code, out, "--vgg", "VIDCOLOR_VGG", "fetch-vgg", "import-vgg")


def test_image_end_to_end_random_weights(tmp_path, images, vgg_path, random_weights):
    out = tmp_path / "out"
    code, text = run(
        "image", images["gray"], images["colour"], "--ref", images["ref"], "-o", out, "--vgg", vgg_path, "--size", 64
    )
    assert code == 0, text
    for name in ("gray.png", "colour.jpg"):
        img = np.asarray(Image.open(out / name))
        assert img.shape == (48, 64, 3)
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left
    code, text = run("image", images["gray"], "-o", tmp_path / "auto.png", "--size", 64)  # automatic mode
    assert code == 0, text
    code, text = run(
        "stylize", images["ref"], "--ref", images["ref"], "-o", tmp_path / "s.png", "--size", 64, "--vgg", vgg_path
    )
    assert code == 0, text
    assert Image.open(tmp_path / "s.png").size == (64, 48)


def test_real_process_exit_code_and_no_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "vidcolor", "image", str(tmp_path / "x.png"), "-o", str(tmp_path / "y.png")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("vidcolor: error:") and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("n", [2])
def test_several_targets_need_a_folder(tmp_path, images, n):
    file_out = tmp_path / "exists.png"
    file_out.write_bytes(b"")
    code, out = run("image", images["gray"], images["colour"], "-o", file_out)
    assert_one_line_error(code, out, "folder")
