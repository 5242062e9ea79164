"""The automatic colours' head (models/autohead.py): what it keeps of the U-Net, where the chain uses it, and when
the loader takes it (issue 26: automatic mode must not score below gray)."""

import contextlib
import json

import pytest
import torch

from vidcolor import weights
from vidcolor.chain import loading
from vidcolor.chain.hint_sources import SemanticAuto, SparseRefiner
from vidcolor.config import AutoHeadConfig, ColorizerConfig
from vidcolor.models import ColorizerNet
from vidcolor.models.autohead import AB_SCALE, AutoHead, agree, cell_inputs


def _head(colour: tuple[float, float] | None = None, spread: float = 8.0) -> AutoHead:
    """A small head; ``colour``: its last layer set so that every cell gets this ab (None: as initialised)."""
    torch.manual_seed(0)
    head = AutoHead(AutoHeadConfig(hidden=8, dilations=(1, 2), spread=spread)).eval()
    if colour is not None:
        with torch.no_grad():
            head.out.bias.copy_(torch.tensor(colour) / AB_SCALE)
    return head


def _desc(n: int, h: int, w: int) -> torch.Tensor:
    return torch.nn.functional.normalize(torch.randn(n, 768, h, w), dim=1)


def _flat(colour, h: int = 32, w: int = 48) -> torch.Tensor:
    return torch.tensor(colour, dtype=torch.float32).view(1, 2, 1, 1).expand(1, 2, h, w)


def test_cell_inputs_are_the_descriptors_and_each_cells_brightness_and_texture():
    l = torch.zeros(1, 1, 16, 24)
    l[..., :8, :8] = 80.0  # one bright flat cell
    l[..., 8:, :8] = torch.tensor([0.0, 100.0]).repeat(4)  # one cell of stripes
    x = cell_inputs(torch.ones(1, 768, 2, 3), l)
    assert x.shape == (1, 770, 2, 3) and torch.equal(x[:, :768], torch.ones(1, 768, 2, 3))
    assert x[0, 768, 0, 0] == pytest.approx(0.8) and x[0, 769, 0, 0] == pytest.approx(0.0, abs=1e-6)
    assert x[0, 768, 1, 0] == pytest.approx(0.5) and x[0, 769, 1, 0] == pytest.approx(50 / 30)


def test_an_untrained_head_gives_gray():
    torch.manual_seed(1)
    l = torch.rand(2, 1, 32, 48) * 100
    with torch.no_grad():
        cells = _head()(_desc(2, 4, 6), l)
    assert cells.shape == (2, 2, 4, 6) and torch.equal(cells, torch.zeros_like(cells))


def test_two_opinions_that_agree_keep_their_colour_and_disagreeing_ones_go_towards_gray():
    fur = _flat((12.0, 25.0))
    assert torch.allclose(agree(fur, fur, 8.0), fur)  # both see brown fur
    sea, sepia = _flat((-12.0, -8.0)), _flat((2.0, 9.0))
    mean = 0.5 * (sea + sepia)
    d2 = 0.25 * ((-14.0) ** 2 + (-17.0) ** 2)
    assert torch.allclose(agree(sea, sepia, 8.0), mean * 64 / (64 + d2))
    assert agree(sea, sepia, 8.0).norm() < 0.4 * mean.norm()  # far apart: a third of their mean is left
    assert agree(sea, sepia, 40.0).norm() > agree(sea, sepia, 8.0).norm()  # a wider spread mutes less
    road_unet, road_head = _flat((1.0, 5.0)), _flat((10.0, 11.0))  # a road the head took for a clay court
    assert agree(road_unet, road_head, 8.0).norm() < 0.5 * road_head.norm()  # less than half the orange


def test_semantic_auto_reads_the_descriptors_given_and_joins_the_two_opinions():
    torch.manual_seed(2)
    net = ColorizerNet(ColorizerConfig(width=4)).eval()
    unet = SparseRefiner(net, 3, contextlib.nullcontext)
    calls = []

    def describe(l):
        calls.append(l.shape)
        return _desc(l.shape[0], l.shape[-2] // 8, l.shape[-1] // 8)

    l = torch.rand(1, 1, 32, 48) * 100
    with torch.no_grad():
        own = unet.auto(l)
        auto = SemanticAuto(unet, _head((3.0, -3.0), spread=5.0), describe)
        out = auto.auto(l)
        assert calls == [(1, 1, 32, 48)]
        given = auto.auto(l, describe(l))
    assert len(calls) == 2  # the descriptors handed in were not computed again
    assert torch.allclose(out, agree(own, _flat((3.0, -3.0)), 5.0), atol=1e-3)
    assert torch.allclose(given, out, atol=1e-3)


def _export_head(folder, unet_sha: str) -> None:
    entry = {"kind": loading.AUTO_HEAD, "config": AutoHeadConfig(hidden=8, dilations=(1,)).to_dict(),
             "training": {"unet_sha256": unet_sha}}  # fmt: skip
    weights.export_trained(loading.AUTO_HEAD, AutoHead(AutoHeadConfig(hidden=8, dilations=(1,))).state_dict(), entry,
                           folder)  # fmt: skip


def test_the_loader_takes_the_head_only_for_the_unet_it_was_trained_on(tmp_path, monkeypatch):
    monkeypatch.setenv("VIDCOLOR_WEIGHTS", str(tmp_path))
    net = ColorizerNet(ColorizerConfig(width=4))
    weights.export_trained("colorizer-small", net.state_dict(), {"kind": "colorizer", "config": {"width": 4}}, tmp_path)
    sha = weights.read_manifest(tmp_path)["models"]["colorizer-small"]["sha256"]
    assert not loading._auto_head_fits("colorizer-small")  # none in the manifest
    _export_head(tmp_path, "0" * 64)
    assert not loading._auto_head_fits("colorizer-small")  # trained on another U-Net's colours
    _export_head(tmp_path, sha)
    assert loading._auto_head_fits("colorizer-small")


def test_without_the_vgg_file_automatic_colours_stay_the_unets_with_a_warning(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VIDCOLOR_WEIGHTS", str(tmp_path))
    monkeypatch.setenv("VIDCOLOR_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("VIDCOLOR_VGG", raising=False)
    net = ColorizerNet(ColorizerConfig(width=4))
    weights.export_trained("colorizer-small", net.state_dict(), {"kind": "colorizer", "config": {"width": 4}}, tmp_path)
    _export_head(tmp_path, weights.read_manifest(tmp_path)["models"]["colorizer-small"]["sha256"])
    nets = loading.load_networks(None, "cpu", need_transfer=False, need_colorizer=True)
    assert nets.auto_head is None and nets.transfer is None and nets.colorizer is not None
    assert "auto head" in capsys.readouterr().err


def test_the_committed_weights_join_the_automatic_colours(monkeypatch):
    from vidcolor.chain.predictor import Predictor

    monkeypatch.delenv("VIDCOLOR_WEIGHTS", raising=False)
    if not loading._auto_head_fits(weights.default_colorizer("cpu")):
        pytest.skip("no committed auto head")
    try:
        weights.resolve_vgg(None)
    except Exception:
        pytest.skip("no VGG19 file")
    p = Predictor.from_pretrained(device="cpu", need_transfer=False)
    assert p.chain.semantic_auto
    manifest = json.loads((weights.weights_dir() / "manifest.json").read_text())
    assert "CC BY-NC 4.0" in manifest["models"][loading.AUTO_HEAD]["training"]["licence"]
    l = torch.linspace(20, 90, 64 * 96).view(1, 1, 64, 96)
    with torch.no_grad():
        joined, own = p.chain.auto(l), p.chain.sparse.auto(l)
    assert joined.shape == own.shape and not torch.allclose(joined, own, atol=0.5)
