"""The ``match`` hint source: correspondence between gray frames and colour references.

One object per way of matching: ``Matcher`` wraps the frozen VGG19 encoder and, when trained weights exist, the
learned head (models/matcher.py). Frozen: cosine similarity of fixed descriptors, temperature 0.01, confidence a
sigmoid step at similarity 0.6. Learned: learned keys, temperature and a calibrated confidence (the probability
that the carried colour is within a few Lab units of the truth). Both give the same outputs:

- ``cells(lab)``: a reference's keys (C, P) and values (2, P) (its mean ab per 8 x 8 cell);
- ``keys(l_small)``: a frame's keys (N, C, h, w) at stride 8;
- ``warp(keys, ref_keys, ref_values)``: matched ab per cell (N, 2, h, w) and confidence (N, 1, h, w) in [0, 1],
  and on request how much of each frame the reference shows at all (the learned head's mutual-neighbour share).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from vidcolor.color import caffe_preprocess, l_to_gray_rgb
from vidcolor.models.correspond import coarsen, confidence_weight, descriptors, reference_cells, soft_warp
from vidcolor.models.matcher import MatcherHead
from vidcolor.models.vgg import VGGEncoder


class Matcher:
    def __init__(self, encoder: VGGEncoder, head: MatcherHead | None = None, autocast=None) -> None:
        self.encoder, self.head = encoder, head
        self._autocast = autocast or (lambda: torch.autocast("cpu", enabled=False))

    @property
    def learned(self) -> bool:
        return self.head is not None

    def keys(self, l_small: torch.Tensor) -> torch.Tensor:
        """(N, 1, h, w) L 0..100 -> (N, C, h/8, w/8) unit keys of its gray version (coarsened past MAX_CELLS)."""
        with self._autocast():
            feats = self.encoder(caffe_preprocess(l_to_gray_rgb(l_small)))
        desc = descriptors(feats)
        if self.head is not None:
            desc = self.head(desc)
        return coarsen(desc)

    def cells(self, lab_ref: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(1, 3, h, w) Lab reference -> keys (C, P), values (2, P)."""
        with self._autocast():
            feats = self.encoder(caffe_preprocess(l_to_gray_rgb(lab_ref[:, :1])))
        desc = descriptors(feats)
        if self.head is not None:
            desc = self.head(desc)
        return reference_cells(desc, lab_ref[:, 1:])

    def warp(self, keys: torch.Tensor, ref_keys: torch.Tensor, ref_values: torch.Tensor, share: bool = False):
        """keys (N, C, h, w), ref_keys (C, P), ref_values (2, P) -> ab (N, 2, h, w), confidence (N, 1, h, w) in
        [0, 1]; with ``share`` also each frame's mutual-nearest-neighbour share with the reference (N,) in [0, 1]
        (models/matcher.py ``mutual_share``), None with the frozen matcher (its thresholds were measured with the
        learned keys only)."""
        if self.head is not None:
            ab, stats, *rest = self.head.warp(keys, ref_keys[None], ref_values[None], share=share)
            confidence = self.head.confidence(stats)
        else:
            ab, similarity = soft_warp(keys, ref_keys, ref_values)
            confidence, rest = confidence_weight(similarity), [None]
        return (ab, confidence, rest[0]) if share else (ab, confidence)


def cell_means(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, h, w) means over the cells of a (h, w) grid."""
    return F.adaptive_avg_pool2d(x.float(), size)
