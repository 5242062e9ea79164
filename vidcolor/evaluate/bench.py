"""`vidcolor bench`: per-stage timing of the chain (the shape of the paper's Table 1) and streaming throughput.

Stages, at a square working size S with the networks at S: pre-colorization (U-Net, empty hints), reference
preparation (AdaIN statistics + correspondence cells, once per reference), transfer (target through the transfer
sub-net), match (target's keys, soft warp), match_memory (the same against the reference AND a full propagation
memory), refinement (the refiner on the dense match when trained, else hint sampling + U-Net),
upsample + recombine (ab to full size, gamut-safe Lab -> RGB, uint8). ``chain`` is the per-frame sum for the
default hint source (match + refine + recombine), ``chain_memory`` the same with the memory (what `run` does);
``paper_chain`` that of the paper's (precolor + transfer + refine + recombine). Warm-up first, CUDA synchronised,
median of repeats. Weight VALUES do not change timings: trained weights are used where present, else random-init
networks of the default architecture, and the JSON says which.

Streaming: frames per second of (a) decode + encode alone with the same codec settings and (b) the model stage
alone on the same decoded frames. End-to-end `run` throughput joins them once the streaming pipeline exists.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import torch
from torch.nn import functional as F

from vidcolor.color import denormalize_ab, lab_to_rgb, lab_to_rgb_keep_l, normalize_l
from vidcolor.hints import apply_hints
from vidcolor.io.encode import EncodeSettings
from vidcolor.memory import MatchMemory, MemoryConfig
from vidcolor.predictor import Predictor

CPU_MAX_BATCH_PIXELS = 8 * 512 * 512  # batches above this many pixels are skipped on CPU (minutes per row)
STAGES = ("precolor", "ref_stats", "transfer", "match", "match_memory", "refine", "recombine")
CHAINS = {
    "chain": ("match", "refine", "recombine"),
    "chain_memory": ("match_memory", "refine", "recombine"),
    "paper_chain": ("precolor", "transfer", "refine", "recombine"),
}


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


@torch.no_grad()
def stage_times(predictor: Predictor, size: int, batch: int, repeats: int) -> dict[str, float]:
    """Seconds per batch for each stage at working size ``size`` x ``size``."""
    dev = predictor.device
    gen = torch.Generator().manual_seed(0)
    l_small = (torch.rand(batch, 1, size, size, generator=gen) * 100).to(dev)
    rgb_ref = torch.rand(1, 3, size, size, generator=gen).to(dev)
    empty = torch.zeros(batch, 2, size, size, device=dev)
    mask = predictor.pattern(size, size, 0)
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

    memory = MatchMemory(MemoryConfig(every=1, min_confidence=0.0))
    frame_keys = predictor.matcher.keys(l_small[:1])[0]
    for _ in range(memory.config.max_frames):  # full: the most cells it ever holds
        memory.write(frame_keys, torch.zeros(2, *frame_keys.shape[-2:], device=dev), torch.ones_like(frame_keys[:1]))

    def match_memory():
        keys, values, _ = memory.extend(reference.keys, reference.values)
        predictor.matcher.warp(predictor.matcher.keys(l_small), keys, values)

    def refine():
        if predictor.refiner is not None:
            with predictor._autocast():
                predictor.refiner(normalize_l(l_small), ab_t, torch.ones_like(l_small))
            return
        hints = apply_hints(ab_t, mask, predictor.hint_patch)
        with predictor._autocast():
            predictor.colorizer(normalize_l(l_small), hints, mask.expand(batch, -1, -1, -1))

    def recombine():
        ab = F.interpolate(denormalize_ab(ab_t), size=(size, size), mode="bilinear", align_corners=False)
        rgb = lab_to_rgb_keep_l(l_small, ab)
        (rgb * 255).round().to(torch.uint8).cpu()

    fns = {"precolor": precolor, "ref_stats": ref_stats, "transfer": transfer, "match": match, "refine": refine}
    fns["match_memory"] = match_memory
    fns["recombine"] = recombine
    return {name: median_time(fn, dev, repeats) for name, fn in fns.items()}


def synthetic_clip(path: Path, width: int, height: int, frames: int, fps: int = 24) -> Path:
    """A moving colour pattern encoded with libx264 (the project's own test media)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps, options={"crf": "23", "preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            r = 127 + 100 * np.sin((x + 4 * i) / 37.0)
            g = 127 + 100 * np.cos((y - 3 * i) / 29.0)
            b = 127 + 100 * np.sin((x + y + 5 * i) / 53.0)
            img = np.stack([r, g, b], -1).clip(0, 255).astype(np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def decode_encode_fps(clip: Path, codec: str, crf: int, preset: str, max_frames: int) -> tuple[float, list]:
    """(fps of decode -> RGB -> encode alone, the decoded RGB frames)."""
    frames = []
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        with av.open(str(clip)) as src, av.open(str(Path(tmp) / "out.mp4"), "w") as dst:
            vin = src.streams.video[0]
            vin.thread_type = "AUTO"
            vout = dst.add_stream(codec, rate=vin.average_rate or 24, options={"crf": str(crf), "preset": preset})
            vout.width, vout.height, vout.pix_fmt = vin.codec_context.width, vin.codec_context.height, "yuv420p"
            for frame in src.decode(vin):
                if len(frames) >= max_frames:
                    break
                rgb = frame.to_ndarray(format="rgb24").copy()
                frames.append(rgb)
                out_frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
                for packet in vout.encode(out_frame):
                    dst.mux(packet)
            for packet in vout.encode():
                dst.mux(packet)
        elapsed = time.perf_counter() - t0
    return len(frames) / elapsed, frames


def model_fps(predictor: Predictor, frames: list[np.ndarray], batch: int) -> float:
    reference = predictor.prepare_reference(frames[0])
    predictor.colorize(np.stack(frames[:batch]), reference)  # warm-up
    _sync(predictor.device)
    t0 = time.perf_counter()
    for start in range(0, len(frames), batch):
        predictor.colorize(np.stack(frames[start : start + batch]), reference)
    _sync(predictor.device)
    return len(frames) / (time.perf_counter() - t0)


def end_to_end_fps(
    predictor: Predictor, source: Path, frames: list, tmp: Path, encode: EncodeSettings, batch: int
) -> float:
    """Frames per second of the whole `vidcolor run` path (decode, model, encode, audio mux) on ``source``,
    limited to the frames ``model_fps`` saw when the clip is longer (same work, same reference)."""
    from vidcolor.io.image import write_image
    from vidcolor.pipeline import RunOptions, VideoJob
    from vidcolor.refs import plan_references

    clip = source
    if len(frames) < _count_frames(source):
        clip = tmp / "e2e-clip.mp4"
        _cut(source, clip, len(frames))
    write_image(tmp / "ref.png", frames[0])
    job = VideoJob(
        clip,
        tmp / "e2e-out.mp4",
        plan_references(str(tmp / "ref.png")),
        lambda: predictor,
        RunOptions(batch=batch, chunk_frames=240, encode=encode),
    )
    t0 = time.perf_counter()
    summary = job.run()
    return summary.frames / (time.perf_counter() - t0)


def _count_frames(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.demux(c.streams.video[0]) if _.size)


def _cut(source: Path, dest: Path, frames: int) -> None:
    """Stream-copy the first packets of a clip so that it decodes to at least ``frames`` frames."""
    with av.open(str(source)) as src, av.open(str(dest), "w") as out:
        vin = src.streams.video[0]
        vout = out.add_stream_from_template(vin)
        count = 0
        for packet in src.demux(vin):
            if packet.size == 0:
                continue
            if count >= frames and packet.is_keyframe:
                break
            packet.stream = vout
            out.mux(packet)
            count += 1


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
    stream_batch: int = 4,
    on_row: Callable[[dict], None] | None = None,
) -> dict:
    from vidcolor.evaluate.runner import environment

    predictor, weights_note = bench_predictor(make_predictor, device, stream_size)
    rows, skipped = [], []
    for dtype in dtypes:
        if dtype != "fp32" and predictor.device.type != "cuda":
            continue
        predictor.amp_dtype = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}[dtype]
        for size in sizes:
            for batch in batches:
                if predictor.device.type == "cpu" and batch > 1 and batch * size * size > CPU_MAX_BATCH_PIXELS:
                    skipped.append({"size": size, "batch": batch, "dtype": dtype, "why": "too slow on CPU"})
                    continue
                times = stage_times(predictor, size, batch, repeats)
                per_image = {k: v / batch for k, v in times.items()}
                row = {"size": size, "batch": batch, "dtype": dtype, "seconds_per_batch": times}
                row["seconds_per_image"] = per_image
                for chain, stages in CHAINS.items():
                    row[f"{chain}_seconds_per_image"] = sum(per_image[k] for k in stages)
                rows.append(row)
                if on_row:
                    on_row(row)
    predictor.amp_dtype = None if predictor.device.type == "cpu" else predictor.amp_dtype
    predictor.size = stream_size
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(clip) if clip else synthetic_clip(Path(tmp) / "clip.mp4", 640, 360, clip_frames)
        io_fps, frames = decode_encode_fps(source, codec, crf, preset, clip_frames)
        alone = model_fps(predictor, frames, stream_batch)
        e2e = end_to_end_fps(predictor, source, frames, Path(tmp), EncodeSettings(codec, crf, preset), stream_batch)
    stream = {
        "clip": str(clip) if clip else f"synthetic 640x360, {clip_frames} frames",
        "frames": len(frames),
        "resolution": f"{frames[0].shape[1]}x{frames[0].shape[0]}",
        "codec": {"codec": codec, "crf": crf, "preset": preset},
        "working_size": stream_size,
        "batch": stream_batch,
        "hints": predictor.hints,
        "decode_encode_fps": io_fps,
        "model_fps": alone,
        "end_to_end_fps": e2e,
        "end_to_end_vs_model": e2e / alone,
        "end_to_end_vs_decode_encode": e2e / io_fps,
    }
    return {
        "environment": environment(predictor.device),
        "weights": weights_note,
        "repeats": repeats,
        "stages": rows,
        "streaming": stream,
    }
