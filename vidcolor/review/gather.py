"""What a review page shows, before any network runs (torch-free): the shots, each shot's first frame, its current
reference and the references it could take.

- ``--shots FILE``: the file's shots (checked against the film as `run --shots` checks them); each shot's first
  frame is found by one seek (no decoding of the film).
- otherwise the cuts are detected in one decoding pass (the detector `run` uses), which keeps each shot's first
  frame on the way; ``--refs`` then gives the references as `run` applies them: one image for every shot, indexed
  files by frame, or a folder of unindexed images to choose from per shot (assigned by matching later).
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vidcolor.errors import VidcolorError
from vidcolor.io.image import write_format
from vidcolor.io.media import VideoInfo, open_video, probe
from vidcolor.io.seek import frames_at
from vidcolor.io.yuv import PlanarFormat, frame_luma, plan_planar
from vidcolor.shots.files import ShotFile, read_shot_file, shots_from_cuts
from vidcolor.shots.refs import ReferencePlan, Segment, plan_from_shots, plan_references
from vidcolor.stream.decode_stage import DecodeStage


@dataclass
class ReviewInput:
    info: VideoInfo
    fmt: PlanarFormat  # the planes `run` would encode: previews are made from them
    data: ShotFile  # shots; ``reference`` holds absolute paths
    candidates: list[Path]  # references a shot can take, in a fixed order
    match: bool  # assign each shot its best-matching candidate (a folder of unindexed references)
    firsts: list[np.ndarray]  # (H, W) luma codes of each shot's first frame
    preview_refs: list[tuple[Path, ...]] = field(default_factory=list)  # what `run` would use per shot
    seconds: dict[str, float] = field(default_factory=dict)  # time spent per phase


def check_outputs(source: Path, output: Path, sheet: Path | None) -> None:
    if output.suffix.lower() not in (".html", ".htm"):
        raise VidcolorError(f"{output}: the review page must end in .html")
    for path in (output, sheet) if sheet else (output,):
        if path.exists() and path.resolve() == source.resolve():
            raise VidcolorError(f"{path}: output would overwrite the input")
        if not path.parent.is_dir():
            raise VidcolorError(f"{path.parent}: output folder does not exist")
    if sheet:
        write_format(sheet)


def gather(
    source: str,
    output: str,
    shots: str | None = None,
    refs: str | None = None,
    detector: str = "luma",
    threshold: float | None = None,
    sheet: str | None = None,
) -> ReviewInput:
    """Check every argument, then find the shots and their first frames (see the module's docstring)."""
    src = Path(source)
    open_video(src).close()
    check_outputs(src, Path(output), Path(sheet) if sheet else None)
    if shots and refs:
        raise VidcolorError("give --shots (references inside) or --refs, not both")
    info = probe(src)
    fmt = plan_planar(info, "libx264")
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    if shots:
        data = read_shot_file(shots, info)
        plan = plan_from_shots(data)
        starts = [s.start for s in data.shots]
        firsts = [luma for _, luma in frames_at(src, info, starts, lambda frame: frame_luma(frame, fmt))]
        if len(firsts) != len(starts):
            raise VidcolorError(f"{src}: the first frame of shot {len(firsts) + 1} could not be decoded")
        seconds["seek"] = time.perf_counter() - t0
        candidates = _unique(Path(r) for s in data.shots for r in s.reference)
        preview = [plan.segment_of(s.start).paths for s in data.shots]  # keyframes split a shot into segments
        return ReviewInput(info, fmt, data, candidates, False, firsts, preview, seconds)
    plan = plan_references(refs, per_shot=True)  # every image checked before decoding
    cuts, frames, firsts = _detect(src, info, fmt, detector, threshold)
    seconds["detect"] = time.perf_counter() - t0
    detected = f"{detector} threshold {threshold if threshold is not None else 'default'}"
    data = ShotFile(shots_from_cuts(cuts, frames), frames, info.rate, src.name, info.duration, detected)
    if plan.candidates:
        return ReviewInput(info, fmt, data, _unique(plan.candidates), True, firsts, [], seconds)
    for shot in data.shots:
        shot.reference = [str(p.resolve()) for p in plan.segment_of(shot.start).paths]
        shot.keyframes = {
            s.start: str(s.paths[0].resolve()) for s in plan.segments if s.keyframe and shot.start <= s.start < shot.end
        }
    preview = [tuple(Path(r) for r in s.reference) for s in data.shots]
    candidates = _unique(p for s in plan.segments for p in s.paths)
    return ReviewInput(info, fmt, data, candidates, False, firsts, preview, seconds)


def _unique(paths) -> list[Path]:
    seen: dict[Path, None] = {}
    for p in paths:
        seen.setdefault(Path(p).resolve(), None)
    return list(seen)


def _detect(src: Path, info: VideoInfo, fmt: PlanarFormat, detector: str, threshold: float | None):
    """One decoding pass with `run`'s cut detector: (cuts, frame count, first luma plane of every shot)."""
    plan = ReferencePlan((Segment(0, (), 0),), "", (), detector, threshold)
    stage = DecodeStage(src, info, fmt, plan)
    firsts, shot, frames = [], -1, 0
    for index, _pts, luma, number, _gray in stage.frames(threading.Event()):
        if number != shot:
            shot = number
            firsts.append(luma)
        frames = index + 1
    if frames == 0:
        raise VidcolorError(f"{src}: no decodable video frame")
    if stage.stopped_early:
        print(f"vidcolor: warning: {src}: {stage.stopped_early}", file=sys.stderr)
    return stage.cuts, frames, firsts
