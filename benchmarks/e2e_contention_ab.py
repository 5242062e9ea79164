"""What holds `run` under decode + encode on a many-core CUDA host (issue 12): the whole run's path
(stream_bench.end_to_end_fps, as `vidcolor bench` times it) on one synthetic clip under settings that change how the
host's cores and the GIL are shared: OpenCV's own worker threads (its pool spins between calls, beside x264's
threads), the propagation's flow threads and finest flow scale, the interpreter's switch interval, and no
propagation at all. Each row
keeps the process's CPU seconds and context switches over the run, so a CPU-bound run (cores saturated) is told
from a serialised one (cores idle, threads waiting). Settings are interleaved over the repeats; decode + encode
alone, decode alone and the encoder process alone are measured at the start, middle and end (the host's speed
drifts).

    python benchmarks/e2e_contention_ab.py --size 1920x1080 --frames 480 --preset veryfast --json e2e-ab.json
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np
import torch

import vidcolor.stream.model_stage as model_stage
from vidcolor.chain.predictor import Predictor
from vidcolor.config import PropagationConfig
from vidcolor.evaluate.stream_bench import decode_encode_fps, end_to_end_fps, synthetic_clip
from vidcolor.host_memory import keep_large_allocations
from vidcolor.io.encode import EncodeSettings, resolve_codec
from vidcolor.io.media import probe
from vidcolor.io.yuv import frame_luma, plan_planar
from vidcolor.stream.chroma_stage import ChromaStage

# name -> (OpenCV threads (-1: OpenCV's own default, one per core) or None for the stage's (1 on CUDA), flow threads
# or None for the stage's (4 on CUDA), the switch interval in seconds while the run streams or None for the
# interpreter's (5 ms), propagate, the flow's finest DIS scale or None for the stage's (1 on CUDA: CUDA_FLOW)).
# At commit 2331f83 the stage left OpenCV at its default and took 8 flow threads on a 16-core host; e2e-ab-cuda-h200-*
# .json were measured there ("default" there is "opencv own threads, flow threads 8" here). From b3fccbe until the
# encoder moved into its own process the run itself set 1 ms on CUDA: "default" at those commits is "switch interval
# 1 ms" here.
SETTINGS = {
    "default": (None, None, None, True, None),
    "opencv own threads, flow threads 8": (-1, 8, None, True, None),
    "flow threads 8": (None, 8, None, True, None),
    "flow threads 2": (None, 2, None, True, None),
    "switch interval 1 ms": (None, None, 0.001, True, None),
    "switch interval 0.5 ms": (None, None, 0.0005, True, None),
    "no propagation": (None, None, None, False, None),
    "flow finest scale 0": (None, None, None, True, 0),  # the CPU's (and every device's before CUDA_FLOW)
    "blocking events": (None, None, None, True, None),  # + chroma_stage.BLOCKING_EVENTS (see PATCHES)
    "decoder threads 4": (None, None, None, True, None),  # + decode_stage.DECODE_THREADS 4
}
# Settings that also set a module constant for the run (put back afterwards): name -> (module, attribute, value).
PATCHES = {
    "blocking events": ("vidcolor.stream.chroma_stage", "BLOCKING_EVENTS", True),
    "decoder threads 4": ("vidcolor.stream.decode_stage", "DECODE_THREADS", 4),
}


class _Stage(ChromaStage):
    flow_threads: int | None = None
    opencv_threads: int | None = None
    finest_scale: int | None = None

    def __init__(self, predictor, fmt, propagate=True, lookahead=None, flow_threads=None):
        extra = {} if self.finest_scale is None else {"flow": PropagationConfig(finest_scale=self.finest_scale)}
        super().__init__(predictor, fmt, propagate, lookahead, flow_threads or self.flow_threads, **extra)
        if self.opencv_threads is not None:  # after the stage's own choice
            cv2.setNumThreads(self.opencv_threads)


def usage() -> tuple[float, int, int]:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime, r.ru_nvcsw, r.ru_nivcsw


def one(name, predictor, clip, frames, first_rgb, encode, batch) -> dict:
    opencv, flow, interval, propagate, finest = SETTINGS[name]
    default_cv, default_interval = cv2.getNumThreads(), sys.getswitchinterval()
    patch = PATCHES.get(name)
    if patch:
        module = importlib.import_module(patch[0])
        before = getattr(module, patch[1])
        setattr(module, patch[1], patch[2])
    if interval:  # while the whole run streams
        sys.setswitchinterval(interval)
    _Stage.flow_threads, _Stage.opencv_threads, _Stage.finest_scale = flow, opencv, finest
    try:
        cpu0, vol0, inv0 = usage()
        with tempfile.TemporaryDirectory() as tmp:
            off = {} if propagate else {"propagate": False}  # an older vidcolor (cuda_streaming.sh ab) lacks it
            fps, parts = end_to_end_fps(predictor, clip, frames, first_rgb, Path(tmp), encode, batch, **off)
        cpu1, vol1, inv1 = usage()
    finally:
        cv2.setNumThreads(default_cv)
        sys.setswitchinterval(default_interval)
        if patch:
            setattr(module, patch[1], before)
    cpu = cpu1 - cpu0
    return {"fps": fps, "seconds": parts["seconds"], "cpu_seconds": cpu, "cores_busy": cpu / parts["seconds"],
            "voluntary_switches": vol1 - vol0, "involuntary_switches": inv1 - inv0,
            "waits": parts.get("waits")}  # fmt: skip


def decode_alone_fps(clip: Path, fmt, frames: int) -> float:
    """The decoder's share alone: decode -> luma planes (frame threads, as the run's decoder)."""
    t0, count = time.perf_counter(), 0
    with av.open(str(clip)) as src:
        stream = src.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in src.decode(stream):
            frame_luma(frame, fmt)
            count += 1
            if count >= frames:
                break
    return count / (time.perf_counter() - t0)


def encoder_alone_fps(clip: Path, fmt, encode, lumas) -> float | None:
    """The encoder's share alone: the run's encoder process fed planes from memory as fast as it takes them."""
    try:
        from vidcolor.io.encoder_process import EncoderProcess
    except ImportError:  # an older vidcolor (cuda_streaming.sh ab) encodes in a thread
        return None
    neutral = np.full((2, *fmt.chroma_shape), 1 << (fmt.bits - 1), fmt.dtype)
    with tempfile.TemporaryDirectory() as tmp, EncoderProcess(Path(tmp), probe(clip), encode, fmt) as writer:
        t0 = time.perf_counter()
        for i, luma in enumerate(lumas):
            writer.write(i, luma, neutral)
        writer.finish()
        return len(lumas) / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--frames", type=int, default=480)
    parser.add_argument("--preset", default="veryfast")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--settings", default=";".join(SETTINGS), help="names, separated by ;")
    parser.add_argument("--clip", type=Path, help="an existing clip (kept) instead of a fresh synthetic one")
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args()
    keep_large_allocations()  # as `vidcolor run` does
    model_stage.ChromaStage = _Stage
    width, height = (int(x) for x in args.size.split("x"))
    vgg = os.environ.get("VIDCOLOR_VGG", "../shared/weights/vgg19-imagenet-caffe-conv4_1.pth")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    predictor = Predictor.from_pretrained(vgg=vgg, device=device, size=256)
    if device == "cuda":
        predictor.amp_dtype = torch.bfloat16
    encode, note = resolve_codec(EncodeSettings(preset=args.preset))
    names = [s for s in args.settings.split(";") if s]
    rows: dict[str, list] = {}
    with tempfile.TemporaryDirectory() as tmp:
        clip = args.clip or synthetic_clip(Path(tmp) / "clip.mp4", width, height, args.frames)
        if args.clip and not args.clip.exists():
            synthetic_clip(args.clip, width, height, args.frames)
        fmt = plan_planar(probe(clip), encode.codec)
        for r in range(args.repeats + 1):
            cpu0, _, _ = usage()
            t0 = time.perf_counter()
            io_fps, lumas, first_rgb = decode_encode_fps(clip, fmt, encode, args.frames)
            io = {"fps": io_fps, "cores_busy": (usage()[0] - cpu0) / (time.perf_counter() - t0)}
            rows.setdefault("decode+encode alone", []).append(io)
            print(f"decode+encode alone: {io_fps:.1f} fps, {io['cores_busy']:.1f} cores busy", flush=True)
            parts = {"decode alone": decode_alone_fps(clip, fmt, args.frames)}
            parts["encoder process alone"] = encoder_alone_fps(clip, fmt, encode, lumas)
            for name, fps in parts.items():
                if fps is not None:
                    rows.setdefault(name, []).append({"fps": fps})
                    print(f"{name}: {fps:.1f} fps", flush=True)
            del lumas
            if r == args.repeats:
                break
            for name in names:
                row = one(name, predictor, clip, args.frames, first_rgb, encode, args.batch)
                rows.setdefault(name, []).append(row)
                waits = ", ".join(f"{k} {v:.2f} s" for k, v in (row["waits"] or {}).items())
                print(f"{name}: {row['fps']:.1f} fps, {row['cores_busy']:.1f} cores busy, "
                      f"{row['voluntary_switches']} voluntary switches; waits: {waits}", flush=True)  # fmt: skip
    result = {
        "environment": {
            "device": torch.cuda.get_device_name() if device == "cuda" else device,
            "cpu_count": os.cpu_count(),
            "torch": torch.__version__,
            "opencv": cv2.__version__,
            "opencv_default_threads": cv2.getNumThreads(),
            "av": av.__version__,
            "numpy": np.__version__,
            "python": sys.version.split()[0],
        },
        "clip": f"synthetic {width}x{height}, {args.frames} frames",
        "code": str(Path(__import__("vidcolor").__file__).parent),
        "codec": note,
        "preset": args.preset,
        "batch": args.batch,
        "dtype": str(predictor.amp_dtype or torch.float32).removeprefix("torch."),
        "settings": {
            k: dict(
                zip(("opencv_threads", "flow_threads", "switch_interval", "propagate", "finest_scale"), v, strict=True)
            )
            | ({"patch": PATCHES[k]} if k in PATCHES else {})
            for k, v in SETTINGS.items()
            if k in names
        },  # fmt: skip
        "rows": rows,
        "best_fps": {k: max(r["fps"] for r in v) for k, v in rows.items()},
    }
    args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
