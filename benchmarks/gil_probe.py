"""How much the propagation's host half (Propagation.plan) needs the interpreter's lock: its frames per second alone
and beside a thread that runs pure Python (as `run`'s model, decoder and encoder threads do between their C calls).
Each time the plan's thread comes back from OpenCV or numpy it must take the lock again, and beside a busy thread
it waits up to the switch interval (5 ms) each time: the fewer such returns per frame, the less `run` loses to its
own threads on a many-core host. One seeded shot at 1080p's working shape (456 x 256), batches of 8, one thread.

    python benchmarks/gil_probe.py --json gil-probe.json   (PYTHONPATH=OLD_TREE for another version of vidcolor)
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import torch

import vidcolor
from vidcolor.chain.propagation import Propagation


def scene(n: int, h: int = 256, w: int = 456) -> list[np.ndarray]:
    """A textured gray scene panning one pixel a frame (the optical flow works as on film)."""
    rng = np.random.default_rng(0)
    big = cv2.GaussianBlur(rng.integers(0, 255, (h + 16, w + n + 16), dtype=np.uint8), (0, 0), 3)
    return [np.ascontiguousarray(big[8 : 8 + h, 8 + i : 8 + i + w]) for i in range(n)]


def plan_fps(grays: list[np.ndarray], seconds: float) -> float:
    prop, seed = Propagation(), (grays[0], torch.zeros(2, *grays[0].shape))
    t0, frames = time.perf_counter(), 0
    while time.perf_counter() - t0 < seconds:
        prop.restart()
        prop.plan(grays, [seed], [True] + [False] * (len(grays) - 1))
        frames += len(grays)
    return frames / (time.perf_counter() - t0)


def beside_busy_thread(grays: list[np.ndarray], seconds: float) -> float:
    stop = threading.Event()

    def busy():
        while not stop.is_set():
            sum(range(1000))

    thread = threading.Thread(target=busy)
    thread.start()
    try:
        return plan_fps(grays, seconds)
    finally:
        stop.set()
        thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    grays = scene(8)
    rows: dict[str, list[float]] = {}
    default = sys.getswitchinterval()
    for _ in range(args.repeats):
        rows.setdefault("alone", []).append(plan_fps(grays, args.seconds))
        rows.setdefault("beside a busy thread", []).append(beside_busy_thread(grays, args.seconds))
        sys.setswitchinterval(0.0005)
        rows.setdefault("beside a busy thread, switch interval 0.5 ms", []).append(
            beside_busy_thread(grays, args.seconds)
        )
        sys.setswitchinterval(default)
        print({k: round(v[-1], 1) for k, v in rows.items()}, flush=True)
    result = {
        "environment": {
            "machine": platform.machine(),
            "python": sys.version.split()[0],
            "torch": torch.__version__,
            "opencv": cv2.__version__,
            "numpy": np.__version__,
        },  # fmt: skip
        "code": str(Path(vidcolor.__file__).parent),
        "frames": "8 per plan, 456x256, one seeded shot (anchored), one thread, OpenCV one thread",
        "plan_fps": rows,
    }
    args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
