"""io.edit_list's rewrite of an MP4/MOV movie box at its edges: a disk that fills as the box grows, 64-bit box
sizes and a file over 4 GB, version 1 (64-bit) boxes, a track without an edit list, boxes it does not follow. The
file the muxer wrote is never lost: at worst it stays as it was, and the note says where its audio starts. (Lip sync
itself, end to end: test_av_offset.py.)"""

import shutil
import signal
import struct
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import pytest
from zoo import av_offset, make_av

from vidcolor.io.audio_start import place_audio
from vidcolor.io.edit_list import AudioStart, set_audio_edits
from vidcolor.io.streams import StreamPlan


def remux_claiming(src, dest, delay: Fraction, options=None) -> AudioStart:
    """``src`` remuxed into ``dest`` as it is, with an AudioStart saying that its audio starts ``delay`` later (its
    packets' times, shifted): the muxer writes its own edit list, set_audio_edits one ``delay`` later."""
    with av.open(str(src)) as c, av.open(str(dest), "w", options=options or {}) as o:
        pairs = {s.index: o.add_stream_from_template(s) for s in c.streams}
        start = AudioStart(48000, presented=delay)
        for p in c.demux():
            if p.size:
                if p.stream.type == "audio":
                    start.sent(delay + start.packets * Fraction(1024, 48000))
                p.stream = pairs[p.stream.index]
                o.mux(p)
    return start


def boxes_in(data: bytes, offset: int = 0) -> dict[bytes, tuple[int, int]]:
    """type -> (offset, size) of the boxes from ``offset`` to the end of ``data`` (64-bit sizes read; the last of
    a type)."""
    out = {}
    while offset < len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        size = struct.unpack(">Q", data[offset + 8 : offset + 16])[0] if size == 1 else size
        out[kind] = (offset, size)
        offset += size
    return out


def box(kind: bytes, body: bytes, wide: bool = False) -> bytes:
    """A box; ``wide``: with a 64-bit size (a 16-byte header), which the format allows for any box."""
    if wide:
        return struct.pack(">I4sQ", 1, kind, 16 + len(body)) + body
    return struct.pack(">I4s", 8 + len(body), kind) + body


FULL_DISK = """
import resource, signal, sys
from fractions import Fraction
from pathlib import Path
from vidcolor.io.audio_start import place_audio
from vidcolor.io.edit_list import AudioStart
from vidcolor.io.streams import StreamPlan
path, packets = Path(sys.argv[1]), int(sys.argv[2])
start = AudioStart(48000, presented=Fraction(1, 10))
for k in range(packets):
    start.sent(Fraction(1, 10) + k * Fraction(1024, 48000))
plan = StreamPlan(1, "audio", "aac", "copy")
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of the signal: as a full disk's ENOSPC
resource.setrlimit(resource.RLIMIT_FSIZE, (path.stat().st_size, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
place_audio(path, "mp4", {1: start}, {1: plan})
print(plan.note())
"""


@pytest.mark.skipif(not hasattr(signal, "SIGXFSZ"), reason="needs a file size limit (POSIX)")
def test_a_disk_that_fills_while_the_movie_box_grows_keeps_the_muxers_file(tmp_path):
    """The new movie box is 12 bytes longer (an empty edit added). With no room for them (a file size limit, as a
    full disk) the file stays byte for byte as the muxer wrote it and the note says where its audio starts. It was
    written over in place: a failed write left a damaged movie box, and the error removed the whole output."""
    src = make_av(tmp_path / "a.mp4", "mp4", "libx264", "aac")  # its first packet before time 0: one media edit
    dest = tmp_path / "full.mp4"
    start = remux_claiming(src, dest, Fraction(1, 10))
    room = Path(shutil.copy(dest, tmp_path / "room.mp4"))
    before = dest.read_bytes()
    child = [sys.executable, "-c", FULL_DISK, str(dest), str(start.packets)]
    done = subprocess.run(child, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "its first sample 100.0 ms earlier than in the source" in done.stdout, done.stdout
    assert dest.read_bytes() == before and abs(av_offset(dest)) < Fraction(1, 1000)  # the muxer's: audio at 0
    plan = StreamPlan(1, "audio", "aac", "copy")
    place_audio(room, "mp4", {1: start}, {1: plan})  # with room: rewritten
    assert plan.note() == "audio #1 (aac) copied" and room.stat().st_size == len(before) + 12
    assert abs(av_offset(room) + Fraction(1, 10)) < Fraction(1, 48000)


def test_64_bit_box_sizes_and_a_file_over_4_gb(tmp_path):
    """A file over 4 GB (its mdat's size in 64 bits) whose movie box and audio trak have 64-bit sizes too: the new
    movie box is the one the same file with 32-bit sizes gets. The boxes inside a box with a 64-bit size were read
    from 8 bytes in (the size's second half taken for a box header), and the track left as the muxer wrote it."""
    src = make_av(tmp_path / "a.mp4", "mp4", "libx264", "aac")
    plain = tmp_path / "plain.mp4"
    start = remux_claiming(src, plain, Fraction(1, 10))
    data = plain.read_bytes()
    top = boxes_in(data)
    moov = data[top[b"moov"][0] : sum(top[b"moov"])]
    o, n = _traks(moov)[-1]  # the audio's
    wide = box(b"moov", moov[8:o] + box(b"trak", moov[o + 8 : o + n], wide=True) + moov[o + n :], wide=True)
    ftyp, mdat = data[: top[b"ftyp"][1]], 2**32 + 4096  # the mdat sparse: nothing written inside it
    big = tmp_path / "big.mp4"
    with open(big, "wb") as f:
        f.write(ftyp + struct.pack(">I4sQ", 1, b"mdat", mdat))
        f.seek(len(ftyp) + mdat)
        f.write(wide)
    if big.stat().st_blocks * 512 > 2**26:
        pytest.skip("no sparse files here")
    assert set_audio_edits(plain, {1: start}) == {} and set_audio_edits(big, {1: start}) == {}  # nothing cut
    new = plain.read_bytes()[top[b"moov"][0] :]
    assert new != moov  # rewritten
    with open(big, "rb") as f:
        f.seek(len(ftyp) + mdat)
        assert f.read() == new  # the movie box of the file with 32-bit sizes, byte for byte


def _traks(moov: bytes) -> list[tuple[int, int]]:
    out, offset = [], 8
    while offset < len(moov):
        size, kind = struct.unpack(">I4s", moov[offset : offset + 8])
        if kind == b"trak":
            out.append((offset, size))
        offset += size
    return out


def test_a_track_without_an_edit_list_gets_one(tmp_path):
    """An audio trak without an edit list (a muxer may leave it out where a track starts at 0) gets the same new
    one as with, after its tkhd."""
    src = make_av(tmp_path / "a.mp4", "mp4", "libx264", "aac")
    plain = tmp_path / "plain.mp4"
    start = remux_claiming(src, plain, Fraction(1, 10))
    data = plain.read_bytes()
    at, size = boxes_in(data)[b"moov"]
    moov = data[at : at + size]
    o, n = _traks(moov)[-1]  # the audio's
    edts = boxes_in(moov[: o + n], o + 8)[b"edts"]
    trak = moov[o + 8 : edts[0]] + moov[sum(edts) : o + n]
    bare = tmp_path / "bare.mp4"
    bare.write_bytes(data[:at] + box(b"moov", moov[8:o] + box(b"trak", trak) + moov[o + n :]))
    assert set_audio_edits(plain, {1: start}) == {} and set_audio_edits(bare, {1: start}) == {}
    assert bare.read_bytes() == plain.read_bytes()
    assert abs(av_offset(bare) + Fraction(1, 10)) < Fraction(1, 48000)


def test_64_bit_durations_in_version_1_boxes(tmp_path):
    """A movie timescale of 2^31 - 1 and 2.5 s: the muxer writes 64-bit mvhd/tkhd/elst (version 1), the new audio
    edits need a version 1 elst too, and players find the audio 100 ms late."""
    src = make_av(tmp_path / "a.mp4", "mp4", "libx264", "aac", frames=60)
    dest = tmp_path / "v1.mp4"
    start = remux_claiming(src, dest, Fraction(1, 10), {"movie_timescale": str(2**31 - 1)})
    assert set_audio_edits(dest, {1: start}) == {}
    data = dest.read_bytes()
    elst = data.rindex(b"elst")  # the audio's: the last trak's
    assert struct.unpack(">B3xI", data[elst + 4 : elst + 12]) == (1, 2)  # version 1, an empty edit and the media
    assert abs(av_offset(dest) + Fraction(1, 10)) < Fraction(1, 48000)


def test_boxes_it_does_not_follow_leave_the_file_as_it_is(tmp_path):
    """An empty tkhd (IndexError), a 64-bit size cut short by the end of the file (struct.error): the file stays
    as it is and nothing is said cut. The error went up and the output was removed."""
    mvhd = struct.pack(">B3xIIII", 0, 0, 0, 1000, 500) + bytes(80)
    moov = box(b"moov", box(b"mvhd", mvhd) + box(b"trak", box(b"tkhd", b"")))
    files = {
        "empty-tkhd.mp4": box(b"ftyp", b"isom") + box(b"mdat", bytes(16)) + moov,
        "cut-short.mp4": box(b"ftyp", b"isom") + struct.pack(">I4s", 1, b"moov"),
    }
    start = AudioStart(48000, presented=Fraction(1, 10), times=[Fraction(1, 10)], packets=1)
    for name, data in files.items():
        path = tmp_path / name
        path.write_bytes(data)
        assert set_audio_edits(path, {0: start}) == {}, name
        assert path.read_bytes() == data, name
