"""A reference prepared for the chain (its statistics and correspondence cells on the predictor's device).

Its own module, below both the predictor that makes it and the chain that uses it."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vidcolor.models import ReferenceStats


@dataclass(frozen=True)
class Reference:
    """A prepared reference on the predictor's device: its statistics at the 8 AdaIN points, and its cells for
    correspondence: ``keys`` (C, P) VGG descriptors of its gray version, ``values`` (2, P) mean ab per cell; and
    ``seeds``, per reference image its gray (h, w) uint8 on the host and ab (2, h, w) at working size, from which
    the propagation starts a shot that the reference is a view of; ``fine`` (P, 4, 256) and ``fine_values`` (P, 4, 2)
    its cells' sub-cells, where matched colours are placed finer than the cells (models/placement.py), else None."""

    stats: ReferenceStats
    keys: torch.Tensor
    values: torch.Tensor
    name: str = ""
    seeds: tuple = ()
    fine: torch.Tensor | None = None
    fine_values: torch.Tensor | None = None

    @staticmethod
    def combine(refs: list[Reference]) -> Reference:
        """Several references for one shot: statistics moment-matched, cells pooled (each target cell then
        matches its best cell in any of them)."""
        if len(refs) == 1:
            return refs[0]
        placed = all(r.fine is not None for r in refs)
        return Reference(
            ReferenceStats.average([r.stats for r in refs]),
            torch.cat([r.keys for r in refs], dim=1),
            torch.cat([r.values for r in refs], dim=1),
            "+".join(r.name for r in refs),
            tuple(s for r in refs for s in r.seeds),
            torch.cat([r.fine for r in refs]) if placed else None,
            torch.cat([r.fine_values for r in refs]) if placed else None,
        )
