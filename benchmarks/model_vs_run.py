"""The whole `run` against its model stage alone, interleaved (issue 12's CPU floor: default settings end to end at
least 95 % of the model stage; this machine's speed drifts by 10 % within minutes, so single bench runs mislead).
Default settings (working size 256, batch 4 on the CPU, x264 medium crf 18), the clip's first frame as reference.

    python benchmarks/model_vs_run.py ../shared/data/eval/videos/bunny-aac.mp4 --repeats 3 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import av
import torch

from vidcolor.chain.predictor import Predictor
from vidcolor.evaluate.stream_bench import decode_encode_fps, end_to_end_fps, in_thread, model_fps
from vidcolor.host_memory import keep_large_allocations
from vidcolor.io.encode import EncodeSettings, resolve_codec
from vidcolor.io.image import write_image
from vidcolor.io.media import probe
from vidcolor.io.yuv import plan_planar
from vidcolor.shots.refs import ReferencePlan, Segment
from vidcolor.stream.model_stage import ModelStage


def setup(clip: Path, frames: int):
    """As `vidcolor run` starts: large host buffers kept, the trained predictor, the default encoder -> (predictor,
    encode settings, planar format, the first ``frames`` luma planes, the first frame in RGB)."""
    keep_large_allocations()
    vgg = os.environ.get("VIDCOLOR_VGG", "../shared/weights/vgg19-imagenet-caffe-conv4_1.pth")
    predictor = Predictor.from_pretrained(vgg=vgg)
    encode, _ = resolve_codec(EncodeSettings())
    fmt = plan_planar(probe(clip), encode.codec)
    _, lumas, first_rgb = decode_encode_fps(clip, fmt, encode, frames)
    return predictor, encode, fmt, lumas, first_rgb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clip", type=Path)
    parser.add_argument("--frames", type=int, default=240)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--intervals-ms", default="", help="switch intervals of the whole run, alternated")
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args()
    predictor, encode, fmt, lumas, first_rgb = setup(args.clip, args.frames)
    intervals = [float(x) / 1000 for x in args.intervals_ms.split(",") if x] or [sys.getswitchinterval()]
    model, whole = [], {f"{i * 1000:g} ms": [] for i in intervals}
    with tempfile.TemporaryDirectory() as tmp:
        write_image(Path(tmp) / "ref.png", first_rgb)
        plan = ReferencePlan((Segment(0, (Path(tmp) / "ref.png",), 0),), "the clip's first frame")
        for _ in range(args.repeats):
            model.append(in_thread(model_fps, ModelStage(predictor, plan, fmt, args.batch), lumas)[0])
            for interval, runs in zip(intervals, whole.values(), strict=True):
                sys.setswitchinterval(interval)  # while the whole run streams
                with tempfile.TemporaryDirectory() as out:
                    fps, _ = end_to_end_fps(predictor, args.clip, len(lumas), first_rgb, Path(out), encode, args.batch)
                runs.append(fps)
                print(f"model stage {model[-1]:.2f} fps, whole run ({interval * 1000:g} ms) {fps:.2f} fps "
                      f"({fps / model[-1]:.0%})", flush=True)  # fmt: skip
    result = {
        "environment": {
            "device": str(predictor.device),
            "cpu_count": os.cpu_count(),
            "torch": torch.__version__,
            "av": av.__version__,
        },  # fmt: skip
        "clip": f"{args.clip.name}, {len(lumas)} frames {fmt.width}x{fmt.height}",
        "settings": f"size {predictor.size}, batch {args.batch}, {encode.codec} {encode.preset} crf {encode.crf}",
        "model_stage_fps": model,
        "end_to_end_fps": whole,
        "end_to_end_vs_model_stage": {k: [w / m for w, m in zip(v, model, strict=True)] for k, v in whole.items()},
    }
    args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
