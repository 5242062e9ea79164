"""The encoder process (io/encoder_process.py): planes through shared memory, chunks reported in order, failures
carried back as the same errors, nothing left behind."""

import errno
import os
import signal
import time

import av
import numpy as np
import pytest
from media import make_planar_video

from vidcolor.errors import VidcolorError
from vidcolor.io.encode import EncodeSettings
from vidcolor.io.encoder_process import EncoderProcess, error_reply, raise_reply
from vidcolor.io.frame_ring import slot_planes
from vidcolor.io.media import probe
from vidcolor.io.yuv import plan_planar

LOSSLESS = EncodeSettings("libx264", 0, "ultrafast")


def _format(tmp_path, pix_fmt="yuv420p", width=64, height=48):
    src = make_planar_video(tmp_path / f"src-{pix_fmt}-{width}.mp4", frames=1, width=width, height=height,
                            pix_fmt=pix_fmt)  # fmt: skip
    info = probe(src)
    return info, plan_planar(info, "libx264")


def _planes(fmt, seed):
    rng = np.random.default_rng(seed)
    top = (1 << fmt.bits) - 1
    return (rng.integers(16, top - 16, (fmt.height, fmt.width)).astype(fmt.dtype),
            rng.integers(16, top - 16, (2, *fmt.chroma_shape)).astype(fmt.dtype))  # fmt: skip


def _decoded(path, fmt):
    dtype = np.dtype(np.uint8 if fmt.bits == 8 else "<u2")
    out = []
    with av.open(str(path)) as c:
        for f in c.decode(c.streams.video[0]):
            planes = [np.frombuffer(p, dtype).reshape(p.height, p.line_size // dtype.itemsize)[:, : p.width]
                      for p in f.planes]  # fmt: skip
            out.append((f.pts, planes[0].copy(), np.stack(planes[1:]).copy()))
    return out


@pytest.mark.parametrize(("pix_fmt", "width"), [("yuv420p", 64), ("yuv420p10le", 64), ("yuv444p", 63)])
def test_frames_cross_exactly_and_chunks_come_in_order(tmp_path, pix_fmt, width):
    info, fmt = _format(tmp_path, pix_fmt, width)
    work = tmp_path / "work"
    work.mkdir()
    chunks, sent = [], [_planes(fmt, i) for i in range(7)]
    with EncoderProcess(work, info, LOSSLESS, fmt, first_chunk=3, on_chunk=lambda *c: chunks.append(c),
                        ring_bytes=1) as writer:  # fmt: skip
        assert writer.ring.slots == 2  # the smallest ring: every slot is used again and again
        for i, (luma, chroma) in enumerate(sent):
            writer.write(10 * i, luma, chroma)
            if i == 2:
                writer.close_chunk()
        writer.finish()
    assert chunks == [("chunk-00003.mp4", 3), ("chunk-00004.mp4", 4)]
    assert sorted(p.name for p in work.iterdir()) == ["chunk-00003.mp4", "chunk-00004.mp4"]
    got = _decoded(work / "chunk-00003.mp4", fmt) + _decoded(work / "chunk-00004.mp4", fmt)
    assert [g[0] for g in got] == [10 * i for i in range(7)]
    for (luma, chroma), (_pts, y, c) in zip(sent, got, strict=True):
        assert np.array_equal(y, luma) and np.array_equal(c, chroma)


def test_slots_do_not_overlap(tmp_path):
    _info, fmt = _format(tmp_path, "yuv444p10le", 33, 17)
    ring = bytearray(3 * (33 * 17 * 3 * 2))
    for slot in range(3):
        luma, chroma = slot_planes(ring, slot, fmt)
        luma[:], chroma[:] = slot + 1, slot + 11
    for slot in range(3):
        luma, chroma = slot_planes(ring, slot, fmt)
        assert (luma == slot + 1).all() and (chroma == slot + 11).all() and chroma.shape == (2, 17, 33)


def test_errors_come_back_as_the_same_kind():
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/data/work/chunk.mp4")
    with pytest.raises(OSError) as caught:
        raise_reply(error_reply(full))
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == "/data/work/chunk.mp4"
    with pytest.raises(VidcolorError, match="^--codec x: no$"):
        raise_reply(error_reply(VidcolorError("--codec x: no")))
    with pytest.raises(RuntimeError, match="ValueError: bad"):
        raise_reply(error_reply(ValueError("bad")))


def test_a_failure_in_the_child_is_raised_in_the_parent(tmp_path):
    info, fmt = _format(tmp_path)
    work = tmp_path / "gone"
    work.mkdir()
    writer = EncoderProcess(work, info, LOSSLESS, fmt)
    work.rmdir()  # the chunk file cannot be created
    with pytest.raises(OSError) as caught, writer:
        for i in range(100):  # the parent writes on after the child has gone, stale replies ahead of its error
            writer.write(i, *_planes(fmt, i))
            time.sleep(0.01)
        writer.finish()
    assert caught.value.errno == errno.ENOENT
    assert writer._proc.poll() is not None


def test_an_unknown_encoder_is_one_clear_error(tmp_path):
    info, fmt = _format(tmp_path)
    with pytest.raises(VidcolorError, match="--codec nosuchcodec: cannot encode"), \
            EncoderProcess(tmp_path, info, EncodeSettings("nosuchcodec"), fmt) as writer:  # fmt: skip
        writer.write(0, *_planes(fmt, 0))
        writer.finish()


def test_a_killed_child_is_said_plainly(tmp_path):
    info, fmt = _format(tmp_path)
    with pytest.raises(VidcolorError, match="encoder process ended unexpectedly"), \
            EncoderProcess(tmp_path, info, LOSSLESS, fmt, ring_bytes=1) as writer:  # fmt: skip
        writer.write(0, *_planes(fmt, 0))
        os.kill(writer._proc.pid, signal.SIGKILL)
        writer._proc.wait()
        for i in range(1, 5):
            writer.write(i, *_planes(fmt, i))
        writer.finish()


def test_abort_keeps_finished_chunks_and_drops_the_open_one(tmp_path):
    info, fmt = _format(tmp_path)
    chunks = []
    with EncoderProcess(tmp_path / "", info, LOSSLESS, fmt, on_chunk=lambda *c: chunks.append(c)) as writer:
        for i in range(5):
            writer.write(i, *_planes(fmt, i))
            if i == 2:
                writer.close_chunk()
        writer.abort()
    assert chunks == [("chunk-00000.mp4", 3)]
    assert writer._proc.returncode == 0
    assert sorted(p.name for p in tmp_path.glob("*chunk*")) == ["chunk-00000.mp4"]


def test_the_child_ignores_ctrl_c_and_aborts_when_the_parent_is_gone(tmp_path):
    info, fmt = _format(tmp_path)
    writer = EncoderProcess(tmp_path, info, LOSSLESS, fmt)
    writer.write(0, *_planes(fmt, 0))
    os.kill(writer._proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole process group: the parent decides
    writer.write(1, *_planes(fmt, 1))
    writer._proc.stdin.close()  # what the parent's end looks like from the child
    assert writer._proc.wait(timeout=30) == 0
    writer.close()
    assert not list(tmp_path.glob("*chunk*"))  # the unfinished chunk is not left behind


def test_the_child_tells_its_idle_and_busy_time(tmp_path):
    info, fmt = _format(tmp_path)
    with EncoderProcess(tmp_path, info, LOSSLESS, fmt) as writer:
        writer.write(0, *_planes(fmt, 0))
        time.sleep(0.3)
        writer.write(1, *_planes(fmt, 1))
        writer.finish()
    assert writer.child_idle >= 0.25 and writer.child_busy > 0 and writer.waited == 0  # 8 slots: never full


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts open files in /proc")
def test_a_child_that_never_starts_leaves_nothing_open(tmp_path, monkeypatch):
    import vidcolor.io.encoder_process as ep

    info, fmt = _format(tmp_path)
    monkeypatch.setattr(ep, "CHILD", "import sys; sys.exit(3)")
    before = len(os.listdir("/proc/self/fd"))
    with pytest.raises(VidcolorError, match=r"ended unexpectedly \(exit status 3\)"):
        EncoderProcess(tmp_path, info, LOSSLESS, fmt)
    assert len(os.listdir("/proc/self/fd")) == before  # ring, pipes: all closed


def test_an_abort_does_not_wait_long_for_a_busy_child(tmp_path):
    info, fmt = _format(tmp_path)
    with EncoderProcess(tmp_path, info, LOSSLESS, fmt) as writer:
        writer.write(0, *_planes(fmt, 0))
        os.kill(writer._proc.pid, signal.SIGSTOP)  # busy (stopped) with earlier frames
        t0 = time.perf_counter()
        writer.abort(seconds=0.5)
        assert time.perf_counter() - t0 < 5
    assert writer._proc.returncode is not None and not list(tmp_path.glob("*chunk*"))
