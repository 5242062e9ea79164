"""Falling back from matched to automatic colours where the reference does not show the shot (issue 26,
chain/relatedness.py): the mutual-neighbour share (whole and in chunks), the stretch's best share so far and its
restarts, the fallback in the chain (only where the share is low), the stream's stretches (resumed runs equal one
run), and with the trained weights an unrelated reference gives the automatic colours, its own one does not."""

import contextlib

import numpy as np
import pytest
import torch
from conftest import colour_image
from torch.nn import functional as F

from vidcolor.chain.hint_sources import DenseRefiner, MatchHints
from vidcolor.chain.matching import FrameCells, Matcher
from vidcolor.chain.predictor import Predictor
from vidcolor.chain.reference import Reference
from vidcolor.chain.relatedness import Relatedness, fallback_weight, running_best
from vidcolor.config import ColorizerConfig, RelatednessConfig, TransferConfig
from vidcolor.io.yuv import PlanarFormat
from vidcolor.models import ColorizerNet, TransferNet
from vidcolor.models import matcher as matcher_module
from vidcolor.models.matcher import MatcherHead
from vidcolor.stream.chroma_stage import ChromaStage


def _unit(*shape, seed=0):
    return F.normalize(torch.randn(*shape, generator=torch.Generator().manual_seed(seed)), dim=1)


def _hub(p: int, seed: int = 1) -> torch.Tensor:
    """(768, p) reference keys all near one direction: every reference cell has the same best frame cell."""
    return F.normalize(_unit(1, 768, 1, seed=seed)[0] + 0.01 * _unit(768, p, seed=seed + 1), dim=0)


@torch.no_grad()
def test_mutual_share_whole_and_in_chunks(monkeypatch):
    head = MatcherHead().eval()
    keys = _unit(2, 768, 6, 8)  # 48 cells a frame
    values = torch.randn(1, 2, 48)
    _, _, own = head.warp(keys, keys[:1].flatten(2), values, share=True)
    assert own[0] == 1.0 and own[1] < 1.0  # frame 0 is the reference itself
    _, _, hub = head.warp(keys, _hub(48)[None], values, share=True)
    assert torch.allclose(hub, torch.full((2,), 1 / 48))  # one mutual pair at most
    other = _unit(1, 768, 48, seed=5)
    ab, stats, whole = head.warp(keys, other, values, share=True)
    monkeypatch.setattr(matcher_module, "CHUNK", 7)  # the running best per reference cell across chunks
    ab7, stats7, chunked = head.warp(keys, other, values, share=True)
    assert torch.equal(whole, chunked) and torch.allclose(ab, ab7) and torch.allclose(stats, stats7)
    assert len(head.warp(keys, other, values)) == 2  # no share unless asked


def test_best_share_so_far_per_stretch():
    shares = torch.tensor([0.01, 0.05, 0.03, 0.01, 0.02])
    best = running_best(shares, [True, False, False, True, False], None)
    assert best.tolist() == pytest.approx([0.01, 0.05, 0.05, 0.01, 0.02])
    related = Relatedness(RelatednessConfig(low=0.02, high=0.04, place_low=0.0, place_high=0.04))
    assert related.verdict(torch.tensor([0.01, 0.03])).weights.tolist() == pytest.approx([0.0, 0.5])
    assert related.verdict(torch.tensor([0.02])).weights.tolist() == pytest.approx([0.5])  # the stretch goes on
    assert related.verdict(torch.tensor([0.02]), [True]).weights.tolist() == pytest.approx([0.0])  # a new stretch
    assert related.verdict(torch.tensor([0.01, 0.05])).weights.tolist() == pytest.approx([0.0, 1.0])
    assert related.settled and related.verdict(torch.tensor([0.0])).weights is None  # settled: all kept, unread
    assert related.verdict(torch.tensor([0.0]), [True]).weights.tolist() == [0.0]  # until a stretch starts
    related.restart()
    assert related.best is None and not related.settled
    w = fallback_weight(torch.tensor([-1.0, 0.0, 0.03, 0.5, 1.0]), RelatednessConfig())
    assert w.tolist() == pytest.approx([0.0, 0.0, 0.5, 1.0, 1.0])


@torch.no_grad()
def test_the_chain_falls_back_to_automatic_colours_only_where_the_reference_shows_nothing():
    torch.manual_seed(0)
    net = ColorizerNet(ColorizerConfig(width=8)).eval()
    torch.nn.init.normal_(net.out.weight, std=0.1)
    dense = DenseRefiner(net, contextlib.nullcontext)
    hints = MatchHints(Matcher(None, MatcherHead().eval()), None, dense)
    l_small = torch.rand(1, 1, 64, 64) * 100
    keys = _unit(1, 768, 8, 8)  # 64 cells: a hub reference shares 1/64 < low
    values = torch.randn(2, 64) * 20
    own = Reference(None, keys[0].flatten(1), values)
    keys = FrameCells(keys)
    other = Reference(None, _hub(64), values)
    auto = dense.auto(l_small)
    _, kept = hints(l_small, keys, own, None)
    _, fell = hints(l_small, keys, other, None)
    assert torch.allclose(fell, auto, atol=1e-5)
    assert (kept - auto).abs().mean() > 1.0
    # in a stretch that the reference did show, a frame it shows nothing of keeps its matched colours
    related = Relatedness()
    hints(l_small, keys, own, None, lambda s: related.verdict(s, [True]))
    _, later = hints(l_small, keys, other, None, lambda s: related.verdict(s, [False]))
    assert (later - auto).abs().mean() > 1.0
    _, restarted = hints(l_small, keys, other, None, lambda s: related.verdict(s, [True]))
    assert torch.allclose(restarted, auto, atol=1e-5)


def _learned_predictor() -> Predictor:
    torch.manual_seed(0)
    refiner = ColorizerNet(ColorizerConfig(width=8))
    torch.nn.init.normal_(refiner.out.weight, std=0.1)
    nets = TransferNet(TransferConfig(decoder_width=0.25)), ColorizerNet(ColorizerConfig(width=8))
    return Predictor(*nets, device="cpu", size=64, head=MatcherHead(), refiner=refiner)


def _lumas(n: int, h: int = 64, w: int = 96) -> list[np.ndarray]:
    y, x = np.mgrid[0:h, 0:w]
    return [((x * 2 + y + 5 * i) % 200 + 30).astype(np.uint8) for i in range(n)]


@torch.no_grad()
@pytest.mark.parametrize("propagate", [True, False])
def test_the_stream_restarts_relatedness_where_its_stretches_start(propagate):
    predictor = _learned_predictor()
    reference = predictor.prepare_reference(colour_image(64, 96, seed=4))
    fmt = PlanarFormat(96, 64, 8, False, 1, 2, 8)
    lumas = _lumas(6)
    stage = ChromaStage(predictor, fmt, propagate=propagate)
    seen, verdict = [], stage.relatedness.verdict
    stage.relatedness.verdict = lambda shares, starts: seen.append(list(starts)) or verdict(shares, starts)
    # shares 0.13-0.2 here: the state decides both the fallback and the placement
    stage.relatedness.config = RelatednessConfig(low=0.1, high=0.25, place_low=0.14, place_high=0.2)
    whole = np.concatenate([stage(lumas[:3], reference, restarts=[True, False, False]),
                            stage(lumas[3:], reference, restarts=[True, False, False])])  # fmt: skip
    assert seen == ([[True, False, False]] * 2 if propagate else [[True] * 3] * 2)
    resumed = ChromaStage(predictor, fmt, propagate=propagate)  # a run resumed at the chunk start, frame 3
    resumed.relatedness.config = stage.relatedness.config
    assert np.array_equal(resumed(lumas[3:], reference, restarts=[True, False, False]), whole[3:])


@torch.no_grad()
def test_trained_an_unrelated_reference_gives_the_automatic_colours(trained_predictor):
    predictor = trained_predictor
    scene = colour_image(128, 192, seed=2)
    flat = np.full((128, 192, 3), (40, 120, 200), np.uint8)  # shows nothing of the scene
    auto = predictor.colorize(scene[None])
    unrelated = predictor.colorize(scene[None], predictor.prepare_reference(flat))
    own = predictor.colorize(scene[None], predictor.prepare_reference(scene))
    assert np.abs(unrelated.astype(int) - auto).max() <= 1
    assert np.abs(own.astype(int) - auto).mean() > 2


@torch.no_grad()
def test_a_run_says_once_per_shot_where_its_reference_showed_too_little(tmp_path):
    from PIL import Image

    from vidcolor.shots.refs import ReferencePlan, Segment
    from vidcolor.stream.model_stage import ModelStage

    flat = tmp_path / "flat.png"
    Image.fromarray(np.full((64, 96, 3), (40, 120, 200), np.uint8)).save(flat)
    fmt = PlanarFormat(96, 64, 8, False, 1, 2, 8)
    plan = ReferencePlan((Segment(0, (flat,), 0), Segment(4, (), 1)), "a flat reference, then automatic")
    warnings = []
    stage = ModelStage(_learned_predictor(), plan, fmt, batch=2, warn=warnings.append, chunk_frames=2)
    stage.chroma.relatedness.config = RelatednessConfig(low=0.1, high=0.2)  # a random head shares 0.03-0.04 here
    frames = ((i, i, luma, int(i >= 4), None) for i, luma in enumerate(_lumas(7)))
    assert stage.run(frames, lambda item: True)
    assert stage.chroma.relatedness.fallbacks == 4  # shot 0's frames; shot 1 has no reference
    assert warnings == ["frames from 0: the reference flat.png shows too little of this shot; automatic colours "
                        "where it shows nothing"]  # fmt: skip
