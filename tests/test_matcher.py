"""The learned matcher: an untrained head is the frozen matcher; its confidence is a probability; the predictor's
learned chain (head + refiner) runs end to end; with the committed weights it beats the frozen matcher
on held-out synthetic pairs."""

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from vidcolor import weights
from vidcolor.chain.matching import Matcher
from vidcolor.chain.predictor import Predictor
from vidcolor.config import ColorizerConfig
from vidcolor.models import ColorizerNet, TransferNet
from vidcolor.models.correspond import soft_warp
from vidcolor.models.matcher import MatcherHead


def _desc(n=1, h=4, w=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(n, 768, h, w, generator=g), dim=1)


def test_untrained_head_is_the_frozen_matcher():
    head = MatcherHead()
    desc_t, desc_r = _desc(seed=1), _desc(h=6, w=6, seed=2)
    assert torch.allclose(head(desc_t), desc_t, atol=1e-6)
    values = torch.randn(1, 2, 36) * 30
    ab, stats = head.warp(head(desc_t), head(desc_r).flatten(2), values)
    ab_frozen, best = soft_warp(desc_t, desc_r[0].flatten(1), values[0])
    assert torch.allclose(ab, ab_frozen, atol=1e-3)
    assert torch.allclose(stats[:, :1], best, atol=1e-5)
    conf = head.confidence(stats)
    assert conf.shape == (1, 1, 4, 5) and bool(((conf >= 0) & (conf <= 1)).all())


def test_confidence_rises_with_similarity_at_start():
    head = MatcherHead()
    stats = torch.zeros(1, 3, 1, 3)
    stats[0, 0, 0] = torch.tensor([0.3, 0.6, 0.9])
    conf = head.confidence(stats).flatten()
    assert conf[0] < 0.1 < conf[1] < 0.9 < conf[2]


def _learned_predictor():
    torch.manual_seed(0)
    head = MatcherHead()
    with torch.no_grad():  # a head that does something (not the identity)
        head.body[2].weight.normal_(0, 0.01)
    return Predictor(
        TransferNet(),
        ColorizerNet(ColorizerConfig(width=8)),
        "cpu",
        64,
        head=head,
        refiner=ColorizerNet(ColorizerConfig(width=8)),
    )


def test_learned_chain_stages():
    predictor = _learned_predictor()
    assert predictor.matcher.learned
    ref = predictor.reference_at_working_size(torch.rand(1, 3, 64, 96))
    l_small = torch.rand(3, 1, 64, 96) * 100
    out = predictor.stages(l_small, ref)
    assert set(out) == {"match", "exemplar_match", "ab"}
    assert out["ab"].shape == (3, 2, 64, 96)
    both = predictor.stages(l_small, ref, every=True)
    assert {"auto", "exemplar_match", "paper", "transfer"} <= set(both)
    assert torch.equal(both["ab"], both["exemplar_match"]) and torch.allclose(both["ab"], out["ab"])
    auto = predictor.stages(l_small, None)
    assert set(auto) == {"auto", "ab"}


def test_colorize_shapes():
    predictor = _learned_predictor()
    ref = predictor.prepare_reference(np.full((40, 60, 3), 120, np.uint8))
    assert len(ref.seeds) == 1 and ref.seeds[0][0].shape == (64, 96) and ref.seeds[0][1].shape == (2, 64, 96)
    frames = np.random.default_rng(0).integers(0, 255, (2, 40, 60), dtype=np.uint8)
    out = predictor.colorize(frames, ref)
    assert out.shape == (2, 40, 60, 3) and out.dtype == np.uint8


@pytest.mark.skipif(not weights.has_trained("matcher"), reason="no learned matcher in weights/ yet")
def test_learned_matcher_beats_frozen_on_held_out_pairs(vgg_path):
    """Synthetic pairs from held-out photos of the shared training zips (the split the training script holds out)."""
    import glob
    import random

    from training.data import ImageSource, list_images, split
    from training.pairs import make_pair
    from vidcolor.color import lab_to_rgb, rgb_to_lab
    from vidcolor.models import VGGEncoder
    from vidcolor.models.correspond import upsample_cells

    zips = sorted(glob.glob(str(weights.weights_dir().parent.parent / "shared/data/train/*-256px.zip")))
    if not zips:
        pytest.skip("shared training data not available")
    _, held_out = split(list_images(zips), 0.03)
    encoder = VGGEncoder()
    encoder.load_caffe_state_dict(weights.load_vgg_state(vgg_path))
    state, entry = weights.load_trained("matcher")
    head = MatcherHead()
    head.load_state_dict(state)
    head.eval()
    learned, frozen = Matcher(encoder, head), Matcher(encoder)
    source, rng = ImageSource(), random.Random(123)
    scores = {"learned": [], "frozen": []}
    with torch.no_grad():
        for i in range(12):
            pair = make_pair(source.read(rng.choice(held_out)), 128, seed=1000 + i)
            lab_t, lab_r = rgb_to_lab(pair.target[None]), rgb_to_lab(pair.reference[None])
            for name, m in (("learned", learned), ("frozen", frozen)):
                keys, values = m.cells(lab_r)
                ab, _ = m.warp(m.keys(lab_t[:, :1]), keys, values)
                rgb = lab_to_rgb(torch.cat([lab_t[:, :1], upsample_cells(ab, lab_t[:, :1])], 1))
                mse = ((rgb.clamp(0, 1) - pair.target[None]) ** 2).mean().item()
                scores[name].append(10 * np.log10(1 / max(mse, 1e-10)))
    assert np.mean(scores["learned"]) > np.mean(scores["frozen"]) + 0.2, scores


def test_auto_gain_mutes_the_automatic_colours_only():
    """The refiner's automatic colours (no reference) are scaled by its calibrated gain; matched colours are not."""
    import contextlib

    from vidcolor.chain.hint_sources import DenseRefiner

    torch.manual_seed(0)
    full = ColorizerNet(ColorizerConfig(width=8))
    torch.nn.init.normal_(full.out.weight, std=0.1)
    muted = ColorizerNet(ColorizerConfig(width=8, auto_gain=0.5))
    muted.load_state_dict(full.state_dict())
    l = torch.rand(1, 1, 32, 32) * 100
    a, b = DenseRefiner(full, contextlib.nullcontext), DenseRefiner(muted, contextlib.nullcontext)
    assert a.auto(l).abs().mean() > 0.1
    assert torch.allclose(b.auto(l), 0.5 * a.auto(l), atol=1e-6)
    ab, conf = torch.randn(1, 2, 32, 32) * 10, torch.rand(1, 1, 32, 32)
    assert torch.equal(a(l, ab, conf), b(l, ab, conf))
    assert ColorizerConfig.from_dict({"width": 16}).auto_gain == 1.0  # weights from before the gain load unchanged
