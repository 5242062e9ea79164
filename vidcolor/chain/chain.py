"""The per-batch chain at working size: which hint source runs for a reference, and the extra rows eval asks for.

One object per run of the predictor: it owns the refinements and hint sources (hint_sources.py) built on the nets
the predictor placed on its device, and the seeded hint patterns (drawn once per working size and seed, reused for
every frame of a shot). Tensors in, tensors out: ab in Lab units, (N, 2, h, w).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import TYPE_CHECKING

import torch

from vidcolor.chain.hint_sources import DenseRefiner, MatchHints, Relate, SemanticAuto, SparseRefiner, TransferHints
from vidcolor.chain.hints import hint_pattern
from vidcolor.chain.matching import Matcher
from vidcolor.errors import VidcolorError
from vidcolor.models import ColorizerNet, TransferNet
from vidcolor.models.autohead import AutoHead
from vidcolor.models.gate import ColourGate
from vidcolor.models.matcher import MatcherHead
from vidcolor.models.placement import PlacementHead

if TYPE_CHECKING:
    from vidcolor.chain.reference import Reference

PATTERNS_KEPT = 8  # a film with many shots must not keep every shot's pattern


class Chain:
    def __init__(
        self,
        hints: str,
        transfer: TransferNet | None,
        colorizer: ColorizerNet | None,
        head: MatcherHead | None,
        refiner: ColorizerNet | None,
        gate: ColourGate | None,
        autocast: Callable,
        hint_density: float,
        hint_patch: int,
        device: torch.device,
        placement: PlacementHead | None = None,
        auto_head: AutoHead | None = None,
    ) -> None:
        self.hints, self.hint_density, self.device = hints, hint_density, device
        self.has_transfer, self.has_colorizer = transfer is not None, colorizer is not None
        self._patterns: dict[tuple[int, int, int], torch.Tensor] = {}
        self.sparse = SparseRefiner(colorizer, hint_patch, autocast) if colorizer is not None else None
        self.dense = DenseRefiner(refiner, autocast, gate) if refiner is not None else None
        # Automatic colours (no reference, or one that shows nothing of the shot): the sparse-hint U-Net with no
        # hints scored above the refiner on an empty match on the dev set (24.38 against 24.04 dB), the validation
        # split (23.24 against 22.74) and the eval photos (20.29 against 20.15); the refiner's only with a trained
        # colour gate, which was trained on its colours (docs/weights.md).
        use_dense = self.dense is not None and (gate is not None or self.sparse is None)
        self.automatic = self.dense if use_dense else self.sparse
        self.matcher = self.match_hints = self.transfer_hints = None
        if transfer is not None:
            self.matcher = Matcher(transfer.encoder, head, autocast, fine_head=placement)
            if auto_head is not None and self.automatic is self.sparse:
                # colours from what the VGG19 descriptors (which the matcher computes anyway) say a frame shows:
                # the U-Net's own scored below gray on three dev sequences (docs/weights.md)
                self.automatic = SemanticAuto(self.sparse, auto_head, self.matcher.frozen_descriptors)
            self.match_hints = MatchHints(self.matcher, self.sparse, self.dense, automatic=self.automatic)
            if self.sparse is not None:
                self.transfer_hints = TransferHints(transfer, self.sparse, autocast)

    @property
    def semantic_auto(self) -> bool:
        """Whether the automatic colours are the auto head's (which reads the frames' descriptors)."""
        return isinstance(self.automatic, SemanticAuto)

    def pattern(self, h: int, w: int, seed: int) -> torch.Tensor:
        """Hint positions for a working size, drawn once per (size, seed) and reused for every frame."""
        key = (h, w, seed)
        if key not in self._patterns:
            if len(self._patterns) >= PATTERNS_KEPT:
                self._patterns.pop(next(iter(self._patterns)))
            self._patterns[key] = hint_pattern(h, w, self.hint_density, seed).to(self.device)
        return self._patterns[key]

    def auto(self, l_small: torch.Tensor) -> torch.Tensor:
        """Automatic colorization: the auto head's colours where there is one, else the sparse U-Net with no hints
        (the refiner on an empty match with a gate)."""
        return self.automatic.auto(l_small)

    def __call__(
        self,
        l_small: torch.Tensor,
        reference: Reference | None,
        hint_seed: int = 0,
        every: bool | Collection[str] = False,
        relate: Relate | None = None,
    ) -> dict[str, torch.Tensor]:
        """See ``Predictor.stages``."""

        def want(*names: str) -> bool:
            return every is True or (not isinstance(every, bool) and any(n in every for n in names))

        if not self.has_colorizer:
            raise VidcolorError("this predictor was built without the colorization sub-net")
        if reference is not None and not self.has_transfer:
            raise VidcolorError("this predictor was built without the transfer sub-net")
        if reference is None:
            ab_auto = self.auto(l_small)
            return {"auto": ab_auto, "ab": ab_auto}
        out: dict[str, torch.Tensor] = {}
        mask = self.pattern(*l_small.shape[-2:], hint_seed)
        if want("auto"):
            out["auto"] = self.auto(l_small)
        if want("transfer", "paper") or self.hints == "transfer":
            out = {**self.transfer_hints(l_small, reference, mask), **out}  # "auto" stays the automatic row
        if want("match", "exemplar_match") or self.hints == "match":
            out["match"], out["exemplar_match"] = self.match_hints(
                l_small, self.matcher.describe(l_small, self.semantic_auto), reference, mask, relate
            )
        out["ab"] = out["paper"] if self.hints == "transfer" else out["exemplar_match"]
        return out
