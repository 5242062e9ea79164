"""Holding a keyframe stretch's luma: the spool (vidcolor/stream/keyframe_stage.py) against decoding it twice.

A 1080p clip (x264, made here) is decoded once, its luma planes timed; the same planes are written to and read back
from a LumaSpool. Seconds per frame, with the machine's facts.

    python benchmarks/spool_vs_decode.py OUT.json [FRAMES]
"""

import json
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from vidcolor.evaluate.runner import environment
from vidcolor.io.media import probe
from vidcolor.io.yuv import frame_luma, plan_planar
from vidcolor.stream.keyframe_stage import LumaSpool


def main() -> None:
    import torch

    out, frames = Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 120
    with tempfile.TemporaryDirectory() as folder:
        clip = Path(folder) / "clip.mp4"
        y, x = np.mgrid[0:1080, 0:1920]
        with av.open(str(clip), "w") as container:
            s = container.add_stream("libx264", rate=24, options={"crf": "18", "preset": "veryfast"})
            s.width, s.height, s.pix_fmt = 1920, 1080, "yuv420p"
            for i in range(frames):
                gray = ((x + 3 * i) % 256 * 0.6 + (y % 97) + np.sin(i / 5) * 20).clip(0, 255).astype(np.uint8)
                for p in s.encode(av.VideoFrame.from_ndarray(np.repeat(gray[..., None], 3, -1), format="rgb24")):
                    container.mux(p)
            for p in s.encode():
                container.mux(p)
        fmt = plan_planar(probe(clip), "libx264")
        t0 = time.perf_counter()
        with av.open(str(clip)) as container:
            container.streams.video[0].thread_type = "AUTO"
            planes = [frame_luma(f, fmt) for f in container.decode(video=0)]
        decode = (time.perf_counter() - t0) / len(planes)
        spool = LumaSpool(Path(folder))
        t0 = time.perf_counter()
        slots = [spool.add(p) for p in planes]
        write = (time.perf_counter() - t0) / len(planes)
        t0 = time.perf_counter()
        back = [spool.read(k) for k in slots]
        read = (time.perf_counter() - t0) / len(planes)
        assert all(np.array_equal(a, b) for a, b in zip(planes, back, strict=True))
        spool.close()
    result = {"frames": len(planes), "size": "1920x1080", "decode_s_per_frame": decode,
              "spool_write_s_per_frame": write, "spool_read_s_per_frame": read,
              "environment": environment(torch.device("cpu"))}  # fmt: skip
    out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
