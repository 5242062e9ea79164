"""Which prepared reference colours a shot of `vidcolor run` (and a previewed frame).

- ``PreparedReferences``: a set of reference files -> its prepared reference (statistics and correspondence cells,
  several files combined), each set prepared once per run: a file used by ten shots is read once.
- ``ShotReferences``: a shot -> its reference: the plan's files for it, or, for a folder of unindexed references,
  the one whose signature best matches the shot's first frame (each choice recorded with its score).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vidcolor.chain.predictor import Predictor
from vidcolor.chain.reference import Reference
from vidcolor.io.image import read_image
from vidcolor.shots.refs import ReferencePlan


class PreparedReferences:
    def __init__(self, predictor: Predictor) -> None:
        self.predictor = predictor
        self._references: dict[tuple[Path, ...], Reference] = {}

    def __call__(self, paths: tuple[Path, ...]) -> Reference | None:
        """The prepared (combined) reference of a set of files; None (automatic colorization) for none."""
        if not paths:
            return None
        if paths not in self._references:
            prepared = [self.predictor.prepare_reference(read_image(p), p.name) for p in paths]
            self._references[paths] = Reference.combine(prepared)
        return self._references[paths]


class ShotReferences:
    def __init__(self, predictor: Predictor, plan: ReferencePlan) -> None:
        self.predictor, self.plan = predictor, plan
        self.prepared = PreparedReferences(predictor)
        self.assignments: list[dict] = []  # per detected shot: the chosen reference and its match score
        self._signatures = None

    def __call__(self, shot: int, first_gray: np.ndarray | None, start: int) -> tuple[Reference | None, int]:
        """The prepared reference of a shot and its hint seed."""
        if self.plan.candidates:
            from vidcolor.shots.assign import best_match, signature

            if self._signatures is None:
                self._signatures = [signature(self.predictor, read_image(p)) for p in self.plan.candidates]
            best, scores = best_match(signature(self.predictor, first_gray), self._signatures)
            paths = (self.plan.candidates[best],)
            self.assignments.append({"start": start, "reference": [str(paths[0])], "score": scores[best]})
        else:
            paths = self.plan.segments[shot].paths
        return self.prepared(paths), shot
