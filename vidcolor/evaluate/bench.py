"""`vidcolor bench`: per-stage timing of the chain (the shape of the paper's Table 1) and streaming throughput.

Stages, at a square working size S with the networks at S: pre-colorization (U-Net, empty hints), reference
preparation (AdaIN statistics + correspondence cells, once per reference), transfer (target through the transfer
sub-net), match (target's keys, soft warp), propagate (the shot's colours carried along the motion: optical flow on
the host + the warp and blend on the device, frames in order), refinement (the refiner on the dense match when
trained, else hint sampling + U-Net), chroma (video output: ab to chroma size, Cb/Cr of a 4:2:0 frame from its
luma + ab, gamut-limited in closed form, download), recombine (stills: ab to full size, Lab -> RGB keeping L
exactly by bisection, uint8). ``chain`` is the per-frame sum for the default hint source in `run` (match + refine +
propagate + chroma), ``chain_frame`` the same without the propagation; ``paper_chain`` that of the paper's
(precolor + transfer + refine + chroma). Warm-up first, CUDA synchronised, median of repeats. Weight VALUES do not
change timings: trained weights are used where present, else random-init networks of the default architecture,
and the JSON says which.

Streaming (stream_bench.py): per clip, batch and dtype, decode + encode alone, the networks alone, the model stage
alone and the whole `run`, with peak GPU memory.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch.nn import functional as F

from vidcolor.chain.chroma import YCbCr, chroma_planes
from vidcolor.chain.motion import gray_u8
from vidcolor.chain.predictor import Predictor
from vidcolor.chain.preflight import check_size
from vidcolor.chain.propagation import Propagation
from vidcolor.color import denormalize_ab, lab_to_rgb, lab_to_rgb_keep_l, normalize_l
from vidcolor.evaluate.stream_bench import stream_row, synthetic_clips
from vidcolor.io.encode import EncodeSettings, check_encoder, resolve_codec

CPU_MAX_BATCH_PIXELS = 8 * 512 * 512  # batches above this many pixels are skipped on CPU (minutes per row)
STAGES = ("precolor", "ref_stats", "transfer", "match", "propagate", "refine", "chroma", "recombine")
CHAINS = {
    "chain": ("match", "refine", "propagate", "chroma"),
    "chain_frame": ("match", "refine", "chroma"),
    "paper_chain": ("precolor", "transfer", "refine", "chroma"),
}
VIDEO_SPEC = YCbCr()  # BT.709, 8 bit, limited range, 4:2:0


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_time(fn: Callable[[], object], device: torch.device, repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


NETWORK_STAGES = ("precolor", "ref_stats", "transfer", "match", "refine")  # FLOPs counted (GFLOP/s reported)


@torch.no_grad()
def stage_times(predictor: Predictor, size: int, batch: int, repeats: int) -> tuple[dict[str, float], dict]:
    """Seconds per batch for each stage at working size ``size`` x ``size``, and the network stages' GFLOP per
    batch (torch's FLOP counter: convolutions and matrix products)."""
    dev = predictor.device
    gen = torch.Generator().manual_seed(0)
    l_small = (torch.rand(batch, 1, size, size, generator=gen) * 100).to(dev)
    rgb_ref = torch.rand(1, 3, size, size, generator=gen).to(dev)
    empty = torch.zeros(batch, 2, size, size, device=dev)
    mask = predictor.chain.pattern(size, size, 0)
    with predictor._autocast():
        ab_auto = predictor.colorizer(normalize_l(l_small), empty, empty[:, :1]).float()
    rgb_pre = lab_to_rgb(torch.cat([l_small, denormalize_ab(ab_auto)], 1))
    ab_t = torch.randn(batch, 2, size, size, generator=gen).to(dev) * 0.2

    def precolor():
        with predictor._autocast():
            predictor.colorizer(normalize_l(l_small), empty, empty[:, :1])

    def ref_stats():
        return predictor.reference_at_working_size(rgb_ref)

    reference = ref_stats()

    def transfer():
        with predictor._autocast():
            predictor.transfer(rgb_pre, reference.stats)

    def match():
        predictor.matcher.warp(predictor.matcher.keys(l_small), reference.keys, reference.values)

    # a textured scene panning 2 px per frame: the optical flow works as on film (on noise it would give up early)
    scene = F.avg_pool2d(torch.rand(1, 1, size, size + 2 * batch + 2, generator=gen) * 100, 5, 1, 2)[0, 0].numpy()
    grays = [gray_u8(scene[:, 2 * i : 2 * i + size]) for i in range(batch + 1)]
    propagation = Propagation()  # a shot under way, started from its reference (so the anchor is measured too)
    propagation(denormalize_ab(ab_t[:1]), grays[:1], seeds=[(grays[0], denormalize_ab(ab_t[0]))])
    under_way = propagation.gray, propagation.ab, propagation.anchor, propagation.anchor_pos

    def propagate():
        propagation(denormalize_ab(ab_t), grays[1:])
        propagation.gray, propagation.ab, propagation.anchor, propagation.anchor_pos = under_way

    def refine():
        if predictor.dense is not None:
            predictor.dense(l_small, denormalize_ab(ab_t), torch.ones_like(l_small))
        else:
            predictor.sparse(l_small, denormalize_ab(ab_t), mask)

    def recombine():
        ab = F.interpolate(denormalize_ab(ab_t), size=(size, size), mode="bilinear", align_corners=False)
        rgb = lab_to_rgb_keep_l(l_small, ab)
        (rgb * 255).round().to(torch.uint8).cpu()

    luma = (16 + l_small * 2.19).round().to(torch.uint8)  # luma codes of the frame

    def chroma():
        ab = denormalize_ab(ab_t)
        chroma_planes(luma, ab, VIDEO_SPEC).to(torch.uint8).cpu()

    fns = {"precolor": precolor, "ref_stats": ref_stats, "transfer": transfer, "match": match, "refine": refine}
    fns["propagate"] = propagate
    fns["chroma"], fns["recombine"] = chroma, recombine
    times = {name: median_time(fn, dev, repeats) for name, fn in fns.items()}
    return times, {name: count_gflop(fns[name]) for name in NETWORK_STAGES}


def count_gflop(fn: Callable[[], object]) -> float:
    """GFLOP of one call of ``fn`` (multiply-adds counted twice)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return counter.get_total_flops() / 1e9


def bench_predictor(make_predictor: Callable[..., Predictor], device: str, size: int) -> tuple[Predictor, str]:
    """Trained networks where present; else random-init ones of the default architecture (timing only)."""
    from vidcolor.errors import VidcolorError
    from vidcolor.models import ColorizerNet, TransferNet

    try:
        return make_predictor(need_transfer=True), "trained (weights/manifest.json)"
    except VidcolorError:
        torch.manual_seed(0)
        return Predictor(TransferNet(), ColorizerNet(), device, size), "random-init default architecture (timing only)"


def run_bench(
    make_predictor: Callable[..., Predictor],
    device: str,
    sizes: list[int],
    batches: list[int],
    dtypes: list[str],
    repeats: int,
    clip: str | None,
    clip_frames: int,
    codec: str = "libx264",
    crf: int = 18,
    preset: str = "veryfast",
    stream_size: int = 256,
    stream_batches: tuple[int, ...] = (4,),
    stream_sizes: tuple[tuple[int, int], ...] | None = None,
    stream_dtypes: tuple[str, ...] | None = None,
    on_row: Callable[[dict], None] | None = None,
    on_stream: Callable[[dict], None] | None = None,
) -> dict:
    from vidcolor.evaluate.runner import environment

    for size in sizes:  # every argument checked before the weights load
        check_size(size)
    check_encoder(resolve_codec(EncodeSettings(codec, crf, preset))[0])
    predictor, weights_note = bench_predictor(make_predictor, device, stream_size)
    rows, skipped = [], []
    for dtype in dtypes:
        if dtype == "fp16" and predictor.device.type != "cuda":
            continue
        predictor.set_precision(dtype)
        for size in sizes:
            for batch in batches:
                if predictor.device.type == "cpu" and batch > 1 and batch * size * size > CPU_MAX_BATCH_PIXELS:
                    skipped.append({"size": size, "batch": batch, "dtype": dtype, "why": "too slow on CPU"})
                    continue
                times, gflop = stage_times(predictor, size, batch, repeats)
                per_image = {k: v / batch for k, v in times.items()}
                row = {"size": size, "batch": batch, "dtype": dtype, "seconds_per_batch": times}
                row["seconds_per_image"] = per_image
                row["gflop_per_image"] = {k: v / batch for k, v in gflop.items()}
                row["gflops"] = {k: v / times[k] for k, v in gflop.items() if times[k] > 0}
                for chain, stages in CHAINS.items():
                    row[f"{chain}_seconds_per_image"] = sum(per_image[k] for k in stages)
                rows.append(row)
                if on_row:
                    on_row(row)
    cuda = predictor.device.type == "cuda"
    stream_sizes = stream_sizes or (((1920, 1080), (3840, 2160)) if cuda else ((640, 360),))
    stream_dtypes = stream_dtypes or (predictor.precision.name,)
    streams = []
    with tempfile.TemporaryDirectory() as tmp:
        clips = [(Path(clip), str(clip))] if clip else synthetic_clips(stream_sizes, clip_frames, Path(tmp))
        for path, label in clips:
            for dtype in stream_dtypes:
                if dtype == "fp16" and predictor.device.type != "cuda":
                    continue
                predictor.set_precision(dtype)
                for batch in stream_batches:
                    predictor.size = stream_size
                    row = stream_row(predictor, path, label, clip_frames, EncodeSettings(codec, crf, preset), batch)
                    streams.append(row)
                    if on_stream:
                        on_stream(row)
    return {
        "environment": environment(predictor.device),
        "weights": weights_note,
        "repeats": repeats,
        "stages": rows,
        "streaming": streams[0] if streams else None,
        "streams": streams,
    }
