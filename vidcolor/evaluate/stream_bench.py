"""Streaming figures of `vidcolor bench`: one clip, the run's own path, timed in parts and whole.

- decode + encode alone: decode -> luma plane -> planar frame with neutral chroma -> encode, same codec settings
  (what `run` costs without the model stage);
- transcode alone: the clip decoded and re-encoded with its own chroma, same settings (x264 spends more on real
  chroma than on neutral planes, so this is the baseline with the encoder's real work);
- network alone: the predictor's chain at the clip's working shape on L already there (no per-frame I/O);
- model stage alone: the run's model stage (stream/model_stage.py, as `run` drives it) on the decoded luma planes, one
  shot from the clip's first frame's reference: the propagation's plan (gray, optical flow), upload, L lookup, the
  chain, the propagation, chroma from L + ab at chroma resolution, download. Its difference to the network alone
  is the per-frame cost outside the networks;
- end to end: the whole `run` (decode, model, encode, mux) on the same frames, including start-up, with the seconds
  each stage waited for its input or output (which stage bounds the run).
The model stage and the networks are timed in a thread of their own, as `run` drives them.
CUDA figures are synchronised; peak GPU memory is read over the model stage.
"""

from __future__ import annotations

import tempfile
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch
from av.video.frame import PictureType

from vidcolor.chain.predictor import Predictor, working_shape
from vidcolor.io.encode import EncodeSettings, resolve_codec
from vidcolor.io.image import write_image
from vidcolor.io.media import probe
from vidcolor.io.yuv import PlanarFormat, frame_luma, plan_planar, planar_frame
from vidcolor.shots.refs import ReferencePlan, Segment
from vidcolor.stream.model_stage import ModelStage


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def synthetic_clip(path: Path, width: int, height: int, frames: int, fps: int = 24) -> Path:
    """A moving colour pattern encoded with libx264 (the project's own test media). Each channel is a 1-D wave
    (along x, y or x + y) looked up from a table, so a 4K frame costs milliseconds to paint."""
    x, y = np.arange(width), np.arange(height)[:, None]
    wave = (127 + 100 * np.sin(np.arange(width + height + 5 * frames) / 53.0)).astype(np.uint8)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps, options={"crf": "23", "preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        img = np.empty((height, width, 3), np.uint8)
        for i in range(frames):
            img[..., 0] = (127 + 100 * np.sin((x + 4 * i) / 37.0)).astype(np.uint8)
            img[..., 1] = (127 + 100 * np.cos((y - 3 * i) / 29.0)).astype(np.uint8)
            img[..., 2] = wave[x + y + 5 * i]
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def decode_encode_fps(clip: Path, fmt: PlanarFormat, encode: EncodeSettings, max_frames: int):
    """(fps of decode -> luma -> planar frame -> encode alone, the luma planes, the first frame in RGB)."""
    lumas, first_rgb = [], None
    neutral = np.full((2, *fmt.chroma_shape), 1 << (fmt.bits - 1), fmt.dtype)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        with av.open(str(clip)) as src, av.open(str(Path(tmp) / "out.mp4"), "w") as dst:
            vin = src.streams.video[0]
            vin.thread_type = "AUTO"
            vout = dst.add_stream(encode.codec, rate=vin.average_rate or 24, options=encode.options())
            vout.width, vout.height, vout.pix_fmt = fmt.width, fmt.height, fmt.pix_fmt
            for frame in src.decode(vin):
                if len(lumas) >= max_frames:
                    break
                if first_rgb is None:
                    first_rgb = frame.to_ndarray(format="rgb24").copy()
                lumas.append(frame_luma(frame, fmt))
                for packet in vout.encode(planar_frame(lumas[-1], neutral, fmt)):
                    dst.mux(packet)
            for packet in vout.encode():
                dst.mux(packet)
        elapsed = time.perf_counter() - t0
    return len(lumas) / elapsed, lumas, first_rgb


def transcode_fps(clip: Path, fmt: PlanarFormat, encode: EncodeSettings, frames: int) -> float:
    """Frames per second of decoding ``frames`` frames of the clip and encoding them as they are (own chroma)."""
    with tempfile.TemporaryDirectory() as tmp:
        t0, count = time.perf_counter(), 0
        with av.open(str(clip)) as src, av.open(str(Path(tmp) / "out.mp4"), "w") as dst:
            vin = src.streams.video[0]
            vin.thread_type = "AUTO"
            rate = Fraction(vin.average_rate or 24)
            vout = dst.add_stream(encode.codec, rate=rate, options=encode.options())
            vout.width, vout.height, vout.pix_fmt = fmt.width, fmt.height, fmt.pix_fmt
            for frame in src.decode(vin):
                if count >= frames:
                    break
                count += 1
                frame = frame.reformat(format=fmt.pix_fmt)
                frame.pts, frame.time_base = count - 1, 1 / rate  # fresh timing, and the decoder's frame types
                frame.pict_type = PictureType.NONE  # would bind x264
                for packet in vout.encode(frame):
                    dst.mux(packet)
            for packet in vout.encode():
                dst.mux(packet)
        return count / (time.perf_counter() - t0)


def network_fps(predictor: Predictor, fmt: PlanarFormat, batch: int, reference, repeats: int = 3) -> float:
    """Frames per second of the chain alone at the clip's working shape (L already on the device)."""
    hs, ws = working_shape(fmt.height, fmt.width, predictor.size)
    l_small = (torch.rand(batch, 1, hs, ws, generator=torch.Generator().manual_seed(0)) * 100).to(predictor.device)
    with torch.no_grad():
        predictor.stages(l_small, reference)
        _sync(predictor.device)
        t0 = time.perf_counter()
        for _ in range(repeats):
            predictor.stages(l_small, reference)
        _sync(predictor.device)
    return batch * repeats / (time.perf_counter() - t0)


def model_fps(stage: ModelStage, lumas: list[np.ndarray]) -> tuple[float, float | None]:
    """(frames per second of the model stage's ``run`` over the luma planes as one shot, peak GPU memory in GB or
    None). The shot's reference is prepared before the clock starts."""
    device = stage.predictor.device
    stage.references(0, None, 0)

    def frames(planes):
        return ((i, i, luma, 0, None) for i, luma in enumerate(planes))

    stage.run(frames(lumas[: 2 * stage.batch]), lambda item: True)  # warm-up (the next run restarts the shot)
    _sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    t0 = time.perf_counter()
    stage.run(frames(lumas), lambda item: True)
    _sync(device)
    seconds = time.perf_counter() - t0
    peak = torch.cuda.max_memory_allocated(device) / 1e9 if device.type == "cuda" else None
    return len(lumas) / seconds, peak


def end_to_end_fps(
    predictor: Predictor, source: Path, frames: int, reference_rgb, tmp: Path, encode, batch, propagate: bool = True
):
    """(frames per second of the whole `vidcolor run` path (decode, model, encode, audio mux) on ``source``,
    limited to ``frames`` frames when the clip is longer (same work, same reference), {"seconds": all of it,
    "threads_seconds": the three threads alone, without reference preparation and the final mux, "waits": where the
    stages waited, pipeline.Waits})."""
    from vidcolor.shots.refs import plan_references
    from vidcolor.stream.pipeline import RunOptions, VideoJob

    clip = source
    if frames < _count_frames(source):
        clip = tmp / "e2e-clip.mp4"
        _cut(source, clip, frames)
    write_image(tmp / "ref.png", reference_rgb)
    job = VideoJob(
        clip,
        tmp / "e2e-out.mp4",
        plan_references(str(tmp / "ref.png")),
        lambda: predictor,
        RunOptions(batch=batch, chunk_frames=240, encode=encode, propagate=propagate),
    )
    t0 = time.perf_counter()
    summary = job.run()
    seconds = time.perf_counter() - t0
    return summary.frames / seconds, {"seconds": seconds, "threads_seconds": summary.seconds, "waits": summary.waits}


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


def in_thread(fn, *args):
    """``fn(*args)`` in a fresh thread, as `run` runs its model stage (measured on the 2-core CPU under load: torch
    ops called from the main thread there waited several ms each for the second intra-op thread)."""
    out: list = []
    worker = threading.Thread(target=lambda: out.append(fn(*args)), name="vidcolor-bench-model")
    worker.start()
    worker.join()
    if not out:
        raise RuntimeError("the timed stage failed (see the traceback above)")
    return out[0]


def stream_row(predictor: Predictor, clip: Path, label: str, max_frames: int, encode: EncodeSettings, batch: int):
    """Every streaming figure for one clip, working size, batch and the predictor's current dtype."""
    encode, encoder = resolve_codec(encode)
    fmt = plan_planar(probe(clip), encode.codec)
    io_fps, lumas, first_rgb = decode_encode_fps(clip, fmt, encode, max_frames)
    transcode = transcode_fps(clip, fmt, encode, len(lumas))
    reference = predictor.prepare_reference(first_rgb)
    with tempfile.TemporaryDirectory() as tmp:
        write_image(Path(tmp) / "ref.png", first_rgb)
        plan = ReferencePlan((Segment(0, (Path(tmp) / "ref.png",), 0),), "the clip's first frame")
        alone, peak = in_thread(model_fps, ModelStage(predictor, plan, fmt, batch), lumas)
    net = in_thread(network_fps, predictor, fmt, batch, reference)
    with tempfile.TemporaryDirectory() as tmp:
        e2e, e2e_parts = end_to_end_fps(predictor, clip, len(lumas), first_rgb, Path(tmp), encode, batch)
    dtype = {None: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}[predictor.amp_dtype]
    return {
        "clip": label,
        "frames": len(lumas),
        "resolution": f"{fmt.width}x{fmt.height}",
        "pix_fmt": fmt.pix_fmt,
        "codec": {"codec": encode.codec, "note": encoder, "crf": encode.crf, "preset": encode.preset},
        "working_size": predictor.size,
        "batch": batch,
        "dtype": dtype,
        "hints": predictor.hints,
        "decode_encode_fps": io_fps,
        "transcode_fps": transcode,
        "network_fps": net,
        "model_fps": alone,
        "non_network_ms_per_frame": 1000 * max(0.0, 1 / alone - 1 / net),
        "end_to_end_fps": e2e,
        "end_to_end_vs_model": e2e / alone,
        "end_to_end_vs_decode_encode": e2e / io_fps,
        "end_to_end_vs_transcode": e2e / transcode,
        "end_to_end_seconds": e2e_parts["seconds"],
        "end_to_end_threads_seconds": e2e_parts["threads_seconds"],
        "end_to_end_waits": e2e_parts["waits"],  # seconds each stage waited, by "stage: on what" (pipeline.Waits)
        "peak_gpu_memory_gb": peak,
    }


def synthetic_clips(sizes: list[tuple[int, int]], frames: int, folder: Path) -> list[tuple[Path, str]]:
    return [
        (synthetic_clip(folder / f"clip-{w}x{h}.mp4", w, h, frames), f"synthetic {w}x{h}, {frames} frames")
        for w, h in sizes
    ]
