"""Building the networks a Predictor runs from the project's weight files (weights.py finds and verifies them).

VGG19 through ``weights.resolve_vgg``; the decoder, the colorizer chosen for the device, and, when the manifest
has them and ``matcher="learned"``, the learned matching head, its learned placement, the refiner and its colour
gate, and the automatic colours' head (it reads the VGG19 descriptors, so it brings the trunk along; without the
VGG19 file the automatic colours are the U-Net's own, with a warning). Untrained networks are refused unless the
test-only switch ``VIDCOLOR_TEST_RANDOM_WEIGHTS=1`` asks for random-init ones.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import torch

from vidcolor import weights
from vidcolor.config import AutoHeadConfig, ColorizerConfig, GateConfig, MatcherConfig, PlacementConfig, TransferConfig
from vidcolor.errors import VidcolorError, WeightsError
from vidcolor.models import ColorizerNet, TransferNet
from vidcolor.models.autohead import AutoHead
from vidcolor.models.gate import ColourGate
from vidcolor.models.matcher import MatcherHead
from vidcolor.models.placement import PlacementHead

RANDOM_WEIGHTS_ENV = "VIDCOLOR_TEST_RANDOM_WEIGHTS"  # test-only switch: random-init sub-nets when untrained
MATCHERS = ("learned", "frozen")
REFINER = "refiner-small"
GATE = "gate"
PLACEMENT = "placement"
AUTO_HEAD = "auto-head"


@dataclass(frozen=True)
class Networks:
    transfer: TransferNet | None
    colorizer: ColorizerNet | None
    head: MatcherHead | None
    refiner: ColorizerNet | None
    gate: ColourGate | None = None
    placement: PlacementHead | None = None
    auto_head: AutoHead | None = None


def load_networks(
    vgg: str | None, device_type: str, need_transfer: bool, need_colorizer: bool, matcher: str = "learned"
) -> Networks:
    """``matcher="learned"`` takes the learned matching head and the refiner when the manifest has them (else the
    frozen matcher and the sparse-hint chain, as before they were trained); ``"frozen"`` never takes them."""
    if matcher not in MATCHERS:
        raise VidcolorError(f"--matcher {matcher}: choose one of {', '.join(MATCHERS)}")
    vgg_path = weights.resolve_vgg(vgg) if need_transfer else None  # fail fast, before loading anything
    allow_random = os.environ.get(RANDOM_WEIGHTS_ENV) == "1"
    name = weights.default_colorizer(device_type)
    semantic = need_colorizer and matcher == "learned" and _auto_head_fits(name)
    if semantic and vgg_path is None:
        try:
            vgg_path = weights.resolve_vgg(vgg)
        except WeightsError:
            semantic = False
            print("vidcolor: warning: no VGG19 file: the automatic colours are the U-Net's alone, without the auto "
                  "head that mutes them where unsure (vidcolor weights fetch-vgg)", file=sys.stderr)  # fmt: skip
    need_transfer = need_transfer or semantic
    colorizer = _load_or_random(name, ColorizerNet, ColorizerConfig, allow_random) if need_colorizer else None
    transfer = None
    if need_transfer:
        transfer = _load_or_random("decoder", TransferNet, TransferConfig, allow_random, attr="decoder")
        transfer.encoder.load_caffe_state_dict(weights.load_vgg_state(vgg_path))
    learned = matcher == "learned" and weights.has_trained("matcher")
    head = _load_or_random("matcher", MatcherHead, MatcherConfig, False) if learned and need_transfer else None
    placement = None
    if head is not None and weights.has_trained(PLACEMENT):
        placement = _load_or_random(PLACEMENT, PlacementHead, PlacementConfig, False)
    refiner = gate = None
    if learned and need_colorizer and weights.has_trained(REFINER):
        refiner = _load_or_random(REFINER, ColorizerNet, ColorizerConfig, False)
        if weights.has_trained(GATE):
            gate = _load_or_random(GATE, ColourGate, GateConfig, False)
    auto_head = _load_or_random(AUTO_HEAD, AutoHead, AutoHeadConfig, False) if semantic else None
    return Networks(transfer, colorizer, head, refiner, gate, placement, auto_head)


def _auto_head_fits(colorizer: str) -> bool:
    """Whether weights/ has an auto head trained on this colorizer's automatic colours (its sha256)."""
    if not (weights.has_trained(AUTO_HEAD) and weights.has_trained(colorizer)):
        return False
    models = weights.read_manifest()["models"]
    return models[AUTO_HEAD].get("training", {}).get("unet_sha256") == models[colorizer].get("sha256")


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
