"""A/B of the model stage's planning (issue 12): the propagation's host half made in line (lookahead 0) or in a
thread of its own 1-2 batches ahead, with 1..8 flow threads, per batch size; the model stage alone, as `run` drives
it (vidcolor.evaluate.stream_bench.model_fps), on a synthetic clip (the bench's own) with the committed weights, and
the plan alone (the host's share: what the model stage can reach at best while the device keeps up).
Settings are interleaved over the repeats (this machine's speed drifts); the JSON keeps every figure.

    python benchmarks/plan_ahead_ab.py --device cuda --size 1920x1080 --frames 240 --json plan-ahead.json
"""

from __future__ import annotations

import argparse
import cProfile
import io
import itertools
import json
import os
import platform
import pstats
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np
import torch

from vidcolor.chain.predictor import Predictor
from vidcolor.evaluate.stream_bench import in_thread, model_fps, synthetic_clip
from vidcolor.host_memory import keep_large_allocations
from vidcolor.io.image import read_image, write_image
from vidcolor.io.media import probe
from vidcolor.io.yuv import frame_luma, plan_planar
from vidcolor.shots.refs import ReferencePlan, Segment
from vidcolor.stream.chroma_stage import ChromaStage
from vidcolor.stream.model_stage import ModelStage


def ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def plan_fps(stage: ChromaStage, lumas: list, batch: int, reference) -> float:
    """Frames per second of the propagation's host half alone (gray, flow, followed positions, grids), by batch."""
    t0 = time.perf_counter()
    for start in range(0, len(lumas), batch):
        stage.plan(lumas[start : start + batch], reference, [start == 0] + [False] * (batch - 1))
    return len(lumas) / (time.perf_counter() - t0)


def profiled(fn, *args) -> str:
    """The model thread's own time by function (cProfile sees the calling thread only), top 45 by total time."""
    profile = cProfile.Profile()
    fps, _ = profile.runcall(fn, *args)
    out = io.StringIO()
    out.write(f"{fps:.1f} fps under the profiler\n")
    pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(45)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--frames", type=int, default=240)
    parser.add_argument("--batch", type=ints, default=[8])
    parser.add_argument("--lookahead", type=ints, default=[0, 1, 2])
    parser.add_argument("--flow-threads", type=ints, default=[4, 8])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--working-size", type=int, default=256)
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--profile", type=Path, help="also profile one run (first batch, lookahead 1, last threads)")
    args = parser.parse_args()
    keep_large_allocations()  # as `vidcolor run` does
    width, height = (int(x) for x in args.size.split("x"))
    vgg = os.environ.get("VIDCOLOR_VGG", "../shared/weights/vgg19-imagenet-caffe-conv4_1.pth")
    predictor = Predictor.from_pretrained(vgg=vgg, device=args.device, size=args.working_size)
    with tempfile.TemporaryDirectory() as tmp:
        clip = synthetic_clip(Path(tmp) / "clip.mp4", width, height, args.frames)
        fmt = plan_planar(probe(clip), "libx264")
        with av.open(str(clip)) as c:
            frames = list(c.decode(video=0))
            lumas = [frame_luma(f, fmt) for f in frames]
            write_image(Path(tmp) / "ref.png", frames[0].to_ndarray(format="rgb24"))
        del frames
        plan = ReferencePlan((Segment(0, (Path(tmp) / "ref.png",), 0),), "the clip's first frame")
        settings = list(itertools.product(args.batch, args.lookahead, args.flow_threads))
        figures: dict[str, list[float]] = {}
        reference = predictor.prepare_reference(read_image(Path(tmp) / "ref.png"))
        for _ in range(args.repeats):
            for batch, threads in itertools.product(args.batch, args.flow_threads):
                stage = ChromaStage(predictor, fmt, lookahead=0, flow_threads=threads)
                key = f"plan alone, batch {batch}, flow threads {threads}"
                figures.setdefault(key, []).append(plan_fps(stage, lumas, batch, reference))
                print(f"{key}: {figures[key][-1]:.1f} fps", flush=True)
            for batch, lookahead, threads in settings:
                stage = ModelStage(predictor, plan, fmt, batch)
                stage.chroma = ChromaStage(predictor, fmt, lookahead=lookahead, flow_threads=threads)
                fps, _ = in_thread(model_fps, stage, lumas)
                key = f"batch {batch}, lookahead {lookahead}, flow threads {threads}"
                figures.setdefault(key, []).append(fps)
                print(f"{key}: {fps:.1f} fps", flush=True)
        if args.profile:
            stage = ModelStage(predictor, plan, fmt, args.batch[0])
            stage.chroma = ChromaStage(predictor, fmt, lookahead=1, flow_threads=args.flow_threads[-1])
            args.profile.write_text(in_thread(profiled, model_fps, stage, lumas))
    result = {
        "environment": {
            "device": torch.cuda.get_device_name() if predictor.device.type == "cuda" else platform.machine(),
            "cpu_count": os.cpu_count(),
            "torch": torch.__version__,
            "opencv": cv2.__version__,
            "av": av.__version__,
            "numpy": np.__version__,
        },
        "clip": f"synthetic {width}x{height}, {len(lumas)} frames",
        "working_size": args.working_size,
        "dtype": str(predictor.amp_dtype or torch.float32).removeprefix("torch."),
        "fps": {k: {"best": max(v), "all": v} for k, v in figures.items()},
    }
    args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
