"""Text subtitles from one container's format into another's: MP4 takes mov_text only, Matroska SubRip/ASS/WebVTT
(not mov_text), WebM WebVTT only. The text of each cue is kept with its timing; styling is not carried over.

Packet payloads: mov_text is a 16-bit big-endian length then UTF-8 text (then optional style boxes); SubRip and
WebVTT are the text itself; ASS in Matroska is ``ReadOrder,Layer,Style,Name,MarginL,MarginR,MarginV,Effect,Text``.
"""

from __future__ import annotations

import io
import re

import av

TEXT_CODECS = {"mov_text", "subrip", "srt", "webvtt", "ass", "ssa", "text"}
TARGET = {"mp4": "mov_text", "mov": "mov_text", "matroska": "subrip", "webm": "webvtt"}
TEMPLATES = {  # a one-cue file FFmpeg's demuxers read: its stream is the template of a SubRip / WebVTT track
    "subrip": ("srt", "1\n00:00:00,000 --> 00:00:00,001\nx\n\n"),
    "webvtt": ("webvtt", "WEBVTT\n\n00:00:00.000 --> 00:00:00.001\nx\n\n"),
}
ASS_HEADER = (  # the default style FFmpeg's mov_text encoder wants to start from
    b"[Script Info]\r\nScriptType: v4.00+\r\nPlayResX: 384\r\nPlayResY: 288\r\n\r\n[V4+ Styles]\r\n"
    b"Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, "
    b"Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, "
    b"MarginR, MarginV, Encoding\r\nStyle: Default,Arial,16,&Hffffff,&Hffffff,&H0,&H0,0,0,0,0,100,100,0,0,1,1,0,2,"
    b"10,10,10,0\r\n\r\n[Events]\r\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\r\n"
)
TAGS = re.compile(r"<[^>]*>|\{[^}]*\}")


def convertible(codec: str, fmt: str) -> bool:
    return codec in TEXT_CODECS and fmt in TARGET


def cue_text(codec: str, payload: bytes) -> str:
    """The plain text of one subtitle packet."""
    if codec == "mov_text":
        n = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 0
        payload = payload[2 : 2 + n]
    text = payload.decode("utf-8", errors="replace")
    if codec in ("ass", "ssa"):
        text = text.split(",", 8)[-1].replace("\\N", "\n").replace("\\n", "\n")
    return TAGS.sub("", text).strip()


def cue_payload(target: str, text: str) -> bytes:
    data = text.encode("utf-8")
    return len(data).to_bytes(2, "big") + data if target == "mov_text" else data


class SubtitleTrackMaker:
    """Adds subtitle tracks of a codec with no encoder that opens bare (templates are kept open until closed)."""

    def __init__(self) -> None:
        self._templates: list = []

    def add(self, out: av.container.OutputContainer, target: str):
        if target == "mov_text":
            stream = out.add_stream("mov_text")
            stream.codec_context.subtitle_header = ASS_HEADER
            return stream
        fmt, text = TEMPLATES[target]
        template = av.open(io.BytesIO(text.encode()), format=fmt)
        self._templates.append(template)
        return out.add_stream_from_template(template.streams[0])

    def close(self) -> None:
        for t in self._templates:
            t.close()
        self._templates.clear()
