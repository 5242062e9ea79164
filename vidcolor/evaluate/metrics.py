"""Quality metrics for colorization, pure functions on uint8 RGB arrays (H, W, 3) or frame lists.

- PSNR and SSIM (Wang et al. 2004: 11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03, per RGB channel, averaged;
  computed by kornia.metrics.ssim, torch imported on the first call) on 8-bit RGB against ground truth.
- Colourfulness (Hasler & Suesstrunk 2003): sigma_rgyb + 0.3 * mu_rgyb with rg = R - G, yb = (R + G) / 2 - B.
- CDC (Liu et al.): Jensen-Shannon divergence (natural log, so in [0, ln 2]) between the per-channel 256-bin
  RGB histograms of frames t and t + d, averaged over channels, t and d in (1, 2, 4). Lower = steadier.
- Warp error (Lai et al. 2018): mean over t of the occlusion-masked mean of ||O_t - warp(O_{t-1})||^2 (RGB in
  [0, 1], summed over channels), with the flow computed once on the ground truth (OpenCV DIS) so every method is
  judged on the same motion.
"""

from __future__ import annotations

import cv2
import numpy as np

SSIM_RADIUS = 5  # the 11 x 11 window's half-width


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM over the pixels whose 11 x 11 window lies inside the image, then over the channels: kornia's SSIM
    map (Gaussian window, sigma 1.5, data range 255, no eps) cropped to that valid part. An image with a side under
    11 pixels is first mirrored by 5 pixels on every side (edge pixel included, OpenCV's BORDER_REFLECT), so the
    whole map is scored. float32 on contiguous tensors (kornia's fast CPU path): within 5e-6 of float64."""
    import torch
    from kornia.metrics import ssim as kornia_ssim

    if a.ndim == 2:
        a, b = a[..., None], b[..., None]
    if min(a.shape[:2]) <= 2 * SSIM_RADIUS:
        pad = ((SSIM_RADIUS, SSIM_RADIUS), (SSIM_RADIUS, SSIM_RADIUS), (0, 0))
        a, b = np.pad(a, pad, mode="symmetric"), np.pad(b, pad, mode="symmetric")

    def tensor(x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1), dtype=np.float32))[None]

    with torch.inference_mode():
        ssim_map = kornia_ssim(tensor(a), tensor(b), 2 * SSIM_RADIUS + 1, max_val=255.0, eps=0.0, padding="valid")
    return float(ssim_map.mean(dim=(0, 2, 3), dtype=torch.float64).mean())


def colorfulness(rgb: np.ndarray) -> float:
    x = rgb.astype(np.float64)
    rg = x[..., 0] - x[..., 1]
    yb = 0.5 * (x[..., 0] + x[..., 1]) - x[..., 2]
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def _histograms(frame: np.ndarray) -> np.ndarray:
    """(3, 256) normalised per-channel histograms."""
    h = np.stack([np.bincount(frame[..., c].ravel(), minlength=256) for c in range(3)]).astype(np.float64)
    return h / h.sum(axis=1, keepdims=True)


def js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    m = 0.5 * (p + q)

    def kl(x, y):
        nz = x > 0
        return float(np.sum(x[nz] * np.log(x[nz] / y[nz])))

    return 0.5 * kl(p, m) + 0.5 * kl(q, m)


def cdc(frames: list[np.ndarray], steps: tuple[int, ...] = (1, 2, 4)) -> float:
    hists = [_histograms(f) for f in frames]
    per_step = []
    for d in steps:
        pairs = [
            np.mean([js_divergence(hists[t][c], hists[t + d][c]) for c in range(3)]) for t in range(len(hists) - d)
        ]
        if pairs:
            per_step.append(np.mean(pairs))
    return float(np.mean(per_step)) if per_step else float("nan")


class FlowCache:
    """Optical flow between consecutive ground-truth frames, computed once and reused for every method."""

    def __init__(self, gt_frames: list[np.ndarray]) -> None:
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        gray = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in gt_frames]
        self.pairs = []  # (map_x, map_y, mask) to warp frame t-1 onto frame t
        for t in range(1, len(gray)):
            fw = dis.calc(gray[t], gray[t - 1], None)  # for each pixel of t, where it is in t-1
            bw = dis.calc(gray[t - 1], gray[t], None)
            h, w = fw.shape[:2]
            gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
            map_x, map_y = gx + fw[..., 0], gy + fw[..., 1]
            bw_at = cv2.remap(bw, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            diff = np.sum((fw + bw_at) ** 2, axis=-1)
            bound = 0.01 * (np.sum(fw**2, axis=-1) + np.sum(bw_at**2, axis=-1)) + 0.5
            inside = (map_x >= 0) & (map_x <= w - 1) & (map_y >= 0) & (map_y <= h - 1)
            self.pairs.append((map_x, map_y, (diff < bound) & inside))


def warp_error(frames: list[np.ndarray], flows: FlowCache) -> float:
    errors = []
    for t, (map_x, map_y, mask) in enumerate(flows.pairs, start=1):
        prev = frames[t - 1].astype(np.float32) / 255.0
        warped = cv2.remap(prev, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        err = np.sum((frames[t].astype(np.float32) / 255.0 - warped) ** 2, axis=-1)
        if mask.any():
            errors.append(float(err[mask].mean()))
    return float(np.mean(errors)) if errors else float("nan")
