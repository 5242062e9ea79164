"""The run's pipeline as on a CUDA host, with the device emulated (issue 12): what the host's side alone reaches.

The whole `run` path (stream_bench.end_to_end_fps: decode, model thread, encoder process, mux) with the chroma
stage scheduled as on CUDA (one batch in flight; the propagation's plan made one batch ahead in a thread of its own,
with CUDA's flow settings and 4 flow threads; OpenCV's and torch's own pools at 1 thread; the luma copied into a
staging buffer as into pinned memory) but its device work replaced by an emulated device: a serial clock that takes
``--device-ms`` per frame while the host sleeps (the GIL free, as while a CUDA event is awaited), and neutral
chroma. No GPU is touched, so the same numbers can be taken on any host: the pipeline's hand-offs, the host's
planning beside x264, and (``--gil-ms``) a model thread that holds the interpreter's lock for that long per batch
(as its Python-side launching of the networks' kernels does), against decode + encode alone and the encoder process
alone, interleaved over the repeats (a host's speed drifts), each with where the stages waited (pipeline.Waits).

    python benchmarks/pipeline_emulated.py --size 1280x720 --preset veryfast --json emulated.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from e2e_contention_ab import encoder_alone_fps  # noqa: E402
from pipeline_ceiling import zero_chain  # noqa: E402

import vidcolor.stream.model_stage as model_stage  # noqa: E402
from vidcolor.chain.predictor import Predictor  # noqa: E402
from vidcolor.config import PropagationConfig  # noqa: E402
from vidcolor.evaluate.runner import environment  # noqa: E402
from vidcolor.evaluate.stream_bench import decode_encode_fps, end_to_end_fps, synthetic_clip  # noqa: E402
from vidcolor.host_memory import keep_large_allocations  # noqa: E402
from vidcolor.io.encode import EncodeSettings, resolve_codec  # noqa: E402
from vidcolor.io.media import probe  # noqa: E402
from vidcolor.io.yuv import plan_planar  # noqa: E402
from vidcolor.stream.chroma_stage import CUDA_FLOW, ChromaStage  # noqa: E402


class EmulatedDevice:
    """A serial device: work submitted at ``now`` starts when the previous work ends and takes ``ms`` per frame."""

    def __init__(self, ms_per_frame: float) -> None:
        self.ms, self.free_at = ms_per_frame, 0.0

    def submit(self, frames: int) -> float:
        """The time (time.perf_counter) at which ``frames`` frames submitted now are done."""
        self.free_at = max(time.perf_counter(), self.free_at) + frames * self.ms / 1000
        return self.free_at


class _Done:
    """A submitted batch: ``result()`` sleeps until the emulated device is done, then copies the chroma out."""

    def __init__(self, chroma: np.ndarray, at: float) -> None:
        self.chroma, self.at = chroma, at

    def result(self) -> np.ndarray:
        time.sleep(max(0.0, self.at - time.perf_counter()))
        return self.chroma.copy()  # out of the pinned buffer, as Pending.result does


def hold_gil(ms: float) -> None:
    """Pure Python for ``ms`` milliseconds: the interpreter's lock held, given up only at switch intervals."""
    end = time.perf_counter() + ms / 1000
    while time.perf_counter() < end:
        pass


class _Stage(ChromaStage):
    """The chroma stage scheduled as on CUDA, its device work emulated (class attributes set per row)."""

    device_ms: float = 1.0
    gil_ms: float = 0.0

    def __init__(self, predictor, fmt, propagate=True, lookahead=None, flow_threads=None):
        flow = replace(PropagationConfig(), **CUDA_FLOW)
        super().__init__(predictor, fmt, propagate, 1, min(4, os.cpu_count() or 1), flow)
        self.ahead = 1
        torch.set_num_threads(1)  # as the stage sets them on CUDA
        cv2.setNumThreads(1)
        self.device = EmulatedDevice(self.device_ms)
        self.staging = None

    def _submit(self, luma, shape, reference, hint_seed, plan):
        if self.staging is None or self.staging.shape != shape:
            self.staging = np.empty(shape, luma[0].dtype)
        for i, plane in enumerate(luma):
            self.staging[i] = plane  # the copy into pinned memory
        hold_gil(self.gil_ms)
        chroma = np.full((shape[0], 2, *self.fmt.chroma_shape), 1 << (self.fmt.bits - 1), self.fmt.dtype)
        return _Done(chroma, self.device.submit(shape[0]))


# name -> (propagate, model thread's lock held per batch in ms)
ROWS = {
    "emulated, no propagation": (False, 0.0),
    "emulated, propagation planned": (True, 0.0),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--frames", type=int, default=480)
    parser.add_argument("--preset", default="veryfast")
    parser.add_argument("--batch", type=int, default=8)
    # 1.13 ms: the H200's networks at 1080p, batch 8, bf16 (network_fps 883 in bench-cuda-h200-1080p-veryfast.json)
    parser.add_argument("--device-ms", type=float, default=1.13, help="the emulated device's time per frame")
    parser.add_argument("--gil-ms", default="", help="also rows with the lock held this long per batch (, separated)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args()
    keep_large_allocations()  # as `vidcolor run` does
    model_stage.ChromaStage = _Stage
    _Stage.device_ms = args.device_ms
    rows_spec = dict(ROWS)
    for ms in (float(x) for x in args.gil_ms.split(",") if x):
        rows_spec[f"emulated, propagation planned, lock held {ms:g} ms per batch"] = (True, ms)
    width, height = (int(x) for x in args.size.split("x"))
    vgg = os.environ.get("VIDCOLOR_VGG", "../shared/weights/vgg19-imagenet-caffe-conv4_1.pth")
    predictor = Predictor.from_pretrained(vgg=vgg, device="cpu", size=256)
    zero_chain(predictor)
    prepare, prepared = predictor.prepare_reference, {}

    def prepare_once(image, name=None):  # the reference's VGG pass on the CPU is start-up, not streaming
        if name not in prepared:
            prepared[name] = prepare(image, name)
        return prepared[name]

    predictor.prepare_reference = prepare_once
    encode, note = resolve_codec(EncodeSettings(preset=args.preset))
    rows: dict[str, list] = {}
    with tempfile.TemporaryDirectory() as tmp:
        clip = synthetic_clip(Path(tmp) / "clip.mp4", width, height, args.frames)
        fmt = plan_planar(probe(clip), encode.codec)
        for r in range(args.repeats + 1):  # a warm-up round first (its rows are kept apart)
            io_fps, lumas, first_rgb = decode_encode_fps(clip, fmt, encode, args.frames)
            measured = {"decode+encode alone": {"fps": io_fps}}
            measured["encoder process alone"] = {"fps": encoder_alone_fps(clip, fmt, encode, lumas)}
            del lumas
            for name, (propagate, gil_ms) in rows_spec.items():
                _Stage.gil_ms = gil_ms
                with tempfile.TemporaryDirectory() as out:
                    fps, parts = end_to_end_fps(predictor, clip, args.frames, first_rgb, Path(out), encode,
                                                args.batch, propagate=propagate)  # fmt: skip
                measured[name] = {"fps": fps, "vs_decode_encode": fps / io_fps, "seconds": parts["seconds"],
                                  "waits": parts["waits"]}  # fmt: skip
            for name, row in measured.items():
                rows.setdefault(name if r else f"warm-up: {name}", []).append(row)
                waits = ", ".join(f"{k} {v:.2f} s" for k, v in row.get("waits", {}).items())
                share = f" ({row['vs_decode_encode']:.0%} of decode + encode)" if "vs_decode_encode" in row else ""
                print(f"{'' if r else 'warm-up: '}{name}: {row['fps']:.1f} fps{share}"
                      + (f"; waits: {waits}" if waits else ""), flush=True)  # fmt: skip
    result = {
        "environment": environment(torch.device("cpu"))
        | {"device": f"emulated, no GPU used; host {platform.machine()}", "opencv": cv2.__version__},
        "clip": f"synthetic {width}x{height}, {args.frames} frames",
        "codec": note,
        "preset": args.preset,
        "batch": args.batch,
        "device_ms_per_frame": args.device_ms,
        "flow": CUDA_FLOW,
        "rows": rows,
        "mean_vs_decode_encode": {
            k: sum(x["vs_decode_encode"] for x in v) / len(v)
            for k, v in rows.items()
            if not k.startswith("warm-up") and "vs_decode_encode" in v[0]
        },
    }
    args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
