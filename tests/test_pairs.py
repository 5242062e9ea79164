"""Synthetic training pairs (training/pairs.py): overlap, scale range, known correspondence, determinism."""

import math
import random

import numpy as np
import torch
from conftest import colour_image

from training.pairs import View, make_pair, render, sample_views, visibility


def test_same_seed_same_pair_other_seed_other_pair():
    img = colour_image(200, 260, seed=4)
    a, b, c = make_pair(img, 64, seed=7), make_pair(img, 64, seed=7), make_pair(img, 64, seed=8)
    assert torch.equal(a.target, b.target) and torch.equal(a.reference, b.reference)
    assert torch.equal(a.visible, b.visible)
    assert not torch.equal(a.target, c.target)
    assert a.target.shape == (3, 64, 64) and a.visible.shape == (8, 8)


def test_views_overlap_partially_at_half_to_double_scale():
    rng = random.Random(0)
    ratios, overlaps = [], []
    for _ in range(300):
        t, r = sample_views(256, 384, rng)
        ratios.append(r.side / t.side)
        overlaps.append(float(visibility(t, r, 256, 384, 128).mean()))
        for v in (t, r):  # the views stay inside the photo (up to the small rotation)
            assert v.side / 2 <= v.cx + 1e-6 and v.cx <= 384 - v.side / 2 + 1e-6
    assert 0.5 - 1e-6 <= min(ratios) and max(ratios) <= 2.0 + 1e-6
    assert min(ratios) < 0.7 and max(ratios) > 1.4  # the range is used, not just its middle
    overlaps = np.array(overlaps)
    assert overlaps.mean() > 0.3 and (overlaps < 1).mean() > 0.3 and (overlaps > 0).mean() > 0.9


def test_visible_cells_show_the_same_content_in_the_reference():
    """The known correspondence is right: a visible target cell's centre, mapped into the reference view, has the
    same colour there."""
    img = torch.from_numpy(colour_image(240, 320, seed=5)).permute(2, 0, 1).float() / 255
    t = View(150, 120, 160, math.radians(3), False)
    r = View(190, 110, 200, math.radians(-6), True)
    size = 128
    vt, vr = render(img, t, size), render(img, r, size)
    vis = visibility(t, r, 240, 320, size)
    assert 0.2 < vis.mean() < 1.0
    errors = []
    for cy, cx in zip(*torch.nonzero(vis, as_tuple=True), strict=True):
        u = np.array([(cx.item() + 0.5) / 16 * 2 - 1, (cy.item() + 0.5) / 16 * 2 - 1, 1.0])
        p = t.matrix() @ u
        ur = np.linalg.solve(r.matrix()[:, :2], p - r.matrix()[:, 2])
        px, py = ((ur + 1) / 2 * size - 0.5).round().astype(int).clip(0, size - 1)
        tx, ty = int((cx + 0.5) * 8), int((cy + 0.5) * 8)
        errors.append((vt[:, ty, tx] - vr[:, py, px]).abs().max().item())
    assert np.median(errors) < 0.03


def test_a_view_far_from_the_target_shows_nothing():
    t, r = View(60, 60, 100, 0.0, False), View(300, 200, 80, 0.0, False)
    assert visibility(t, r, 256, 384, 64).sum() == 0
    assert visibility(t, t, 256, 384, 64).mean() == 1
