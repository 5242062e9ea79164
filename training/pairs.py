"""Synthetic training pairs for the learned matcher and refinement: two views of one photo.

A view is a square crop of a photo, resampled to ``size`` x ``size``: centre, side (in source pixels), rotation and
horizontal flip. The target and the reference are two views of the SAME photo with partial overlap, the reference
at 0.5-2x the target's scale and a small relative rotation, sometimes flipped, with a small brightness/contrast
change (as between frames of one shot). Because both are resampled from one image, the true correspondence is
known: ``visible`` marks the target cells whose centre the reference shows (ground truth for "should match" vs
"nothing to match"). A pair is a pure function of (image, seed): the same seed gives the same pair.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

CELL = 8


@dataclass(frozen=True)
class View:
    cx: float  # centre in source pixels
    cy: float
    side: float  # side of the square region in source pixels
    angle: float  # radians
    flip: bool

    def matrix(self) -> np.ndarray:
        """2 x 3 map from view coordinates u in [-1, 1]^2 to source pixels: p = A u + c."""
        c, s = math.cos(self.angle), math.sin(self.angle)
        rot = np.array([[c, -s], [s, c]]) * (self.side / 2)
        if self.flip:
            rot = rot @ np.diag([-1.0, 1.0])
        return np.concatenate([rot, [[self.cx], [self.cy]]], axis=1)


@dataclass
class Pair:
    target: torch.Tensor  # (3, S, S) RGB in [0, 1]
    reference: torch.Tensor  # (3, S, S) RGB in [0, 1]
    visible: torch.Tensor  # (S/8, S/8) 1 where the reference shows the target cell's centre
    overlap: float  # share of visible target cells


def _grid(view: View, h: int, w: int, size: int) -> torch.Tensor:
    """Sampling grid (1, size, size, 2) in grid_sample's normalised coordinates (align_corners=False)."""
    u = (torch.arange(size, dtype=torch.float64) + 0.5) / size * 2 - 1
    uy, ux = torch.meshgrid(u, u, indexing="ij")
    a = torch.from_numpy(view.matrix())
    px = a[0, 0] * ux + a[0, 1] * uy + a[0, 2]
    py = a[1, 0] * ux + a[1, 1] * uy + a[1, 2]
    return torch.stack([2 * px / w - 1, 2 * py / h - 1], dim=-1)[None].float()


def render(image: torch.Tensor, view: View, size: int) -> torch.Tensor:
    """image (3, H, W) in [0, 1] -> the view (3, size, size) (bilinear; outside the photo: reflected)."""
    h, w = image.shape[-2:]
    return F.grid_sample(
        image[None], _grid(view, h, w, size), mode="bilinear", padding_mode="reflection", align_corners=False
    )[0].clamp(0, 1)


def visibility(target: View, reference: View, h: int, w: int, size: int) -> torch.Tensor:
    """(size/8, size/8): 1 where a target cell's centre lies inside the reference view and inside the photo."""
    n = size // CELL
    u = (np.arange(n) + 0.5) / n * 2 - 1
    uy, ux = np.meshgrid(u, u, indexing="ij")
    pts = np.stack([ux.ravel(), uy.ravel(), np.ones(n * n)])  # (3, n*n)
    p = target.matrix() @ pts  # source pixels (2, n*n)
    ar = reference.matrix()
    ur = np.linalg.solve(ar[:, :2], p - ar[:, 2:])
    inside_ref = np.abs(ur).max(axis=0) <= 1.0
    inside_img = (p[0] >= 0) & (p[0] <= w) & (p[1] >= 0) & (p[1] <= h)
    return torch.from_numpy((inside_ref & inside_img).reshape(n, n).astype(np.float32))


def sample_views(h: int, w: int, rng: random.Random) -> tuple[View, View]:
    """Target and reference views of one h x w photo: partial overlap, reference scale 0.5-2x the target's,
    relative rotation up to 10 degrees, relative flip 30 % of the time."""
    short = min(h, w)
    side_t = short * rng.uniform(0.45, 0.85)
    side_r = min(short, side_t * math.exp(rng.uniform(math.log(0.5), math.log(2.0))))

    def centre(side: float) -> tuple[float, float]:
        return rng.uniform(side / 2, w - side / 2), rng.uniform(side / 2, h - side / 2)

    cx, cy = centre(side_t)
    # reference centre: a random offset up to 0.6 x the mean half-side, kept inside the photo
    r = 0.6 * (side_t + side_r) / 2 * math.sqrt(rng.random())
    phi = rng.uniform(0, 2 * math.pi)
    rx = min(max(cx + r * math.cos(phi), side_r / 2), w - side_r / 2)
    ry = min(max(cy + r * math.sin(phi), side_r / 2), h - side_r / 2)
    angle_t = math.radians(rng.uniform(-5, 5))
    angle_r = angle_t + math.radians(rng.uniform(-10, 10))
    flip_t = rng.random() < 0.5
    flip_r = flip_t != (rng.random() < 0.3)
    return View(cx, cy, side_t, angle_t, flip_t), View(rx, ry, side_r, angle_r, flip_r)


def make_pair(image: np.ndarray, size: int, seed: int) -> Pair:
    """(H, W, 3) uint8 photo -> a target/reference pair of ``size`` x ``size`` views (size a multiple of 8)."""
    if size % CELL:
        raise ValueError(f"size {size} is not a multiple of {CELL}")
    rng = random.Random(seed)
    img = torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1).float() / 255.0
    h, w = img.shape[-2:]
    view_t, view_r = sample_views(h, w, rng)
    target = render(img, view_t, size)
    gain, offset = rng.uniform(0.85, 1.15), rng.uniform(-0.05, 0.05)
    reference = (render(img, view_r, size) * gain + offset).clamp(0, 1)
    vis = visibility(view_t, view_r, h, w, size)
    return Pair(target, reference, vis, float(vis.mean()))


def distractor(image: np.ndarray, size: int, seed: int) -> torch.Tensor:
    """A random view of an unrelated photo (3, size, size): pooled into the reference to teach rejection."""
    rng = random.Random(seed)
    img = torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1).float() / 255.0
    view, _ = sample_views(*img.shape[-2:], rng)
    return render(img, view, size)
