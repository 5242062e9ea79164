"""Learned correspondence head on the frozen VGG19 trunk (issue 11: "learn what is matched").

The frozen matcher (``correspond.descriptors``) compares relu3_1 + relu4_1 of two gray images by cosine
similarity. This head learns what to compare: keys = unit(frozen descriptor + body(frozen descriptor)), where
``body`` is a 3 x 3 conv (context of the 3 x 3 neighbouring cells) -> ReLU -> 1 x 1 conv whose last layer starts at
zero, so an untrained head IS the frozen matcher and training can only move away from it where that pays. The
softmax temperature is learned too (log-parameterised), and a calibration maps the match's own statistics (best
similarity, margin to the mean, normalised entropy) to the probability that the carried colour is right
(within ``MatcherConfig.tolerance`` Lab units of the truth): a confidence that means something.

Trained by ``training/train_matcher.py`` on two views of one photo (``training/pairs.py``). Shapes in docstrings;
descriptors at stride 8 (one cell per 8 x 8 pixels).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from vidcolor.config import MatcherConfig
from vidcolor.models.correspond import CHUNK, DESC_CHANNELS, TAU


def context_block(hidden: int) -> nn.Sequential:
    """A residual block over a wider context (3 x 3, then 3 x 3 dilated by 2: 7 x 7 cells, 56 x 56 pixels); its
    last layer starts at zero, so adding it changes nothing until trained."""
    block = nn.Sequential(
        nn.Conv2d(DESC_CHANNELS, hidden, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(hidden, hidden, 3, padding=2, dilation=2),
        nn.ReLU(inplace=True),
        nn.Conv2d(hidden, DESC_CHANNELS, 1),
    )
    nn.init.zeros_(block[4].weight)
    nn.init.zeros_(block[4].bias)
    return block


class MatcherHead(nn.Module):
    def __init__(self, cfg: MatcherConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or MatcherConfig()
        self.body = nn.Sequential(
            nn.Conv2d(DESC_CHANNELS, cfg.hidden, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(cfg.hidden, DESC_CHANNELS, 1),
        )
        nn.init.zeros_(self.body[2].weight)
        nn.init.zeros_(self.body[2].bias)
        self.blocks = nn.ModuleList(context_block(cfg.block_hidden) for _ in range(cfg.blocks))
        self.log_tau = nn.Parameter(torch.tensor(math.log(TAU)))
        # calibration: logit = w . (best, margin, entropy) + b; starts as the frozen matcher's sigmoid step
        # (best similarity 0.6, softness 0.05)
        self.calib_w = nn.Parameter(torch.tensor([20.0, 0.0, 0.0]))
        self.calib_b = nn.Parameter(torch.tensor(-12.0))

    @property
    def tau(self) -> torch.Tensor:
        return self.log_tau.exp()

    def forward(self, desc: torch.Tensor) -> torch.Tensor:
        """Frozen unit descriptors (N, 768, h, w) -> learned unit keys (N, 768, h, w)."""
        desc = desc.float()
        x = desc + self.body(desc)
        for block in self.blocks:
            x = x + block(x)
        return F.normalize(x.float(), dim=1)

    def confidence(self, stats: torch.Tensor) -> torch.Tensor:
        """Match statistics (N, 3, h, w) from ``warp`` -> probability (N, 1, h, w) that the colour is right."""
        logit = torch.einsum("nchw,c->nhw", stats, self.calib_w) + self.calib_b
        return torch.sigmoid(logit)[:, None]

    def warp(
        self, keys_t: torch.Tensor, keys_r: torch.Tensor, values: torch.Tensor, share: bool = False, top: int = 0
    ) -> tuple[torch.Tensor, ...]:
        """Soft warp with the learned temperature.

        keys_t (N, C, h, w), keys_r (N or 1, C, P) reference keys, values (N or 1, 2, P) their ab ->
        ab (N, 2, h, w) and stats (N, 3, h, w) = best similarity, best minus mean similarity, entropy / log P;
        with ``share`` also each frame's mutual-nearest-neighbour share (N,) (``mutual_share``); with ``top`` also
        each frame cell's ``top`` best reference cells: (similarities (N, h*w, top), indices (N, h*w, top)), for
        the placement of the colours inside the cell (models/placement.py).
        Differentiable (training) and chunked over target cells (inference at large sizes).
        """
        n, c, h, w = keys_t.shape
        q = keys_t.float().flatten(2).transpose(1, 2)  # (N, h*w, C)
        keys_r, values = keys_r.float().expand(n, -1, -1), values.float().expand(n, -1, -1)
        log_p = math.log(max(keys_r.shape[-1], 2))
        ab_parts, stat_parts, rows, tops = [], [], [], []
        top = min(top, keys_r.shape[-1])
        cols = None  # per reference cell: its best similarity over the frame's cells so far, and which cell
        for start in range(0, h * w, CHUNK):
            sim = q[:, start : start + CHUNK] @ keys_r  # (N, chunk, P)
            attn = torch.softmax(sim / self.tau, dim=-1)
            ab_parts.append(attn @ values.transpose(1, 2))  # (N, chunk, 2)
            entropy = -(attn * attn.clamp_min(1e-12).log()).sum(-1) / log_p
            best, best_at = sim.max(-1)
            stat_parts.append(torch.stack([best, best - sim.mean(-1), entropy], dim=-1))
            if share:
                rows.append(best_at)
                cols = best_columns(sim.detach(), start, cols)
            if top:
                tops.append(sim.detach().topk(top, dim=-1))
        ab = torch.cat(ab_parts, 1).transpose(1, 2).reshape(n, 2, h, w)
        stats = torch.cat(stat_parts, 1).transpose(1, 2).reshape(n, 3, h, w)
        out = (ab, stats)
        if share:
            out += (mutual_share(torch.cat(rows, 1), cols[1]),)
        if top:
            out += ((torch.cat([t.values for t in tops], 1), torch.cat([t.indices for t in tops], 1)),)
        return out


def best_columns(sim: torch.Tensor, start: int, cols: tuple | None) -> tuple[torch.Tensor, torch.Tensor]:
    """One chunk of similarities (N, chunk, P) whose first row is the frame's cell ``start``, and the running best
    per reference cell (values (N, P), frame cells (N, P), or None) -> the running best with this chunk in."""
    value, at = sim.max(1)
    at = at + start
    if cols is None:
        return value, at
    better = value > cols[0]
    return torch.where(better, value, cols[0]), torch.where(better, at, cols[1])


def mutual_share(rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """Each frame cell's best reference cell (N, Q) and each reference cell's best frame cell (N, P) -> the share
    (N,) in [0, 1] of the frame's cells that are their best reference cell's best frame cell (mutual nearest
    neighbours): how much of the frame the reference shows at all. Measured with the committed head
    (benchmarks/match_confidence.py): 0.036-1.0 per frame against its own sequence's first frame, at most 0.027
    against an unrelated landscape."""
    q = torch.arange(rows.shape[1], device=rows.device)
    return (cols.gather(1, rows) == q).float().mean(1)
