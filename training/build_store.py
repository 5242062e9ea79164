"""Build the feature store the real-motion training reads (training/store.py): every frame of the training videos,
and one stored pair of views per training photo, through the frozen VGG19 trunk once.

    python training/build_store.py --out runs/store            # davis-train + the 256 px photo zips

A source whose store is current (same VGG weights, size, file and settings) is skipped, so the command resumes
after an interruption and rebuilds only what changed. Files under ``shared/data/eval`` are refused: evaluation
material is never trained on.
"""

from __future__ import annotations

import argparse
import glob
import random
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from training.data import ImageSource, list_images, split  # noqa: E402
from training.pairs import make_pair  # noqa: E402
from training.store import Fingerprint, file_stamp, is_current, store_frames, store_pairs, vgg_hash  # noqa: E402
from vidcolor import weights  # noqa: E402
from vidcolor.chain.predictor import working_shape  # noqa: E402
from vidcolor.io.media import iter_rgb_frames, probe  # noqa: E402
from vidcolor.models.vgg import VGGEncoder  # noqa: E402

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"
PHOTO_CROP = 256


def refuse_eval(path: str | Path) -> None:
    """Evaluation material must never reach a training store."""
    resolved = Path(path).resolve()
    if (SHARED / "data" / "eval").resolve() in resolved.parents or "/data/eval/" in resolved.as_posix():
        raise SystemExit(f"{path}: evaluation material is never trained on")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="runs/store")
    p.add_argument("--videos", nargs="*", default=sorted(glob.glob(str(SHARED / "data/train/davis-train/*.mp4"))))
    p.add_argument("--photos", nargs="*", default=sorted(glob.glob(str(SHARED / "data/train/*-256px.zip"))))
    p.add_argument("--val-share", type=float, default=0.03, help="photos held out (train_matcher.py's split)")
    p.add_argument("--size", type=int, default=256, help="working size (short side) of the video frames")
    p.add_argument("--precision", choices=("bf16", "fp32"), default="bf16", help="the trunk's autocast")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--vgg", default=None)
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    for path in [*args.videos, *args.photos]:
        refuse_eval(path)
    vgg = VGGEncoder().eval()
    vgg.load_caffe_state_dict(weights.load_vgg_state(weights.resolve_vgg(args.vgg)))
    vgg = vgg.to(memory_format=torch.channels_last)
    vhash = vgg_hash(vgg)
    out = Path(args.out)
    for video in args.videos:
        fp = Fingerprint(vhash, args.size, file_stamp(video), args.precision, fine=True)  # placement trains on it
        folder = out / "video" / Path(video).stem
        if is_current(folder, fp):
            continue
        info = probe(video)
        shape = working_shape(info.height, info.width, args.size)
        t0 = time.time()
        store = store_frames(folder, iter_rgb_frames(video), shape, vgg, fp, source=str(Path(video).resolve()))
        print(f"{folder.name}: {len(store)} frames {shape} in {time.time() - t0:.0f} s", flush=True)
    if args.photos:
        fp = Fingerprint(vhash, PHOTO_CROP, file_stamp(*args.photos), args.precision)
        folder = out / "photo" / "pairs"
        if not is_current(folder.with_name("pairs-target"), fp) or not is_current(
            folder.with_name("pairs-reference"), fp
        ):
            train_items, _ = split(list_images(args.photos), args.val_share)
            source, rng = ImageSource(), random.Random(args.seed)
            t0 = time.time()
            pairs = (make_pair(source.read(item), PHOTO_CROP, rng.randrange(1 << 30)) for item in train_items)
            target, _ = store_pairs(folder, pairs, vgg, fp)
            print(f"photo pairs: {len(target)} in {time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
