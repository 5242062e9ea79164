"""Colorization sub-net: U-Net after Zhang et al. 2017 ("Real-time user-guided image colorization").

Ten feature blocks + one output block. Input: normalised L (B, 1, H, W), sparse normalised ab hints
(B, 2, H, W) and their binary mask (B, 1, H, W); output: normalised ab (B, 2, H, W). H, W multiples of 8.
With all-zero hints and mask it is an automatic colorizer (the paper's pre-colorization step).
"""

from __future__ import annotations

import torch
from torch import nn

from vidcolor.config import ColorizerConfig


def _block(c_in: int, c_out: int, n: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(n):
        s = stride if i == 0 else 1
        layers += [nn.Conv2d(c_in if i == 0 else c_out, c_out, 3, stride=s, padding=dilation, dilation=dilation)]
        layers += [nn.ReLU(inplace=True)]
    layers.append(nn.BatchNorm2d(c_out))
    return nn.Sequential(*layers)


class _Up(nn.Module):
    """Transposed-conv upsampling plus a projected shortcut from the encoder side (added, as Zhang et al.)."""

    def __init__(self, c_in: int, c_skip: int, c_out: int, n: int, last_act: nn.Module | None = None) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1)
        self.shortcut = nn.Conv2d(c_skip, c_out, 3, padding=1)
        layers: list[nn.Module] = [nn.ReLU(inplace=True)]
        for i in range(n):
            last = i == n - 1 and last_act is not None
            layers += [nn.Conv2d(c_out, c_out, 3, padding=1), last_act if last else nn.ReLU(inplace=True)]
        if last_act is None:
            layers.append(nn.BatchNorm2d(c_out))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.body(self.up(x) + self.shortcut(skip))


class ColorizerNet(nn.Module):
    def __init__(self, cfg: ColorizerConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or ColorizerConfig()
        w = cfg.width
        self.block1 = _block(4, w, 2)
        self.block2 = _block(w, 2 * w, 2, stride=2)
        self.block3 = _block(2 * w, 4 * w, 3, stride=2)
        self.block4 = _block(4 * w, 8 * w, 3, stride=2)
        self.block5 = _block(8 * w, 8 * w, 3, dilation=2)
        self.block6 = _block(8 * w, 8 * w, 3, dilation=2)
        self.block7 = _block(8 * w, 8 * w, 3)
        self.block8 = _Up(8 * w, 4 * w, 4 * w, 2)
        self.block9 = _Up(4 * w, 2 * w, 2 * w, 1)
        self.block10 = _Up(2 * w, w, 2 * w, 1, last_act=nn.LeakyReLU(0.2))
        self.out = nn.Conv2d(2 * w, 2, 1)

    def forward(self, l_norm: torch.Tensor, ab_hint: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.forward_with_bottleneck(l_norm, ab_hint, mask)[0]

    def forward_with_bottleneck(
        self, l_norm: torch.Tensor, ab_hint: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (normalised ab (B, 2, H, W), the bottleneck's features (B, 8 x width, H/8, W/8)): what the net knows
        of the whole picture, which the colour gate (models/gate.py) reads."""
        x1 = self.block1(torch.cat([l_norm, ab_hint, mask], dim=1))
        x2 = self.block2(x1)
        x3 = self.block3(x2)
        bottleneck = self.block7(self.block6(self.block5(self.block4(x3))))
        x = self.block8(bottleneck, x3)
        x = self.block9(x, x2)
        x = self.block10(x, x1)
        return self.out(x), bottleneck
