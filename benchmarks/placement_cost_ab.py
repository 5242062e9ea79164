"""What placing matched colours in 4 x 4 sub-cells (models/placement.py) costs `run`'s model stage on this machine,
interleaved (this machine's speed drifts by 10 % within minutes): the stage with the committed placement (its
learned head where weights/ has one), with the frozen placement (session 16: no head), and with none
(``PlacementConfig(top=0)``: each 8 x 8 cell's colour fills it), the clip's first frame as the reference. Issue
26's floor: the default chain's CPU time per frame at most 1.25 x what it was. Default settings (working size 256,
batch 4 on the CPU).

    python benchmarks/placement_cost_ab.py ../shared/data/eval/videos/bunny-aac.mp4 --frames 96 --repeats 3 \
        --json out.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.model_vs_run import setup  # noqa: E402
from vidcolor.config import PlacementConfig
from vidcolor.evaluate.runner import environment
from vidcolor.evaluate.stream_bench import in_thread, model_fps
from vidcolor.io.image import write_image
from vidcolor.shots.refs import ReferencePlan, Segment
from vidcolor.stream.model_stage import ModelStage

VARIANTS = {  # name -> (placement, whether the learned head is kept)
    "placed": (PlacementConfig(), True),
    "placed, frozen descriptors": (PlacementConfig(), False),
    "cells only": (PlacementConfig(top=0), False),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clip", type=Path)
    parser.add_argument("--frames", type=int, default=96)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args()
    predictor, _, fmt, lumas, first_rgb = setup(args.clip, args.frames)
    fps: dict[str, list[float]] = {}
    head = predictor.matcher.fine_head
    with tempfile.TemporaryDirectory() as tmp:
        write_image(Path(tmp) / "ref.png", first_rgb)
        plan = ReferencePlan((Segment(0, (Path(tmp) / "ref.png",), 0),), "own")
        for _ in range(args.repeats):
            for name, (placement, learned) in VARIANTS.items():
                predictor.matcher.placement = placement
                predictor.matcher.fine_head = head if learned else None
                stage = ModelStage(predictor, plan, fmt, args.batch)
                fps.setdefault(name, []).append(in_thread(model_fps, stage, lumas)[0])
                print(f"{name}: {fps[name][-1]:.2f} fps", flush=True)
    mean = {k: sum(v) / len(v) for k, v in fps.items()}
    result = {
        "environment": {**environment(predictor.device), "precision": str(predictor.amp_dtype)},
        "clip": f"{args.clip.name}, {len(lumas)} frames {fmt.width}x{fmt.height}",
        "settings": f"size {predictor.size}, batch {args.batch}, {VARIANTS['placed'][0]}, head {head is not None}",
        "model_stage_fps": fps,
        "time_per_frame_placed_vs_cells_only": mean["cells only"] / mean["placed"],
        "time_per_frame_placed_vs_frozen_descriptors": mean["placed, frozen descriptors"] / mean["placed"],
    }
    args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
