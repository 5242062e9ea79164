"""Transfer sub-net (Xu et al. 2020, Fig. 2): VGG19 encoder + symmetric decoder with skip connections,
AdaIN after each conv{i}_1 of the encoder and of the decoder, single pass.

Reference statistics (8 AdaIN points) depend on the reference only: ``reference_stats`` computes them once;
``forward`` then runs only the target through the network.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from vidcolor.color import caffe_preprocess
from vidcolor.config import TransferConfig
from vidcolor.models.adain import ReferenceStats, adain, mean_std
from vidcolor.models.vgg import CHANNELS, SKIP_LAYERS, VGGEncoder


def _conv(c_in: int, c_out: int) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 3, padding=1, padding_mode="reflect")


class Decoder(nn.Module):
    """Mirror of conv1_1..conv4_1. At each level the upsampled feature is concatenated with the encoder's
    last feature of that level (relu3_4, relu2_2, relu1_2). AdaIN points: after dec conv4_1, conv3_1,
    conv2_1 and conv1_1 (the RGB output)."""

    def __init__(self, cfg: TransferConfig) -> None:
        super().__init__()
        c1, c2, c3 = (max(8, round(c * cfg.decoder_width)) for c in (64, 128, 256))
        self.conv4_1 = _conv(CHANNELS["conv4_1"], c3)
        self.level3 = nn.ModuleList([_conv(c3 + CHANNELS["conv3_4"], c3), _conv(c3, c3), _conv(c3, c3)])
        self.conv3_1 = _conv(c3, c2)
        self.level2 = nn.ModuleList([_conv(c2 + CHANNELS["conv2_2"], c2)])
        self.conv2_1 = _conv(c2, c1)
        self.level1 = nn.ModuleList([_conv(c1 + CHANNELS["conv1_2"], c1)])
        self.conv1_1 = _conv(c1, 3)

    def forward(self, bottleneck: torch.Tensor, skips: list[torch.Tensor], hook=None) -> torch.Tensor:
        """bottleneck: relu4_1 (B, 512, H/8, W/8); skips: [relu1_2, relu2_2, relu3_4] (already scaled).
        Returns RGB (B, 3, H, W), about [0, 1]."""
        hook = hook or (lambda _level, x: x)
        x = hook(0, F.relu(self.conv4_1(bottleneck)))
        stages = ((self.level3, self.conv3_1, skips[2]), (self.level2, self.conv2_1, skips[1]))
        for level, (convs, last, skip) in enumerate(stages, start=1):
            x = torch.cat([F.interpolate(x, scale_factor=2.0, mode="nearest"), skip], dim=1)
            for conv in convs:
                x = F.relu(conv(x))
            x = hook(level, F.relu(last(x)))
        x = torch.cat([F.interpolate(x, scale_factor=2.0, mode="nearest"), skips[0]], dim=1)
        x = F.relu(self.level1[0](x))
        return hook(3, self.conv1_1(x))


class TransferNet(nn.Module):
    """rgb (B, 3, H, W) in [0, 1], H and W multiples of 8 -> stylised rgb of the same size."""

    def __init__(self, cfg: TransferConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or TransferConfig()
        self.encoder = VGGEncoder()
        self.decoder = Decoder(cfg)

    def decoder_inputs(self, feats: dict[str, torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        scales = self.cfg.feature_scales
        skips = [feats[name] / s for name, s in zip(SKIP_LAYERS, scales[:3], strict=True)]
        return feats["conv4_1"] / scales[3], skips

    @torch.no_grad()
    def reference_stats(self, rgb_ref: torch.Tensor) -> ReferenceStats:
        """(1, 3, H, W) reference -> its statistics at all 8 AdaIN points (one pass, done once per reference)."""
        enc: list[tuple[torch.Tensor, torch.Tensor]] = []
        dec: list[tuple[torch.Tensor, torch.Tensor]] = []

        def record(store):
            def hook(_level, x):
                store.append(mean_std(x))
                return x

            return hook

        feats = self.encoder(caffe_preprocess(rgb_ref), hook=record(enc))
        self.decoder(*self.decoder_inputs(feats), hook=record(dec))
        return ReferenceStats(tuple(enc), tuple(dec))

    def forward(self, rgb: torch.Tensor, stats: ReferenceStats | None = None) -> torch.Tensor:
        """With ``stats`` None the net reconstructs its input (the decoder's training task)."""
        enc_hook = dec_hook = None
        if stats is not None:

            def enc_hook(level, x):
                return adain(x, *stats.encoder[level])

            def dec_hook(level, x):
                return adain(x, *stats.decoder[level])

        feats = self.encoder(caffe_preprocess(rgb), hook=enc_hook)
        return self.decoder(*self.decoder_inputs(feats), hook=dec_hook)
