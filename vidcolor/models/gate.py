"""Colour gate: how much of the automatic colour to show, per place (issue 26: "know when not to colour").

The refiner with an empty match is the automatic colorizer. Its colours are right on sky, grass and skin and
confidently wrong elsewhere (a gray road painted brown), and a wrong saturated colour scores below no colour at all.
The gate reads what the refiner knows of the whole picture (its bottleneck features, stride 8) beside the colour it
chose and the frame's L, and outputs a gain per place in [0, ``max_gain``] by which that colour is scaled: towards
gray where the colour is likely wrong, up to ``max_gain`` where a muted colour is likely right. Trained
(training/train_gate.py) to minimise the squared ab error of the gated colour to the truth on real frames, so the
gain is the least-squares scale of the colour given what the net sees. Its last layer starts at zero with a bias
of gain 1: an untrained gate changes nothing.

Shapes: bottleneck (N, C, H/8, W/8), L (N, 1, H, W) 0..100, ab (N, 2, H, W) Lab units -> gain (N, 1, H, W).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from vidcolor.config import GateConfig


class ColourGate(nn.Module):
    def __init__(self, cfg: GateConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or GateConfig()
        self.body = nn.Sequential(
            nn.Conv2d(cfg.features + 3, cfg.hidden, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(cfg.hidden, cfg.hidden, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(cfg.hidden, 1, 1),
        )
        nn.init.zeros_(self.body[4].weight)
        nn.init.constant_(self.body[4].bias, -math.log(cfg.max_gain - 1.0))  # max_gain * sigmoid(b) = 1

    def forward(self, bottleneck: torch.Tensor, l: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
        """-> gain (N, 1, H, W) in [0, max_gain] at the size of ``l``."""
        cells = bottleneck.shape[-2:]
        x = torch.cat([bottleneck.float(), F.adaptive_avg_pool2d(l.float(), cells) / 100.0,
                       F.adaptive_avg_pool2d(ab.float(), cells) / 100.0], dim=1)  # fmt: skip
        gain = self.cfg.max_gain * torch.sigmoid(self.body(x))
        return F.interpolate(gain, size=l.shape[-2:], mode="bilinear", align_corners=False)
