"""The ``match`` hint source: correspondence between gray frames and colour references.

One object per way of matching: ``Matcher`` wraps the frozen VGG19 encoder and, when trained weights exist, the
learned head (models/matcher.py). Frozen: cosine similarity of fixed descriptors, temperature 0.01, confidence a
sigmoid step at similarity 0.6. Learned: learned keys, temperature and a calibrated confidence (the probability
that the carried colour is within a few Lab units of the truth). Both give the same outputs:

- ``cells(lab)``: a reference's keys (C, P) and values (2, P) (its mean ab per 8 x 8 cell); ``reference(lab)`` the
  same with its sub-cells (``RefCells``);
- ``keys(l_small)``: a frame's keys (N, C, h, w) at stride 8; ``describe(l_small)`` the same with its relu3_1 features;
- ``warp(keys, ref_keys, ref_values)``: matched ab per cell (N, 2, h, w) and confidence (N, 1, h, w) in [0, 1],
  and on request how much of each frame the reference shows at all (the learned head's mutual-neighbour share);
- ``match(frame, reference)``: the chain's call: the warp, with the colours placed at twice the cells' resolution
  by the sub-cells (models/placement.py; learned head only, as the share; their descriptors through the learned
  placement head where weights/ has one).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch.nn import functional as F

from vidcolor.color import caffe_preprocess, l_to_gray_rgb
from vidcolor.config import PlacementConfig
from vidcolor.models.correspond import coarsen, confidence_weight, descriptors, reference_cells, soft_warp
from vidcolor.models.matcher import MatcherHead
from vidcolor.models.placement import FINE_LAYER, PlacementHead, fine_descriptors, place, reference_sub_cells
from vidcolor.models.vgg import VGGEncoder


class FrameCells(NamedTuple):
    """A batch of frames for matching: ``keys`` (N, C, h, w) and ``fine`` their relu3_1 features (N, 256, H/4, W/4),
    made into sub-cell descriptors only where colours are placed (``Matcher.place``); None: no placement. ``desc``:
    the frozen unit descriptors at the full cell grid (N, 768, H/8, W/8), which the automatic colours' head reads
    (models/autohead.py); None where not kept."""

    keys: torch.Tensor
    fine: torch.Tensor | None = None
    desc: torch.Tensor | None = None


class RefCells(NamedTuple):
    """A reference's cells: ``keys`` (C, P), ``values`` (2, P), and its sub-cells ``fine`` (P, 4, 256) and
    ``fine_values`` (P, 4, 2) (None: no placement)."""

    keys: torch.Tensor
    values: torch.Tensor
    fine: torch.Tensor | None = None
    fine_values: torch.Tensor | None = None


class Match(NamedTuple):
    """``ab`` (N, 2, h, w) matched colours per cell, ``confidence`` (N, 1, h, w), ``share`` (N,) or None, ``top``:
    each cell's best reference cells (similarities, indices), each (N, h * w, k), where the colours can be placed
    in sub-cells (``Matcher.place``), else None."""

    ab: torch.Tensor
    confidence: torch.Tensor
    share: torch.Tensor | None
    top: tuple[torch.Tensor, torch.Tensor] | None = None


class Matcher:
    def __init__(
        self,
        encoder: VGGEncoder,
        head: MatcherHead | None = None,
        autocast=None,
        placement: PlacementConfig | None = None,
        fine_head: PlacementHead | None = None,
    ) -> None:
        """``fine_head``: the learned sub-cell descriptors and placement temperatures (models/placement.py); without
        it the frozen relu3_1 descriptors at ``placement.tau``."""
        self.encoder, self.head, self.fine_head = encoder, head, fine_head
        self._autocast = autocast or (lambda: torch.autocast("cpu", enabled=False))
        self.placement = placement or PlacementConfig()

    @property
    def places(self) -> bool:
        """Whether colours are placed in sub-cells (the learned head, and a placement configured)."""
        return self.head is not None and self.placement.top > 0

    @property
    def learned(self) -> bool:
        return self.head is not None

    def _features(self, l: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """(N, 1, h, w) L 0..100 -> the frozen unit descriptors of its gray version (N, 768, h/8, w/8), the trunk's
        features."""
        with self._autocast():
            feats = self.encoder(caffe_preprocess(l_to_gray_rgb(l)))
        return descriptors(feats), feats

    def _descriptors(self, l: torch.Tensor) -> tuple[torch.Tensor, dict]:
        desc, feats = self._features(l)
        return (desc if self.head is None else self.head(desc)), feats

    def frozen_descriptors(self, l_small: torch.Tensor) -> torch.Tensor:
        """(N, 1, h, w) L 0..100 -> (N, 768, h/8, w/8) the frozen unit descriptors of its gray version."""
        return self._features(l_small)[0]

    def describe(self, l_small: torch.Tensor, keep_desc: bool = False) -> FrameCells:
        """(N, 1, h, w) L 0..100 -> its keys (N, C, h/8, w/8) (unit, of its gray version, coarsened past MAX_CELLS)
        and, where colours are placed, its sub-cell descriptors; with ``keep_desc`` its frozen descriptors too."""
        desc, feats = self._features(l_small)
        keys = coarsen(desc if self.head is None else self.head(desc))
        return FrameCells(keys, feats[FINE_LAYER] if self.places else None, desc if keep_desc else None)

    def keys(self, l_small: torch.Tensor) -> torch.Tensor:
        """(N, 1, h, w) L 0..100 -> (N, C, h/8, w/8) unit keys of its gray version (coarsened past MAX_CELLS)."""
        return coarsen(self._descriptors(l_small)[0])

    def reference(self, lab_ref: torch.Tensor) -> RefCells:
        """(1, 3, h, w) Lab reference -> its cells, with its sub-cells where colours are placed."""
        desc, feats = self._descriptors(lab_ref[:, :1])
        keys, values = reference_cells(desc, lab_ref[:, 1:])
        if not self.places:
            return RefCells(keys, values)
        fine = self._fine(feats[FINE_LAYER], coarsen(desc).shape[-2:])
        return RefCells(keys, values, *reference_sub_cells(fine, lab_ref[:, 1:]))

    def _fine(self, relu3: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        """relu3_1 features and the cell grid -> sub-cell descriptors (N, 256, 2h, 2w), learned where a head is."""
        fine = fine_descriptors(relu3, grid)
        if self.fine_head is None:
            return fine
        with self._autocast():
            return self.fine_head(fine)

    def cells(self, lab_ref: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(1, 3, h, w) Lab reference -> keys (C, P), values (2, P)."""
        desc, _ = self._descriptors(lab_ref[:, :1])
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

    def match(self, frame: FrameCells, reference) -> Match:
        """A batch of frames against a prepared reference (``chain.reference.Reference``) -> the match, with the
        candidates for placing its colours in sub-cells where both sides have sub-cells."""
        if self.head is None or frame.fine is None or getattr(reference, "fine", None) is None:
            return Match(*self.warp(frame.keys, reference.keys, reference.values, share=True))
        ab, stats, share, top = self.head.warp(
            frame.keys, reference.keys[None], reference.values[None], share=True, top=self.placement.top
        )
        return Match(ab, self.head.confidence(stats), share, top)

    def place(self, frame: FrameCells, reference, match: Match) -> torch.Tensor:
        """The match's colours placed in the frames' sub-cells -> (N, 2, 2h, 2w) (models/placement.py)."""
        sims, parents = match.top
        tau = self.head.tau.detach()  # tensors: no wait for the device
        fine = self._fine(frame.fine, frame.keys.shape[-2:])  # only for frames that are placed
        tau_fine, prior = self.placement.tau, 1.0
        if self.fine_head is not None:
            tau_fine, prior = self.fine_head.tau.detach(), self.fine_head.prior_scale.detach()
        return place(parents, sims, fine, reference.fine, reference.fine_values, tau, tau_fine, prior)


def cell_means(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, h, w) means over the cells of a (h, w) grid."""
    return F.adaptive_avg_pool2d(x.float(), size)
