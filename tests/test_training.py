"""Few-step training runs on synthetic images, pinned to the CPU: loss goes down, resume is exact, export verifies."""

import json
import sys
from pathlib import Path

import pytest
import torch
from conftest import colour_image
from PIL import Image

from vidcolor import weights
from vidcolor.config import ColorizerConfig, TransferConfig
from vidcolor.models import ColorizerNet, TransferNet

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from training import train_colorizer, train_transfer  # noqa: E402


@pytest.fixture
def image_folder(tmp_path):
    folder = tmp_path / "images" / "class_a"  # ImageNet-style nesting
    folder.mkdir(parents=True)
    for i in range(24):
        Image.fromarray(colour_image(40, 48, seed=i)).save(folder / f"img{i:03d}.png")
    return folder.parent


def losses(out_dir: Path) -> list[float]:
    return [json.loads(line)["loss"] for line in (out_dir / "log.jsonl").read_text().splitlines()]


def common_args(image_folder, out, steps, extra=()):
    return [
        "--data",
        str(image_folder),
        "--out",
        str(out),
        "--steps",
        str(steps),
        "--batch",
        "4",
        "--crop",
        "32",
        "--val-count",
        "2",
        "--val-size",
        "32",
        "--val-every",
        "1000",
        "--ckpt-every",
        "3",
        "--val-share",
        "0.1",
        "--device",
        "cpu",  # bit-exact resume is the point here: CPU kernels are deterministic, CUDA's are not (test_cuda.py)
        *extra,
    ]


def test_transfer_training_learns_resumes_and_exports(tmp_path, image_folder, vgg_path):
    base = ["--vgg", str(vgg_path), "--width", "0.25", "--lr", "1e-3"]
    result = train_transfer.main(
        common_args(image_folder, tmp_path / "a", 24, base + ["--weights-dir", str(tmp_path / "w")])
    )
    curve = losses(tmp_path / "a")
    assert sum(curve[-4:]) / 4 < 0.7 * sum(curve[:4]) / 4
    # resume: 12 steps, stop, resume to 24 == 24 straight
    train_transfer.main(common_args(image_folder, tmp_path / "b", 12, base + ["--export", ""]))
    train_transfer.main(common_args(image_folder, tmp_path / "b", 24, base + ["--export", "", "--resume"]))
    a = torch.load(tmp_path / "a" / "ckpt.pt", weights_only=False)["decoder"]
    b = torch.load(tmp_path / "b" / "ckpt.pt", weights_only=False)["decoder"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    # export round-trips through the manifest check
    state, entry = weights.load_trained("decoder", tmp_path / "w")
    net = TransferNet(TransferConfig.from_dict(entry["config"]))
    net.decoder.load_state_dict(state)
    assert entry["training"]["steps"] == 24
    assert entry["training"]["val_psnr_db"] == pytest.approx(result["val_psnr"])


def test_colorizer_training_learns_resumes_and_exports(tmp_path, image_folder):
    base = ["--width", "8", "--lr", "1e-3"]
    train_colorizer.main(common_args(image_folder, tmp_path / "a", 30, base + ["--weights-dir", str(tmp_path / "w")]))
    curve = losses(tmp_path / "a")
    assert sum(curve[-5:]) / 5 < sum(curve[:5]) / 5
    train_colorizer.main(common_args(image_folder, tmp_path / "b", 15, base + ["--export", ""]))
    train_colorizer.main(common_args(image_folder, tmp_path / "b", 30, base + ["--export", "", "--resume"]))
    a = torch.load(tmp_path / "a" / "ckpt.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "b" / "ckpt.pt", weights_only=False)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    state, entry = weights.load_trained("colorizer", tmp_path / "w")
    ColorizerNet(ColorizerConfig.from_dict(entry["config"])).load_state_dict(state)
    assert entry["training"]["steps"] == 30


def test_split_is_the_same_wherever_the_folder_lives(tmp_path, image_folder):
    import shutil

    from training.data import ImageSource, list_images, split

    moved = shutil.copytree(image_folder, tmp_path / "elsewhere" / "copy")
    a, b = split(list_images([str(image_folder)]), 0.1), split(list_images([str(moved)]), 0.1)
    assert [m for _, m in a[1]] == [m for _, m in b[1]] and len(a[1]) >= 1
    assert len(a[0]) + len(a[1]) == 24
    assert ImageSource().read(b[1][0]).shape == (40, 48, 3)
    assert split(list_images([str(image_folder)]), 0.0)[1] == []
