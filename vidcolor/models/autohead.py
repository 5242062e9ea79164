"""Automatic colours that know what they look at (issue 26: "automatic mode must never score below gray").

The colorization U-Net learned its colours from scratch on small photos, so where it is unsure it paints the warm
mean of its training set: sky, sea and asphalt turn sepia, and three dev sequences scored below their gray input.
The frozen VGG19 trunk the matcher already runs has seen ImageNet: its descriptors tell sky from sand. ``AutoHead``
reads them per 8 x 8 cell (the matcher's unit descriptors, relu3_1 pooled + relu4_1) with the cell's brightness and
texture (the descriptors are normalised), through a few dilated 3 x 3 convolutions and a pooled scene vector, and
gives each cell a colour. It does not see the U-Net's colours: the U-Net trained on the same photos, so on them its
colours are better than anywhere else, and a head that saw them learned to trust them (measured: it lost on the
validation split). Its last layer starts at zero: an untrained head gives gray. The head's colours (upsampled
along L's edges, models/correspond.py) and the U-Net's are two opinions from different inputs; the chain's automatic
colours are their mean, muted where they disagree (``agree``): neither alone stayed above gray on every dev
sequence (docs/weights.md). Pure functions and one module; shapes in the docstrings; ab in Lab units, L in 0..100.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from vidcolor.config import AutoHeadConfig
from vidcolor.models.correspond import CELL

DESCRIPTOR_CHANNELS = 768  # correspond.descriptors: relu3_1 pooled (256) + relu4_1 (512)
AB_SCALE = 40.0  # Lab units per unit of the head's output
EXTRA = 2  # the cell's mean L and its standard deviation


def cell_inputs(desc: torch.Tensor, l_small: torch.Tensor) -> torch.Tensor:
    """Descriptors (N, 768, h, w) and L (N, 1, 8h, 8w) -> the head's input (N, 770, h, w): the descriptors, the
    cell's mean L / 100 and its standard deviation / 30."""
    l_small = l_small.float()
    mean = F.avg_pool2d(l_small, CELL)
    std = (F.avg_pool2d(l_small.square(), CELL) - mean.square()).clamp_min(0).sqrt()
    return torch.cat([desc.float(), mean / 100, std / 30], dim=1)


class AutoHead(nn.Module):
    def __init__(self, cfg: AutoHeadConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or AutoHeadConfig()
        h = cfg.hidden
        self.inp = nn.Sequential(nn.Conv2d(DESCRIPTOR_CHANNELS + EXTRA, h, 1), nn.ReLU())
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Conv2d(h, h, 3, padding=d, dilation=d), nn.ReLU()) for d in cfg.dilations
        )
        self.glob = nn.Linear(h, h)
        self.out = nn.Conv2d(2 * h, 2, 1)
        nn.init.zeros_(self.out.weight)  # untrained: gray
        nn.init.zeros_(self.out.bias)

    def forward(self, desc: torch.Tensor, l_small: torch.Tensor) -> torch.Tensor:
        """Descriptors (N, 768, h, w), L (N, 1, 8h, 8w) -> each cell's colour (N, 2, h, w) in Lab units."""
        x = self.inp(cell_inputs(desc, l_small))
        for block in self.blocks:
            x = x + block(x)
        scene = F.relu(self.glob(x.mean((2, 3))))[:, :, None, None].expand_as(x)
        return AB_SCALE * self.out(torch.cat([x, scene], dim=1)).float()


def agree(unet_ab: torch.Tensor, head_ab: torch.Tensor, spread: float) -> torch.Tensor:
    """Two opinions of a frame's colours, the U-Net's and the head's (N, 2, H, W) -> their mean, muted where they
    disagree: mean * spread^2 / (spread^2 + d^2), d = each opinion's distance from the mean (Lab units). Where both
    see brown fur the colour stays; where one sees blue sea and the other sepia, or one paints a road orange, it
    goes towards gray, which costs least where nobody knows."""
    mean = 0.5 * (unet_ab.float() + head_ab.float())
    d2 = 0.25 * (unet_ab.float() - head_ab.float()).square().sum(1, keepdim=True)
    return mean * (spread**2 / (spread**2 + d2))
