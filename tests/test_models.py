import pytest
import torch

from vidcolor.config import ColorizerConfig, TransferConfig
from vidcolor.models import ColorizerNet, TransferNet, VGGEncoder


def test_vgg_shapes_and_frozen():
    vgg = VGGEncoder()
    feats = vgg(torch.randn(2, 3, 48, 64))
    assert feats["conv1_2"].shape == (2, 64, 48, 64)
    assert feats["conv2_2"].shape == (2, 128, 24, 32)
    assert feats["conv3_4"].shape == (2, 256, 12, 16)
    assert feats["conv4_1"].shape == (2, 512, 6, 8)
    assert not any(p.requires_grad for p in vgg.parameters())


def test_vgg_rejects_wrong_shapes():
    vgg = VGGEncoder()
    good = {k.removeprefix("convs."): v for k, v in vgg.state_dict().items()}
    vgg.load_caffe_state_dict(good)
    bad = dict(good)
    bad["conv2_1.weight"] = torch.zeros(128, 32, 3, 3)
    with pytest.raises(ValueError):
        vgg.load_caffe_state_dict(bad)


def test_vgg_loads_real_weights(vgg_path):
    from vidcolor.weights import load_vgg_state

    vgg = VGGEncoder()
    vgg.load_caffe_state_dict(load_vgg_state(vgg_path))
    assert vgg.convs["conv1_1"].weight.abs().sum() > 0


@pytest.mark.parametrize("width", [0.25, 1.0])
def test_transfer_shapes(width):
    net = TransferNet(TransferConfig(decoder_width=width))
    x = torch.rand(2, 3, 48, 64)
    assert net(x).shape == (2, 3, 48, 64)
    stats = net.reference_stats(torch.rand(1, 3, 40, 56))
    assert len(stats.encoder) == 4 and len(stats.decoder) == 4
    assert [m.shape[1] for m, _ in stats.encoder] == [64, 128, 256, 512]
    assert net(x, stats).shape == (2, 3, 48, 64)


def test_cached_reference_stats_equal_recomputed():
    net = TransferNet(TransferConfig(decoder_width=0.25)).eval()
    ref, x = torch.rand(1, 3, 32, 48), torch.rand(3, 3, 32, 48)
    stats = net.reference_stats(ref)
    with torch.no_grad():
        once = net(x, stats)
        again = net(x, net.reference_stats(ref))
        per_frame = torch.cat([net(x[i : i + 1], stats) for i in range(3)])
    assert torch.equal(once, again)
    assert torch.allclose(once, per_frame, atol=1e-5)


def test_transfer_with_own_statistics_reconstructs_like_plain_pass():
    net = TransferNet(TransferConfig(decoder_width=0.25)).eval()
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(net(x, net.reference_stats(x)), net(x), atol=1e-3)


@pytest.mark.parametrize("width", [8, 16])
def test_colorizer_shapes(width):
    net = ColorizerNet(ColorizerConfig(width=width))
    l, ab, m = torch.randn(2, 1, 48, 64), torch.zeros(2, 2, 48, 64), torch.zeros(2, 1, 48, 64)
    assert net(l, ab, m).shape == (2, 2, 48, 64)
    blocks = [n for n, _ in net.named_children() if n.startswith("block")]
    assert len(blocks) == 10


def test_config_round_trip():
    cfg = TransferConfig(decoder_width=0.5)
    assert TransferConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError):
        ColorizerConfig.from_dict({"width": 8, "depth": 3})
