import pytest
import torch
from torch.nn import functional as F

from vidcolor.chain.reference import Reference
from vidcolor.models import ReferenceStats, correspond
from vidcolor.models.correspond import confidence_weight, descriptors, reference_cells, soft_warp


def _desc(n=1, c=16, h=4, w=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(n, c, h, w, generator=g), dim=1)


def test_descriptors_are_unit_vectors_at_stride_8():
    feats = {"conv3_1": torch.rand(2, 256, 16, 24), "conv4_1": torch.rand(2, 512, 8, 12)}
    d = descriptors(feats)
    assert d.shape == (2, 768, 8, 12)
    assert torch.allclose(d.norm(dim=1), torch.ones(2, 8, 12), atol=1e-5)


def test_self_match_returns_each_cells_own_colour():
    desc = _desc()
    ab = torch.randn(1, 2, 32, 40) * 30
    keys, values = reference_cells(desc, ab)
    assert keys.shape == (16, 20) and values.shape == (2, 20)
    warped, conf = soft_warp(desc, keys, values, tau=0.001)
    assert torch.allclose(warped, F.avg_pool2d(ab, 8), atol=1e-3)
    assert torch.allclose(conf, torch.ones_like(conf), atol=1e-5)


def test_colours_follow_moved_content():
    desc_ref = _desc(h=4, w=6, seed=1)
    ab_ref = torch.arange(24.0).repeat_interleave(8).view(4, 48).repeat_interleave(8, 0).expand(1, 2, 32, 48)
    keys, values = reference_cells(desc_ref, ab_ref)
    moved = torch.roll(desc_ref, shifts=2, dims=3)  # the target shows the same content two cells to the right
    warped, _ = soft_warp(moved, keys, values, tau=0.001)
    assert torch.allclose(warped, torch.roll(F.avg_pool2d(ab_ref, 8), shifts=2, dims=3), atol=1e-3)


def test_chunked_similarity_equals_one_block(monkeypatch):
    desc, keys = _desc(n=2, h=6, w=7, seed=2), _desc(h=5, w=5, seed=3)[0].flatten(1)
    values = torch.randn(2, 25)
    whole = soft_warp(desc, keys, values)
    monkeypatch.setattr(correspond, "CHUNK", 5)
    parts = soft_warp(desc, keys, values)
    for a, b in zip(whole, parts, strict=True):
        assert torch.allclose(a, b, atol=1e-5)


def test_confidence_weight_is_a_monotone_step():
    w = confidence_weight(torch.tensor([0.0, 0.55, 0.6, 0.65, 1.0]))
    assert w[0] < 0.001 and abs(w[2] - 0.5) < 1e-6 and w[-1] > 0.999
    assert bool((w[1:] >= w[:-1]).all())


def test_reference_cells_refuse_mismatched_sizes():
    with pytest.raises(ValueError):
        reference_cells(_desc(h=4, w=5), torch.zeros(1, 2, 40, 40))


def test_combined_references_pool_cells():
    def ref(seed, name):
        g = torch.Generator().manual_seed(seed)
        pairs = tuple((torch.rand(1, 4, 1, 1, generator=g), torch.rand(1, 4, 1, 1, generator=g) + 0.1) for _ in "ab")
        return Reference(ReferenceStats(pairs, pairs), torch.rand(16, 6, generator=g), torch.rand(2, 6), name)

    a, b = ref(0, "a.png"), ref(1, "b.png")
    both = Reference.combine([a, b])
    assert both.keys.shape == (16, 12) and torch.equal(both.values[:, 6:], b.values)
    assert both.name == "a.png+b.png"
    assert Reference.combine([a]) is a


def test_large_grids_are_coarsened_to_a_bounded_cell_count():
    desc = _desc(h=100, w=180, seed=4)
    small = correspond.coarsen(desc, max_cells=4096)
    assert small.shape[-2] * small.shape[-1] <= 4096 * 1.1
    assert torch.allclose(small.norm(dim=1), torch.ones(small.shape[-2:]), atol=1e-5)
    keys, values = reference_cells(desc, torch.zeros(1, 2, 800, 1440))
    assert keys.shape[1] == values.shape[1] == small.shape[-2] * small.shape[-1]
    assert correspond.coarsen(_desc(h=8, w=8)).shape[-2:] == (8, 8)
