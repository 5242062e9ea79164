"""The Python API: vidcolor.colorize_image, vidcolor.colorize_video and the reusable Colorizer."""

from pathlib import Path

import numpy as np
import pytest
from conftest import colour_image
from media import frames_rgb, make_video
from PIL import Image

import vidcolor

ROOT = Path(__file__).resolve().parent.parent


def test_the_api_is_in_the_package_face():
    assert {"colorize_image", "colorize_video", "Colorizer", "VidcolorError"} <= set(vidcolor.__all__)
    assert vidcolor.VidcolorError is vidcolor.errors.VidcolorError
    with pytest.raises(AttributeError):
        vidcolor.no_such_thing  # noqa: B018


def test_image_from_paths_and_arrays_keeps_the_target_size(images, vgg_path, random_weights):
    out = vidcolor.colorize_image(str(images["gray"]), reference=images["ref"], size=64, vgg=str(vgg_path))
    assert out.shape == (48, 64, 3) and out.dtype == np.uint8
    gray = np.asarray(Image.open(images["gray"]))
    from_arrays = vidcolor.colorize_image(gray, reference=colour_image(seed=1), size=64, vgg=str(vgg_path))
    assert from_arrays.shape == (48, 64, 3)
    odd = vidcolor.colorize_image(colour_image(37, 53, seed=4), size=64, vgg=str(vgg_path))  # automatic
    assert odd.shape == (37, 53, 3)


def test_a_colorizer_reused_gives_the_same_colours_as_one_call(images, vgg_path, random_weights):
    colorizer = vidcolor.Colorizer(size=64, vgg=str(vgg_path))
    ref = colorizer.reference(images["ref"])
    first = colorizer.image(images["gray"], ref)
    again = colorizer.image(images["gray"], ref)
    once = vidcolor.colorize_image(images["gray"], images["ref"], size=64, vgg=str(vgg_path))
    assert np.array_equal(first, again) and np.array_equal(first, once)


def test_several_references_are_pooled(images, vgg_path, random_weights):
    colorizer = vidcolor.Colorizer(size=64, vgg=str(vgg_path))
    both = colorizer.reference([images["ref"], colour_image(seed=5)])
    one = colorizer.reference(images["ref"])
    assert both.keys.shape[1] == 2 * one.keys.shape[1]  # the cells of both images
    assert colorizer.image(images["gray"], both).shape == (48, 64, 3)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda p: vidcolor.colorize_image(p / "missing.png", size=64), "missing.png: no such file"),
        (lambda p: vidcolor.colorize_image(np.zeros((8, 8), np.float32), size=64), "must be uint8"),
        (lambda p: vidcolor.colorize_image(np.zeros((8, 8, 4), np.uint8), size=64), "(H, W, 3) RGB"),
        (lambda p: vidcolor.colorize_image(42, size=64), "a path or a numpy array"),
        (lambda p: vidcolor.colorize_image(colour_image(), colour_image()[..., 0], size=64), "grayscale"),
        (lambda p: vidcolor.colorize_image(colour_image(), size=20), "working size"),
        (lambda p: vidcolor.colorize_image(colour_image(), colour=True), "unknown options"),
        (lambda p: vidcolor.colorize_video(p / "none.mp4", p / "out.mp4", speed=2), "unknown options"),
        (lambda p: vidcolor.colorize_video(p / "none.mp4", p / "out.mp4", size=64), "none.mp4"),
        (lambda p: vidcolor.colorize_video(p / "none.mp4", p / "out.mp4", batch=0), "batch"),
    ],
)
def test_bad_inputs_raise_the_one_documented_error(tmp_path, vgg_path, random_weights, call, message):
    with pytest.raises(vidcolor.VidcolorError) as caught:
        call(tmp_path)
    text = str(caught.value)
    assert message in text and "\n" not in text


def test_video_has_the_sources_frame_count(tmp_path, images, vgg_path, random_weights):
    src = make_video(tmp_path / "clip.mp4", frames=12)
    out = tmp_path / "out.mp4"
    summary = vidcolor.colorize_video(src, out, refs=images["ref"], size=64, vgg=str(vgg_path), preset="ultrafast")
    assert summary.frames == 12 and len(frames_rgb(out)) == 12


def test_trained_weights_colour_the_sample(vgg_path):
    """The committed weights on the project's own sample: a coloured picture, not a gray one."""
    out = vidcolor.colorize_image(ROOT / "samples/landscape-gray.png", ROOT / "samples/landscape-ref.png",
                                  vgg=str(vgg_path))  # fmt: skip
    gray = np.asarray(Image.open(ROOT / "samples/landscape-gray.png").convert("RGB"))
    assert out.shape == gray.shape
    spread = out.astype(int).max(-1) - out.astype(int).min(-1)
    assert spread.mean() > 10  # channels apart: colour
