"""What sharding costs: a single-process `run` against `run --ray local --workers 1` (the same total work through
Ray: scan, tasks, assembly) and `--workers 2`, on a synthetic 3-shot film with sound, the committed weights.

Everything runs in one driver process: the local Ray runtime is started once (its start-up is timed apart, as a
cluster's is paid once), then each configuration is run ``--repeats`` times, interleaved, and the median kept. The
first sharded run also pays the workers' start-up (a process, ``import torch``): reported apart as well.

    python benchmarks/scale_overhead.py --json benchmarks/results/scale-overhead-cpu.json
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from scale_media import make_refs  # noqa: E402
from test_shots import scene  # noqa: E402

from vidcolor.chain.factory import predictor_factory  # noqa: E402
from vidcolor.evaluate.report import write_json  # noqa: E402
from vidcolor.io.encode import EncodeSettings  # noqa: E402
from vidcolor.scale.batch import run_sharded  # noqa: E402
from vidcolor.stream.pipeline import RunOptions  # noqa: E402
from vidcolor.stream.video import run_video  # noqa: E402


def make_film(path: Path, shots: list[int], width: int, height: int, fps: int = 24) -> Path:
    ends = np.cumsum(shots)
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=fps, options={"crf": "18", "preset": "veryfast"})
        s.width, s.height, s.pix_fmt = width, height, "yuv420p"
        a = out.add_stream("aac", rate=16000)
        a.layout = "mono"
        for i in range(int(ends[-1])):
            kind = int(np.searchsorted(ends, i, side="right")) % 3
            gray = (scene(kind, i, height, width) @ np.array([0.299, 0.587, 0.114])).round().astype(np.uint8)
            for p in s.encode(av.VideoFrame.from_ndarray(np.repeat(gray[..., None], 3, -1), format="rgb24")):
                out.mux(p)
        t = np.arange(int(16000 * ends[-1] / fps)) / 16000
        frame = av.AudioFrame.from_ndarray(
            (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None], format="fltp", layout="mono"
        )
        frame.sample_rate, frame.pts = 16000, 0
        for p in [*a.encode(frame), *a.encode(None), *s.encode()]:
            out.mux(p)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shots", default="100,120,80", help="frames per shot")
    ap.add_argument("--width", type=int, default=320)
    ap.add_argument("--height", type=int, default=240)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--json", default=None)
    ap.add_argument(
        "--worker-niceness",
        type=int,
        default=os.nice(0),
        help="Ray starts its workers at nice 15 by default: on a machine shared with other work they then get less "
        "CPU than the single-process run they are compared with. Default: this process's niceness.",
    )
    args = ap.parse_args()
    os.environ["RAY_worker_niceness"] = str(args.worker_niceness)  # read by the local runtime started below
    import ray

    work = Path(tempfile.mkdtemp(prefix="vidcolor-scale-"))
    shots = [int(v) for v in args.shots.split(",")]
    src = make_film(work / "film.mp4", shots, args.width, args.height)
    refs = make_refs(work / "refs")
    options = RunOptions(2, 240, EncodeSettings("libx264", 18, "veryfast"))  # `run --fast`: batch 2, veryfast
    factory = predictor_factory(os.environ.get("VIDCOLOR_VGG"), "cpu", 128)  # and size 128
    t0 = time.perf_counter()
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False, logging_level="warning")
    ray_start = time.perf_counter() - t0

    def single(out: Path) -> None:
        run_video(str(src), str(out), str(refs), factory, options, quiet=True)

    def sharded(workers: int):
        def go(out: Path) -> None:
            run_sharded(str(src), str(out), str(refs), None, "luma", None, options, factory, "local", workers, True)

        return go

    configs = {"single": single, "ray-workers-1": sharded(1), "ray-workers-2": sharded(2)}
    times: dict[str, list[float]] = {k: [] for k in configs}
    warmup = time.perf_counter()
    sharded(2)(work / "warm.mp4")  # worker processes start and import torch once
    warm_seconds = time.perf_counter() - warmup
    for r in range(args.repeats):
        for name, fn in configs.items():
            out = work / f"{name}-{r}.mp4"
            t = time.perf_counter()
            fn(out)
            times[name].append(time.perf_counter() - t)
            print(f"{name} run {r}: {times[name][-1]:.2f} s", file=sys.stderr)
    ray.shutdown()
    frames = sum(shots)
    med = {k: statistics.median(v) for k, v in times.items()}
    result = {
        "what": "single-process run vs run --ray local (same total work), median of interleaved repeats",
        "film": {"frames": frames, "shots": shots, "size": f"{args.width}x{args.height}", "audio": "aac"},
        "settings": {"size": 128, "batch": 2, "preset": "veryfast", "weights": "committed", "chunk_frames": 240},
        "seconds": times,
        "median_seconds": med,
        "fps": {k: frames / v for k, v in med.items()},
        "overhead_workers_1": med["ray-workers-1"] / med["single"] - 1,
        "speedup_workers_2": med["single"] / med["ray-workers-2"],
        "ray_local_start_seconds": ray_start,
        "ray_worker_niceness": args.worker_niceness,
        "first_sharded_run_seconds_incl_worker_start": warm_seconds,
        "device": f"cpu ({os.cpu_count()} cores, {platform.machine()}), shared with other work",
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "av": av.__version__,
            "ray": ray.__version__,
        },
        "date": time.strftime("%Y-%m-%d"),
    }
    for k, v in med.items():
        print(f"{k}: {v:.2f} s ({frames / v:.2f} fps)")
    overhead, speedup = result["overhead_workers_1"], result["speedup_workers_2"]
    print(f"overhead (1 worker): {100 * overhead:.1f} %; 2 workers: x{speedup:.2f}")
    if args.json:
        write_json(args.json, result)


if __name__ == "__main__":
    main()
