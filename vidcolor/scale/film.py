"""One film of a sharded run, on the driver: check, scan, plan segments, keep the work folder, assemble.

1. ``FilmRun(job)`` checks every argument as `vidcolor run` does (nothing decoded yet).
2. ``prepare(parts)`` decodes the film once without any model (the scan: each frame's time, and the cut detector
   where the plan detects shots),
   fixes the reference plan (detected shots become fixed shots, so every segment numbers them alike), splits the
   film into shot-aligned segments (segments.py) and opens the work folder. A resumed run keeps the segments it
   was started with, whatever the number of workers now. Returns the segments still to do.
3. ``finish(results)`` muxes every segment's chunks, in order, with the source's audio (the same ``finish_output``
   a single-process run ends with) and writes OUT.shots.yaml where references were assigned per detected shot.
Ray-free and torch-free: the driver needs neither to plan or assemble.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vidcolor.errors import VidcolorError
from vidcolor.io.encode import output_format, resolve_codec
from vidcolor.io.media import probe
from vidcolor.io.streams import check_or_fail
from vidcolor.io.timestamps import WINDOW
from vidcolor.io.yuv import plan_planar
from vidcolor.scale.segment_job import SegmentSpec, segment_dir
from vidcolor.scale.segments import Span, plan_segments
from vidcolor.shots.files import ShotFile, shots_from_cuts, write_yaml
from vidcolor.shots.refs import ReferencePlan, Segment
from vidcolor.stream.decode_stage import DecodeStage, FrameRange
from vidcolor.stream.pipeline import RunOptions, Summary, finish_output, run_plan
from vidcolor.stream.video import check_run
from vidcolor.stream.work_state import PROGRESS, WorkState, run_fingerprint, same_run, work_dir_for


@dataclass(frozen=True)
class FilmJob:
    """What one film asks for: a `run` command line, or one entry of a batch file."""

    source: Path
    output: Path
    refs: str | None
    shots: str | None
    detector: str | None
    threshold: float | None
    options: RunOptions
    make_predictor: Callable


class FilmRun:
    def __init__(self, job: FilmJob) -> None:
        self.job, self.name = job, job.source.name
        self.plan = check_run(
            job.source, job.output, job.refs, job.shots, job.detector, job.threshold, job.options.encode
        )
        self.work_dir = work_dir_for(job.output)
        self.results: dict[int, dict] = {}
        self.spans: list[Span] = []
        self.frames = 0
        self.key = ""  # the driver's name for this film on the progress board
        self.summary: Summary | None = None
        self.t0 = time.perf_counter()

    # ------------------------------------------------------------------ scan and plan
    def _scan(self) -> tuple[list[int], list[int], bool]:
        """(each frame's restored pts, detected cuts, timestamps repaired) from one pass without any model. The cut
        detector runs where the run would run it (a folder of candidate references): elsewhere the shots are the
        plan's (a shot file's, or one per reference), the units a single run resets its state and chunks at."""
        stage = DecodeStage(self.job.source, self.info, self.fmt, self.plan)
        pts = [item[1] for item in stage.frames(threading.Event())]
        if not pts:
            raise VidcolorError(f"{self.job.source}: no frame could be decoded")
        self.stopped_early = stage.stopped_early
        return pts, stage.cuts, stage.repaired_pts

    def prepare(self, parts: int, limit: int | None = None) -> list[SegmentSpec]:
        job = self.job
        self.info = probe(job.source)
        self.fmt_name = output_format(job.output)
        self.stream_plans = check_or_fail(job.source, self.fmt_name)
        encode, _ = resolve_codec(job.options.encode)
        self.fmt = plan_planar(self.info, encode.codec)
        pts, cuts, repaired = self._scan()
        self.frames, self.cuts = len(pts), cuts
        plan = self.plan
        if plan.detector:  # the detected shots become fixed shots, numbered as the inline detector numbers them
            starts = [0, *cuts]
            segments = tuple(Segment(s, (), n) for n, s in enumerate(starts))
            plan = ReferencePlan(segments, plan.note, plan.candidates)
        plan = self.run_plan = run_plan(plan, job.options)  # stretches held as the run holds them
        fingerprint = run_fingerprint(job.source, plan, encode, propagate=job.options.propagate)
        saved = self._saved_spans(fingerprint) if job.options.resume else None
        boundaries = sorted({0, *cuts, *(s.start for s in plan.segments)})
        self.spans = saved or plan_segments(boundaries, self.frames, parts, limit, job.options.chunk_frames)
        state = WorkState(
            self.work_dir, {**fingerprint, "sharded": [[s.start, s.end, s.shot_start] for s in self.spans]}
        )
        state.open(job.options.resume, job.options.fresh)
        specs = []
        for span in self.spans:
            done = self._finished(span)
            if done is not None:
                self.results[span.number] = done
                continue
            first = span.shot_start if span.split and plan.candidates else span.start
            end = span.end
            # a held stretch is coloured from its start to its end (shots/refs.py): decode all of it
            first, end = min(first, plan.lead(span.start)), min(self.frames, plan.tail(span.end))
            seek = first > 0 and not repaired
            frames = FrameRange(first, end, pts[first] if seek else None, pts[max(0, first - WINDOW)] if seek else None)
            specs.append(
                SegmentSpec(
                    str(job.source),
                    str(job.output),
                    str(self.work_dir),
                    plan,
                    job.options,
                    span,
                    frames,
                    job.make_predictor,
                )
            )
        return specs

    def _saved_spans(self, fingerprint: dict) -> list[Span] | None:
        try:
            saved = json.loads((self.work_dir / PROGRESS).read_text())["fingerprint"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if not isinstance(saved, dict) or "sharded" not in saved:
            return None
        if not same_run(saved, fingerprint, ignore=("sharded",)):
            return None
        return [Span(n, a, b, c) for n, (a, b, c) in enumerate(saved["sharded"])]

    def _finished(self, span: Span) -> dict | None:
        """A segment whose folder already holds all its frames (an earlier, interrupted run finished it)."""
        try:
            chunks = json.loads((segment_dir(self.work_dir, span.number) / PROGRESS).read_text())["chunks"]
        except (OSError, ValueError, KeyError):
            return None
        folder = segment_dir(self.work_dir, span.number)
        if sum(c["frames"] for c in chunks) != span.frames or not all((folder / c["file"]).is_file() for c in chunks):
            return None
        files = [c["file"] for c in chunks]
        return {
            "number": span.number,
            "chunks": files,
            "frames": span.frames,
            "resumed_from": span.frames,
            "encoded": 0,
            "assignments": [],
            "warnings": [],
            "encoder": "",
            "stopped_early": None,
        }

    # ------------------------------------------------------------------ progress and the end
    @property
    def done(self) -> bool:
        return bool(self.spans) and len(self.results) == len(self.spans)

    def frames_done(self, running: dict[int, int]) -> int:
        """Frames finished: whole segments, plus what the running ones report (segment number -> frames)."""
        finished = sum(self.results[n]["frames"] for n in self.results)
        return finished + sum(v for n, v in running.items() if n not in self.results)

    def finish(self) -> Summary:
        job = self.job
        chunks = [
            segment_dir(self.work_dir, s.number) / f for s in self.spans for f in self.results[s.number]["chunks"]
        ]
        notes = finish_output(
            chunks, self.info, job.output, self.fmt_name, self.stream_plans, self.work_dir, job.source
        )
        results = [self.results[s.number] for s in self.spans]
        if self.plan.detector:
            self._write_shots(results)
        frames = sum(r["frames"] for r in results)
        resumed = sum(r["resumed_from"] for r in results)
        encoder = next((r["encoder"] for r in results if r["encoder"]), "")
        early = next((r["stopped_early"] for r in results if r["stopped_early"]), self.stopped_early)
        return Summary(frames, time.perf_counter() - self.t0, resumed, early, notes, encoder)

    def _write_shots(self, results: list[dict]) -> None:
        data = ShotFile(
            shots_from_cuts(self.cuts, self.frames),
            self.frames,
            self.info.rate,
            self.job.source.name,
            self.info.duration,
            f"{self.plan.detector} threshold {self.plan.threshold or 'default'}",
        )
        starts = [s.start for s in data.shots]
        for chosen in (a for r in results for a in r["assignments"]):
            shot = data.shots[max(i for i, s in enumerate(starts) if s <= chosen["start"])]
            if not shot.reference:
                shot.reference, shot.score = chosen["reference"], chosen["score"]
        write_yaml(self.job.output.with_name(f"{self.job.output.stem}.shots.yaml"), data)

    def discard_if_empty(self) -> None:
        """A film that failed before any segment finished a chunk leaves nothing behind."""
        if self.work_dir.is_dir() and not any(self.work_dir.glob("seg-*/chunk-*.mp4")):
            shutil.rmtree(self.work_dir, ignore_errors=True)

    def keep_note(self) -> str:
        return f"the finished chunks are kept in {self.work_dir}: run the same command with --resume to continue"
