"""Where each pixel of a frame came from, and how far to trust it: torch, batched, on any device.

The optical flow is the host's (motion.py: OpenCV's DIS); everything made from it is here, so that on CUDA the host
only runs the flow and the device does the rest of the propagation's maths for a whole batch in a few kernels
(the host's per-frame work, and its trips through the interpreter's lock, were what held `run` under the codecs'
speed on a many-core CUDA host). For every pixel of frame t:

- where it was in frame t - 1: its position plus the flow t -> t - 1 (``positions``);
- the trust in [0, 1] (``flow_trust``): zero where the point leaves the frame or where the flow fails the
  forward-backward check (t -> t-1 -> t must come back within 0.7 px + 10 % of the motion: occlusions and flow
  errors, Sundaram et al. 2010), and exp(-|L_t - warped L_{t-1}| / sigma) elsewhere (a changed luminance means a
  different surface).

The anchor (``follow``, ``anchor_trust``): when a shot starts from its reference, each pixel is also followed back
to the reference through the chain of flows, and the reference's own colour is taken wherever the luminance around
the followed point still matches the reference's (a local photometric check, not the product of every step's trust:
a track the frame-to-frame check lost is found again when it matches).

Shapes: N frames of h x w; positions and flows (N, h, w, 2) in pixels (x, y); grays (N, h, w), 0..255 (``gray_u8``)
as any dtype. Results are float32. Nothing here waits for the device (no host numbers copied in, none read out).
Sampling is bilinear with the border replicated (OpenCV's remap, which the host version of this module used, with
exact instead of 1/32-pixel weights).
"""

from __future__ import annotations

import functools

import torch
from torch.nn import functional as F

from vidcolor.models.filters import box_mean


@functools.lru_cache(maxsize=8)
def _pixel_grid(h: int, w: int, device: torch.device) -> torch.Tensor:
    """Each pixel's own position (h, w, 2) (x, y), float32; built once per working shape and device."""
    gy, gx = torch.meshgrid(
        torch.arange(h, dtype=torch.float32, device=device),
        torch.arange(w, dtype=torch.float32, device=device),
        indexing="ij",
    )
    return torch.stack([gx, gy], dim=-1)


def positions(flow: torch.Tensor) -> torch.Tensor:
    """Flow (N, h, w, 2) in pixels -> absolute positions (N, h, w, 2) (x, y) in the other frame."""
    return _pixel_grid(flow.shape[1], flow.shape[2], flow.device) + flow.float()


@functools.lru_cache(maxsize=16)
def _unit_scale(h: int, w: int, device: torch.device) -> torch.Tensor:
    """(2,) pixels -> [-1, 1] scale for x and y, filled on the device (a tensor made from a host list is a copy
    that synchronises on CUDA: the model thread would wait for the device)."""
    x, y = (torch.full((), 2.0 / max(n - 1, 1), device=device) for n in (w, h))
    return torch.stack([x, y])


def to_unit(pos: torch.Tensor, h: int | None = None, w: int | None = None) -> torch.Tensor:
    """Pixel positions (N, h', w', 2) in an h x w image (default: the positions' own shape) -> ``grid_sample``
    coordinates in [-1, 1] (align_corners=True)."""
    h = pos.shape[1] if h is None else h
    w = pos.shape[2] if w is None else w
    return pos * _unit_scale(h, w, pos.device) - 1.0


def sample(x: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """(N, C, h, w) sampled bilinearly at pixel positions (N, h', w', 2), the border replicated -> (N, C, h', w')."""
    grid = to_unit(pos, x.shape[2], x.shape[3])
    return F.grid_sample(x.float(), grid, mode="bilinear", padding_mode="border", align_corners=True)


def _squared_norm(v: torch.Tensor) -> torch.Tensor:
    """(..., 2) -> (...) x^2 + y^2."""
    return v[..., 0] * v[..., 0] + v[..., 1] * v[..., 1]


def _inside(pos: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """(N, h', w', 2) positions -> (N, h', w') bool: within an h x w image."""
    x, y = pos[..., 0], pos[..., 1]
    return (x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)


def flow_trust(
    prev: torch.Tensor, cur: torch.Tensor, back: torch.Tensor, ahead: torch.Tensor, sigma: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Grays of frames t - 1 and t (N, h, w), their flows t -> t - 1 (``back``) and t - 1 -> t (``ahead``)
    (N, h, w, 2) -> (positions (N, h, w, 2) in frame t - 1 of each pixel of frame t, trust (N, h, w) in [0, 1])."""
    h, w = cur.shape[1:]
    back, ahead = back.float(), ahead.float()
    pos = positions(back)
    ahead_at = sample(ahead.permute(0, 3, 1, 2), pos).permute(0, 2, 3, 1)
    round_trip = _squared_norm(back + ahead_at)
    bound = 0.01 * (_squared_norm(back) + _squared_norm(ahead_at)) + 0.5
    warped = sample(prev[:, None], pos)[:, 0]
    change = (cur.float() - warped).abs() / 255.0
    trust = torch.exp(-change / sigma) * ((round_trip < bound) & _inside(pos, h, w))
    return pos, trust


def follow(anchor_pos: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """Anchor positions (N, h, w, 2) of frame t - 1's pixels and frame t's positions in t - 1 (``flow_trust``) ->
    anchor positions (N, h, w, 2) of frame t's pixels (the flows composed)."""
    return sample(anchor_pos.permute(0, 3, 1, 2), pos).permute(0, 2, 3, 1)


def box_blur(x: torch.Tensor, window: int) -> torch.Tensor:
    """(N, h, w) mean over a ``window``-pixel square, borders mirrored without repeating the edge (OpenCV's
    ``blur`` with its default border), by running sums (models/filters.py)."""
    return box_mean(x[:, None], window)[:, 0]


def anchor_trust(
    cur: torch.Tensor, anchor: torch.Tensor, anchor_pos: torch.Tensor, sigma: float, window: int
) -> torch.Tensor:
    """Grays (N, h, w) of the frames, grays (N, h', w') of their anchors and the frames' positions in them
    (N, h, w, 2) -> trust (N, h, w) in [0, 1]: exp(-mean |L - anchor L at the position| over a ``window``-pixel
    square / sigma), zero where the position left the anchor."""
    seen = sample(anchor[:, None], anchor_pos)[:, 0]
    change = (cur.float() - seen).abs() / 255.0
    if window > 1:
        change = box_blur(change, window)
    return torch.exp(-change / sigma) * _inside(anchor_pos, *anchor.shape[1:])
