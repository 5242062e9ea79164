"""`vidcolor review`: per shot, its first frame, that frame coloured as `run` would colour it, the match scores of
the references it could take; written as one self-contained HTML page (and optionally a contact sheet PNG).

The film is touched once per shot (gather.py: a seek per shot, or the shot detection pass itself); the networks
run once per shot (a match signature when there are references, and one preview frame) and once per reference.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vidcolor.io.image import read_image, upright, write_image
from vidcolor.io.thumbs import contact_sheet, data_uri, thumbnail
from vidcolor.io.yuv import gray_table
from vidcolor.review.gather import ReviewInput, gather
from vidcolor.review.page import write_page
from vidcolor.shots.files import timecode

if TYPE_CHECKING:
    from vidcolor.chain.predictor import Predictor

FRAME_W, REF_W = 320, 160  # thumbnail widths in the page (pixels)
# A match score (shots/assign.py: lower = closer) above this is flagged weak. Measured: on the 7 shared DAVIS clips
# (frame 59 in gray against each clip's colour frame 0) the own clip scored 0.29-1.79, another clip 1.60-8.51 (62 %
# above 3.0); on a synthetic 1-hour film of 4 scenes (113 shots) the right image 1.11-2.77, a wrong one above 3.0;
# the sample film against its reference 0.86.
WEAK_SCORE = 3.0


def build_review(
    source: str,
    output: str,
    make_predictor: Callable[..., Predictor],
    shots: str | None = None,
    refs: str | None = None,
    detector: str = "luma",
    threshold: float | None = None,
    sheet: str | None = None,
    quiet: bool = False,
) -> dict:
    """Write the review page of ``source`` to ``output``; returns the page's data (also what the tests read)."""
    t_start = time.perf_counter()
    review = gather(source, output, shots, refs, detector, threshold, sheet)
    from vidcolor.shots.assign import distance, signature
    from vidcolor.stream.preview import FramePreview  # imports torch: every argument checked, the frames found

    t0 = time.perf_counter()
    predictor = make_predictor(need_transfer=bool(review.candidates))
    preview = FramePreview(predictor, review.fmt)
    signatures = [signature(predictor, read_image(p)) for p in review.candidates]
    review.seconds["load"] = time.perf_counter() - t0
    to_gray = gray_table(review.fmt)
    rows, tiles = [], {"first frame": [], "preview": [], "reference": []}
    t0 = time.perf_counter()
    for n, (shot, luma) in enumerate(zip(review.data.shots, review.firsts, strict=True)):
        gray = to_gray[luma]
        scores = [distance(signature(predictor, gray), s) for s in signatures] if signatures else []
        if review.match:
            best = int(np.argmin(scores))
            shot.reference, shot.score = [str(review.candidates[best])], scores[best]
        current = [review.candidates.index(Path(r).resolve()) for r in shot.reference]
        paths = review.preview_refs[n] if review.preview_refs else tuple(Path(r) for r in shot.reference)
        rgb = preview(luma, paths, seed=n)
        gray, rgb = upright(gray, review.info.rotation), upright(rgb, review.info.rotation)  # as players show them
        score = scores[current[0]] if len(current) == 1 and scores else shot.score
        rows.append(_row(n, shot, review, gray, rgb, current, scores, score))
        label = f"{n + 1} {timecode(shot.start, review.info.rate)}"
        tiles["first frame"].append((label, gray))
        tiles["preview"].append(("", rgb))
        tiles["reference"].append(("", read_image(paths[0]) if paths else np.full_like(rgb, 235)))
    review.seconds["previews"] = time.perf_counter() - t0
    data = _page_data(review, rows)
    write_page(output, data)
    if sheet:
        write_image(sheet, contact_sheet(tiles))
    review.seconds["total"] = time.perf_counter() - t_start
    data["seconds"] = review.seconds
    if not quiet:
        weak = sum(r["weak"] for r in rows)
        phases = ", ".join(f"{k} {v:.1f} s" for k, v in review.seconds.items())
        print(f"vidcolor: {len(rows)} shots ({weak} weak matches) -> {output} ({phases})", file=sys.stderr)
    return data


def _row(n, shot, review: ReviewInput, gray, rgb, current, scores, score) -> dict:
    rate = review.info.rate
    return {
        "n": n + 1,
        "start": shot.start,
        "end": shot.end,
        "start_time": timecode(shot.start, rate),
        "end_time": timecode(shot.end, rate),
        "gray": data_uri(thumbnail(gray, FRAME_W)),
        "preview": data_uri(thumbnail(rgb, FRAME_W)),
        "reference": current,  # indices into refs; [] = none
        "preview_reference": current,  # what the preview was made with
        "score": None if score is None else round(float(score), 4),
        "scores": [round(float(s), 4) for s in scores],
        "weak": score is not None and score > WEAK_SCORE,
        "keyframes": [
            {"frame": k, "path": v, "thumb": data_uri(thumbnail(read_image(v), REF_W))}
            for k, v in sorted(shot.keyframes.items())
        ],
    }


def _page_data(review: ReviewInput, rows: list[dict]) -> dict:
    d, info = review.data, review.info
    return {
        "film": d.source,
        "frames": d.frames,
        "fps": float(info.rate),
        "size": f"{info.width}x{info.height}",
        "weak_score": WEAK_SCORE,
        "doc": {
            "vidcolor_shots": 1,
            "source": {"file": d.source, "frames": d.frames, "fps": float(d.rate), "duration": d.duration},
            "detector": d.detector,
            "unassigned": d.unassigned,
        },
        "refs": [
            {"name": p.name, "path": str(p), "thumb": data_uri(thumbnail(read_image(p), REF_W))}
            for p in review.candidates
        ],
        "shots": rows,
    }
