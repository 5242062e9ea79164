"""The networks' number format: chosen by the hardware, overridden by --precision or $VIDCOLOR_PRECISION, named in
the run's summary; bf16 gives the colours fp32 gives, and channels-last changes nothing (issue 28)."""

from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from media import make_video
from PIL import Image

from vidcolor.chain import precision
from vidcolor.chain.predictor import Predictor
from vidcolor.cli.commands import cli
from vidcolor.errors import VidcolorError

ROOT = Path(__file__).resolve().parent.parent
CPU = torch.device("cpu")


@pytest.fixture
def native(monkeypatch):
    """Pretend the CPU does (True) or does not (False) compute bf16 natively."""

    def set_native(value: bool) -> None:
        monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: value)

    monkeypatch.setenv(precision.ENV, "auto")  # restored (removed) after the test
    return set_native


def test_auto_takes_bf16_only_where_the_cpu_computes_it(native):
    native(True)
    chosen = precision.choose(CPU)
    assert (chosen.name, chosen.channels_last, chosen.dtype) == ("bf16", True, torch.bfloat16)
    assert "natively" in chosen.describe()
    native(False)
    chosen = precision.choose(CPU)
    assert (chosen.name, chosen.channels_last, chosen.dtype) == ("fp32", False, None)


def test_the_option_and_the_environment_override_the_hardware(native, monkeypatch):
    native(True)
    assert precision.choose(CPU, "fp32").name == "fp32"
    monkeypatch.setenv(precision.ENV, "fp32")
    assert precision.choose(CPU).name == "fp32" and "$VIDCOLOR_PRECISION" in precision.choose(CPU).describe()
    assert precision.choose(CPU, "bf16").name == "bf16"  # the explicit choice wins over the environment
    native(False)
    monkeypatch.setenv(precision.ENV, "bf16")
    assert precision.choose(CPU).name == "bf16"  # asked for: taken even where emulated


def test_impossible_choices_are_one_clear_error(native, monkeypatch):
    with pytest.raises(VidcolorError, match="fp16: only on CUDA"):
        precision.choose(CPU, "fp16")
    monkeypatch.setenv(precision.ENV, "fp64")
    with pytest.raises(VidcolorError, match=r"\$VIDCOLOR_PRECISION fp64: choose one of"):
        precision.choose(CPU)


def test_cpuinfo_flags_are_read():
    assert precision.cpuinfo_says_bf16("processor\t: 0\nflags\t\t: fpu avx512f avx512_bf16 avx512_vnni\n")
    assert precision.cpuinfo_says_bf16("flags\t\t: fpu amx_tile amx_bf16\n")
    assert precision.cpuinfo_says_bf16("Features\t: fp asimd bf16 i8mm\n")  # ARM
    assert not precision.cpuinfo_says_bf16("flags\t\t: fpu avx2 avx512f avx512bw\n")  # emulated only
    assert not precision.cpuinfo_says_bf16("model name\t: bf16 in a name is not a flag\n")


def _sample(vgg_path, name: str) -> np.ndarray:
    return np.asarray(Image.open(ROOT / "samples" / name).convert("RGB"))


def test_bf16_gives_the_colours_fp32_gives_on_a_real_frame(vgg_path):
    gray, ref = _sample(vgg_path, "landscape-gray.png"), _sample(vgg_path, "landscape-ref.png")
    out = {}
    for name in ("fp32", "bf16"):
        p = Predictor.from_pretrained(vgg=str(vgg_path), device="cpu", precision=name)
        out[name] = p.colorize(gray[None], p.prepare_reference(ref))[0].astype(np.float64)
    mse = ((out["fp32"] - out["bf16"]) ** 2).mean()
    psnr = 10 * np.log10(255**2 / max(mse, 1e-12))
    assert psnr > 40, f"bf16 and fp32 differ: {psnr:.1f} dB"
    assert np.abs(out["fp32"] - out["bf16"]).max() < 40


def test_channels_last_changes_nothing_in_fp32(vgg_path, monkeypatch):
    gray = _sample(vgg_path, "landscape-gray.png")[::2, ::2]
    p = Predictor.from_pretrained(vgg=str(vgg_path), device="cpu", precision="fp32", size=128)
    plain = p.colorize(gray[None])
    for net in (p.transfer, p.colorizer, p.refiner):
        if net is not None:
            net.to(memory_format=torch.channels_last)
    assert np.abs(plain.astype(int) - p.colorize(gray[None]).astype(int)).max() <= 1


@pytest.mark.parametrize("choice", ["fp32", "bf16"])
def test_the_summary_names_the_precision(tmp_path, images, vgg_path, random_weights, choice, monkeypatch):
    monkeypatch.setenv(precision.ENV, "auto")  # --precision sets it for the process: restored after the test
    src = make_video(tmp_path / "in.mp4", frames=4)
    res = CliRunner().invoke(
        cli,
        ["run", str(src), "--refs", str(images["ref"]), "-o", str(tmp_path / "out.mp4"), "--size", "64",
         "--preset", "ultrafast", "--vgg", str(vgg_path), "--precision", choice],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert f"device cpu, {choice}" in res.output
