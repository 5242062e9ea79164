"""Integration: the project's own trained weights (weights/manifest.json) with the real VGG19 file."""

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from vidcolor import weights
from vidcolor.chain.predictor import Predictor
from vidcolor.chain.stylize import stylize_small
from vidcolor.cli.commands import cli
from vidcolor.color import rgb_to_lab
from vidcolor.evaluate.metrics import colorfulness, psnr

ROOT = weights.weights_dir().parent
SAMPLES = ROOT / "samples"


@pytest.fixture(autouse=True)
def trained(monkeypatch):
    monkeypatch.delenv("VIDCOLOR_TEST_RANDOM_WEIGHTS", raising=False)
    monkeypatch.delenv("VIDCOLOR_WEIGHTS", raising=False)
    models = weights.read_manifest().get("models", {})
    if "decoder" not in models or not any(e.get("kind") == "colorizer" for e in models.values()):
        pytest.skip("no trained weights in weights/ yet")


def test_manifest_files_verify():
    for name in weights.read_manifest()["models"]:
        state, entry = weights.load_trained(name)
        assert state and entry["training"]["steps"] > 0


def test_stylize_identity_reproduces_the_sample(vgg_path):
    image = np.asarray(Image.open(SAMPLES / "landscape-ref.png").convert("RGB"))
    predictor = Predictor.from_pretrained(vgg=str(vgg_path), device="cpu", size=256, need_colorizer=False)
    rgb_small, out_small = stylize_small(predictor, image, predictor.prepare_reference(image))
    to8 = lambda t: (t[0].permute(1, 2, 0).clamp(0, 1) * 255).round().byte().numpy()  # noqa: E731
    assert psnr(to8(out_small), to8(rgb_small)) > 24.0


def test_image_command_colours_the_sample(tmp_path, vgg_path):
    out = tmp_path / "colour.png"
    res = CliRunner().invoke(
        cli,
        [
            "image",
            str(SAMPLES / "landscape-gray.png"),
            "--ref",
            str(SAMPLES / "landscape-ref.png"),
            "-o",
            str(out),
            "--vgg",
            str(vgg_path),
        ],
    )
    assert res.exit_code == 0, res.output
    result = np.array(Image.open(out).convert("RGB"))
    gray = np.asarray(Image.open(SAMPLES / "landscape-gray.png").convert("L"))
    assert colorfulness(result) > 10.0
    l_out = rgb_to_lab(torch.from_numpy(result).permute(2, 0, 1)[None].float() / 255)[0, 0]
    l_in = rgb_to_lab(torch.from_numpy(np.stack([gray] * 3, -1)).permute(2, 0, 1)[None].float() / 255)[0, 0]
    assert (l_out - l_in).abs().mean() < 0.5


def test_each_shot_coloured_from_its_own_reference(tmp_path, vgg_path):
    import test_shots
    from media import frames_rgb

    film = test_shots.film.__wrapped__(tmp_path)
    refs = test_shots.refs.__wrapped__(tmp_path)
    out = tmp_path / "colour.mp4"
    res = CliRunner().invoke(cli, ["run", str(film), "--refs", str(refs), "-o", str(out), "--vgg", str(vgg_path)])
    assert res.exit_code == 0, res.output

    def mean_ab(images):
        x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255
        return rgb_to_lab(x)[:, 1:].mean(dim=(0, 2, 3))

    frames = frames_rgb(out)
    ref_ab = [mean_ab([np.asarray(Image.open(refs / f"{n}.png").convert("RGB"))]) for n in ("sky", "checks", "rings")]
    bounds = [0, *test_shots.CUTS, test_shots.FRAMES]
    for k in range(3):
        shot_ab = mean_ab(frames[bounds[k] : bounds[k + 1]])
        dists = [float((shot_ab - r).norm()) for r in ref_ab]
        assert int(np.argmin(dists)) == k, dists


def test_matched_hints_put_the_references_colours_where_its_content_moved(vgg_path):
    """Target = the sample reference panned by 40 px (its gray version); the reference's colours must follow the
    content: the default chain well above Reinhard's mean colour and above the paper's transfer hints."""
    ref = np.array(Image.open(SAMPLES / "landscape-ref.png").convert("RGB"))
    truth = np.ascontiguousarray(np.roll(ref, 40, axis=1)[:, 40:])  # the pan, minus the wrapped columns
    predictor = Predictor.from_pretrained(vgg=str(vgg_path), device="cpu", size=128)
    reference = predictor.prepare_reference(ref)
    matched = predictor.colorize(truth[None], reference)[0]
    predictor.hints = "transfer"
    paper = predictor.colorize(truth[None], reference)[0]
    mean_ab = rgb_to_lab(torch.from_numpy(ref).permute(2, 0, 1)[None].float() / 255)[:, 1:].mean(dim=(2, 3))
    lab = rgb_to_lab(torch.from_numpy(truth).permute(2, 0, 1)[None].float() / 255)
    lab[:, 1:] = mean_ab[..., None, None]
    from vidcolor.color import lab_to_rgb_keep_l

    reinhard = (lab_to_rgb_keep_l(lab[:, :1], lab[:, 1:])[0].permute(1, 2, 0) * 255).round().byte().numpy()
    assert psnr(matched, truth) > psnr(reinhard, truth) + 3.0
    assert psnr(matched, truth) > psnr(paper, truth)
