"""Frozen dataclasses that describe the networks. A manifest entry stores one of these as a dict."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields


@dataclass(frozen=True)
class TransferConfig:
    """Transfer sub-net: frozen VGG19 encoder (conv1_1..conv4_1) + symmetric decoder with skips.

    decoder_width scales the decoder's channels (1.0 mirrors the encoder: 64, 128, 256).
    feature_scales divide the encoder features handed to the decoder (relu1_2, relu2_2, relu3_4, relu4_1)
    so that Caffe-scale activations (means up to ~180, maxima above 3000) reach it near unit scale.
    """

    decoder_width: float = 1.0
    feature_scales: tuple[float, float, float, float] = (150.0, 165.0, 340.0, 255.0)

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> TransferConfig:
        return _from_dict(cls, d)


@dataclass(frozen=True)
class ColorizerConfig:
    """Colorization sub-net (U-Net after Zhang et al. 2017): ten feature blocks + output block.

    width is the first block's channel count (Zhang et al. use 64); blocks use 1, 2, 4, 8 x width. auto_gain (the
    refiner only): its automatic colours (an empty match: no reference) are scaled by this, a least-squares fit of its
    chroma to the truth on real frames, so that uncertain automatic colour is muted rather than confidently wrong.
    """

    width: int = 32
    auto_gain: float = 1.0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ColorizerConfig:
        return _from_dict(cls, d)


@dataclass(frozen=True)
class MatcherConfig:
    """Learned correspondence head (models/matcher.py) on the frozen VGG19 descriptors.

    hidden: channels of the head's 3 x 3 context layer; tolerance: the colour error (Lab units) under which a
    carried colour counts as right for the confidence calibration; blocks: residual context blocks after it
    (3 x 3 768 -> block_hidden, dilated 3 x 3, 1 x 1 back to 768, the last at zero: capacity for what real motion
    changes between a reference and a later frame, issue 26), block_hidden their width.
    """

    hidden: int = 128
    tolerance: float = 8.0
    blocks: int = 0
    block_hidden: int = 256

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> MatcherConfig:
        return _from_dict(cls, d)


@dataclass(frozen=True)
class PlacementConfig:
    """Where matched colours land inside a cell (models/placement.py): each frame cell's ``top`` best reference
    cells are the candidates of its four 4 x 4 sub-cells, weighted by the parent match and by the frozen relu3_1
    similarity at temperature ``tau``; top 0: no placement (the cell's colour fills it). Chosen on the validation
    split and the dev set together (benchmarks/match_variants_ab.py ``fine``)."""

    top: int = 8
    tau: float = 0.05
    hidden: int = 64  # the learned head's width (models/placement.py PlacementHead)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> PlacementConfig:
        return _from_dict(cls, d)


@dataclass(frozen=True)
class AutoHeadConfig:
    """The automatic colours' head (models/autohead.py): ``hidden`` channels, one residual 3 x 3 convolution per
    entry of ``dilations`` (its dilation; 1, 2, 4, 8 see about 31 cells across), a pooled scene vector; ``spread``
    (Lab units): how far the head's and the U-Net's colours may stand apart before their mean is muted by half
    (``agree``)."""

    hidden: int = 128
    dilations: tuple[int, ...] = (1, 2, 4, 8)
    spread: float = 4.0  # chosen on the dev set and the validation split (docs/weights.md)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> AutoHeadConfig:
        return _from_dict(cls, d)


@dataclass(frozen=True)
class GateConfig:
    """Colour gate (models/gate.py) on the refiner's bottleneck: features = its channels (8 x the refiner's width),
    hidden = the gate's own width, max_gain = the largest scale it may give a colour (gain 1 = unchanged)."""

    features: int = 128
    hidden: int = 32
    max_gain: float = 1.5

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> GateConfig:
        return _from_dict(cls, d)


def _from_dict(cls, d: dict):
    known = {f.name for f in fields(cls)}
    unknown = set(d) - known
    if unknown:
        raise ValueError(f"unknown {cls.__name__} fields: {sorted(unknown)}")
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


@dataclass(frozen=True)
class PropagationConfig:
    """Colour carried along the motion from frame to frame of a shot (propagation.py, motion.py, tracks.py).

    strength: the share of the carried colour where the motion is fully trusted (the frame's own colour keeps the
    rest, so errors fade); sigma: luminance difference (L / 100) after warping at which trust falls to 1/e;
    preset: OpenCV DIS optical-flow preset (ultrafast, fast, medium); finest_scale: the DIS pyramid level it stops
    at (0 = full working resolution; None = the preset's); patch_stride: DIS's patch stride (None = the preset's;
    the flow's cost falls with it): ultrafast down to scale 0 at stride 4-8 scored as medium's finest flows
    on the dev set (propagated 32.80-32.83 vs 32.75-32.81 dB), stride 6 at a quarter of the cost of medium at its
    stride 3 (16 vs 65 ms per 456x256 frame, one core; benchmarks/results/flow-ab-davis-cpu.json); seed_trust: the
    mean trust a reference needs to be taken as the frame before a shot's first (a colourised frame of the shot, not
    just any photo); anchor: in a shot started
    from its reference, take the reference's colours wherever a pixel followed back to it still matches it
    (tracks.py), anchor_sigma (L / 100) and anchor_window (pixels) that match's tolerance and neighbourhood.
    Chosen on the DAVIS dev set, all frames (benchmarks/propagation_ab.py, benchmarks/anchor_ab.py).
    """

    strength: float = 0.98
    sigma: float = 0.4
    preset: str = "ultrafast"
    finest_scale: int | None = 0
    patch_stride: int | None = 6
    seed_trust: float = 0.5
    anchor: bool = True
    anchor_sigma: float = 0.05
    anchor_window: int = 5


@dataclass(frozen=True)
class RelatednessConfig:
    """When a reference shows too little of a shot to colour it (chain/relatedness.py): a stretch's relatedness is
    the best mutual-nearest-neighbour share of its frames so far (models/matcher.py ``mutual_share``); at or above
    ``high`` the matched colours are kept, at or below ``low`` the automatic colours replace them, linearly between.
    Measured with the committed head, every 4th frame of the dev set and the validation split: a sequence's own
    first frame 0.036-1.0 per frame (each sequence's best frame at least 0.58), an unrelated landscape at most 0.027,
    another sequence's first frame 0.021-0.115 (benchmarks/results/match-confidence-own-vs-unrelated.json).
    From ``place_low`` to ``place_high`` the reference becomes a view of the shot (its cells show the same things at
    the same scale: a sequence's best frame shares at least 0.58 with its own first frame, an eval photo pair
    0.057-0.155 with its reference, benchmarks/results/relatedness-photo-pairs.json) and the matched colours are
    placed in sub-cells (``PlacementConfig``), linearly between (a ramp, not a step: a share near one threshold
    must not colour a frame two ways, in bf16 and fp32 say)."""

    low: float = 0.02
    high: float = 0.04
    place_low: float = 0.2
    place_high: float = 0.5
