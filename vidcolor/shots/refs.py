"""Which reference colours which frame: a single image, or a folder of images.

- One image: the whole film.
- A folder whose every image name carries a frame index (``ref_000226.jpg``, ``0000968_out.png``: the last run of
  digits in the name): each reference applies from its frame on; the first also covers the frames before it.
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


@dataclass(frozen=True)
class ReferencePlan:
    segments: tuple[Segment, ...]
    note: str
    candidates: tuple[Path, ...] = ()  # references to choose from per detected shot (inline detection)
    detector: str | None = None  # cut detector run while decoding, None = segments are fixed
    threshold: float | None = None

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
        segments = [Segment(0 if n == 0 else i, (f,), n) for n, (i, f) in enumerate(pairs)]
        return ReferencePlan(tuple(segments), f"{len(segments)} references applied by frame index")
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
    for r in {p for group in refs for p in group}:
        _check_colour(r)
    segments = tuple(Segment(s.start, r, n) for n, (s, r) in enumerate(zip(data.shots, refs, strict=True)))
    return ReferencePlan(segments, f"{len(segments)} shots from the shot file")


def _check_colour(path: Path) -> None:
    check_image(path)
    if is_grayscale(read_image(path)):
        raise VidcolorError(f"{path}: reference is grayscale: it carries no colour to transfer")
