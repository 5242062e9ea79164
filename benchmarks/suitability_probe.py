"""Probe for issue 26's unrelated-reference floor: can a small learned score tell a reference of the shot's own scene
(another frame of its sequence, any gap) from one of another scene, where the mutual share and match statistics
cannot (session 19: a logistic regression over them kept 98 % of own pairs only by letting 85 % of other-scene
pairs through)?

From the feature store (training/build_store.py: frozen VGG19 descriptors of davis-train, never the eval material):
per target cell (cells pooled 2 x 2), its descriptor, the descriptor of the reference cell it matches best through
the committed matcher head, that similarity, whether the two are mutual nearest neighbours, and the reference
cells' mean best similarity -> a per-cell MLP (1,539 -> 64 -> 32), mean- and max-pooled -> a logit. Trained on the
18 training sequences (half own pairs: another frame of the target's sequence; half another sequence's frame),
batch 8, Adam 1e-3, 1,200 steps; scored on the validation split (every 3rd frame against its own frame 0 and
against another validation sequence's frame 0): AUC, and the share of other-scene pairs rejected where 98 % / 100 %
of own pairs are kept. Not wired into the chain: a measurement for the next step.

    python benchmarks/suitability_probe.py --store runs/store --json benchmarks/results/suitability-probe.json
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from training.train_real import open_stores  # noqa: E402
from vidcolor import weights  # noqa: E402
from vidcolor.config import MatcherConfig  # noqa: E402
from vidcolor.evaluate.runner import environment  # noqa: E402
from vidcolor.models.matcher import MatcherHead  # noqa: E402


class Cells:
    """Each stored frame's cells (pooled 2 x 2): unit descriptors (768, P) and the matcher head's keys (C, P)."""

    def __init__(self, stores: dict, head: MatcherHead) -> None:
        self.stores, self.head, self.cache = stores, head, {}

    def __call__(self, name: str, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if (name, i) not in self.cache:
            d = F.avg_pool2d(self.stores[name].frame(i)["desc"].float()[None], 2)
            with torch.no_grad():
                self.cache[name, i] = (F.normalize(d, dim=1).flatten(2)[0], self.head(d)[0].flatten(1))
        return self.cache[name, i]


def pair_input(target, reference) -> torch.Tensor:
    """(descriptors, keys) of a target and a reference -> per target cell features (P, 768 + 768 + 3)."""
    (dt, kt), (dr, kr) = target, reference
    sim = kt.T @ kr
    best, at = sim.max(1)
    back = sim.max(0)
    mutual = (back.indices[at] == torch.arange(len(at))).float()
    return torch.cat([dt.T, dr.T[at], best[:, None], mutual[:, None], back.values.mean().expand(len(at))[:, None]], 1)


class Score(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.cell = nn.Sequential(nn.Linear(768 * 2 + 3, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU())
        self.out = nn.Linear(64, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.cell(x)
        return self.out(torch.cat([h.mean(0), h.max(0).values]))[0]


def sample(cells: Cells, names: list[str], rng: random.Random) -> tuple[torch.Tensor, float]:
    """A training pair: half own (another frame of the sequence), half another sequence's frame."""
    n = rng.choice(names)
    length = len(cells.stores[n])
    t = rng.randrange(length)
    if rng.random() < 0.5:
        r = rng.choice([i for i in range(length) if i != t])
        return pair_input(cells(n, t), cells(n, r)), 1.0
    m = rng.choice([x for x in names if x != n])
    return pair_input(cells(n, t), cells(m, rng.randrange(len(cells.stores[m])))), 0.0


def val_pairs(cells: Cells, names: list[str], seed: int = 1) -> list[tuple[torch.Tensor, float]]:
    rng, pairs = random.Random(seed), []
    for n in names:
        others = [m for m in names if m != n]
        for t in range(0, len(cells.stores[n]), 3):
            pairs.append((pair_input(cells(n, t), cells(n, 0)), 1.0))
            pairs.append((pair_input(cells(n, t), cells(rng.choice(others), 0)), 0.0))
    return pairs


@torch.no_grad()
def scored(net: Score, pairs) -> dict:
    s = np.array([net(x).item() for x, _ in pairs])
    y = np.array([label for _, label in pairs])
    own, other = s[y == 1], s[y == 0]
    return {"val_auc": float((own[:, None] > other[None, :]).mean()),
            "rejected_at_98": float((other < np.quantile(own, 0.02)).mean()),
            "rejected_at_100": float((other < own.min()).mean())}  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--store", default="runs/store")
    p.add_argument("--json", required=True)
    args = p.parse_args()
    torch.manual_seed(0)
    state, entry = weights.load_trained("matcher")
    head = MatcherHead(MatcherConfig.from_dict(entry["config"]))
    head.load_state_dict(state)
    head.eval().requires_grad_(False)
    train, val, _ = open_stores(Path(args.store))
    cells = Cells({**train, **val}, head)
    pairs = val_pairs(cells, sorted(val))
    net = Score()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    rng, names, log, t0 = random.Random(0), sorted(train), [], time.time()
    for step in range(1, 1201):
        loss = sum(F.binary_cross_entropy_with_logits(net(x), torch.tensor(y)) for x, y in
                   (sample(cells, names, rng) for _ in range(8))) / 8  # fmt: skip
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 200 == 0:
            log.append({"step": step, "loss": loss.item(), **scored(net, pairs), "seconds": round(time.time() - t0)})
            print(log[-1], flush=True)
    out = {"what": __doc__.split("\n\n")[0], "val_pairs": len(pairs), "log": log,
           "environment": environment(torch.device("cpu"))}  # fmt: skip
    Path(args.json).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
