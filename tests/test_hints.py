import torch

from vidcolor.chain.hints import apply_hints, hint_pattern, point_mask, random_training_hints


def test_pattern_is_seeded_and_has_the_density():
    a, b = hint_pattern(48, 64, 0.01, seed=3), hint_pattern(48, 64, 0.01, seed=3)
    assert torch.equal(a, b)
    assert a.sum().item() == round(0.01 * 48 * 64)
    assert not torch.equal(a, hint_pattern(48, 64, 0.01, seed=4))


def test_hints_only_at_mask_and_patch_mean():
    ab = torch.arange(2 * 5 * 5, dtype=torch.float32).view(1, 2, 5, 5)
    mask = torch.zeros(1, 1, 5, 5)
    mask[0, 0, 2, 2] = 1
    hints = apply_hints(ab, mask, patch=3)
    assert (hints[:, :, mask[0, 0] == 0] == 0).all()
    assert hints[0, 0, 2, 2] == ab[0, 0, 1:4, 1:4].mean()
    assert torch.equal(apply_hints(ab, mask, patch=1)[0, :, 2, 2], ab[0, :, 2, 2])


def test_training_hint_statistics():
    g = torch.Generator().manual_seed(0)
    ab = torch.rand(400, 2, 32, 32) + 0.5  # never zero, so hint != 0 exactly where mask == 1
    hints, mask = random_training_hints(ab, g, empty_share=0.25, max_density=0.05)
    counts = mask.sum(dim=(1, 2, 3))
    empty = (counts == 0).float().mean().item()
    assert 0.18 < empty < 0.32
    assert counts.max() <= round(0.05 * 32 * 32)
    assert ((hints != 0).any(dim=1, keepdim=True).float() == mask).all()
    assert point_mask(4, 4, 100).sum() == 16
