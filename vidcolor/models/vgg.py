"""VGG19 encoder, conv1_1 .. conv4_1, with average pooling (Gatys et al.) instead of max pooling.

Takes Caffe-convention input (see ``vidcolor.color.caffe_preprocess``) and the state dict of
``vgg19-imagenet-caffe-conv4_1.pth`` (keys ``conv1_1.weight`` ... ``conv4_1.bias``). Always frozen.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

# (name, in_channels, out_channels); "pool" between levels.
VGG_LAYERS: tuple = (
    ("conv1_1", 3, 64),
    ("conv1_2", 64, 64),
    "pool",
    ("conv2_1", 64, 128),
    ("conv2_2", 128, 128),
    "pool",
    ("conv3_1", 128, 256),
    ("conv3_2", 256, 256),
    ("conv3_3", 256, 256),
    ("conv3_4", 256, 256),
    "pool",
    ("conv4_1", 256, 512),
)
SKIP_LAYERS = ("conv1_2", "conv2_2", "conv3_4")  # last conv of each level before pooling
ADAIN_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1")
CHANNELS = {name: c_out for name, _, c_out in (layer for layer in VGG_LAYERS if layer != "pool")}

Hook = Callable[[int, torch.Tensor], torch.Tensor]


class VGGEncoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.convs = nn.ModuleDict(
            {name: nn.Conv2d(c_in, c_out, 3, padding=1) for name, c_in, c_out in (l for l in VGG_LAYERS if l != "pool")}
        )
        self.requires_grad_(False)

    def load_caffe_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Load ``{"conv1_1.weight": ..., "conv1_1.bias": ...}`` (OIHW). Raises KeyError/ValueError on a bad dict."""
        mapped = {}
        for name, conv in self.convs.items():
            for part in ("weight", "bias"):
                tensor = state[f"{name}.{part}"]
                expected = getattr(conv, part).shape
                if tuple(tensor.shape) != tuple(expected):
                    raise ValueError(f"{name}.{part} has shape {tuple(tensor.shape)}, expected {tuple(expected)}")
                mapped[f"convs.{name}.{part}"] = tensor.float()
        self.load_state_dict(mapped)

    def forward(self, x: torch.Tensor, hook: Hook | None = None) -> dict[str, torch.Tensor]:
        """x: (B, 3, H, W) Caffe input, H and W multiples of 8.

        Returns the ReLU outputs of every conv by layer name. ``hook(level, feat)`` is called on relu{i}_1
        (level i - 1 = 0..3) and its return value replaces the feature for the rest of the pass (AdaIN goes there).
        """
        feats: dict[str, torch.Tensor] = {}
        level = 0
        for layer in VGG_LAYERS:
            if layer == "pool":
                x = F.avg_pool2d(x, 2)
                continue
            name = layer[0]
            x = F.relu(self.convs[name](x))
            if hook is not None and name in ADAIN_LAYERS:
                x = hook(level, x)
                level += 1
            feats[name] = x
        return feats
