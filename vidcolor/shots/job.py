"""`vidcolor shots`: detect cuts in one decoding pass, assign references, write the shot file and its CSV twin."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import av

from vidcolor.errors import VidcolorError
from vidcolor.io.image import read_image
from vidcolor.io.media import ends_short, frame_gray, open_video, probe
from vidcolor.io.paths import check_output_folder, refuse_overwrite
from vidcolor.shots.detect import make_detector
from vidcolor.shots.files import ShotFile, read_shot_file, shots_from_cuts, write_csv, write_yaml
from vidcolor.shots.refs import plan_references

if TYPE_CHECKING:
    from vidcolor.chain.predictor import Predictor


def detect_cuts(path: Path, detector: str, threshold: float | None, keep_first: bool = False, info=None):
    """(cut frame indices, frame count, first gray frame of every shot when ``keep_first``, frames per second).
    ``info``: the file's probe, when made already."""
    det = make_detector(detector, threshold)
    cuts, firsts = [], []
    info = info or probe(path)
    container = open_video(path)
    t0, index, last = time.perf_counter(), 0, None
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        try:
            for frame in container.decode(stream):
                gray = frame_gray(frame)
                if det.update(gray):
                    cuts.append(index)
                if keep_first and (index == 0 or (cuts and cuts[-1] == index)):
                    firsts.append(gray)
                index, last = index + 1, frame.pts if frame.pts is not None else last
            short = ends_short(info, index, last)
            if short:
                print(f"vidcolor: warning: {path}: {short}", file=sys.stderr)
        except av.error.FFmpegError:
            print(f"vidcolor: warning: {path}: decoding stopped at frame {index}", file=sys.stderr)
    finally:
        container.close()
    if index == 0:
        raise VidcolorError(f"{path}: no decodable video frame")
    return cuts, index, firsts, index / max(time.perf_counter() - t0, 1e-9)


def make_shots(
    source: str,
    output: str,
    refs: str | None,
    detector: str,
    threshold: float | None,
    make_predictor: Callable[..., Predictor],
    import_csv: str | None = None,
    quiet: bool = False,
) -> ShotFile:
    src, out = Path(source), Path(output)
    if out.suffix.lower() not in (".yaml", ".yml", ".json"):
        raise VidcolorError(f"{out}: shot file must end in .yaml (a .csv twin is written beside it)")
    refuse_overwrite([src, import_csv, refs], [out, out.with_suffix(".csv")])  # the .csv twin too
    check_output_folder(out)
    info = probe(src)
    plan = plan_references(refs, per_shot=True) if refs else None
    if import_csv:
        data = read_shot_file(import_csv, info)
        frames, firsts, fps = data.shots[-1].end, [], None
        cuts = [s.start for s in data.shots[1:]]
        if plan and plan.candidates:  # matching needs each shot's first frame
            firsts = _first_frames(src, [s.start for s in data.shots])
    else:
        cuts, frames, firsts, fps = detect_cuts(src, detector, threshold, bool(plan and plan.candidates), info)
    data = ShotFile(
        shots_from_cuts(cuts, frames),
        frames,
        info.rate,
        src.name,
        info.duration,
        f"{detector} threshold {threshold if threshold is not None else 'default'}"
        if not import_csv
        else f"imported from {Path(import_csv).name}",
    )
    if plan and plan.candidates:
        from vidcolor.shots.assign import best_match, signature

        predictor = make_predictor(need_transfer=True, need_colorizer=False)
        signatures = [signature(predictor, read_image(p)) for p in plan.candidates]
        for shot, first in zip(data.shots, firsts, strict=True):
            best, scores = best_match(signature(predictor, first), signatures)
            shot.reference, shot.score = [str(plan.candidates[best])], scores[best]
    elif plan:
        for shot in data.shots:
            shot.reference = [str(p) for p in plan.segment_of(shot.start).paths]
            shot.keyframes = {
                s.start: str(s.paths[0]) for s in plan.segments if s.keyframe and shot.start <= s.start < shot.end
            }
    write_yaml(out, data)
    write_csv(out.with_suffix(".csv"), data)
    if not quiet:
        speed = f" ({fps:.0f} frames/s)" if fps else ""
        print(
            f"vidcolor: {len(data.shots)} shots in {frames} frames{speed} -> {out} and {out.with_suffix('.csv')}",
            file=sys.stderr,
        )
    return data


def _first_frames(path: Path, starts: list[int]):
    wanted, out = set(starts), []
    container = open_video(path)
    try:
        for index, frame in enumerate(container.decode(container.streams.video[0])):
            if index in wanted:
                out.append(frame_gray(frame))
            if len(out) == len(starts):
                break
    finally:
        container.close()
    return out
