"""Decode + encode (the run's own path: stream_bench.decode_encode_fps) alone and beside a thread running pure Python,
per interpreter switch interval (vidcolor.stream.pipeline.SWITCH_INTERVAL's measurement). The codec's calling thread
comes back from C several times a frame and must take the interpreter's lock again; beside a busy thread it waits up
to the switch interval each time. Also the busy thread's own speed against its speed alone (what a shorter interval
costs the Python side).

    python benchmarks/switch_probe.py --size 640x360 --preset veryfast --json switch-probe.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

import av

from vidcolor.evaluate.stream_bench import decode_encode_fps, synthetic_clip
from vidcolor.io.encode import EncodeSettings, resolve_codec
from vidcolor.io.media import probe
from vidcolor.io.yuv import plan_planar


def busy(stop: threading.Event, out: list) -> None:
    n, t0 = 0, time.perf_counter()
    while not stop.is_set():
        sum(range(1000))
        n += 1
    out.append(n / (time.perf_counter() - t0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--frames", type=int, default=240)
    parser.add_argument("--preset", default="veryfast")
    parser.add_argument("--intervals-ms", default="5,2,1,0.5,0.2")
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args()
    width, height = (int(x) for x in args.size.split("x"))
    encode, note = resolve_codec(EncodeSettings(preset=args.preset))
    rows = []
    default = sys.getswitchinterval()
    with tempfile.TemporaryDirectory() as tmp:
        clip = synthetic_clip(Path(tmp) / "clip.mp4", width, height, args.frames)
        fmt = plan_planar(probe(clip), encode.codec)
        alone_busy: list = []
        stop = threading.Event()
        thread = threading.Thread(target=busy, args=(stop, alone_busy))
        thread.start()
        time.sleep(2)
        stop.set()
        thread.join()
        for ms in (float(x) for x in args.intervals_ms.split(",")):
            sys.setswitchinterval(ms / 1000)
            alone = decode_encode_fps(clip, fmt, encode, args.frames)[0]
            out: list = []
            stop = threading.Event()
            thread = threading.Thread(target=busy, args=(stop, out))
            thread.start()
            beside = decode_encode_fps(clip, fmt, encode, args.frames)[0]
            stop.set()
            thread.join()
            rows.append({"switch_interval_ms": ms, "decode_encode_alone_fps": alone, "beside_busy_thread_fps": beside,
                         "busy_thread_speed_vs_alone": out[0] / alone_busy[0]})  # fmt: skip
            print(f"{ms} ms: decode+encode alone {alone:.0f} fps, beside a busy Python thread {beside:.0f} fps; "
                  f"the busy thread at {out[0] / alone_busy[0]:.0%} of its speed alone", flush=True)  # fmt: skip
    sys.setswitchinterval(default)
    result = {
        "environment": {
            "machine": platform.machine(),
            "cpu_count": os.cpu_count(),
            "python": sys.version.split()[0],
            "av": av.__version__,
        },  # fmt: skip
        "clip": f"synthetic {width}x{height}, {args.frames} frames",
        "codec": f"{note} {args.preset}",
        "rows": rows,
    }
    args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
