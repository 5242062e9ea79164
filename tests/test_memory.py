"""Propagation memory: written every k-th frame, confident cells only, bounded, least used dropped, reset per shot."""

import torch
from torch.nn import functional as F

from vidcolor.memory import MatchMemory, MemoryConfig


def _frame(seed, c=8, h=4, w=6):
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(c, h, w, generator=g), dim=0), torch.randn(2, h, w, generator=g) * 20


def test_writes_every_kth_frame_and_only_confident_cells():
    mem = MatchMemory(MemoryConfig(every=3, max_frames=10, min_confidence=0.5))
    conf = torch.ones(1, 4, 6)
    for i in range(7):
        mem.write(*_frame(i), conf)
    assert len(mem.entries) == 3  # frames 0, 3, 6
    assert mem.cells == 3 * 2 * 3  # pooled 2 x 2
    mem.write(*_frame(99), torch.zeros(1, 4, 6))  # frame 7: not a 3rd frame anyway
    mem.write(*_frame(98), torch.zeros(1, 4, 6))  # frame 8
    mem.write(*_frame(97), torch.zeros(1, 4, 6))  # frame 9: a 3rd frame, but nothing confident
    assert len(mem.entries) == 3
    half = torch.zeros(1, 4, 6)
    half[..., :2] = 1.0  # the left third confident: one pooled column
    for _ in range(3):
        mem.write(*_frame(5), half)
    assert mem.entries[-1].keys.shape[1] == 2


def test_bounded_after_many_frames_and_least_used_dropped():
    mem = MatchMemory(MemoryConfig(every=1, max_frames=3, min_confidence=0.0))
    ref_keys, ref_values = _frame(0)[0].flatten(1), _frame(0)[1].flatten(1)
    for i in range(200):
        keys, ab = _frame(i + 1)
        _, _, n_ref = mem.extend(ref_keys, ref_values)
        if mem.entries:  # every target cell picks the OLDEST memory frame: it must survive
            mem.count_uses(torch.full((1, 10), n_ref), n_ref)
        mem.write(keys, ab, torch.ones(1, 4, 6))
        assert len(mem.entries) <= 3
    all_keys, all_values, n_ref = mem.extend(ref_keys, ref_values)
    assert all_keys.shape[1] == n_ref + 3 * 6 and all_values.shape[1] == all_keys.shape[1]
    assert torch.equal(all_keys[:, :n_ref], ref_keys)  # the reference's cells come first, unchanged
    first = F.normalize(F.avg_pool2d(_frame(1)[0][None], 2, ceil_mode=True)[0], dim=0).flatten(1)
    assert torch.allclose(mem.entries[0].keys, first)  # the most used frame was never dropped


def test_reset_empties_it():
    mem = MatchMemory(MemoryConfig(every=1))
    mem.write(*_frame(1), torch.ones(1, 4, 6))
    mem.reset()
    keys, values = _frame(2)[0].flatten(1), _frame(2)[1].flatten(1)
    assert mem.extend(keys, values)[0] is keys and mem.frames_seen == 0
