import torch

from vidcolor.models.adain import ReferenceStats, adain, mean_std


def test_adain_matches_hand_computation():
    x = torch.tensor([1.0, 2.0, 3.0, 4.0]).view(1, 1, 2, 2)  # mean 2.5, var 1.25
    mu_y, sigma_y = torch.tensor(10.0).view(1, 1, 1, 1), torch.tensor(2.0).view(1, 1, 1, 1)
    out = adain(x, mu_y, sigma_y, eps=0.0)
    expected = 2.0 * (torch.tensor([1.0, 2.0, 3.0, 4.0]) - 2.5) / 1.25**0.5 + 10.0
    assert torch.allclose(out.view(-1), expected, atol=1e-6)


def test_adain_gives_style_statistics_per_channel_and_sample():
    x = torch.randn(3, 4, 8, 8) * 5 + 2
    y = torch.randn(1, 4, 8, 8) * 0.3 - 1
    out = adain(x, *mean_std(y))
    m, s = mean_std(out)
    my, sy = mean_std(y)
    assert torch.allclose(m, my.expand_as(m), atol=1e-4)
    assert torch.allclose(s, sy.expand_as(s), atol=1e-3)


def test_adain_with_own_statistics_is_identity():
    x = torch.randn(2, 3, 5, 5)
    assert torch.allclose(adain(x, *mean_std(x)), x, atol=1e-4)


def test_average_of_references():
    a = torch.zeros(1, 2, 1, 1)
    s = ReferenceStats(((a, a + 1.0),), ((a + 2.0, a + 1.0),))
    t = ReferenceStats(((a + 2.0, a + 1.0),), ((a + 2.0, a + 1.0),))
    same = ReferenceStats.average([s, s])
    assert torch.allclose(same.encoder[0][1], s.encoder[0][1], atol=1e-4)
    mix = ReferenceStats.average([s, t])
    assert torch.allclose(mix.encoder[0][0], a + 1.0)
    # mixture of N(0,1) and N(2,1): variance 1 + 1 = 2
    assert torch.allclose(mix.encoder[0][1], (a + 2.0).sqrt(), atol=1e-4)
