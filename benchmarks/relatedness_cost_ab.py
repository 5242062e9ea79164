"""What the fallback to automatic colours (chain/relatedness.py) costs `run`'s model stage on this machine, interleaved
(this machine's speed drifts by 10 % within minutes): the stage with the fallback against the stage without it
(``unguarded``: the matched colours whatever the share), with the clip's first frame as the reference (related:
only the share is computed) and with an unrelated image (the automatic colours computed too). Issue 26's floor: the
default chain's CPU time per frame at most 1.25 x what it was. Default settings (working size 256, batch 4 on the CPU).

    python benchmarks/relatedness_cost_ab.py ../shared/data/eval/videos/bunny-aac.mp4 --unrelated \
        samples/landscape-ref.png --frames 96 --repeats 3 --json out.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.model_vs_run import setup  # noqa: E402
from vidcolor.chain import relatedness
from vidcolor.evaluate.runner import environment
from vidcolor.evaluate.stream_bench import in_thread, model_fps
from vidcolor.io.image import write_image
from vidcolor.shots.refs import ReferencePlan, Segment
from vidcolor.stream.model_stage import ModelStage

GUARDED = relatedness.fallback_weight


def unguarded(related, cfg):
    return torch.ones_like(related)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clip", type=Path)
    parser.add_argument("--unrelated", type=Path, required=True, help="an image that shows nothing of the clip")
    parser.add_argument("--frames", type=int, default=96)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args()
    predictor, _, fmt, lumas, first_rgb = setup(args.clip, args.frames)
    fps: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        write_image(Path(tmp) / "ref.png", first_rgb)
        refs = {"own": Path(tmp) / "ref.png", "unrelated": args.unrelated}
        for _ in range(args.repeats):
            for ref, path in refs.items():
                plan = ReferencePlan((Segment(0, (path,), 0),), ref)
                for name, weight in (("guarded", GUARDED), ("unguarded", unguarded)):
                    relatedness.fallback_weight = weight
                    stage = ModelStage(predictor, plan, fmt, args.batch)
                    fps.setdefault(f"{ref} {name}", []).append(in_thread(model_fps, stage, lumas)[0])
                    print(f"{ref} reference, {name}: {fps[f'{ref} {name}'][-1]:.2f} fps", flush=True)
    relatedness.fallback_weight = GUARDED
    mean = {k: sum(v) / len(v) for k, v in fps.items()}
    result = {
        "environment": {**environment(predictor.device), "precision": str(predictor.amp_dtype)},
        "clip": f"{args.clip.name}, {len(lumas)} frames {fmt.width}x{fmt.height}",
        "settings": f"size {predictor.size}, batch {args.batch}",
        "model_stage_fps": fps,
        "time_per_frame_guarded_vs_unguarded": {
            ref: mean[f"{ref} unguarded"] / mean[f"{ref} guarded"] for ref in ("own", "unrelated")
        },
    }
    args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
