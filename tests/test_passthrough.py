"""Luma passthrough: the output's luma plane is the source's, bit for bit (lossless encode), at 8 and 10 bits, for
4:2:0, 4:4:4 (odd sizes) and full-range sources; chroma planes have the pixel format's shape."""

from dataclasses import replace

import av
import numpy as np
import pytest
import torch
from conftest import colour_image, tiny_predictor
from media import luma_planes, make_planar_video
from PIL import Image

from vidcolor.io.encode import EncodeSettings, encoder_opens, resolve_codec
from vidcolor.io.media import probe
from vidcolor.io.yuv import (
    PlanarFormat,
    frame_luma,
    gray_table,
    plan_planar,
    planar_frame,
    planar_to_rgb,
    rgb_to_planar,
)
from vidcolor.stream.pipeline import RunOptions
from vidcolor.stream.video import run_video

LOSSLESS = EncodeSettings("libx264", 0, "ultrafast")


@pytest.fixture
def ref(tmp_path):
    path = tmp_path / "ref.png"
    Image.fromarray(colour_image(seed=7)).save(path)
    return path


@pytest.mark.parametrize(
    "width,height,pix_fmt,out_fmt",
    [
        (64, 48, "yuv420p", "yuv420p"),
        (64, 48, "yuv420p10le", "yuv420p10le"),
        (63, 47, "yuv444p", "yuv444p"),
        (63, 47, "yuv444p10le", "yuv444p10le"),
        (64, 48, "yuvj420p", "yuv420p"),
        (64, 48, "yuv444p", "yuv420p"),
    ],
)
def test_lossless_run_keeps_every_luma_bit(tmp_path, ref, width, height, pix_fmt, out_fmt):
    src = make_planar_video(tmp_path / "in.mp4", 7, width, height, pix_fmt)
    out = tmp_path / "out.mp4"
    options = RunOptions(batch=3, chunk_frames=4, encode=LOSSLESS)
    summary = run_video(str(src), str(out), str(ref), tiny_predictor, options, quiet=True, detector=None)
    assert summary.frames == 7 and out_fmt in summary.encoder
    name_in, y_in = luma_planes(src)
    name_out, y_out = luma_planes(out)
    assert name_out.replace("yuvj", "yuv") == out_fmt and len(y_out) == 7  # full range decodes as yuvj
    assert all(a.dtype == b.dtype and np.array_equal(a, b) for a, b in zip(y_in, y_out, strict=True))
    with av.open(str(out)) as c:
        frame = next(c.decode(video=0))
        assert int(frame.color_range) == (2 if pix_fmt.startswith("yuvj") else 1)
        u = np.frombuffer(frame.planes[1], np.uint8 if "10" not in name_out else "<u2")
        assert len(np.unique(u)) > 3  # colour went in
    assert any(np.abs(f.astype(int) - f[..., [1, 2, 0]]).max() > 8 for f in frames_rgb_of(out))


def frames_rgb_of(path):
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(c.streams.video[0])]


@pytest.mark.parametrize("width,height,pix_fmt", [(64, 48, "yuv420p"), (63, 47, "yuv420p10le"), (66, 50, "yuv422p")])
def test_chroma_stage_shapes_per_pixel_format(tmp_path, width, height, pix_fmt):
    from vidcolor.stream.chroma_stage import ChromaStage

    if width % 2 and "420" in pix_fmt:
        pix_fmt = pix_fmt.replace("420", "444")
    src = make_planar_video(tmp_path / "in.mp4", 2, width, height, pix_fmt)
    fmt = plan_planar(probe(src), "libx264")
    with av.open(str(src)) as c:
        luma = np.stack([frame_luma(f, fmt) for f in c.decode(video=0)])
    assert luma.dtype == fmt.dtype and luma.shape == (2, height, width)
    chroma = ChromaStage(tiny_predictor(), fmt)(luma, None)
    expected = (height // 2, width // 2) if width % 2 == 0 and height % 2 == 0 else (height, width)
    assert fmt.chroma_shape == expected
    assert chroma.shape == (2, 2, *expected) and chroma.dtype == fmt.dtype
    assert chroma.max() <= (1 << fmt.bits) - 1
    rgb = planar_to_rgb(luma[0], chroma[0], fmt)
    assert rgb.shape == (height, width, 3)


def test_planar_round_trip_and_gray_table(tmp_path):
    src = make_planar_video(tmp_path / "in.mp4", 1, 64, 48, "yuv420p", colorspace=6)
    fmt = plan_planar(probe(src), "libx264")
    assert (fmt.pix_fmt, fmt.bits, fmt.full_range, fmt.colorspace) == ("yuv420p", 8, False, 6)
    y, x = np.mgrid[0:48, 0:64] / 64
    smooth = np.stack([0.5 + 0.4 * np.sin(3 * x), 0.5 + 0.4 * np.cos(4 * y), 0.5 + 0.3 * np.sin(2 * (x + y))], -1)
    image = (smooth * 255).astype(np.uint8)
    luma, chroma = rgb_to_planar(image, fmt)
    assert luma.shape == (48, 64) and chroma.shape == (2, 24, 32)
    back = planar_to_rgb(luma, chroma, fmt)
    assert np.abs(back.astype(int) - image).mean() < 2.5  # 4:2:0 of a smooth picture, the frame's own matrix
    wrong = planar_to_rgb(luma, chroma, replace(fmt, colorspace=1))
    assert np.abs(wrong.astype(int) - image).mean() > 4  # the matrix tag is what the player decodes with
    table = gray_table(fmt)
    assert table[16] == 0 and table[235] == 255 and table[0] == 0 and table[255] == 255 and table[126] == 128
    with pytest.raises(ValueError, match="do not make"):
        planar_frame(luma[:-2], chroma, fmt)


def test_codec_auto_falls_back_to_libx264_where_nvenc_does_not_open(tmp_path, ref):
    if encoder_opens("h264_nvenc"):
        pytest.skip("this machine has an NVENC encoder")
    settings, note = resolve_codec(EncodeSettings("auto", 18, "veryfast"))
    assert settings.codec == "libx264" and settings.preset == "veryfast" and "auto" in note
    assert resolve_codec(EncodeSettings("libx265"))[0].codec == "libx265"
    src = make_planar_video(tmp_path / "in.mp4", 3)
    options = RunOptions(batch=2, encode=EncodeSettings("auto", 18, "ultrafast"))
    summary = run_video(str(src), str(tmp_path / "o.mp4"), str(ref), tiny_predictor, options, quiet=True)
    assert summary.encoder.startswith("libx264 (auto: h264_nvenc did not open)")
    with av.open(str(tmp_path / "o.mp4")) as c:
        assert c.streams.video[0].codec_context.name == "h264"


def test_encoder_options_lossless_and_nvenc():
    assert EncodeSettings("libx264", 0, "fast").options() == {"qp": "0", "preset": "fast"}
    assert EncodeSettings("libx264", 20, "fast").options() == {"crf": "20", "preset": "fast"}
    assert EncodeSettings("h264_nvenc", 20, "veryfast").options() == {"preset": "p2", "rc": "vbr", "cq": "20"}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_chroma_stage_matches_cpu_and_overlaps(tmp_path):
    from vidcolor.stream.chroma_stage import ChromaStage

    src = make_planar_video(tmp_path / "in.mp4", 6, 64, 48, "yuv420p10le")
    fmt = plan_planar(probe(src), "libx264")
    with av.open(str(src)) as c:
        luma = np.stack([frame_luma(f, fmt) for f in c.decode(video=0)])
    cpu = ChromaStage(tiny_predictor("cpu"), fmt)(luma, None)
    gpu_predictor = tiny_predictor("cuda")
    gpu_predictor.amp_dtype = None  # same arithmetic as the CPU
    stage = ChromaStage(gpu_predictor, fmt)
    pending = [stage.submit(luma[i : i + 2], None) for i in range(0, 6, 2)]  # several in flight, ring reused
    got = np.concatenate([p.result() for p in pending])
    assert got.dtype == np.uint16 and got.shape == cpu.shape
    assert np.abs(got.astype(int) - cpu.astype(int)).max() <= 2
    # the same shot again, started afresh (the propagation carried the first pass's last frame otherwise)
    again = np.concatenate([stage(luma[i : i + 2], None, restarts=[i == 0, False]) for i in range(0, 6, 2)])
    assert np.array_equal(again, got)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_run_keeps_luma(tmp_path, ref):
    src = make_planar_video(tmp_path / "in.mp4", 9, 64, 48, "yuv420p")
    out = tmp_path / "out.mp4"
    options = RunOptions(batch=2, chunk_frames=4, encode=LOSSLESS)
    run_video(str(src), str(out), str(ref), lambda **kw: tiny_predictor("cuda"), options, quiet=True, detector=None)
    assert all(np.array_equal(a, b) for a, b in zip(luma_planes(src)[1], luma_planes(out)[1], strict=True))


def test_deeper_luma_is_rounded_to_the_output_depth():
    """A 10-bit source through an 8-bit-only codec (or 12 bit into 10): luma rounded, never wrapped."""
    frame = av.VideoFrame(8, 4, "yuv420p10le")
    plane = frame.planes[0]
    codes = np.array([0, 1, 2, 3, 510, 513, 1021, 1023] * 4, np.uint16).reshape(4, 8)
    np.frombuffer(plane, "<u2").reshape(4, plane.line_size // 2)[:, :8] = codes
    fmt = PlanarFormat(8, 4, 8, False, 1, 2, 10)
    luma = frame_luma(frame, fmt)
    assert luma.dtype == np.uint8
    assert luma[0].tolist() == [0, 0, 1, 1, 128, 128, 255, 255]
    same = frame_luma(frame, replace(fmt, bits=10))
    assert same.dtype == np.uint16 and np.array_equal(same, codes)
