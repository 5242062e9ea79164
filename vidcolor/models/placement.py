"""Placing matched colours finer than the match (issue 26: "finer-stride features to place colour at edges").

The matcher compares 8 x 8 cells (relu3_1 pooled + relu4_1, stride 8), so a thin or small thing (a leg, a wheel, a
pole) gets the mean colour of its cell. Fed the TRUE mean colour per cell, the refiner scores 32.40 dB on the
validation split at 8 x 8 cells and 33.89 at 4 x 4 (benchmarks/oracle_stride.py): where a colour lands inside a
cell is worth about as much as the whole gap to the issue's floor. Matching at stride 4 costs 16 times the
similarities; placing costs little: each frame cell keeps its ``top`` best reference cells (from the match it made
anyway), and each of its 4 sub-cells (4 x 4 pixels) chooses among those cells' 4 sub-cells by the similarity of the
frozen relu3_1 descriptors (native at stride 4), weighted by the parent match:

    w(sub-cell j of q -> sub-cell c of reference cell p) ~ softmax_p(sim(q, p) / tau) * exp(cos(f_j, f_pc) / tau_fine)

normalised over the 4 * top candidates; the colour is the weighted mean of their mean ab. Pure functions; shapes
in the docstrings; ab in Lab units.

``PlacementHead`` learns the sub-cell descriptors from real pairs (training/train_placement.py): f + body(f),
renormalised, with ``body`` a 1 x 1 -> 3 x 3 -> 1 x 1 residual whose last layer starts at zero (an untrained head
IS the frozen placement), and learns tau_fine and how far the parent match weighs (``prior``).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from vidcolor.config import PlacementConfig

FINE_LAYER = "conv3_1"
FINE_CHANNELS = 256


def fine_descriptors(relu3: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """relu3_1 features (N, 256, H/4, W/4) (the VGG encoder's ``FINE_LAYER``) and the match's cell grid (h, w) ->
    (N, 256, 2h, 2w) unit descriptors of the sub-cells: centred and normalised per position, pooled to twice the grid
    (exact at stride 8; a coarsened grid's sub-cells are its cells' quarters), normalised again."""
    f = relu3.float()
    f = F.normalize(f - f.mean(dim=1, keepdim=True), dim=1)
    size = (2 * grid[0], 2 * grid[1])
    if tuple(f.shape[-2:]) != size:
        f = F.adaptive_avg_pool2d(f, size)
    return F.normalize(f, dim=1).contiguous(memory_format=torch.channels_last)  # ``place`` reads it per position


def sub_cells(x: torch.Tensor) -> torch.Tensor:
    """(N, C, 2h, 2w) -> (N, C, h * w, 4): each cell's 4 sub-cells, in the order (0, 0), (0, 1), (1, 0), (1, 1)."""
    n, c, h2, w2 = x.shape
    x = x.reshape(n, c, h2 // 2, 2, w2 // 2, 2).permute(0, 1, 2, 4, 3, 5)
    return x.reshape(n, c, (h2 // 2) * (w2 // 2), 4)


def sub_cell_rows(x: torch.Tensor) -> torch.Tensor:
    """(N, D, 2h, 2w) -> (N, h * w, 4, D): each cell's 4 sub-cells (order of ``sub_cells``) as rows of D (fast from
    channels-last memory: whole rows are copied)."""
    n, d, h2, w2 = x.shape
    rows = x.permute(0, 2, 3, 1).reshape(n, h2 // 2, 2, w2 // 2, 2, d).permute(0, 1, 3, 2, 4, 5)
    return rows.reshape(n, (h2 // 2) * (w2 // 2), 4, d)


def from_sub_cells(x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """The inverse of ``sub_cells``: (N, C, h * w, 4) -> (N, C, 2h, 2w)."""
    n, c = x.shape[:2]
    return x.reshape(n, c, h, w, 2, 2).permute(0, 1, 2, 4, 3, 5).reshape(n, c, 2 * h, 2 * w)


def reference_sub_cells(fine: torch.Tensor, ab: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A reference's sub-cell descriptors (1, D, 2h, 2w) and its ab (1, 2, H, W) -> keys (P, 4, D) and values
    (P, 4, 2) (P = h * w, the cells' order of ``reference_cells``; a cell's rows are contiguous, so gathering the
    candidates copies whole rows): the descriptor and mean ab of each cell's sub-cells. Several references combine
    by concatenating P."""
    ab_sub = F.adaptive_avg_pool2d(ab.float(), fine.shape[-2:])
    return sub_cell_rows(fine)[0].contiguous(), sub_cell_rows(ab_sub)[0].contiguous()


def candidate_logits(
    parents: torch.Tensor,
    parent_sims: torch.Tensor,
    fine: torch.Tensor,
    ref_fine: torch.Tensor,
    ref_values: torch.Tensor,
    tau: float | torch.Tensor,
    tau_fine: float | torch.Tensor,
    prior_scale: float | torch.Tensor = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One frame's candidates: parents (Q, k), parent_sims (Q, k), fine (1, D, 2h, 2w), the reference's (P, 4, D) and
    (P, 4, 2) -> log-weights (Q, 4, 4k) of each sub-cell over its cell's 4k candidate sub-cells (normalised) and the
    candidates' colours (Q, 4k, 2). ``prior_scale`` weighs the parent match's log-probabilities."""
    q, k = parents.shape
    d = ref_fine.shape[-1]
    prior = prior_scale * torch.log_softmax(parent_sims.float() / tau, dim=-1)  # (Q, k)
    cand = ref_fine[parents].reshape(q, 4 * k, d)  # (Q, 4k, D): the k cells' 4 sub-cells each
    f = sub_cell_rows(fine)[0].to(cand.dtype)  # (Q, 4, D)
    sim = torch.bmm(f, cand.transpose(1, 2)).float()  # (Q, 4, 4k)
    values = ref_values[parents].reshape(q, 4 * k, 2).float()
    return torch.log_softmax(prior.repeat_interleave(4, dim=-1)[:, None] + sim / tau_fine, dim=-1), values


def place(
    parents: torch.Tensor,
    parent_sims: torch.Tensor,
    fine: torch.Tensor,
    ref_fine: torch.Tensor,
    ref_values: torch.Tensor,
    tau: float | torch.Tensor,
    tau_fine: float | torch.Tensor,
    prior_scale: float | torch.Tensor = 1.0,
) -> torch.Tensor:
    """The colours of a frame's sub-cells.

    parents (N, Q, k) each frame cell's k best reference cells and parent_sims (N, Q, k) their similarities (the
    match's); fine (N, D, 2h, 2w) the frame's sub-cell descriptors (Q = h * w); ref_fine (P, 4, D) and ref_values
    (P, 4, 2) the reference's (``reference_sub_cells``) -> ab (N, 2, 2h, 2w): each sub-cell's candidates' colours
    weighted by ``candidate_logits``. One frame at a time: the gathered candidates take N * Q * 4k * D floats
    otherwise. Differentiable in the descriptors and temperatures (training).
    """
    h, w = fine.shape[-2] // 2, fine.shape[-1] // 2
    out = []
    for i in range(len(parents)):
        logits, values = candidate_logits(
            parents[i], parent_sims[i], fine[i : i + 1], ref_fine, ref_values, tau, tau_fine, prior_scale
        )
        ab = torch.bmm(logits.exp(), values)  # (Q, 4, 2)
        out.append(from_sub_cells(ab.permute(2, 0, 1)[None], h, w))
    return torch.cat(out)


class PlacementHead(nn.Module):
    """Learned sub-cell descriptors and placement temperatures (trained on real pairs; see the module's text)."""

    def __init__(self, cfg: PlacementConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or PlacementConfig()
        self.body = nn.Sequential(
            nn.Conv2d(FINE_CHANNELS, cfg.hidden, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(cfg.hidden, cfg.hidden, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(cfg.hidden, FINE_CHANNELS, 1),
        )
        nn.init.zeros_(self.body[4].weight)
        nn.init.zeros_(self.body[4].bias)
        self.log_tau = nn.Parameter(torch.tensor(math.log(cfg.tau)))
        self.prior_scale = nn.Parameter(torch.tensor(1.0))

    @property
    def tau(self) -> torch.Tensor:
        return self.log_tau.exp()

    def forward(self, fine: torch.Tensor) -> torch.Tensor:
        """Frozen sub-cell descriptors (N, 256, 2h, 2w) (``fine_descriptors``) -> learned unit descriptors, same
        shape (channels-last, as ``place`` reads them)."""
        x = fine + self.body(fine)
        return F.normalize(x.float(), dim=1).contiguous(memory_format=torch.channels_last)
