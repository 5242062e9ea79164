"""The colour gate of the automatic colours (models/gate.py): an untrained gate changes nothing; the gain stays in
its range and follows the bottleneck; it scales only the automatic colours, never matched ones; the loader finds
it in a weights folder; its trainer's cache is rebuilt when the refiner changes, and its loss teaches it to mute
wrong colour and keep right colour. (No gate is committed: none beat the refiner on both the dev set and the
validation split, docs/weights.md.)"""

import contextlib

import numpy as np
import torch

from vidcolor import weights
from vidcolor.chain.hint_sources import DenseRefiner
from vidcolor.config import ColorizerConfig, GateConfig
from vidcolor.models import ColorizerNet
from vidcolor.models.gate import ColourGate


def _refiner(seed=0):
    torch.manual_seed(seed)
    net = ColorizerNet(ColorizerConfig(width=8)).eval()
    torch.nn.init.normal_(net.out.weight, std=0.1)
    return net


def test_forward_with_bottleneck_is_forward():
    net, l = _refiner(), torch.rand(2, 1, 32, 40)
    hints, mask = torch.randn(2, 2, 32, 40) * 0.1, torch.rand(2, 1, 32, 40)
    out, bottleneck = net.forward_with_bottleneck(l, hints, mask)
    assert torch.equal(out, net(l, hints, mask))
    assert bottleneck.shape == (2, 64, 4, 5)


@torch.no_grad()
def test_untrained_gate_changes_nothing():
    net, l = _refiner(), torch.rand(1, 1, 32, 32) * 100
    plain = DenseRefiner(net, contextlib.nullcontext)
    gated = DenseRefiner(net, contextlib.nullcontext, ColourGate(GateConfig(features=64, hidden=8)).eval())
    assert plain.auto(l).abs().mean() > 0.1
    assert torch.allclose(gated.auto(l), plain.auto(l), atol=1e-5)


def test_gain_in_range_and_read_from_the_bottleneck():
    torch.manual_seed(1)
    gate = ColourGate(GateConfig(features=16, hidden=8, max_gain=1.5))
    torch.nn.init.normal_(gate.body[4].weight, std=5.0)
    l, ab = torch.rand(2, 1, 24, 40) * 100, torch.randn(2, 2, 24, 40) * 20
    bottleneck = torch.randn(2, 16, 3, 5)
    gain = gate(bottleneck, l, ab).detach()
    assert gain.shape == (2, 1, 24, 40)
    assert float(gain.min()) >= 0.0 and float(gain.max()) <= 1.5
    assert float(gain.max() - gain.min()) > 0.5  # not a constant
    assert not torch.allclose(gate(bottleneck * -1, l, ab).detach(), gain)


@torch.no_grad()
def test_gate_scales_only_the_automatic_colours():
    net, l = _refiner(), torch.rand(1, 1, 32, 32) * 100
    gate = ColourGate(GateConfig(features=64, hidden=8)).eval()
    torch.nn.init.constant_(gate.body[4].bias, -20.0)  # gain ~0: gray
    plain = DenseRefiner(net, contextlib.nullcontext)
    gated = DenseRefiner(net, contextlib.nullcontext, gate)
    assert float(gated.auto(l).abs().max()) < 1e-3 < float(plain.auto(l).abs().mean())
    ab, conf = torch.randn(1, 2, 32, 32) * 10, torch.rand(1, 1, 32, 32)
    assert torch.equal(gated(l, ab, conf), plain(l, ab, conf))


def test_loader_takes_the_gate_from_a_weights_folder(tmp_path, monkeypatch):
    from vidcolor.chain.loading import load_networks

    for name in ("colorizer-small", "decoder", "matcher", "refiner-small"):
        state, entry = weights.load_trained(name)
        weights.export_trained(name, state, {k: v for k, v in entry.items() if k not in ("file", "sha256")}, tmp_path)
    monkeypatch.setenv("VIDCOLOR_WEIGHTS", str(tmp_path))
    assert load_networks(None, "cpu", False, True).gate is None  # no gate in the folder: none, as before
    gate = ColourGate(GateConfig(hidden=8))
    torch.nn.init.constant_(gate.body[4].bias, 0.3)
    weights.export_trained("gate", gate.state_dict(), {"kind": "gate", "config": gate.cfg.to_dict()}, tmp_path)
    loaded = load_networks(None, "cpu", False, True).gate
    assert loaded is not None and loaded.cfg == gate.cfg
    assert torch.allclose(loaded.body[4].bias, gate.body[4].bias, atol=1e-3)
    assert load_networks(None, "cpu", False, True, matcher="frozen").gate is None


def test_cache_rebuilt_when_its_stamp_changes(tmp_path):
    from training import gate_cache

    calls = []

    def build():
        calls.append(1)
        return {k: np.full((2, 1, 2, 2), len(calls), np.float16) for k in gate_cache.FIELDS}

    path = tmp_path / "x.npz"
    first = gate_cache.cached(path, gate_cache.stamp("refiner-a", {"size": 256}), build)
    again = gate_cache.cached(path, gate_cache.stamp("refiner-a", {"size": 256}), build)
    other = gate_cache.cached(path, gate_cache.stamp("refiner-b", {"size": 256}), build)
    assert len(calls) == 2 and float(first["l"][0, 0, 0, 0]) == float(again["l"][0, 0, 0, 0]) == 1.0
    assert float(other["l"][0, 0, 0, 0]) == 2.0


def test_training_learns_to_mute_wrong_colour_and_keep_right_colour():
    """train_gate's loss: where the refiner's colour is wrong (truth gray) the gain falls, where it is right it stays
    near 1 (the bottleneck tells the two apart)."""
    from training.train_gate import gated_error

    torch.manual_seed(0)
    gate = ColourGate(GateConfig(features=4, hidden=8))
    opt = torch.optim.Adam(gate.parameters(), lr=1e-2)
    n, h, w = 8, 16, 16
    wrong = torch.arange(n) % 2 == 0
    bottleneck = torch.zeros(n, 4, h // 8, w // 8)
    bottleneck[wrong, 0] = 1.0
    out = torch.randn(n, 2, h, w) * 20
    batch = {"bottleneck": bottleneck, "out": out, "l": torch.full((n, 1, h, w), 50.0),
             "ab": torch.where(wrong.view(-1, 1, 1, 1), torch.zeros_like(out), out)}  # fmt: skip
    for _ in range(150):
        loss, _ = gated_error(gate, batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        gain = gate(bottleneck, batch["l"], out)[:, 0].mean(dim=(1, 2))
    assert float(gain[wrong].max()) < 0.2 and float(gain[~wrong].min()) > 0.9


@torch.no_grad()
def test_automatic_colours_are_the_unets_unless_a_gate_was_trained_for_the_refiners():
    from vidcolor.chain.chain import Chain

    colorizer, refiner, l = _refiner(1), _refiner(2), torch.rand(1, 1, 32, 32) * 100
    gate = ColourGate(GateConfig(features=64, hidden=8)).eval()
    args = (contextlib.nullcontext, 0.01, 3, torch.device("cpu"))
    plain = Chain("match", None, colorizer, None, refiner, None, *args)
    gated = Chain("match", None, colorizer, None, refiner, gate, *args)
    unet = DenseRefiner(colorizer, contextlib.nullcontext).auto(l)  # the same empty input as the sparse U-Net's
    assert torch.allclose(plain.auto(l), unet) and torch.allclose(gated.auto(l), gated.dense.auto(l))
    assert not torch.allclose(plain.auto(l), gated.auto(l))
