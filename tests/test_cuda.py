"""CUDA-only checks (skipped on a machine without a GPU): the GPU path agrees with the CPU path."""

import numpy as np
import pytest
import torch
from conftest import colour_image

from vidcolor.chain.predictor import Predictor
from vidcolor.config import ColorizerConfig, TransferConfig
from vidcolor.models import ColorizerNet, TransferNet

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def twin_predictors(**kwargs) -> tuple[Predictor, Predictor]:
    """The same random weights on the CPU and on the GPU."""
    torch.manual_seed(0)
    transfer, colorizer = TransferNet(TransferConfig(decoder_width=0.25)), ColorizerNet(ColorizerConfig(width=8))
    cpu = Predictor(transfer, colorizer, device="cpu", size=64, **kwargs)
    torch.manual_seed(0)
    transfer, colorizer = TransferNet(TransferConfig(decoder_width=0.25)), ColorizerNet(ColorizerConfig(width=8))
    return cpu, Predictor(transfer, colorizer, device="cuda", size=64, **kwargs)


@pytest.mark.parametrize("half", [False, None])  # fp32, and the default (bf16/fp16 autocast on CUDA)
def test_cuda_colorize_matches_cpu(half):
    cpu, gpu = twin_predictors(half=half)
    gray = np.stack([colour_image(48, 64, seed=s)[..., 0] for s in range(3)])
    ref_img = colour_image(40, 60, seed=9)
    a = cpu.colorize(gray, cpu.prepare_reference(ref_img)).astype(int)
    b = gpu.colorize(gray, gpu.prepare_reference(ref_img)).astype(int)
    assert a.shape == b.shape
    mean, p999 = (1.5, 12) if half is False else (4.0, 40)  # 8-bit levels (TF32 convolutions; bf16/fp16 autocast)
    diff = np.abs(a - b)
    assert diff.mean() <= mean and np.quantile(diff, 0.999) <= p999, (diff.mean(), diff.max())


def test_cuda_automatic_mode_matches_cpu():
    cpu, gpu = twin_predictors(half=False)
    gray = colour_image(48, 64, seed=3)[None, ..., 0]
    a, b = cpu.colorize(gray, None).astype(int), gpu.colorize(gray, None).astype(int)
    assert np.abs(a - b).mean() <= 1.5


def test_cuda_training_resume_is_close(tmp_path):
    """CUDA kernels are not bit-exact between runs: a resumed run ends within a tolerance of a straight one."""
    import sys
    from pathlib import Path

    from PIL import Image

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from test_training import common_args

    from training import train_colorizer

    folder = tmp_path / "images" / "a"
    folder.mkdir(parents=True)
    for i in range(24):
        Image.fromarray(colour_image(40, 48, seed=i)).save(folder / f"img{i:03d}.png")
    base = ["--width", "8", "--lr", "1e-3", "--export", ""]
    args = lambda out, steps, *extra: [  # noqa: E731
        a if a != "cpu" else "cuda" for a in common_args(folder.parent, tmp_path / out, steps, base + list(extra))
    ]
    train_colorizer.main(args("a", 20))
    train_colorizer.main(args("b", 10))
    load = lambda path: torch.load(path, weights_only=False, map_location="cpu")["model"]  # noqa: E731
    mid = load(tmp_path / "b" / "ckpt.pt")
    train_colorizer.main(args("b", 20, "--resume"))
    a, b = load(tmp_path / "a" / "ckpt.pt"), load(tmp_path / "b" / "ckpt.pt")

    def distance(x, y):
        return sum(float((x[k].float() - y[k].float()).pow(2).sum()) for k in x if x[k].is_floating_point()) ** 0.5

    assert distance(a, b) < 0.5 * distance(a, mid)  # resumed where it stopped, not from scratch or elsewhere


def test_cuda_propagation_never_waits_for_the_device():
    """The propagation's device half makes no synchronising call (a tensor made from host numbers, an index list,
    a value read back): the model thread keeps launching while the device works. And it agrees with the CPU."""
    import cv2

    from vidcolor.chain.motion import gray_u8
    from vidcolor.chain.propagation import Propagation

    noise = np.random.default_rng(0).random((64, 140)).astype(np.float32)
    scene = gray_u8(cv2.GaussianBlur(noise, (0, 0), 2.0) * 300 - 100)
    grays = [np.ascontiguousarray(scene[:, 2 * i : 2 * i + 96]) for i in range(8)]
    ab = torch.rand(8, 2, 64, 96, generator=torch.Generator().manual_seed(0)) * 20
    outs = []
    for device in ("cpu", "cuda"):
        prop = Propagation(pin=device == "cuda")
        seeds = [(grays[0], torch.full((2, 64, 96), 25.0, device=device))]
        first = prop(ab[:4].to(device), grays[:4], seeds=seeds, restarts=[True, False, False, False])
        later = [(grays[6], torch.full((2, 64, 96), -20.0, device=device))]  # a second shot, started from its seed
        plan = prop.plan(grays[4:], later, [False, False, True, False])
        assert [a is not None for a in plan.anchored] == [True, True, True, True]
        rest = ab[4:].to(device)  # a copy from pageable memory: itself synchronising, so made before the check
        if device == "cuda":
            torch.cuda.synchronize()
            torch.cuda.set_sync_debug_mode("error")
        try:
            second = prop.apply(rest, plan)
        finally:
            torch.cuda.set_sync_debug_mode("default")
        outs.append(torch.cat([first, second]).cpu())
    assert (outs[0] - outs[1]).abs().mean() < 0.05


def test_cuda_chroma_stage_with_sleeping_waits_gives_the_same_chroma(monkeypatch):
    """chroma_stage.BLOCKING_EVENTS (the host sleeps instead of spinning while it waits for a copy) changes when the
    host wakes, not what it gets: batches in flight, the same chroma codes."""
    import vidcolor.stream.chroma_stage as chroma_stage
    from vidcolor.io.yuv import PlanarFormat

    _, gpu = twin_predictors()
    fmt = PlanarFormat(96, 64, 8, False, 1, 2, 8)
    luma = [np.random.default_rng(i).integers(16, 235, (64, 96)).astype(np.uint8) for i in range(6)]
    outs = []
    for blocking in (False, True):
        monkeypatch.setattr(chroma_stage, "BLOCKING_EVENTS", blocking)
        stage = chroma_stage.ChromaStage(gpu, fmt, propagate=False)
        pending = [stage.submit(luma[i : i + 2], None, restarts=[i == 0, False]) for i in range(0, 6, 2)]
        outs.append(np.concatenate([p.result() for p in pending]))
    diff = np.abs(outs[0].astype(int) - outs[1])  # the same work (cuDNN may pick another algorithm: a code apart)
    assert outs[0].shape == (6, 2, 32, 48) and diff.max() <= 1 and diff.mean() < 0.01
