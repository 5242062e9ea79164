"""The chain at working size, one object per hint source and per refinement (Lab units in and out, (N, C, h, w)).

- ``SparseRefiner``: the colorization sub-net fed sparse point hints (Xu et al.'s refinement); with no hints it is
  the paper's automatic pre-colorization, and the chain's automatic colours.
- ``DenseRefiner``: the refiner that sees the whole match (L, the dense matched ab, its confidence) and outputs a
  correction added to the match; with an empty match it colours from L alone (the chain's automatic colours only
  with a colour gate, models/gate.py, which scales them per place: towards gray where they are likely wrong).
- ``SemanticAuto``: automatic colours from what the frozen VGG19 descriptors say a frame shows (the auto head,
  models/autohead.py) and the U-Net's, muted where the two disagree: the chain's automatic colours where weights/
  has the head.
- ``MatchHints`` (``--hints match``): frames matched to the reference's cells, the carried colours refined by the
  dense refiner, or, without one, blended with the sparse refinement by confidence; where the reference shows too
  little of the frames, the automatic colours instead (chain/relatedness.py).
- ``TransferHints`` (``--hints transfer``, the paper): pre-colorization -> transfer sub-net against the reference's
  AdaIN statistics -> coarse T_ab -> sparse refinement.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.nn import functional as F

from vidcolor.chain.hints import apply_hints
from vidcolor.chain.matching import FrameCells, Matcher
from vidcolor.chain.relatedness import Verdict, judge
from vidcolor.color import denormalize_ab, lab_to_rgb, normalize_ab, normalize_l, rgb_to_lab
from vidcolor.config import RelatednessConfig
from vidcolor.models import ColorizerNet, TransferNet
from vidcolor.models.autohead import AutoHead, agree
from vidcolor.models.correspond import upsample_cells
from vidcolor.models.gate import ColourGate

Autocast = Callable[[], object]
Relate = Callable[[torch.Tensor], Verdict]  # shares (N,) -> what the stretch's relatedness decides (relatedness.py)


class SparseRefiner:
    def __init__(self, net: ColorizerNet, hint_patch: int, autocast: Autocast) -> None:
        self.net, self.hint_patch, self.autocast = net, hint_patch, autocast

    def __call__(self, l_small: torch.Tensor, ab_source: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Hints sampled from ``ab_source`` at ``mask`` (1, 1, h, w) -> refined ab."""
        hints = apply_hints(normalize_ab(ab_source), mask, self.hint_patch)
        with self.autocast():
            ab = self.net(normalize_l(l_small), hints, mask.expand(l_small.shape[0], -1, -1, -1))
        return denormalize_ab(ab.float())

    def auto(self, l_small: torch.Tensor, desc: torch.Tensor | None = None) -> torch.Tensor:
        """Automatic colorization (``desc`` unused: the U-Net sees L only)."""
        return _empty_input(self.net, l_small, self.autocast)[0]


class DenseRefiner:
    def __init__(self, net: ColorizerNet, autocast: Autocast, gate: ColourGate | None = None) -> None:
        self.net, self.autocast, self.gate = net, autocast, gate

    def __call__(self, l_small: torch.Tensor, ab_match: torch.Tensor, confidence: torch.Tensor) -> torch.Tensor:
        """Matched ab and its confidence (N, 1, h, w) in [0, 1] -> matched ab + the net's correction."""
        with self.autocast():
            correction = self.net(normalize_l(l_small), normalize_ab(ab_match), confidence).float()
        return ab_match + denormalize_ab(correction)

    def auto(self, l_small: torch.Tensor, desc: torch.Tensor | None = None) -> torch.Tensor:
        """Automatic colorization: the refiner on an empty match, scaled per place by the colour gate when there
        is one (else by the net's ``auto_gain``; ``desc`` unused)."""
        ab, bottleneck = _empty_input(self.net, l_small, self.autocast)
        return self.net.cfg.auto_gain * ab if self.gate is None else self.gate(bottleneck, l_small, ab) * ab


class SemanticAuto:
    def __init__(self, unet: SparseRefiner, head: AutoHead, describe: Callable[[torch.Tensor], torch.Tensor]) -> None:
        """``describe``: L (N, 1, h, w) -> the frozen descriptors (``Matcher.frozen_descriptors``)."""
        self.unet, self.head, self.describe = unet, head, describe

    def auto(self, l_small: torch.Tensor, desc: torch.Tensor | None = None) -> torch.Tensor:
        """Automatic colorization: the head's colour per 8 x 8 cell (upsampled along L's edges) and the U-Net's,
        their mean muted where they disagree (``agree``); ``desc`` the frames' frozen descriptors (N, 768, h/8,
        w/8) where the caller has them (else computed here)."""
        desc = self.describe(l_small) if desc is None else desc
        with self.unet.autocast():
            cells = self.head(desc, l_small)
        return agree(self.unet.auto(l_small), upsample_cells(cells, l_small), self.head.cfg.spread)


def _empty_input(net: ColorizerNet, l_small: torch.Tensor, autocast: Autocast) -> tuple[torch.Tensor, torch.Tensor]:
    """The U-Net with all-zero ab input and mask (automatic colorization) -> (ab, its bottleneck)."""
    n, _, h, w = l_small.shape
    empty = torch.zeros(n, 2, h, w, device=l_small.device)
    with autocast():
        out, bottleneck = net.forward_with_bottleneck(normalize_l(l_small), empty, empty[:, :1])
    return denormalize_ab(out.float()), bottleneck


class MatchHints:
    def __init__(
        self,
        matcher: Matcher,
        sparse: SparseRefiner | None,
        dense: DenseRefiner | None,
        related: RelatednessConfig | None = None,
        automatic: SparseRefiner | DenseRefiner | SemanticAuto | None = None,
    ) -> None:
        """``automatic``: the refinement whose ``auto`` gives the fallback's colours (default: the dense one)."""
        self.matcher, self.sparse, self.dense = matcher, sparse, dense
        self.related = related or RelatednessConfig()
        self.automatic = automatic or dense or sparse

    def __call__(self, l_small, frame: FrameCells, reference, mask, relate: Relate | None = None):
        """The frames' cells (``matcher.describe``) matched to the reference's -> (matched ab, final ab), both
        (N, 2, h, w). The relatedness decides per frame (``relate``: a stretch's state, chain/relatedness.py;
        without it each frame is judged on its own): where the reference shows too little of the frames the final
        colours fall back to the automatic ones, and where it is a view of the shot the matched colours are placed
        in sub-cells (both by weights from the relatedness)."""
        verdict, ab_match, final = self.refined(l_small, frame, reference, mask, relate)
        if verdict is not None and verdict.weights is not None:  # most batches need no automatic colours
            auto = self.automatic.auto(l_small, frame.desc)
            final = torch.lerp(auto, final, verdict.weights.view(-1, 1, 1, 1))
        return ab_match, final

    def refined(self, l_small, frame: FrameCells, reference, mask, relate: Relate | None = None):
        """The matched colours, placed as far as the relatedness says, and refined -> (the verdict or None,
        matched ab, refined ab (N, 2, h, w)), before any fallback to the automatic colours."""
        m = self.matcher.match(frame, reference)
        verdict = None
        if m.share is not None:
            verdict = relate(m.share) if relate is not None else judge(m.share, self.related)[0]
        placing = verdict.placing if verdict is not None and m.top is not None else None
        ab_match = None if placing is not None and verdict.placed else upsample_cells(m.ab, l_small)
        if placing is not None:
            fine = upsample_cells(self.matcher.place(frame, reference, m), l_small)
            ab_match = fine if ab_match is None else torch.lerp(ab_match, fine, placing.view(-1, 1, 1, 1))
        weight = F.interpolate(m.confidence, size=l_small.shape[-2:], mode="bilinear", align_corners=False)
        if self.dense is not None:
            return verdict, ab_match, self.dense(l_small, ab_match, weight)
        return verdict, ab_match, weight * ab_match + (1 - weight) * self.sparse(l_small, ab_match, mask)


class TransferHints:
    def __init__(self, transfer: TransferNet, sparse: SparseRefiner, autocast: Autocast) -> None:
        self.transfer, self.sparse, self.autocast = transfer, sparse, autocast

    def __call__(self, l_small, reference, mask) -> dict[str, torch.Tensor]:
        """-> ``auto`` (the pre-colorization), ``transfer`` (T_ab) and ``paper`` (T_ab refined)."""
        pre = self.sparse.auto(l_small)
        with self.autocast():
            rgb_t = self.transfer(lab_to_rgb(torch.cat([l_small, pre], dim=1)), reference.stats).float()
        coarse = rgb_to_lab(rgb_t.clamp(0, 1))[:, 1:]
        return {"auto": pre, "transfer": coarse, "paper": self.sparse(l_small, coarse, mask)}
