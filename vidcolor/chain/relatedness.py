"""Know when a reference does not show the shot: fall back from matched to automatic colours (issue 26).

The refiner turns even a weak match into confident colour: a reference of another scene coloured the dev set at
20.07 dB, below its gray input (22.37), where the automatic colours score 24.03. Per frame the match can tell: the
share of the frame's cells that are mutual nearest neighbours with the reference's cells (models/matcher.py
``mutual_share``) is at most 0.027 against an unrelated landscape and at least 0.036 against the sequence's own
first frame. Within a stretch (a shot, or a chunk of one: the propagation's) the relatedness is the best share so
far, so a hard frame of a shot that the reference does show (a turn, an occlusion) keeps its matched colours:

    related_t = max(share_s for s in the stretch up to t),    w_t = clamp((related_t - low) / (high - low), 0, 1)
    ab_t = lerp(auto_t, matched_t, w_t)

A stretch whose best share reaches ``place_low`` .. ``place_high`` has a reference that is a view of the shot: its
matched colours are also placed in sub-cells (models/placement.py), which pays where the reference shows the same
things at the same scale and not for another photo of a scene:

    p_t = clamp((related_t - place_low) / (place_high - place_low), 0, 1),    matched_t = lerp(cells_t, placed_t, p_t)


The state is one number per stretch, reset where the propagation restarts (cuts, reference changes, chunk starts),
so a resumed or sharded run colours every frame as one run does; a still (``Predictor.colorize``) is a stretch of
its own. Pure tensors on the networks' device; the host reads whether any frame of a batch falls back (then the
automatic colours are computed for the batch) and which are placed until the stretch's best share reaches both
``high`` and ``place_high``, then no more.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch

from vidcolor.config import RelatednessConfig


def fallback_weight(related: torch.Tensor, cfg: RelatednessConfig) -> torch.Tensor:
    """Relatedness (N,) in [0, 1] -> the weight (N,) in [0, 1] of the matched colours against the automatic."""
    return ((related - cfg.low) / (cfg.high - cfg.low)).clamp(0, 1)


class Verdict(NamedTuple):
    """What a batch's relatedness decides: ``weights`` (N,) of the matched colours against the automatic ones, None
    where every frame keeps them; ``placing`` (N,) in [0, 1], how far each frame's matched colours are placed in
    sub-cells, None where no frame's are; ``placed``: every frame's are, fully."""

    weights: torch.Tensor | None
    placing: torch.Tensor | None
    placed: bool = False


def placing_weight(related: torch.Tensor, cfg: RelatednessConfig) -> torch.Tensor:
    """Relatedness (N,) -> how far (N,) in [0, 1] the matched colours are placed in sub-cells."""
    return ((related - cfg.place_low) / (cfg.place_high - cfg.place_low)).clamp(0, 1)


def judge(related: torch.Tensor, cfg: RelatednessConfig) -> tuple[Verdict, bool]:
    """Relatedness (N,) -> the verdict, and whether the last frame keeps and fully places its colours (one wait for
    the device)."""
    weights, placing = fallback_weight(related, cfg), placing_weight(related, cfg)
    full, some, placed = torch.stack([weights >= 1, placing > 0, placing >= 1]).tolist()
    verdict = Verdict(None if all(full) else weights, placing if any(some) else None, all(placed))
    return verdict, full[-1] and placed[-1]


def running_best(shares: torch.Tensor, starts: Sequence[bool], best: torch.Tensor | None) -> torch.Tensor:
    """Frames' shares (N,) in display order, where each starts a stretch, and the best share of the stretch before
    the first (a 0-d tensor or None) -> each frame's best share so far in its stretch (N,)."""
    out = []
    for share, start in zip(shares, starts, strict=True):
        best = share if start or best is None else torch.maximum(best, share)
        out.append(best)
    return torch.stack(out)


class Relatedness:
    """The relatedness of the stretch being coloured (its best share so far): ``verdict`` per batch, ``restart``
    to forget it. Once the stretch's best share reaches ``high`` and ``place_high`` (read from the device once) its
    frames keep and place their matched colours without another look until the next stretch starts: on CUDA no
    batch of such a stretch waits for the device here."""

    def __init__(self, config: RelatednessConfig | None = None) -> None:
        self.config = config or RelatednessConfig()
        self.best: torch.Tensor | None = None
        self.settled = False  # the stretch's best share has reached ``high`` and ``place_high``
        self.fallbacks = 0  # frames so far that took automatic colours (in part or whole), for the run's report

    def restart(self) -> None:
        self.best, self.settled = None, False

    def verdict(self, shares: torch.Tensor, starts: Sequence[bool] | None = None) -> Verdict:
        """A batch's shares (N,) in display order and where a stretch starts (None: continues the last one) ->
        its verdict."""
        starts = list(starts) if starts is not None else [False] * len(shares)
        if self.settled and not any(starts):
            return Verdict(None, torch.ones_like(shares), True)
        related = running_best(shares, starts, self.best)
        self.best = related[-1]
        verdict, self.settled = judge(related, self.config)
        if verdict.weights is not None:
            self.fallbacks += int((verdict.weights < 1).sum())
        return verdict
