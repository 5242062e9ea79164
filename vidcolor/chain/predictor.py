"""Inference wrapper: owns device, dtype and working resolution; batch of frames + prepared reference in,
colour frames out.

Per reference (once): resize to the working size, run the transfer sub-net to get its 8 AdaIN statistics, and
keep the VGG descriptors + mean ab of its 8 x 8 cells for correspondence (models/correspond.py).
Per batch: L at full size -> L at working size -> hint source -> ab hints at a fixed, seeded pattern ->
refinement (U-Net) -> ab upsampled to full size -> recombined with the full-resolution L, chroma reduced where it
would leave the RGB gamut. Two hint sources:

- ``match`` (default): the gray target matched to the reference (matching.py: the frozen VGG19 descriptors
  through the learned head when its weights exist); the reference's ab carried along the matches (soft warp),
  upsampled edge-aware (guided filter on L). With the trained refiner, the refiner turns L + the dense matched ab
  + the confidence into the final ab (with an empty match it is also the automatic colorizer); without it, the
  matched ab where the match is confident and the sparse-hint U-Net's elsewhere. Video adds the propagation
  (propagation.py: colours carried along the motion, one object per shot, applied by the caller's ``temporal``).
- ``transfer`` (the paper): pre-colorization (U-Net, empty hints) -> transfer sub-net against the cached statistics
  -> coarse T_ab -> hints -> refinement.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

import numpy as np
import torch
from torch.nn import functional as F

from vidcolor.chain.chain import Chain
from vidcolor.chain.hint_sources import Relate
from vidcolor.chain.loading import load_networks
from vidcolor.chain.motion import gray_u8
from vidcolor.chain.precision import choose as choose_precision
from vidcolor.chain.preflight import check_size
from vidcolor.chain.reference import Reference
from vidcolor.color import (
    gray_u8_to_l,
    lab_to_rgb_keep_l,
    rgb_to_l,
    rgb_to_lab,
)
from vidcolor.errors import VidcolorError
from vidcolor.models import ColorizerNet, TransferNet
from vidcolor.models.autohead import AutoHead
from vidcolor.models.gate import ColourGate
from vidcolor.models.matcher import MatcherHead
from vidcolor.models.placement import PlacementHead

HINT_SOURCES = ("match", "transfer")


def working_shape(h: int, w: int, size: int) -> tuple[int, int]:
    """Short side ``size`` (never upscaling past the source by more than needed), both sides multiples of 8."""
    scale = size / min(h, w)
    return max(8, round(h * scale / 8) * 8), max(8, round(w * scale / 8) * 8)


def _as_u8(frames: np.ndarray) -> torch.Tensor:
    """(N, H, W) or (N, H, W, 1|3) uint8 -> contiguous (N, H, W, C) uint8 tensor (copied only when read-only)."""
    frames = np.ascontiguousarray(frames if frames.ndim == 4 else frames[..., None])
    if not frames.flags.writeable:  # e.g. np.asarray of a PIL image: torch wants writable memory
        frames = frames.copy()
    return torch.from_numpy(frames)


def to_float01(frames: np.ndarray) -> torch.Tensor:
    """(N, H, W) or (N, H, W, 1|3) uint8 -> (N, C, H, W) float in [0, 1]."""
    return _as_u8(frames).permute(0, 3, 1, 2).float() / 255.0


def _ready(net: torch.nn.Module | None, device: torch.device) -> torch.nn.Module | None:
    """A network on the device in inference mode (None stays None)."""
    return net.to(device).eval() if net is not None else None


def to_uint8_frames(rgb: torch.Tensor) -> np.ndarray:
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
        head: MatcherHead | None = None,
        refiner: ColorizerNet | None = None,
        precision: str | None = None,
        gate: ColourGate | None = None,
        placement: PlacementHead | None = None,
        auto_head: AutoHead | None = None,
    ) -> None:
        if hints not in HINT_SOURCES:
            raise VidcolorError(f"--hints {hints}: choose one of {', '.join(HINT_SOURCES)}")
        self.device = pick_device(device)
        self.size = check_size(size)
        # the networks' number format (chain/precision.py): bf16 where the CPU or GPU computes it natively;
        # ``half`` (tests) forces half precision on or off
        if half is not None:
            precision = (
                ("bf16" if self.device.type == "cpu" or torch.cuda.is_bf16_supported() else "fp16") if half else "fp32"
            )
        self.transfer, self.colorizer, self.refiner = (_ready(n, self.device) for n in (transfer, colorizer, refiner))
        self.set_precision(precision)
        self.hint_density, self.hint_patch = hint_density, hint_patch
        head = _ready(head, self.device)
        gate = _ready(gate if refiner is not None else None, self.device)  # a gate acts on the refiner's colours
        placement = _ready(placement if head is not None else None, self.device)  # it places the head's matches
        auto_head = _ready(auto_head, self.device)
        self.chain = Chain(
            hints,
            self.transfer,
            self.colorizer,
            head,
            self.refiner,
            gate,
            self._autocast,
            hint_density,
            hint_patch,
            self.device,
            placement,
            auto_head,
        )
        self.matcher, self.sparse, self.dense = self.chain.matcher, self.chain.sparse, self.chain.dense

    @property
    def hints(self) -> str:
        """The hint source of the chain: ``match`` or ``transfer``."""
        return self.chain.hints

    @hints.setter
    def hints(self, source: str) -> None:
        self.chain.hints = source

    def set_precision(self, requested: str | None = None) -> None:
        """The networks' number format and memory layout (chain/precision.py): auto, fp32, bf16 or fp16."""
        self.precision = choose_precision(self.device, requested)
        self.amp_dtype = self.precision.dtype
        layout = torch.channels_last if self.precision.channels_last else torch.contiguous_format
        for net in (self.transfer, self.colorizer, self.refiner):
            if net is not None:
                net.to(memory_format=layout)

    # ------------------------------------------------------------------ construction from weight files
    @classmethod
    def from_pretrained(
        cls,
        vgg: str | None = None,
        device: str = "auto",
        size: int = 256,
        need_transfer: bool = True,
        need_colorizer: bool = True,
        matcher: str = "learned",
        **kw,
    ) -> Predictor:
        """Load VGG19 (via weights.resolve_vgg) and the project's trained sub-nets from weights/.

        ``matcher="learned"`` takes the learned matching head and the refiner when the manifest has them (else the
        frozen matcher and the sparse-hint chain, as before they were trained); ``"frozen"`` never takes them."""
        size = check_size(size)
        dev = pick_device(device)
        nets = load_networks(vgg, dev.type, need_transfer, need_colorizer, matcher)
        return cls(
            nets.transfer,
            nets.colorizer,
            dev,
            size,
            head=nets.head,
            refiner=nets.refiner,
            gate=nets.gate,
            placement=nets.placement,
            auto_head=nets.auto_head,
            **kw,
        )

    # ------------------------------------------------------------------ references
    def _autocast(self):
        if self.amp_dtype is None:
            return torch.autocast(self.device.type, enabled=False)
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def resize_rgb(self, rgb: torch.Tensor) -> torch.Tensor:
        hs, ws = working_shape(rgb.shape[-2], rgb.shape[-1], self.size)
        return F.interpolate(rgb, size=(hs, ws), mode="bilinear", align_corners=False, antialias=True).clamp(0, 1)

    @torch.no_grad()
    def prepare_reference(self, image: np.ndarray, name: str = "") -> Reference:
        """(H, W, 3) uint8 colour reference -> cached statistics (the only pass the reference ever makes)."""
        if self.transfer is None:
            raise VidcolorError("this predictor was built without the transfer sub-net")
        return self.reference_at_working_size(self.resize_rgb(to_float01(image[None]).to(self.device)), name)

    def reference_at_working_size(self, rgb_ref: torch.Tensor, name: str = "") -> Reference:
        """(1, 3, h, w) RGB in [0, 1], already at the working size -> statistics + correspondence cells."""
        with self._autocast():
            stats = self.transfer.reference_stats(rgb_ref)
        lab = rgb_to_lab(rgb_ref)
        cells = self.matcher.reference(lab)
        seed = (gray_u8(lab[0, 0].float().cpu().numpy()), lab[0, 1:].float())
        return Reference(stats.to(dtype=torch.float32), cells.keys, cells.values, name, (seed,), *cells[2:])

    def _upload(self, frames: np.ndarray) -> torch.Tensor:
        """uint8 (N, H, W[, C]) -> uint8 (N, C, H, W) on the device (a quarter of the float bytes cross the bus);
        on CUDA through pinned memory with a non-blocking copy."""
        x = _as_u8(frames)
        if self.device.type == "cuda":
            x = x.pin_memory().to(self.device, non_blocking=True)
        return x.permute(0, 3, 1, 2)

    # ------------------------------------------------------------------ frames
    @torch.no_grad()
    def colorize(
        self,
        frames: np.ndarray,
        reference: Reference | None = None,
        hint_seed: int = 0,
    ) -> np.ndarray:
        """(N, H, W) gray or (N, H, W, 3) RGB uint8 frames -> (N, H, W, 3) uint8 colour frames, each on its own.

        Colour input is reduced to its luminance first. Without ``reference``: automatic colorization.
        """
        x = self._upload(frames)  # (N, 1|3, H, W) uint8
        l_full = gray_u8_to_l(x) if x.shape[1] == 1 else rgb_to_l(x.float() / 255.0)  # (N, 1, H, W), L 0..100
        ab_full = self.predict_ab(l_full, reference, hint_seed)
        return to_uint8_frames(lab_to_rgb_keep_l(l_full, ab_full))

    def predict_ab(
        self,
        l_full: torch.Tensor,
        reference: Reference | None,
        hint_seed: int = 0,
        size: tuple[int, int] | None = None,
        temporal: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """(N, 1, H, W) L -> (N, 2, H, W) ab in Lab units at the same size (or at ``size``, e.g. the chroma's).
        ``temporal``: applied to the working-size ab (N, 2, h, w) before upsampling (the shot's propagation)."""
        ab_small = self.small_ab(l_full, reference, hint_seed, temporal)
        return F.interpolate(ab_small, size=size or l_full.shape[-2:], mode="bilinear", align_corners=False)

    def small_ab(
        self,
        l_full: torch.Tensor,
        reference: Reference | None,
        hint_seed: int = 0,
        temporal: Callable[[torch.Tensor], torch.Tensor] | None = None,
        relate: Relate | None = None,
    ) -> torch.Tensor:
        """(N, 1, H, W) L -> (N, 2, h, w) ab at the working size (``working_shape``), ``temporal`` applied.
        ``relate``: the shot's relatedness to its reference (``stages``)."""
        hs, ws = working_shape(*l_full.shape[-2:], self.size)
        l_small = F.interpolate(l_full, size=(hs, ws), mode="bilinear", align_corners=False, antialias=True)
        ab_small = self.stages(l_small, reference, hint_seed, relate=relate)["ab"]
        return temporal(ab_small) if temporal is not None else ab_small

    def stages(
        self,
        l_small: torch.Tensor,
        reference: Reference | None,
        hint_seed: int = 0,
        every: bool | Collection[str] = False,
        relate: Relate | None = None,
    ):
        """The chain at working size (ab tensors in Lab units, (N, 2, h, w)); ``ab`` is the final one.

        Also returned: ``auto`` (automatic colorization), and with a reference ``match`` (matched ab) and
        ``exemplar_match``, or ``transfer`` (coarse T_ab) + ``paper`` (refinement fed from T_ab), depending on the
        hint source; ``every=True`` computes all of them (for evaluation), ``every=names`` those named. ``relate``:
        frames' mutual-neighbour shares with the reference (N,) -> the matched colours' weights (a stretch's
        ``Relatedness``, chain/relatedness.py); None: each frame judged on its own."""
        return self.chain(l_small, reference, hint_seed, every, relate)


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
