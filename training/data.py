"""Training data shared by both training scripts: images from folders and/or zip files, read in place.

ImageNet/COCO-style folders work unchanged (any nesting, .jpg/.jpeg/.png/.bmp/.webp). A fixed share of the
files, chosen by a hash of their name (stable across runs and machines), is held out for validation.
"""

from __future__ import annotations

import hashlib
import io
import random
import zipfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from training.common import JsonlLog, pick_device, seed_everything

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def list_images(sources: list[str]) -> list[tuple[str, str]]:
    """[(container, member)]: container is a zip (member inside it) or a folder (member relative to it), so the
    names the split hashes do not depend on where the data lives."""
    items: list[tuple[str, str]] = []
    for src in sources:
        p = Path(src)
        if p.is_file() and p.suffix.lower() == ".zip":
            with zipfile.ZipFile(p) as z:
                items += [(str(p), n) for n in sorted(z.namelist()) if n.lower().endswith(IMAGE_EXTS)]
        elif p.is_dir():
            files = [f for f in sorted(p.rglob("*")) if f.suffix.lower() in IMAGE_EXTS]
            items += [(str(p), f.relative_to(p).as_posix()) for f in files]
        else:
            raise SystemExit(f"{src}: not a folder or a .zip of images")
    if not items:
        raise SystemExit(f"no images found in {sources}")
    return items


def split(items: list[tuple[str, str]], val_share: float) -> tuple[list, list]:
    """Deterministic train/validation split by a hash of each member's name; at least one validation item when
    ``val_share`` > 0 (the lowest hash), so a small dataset still gets validated."""

    def score(item) -> float:
        return int(hashlib.md5(item[1].encode()).hexdigest()[:8], 16) / 0xFFFFFFFF

    val = [it for it in items if score(it) < val_share]
    if not val and val_share > 0 and len(items) > 1:
        val = [min(items, key=score)]
    chosen = set(val)
    return [it for it in items if it not in chosen], val


class ImageSource:
    """Reads (container, member) items as RGB uint8 arrays; keeps zip handles open per process."""

    def __init__(self) -> None:
        self._zips: dict[str, zipfile.ZipFile] = {}

    def read(self, item: tuple[str, str]) -> np.ndarray:
        container, member = item
        if Path(container).is_dir():
            img = Image.open(Path(container) / member)
        else:
            z = self._zips.get(container)
            if z is None:
                z = self._zips[container] = zipfile.ZipFile(container)
            img = Image.open(io.BytesIO(z.read(member)))
        return np.asarray(img.convert("RGB"))


def random_crop(img: np.ndarray, size: int, rng: random.Random) -> np.ndarray:
    """Random size x size crop (upscaling first if the image is smaller), random horizontal flip."""
    h, w = img.shape[:2]
    if min(h, w) < size:
        s = size / min(h, w)
        img = np.asarray(Image.fromarray(img).resize((max(size, round(w * s)), max(size, round(h * s))), Image.BICUBIC))
        h, w = img.shape[:2]
    y, x = rng.randint(0, h - size), rng.randint(0, w - size)
    crop = img[y : y + size, x : x + size]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return np.ascontiguousarray(crop)


def center_crop8(img: np.ndarray, max_side: int) -> np.ndarray:
    """Resize so the short side is at most max_side, then crop to multiples of 8 (validation)."""
    h, w = img.shape[:2]
    s = min(1.0, max_side / min(h, w))
    if s < 1.0:
        img = np.asarray(Image.fromarray(img).resize((round(w * s), round(h * s)), Image.BICUBIC))
        h, w = img.shape[:2]
    h8, w8 = h // 8 * 8, w // 8 * 8
    y, x = (h - h8) // 2, (w - w8) // 2
    return np.ascontiguousarray(img[y : y + h8, x : x + w8])


def to_tensor(batch: list[np.ndarray]) -> torch.Tensor:
    """list of (H, W, 3) uint8 -> (B, 3, H, W) float in [0, 1]."""
    return torch.from_numpy(np.stack(batch)).permute(0, 3, 1, 2).float() / 255.0


class StepBatches(torch.utils.data.Dataset):
    """Batch number ``step`` -> (B, 3, size, size) uint8 random crops, a pure function of (seed, step).

    Resuming at step k therefore sees exactly the batches an uninterrupted run would, with any number of
    DataLoader workers (use ``batch_size=None`` and a sampler over the step numbers).
    """

    def __init__(self, items: list[tuple[str, str]], size: int, batch: int, seed: int) -> None:
        self.items, self.size, self.batch, self.seed = items, size, batch, seed
        self._source: ImageSource | None = None

    def __len__(self) -> int:
        return 1 << 40

    def __getitem__(self, step: int) -> torch.Tensor:
        if self._source is None:
            self._source = ImageSource()
        rng = random.Random(self.seed * 1_000_003 + step)
        crops = [random_crop(self._source.read(rng.choice(self.items)), self.size, rng) for _ in range(self.batch)]
        return torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2)


def batch_loader(dataset: StepBatches, start: int, stop: int, workers: int) -> torch.utils.data.DataLoader:
    return torch.utils.data.DataLoader(
        dataset, batch_size=None, sampler=range(start, stop), num_workers=workers, persistent_workers=False
    )


def load_val(items: list[tuple[str, str]], count: int, max_side: int) -> list[torch.Tensor]:
    """Up to ``count`` held-out images as (1, 3, H, W) tensors in [0, 1], sizes multiple of 8."""
    source = ImageSource()
    picks = items[:: max(1, len(items) // count)][:count]
    return [to_tensor([center_crop8(source.read(it), max_side)]) for it in picks]


def setup(args) -> tuple[torch.device, JsonlLog, list, list[torch.Tensor]]:
    """What every training script does first: threads, seeds, device, the JSONL log in ``args.out``, and the
    train/validation split of ``args.data`` -> (device, log, training items, validation tensors)."""
    if args.threads:
        torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    device = pick_device(args.device)
    log = JsonlLog(Path(args.out) / "log.jsonl")
    train_items, val_items = split(list_images(args.data), args.val_share)
    return device, log, train_items, load_val(val_items, args.val_count, args.val_size)
