"""Faulty inputs and outputs: one `vidcolor: error:` line, exit 1, nothing left behind."""

import struct
import zlib
from fractions import Fraction

import av
import numpy as np
import pytest
from conftest import colour_image
from media import make_video
from PIL import Image
from test_pipeline import cli_error, ref, run, tiny_predictor  # noqa: F401 - fixture

from vidcolor.errors import VidcolorError
from vidcolor.io.image import read_image
from vidcolor.stream.work_state import work_dir_for


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def huge_png(path, width=20000, height=20000):
    """A small file whose header says 20000x20000 (400 megapixels): PIL refuses it as a decompression bomb."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (1 + 3 * width) * 2)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", rows) + _chunk(b"IEND", b""))
    return path


def left_behind(folder, *keep):
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


def test_huge_reference_is_one_line(tmp_path):
    src = make_video(tmp_path / "in.mp4", frames=3)
    line = cli_error("run", src, "--refs", huge_png(tmp_path / "huge.png"), "-o", tmp_path / "o.mp4")
    assert "huge.png" in line and "too large" in line and "400 megapixels" in line
    line = cli_error("image", src.with_name("huge.png"), "-o", tmp_path / "o.png")
    assert "too large" in line
    assert left_behind(tmp_path) == ["huge.png", "in.mp4"]


def test_output_folder_that_cannot_be_made(tmp_path):
    src = make_video(tmp_path / "in.mp4", frames=3)
    line = cli_error("run", src, "-o", "/proc/x.mp4")
    assert "/proc/" in line and "cannot create" in line


@pytest.mark.parametrize("kind", ["cmyk.jpg", "palette.png", "palette-transparent.png", "alpha.png", "gray16.png"])
def test_reference_image_modes(tmp_path, kind):
    rgb = colour_image(seed=1)
    path = tmp_path / kind
    img = Image.fromarray(rgb)
    if kind == "cmyk.jpg":
        img.convert("CMYK").save(path, quality=95)
    elif kind == "palette.png":
        img.convert("P", palette=Image.ADAPTIVE).save(path)
    elif kind == "palette-transparent.png":
        img.convert("P", palette=Image.ADAPTIVE).save(path, transparency=0)
    elif kind == "alpha.png":
        rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
        rgba[:12, :, :3] = (0, 255, 0)  # hidden pure green: must not reach the reference
        rgba[:12, :, 3] = 0
        Image.fromarray(rgba, "RGBA").save(path)
    else:
        Image.fromarray(rgb[..., 0].astype(np.uint16) * 257).save(path)
    out = read_image(path)
    assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3
    if kind == "alpha.png":
        assert out.shape == (36, 64, 3)  # cropped to the visible part
        assert np.abs(out.astype(int) - rgb[12:]).max() <= 1
        whole = read_image(path, crop=False)  # a target keeps its size: the hidden rows are white
        assert whole.shape == (48, 64, 3) and (whole[:12] == 255).all()
        assert np.abs(whole[12:].astype(int) - rgb[12:]).max() <= 1
    elif kind == "gray16.png":
        assert np.abs(out[..., 0].astype(int) - rgb[..., 0]).max() <= 1
    else:
        assert np.abs(out.astype(int) - rgb).mean() < 12  # same picture, up to palette / JPEG loss


def test_fully_transparent_and_truncated_references(tmp_path):
    clear = tmp_path / "clear.png"
    Image.fromarray(np.zeros((8, 8, 4), np.uint8), "RGBA").save(clear)
    with pytest.raises(VidcolorError, match="transparent"):
        read_image(clear)
    full = tmp_path / "full.png"
    Image.fromarray(colour_image(seed=2)).save(full)
    cut = tmp_path / "cut.png"
    cut.write_bytes(full.read_bytes()[:300])
    src = make_video(tmp_path / "in.mp4", frames=3)
    assert "cut.png" in cli_error("run", src, "--refs", cut, "-o", tmp_path / "o.mp4")


def test_zero_frame_video(tmp_path):
    path = tmp_path / "empty.mkv"
    with av.open(str(path), "w", format="matroska") as out:
        v = out.add_stream("libx264", rate=24)
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        out.start_encoding()
    line = cli_error("run", path, "-o", tmp_path / "o.mp4")
    assert "empty.mkv" in line and "nothing to decode" in line
    assert left_behind(tmp_path) == ["empty.mkv"]


def _raw_h264(path, sizes):
    """An H.264 elementary stream (no container timestamps at all), one run of frames per size."""
    with open(path, "wb") as f:
        for w, h in sizes:
            cc = av.CodecContext.create("libx264", "w")
            cc.width, cc.height, cc.pix_fmt, cc.time_base = w, h, "yuv420p", Fraction(1, 24)
            cc.options = {"preset": "ultrafast"}
            cc.open()
            for i in range(6):
                img = np.full((h, w, 3), 30 * i, np.uint8)
                frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
                frame.pts = i
                f.write(b"".join(bytes(p) for p in cc.encode(frame)))
            f.write(b"".join(bytes(p) for p in cc.encode(None)))
    return path


def test_stream_without_timestamps_gets_even_times(tmp_path, ref):  # noqa: F811
    src = _raw_h264(tmp_path / "raw.h264", [(64, 48)])
    out = tmp_path / "out.mp4"
    assert run(src, out, ref).frames == 6
    with av.open(str(out)) as c:
        times = [Fraction(f.pts) * f.time_base for f in c.decode(c.streams.video[0])]
    steps = {b - a for a, b in zip(times, times[1:], strict=False)}
    assert len(times) == 6 and len(steps) == 1 and steps.pop() > 0


def test_resolution_change_mid_stream_is_a_clean_error(tmp_path, ref):  # noqa: F811
    src = _raw_h264(tmp_path / "raw.h264", [(64, 48), (96, 64)])
    with pytest.raises(VidcolorError, match=r"size changes at frame 6 \(64x48 -> 96x64\)"):
        run(src, tmp_path / "out.mp4", ref, chunk_frames=100)
    assert not (tmp_path / "out.mp4").exists() and not work_dir_for(tmp_path / "out.mp4").exists()


def test_failure_before_the_first_chunk_leaves_no_work_folder(tmp_path, ref):  # noqa: F811
    src = make_video(tmp_path / "in.mp4", frames=3)

    def broken(**_kw):
        raise VidcolorError("no weights here")

    with pytest.raises(VidcolorError, match="no weights"):
        run(src, tmp_path / "out.mp4", ref, factory=broken)
    assert left_behind(tmp_path) == ["in.mp4", "ref.png"]


def test_damaged_progress_file_is_one_line(tmp_path, ref):  # noqa: F811
    src = make_video(tmp_path / "in.mp4", frames=3)
    work = work_dir_for(tmp_path / "out.mp4")
    work.mkdir()
    (work / "progress.json").write_text('{"chunks": [')  # cut short
    with pytest.raises(VidcolorError, match="progress.json: unreadable.*--fresh"):
        run(src, tmp_path / "out.mp4", ref, resume=True)
    assert run(src, tmp_path / "out.mp4", ref, fresh=True).frames == 3


def test_weights_cache_that_cannot_be_written(tmp_path):
    from vidcolor import weights

    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(VidcolorError, match="cannot write"):
        weights._atomic_torch_save({}, blocker / "cache" / "vgg.pth")
