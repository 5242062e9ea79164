"""Placing matched colours in sub-cells (models/placement.py) and its use by the matcher and the chain."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from vidcolor.chain.hint_sources import DenseRefiner, MatchHints
from vidcolor.chain.matching import FrameCells, Matcher
from vidcolor.chain.reference import Reference
from vidcolor.chain.relatedness import Relatedness, Verdict, judge
from vidcolor.config import ColorizerConfig, PlacementConfig, RelatednessConfig
from vidcolor.models import ColorizerNet, ReferenceStats
from vidcolor.models.matcher import MatcherHead
from vidcolor.models.placement import (
    PlacementHead,
    fine_descriptors,
    from_sub_cells,
    place,
    reference_sub_cells,
    sub_cells,
)


def _unit(*shape: int) -> torch.Tensor:
    return F.normalize(torch.randn(*shape), dim=1)


def test_sub_cells_are_each_cells_quarters_and_invert():
    x = torch.arange(2 * 3 * 4 * 6, dtype=torch.float32).reshape(2, 3, 4, 6)
    subs = sub_cells(x)
    assert subs.shape == (2, 3, 2 * 3, 4)
    # cell (1, 2) of the 2 x 3 grid holds pixels rows 2-3, columns 4-5
    assert subs[0, 0, 1 * 3 + 2].tolist() == [x[0, 0, 2, 4], x[0, 0, 2, 5], x[0, 0, 3, 4], x[0, 0, 3, 5]]
    assert torch.equal(from_sub_cells(subs, 2, 3), x)


def test_each_sub_cell_takes_the_colour_of_the_reference_sub_cell_it_resembles():
    torch.manual_seed(0)
    d, p = 16, 5
    ref_fine = F.normalize(torch.randn(p, 4, d), dim=-1)
    ref_values = torch.randn(p, 4, 2) * 30
    # one frame of 2 x 2 cells; cell q's parent is reference cell q + 1, its sub-cells look like a permutation of
    # that cell's sub-cells
    perm = [2, 0, 3, 1]
    parents = torch.tensor([[[1], [2], [3], [4]]])
    fine_subs = torch.stack([ref_fine[q + 1, perm].T for q in range(4)], 1)[None]  # (1, D, 4 cells, 4)
    fine = from_sub_cells(fine_subs, 2, 2)
    ab = place(parents, torch.ones(1, 4, 1), fine, ref_fine, ref_values, tau=0.01, tau_fine=0.01)
    want = from_sub_cells(torch.stack([ref_values[q + 1, perm].T for q in range(4)], 1)[None], 2, 2)
    assert ab.shape == (1, 2, 4, 4)
    assert torch.allclose(ab, want, atol=1e-3)


def test_with_uninformative_sub_cells_placing_is_the_cells_own_match():
    """Every candidate looks the same at stride 4: each sub-cell gets its cell's softmax-weighted mean colour, the
    learned head's warp with all reference cells as candidates."""
    torch.manual_seed(1)
    head = MatcherHead().eval()
    keys_t, keys_r = _unit(2, 768, 3, 4), _unit(1, 768, 6)
    values = torch.randn(1, 2, 6) * 20
    ref_values = values[0].T[:, None].expand(6, 4, 2)  # each cell's sub-cells carry its mean
    with torch.no_grad():
        ab, _, (sims, parents) = head.warp(keys_t, keys_r, values, top=6)
        fine = F.normalize(torch.ones(2, 16, 6, 8), dim=1)  # one descriptor everywhere
        ref_fine = F.normalize(torch.ones(6, 4, 16), dim=-1)
        placed = place(parents, sims, fine, ref_fine, ref_values, float(head.tau), 0.05)
    assert torch.allclose(placed, F.interpolate(ab, scale_factor=2, mode="nearest"), atol=1e-4)


def test_the_matcher_places_only_with_the_learned_head_and_a_placement():
    torch.manual_seed(2)
    feats = torch.randn(1, 256, 8, 12)
    assert fine_descriptors(feats, (4, 6)).shape == (1, 256, 8, 12)
    assert fine_descriptors(feats, (2, 3)).norm(dim=1).sub(1).abs().max() < 1e-5  # a coarsened grid: pooled
    fine, ab = reference_sub_cells(fine_descriptors(feats, (4, 6)), torch.randn(1, 2, 32, 48))
    assert fine.shape == (24, 4, 256) and ab.shape == (24, 4, 2)
    assert not Matcher(None, None).places
    assert not Matcher(None, MatcherHead(), placement=PlacementConfig(top=0)).places
    assert Matcher(None, MatcherHead()).places


@torch.no_grad()
def test_match_offers_placement_where_both_sides_have_sub_cells():
    torch.manual_seed(3)
    matcher = Matcher(None, MatcherHead().eval())
    keys = _unit(1, 768, 4, 6)
    fine = _unit(1, 256, 8, 12)
    ref_fine, ref_sub = F.normalize(torch.randn(24, 4, 256), dim=-1), torch.randn(24, 4, 2) * 25
    values = ref_sub.mean(1).T
    pairs = tuple((torch.rand(1, 4, 1, 1), torch.rand(1, 4, 1, 1) + 0.1) for _ in "ab")
    stats = ReferenceStats(pairs, pairs)
    plain = Reference(stats, keys[0].flatten(1), values)
    placed_ref = Reference(stats, keys[0].flatten(1), values, fine=ref_fine, fine_values=ref_sub)
    cells = matcher.match(FrameCells(keys), placed_ref)
    assert cells.ab.shape == (1, 2, 4, 6) and cells.top is None
    assert matcher.match(FrameCells(keys, fine), plain).top is None
    offered = matcher.match(FrameCells(keys, fine), placed_ref)
    assert torch.equal(offered.ab, cells.ab) and torch.equal(offered.share, cells.share)
    assert offered.top[1].shape == (1, 24, PlacementConfig().top)
    placed = matcher.place(FrameCells(keys, fine), placed_ref, offered)
    assert placed.shape == (1, 2, 8, 12)
    assert (placed - F.interpolate(cells.ab, scale_factor=2)).abs().mean() > 1.0  # the sub-cells differ
    both = Reference.combine([placed_ref, placed_ref])
    assert both.fine.shape == (48, 4, 256) and both.fine_values.shape == (48, 4, 2)
    assert Reference.combine([placed_ref, plain]).fine is None


@torch.no_grad()
def test_the_learned_placement_starts_as_the_frozen_one_and_the_matcher_uses_it():
    torch.manual_seed(5)
    keys, feats = _unit(1, 768, 4, 6), torch.randn(1, 256, 8, 12).relu()
    ref_feats = torch.randn(1, 256, 8, 12).relu()
    ref_fine, ref_sub = reference_sub_cells(fine_descriptors(ref_feats, (4, 6)), torch.randn(1, 2, 32, 48) * 25)
    pairs = tuple((torch.rand(1, 4, 1, 1), torch.rand(1, 4, 1, 1) + 0.1) for _ in "ab")
    ref = Reference(ReferenceStats(pairs, pairs), keys[0].flatten(1), ref_sub.mean(1).T, fine=ref_fine,
                    fine_values=ref_sub)  # fmt: skip
    frame = FrameCells(keys, feats)
    frozen, untrained = (
        Matcher(None, MatcherHead().eval()),
        Matcher(None, MatcherHead().eval(), fine_head=PlacementHead()),
    )
    m = frozen.match(frame, ref)
    assert torch.allclose(untrained.place(frame, ref, m), frozen.place(frame, ref, m), atol=1e-4)
    head = PlacementHead(PlacementConfig(hidden=8)).eval()
    torch.nn.init.normal_(head.body[4].weight, std=0.5)
    learned = Matcher(None, MatcherHead().eval(), fine_head=head)
    out = head(fine_descriptors(feats, (4, 6)))
    assert out.shape == (1, 256, 8, 12) and torch.allclose(out.norm(dim=1), torch.ones(1, 8, 12), atol=1e-4)
    assert (learned.place(frame, ref, m) - frozen.place(frame, ref, m)).abs().mean() > 0.1


def test_the_relatedness_places_a_stretch_once_its_reference_is_a_view_of_it():
    cfg = RelatednessConfig(low=0.02, high=0.04, place_low=0.2, place_high=0.5)
    verdict, settled = judge(torch.tensor([0.1, 0.6, 0.35]), cfg)
    assert verdict.weights is None and verdict.placing.tolist() == pytest.approx([0.0, 1.0, 0.5])
    assert not verdict.placed and not settled
    assert judge(torch.tensor([0.1, 0.15]), cfg)[0].placing is None  # another photo of a scene: cells only
    related = Relatedness(cfg)
    verdict = related.verdict(torch.tensor([0.1, 0.6]), [True, False])
    assert verdict.placing.tolist() == [0.0, 1.0] and related.settled  # kept and placed: not read again
    verdict = related.verdict(torch.tensor([0.01]))
    assert verdict.weights is None and verdict.placing.tolist() == [1.0] and verdict.placed
    assert related.verdict(torch.tensor([0.1]), [True]).placing is None  # a new stretch starts over


@torch.no_grad()
def test_the_hint_source_places_the_frames_the_verdict_places():
    torch.manual_seed(4)
    net = ColorizerNet(ColorizerConfig(width=8)).eval()
    torch.nn.init.normal_(net.out.weight, std=0.1)
    hints = MatchHints(Matcher(None, MatcherHead().eval()), None, DenseRefiner(net, contextlib.nullcontext))
    keys, fine = _unit(2, 768, 4, 6), _unit(2, 256, 8, 12)
    ref_fine, ref_sub = F.normalize(torch.randn(24, 4, 256), dim=-1), torch.randn(24, 4, 2) * 25
    pairs = tuple((torch.rand(1, 4, 1, 1), torch.rand(1, 4, 1, 1) + 0.1) for _ in "ab")
    ref = Reference(ReferenceStats(pairs, pairs), keys[0].flatten(1), ref_sub.mean(1).T, fine=ref_fine,
                    fine_values=ref_sub)  # fmt: skip
    l_small = torch.rand(2, 1, 32, 48) * 100
    frame = FrameCells(keys, fine)

    def verdict(*placing):
        return lambda share: (
            Verdict(None, torch.tensor(placing), min(placing) == 1) if max(placing) else Verdict(None, None)
        )

    none, _ = hints(l_small, frame, ref, None, verdict(0.0, 0.0))
    both, _ = hints(l_small, frame, ref, None, verdict(1.0, 1.0))
    second, _ = hints(l_small, frame, ref, None, verdict(0.0, 1.0))
    assert torch.allclose(second[0], none[0], atol=1e-5) and torch.allclose(second[1], both[1], atol=1e-5)
    assert (both - none).abs().mean() > 0.5
    half, _ = hints(l_small, frame, ref, None, verdict(0.5, 0.5))
    assert torch.allclose(half, (none + both) / 2, atol=1e-4)
    cells_only, _ = hints(l_small, FrameCells(keys), ref, None, verdict(1.0, 1.0))  # no sub-cells: no placement
    assert torch.equal(cells_only, none)


@torch.no_grad()
def test_trained_a_view_of_the_shot_is_placed_and_its_colours_come_closer(trained_predictor, monkeypatch):
    """With the trained weights: a frame of a shot coloured from the shot's first frame is placed (the relatedness
    says it is a view of it) and lands nearer the truth than the cells alone."""
    from conftest import colour_image

    predictor = trained_predictor
    from vidcolor import weights

    if weights.has_trained("placement"):  # the committed learned placement is taken
        assert isinstance(predictor.matcher.fine_head, PlacementHead)
    first = colour_image(128, 192, seed=2)
    later = np.roll(first, (3, 5), axis=(0, 1))  # the camera moved
    calls = []
    place_of = Matcher.place
    monkeypatch.setattr(Matcher, "place", lambda self, *a: calls.append(1) or place_of(self, *a))
    errors = {}
    for name, cfg in (("cells", PlacementConfig(top=0)), ("placed", PlacementConfig())):
        predictor.matcher.placement = cfg
        out = predictor.colorize(later[None], predictor.prepare_reference(first))[0]
        errors[name] = np.abs(out.astype(int) - later).mean()
    assert calls == [1]
    assert errors["placed"] < errors["cells"]
