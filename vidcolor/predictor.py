"""Inference wrapper: owns device, dtype and working resolution; batch of frames + prepared reference in,
colour frames out.

Per reference (once): resize to the working size, run the transfer sub-net to get its 8 AdaIN statistics, and
keep the VGG descriptors + mean ab of its 8 x 8 cells for correspondence (models/correspond.py).
Per batch: L at full size -> L at working size -> hint source -> ab hints at a fixed, seeded pattern ->
refinement (U-Net) -> ab upsampled to full size -> recombined with the full-resolution L, chroma reduced where it
would leave the RGB gamut. Two hint sources:

- ``match`` (default): the gray target's VGG descriptors matched to the reference's; the reference's ab carried
  along the matches (soft warp), upsampled edge-aware (guided filter on L). The final ab is the matched ab where
  the match is confident and the refinement net's (fed with hints from the matched ab) where it is not.
- ``transfer`` (the paper): pre-colorization (U-Net, empty hints) -> transfer sub-net against the cached statistics
  -> coarse T_ab -> hints -> refinement.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import numpy as np
import torch
from kornia.filters import guided_blur
from torch.nn import functional as F

from vidcolor import weights
from vidcolor.color import (
    caffe_preprocess,
    denormalize_ab,
    gray_u8_to_l,
    l_to_gray_rgb,
    lab_to_rgb,
    lab_to_rgb_keep_l,
    normalize_ab,
    normalize_l,
    rgb_to_l,
    rgb_to_lab,
)
from vidcolor.config import ColorizerConfig, TransferConfig
from vidcolor.errors import VidcolorError, WeightsError
from vidcolor.hints import apply_hints, hint_pattern
from vidcolor.models import ColorizerNet, ReferenceStats, TransferNet
from vidcolor.models.correspond import coarsen, confidence_weight, descriptors, reference_cells, soft_warp

RANDOM_WEIGHTS_ENV = "VIDCOLOR_TEST_RANDOM_WEIGHTS"  # test-only switch: random-init sub-nets when untrained
MIN_SIZE, MAX_SIZE = 64, 4096
HINT_SOURCES = ("match", "transfer")
GUIDE_RADIUS, GUIDE_EPS = 4, 1e-3  # guided filter for the matched ab: 9 x 9 window, L scaled to [0, 1]


@dataclass(frozen=True)
class Reference:
    """A prepared reference on the predictor's device: its statistics at the 8 AdaIN points, and its cells for
    correspondence: ``keys`` (C, P) VGG descriptors of its gray version, ``values`` (2, P) mean ab per cell."""

    stats: ReferenceStats
    keys: torch.Tensor
    values: torch.Tensor
    name: str = ""

    @staticmethod
    def combine(refs: list[Reference]) -> Reference:
        """Several references for one shot: statistics moment-matched, cells pooled (each target cell then
        matches its best cell in any of them)."""
        if len(refs) == 1:
            return refs[0]
        return Reference(
            ReferenceStats.average([r.stats for r in refs]),
            torch.cat([r.keys for r in refs], dim=1),
            torch.cat([r.values for r in refs], dim=1),
            "+".join(r.name for r in refs),
        )


def working_shape(h: int, w: int, size: int) -> tuple[int, int]:
    """Short side ``size`` (never upscaling past the source by more than needed), both sides multiples of 8."""
    scale = size / min(h, w)
    return max(8, round(h * scale / 8) * 8), max(8, round(w * scale / 8) * 8)


def check_size(size: int) -> int:
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise VidcolorError(f"--size {size}: working size must be between {MIN_SIZE} and {MAX_SIZE} pixels")
    return (size + 7) // 8 * 8


def _as_u8(frames: np.ndarray) -> torch.Tensor:
    """(N, H, W) or (N, H, W, 1|3) uint8 -> contiguous (N, H, W, C) uint8 tensor (copied only when read-only)."""
    frames = np.ascontiguousarray(frames if frames.ndim == 4 else frames[..., None])
    if not frames.flags.writeable:  # e.g. np.asarray of a PIL image: torch wants writable memory
        frames = frames.copy()
    return torch.from_numpy(frames)


def _to_tensor(frames: np.ndarray) -> torch.Tensor:
    """(N, H, W) or (N, H, W, 1|3) uint8 -> (N, C, H, W) float in [0, 1]."""
    return _as_u8(frames).permute(0, 3, 1, 2).float() / 255.0


def _to_uint8(rgb: torch.Tensor) -> np.ndarray:
    """(N, 3, H, W) in [0, 1] -> (N, H, W, 3) uint8."""
    return (rgb.clamp(0, 1) * 255.0).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


class Predictor:
    def __init__(
        self,
        transfer: TransferNet | None,
        colorizer: ColorizerNet | None,
        device: str | torch.device = "auto",
        size: int = 256,
        hint_density: float = 0.01,
        hint_patch: int = 3,
        half: bool | None = None,
        hints: str = "match",
    ) -> None:
        if hints not in HINT_SOURCES:
            raise VidcolorError(f"--hints {hints}: choose one of {', '.join(HINT_SOURCES)}")
        self.device = pick_device(device)
        self.size = check_size(size)
        self.hints = hints
        # Half precision only where it pays: CUDA. bf16 where supported (no overflow risk), else fp16.
        use_half = self.device.type == "cuda" if half is None else half
        if use_half and self.device.type == "cuda":
            self.amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        else:
            self.amp_dtype = None
        # channels_last suits cuDNN's tensor-core convolutions; on CPU the default layout is faster here.
        layout = torch.channels_last if self.device.type == "cuda" else torch.contiguous_format
        self.transfer = transfer.to(self.device, memory_format=layout).eval() if transfer is not None else None
        self.colorizer = colorizer.to(self.device, memory_format=layout).eval() if colorizer is not None else None
        self.hint_density, self.hint_patch = hint_density, hint_patch
        self._patterns: dict[tuple[int, int, int], torch.Tensor] = {}

    # ------------------------------------------------------------------ construction from weight files
    @classmethod
    def from_pretrained(
        cls,
        vgg: str | None = None,
        device: str = "auto",
        size: int = 256,
        need_transfer: bool = True,
        need_colorizer: bool = True,
        **kw,
    ) -> Predictor:
        """Load VGG19 (via weights.resolve_vgg) and the project's trained sub-nets from weights/."""
        size = check_size(size)
        dev = pick_device(device)
        vgg_path = weights.resolve_vgg(vgg) if need_transfer else None  # fail fast, before loading anything
        allow_random = os.environ.get(RANDOM_WEIGHTS_ENV) == "1"
        name = weights.default_colorizer(dev.type)
        colorizer = _load_or_random(name, ColorizerNet, ColorizerConfig, allow_random) if need_colorizer else None
        transfer = None
        if need_transfer:
            transfer = _load_or_random("decoder", TransferNet, TransferConfig, allow_random, attr="decoder")
            transfer.encoder.load_caffe_state_dict(weights.load_vgg_state(vgg_path))
        return cls(transfer, colorizer, dev, size, **kw)

    # ------------------------------------------------------------------ references
    def _autocast(self):
        if self.amp_dtype is None:
            return torch.autocast(self.device.type, enabled=False)
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def _resize_rgb(self, rgb: torch.Tensor) -> torch.Tensor:
        hs, ws = working_shape(rgb.shape[-2], rgb.shape[-1], self.size)
        return F.interpolate(rgb, size=(hs, ws), mode="bilinear", align_corners=False, antialias=True).clamp(0, 1)

    @torch.no_grad()
    def prepare_reference(self, image: np.ndarray, name: str = "") -> Reference:
        """(H, W, 3) uint8 colour reference -> cached statistics (the only pass the reference ever makes)."""
        if self.transfer is None:
            raise VidcolorError("this predictor was built without the transfer sub-net")
        return self.reference_at_working_size(self._resize_rgb(_to_tensor(image[None]).to(self.device)), name)

    def reference_at_working_size(self, rgb_ref: torch.Tensor, name: str = "") -> Reference:
        """(1, 3, h, w) RGB in [0, 1], already at the working size -> statistics + correspondence cells."""
        with self._autocast():
            stats = self.transfer.reference_stats(rgb_ref)
        lab_ref = rgb_to_lab(rgb_ref)
        keys, values = reference_cells(self._descriptors(lab_ref[:, :1]), lab_ref[:, 1:])
        return Reference(stats.to(dtype=torch.float32), keys, values, name)

    def _descriptors(self, l_small: torch.Tensor) -> torch.Tensor:
        """(N, 1, h, w) L -> (N, 768, h/8, w/8) correspondence descriptors of its gray version."""
        with self._autocast():
            feats = self.transfer.encoder(caffe_preprocess(l_to_gray_rgb(l_small)))
        return descriptors(feats)

    def _upload(self, frames: np.ndarray) -> torch.Tensor:
        """uint8 (N, H, W[, C]) -> uint8 (N, C, H, W) on the device (a quarter of the float bytes cross the bus);
        on CUDA through pinned memory with a non-blocking copy."""
        x = _as_u8(frames)
        if self.device.type == "cuda":
            x = x.pin_memory().to(self.device, non_blocking=True)
        return x.permute(0, 3, 1, 2)

    def pattern(self, h: int, w: int, seed: int) -> torch.Tensor:
        """Hint positions for a working size, drawn once per (size, seed) and reused for every frame."""
        key = (h, w, seed)
        if key not in self._patterns:
            if len(self._patterns) >= 8:  # a film with many shots must not keep every shot's pattern
                self._patterns.pop(next(iter(self._patterns)))
            self._patterns[key] = hint_pattern(h, w, self.hint_density, seed).to(self.device)
        return self._patterns[key]

    # ------------------------------------------------------------------ frames
    @torch.no_grad()
    def colorize(self, frames: np.ndarray, reference: Reference | None = None, hint_seed: int = 0) -> np.ndarray:
        """(N, H, W) gray or (N, H, W, 3) RGB uint8 frames -> (N, H, W, 3) uint8 colour frames.

        Colour input is reduced to its luminance first. Without ``reference``: automatic colorization.
        """
        x = self._upload(frames)  # (N, 1|3, H, W) uint8
        l_full = gray_u8_to_l(x) if x.shape[1] == 1 else rgb_to_l(x.float() / 255.0)  # (N, 1, H, W), L 0..100
        ab_full = self.predict_ab(l_full, reference, hint_seed)
        return _to_uint8(lab_to_rgb_keep_l(l_full, ab_full))

    def predict_ab(
        self, l_full: torch.Tensor, reference: Reference | None, hint_seed: int = 0, size: tuple[int, int] | None = None
    ) -> torch.Tensor:
        """(N, 1, H, W) L -> (N, 2, H, W) ab in Lab units at the same size (or at ``size``, e.g. the chroma's)."""
        h, w = l_full.shape[-2:]
        hs, ws = working_shape(h, w, self.size)
        l_small = F.interpolate(l_full, size=(hs, ws), mode="bilinear", align_corners=False, antialias=True)
        ab_small = self.stages(l_small, reference, hint_seed)["ab"]
        return F.interpolate(ab_small, size=size or (h, w), mode="bilinear", align_corners=False)

    def stages(self, l_small: torch.Tensor, reference: Reference | None, hint_seed: int = 0, every: bool = False):
        """The chain at working size (ab tensors in Lab units, (N, 2, h, w)); ``ab`` is the final one.

        Also returned: ``auto`` (pre-colorization), and with a reference ``match`` (matched ab) or ``transfer``
        (coarse T_ab) + ``paper`` (refinement fed from T_ab), depending on the hint source; ``every=True``
        computes all of them (for evaluation)."""
        if self.colorizer is None:
            raise VidcolorError("this predictor was built without the colorization sub-net")
        if reference is not None and self.transfer is None:
            raise VidcolorError("this predictor was built without the transfer sub-net")
        if reference is None:
            ab_auto = self._auto(l_small)
            return {"auto": ab_auto, "ab": ab_auto}
        out: dict[str, torch.Tensor] = {}
        mask = self.pattern(*l_small.shape[-2:], hint_seed)
        if every or self.hints == "transfer":
            out["auto"] = self._auto(l_small)
            rgb_pre = lab_to_rgb(torch.cat([l_small, out["auto"]], dim=1))
            with self._autocast():
                rgb_t = self.transfer(rgb_pre, reference.stats).float()
            out["transfer"] = rgb_to_lab(rgb_t.clamp(0, 1))[:, 1:]
            out["paper"] = self.refine(l_small, out["transfer"], mask)
        if every or self.hints == "match":
            ab_match, weight = self.match(l_small, reference)
            refined = self.refine(l_small, ab_match, mask)
            out["match"] = ab_match
            out["exemplar_match"] = weight * ab_match + (1 - weight) * refined
        out["ab"] = out["paper"] if self.hints == "transfer" else out["exemplar_match"]
        return out

    def _auto(self, l_small: torch.Tensor) -> torch.Tensor:
        n, _, hs, ws = l_small.shape
        empty = torch.zeros(n, 2, hs, ws, device=l_small.device)
        with self._autocast():
            return denormalize_ab(self.colorizer(normalize_l(l_small), empty, empty[:, :1]).float())

    def match(self, l_small: torch.Tensor, reference: Reference) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, 1, h, w) L -> matched ab (N, 2, h, w) in Lab units, and its confidence weight (N, 1, h, w)."""
        size = l_small.shape[-2:]
        ab_cells, confidence = soft_warp(coarsen(self._descriptors(l_small)), reference.keys, reference.values)
        ab = F.interpolate(ab_cells, size=size, mode="bilinear", align_corners=False)
        ab = guided_blur(l_small.float() / 100.0, ab, 2 * GUIDE_RADIUS + 1, GUIDE_EPS)
        weight = F.interpolate(confidence_weight(confidence), size=size, mode="bilinear", align_corners=False)
        return ab, weight

    def refine(self, l_small: torch.Tensor, ab_hint_source: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Refinement U-Net fed with hints sampled from ``ab_hint_source`` at ``mask`` (Lab units in and out)."""
        hints = apply_hints(normalize_ab(ab_hint_source), mask, self.hint_patch)
        with self._autocast():
            ab = self.colorizer(normalize_l(l_small), hints, mask.expand(l_small.shape[0], -1, -1, -1))
        return denormalize_ab(ab.float())

    @torch.no_grad()
    def stylize_small(self, content: np.ndarray, reference: Reference) -> tuple[torch.Tensor, torch.Tensor]:
        """(H, W, 3) uint8 -> (content, transfer output), both (1, 3, h, w) at the working size."""
        if self.transfer is None:
            raise VidcolorError("this predictor was built without the transfer sub-net")
        rgb_small = self._resize_rgb(_to_tensor(content[None]).to(self.device))
        with self._autocast():
            out_small = self.transfer(rgb_small, reference.stats).float()
        return rgb_small, out_small

    @torch.no_grad()
    def stylize(self, content: np.ndarray, reference: Reference) -> np.ndarray:
        """(H, W, 3) uint8 colour content -> stylised (H, W, 3) uint8 at the content's size.

        The network runs at the working size; its CHANGE to the content is upsampled and added to the
        full-resolution content, so fine detail the working size cannot hold is kept (identity stays sharp).
        """
        rgb_small, out_small = self.stylize_small(content, reference)
        rgb_full = _to_tensor(content[None]).to(self.device)
        delta = F.interpolate(out_small - rgb_small, size=content.shape[:2], mode="bilinear", align_corners=False)
        return _to_uint8(rgb_full + delta)[0]


def pick_device(device: str | torch.device) -> torch.device:
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise VidcolorError(f"--device {device}: CUDA is not available on this machine")
    try:
        return torch.device(device)
    except RuntimeError:
        raise VidcolorError(f"--device {device}: not a device (use auto, cpu or cuda)") from None


def _load_or_random(name, model_cls, cfg_cls, allow_random: bool, attr: str | None = None):
    try:
        state, entry = weights.load_trained(name)
    except WeightsError as exc:
        if not allow_random:
            raise WeightsError(
                f"{exc}. vidcolor refuses to colorize with untrained networks "
                f"(tests may set {RANDOM_WEIGHTS_ENV}=1 for random-init weights)"
            ) from None
        msg = f"{name} uses RANDOM-INIT weights ({RANDOM_WEIGHTS_ENV}=1, test mode): output is meaningless"
        print(f"vidcolor: warning: {msg}", file=sys.stderr)
        torch.manual_seed(0)
        return model_cls(cfg_cls())
    model = model_cls(cfg_cls.from_dict(entry["config"]))
    target = getattr(model, attr) if attr else model
    try:
        target.load_state_dict(state)
    except RuntimeError as exc:
        raise WeightsError(f"{name}: weights do not fit the manifest's architecture ({exc})") from None
    return model
