"""Judge the transfer sub-net's decoder on photos never used in training.

1. Identity: `stylize IMG --ref IMG` on held-out photos (DAVIS frames 0 and middle, the eval pairs' references):
   PSNR of the network's output against its input at the working size (the decoder's own quality), and of the
   full-size result (with the full-resolution detail that `vidcolor stylize` adds back).
2. Transfer: a sheet of content / style / output rows, to look for checkerboard or halo artifacts.

    python training/eval_decoder.py --json docs/decoder-eval.json --sheet docs/stylize-examples.jpg
"""

from __future__ import annotations

import argparse
import glob
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from training.common import psnr  # noqa: E402
from vidcolor.chain.predictor import Predictor, to_float01  # noqa: E402
from vidcolor.chain.stylize import stylize, stylize_small  # noqa: E402
from vidcolor.evaluate.report import contact_sheet, write_json  # noqa: E402
from vidcolor.evaluate.runner import environment  # noqa: E402
from vidcolor.io.image import read_image  # noqa: E402
from vidcolor.io.media import iter_rgb_frames  # noqa: E402


def held_out(shared: Path) -> list[tuple[str, np.ndarray]]:
    photos = []
    for video in sorted((shared / "data/eval/davis").glob("*.mp4")):
        frames = list(iter_rgb_frames(video))
        photos += [(f"{video.stem}-0", frames[0]), (f"{video.stem}-{len(frames) // 2}", frames[len(frames) // 2])]
    for ref in sorted(glob.glob(str(shared / "data/eval/pairs/*-reference.jpg"))):
        photos.append((Path(ref).stem, read_image(ref)))
    return photos


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--shared", default=str(Path(__file__).resolve().parent.parent.parent / "shared"))
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--vgg", default=None)
    p.add_argument("--json", default="docs/decoder-eval.json")
    p.add_argument("--sheet", default="docs/stylize-examples.jpg")
    args = p.parse_args(argv)

    predictor = Predictor.from_pretrained(vgg=args.vgg, device="auto", size=args.size, need_colorizer=False)
    photos = held_out(Path(args.shared))
    per_photo = {}
    for name, img in photos:
        ref = predictor.prepare_reference(img)
        rgb_small, out_small = stylize_small(predictor, img, ref)
        full = stylize(predictor, img, ref)
        per_photo[name] = {
            "working_psnr": psnr(out_small, rgb_small),
            "full_psnr": psnr(to_float01(full[None]), to_float01(img[None])),
        }
        print(f"{name}: {per_photo[name]['working_psnr']:.2f} dB at working size", file=sys.stderr)
    mean_working = float(np.mean([v["working_psnr"] for v in per_photo.values()]))
    mean_full = float(np.mean([v["full_psnr"] for v in per_photo.values()]))
    print(
        f"identity PSNR over {len(photos)} held-out photos: {mean_working:.2f} dB at working size "
        f"{predictor.size}, {mean_full:.2f} dB at full size"
    )

    davis = [img for name, img in photos if name.endswith("-0") and not name.startswith(("examplar", "le"))]
    pairs = [(davis[i], davis[(i + 3) % len(davis)]) for i in range(0, len(davis), 2)][:4]
    rows = {"content": [], "style": [], "output": []}
    for i, (content, style) in enumerate(pairs):
        rows["content"].append((f"pair {i + 1}", [content]))
        rows["style"].append((f"pair {i + 1}", [style]))
        rows["output"].append((f"pair {i + 1}", [stylize(predictor, content, predictor.prepare_reference(style))]))
    contact_sheet(rows, args.sheet, tile_w=320)
    result = {
        "mean_working_psnr_db": mean_working,
        "mean_full_psnr_db": mean_full,
        "photos": len(photos),
        "working_size": predictor.size,
        "per_photo": per_photo,
        "environment": environment(predictor.device),
    }
    write_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
