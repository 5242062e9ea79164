"""Lip sync as players see it: the offset between the first video frame and the first audio sample, both decoded
with the edit lists applied, is the source's in MP4, MOV and Matroska outputs, for copied and re-encoded audio
(issue 30: AC3 copied from AVI, Vorbis re-encoded to AAC for MP4); where an output cannot keep it, the summary says
by how much."""

import re
from fractions import Fraction

import av
import pytest
from media import audio_payloads, frame_times
from test_pipeline import ref, run  # noqa: F401 - fixture
from zoo import av_offset, delay_avi_audio, make_av, make_packed_avi, onset_offset

from vidcolor.io.edit_list import AudioStart, movie_timescale, plan_edits, set_audio_edits
from vidcolor.io.encode import EncodeSettings

FLOOR = 0.002  # seconds: the offset kept to within 2 ms
VERYFAST = EncodeSettings("libx264", 18, "veryfast")  # `run --fast`'s encoder: B-frames, a negative first dts


def ac3_avi_video_late(tmp):
    """DivX-style AVI: the decoder's first frame is one frame (41.7 ms) after the AC3 audio's first sample."""
    return make_packed_avi(tmp / "divx.avi", frames=12, audio="ac3")


def ac3_avi_audio_late(tmp):
    """The same with the audio delayed one AC3 frame (32 ms) in its stream header: 9.7 ms between them. MP4 lost
    the delay (its empty edit rounded down to the 1/24 s movie timescale): 41.7 ms."""
    return delay_avi_audio(make_packed_avi(tmp / "late.avi", frames=12, audio="ac3"), 1)


def vorbis_webm(tmp):
    """Vorbis starting 44 ms after the picture: re-encoded to AAC for MP4 (its first sample came at 22 ms)."""
    return make_av(tmp / "v.webm", "webm", "libvpx", "vorbis", audio_start=0.044)


def aac_mp4(tmp):
    """AAC (its first packet at a negative time: the encoder priming, trimmed by the edit list) starting 50 ms
    (one frame, 41.7 ms, as muxed) before the picture."""
    return make_av(tmp / "a.mp4", "mp4", "libx264", "aac", audio_start=-0.05)


SOURCES = {  # name: (maker, what happens to the audio in .mp4/.mov, in .mkv)
    "ac3-avi-video-late": (ac3_avi_video_late, "copied", "copied"),
    "ac3-avi-audio-late": (ac3_avi_audio_late, "copied", "copied"),
    "vorbis-webm": (vorbis_webm, "re-encoded to aac", "copied"),
    "aac-mp4": (aac_mp4, "copied", "copied"),
}
CASES = [(name, ext) for name in SOURCES for ext in (".mp4", ".mov", ".mkv")]


@pytest.mark.parametrize("name,ext", CASES, ids=[f"{n}->{e}" for n, e in CASES])
def test_the_offset_players_see_is_the_sources(tmp_path, ref, name, ext):  # noqa: F811
    make, action_mp4, action_mkv = SOURCES[name]
    src = make(tmp_path)
    out = tmp_path / f"out{ext}"
    summary = run(src, out, ref, encode=VERYFAST)
    (note,) = summary.streams
    assert (action_mkv if ext == ".mkv" else action_mp4) in note, note
    if "copied" in note:
        assert audio_payloads(out) == audio_payloads(src)
    want, got = av_offset(src), av_offset(out)
    moved = re.search(r"first sample ([\d.]+) ms earlier", note)
    if name == "aac-mp4" and ext == ".mkv":
        # Matroska: the copied AAC priming (1,024 samples) is not marked to be skipped (PyAV cannot set the codec
        # delay), so players start it 21.3 ms early, as before: the summary says so
        assert moved and abs(float(moved.group(1)) - 1024 / 48) <= 0.5, note  # Matroska: milliseconds
        assert abs(got - want - Fraction(1024, 48000)) <= FLOOR
    else:
        assert not moved and "cut" not in note, note
        assert abs(got - want) <= FLOOR, f"{float(want) * 1000:.2f} ms -> {float(got) * 1000:.2f} ms"
    tolerance = 0.0011 if ext == ".mkv" or src.suffix in (".webm", ".mkv") else 0.0002  # ms time bases
    assert abs(onset_offset(out) - onset_offset(src)) <= tolerance  # where the sound starts against the picture
    t_in, t_out = sorted(frame_times(src)), frame_times(out)
    assert len(t_in) == len(t_out) and max(abs(a - b) for a, b in zip(t_in, t_out, strict=True)) <= tolerance


def shift_audio(src, dest, seconds: float):
    """``src`` remuxed into Matroska with its audio ``seconds`` earlier (a negative start), the video as it is."""
    with (
        av.open(str(src)) as c,
        av.open(str(dest), "w", format="matroska", options={"avoid_negative_ts": "disabled"}) as o,
    ):
        pairs = {s.index: o.add_stream_from_template(s) for s in (c.streams.video[0], c.streams.audio[0])}
        for p in c.demux():
            if not p.size:
                continue
            if p.stream.type == "audio":
                shift = round(seconds / p.time_base)
                p.pts, p.dts = p.pts - shift, p.dts - shift
            p.stream = pairs[p.stream.index]
            o.mux(p)
    return dest


def test_audio_before_time_zero_is_cut_in_mp4_and_the_summary_says_how_much(tmp_path, ref):  # noqa: F811
    src = shift_audio(make_av(tmp_path / "in.mkv", "matroska", "libx264", "mp2"), tmp_path / "early.mkv", 0.030)
    with av.open(str(src)) as c:
        first = next(iter(c.decode(c.streams.audio[0])))
    early = -float(first.pts * first.time_base)
    assert early > 0.02  # the precondition: the source's audio starts before time 0
    summary = run(src, tmp_path / "out.mp4", ref)
    (note,) = summary.streams
    cut = re.search(r"its first ([\d.]+) ms cut \(before time 0", note)
    assert cut and abs(float(cut.group(1)) - early * 1000) < 0.05, note
    assert av_offset(tmp_path / "out.mp4") == av_offset(src) - Fraction(early).limit_denominator(48000)
    assert abs(onset_offset(tmp_path / "out.mp4") - onset_offset(src)) <= 0.0011  # lip sync itself kept
    summary = run(src, tmp_path / "out.mkv", ref)  # Matroska keeps a negative start
    assert "cut" not in summary.streams[0] and abs(av_offset(tmp_path / "out.mkv") - av_offset(src)) <= FLOOR


def test_movie_timescale_takes_the_video_and_audio_starts_exactly():
    assert movie_timescale(24, [48000]) == 48000
    assert movie_timescale(1000, [44100]) == 441000
    assert movie_timescale(12288, [48000, 1000]) == 1536000
    assert movie_timescale(90000, [2**31 - 1]) == 90000  # too large: the video's own, as before


def test_plan_edits_delay_and_trim_together():
    start = AudioStart(48000, presented=Fraction(44, 1000))  # re-encoded: the first frame at 44 ms
    start.sent(Fraction(44, 1000) - Fraction(1024, 48000))  # the encoder's first packet: 1,024 samples of priming
    for _ in range(9):
        start.sent(None)
    edits, cut = plan_edits(start, 48000, 10 * 1024, 10, 48000)
    assert edits == [(2112, -1), (9 * 1024, 1024)] and cut == 0  # an empty edit of 44 ms, then the media after
    before = AudioStart(48000, presented=Fraction(-10, 1000), times=[Fraction(-10, 1000)], packets=10)
    edits, cut = plan_edits(before, 48000, 10 * 1024, 10, 48000)
    assert edits == [(10 * 1024 - 480, 480)] and cut == Fraction(1, 100)  # before time 0: cut
    dropped = AudioStart(48000, presented=Fraction(1, 10), times=[Fraction(1, 10), Fraction(1, 10) + Fraction(4, 125)])
    dropped.packets = 11  # the muxer dropped the first (unreadable) packet: the track starts with the second
    edits, _ = plan_edits(dropped, 48000, 10 * 1536, 10, 48000)
    assert edits == [(4800 + 1536, -1), (10 * 1536, 0)]
    assert plan_edits(dropped, 48000, 10 * 1536, 3, 48000) is None  # packets merged: left as the muxer wrote it


def test_edit_lists_are_left_alone_where_the_movie_box_is_not_last(tmp_path):
    """+faststart puts the movie box before the media, fragments after it: rewriting it would move every sample's
    offset (and a fragmented file's edit lists are the fragments' business)."""
    src = make_av(tmp_path / "a.mp4", "mp4", "libx264", "aac", audio_start=0.03)
    fragmented = {"movflags": "frag_keyframe+empty_moov"}
    for name, options in (("plain.mp4", {}), ("fast.mp4", {"movflags": "faststart"}), ("frag.mp4", fragmented)):
        dest = tmp_path / name
        with av.open(str(src)) as c, av.open(str(dest), "w", options=options) as o:
            pairs = {s.index: o.add_stream_from_template(s) for s in c.streams}
            start = AudioStart(48000, presented=Fraction(1, 10))
            for p in c.demux():
                if p.size:
                    if p.stream.type == "audio":
                        start.sent(Fraction(1, 10) + start.packets * Fraction(1024, 48000))
                    p.stream = pairs[p.stream.index]
                    o.mux(p)
        before = dest.read_bytes()
        set_audio_edits(dest, {1: start})
        assert (dest.read_bytes() == before) == (name != "plain.mp4"), name
    assert abs(av_offset(tmp_path / "plain.mp4") + Fraction(1, 10)) < Fraction(1, 48000)  # the audio at 100 ms


def audio_offset(path) -> Fraction:
    """av_offset against the first audio stream that gives a sample (an empty track before it skipped)."""
    with av.open(str(path)) as c:
        v = next(iter(c.decode(c.streams.video[0])))
        indices = [s.index for s in c.streams.audio]
    for i in indices:
        with av.open(str(path)) as c:
            a = next(iter(c.decode(c.streams[i])), None)
        if a is not None:
            return Fraction(v.pts) * v.time_base - Fraction(a.pts) * a.time_base
    raise AssertionError(f"{path}: no audio")


def test_an_audio_track_the_muxer_leaves_out_does_not_lose_the_film(tmp_path, ref):  # noqa: F811
    """MP4/MOV leave out a track that got no packet (an audio stream declared but empty, or empty in a --start
    window), so the streams read back are numbered afresh: reading the next track's first sample back by its muxed
    index failed (IndexError) after the whole film was computed. It is found by its track id."""
    a = make_av(tmp_path / "a.mkv", "matroska", "libx264", "ac3", audio_start=0.013)
    src = tmp_path / "gap.mkv"
    with av.open(str(a)) as c, av.open(str(src), "w", format="matroska") as o:
        v = o.add_stream_from_template(c.streams.video[0])
        o.add_stream_from_template(c.streams.audio[0])  # declared, never given a packet
        audio = o.add_stream_from_template(c.streams.audio[0])
        for p in c.demux():
            if p.size:
                p.stream = audio if p.stream.type == "audio" else v
                o.mux(p)
    for ext in (".mp4", ".mkv"):
        summary = run(src, tmp_path / f"out{ext}", ref)
        assert summary.streams == ["audio #1 (ac3) copied", "audio #2 (ac3) copied"], summary.streams
        assert abs(audio_offset(tmp_path / f"out{ext}") - av_offset(a)) <= FLOOR
    with av.open(str(tmp_path / "out.mp4")) as c:
        assert [(s.type, s.id) for s in c.streams] == [("video", 1), ("audio", 3)]  # track 2 left out
