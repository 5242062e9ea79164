"""Know when a reference does not show the shot: fall back from matched to automatic colours (issue 26).

The refiner turns even a weak match into confident colour: a reference of another scene coloured the dev set at
20.07 dB, below its gray input (22.37), where the automatic colours score 24.03. Per frame the match can tell: the
share of the frame's cells that are mutual nearest neighbours with the reference's cells (models/matcher.py
``mutual_share``) is at most 0.027 against an unrelated landscape and at least 0.036 against the sequence's own
first frame. Within a stretch (a shot, or a chunk of one: the propagation's) the relatedness is the best share so
far, so a hard frame of a shot that the reference does show (a turn, an occlusion) keeps its matched colours:

    related_t = max(share_s for s in the stretch up to t),    w_t = clamp((related_t - low) / (high - low), 0, 1)
    ab_t = lerp(auto_t, matched_t, w_t)

The state is one number per stretch, reset where the propagation restarts (cuts, reference changes, chunk starts),
so a resumed or sharded run colours every frame as one run does; a still (``Predictor.colorize``) is a stretch of
its own. Pure tensors on the networks' device; the host reads whether any frame of a batch falls back (then the
automatic colours are computed for the batch) until the stretch's best share reaches ``high``, then no more.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from vidcolor.config import RelatednessConfig


def fallback_weight(related: torch.Tensor, cfg: RelatednessConfig) -> torch.Tensor:
    """Relatedness (N,) in [0, 1] -> the weight (N,) in [0, 1] of the matched colours against the automatic."""
    return ((related - cfg.low) / (cfg.high - cfg.low)).clamp(0, 1)


def running_best(shares: torch.Tensor, starts: Sequence[bool], best: torch.Tensor | None) -> torch.Tensor:
    """Frames' shares (N,) in display order, where each starts a stretch, and the best share of the stretch before
    the first (a 0-d tensor or None) -> each frame's best share so far in its stretch (N,)."""
    out = []
    for share, start in zip(shares, starts, strict=True):
        best = share if start or best is None else torch.maximum(best, share)
        out.append(best)
    return torch.stack(out)


def kept(weights: torch.Tensor) -> torch.Tensor | None:
    """The matched colours' weights (N,) -> themselves, or None when every frame keeps its matched colours (one
    wait for the device)."""
    return None if bool((weights >= 1).all()) else weights


class Relatedness:
    """The relatedness of the stretch being coloured (its best share so far): ``weights`` per batch, ``restart``
    to forget it. Once the stretch's best share reaches ``high`` (read from the device once) its frames keep their
    matched colours without another look until the next stretch starts: on CUDA no batch of such a stretch waits
    for the device here."""

    def __init__(self, config: RelatednessConfig | None = None) -> None:
        self.config = config or RelatednessConfig()
        self.best: torch.Tensor | None = None
        self.settled = False  # the stretch's best share has reached ``high``
        self.fallbacks = 0  # frames so far that took automatic colours (in part or whole), for the run's report

    def restart(self) -> None:
        self.best, self.settled = None, False

    def weights(self, shares: torch.Tensor, starts: Sequence[bool] | None = None) -> torch.Tensor | None:
        """A batch's shares (N,) in display order and where a stretch starts (None: continues the last one) ->
        the matched colours' weights (N,), or None where every frame keeps them."""
        starts = list(starts) if starts is not None else [False] * len(shares)
        if self.settled and not any(starts):
            return None
        related = running_best(shares, starts, self.best)
        self.best = related[-1]
        weights = fallback_weight(related, self.config)
        full = (weights >= 1).tolist()  # the one wait for the device
        self.settled = full[-1]
        self.fallbacks += full.count(False)
        return None if all(full) else weights
