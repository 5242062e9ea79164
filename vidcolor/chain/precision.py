"""Which number format the networks run in, on the device they run on (issue 28: the CPU at its limit).

- CUDA: bf16 where the GPU supports it (no overflow risk), else fp16; channels-last tensors (cuDNN's tensor
  cores).
- CPU: bf16 where the CPU computes it natively (x86 ``avx512_bf16`` or ``amx_bf16``, ARM ``bf16``; read from
  /proc/cpuinfo, or sysctl on a Mac), with channels-last tensors (oneDNN's blocked bf16 convolutions); else fp32.
  A CPU that only emulates bf16 is slower in it than in fp32, so it is never chosen there unless asked for.

Only the convolutional networks run in the chosen format (autocast); the matching's softmax at temperature ~0.01,
the colour conversions and the propagation stay in float32. ``requested``: auto, fp32, bf16 or fp16 (the
``--precision`` option; ``$VIDCOLOR_PRECISION`` is the default for auto, so CI can force either on one CPU).
"""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch

from vidcolor.errors import VidcolorError

CHOICES = ("auto", "fp32", "bf16", "fp16")
ENV = "VIDCOLOR_PRECISION"
DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Precision:
    name: str  # fp32, bf16 or fp16
    channels_last: bool
    why: str  # for the run's summary line

    @property
    def dtype(self) -> torch.dtype | None:
        """The autocast dtype, None for fp32."""
        return DTYPES[self.name]

    def describe(self) -> str:
        return f"{self.name}{', channels-last' if self.channels_last else ''} ({self.why})"


def cpuinfo_says_bf16(text: str) -> bool:
    """/proc/cpuinfo's text -> whether its flags (x86) or features (ARM) name native bf16."""
    flags = set()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            flags.update(line.split(":", 1)[-1].split())
    return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})


@lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 in hardware (not emulated)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        text = ""
    if text:
        return cpuinfo_says_bf16(text)
    if platform.system() == "Darwin":
        try:
            out = subprocess.run(["sysctl", "-n", "hw.optional.arm.FEAT_BF16"], capture_output=True, text=True)
            return out.stdout.strip() == "1"
        except OSError:
            return False
    return False


def choose(device: torch.device, requested: str | None = None) -> Precision:
    """The precision for ``device``: ``requested`` (auto, fp32, bf16, fp16; None or auto reads $VIDCOLOR_PRECISION,
    then decides by the hardware)."""
    requested = (requested or "auto").lower()
    if requested == "auto":
        requested = (os.environ.get(ENV) or "auto").lower()
        source = f"${ENV}" if requested != "auto" else None
    else:
        source = "--precision"
    if requested not in CHOICES:
        raise VidcolorError(f"{source or '--precision'} {requested}: choose one of {', '.join(CHOICES)}")
    cuda = device.type == "cuda"
    if requested == "auto":
        if cuda:
            name = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
            return Precision(name, True, "CUDA")
        if cpu_has_native_bf16():
            return Precision("bf16", True, "the CPU computes bf16 natively")
        return Precision("fp32", False, "the CPU has no native bf16")
    if requested == "fp16" and not cuda:
        raise VidcolorError(f"{source} fp16: only on CUDA (use bf16 or fp32 on a CPU)")
    return Precision(requested, cuda or requested == "bf16", f"{source}")
