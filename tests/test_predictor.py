import numpy as np
import pytest
import torch
from conftest import colour_image

from vidcolor.chain.predictor import Predictor, working_shape
from vidcolor.chain.preflight import check_size
from vidcolor.chain.stylize import stylize
from vidcolor.color import gray_to_l, rgb_to_lab
from vidcolor.config import ColorizerConfig, TransferConfig
from vidcolor.errors import VidcolorError
from vidcolor.models import ColorizerNet, TransferNet


@pytest.fixture
def predictor():
    torch.manual_seed(0)
    transfer = TransferNet(TransferConfig(decoder_width=0.25))
    return Predictor(transfer, ColorizerNet(ColorizerConfig(width=8)), device="cpu", size=64)


def test_working_shape_and_size_checks():
    assert working_shape(480, 854, 256) == (256, 456)
    assert working_shape(47, 63, 64) == (64, 88)
    assert check_size(250) == 256
    with pytest.raises(VidcolorError):
        check_size(10)
    with pytest.raises(VidcolorError):
        check_size(100000)


def test_colorize_batch_keeps_size_and_luminance(predictor):
    gray = np.stack([colour_image(47, 63, seed=s)[..., 0] for s in range(3)])  # odd sizes on purpose
    ref = predictor.prepare_reference(colour_image(40, 60, seed=9))
    out = predictor.colorize(gray, ref)
    assert out.shape == (3, 47, 63, 3) and out.dtype == np.uint8
    l_in = gray_to_l(torch.from_numpy(gray).float().unsqueeze(1) / 255)
    l_out = rgb_to_lab(torch.from_numpy(out).permute(0, 3, 1, 2).float() / 255)[:, :1]
    assert (l_out - l_in).abs().mean() < 0.3  # only 8-bit rounding moves L
    assert (l_out - l_in).abs().max() < 1.5


def test_reference_prepared_once_and_reused(predictor, monkeypatch):
    ref_img = colour_image(seed=5)
    calls = []
    original = predictor.transfer.reference_stats
    monkeypatch.setattr(predictor.transfer, "reference_stats", lambda x: calls.append(1) or original(x))
    ref = predictor.prepare_reference(ref_img)
    frames = np.stack([colour_image(seed=s) for s in range(2)])
    a = predictor.colorize(frames, ref)
    b = predictor.colorize(frames, ref)
    assert len(calls) == 1
    assert np.array_equal(a, b)
    fresh = predictor.colorize(frames, predictor.prepare_reference(ref_img))
    assert np.array_equal(a, fresh)


def test_colour_input_is_reduced_to_gray(predictor):
    img = colour_image(seed=4)
    gray_version = np.asarray(rgb_to_lab(torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255)[:, :1])
    out_colour = predictor.colorize(img[None], None)
    l_out = rgb_to_lab(torch.from_numpy(out_colour).permute(0, 3, 1, 2).float() / 255)[:, :1].numpy()
    assert np.abs(l_out - gray_version).mean() < 0.3


def test_hint_pattern_fixed_per_seed(predictor):
    a = predictor.chain.pattern(64, 88, seed=1)
    assert predictor.chain.pattern(64, 88, seed=1) is a
    assert not torch.equal(a, predictor.chain.pattern(64, 88, seed=2))


def test_stages_per_hint_source(predictor):
    l_small = torch.full((2, 1, 64, 88), 50.0)
    ref = predictor.prepare_reference(colour_image())
    assert set(predictor.stages(l_small, ref)) == {"match", "exemplar_match", "ab"}  # no pre-colorization needed
    every = predictor.stages(l_small, ref, every=True)
    assert set(every) == {"auto", "transfer", "paper", "match", "exemplar_match", "ab"}
    assert torch.equal(every["ab"], every["exemplar_match"])
    assert set(predictor.stages(l_small, None)) == {"auto", "ab"}
    predictor.hints = "transfer"
    try:
        paper = predictor.stages(l_small, ref)
        assert set(paper) == {"auto", "transfer", "paper", "ab"} and torch.equal(paper["ab"], paper["paper"])
    finally:
        predictor.hints = "match"
    assert every["ab"].shape == (2, 2, 64, 88)


def test_unknown_hint_source_is_refused():
    with pytest.raises(VidcolorError, match="--hints"):
        Predictor(None, None, "cpu", 64, hints="magic")


def test_stylize_keeps_content_size(predictor):
    content = colour_image(50, 70, seed=1)
    out = stylize(predictor, content, predictor.prepare_reference(colour_image(seed=2)))
    assert out.shape == content.shape


def test_refuses_untrained_weights(monkeypatch, tmp_path):
    monkeypatch.delenv("VIDCOLOR_TEST_RANDOM_WEIGHTS", raising=False)
    monkeypatch.setenv("VIDCOLOR_WEIGHTS", str(tmp_path))
    with pytest.raises(VidcolorError, match="refuses to colorize with untrained"):
        Predictor.from_pretrained(device="cpu", need_transfer=False)
