import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
SHARED_VGG = ROOT.parent / "shared" / "weights" / "vgg19-imagenet-caffe-conv4_1.pth"


@pytest.fixture(autouse=True)
def _small_threads():
    torch.manual_seed(0)
    yield


@pytest.fixture(scope="session")
def vgg_path() -> Path:
    """The real VGG19 file (integration tests): $VIDCOLOR_VGG or ../shared. Skipped where absent."""
    path = Path(os.environ.get("VIDCOLOR_VGG") or SHARED_VGG)
    if not path.is_file():
        pytest.skip("VGG19 weights not available (set VIDCOLOR_VGG)")
    return path


@pytest.fixture
def trained_predictor(monkeypatch, vgg_path):
    """The committed weights with the learned matcher, working size 128 (skipped where weights/ has no matcher)."""
    from vidcolor import weights
    from vidcolor.chain.predictor import Predictor

    monkeypatch.delenv("VIDCOLOR_TEST_RANDOM_WEIGHTS", raising=False)
    monkeypatch.delenv("VIDCOLOR_WEIGHTS", raising=False)
    if "matcher" not in weights.read_manifest().get("models", {}):
        pytest.skip("no learned matcher in weights/")
    return Predictor.from_pretrained(vgg=str(vgg_path), device="cpu", size=128)


@pytest.fixture
def random_weights(monkeypatch, tmp_path):
    """Test-only switch: random-init sub-nets, and an empty weights folder so committed weights are not used."""
    monkeypatch.setenv("VIDCOLOR_TEST_RANDOM_WEIGHTS", "1")
    empty = tmp_path / "no-weights"
    empty.mkdir()
    monkeypatch.setenv("VIDCOLOR_WEIGHTS", str(empty))


def tiny_predictor(device: str = "cpu", **_kw):
    """A random-init predictor at working size 64 (unit tests: the same nets for every call)."""
    from vidcolor.chain.predictor import Predictor
    from vidcolor.config import ColorizerConfig, TransferConfig
    from vidcolor.models import ColorizerNet, TransferNet

    torch.manual_seed(0)
    nets = TransferNet(TransferConfig(decoder_width=0.25)), ColorizerNet(ColorizerConfig(width=8))
    return Predictor(*nets, device=device, size=64)


def colour_image(h: int = 48, w: int = 64, seed: int = 0) -> np.ndarray:
    """A smooth colourful test picture (H, W, 3) uint8."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    base = np.stack([np.sin(3 * x + seed), np.cos(4 * y), np.sin(2 * (x + y))], axis=-1) * 0.4 + 0.5
    return (np.clip(base + rng.normal(0, 0.02, base.shape), 0, 1) * 255).astype(np.uint8)


@pytest.fixture
def images(tmp_path):
    """Writes a colour reference, a gray target and a colour target; returns their paths."""
    paths = {}
    paths["ref"] = tmp_path / "ref.png"
    Image.fromarray(colour_image(seed=1)).save(paths["ref"])
    paths["gray"] = tmp_path / "gray.png"
    Image.fromarray(colour_image(seed=2)).convert("L").save(paths["gray"])
    paths["colour"] = tmp_path / "colour.jpg"
    Image.fromarray(colour_image(seed=3)).save(paths["colour"])
    return paths
