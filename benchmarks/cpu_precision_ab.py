"""Whole `vidcolor run` commands, wall clock with start-up, fp32 against bf16 (issue 28), interleaved A, B, A, B
(this machine's speed drifts within minutes, so single runs mislead). Default settings and --fast, the clip's
first frame as the reference, the first ``--frames`` frames (``--duration Nf``).

    python benchmarks/cpu_precision_ab.py ../shared/data/eval/videos/bunny-aac.mp4 --frames 144 --json out.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vidcolor.evaluate.runner import environment
from vidcolor.io.image import write_image
from vidcolor.io.media import iter_rgb_frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clip", type=Path)
    parser.add_argument("--frames", type=int, default=144)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--modes", default="default,fast", help="default and/or fast (run --fast)")
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        ref = Path(tmp) / "ref.png"
        write_image(ref, next(iter_rgb_frames(args.clip)))
        for repeat in range(args.repeats):
            for mode in args.modes.split(","):
                for precision in args.precisions.split(","):
                    out = Path(tmp) / f"out-{mode}-{precision}-{repeat}.mp4"
                    cmd = [sys.executable, "-m", "vidcolor", "run", str(args.clip), "--refs", str(ref), "-o", str(out),
                           "--duration", f"{args.frames}f", "--precision", precision, "--quiet"]  # fmt: skip
                    cmd += ["--fast"] if mode == "fast" else []
                    t0 = time.perf_counter()
                    subprocess.run(cmd, check=True)
                    seconds = time.perf_counter() - t0
                    row = {"mode": mode, "precision": precision, "repeat": repeat, "seconds": seconds,
                           "fps_with_startup": args.frames / seconds}  # fmt: skip
                    rows.append(row)
                    print(row, flush=True)
    summary = {}
    for mode in args.modes.split(","):
        for precision in args.precisions.split(","):
            fps = [r["fps_with_startup"] for r in rows if r["mode"] == mode and r["precision"] == precision]
            summary[f"{mode} {precision}"] = {"fps": fps, "best": max(fps)}
    result = {"clip": str(args.clip), "frames": args.frames, "rows": rows, "summary": summary}
    result["environment"] = environment(__import__("torch").device("cpu"))
    args.json.write_text(json.dumps(result, indent=1))
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
