"""What the run's pipeline reaches when the networks cost nothing (issue 12): the whole `run` path
(stream_bench.end_to_end_fps) with the predictor's chain replaced by zeros (ab 0 at working size, so everything else
runs: decode, the propagation's plan and device half, chroma, the encoder process, mux), against decode + encode
alone and the run's encoder process alone on the same clip, with where each stage waited (pipeline.Waits).
A pipeline that hands frames on without bubbles reaches its encoder's own rate; the waits say which stage holds it.
Also with the propagation off. Interleaved over the repeats (this machine's speed drifts).

    python benchmarks/pipeline_ceiling.py --size 1280x720 --frames 240 --preset veryfast --json ceiling.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

import av
import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from e2e_contention_ab import encoder_alone_fps  # noqa: E402

from vidcolor.chain.predictor import Predictor, working_shape  # noqa: E402
from vidcolor.evaluate.stream_bench import decode_encode_fps, end_to_end_fps, synthetic_clip  # noqa: E402
from vidcolor.host_memory import keep_large_allocations  # noqa: E402
from vidcolor.io.encode import EncodeSettings, resolve_codec  # noqa: E402
from vidcolor.io.media import probe  # noqa: E402
from vidcolor.io.yuv import plan_planar  # noqa: E402


def zero_chain(predictor: Predictor) -> None:
    """The predictor's chain returns ab 0 at working size at once (everything around it unchanged)."""

    def stages(l_small, reference, hint_seed=0, every=False):
        n, _, h, w = l_small.shape
        return {"ab": torch.zeros(n, 2, h, w, device=l_small.device, dtype=l_small.dtype)}

    predictor.stages = stages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--frames", type=int, default=240)
    parser.add_argument("--preset", default="veryfast")
    parser.add_argument("--batch", type=int, default=None, help="default: 8 on CUDA, 4 on the CPU (run's own)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args()
    keep_large_allocations()  # as `vidcolor run` does
    width, height = (int(x) for x in args.size.split("x"))
    device = "cuda" if torch.cuda.is_available() else "cpu"
    batch = args.batch or (8 if device == "cuda" else 4)
    vgg = os.environ.get("VIDCOLOR_VGG", "../shared/weights/vgg19-imagenet-caffe-conv4_1.pth")
    predictor = Predictor.from_pretrained(vgg=vgg, device=device, size=256)
    zero_chain(predictor)
    encode, note = resolve_codec(EncodeSettings(preset=args.preset))
    rows: dict[str, list] = {}
    with tempfile.TemporaryDirectory() as tmp:
        clip = synthetic_clip(Path(tmp) / "clip.mp4", width, height, args.frames)
        fmt = plan_planar(probe(clip), encode.codec)
        for _ in range(args.repeats):
            io_fps, lumas, first_rgb = decode_encode_fps(clip, fmt, encode, args.frames)
            rows.setdefault("decode+encode alone", []).append({"fps": io_fps})
            rows.setdefault("encoder process alone", []).append({"fps": encoder_alone_fps(clip, fmt, encode, lumas)})
            del lumas
            for name, propagate in (("run, zero chain", True), ("run, zero chain, no propagation", False)):
                with tempfile.TemporaryDirectory() as out:
                    fps, parts = end_to_end_fps(predictor, clip, args.frames, first_rgb, Path(out), encode, batch,
                                                propagate=propagate)  # fmt: skip
                rows.setdefault(name, []).append({"fps": fps, "seconds": parts["seconds"], "waits": parts["waits"]})
            for name, runs in rows.items():
                waits = ", ".join(f"{k} {v:.2f} s" for k, v in runs[-1].get("waits", {}).items())
                print(f"{name}: {runs[-1]['fps']:.1f} fps" + (f"; waits: {waits}" if waits else ""), flush=True)
    result = {
        "environment": {
            "device": torch.cuda.get_device_name() if device == "cuda" else platform.machine(),
            "cpu_count": os.cpu_count(),
            "torch": torch.__version__,
            "opencv": cv2.__version__,
            "av": av.__version__,
            "numpy": np.__version__,
            "python": sys.version.split()[0],
        },
        "clip": f"synthetic {width}x{height}, {args.frames} frames",
        "working_shape": list(working_shape(height, width, 256)),
        "codec": note,
        "preset": args.preset,
        "batch": batch,
        "rows": rows,
    }
    args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
