"""Shot files that people read and edit: YAML (or JSON, which YAML reads) and a CSV twin.

Frames are 0-based and ranges half-open: a shot covers frames ``start`` .. ``end - 1``. Seconds and timecodes are
written for people and ignored on reading. ``reference`` is a path, a list of paths (their statistics are
combined) or empty (automatic colorization, or the nearest assigned neighbour when ``unassigned: neighbour``).
``keyframes`` pins coloured frames of the shot (frame: image, each a coloured view of that frame): from its first
keyframe on a shot is coloured from them, each stretch between two from both (shots/refs.py), the frames before the
first back from it (with the shot's reference, if any, for what the keyframe does not show).
Relative reference paths are relative to the shot file. A ``source`` fingerprint (frame count and duration,
checked; the file name, for people: a renamed copy still matches) catches a file made for another video.
PySceneDetect's CSV (1-based, inclusive) can be imported.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import yaml

from vidcolor.errors import VidcolorError
from vidcolor.io.atomic import write_text_atomic
from vidcolor.io.media import VideoInfo

FORMAT_VERSION = 1
CSV_COLUMNS = ("shot", "start_frame", "end_frame", "start_time", "end_time", "reference", "score", "keyframes")


@dataclass
class Shot:
    start: int
    end: int
    reference: list[str] = field(default_factory=list)
    score: float | None = None  # match score of an automatic assignment (lower = closer)
    keyframes: dict[int, str] = field(default_factory=dict)  # frame -> coloured view of that frame


@dataclass
class ShotFile:
    shots: list[Shot]
    frames: int
    rate: Fraction
    source: str = ""
    duration: float | None = None
    detector: str = ""
    unassigned: str = "auto"  # "auto" (automatic colorization) or "neighbour"

    def boundaries(self) -> list[int]:
        return [s.start for s in self.shots]


def timecode(frame: int, rate: Fraction) -> str:
    seconds = float(frame / rate) if rate else 0.0
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{int(h):02d}:{int(m):02d}:{s:06.3f}"


def shots_from_cuts(cuts: list[int], frames: int) -> list[Shot]:
    starts = [0, *sorted(c for c in set(cuts) if 0 < c < frames)]
    return [Shot(a, b) for a, b in zip(starts, [*starts[1:], frames], strict=True)]


def _rel(ref: str, base: Path) -> str:
    try:
        return os.path.relpath(ref, base)
    except ValueError:
        return ref


def write_yaml(path: Path, data: ShotFile) -> None:
    doc = {
        "vidcolor_shots": FORMAT_VERSION,
        "source": {"file": data.source, "frames": data.frames, "fps": float(data.rate), "duration": data.duration},
        "detector": data.detector,
        "unassigned": data.unassigned,
        "shots": [
            {
                "start": s.start,
                "end": s.end,
                "start_time": timecode(s.start, data.rate),
                "end_time": timecode(s.end, data.rate),
                "reference": (
                    _rel(s.reference[0], path.parent)
                    if len(s.reference) == 1
                    else [_rel(r, path.parent) for r in s.reference] or None
                ),
                **({"score": round(s.score, 4)} if s.score is not None else {}),
                **(
                    {"keyframes": {k: _rel(v, path.parent) for k, v in sorted(s.keyframes.items())}}
                    if s.keyframes
                    else {}
                ),
            }
            for s in data.shots
        ],
    }
    header = (
        "# vidcolor shot file: frames are 0-based, [start, end). Edit 'reference' per shot (path or list);\n"
        "# 'keyframes' (frame: image) pins coloured frames of a shot.\n"
    )
    write_text_atomic(path, header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))


def write_csv(path: Path, data: ShotFile) -> None:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(CSV_COLUMNS)
    for i, s in enumerate(data.shots, start=1):
        refs = ";".join(_rel(r, path.parent) for r in s.reference)
        score = "" if s.score is None else f"{s.score:.4f}"
        keys = ";".join(f"{k}={_rel(v, path.parent)}" for k, v in sorted(s.keyframes.items()))
        w.writerow([i, s.start, s.end, timecode(s.start, data.rate), timecode(s.end, data.rate), refs, score, keys])
    write_text_atomic(path, buf.getvalue())


def read_shot_file(path: str | os.PathLike, info: VideoInfo) -> ShotFile:
    """Read YAML/JSON, our CSV or PySceneDetect's CSV; check it against the video; resolve reference paths."""
    path = Path(path)
    if not path.is_file():
        raise VidcolorError(f"{path}: no such shot file")
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        raise VidcolorError(f"{path}: cannot read the shot file ({exc.strerror or exc})") from None
    if path.suffix.lower() == ".csv":
        data = _parse_csv(path, text, info)
    else:
        data = _parse_yaml(path, text, info)
    for shot in data.shots:
        shot.reference = [_resolve(r, path) for r in shot.reference]
        shot.keyframes = {k: _resolve(v, path) for k, v in shot.keyframes.items()}
    validate(path, data, info)
    return data


def _resolve(ref: str, shot_file: Path) -> str:
    """A reference path as written in a shot file (relative to the file) -> an absolute one."""
    return str((shot_file.parent / ref).resolve()) if not Path(ref).is_absolute() else ref


def _keyframes(value, path: Path, n: int) -> dict[int, str]:
    """``{frame: path}`` (YAML) or ``frame=path;frame=path`` (CSV) -> {frame: path}."""
    if value in (None, "", {}):
        return {}
    if isinstance(value, str):
        try:
            pairs = [item.split("=", 1) for item in value.split(";") if item.strip()]
            value = {int(k): v.strip() for k, v in pairs}
        except ValueError:
            raise VidcolorError(f"{path}: shot {n}: keyframes must be frame=image pairs (49=key49.png)") from None
    if not isinstance(value, dict) or not all(
        isinstance(k, int) and not isinstance(k, bool) and isinstance(v, str) and v for k, v in value.items()
    ):
        raise VidcolorError(f"{path}: shot {n}: keyframes must map frame numbers to images (49: key49.png)")
    return dict(value)


def _refs(value, path: Path, n: int) -> list[str]:
    if value in (None, "", []):
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise VidcolorError(f"{path}: shot {n}: reference must be a path or a list of paths")


def _parse_yaml(path: Path, text: str, info: VideoInfo) -> ShotFile:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        where = f" (line {line + 1})" if line is not None else ""
        raise VidcolorError(f"{path}: not valid YAML{where}") from None
    if not isinstance(doc, dict) or "shots" not in doc or not isinstance(doc["shots"], list):
        raise VidcolorError(f"{path}: not a vidcolor shot file (no 'shots' list)")
    source = doc.get("source") or {}
    shots = []
    for n, item in enumerate(doc["shots"], start=1):
        if not isinstance(item, dict) or not isinstance(item.get("start"), int) or not isinstance(item.get("end"), int):
            raise VidcolorError(f"{path}: shot {n} needs integer 'start' and 'end' frames")
        refs, keys = _refs(item.get("reference"), path, n), _keyframes(item.get("keyframes"), path, n)
        shots.append(Shot(item["start"], item["end"], refs, item.get("score"), keys))
    unassigned = doc.get("unassigned", "auto")
    if unassigned not in ("auto", "neighbour"):
        raise VidcolorError(f"{path}: 'unassigned' must be 'auto' or 'neighbour'")
    return ShotFile(
        shots,
        int(source.get("frames") or 0),
        info.rate,
        str(source.get("file") or ""),
        source.get("duration"),
        str(doc.get("detector") or ""),
        unassigned,
    )


def _parse_csv(path: Path, text: str, info: VideoInfo) -> ShotFile:
    rows = list(csv.reader(io.StringIO(text)))
    if rows and rows[0] and rows[0][0].startswith("Timecode List"):
        rows = rows[1:]  # PySceneDetect: the first line lists the cut timecodes
    if not rows:
        raise VidcolorError(f"{path}: empty CSV")
    header = [h.strip() for h in rows[0]]
    shots = []
    try:
        if "Start Frame" in header and "End Frame" in header:  # PySceneDetect: 1-based, inclusive
            a, b = header.index("Start Frame"), header.index("End Frame")
            shots = [Shot(int(r[a]) - 1, int(r[b])) for r in rows[1:] if r]
        elif "start_frame" in header and "end_frame" in header:
            a, b = header.index("start_frame"), header.index("end_frame")
            c = header.index("reference") if "reference" in header else None
            k = header.index("keyframes") if "keyframes" in header else None
            for n, r in enumerate((r for r in rows[1:] if r), start=1):
                refs = [x for x in r[c].split(";") if x.strip()] if c is not None and c < len(r) else []
                keys = _keyframes(r[k], path, n) if k is not None and k < len(r) else {}
                shots.append(Shot(int(r[a]), int(r[b]), [x.strip() for x in refs], None, keys))
        else:
            raise VidcolorError(f"{path}: CSV without start/end frame columns")
    except (ValueError, IndexError):
        raise VidcolorError(f"{path}: a row has a missing or non-integer frame number") from None
    return ShotFile(shots, info.frames, info.rate, info.path.name, info.duration, "csv")


def validate(path: Path, data: ShotFile, info: VideoInfo) -> None:
    """Fingerprint, ordering, coverage and reference files: one clear error before any decoding."""
    if data.frames and info.frames_exact and data.frames != info.frames:
        raise VidcolorError(
            f"{path}: made for a video of {data.frames} frames ({data.source or 'unknown'}), "
            f"but {info.path.name} has {info.frames}"
        )
    if data.duration and info.duration and abs(data.duration - info.duration) > max(1.0, 0.01 * info.duration):
        raise VidcolorError(
            f"{path}: made for a video of {data.duration:.2f} s, but {info.path.name} lasts {info.duration:.2f} s"
        )
    if not data.shots:
        raise VidcolorError(f"{path}: no shots")
    total = data.frames or info.frames
    prev_end = 0
    for n, s in enumerate(data.shots, start=1):
        if s.start >= s.end:
            raise VidcolorError(f"{path}: shot {n} is empty or reversed ({s.start}..{s.end})")
        if s.start < prev_end:
            raise VidcolorError(f"{path}: shot {n} ({s.start}..{s.end}) overlaps the shot before it")
        if s.start > prev_end:
            raise VidcolorError(f"{path}: frames {prev_end}..{s.start} belong to no shot")
        if info.frames_exact and s.end > total:
            raise VidcolorError(f"{path}: shot {n} ends at frame {s.end}, past the video's {total} frames")
        for ref in s.reference:
            if not Path(ref).is_file():
                raise VidcolorError(f"{path}: shot {n}: reference {ref} not found")
        for frame, ref in sorted(s.keyframes.items()):
            if not s.start <= frame < s.end:
                raise VidcolorError(f"{path}: shot {n}: keyframe {frame} lies outside the shot ({s.start}..{s.end})")
            if not Path(ref).is_file():
                raise VidcolorError(f"{path}: shot {n}: keyframe {frame}: image {ref} not found")
        prev_end = s.end
