"""Which reference colours which frame: a single image, or a folder of images.

- One image: the whole film.
- A folder whose every image name carries a frame index (``ref_000226.jpg``, ``0000968_out.png``: the last run of
  digits in the name): keyframes. Each is a coloured view of its frame and colours from it on; the frames between
  two keyframes are coloured from both (forward from the earlier, back from the later: stream/keyframe_stage.py),
  those before the first back from it. A stretch longer than ``max_span`` frames is coloured forward only.
- A folder of unindexed images: the first (by name) for the whole film.
- A folder of unindexed images with shot detection on (the default for ``run``): cuts are detected while the
  film streams and each shot takes the image whose statistics best match its first frame (see shots.assign).
- A shot file (``--shots``): its shots and their references (several per shot are combined).
Each segment gets its own hint seed, so hint positions are fixed within a segment and redrawn at its start.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from pathlib import Path

from vidcolor.errors import VidcolorError
from vidcolor.io.image import IMAGE_EXTS, check_image, is_grayscale, read_image

INDEX_RE = re.compile(r"(\d+)(?!.*\d)")


@dataclass(frozen=True)
class Segment:
    start: int  # first frame index (0-based) this reference applies to
    paths: tuple[Path, ...]  # () = automatic colorization; several = statistics combined
    seed: int  # hint pattern seed of this segment
    keyframe: bool = False  # paths[0] is a coloured view of frame ``start``: the segment before is coloured back too
    cut: bool = False  # a shot starts here (a shot file's): nothing is coloured back across it


@dataclass(frozen=True)
class ReferencePlan:
    segments: tuple[Segment, ...]
    note: str
    candidates: tuple[Path, ...] = ()  # references to choose from per detected shot (inline detection)
    detector: str | None = None  # cut detector run while decoding, None = segments are fixed
    threshold: float | None = None
    max_span: int = 300  # the longest stretch coloured from both sides (frames held at working size)

    def keyed(self, number: int) -> bool:
        """Whether a keyframe of the same shot starts the segment after segment ``number``."""
        nxt = number + 1
        return nxt < len(self.segments) and self.segments[nxt].keyframe and not self.segments[nxt].cut

    def span(self, number: int) -> int:
        """Frames of segment ``number`` (to the next segment's start; the last one: 0, it is never held)."""
        nxt = number + 1
        return self.segments[nxt].start - self.segments[number].start if nxt < len(self.segments) else 0

    def held(self, number: int) -> bool:
        """Whether segment ``number`` is coloured back from the keyframe that starts the next one (it then needs
        all its frames before its first is handed on)."""
        return self.keyed(number) and self.span(number) <= self.max_span

    def too_long(self) -> list[tuple[int, int]]:
        """(start, end) of the stretches before a keyframe longer than ``max_span``: coloured forward only."""
        ends = [(n, self.segments[n].start) for n in range(len(self.segments)) if self.keyed(n) and not self.held(n)]
        return [(start, start + self.span(n)) for n, start in ends]

    def lead(self, frame: int) -> int:
        """The first frame a run that colours from ``frame`` on must decode: the start of ``frame``'s segment when
        that segment is held (a held stretch is coloured from its start), else ``frame``."""
        n = self.index_of(frame)
        return self.segments[n].start if self.held(n) else frame

    def tail(self, end: int) -> int:
        """One past the last frame a run that colours up to ``end`` (exclusive) must decode: the end of the held
        segment that holds frame ``end - 1``, else ``end``."""
        n = self.index_of(max(0, end - 1))
        return max(end, self.segments[n + 1].start) if self.held(n) else end

    def index_of(self, frame: int) -> int:
        """Number of the segment that colours ``frame``."""
        return max(0, bisect_right([s.start for s in self.segments], frame) - 1)

    def segment_of(self, frame: int) -> Segment:
        return self.segments[self.index_of(frame)]

    def needs_transfer(self) -> bool:
        return bool(self.candidates) or any(s.paths for s in self.segments)


def frame_index(path: Path) -> int | None:
    m = INDEX_RE.search(path.stem)
    return int(m.group(1)) if m else None


def plan_references(
    refs: str | None, per_shot: bool = False, detector: str | None = None, threshold: float | None = None
) -> ReferencePlan:
    """Resolve ``--refs`` into segments, checking every image before any decoding starts. With ``per_shot``, a
    folder of unindexed images becomes candidates assigned per shot (cut by ``detector`` while decoding)."""
    if refs is None:
        return ReferencePlan((Segment(0, (), 0),), "no reference: automatic colorization")
    path = Path(refs)
    if not path.exists():
        raise VidcolorError(f"{path}: no such reference file or folder")
    if path.is_file():
        _check_colour(path)
        return ReferencePlan((Segment(0, (path,), 0),), f"reference {path.name} for the whole film")
    files = sorted(f for f in path.iterdir() if f.suffix.lower() in IMAGE_EXTS and not f.name.startswith("."))
    if not files:
        raise VidcolorError(f"{path}: folder holds no reference images ({', '.join(IMAGE_EXTS)})")
    for f in files:
        _check_colour(f)
    indices = [frame_index(f) for f in files]
    if all(i is not None for i in indices):
        pairs = sorted(zip(indices, files, strict=True))
        dupes = {i for i, _ in pairs if indices.count(i) > 1}
        if dupes:
            raise VidcolorError(f"{path}: several references for frame {min(dupes)}")
        lead = [Segment(0, (pairs[0][1],), 0)] if pairs[0][0] > 0 else []  # coloured back from the first
        segments = lead + [Segment(i, (f,), len(lead) + n, keyframe=True) for n, (i, f) in enumerate(pairs)]
        return ReferencePlan(tuple(segments), f"{len(pairs)} keyframes applied by frame index")
    if per_shot:
        note = f"{len(files)} references, assigned per shot" + (f" ({detector} cut detection)" if detector else "")
        return ReferencePlan((Segment(0, (), 0),), note, tuple(files), detector, threshold)
    note = f"{len(files)} unindexed references: {files[0].name} used for the whole film"
    return ReferencePlan((Segment(0, (files[0],), 0),), note)


def plan_from_shots(data) -> ReferencePlan:
    """Segments from a checked shot file (vidcolor.shots.files.ShotFile)."""
    refs = [tuple(Path(r) for r in s.reference) for s in data.shots]
    if data.unassigned == "neighbour" and any(refs):
        assigned = [i for i, r in enumerate(refs) if r]
        refs = [r or refs[min(assigned, key=lambda j: abs(j - i))] for i, r in enumerate(refs)]
    keys = [sorted((k, Path(p)) for k, p in s.keyframes.items()) for s in data.shots]
    for r in {p for group in refs for p in group} | {p for pairs in keys for _, p in pairs}:
        _check_colour(r)
    starts: list[tuple[int, tuple[Path, ...], bool]] = []
    for shot, r, pairs in zip(data.shots, refs, keys, strict=True):
        if not pairs or pairs[0][0] > shot.start:  # before the shot's first keyframe: its reference and the keyframe
            starts.append((shot.start, r or ((pairs[0][1],) if pairs else ()), False))
        starts += [(k, (p,), True) for k, p in pairs]
    cuts = {s.start for s in data.shots}
    segments = tuple(Segment(a, r, n, kf, a in cuts) for n, (a, r, kf) in enumerate(starts))
    pinned = sum(map(len, keys))
    note = f"{len(data.shots)} shots from the shot file" + (f", {pinned} keyframes" if pinned else "")
    return ReferencePlan(segments, note)


def _check_colour(path: Path) -> None:
    check_image(path)
    if is_grayscale(read_image(path)):
        raise VidcolorError(f"{path}: reference is grayscale: it carries no colour to transfer")
