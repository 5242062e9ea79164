"""Decoder-reordered timestamps (packed B-frames in AVI) come out as the source's presentation times."""

from fractions import Fraction

import av
import numpy as np
import pytest
from media import frames_rgb
from test_pipeline import ref, run  # noqa: F401 - fixture
from zoo import decoded_pts, make_packed_avi

from vidcolor.io.timestamps import restore_pts


def test_restore_pts_sorts_a_small_window_and_keeps_the_items_in_order():
    shuffled = [1, 3, 2, 5, 4, 7, 6, 9, 8, 10]
    out = list(restore_pts(((p, i) for i, p in enumerate(shuffled)), step=1))
    assert [p for p, _ in out] == list(range(1, 11))
    assert [i for _, i in out] == list(range(10))  # items untouched, in their order


def test_restore_pts_fills_missing_and_repeated_timestamps():
    out = [p for p, _ in restore_pts(((p, None) for p in [None, None, 7, 7, 9]), step=3)]
    assert out == sorted(set(out)) and len(out) == 5  # strictly increasing
    assert [p for p, _ in restore_pts(((None, None) for _ in range(4)), step=2)] == [0, 2, 4, 6]


def test_the_synthetic_divx_avi_reproduces_shuffled_decoder_pts(tmp_path):
    pts = decoded_pts(make_packed_avi(tmp_path / "divx.avi", frames=12))
    assert pts != sorted(pts) and len(set(pts)) == 12  # the defect's precondition, measured


@pytest.mark.parametrize("ext", [".mp4", ".mkv"])
def test_packed_b_frame_avi_keeps_display_times(tmp_path, ref, ext):  # noqa: F811
    src = make_packed_avi(tmp_path / "divx.avi", frames=14, audio="ac3")
    out = tmp_path / f"out{ext}"
    assert run(src, out, ref).frames == 14
    with av.open(str(out)) as c:
        got = [Fraction(f.pts) * f.time_base for f in c.decode(c.streams.video[0])]
    want = [Fraction(p, 24) for p in sorted(decoded_pts(src))]
    assert len(got) == len(want)
    tolerance = Fraction(0) if ext == ".mp4" else Fraction(1, 1000)  # Matroska stores milliseconds
    assert max(abs(a - b) for a, b in zip(got, want, strict=True)) <= tolerance
    a = [x.mean(-1) for x in frames_rgb(src)]  # frame order unchanged: output k looks most like source k
    b = [x.mean(-1) for x in frames_rgb(out)]
    nearest = [int(np.argmin([np.abs(y - x).mean() for x in a])) for y in b]
    assert nearest == list(range(14))
