"""The source's other streams: codec-id copy rules, repaired audio timestamps, lip sync kept, subtitles converted,
every dropped stream named; the audio is checked before any frame is decoded."""

from fractions import Fraction

import av
import pytest
from media import add_subtitles, audio_payloads, frame_times, make_video
from test_pipeline import ref, run, tiny_predictor  # noqa: F401 - fixture
from zoo import make_av, make_multitrack_mp4, onset_offset, subtitle_cues

from vidcolor.io import streams


def repeated_timestamps(src, dest, share: int = 3):
    """Remux ``src`` into Matroska with every ``share`` consecutive audio packets on one timestamp (what an AVI
    remuxed with a packet-based audio time base gives): MP4's muxer refuses them ('Invalid argument')."""
    with av.open(str(src)) as c, av.open(str(dest), "w", format="matroska") as o:
        vs, aus = o.add_stream_from_template(c.streams.video[0]), o.add_stream_from_template(c.streams.audio[0])
        k, step = 0, None
        for p in c.demux():
            if not p.size:
                continue
            if p.stream.type == "audio":
                step = step or p.duration * p.time_base
                t = (k // share) * share * step
                p.stream, p.time_base, k = aus, Fraction(1, 1000), k + 1
                p.pts = p.dts = int(t * 1000)
            else:
                p.stream = vs
            o.mux(p)
    return dest


def test_repeated_audio_timestamps_are_repaired_up_front(tmp_path, ref, monkeypatch):  # noqa: F811
    ac3 = make_av(tmp_path / "ac3.mkv", "matroska", "libx264", "ac3", frames=24)
    src = repeated_timestamps(ac3, tmp_path / "r.mkv")
    with av.open(str(src)) as c:
        dts = [p.dts for p in c.demux(c.streams.audio[0]) if p.size]
    assert len(set(dts)) < len(dts)  # the defect's precondition
    order = []
    checked = streams.check_or_fail
    monkeypatch.setattr("vidcolor.stream.pipeline.check_or_fail", lambda *a: order.append("check") or checked(*a))

    def factory(**kw):
        order.append("predictor")
        return tiny_predictor(**kw)

    out = tmp_path / "out.mp4"
    summary = run(src, out, ref, factory=factory)
    assert order == ["check", "predictor"]
    assert any("(ac3) copied" in n and "timestamps repaired" in n for n in summary.streams), summary.streams
    assert audio_payloads(out) == audio_payloads(src)  # the audio itself untouched
    with av.open(str(out)) as c:
        fixed = [p.dts for p in c.demux(c.streams.audio[0]) if p.size]
    assert all(b > a for a, b in zip(fixed, fixed[1:], strict=False))


def test_a_copy_the_muxer_refuses_is_re_encoded_up_front(tmp_path, monkeypatch):
    src = make_av(tmp_path / "in.mkv", "matroska", "libx264", "ac3")

    def refuse(*_a):
        raise av.error.InvalidDataError(22, "Invalid argument")

    monkeypatch.setattr(streams, "_dry_run", refuse)
    (plan,) = streams.check_streams(src, "mp4")
    assert plan.action == "reencode" and plan.target == "aac" and "copying it into mp4 failed" in plan.note()


CASES = [  # (source name, format, video codec, audio codec, audio start in s, output, expected action)
    ("mp3.mp4", "mp4", "libx264", "libmp3lame", 0.069, ".mp4", "copied"),  # decoder mp3float, codec mp3
    ("mp2.mpg", "mpeg", "mpeg1video", "mp2", 0.011, ".mp4", "copied"),
    ("vorbis.webm", "webm", "libvpx", "vorbis", -0.044, ".mp4", "re-encoded to aac"),
    ("ac3.mkv", "matroska", "libx264", "ac3", 0.02, ".mp4", "copied"),
    ("aac.mp4", "mp4", "libx264", "aac", 0.02, ".mkv", "copied"),
    ("opus.mkv", "matroska", "libx264", "libopus", 0.01, ".mp4", "copied"),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}->{c[5]}" for c in CASES])
def test_lip_sync_frame_times_and_codec_decisions(tmp_path, ref, case):  # noqa: F811
    name, fmt, vcodec, acodec, start, ext, action = case
    src = make_av(tmp_path / name, fmt, vcodec, acodec, audio_start=start)
    out = tmp_path / f"out{ext}"
    summary = run(src, out, ref)
    assert any(action in note for note in summary.streams), summary.streams
    if action == "copied":
        assert audio_payloads(out) == audio_payloads(src)
    tolerance = 0.0011 if ext == ".mkv" or fmt in ("matroska", "webm") else 0.0002  # ms time bases
    assert abs(onset_offset(out) - onset_offset(src)) <= tolerance  # where the sound starts against the picture
    t_in, t_out = sorted(frame_times(src)), frame_times(out)
    assert len(t_in) == len(t_out) and max(abs(a - b) for a, b in zip(t_in, t_out, strict=True)) <= tolerance


def test_multitrack_mp4_into_matroska_names_every_stream(tmp_path, ref):  # noqa: F811
    src = make_multitrack_mp4(tmp_path / "multi.mp4")
    summary = run(src, tmp_path / "out.mkv", ref)
    notes = "; ".join(summary.streams)
    assert "video #1 (h264) dropped: only the first video track" in notes
    assert "audio #2 (aac) copied" in notes and "audio #3 (aac) copied" in notes
    assert "subtitle #4 (mov_text) converted to subrip" in notes and "subtitle #5 (mov_text) converted" in notes
    cues = subtitle_cues(src)
    assert cues[0][0] == ("eng line 1", 50, 150) and len(cues) == 2
    assert subtitle_cues(tmp_path / "out.mkv") == cues
    with av.open(str(tmp_path / "out.mkv")) as c:
        assert [s.metadata.get("language") for s in c.streams.audio] == ["eng", "fra"]
        assert [s.metadata.get("language") for s in c.streams.subtitles] == ["eng", "fra"]
        assert [streams.codec_name(s) for s in c.streams.subtitles] == ["subrip", "subrip"]
        assert len(c.streams.video) == 1
    summary = run(src, tmp_path / "out.mp4", ref)  # MP4 takes mov_text: copied as it is
    assert subtitle_cues(tmp_path / "out.mp4") == cues
    assert sum("(mov_text) copied" in n for n in summary.streams) == 2


def test_subrip_into_mp4_becomes_mov_text(tmp_path, ref):  # noqa: F811
    src = add_subtitles(make_video(tmp_path / "plain.mkv", frames=10), tmp_path / "in.mkv")
    summary = run(src, tmp_path / "out.mp4", ref)
    assert any("(subrip) converted to mov_text" in n for n in summary.streams), summary.streams
    assert [t for t, _, _ in subtitle_cues(tmp_path / "out.mp4")[0]] == ["Hello there", "Second line"]
    assert subtitle_cues(tmp_path / "out.mp4") == subtitle_cues(src)
