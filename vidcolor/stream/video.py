"""The video job as a user runs it: check every argument first, then stream, report progress and a summary."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from vidcolor.errors import VidcolorError
from vidcolor.io.encode import EncodeSettings, check_encoder, output_format, resolve_codec
from vidcolor.io.media import open_video, probe
from vidcolor.io.paths import check_output_folder
from vidcolor.io.seek import frame_seconds
from vidcolor.shots.files import ShotFile, read_shot_file, shots_from_cuts, write_yaml
from vidcolor.shots.refs import ReferencePlan, plan_from_shots, plan_references
from vidcolor.stream.pipeline import RunOptions, Summary, VideoJob
from vidcolor.stream.progress import Progress
from vidcolor.stream.timerange import TimeSpec, frame_label, resolve_window
from vidcolor.stream.work_state import work_dir_for

if TYPE_CHECKING:
    from vidcolor.chain.predictor import Predictor


def check_run(
    src: Path,
    out: Path,
    refs: str | None,
    shots: str | None,
    detector: str | None,
    threshold: float | None,
    encode: EncodeSettings | None = None,
) -> ReferencePlan:
    """Every check of a run's arguments, before any decoding: the source, the output, the encoder settings (the
    output's container must take them), the references or shot file. Returns the reference plan."""
    open_video(src).close()  # exists, is a video, has a video stream: fails fast with a clear line
    output_format(out)
    if encode is not None:
        check_encoder(resolve_codec(encode)[0], out)
    if out.exists() and out.resolve() == src.resolve():
        raise VidcolorError(f"{out}: output would overwrite the input")
    check_output_folder(out)  # and not a folder itself
    if shots:
        return plan_from_shots(read_shot_file(shots, probe(src)))
    return plan_references(refs, per_shot=detector is not None, detector=detector, threshold=threshold)


def run_video(
    source: str,
    output: str,
    refs: str | None,
    make_predictor: Callable[..., Predictor],
    options: RunOptions,
    quiet: bool = False,
    shots: str | None = None,
    detector: str | None = "luma",
    threshold: float | None = None,
    progress: Callable[[int, int], None] | None = None,
    start: TimeSpec | None = None,
    duration: TimeSpec | None = None,
) -> Summary:
    """``shots``: a shot file to follow; else a folder of unindexed ``refs`` is assigned per shot detected inline
    (``detector``; None turns detection off). A run that detected shots writes them to OUTPUT.shots.yaml.
    ``progress``: called with (frames done, total) instead of the terminal progress bar.
    ``start``/``duration``: colorize that segment only (a preview), its audio cut to match, timed from 0."""
    src, out = Path(source), Path(output)
    plan = check_run(src, out, refs, shots, detector, threshold, options.encode)
    window = times = None
    if start is not None or duration is not None:
        info = probe(src)
        times = frame_seconds(info, start, duration)
        window = resolve_window(str(src), info.frames, info.rate, start, duration, times=times)
        options = replace(options, window=window)

    def factory() -> Predictor:
        p = make_predictor(need_transfer=plan.needs_transfer())
        if not quiet:
            print(f"vidcolor: {plan.note}; device {p.device}, {p.precision.describe()}, working size {p.size}",
                  file=sys.stderr)  # fmt: skip
        return p

    label = f"{src.name} {frame_label(window, info.rate, times)}" if window else src.name
    bar = Progress(label, quiet=quiet, summary=False) if progress is None else None  # run_video says the summary
    say = bar.write if bar else lambda line: print(line, file=sys.stderr)  # above the bar when there is one
    warn = None if quiet else lambda message: say(f"vidcolor: warning: {message}")
    job = VideoJob(src, out, plan, factory, options, on_progress=progress or bar, on_warning=warn)
    try:
        summary = job.run()
    except KeyboardInterrupt:
        if bar:
            bar.close()
        if work_dir_for(out).is_dir():
            print(
                f"vidcolor: interrupted; the finished chunks are kept in {work_dir_for(out)}: "
                "run the same command with --resume to continue",
                file=sys.stderr,
            )
        raise
    finally:
        if bar:
            bar.close()
    if job.model and job.model.assignments and not window:  # a segment's shots do not describe the film
        shot_path = out.with_name(f"{out.stem}.shots.yaml")
        data = ShotFile(
            shots_from_cuts(job.decoder.cuts, summary.frames),
            summary.frames,
            job.info.rate,
            src.name,
            job.info.duration,
            f"{plan.detector} threshold {plan.threshold or 'default'}",
        )
        for shot, chosen in zip(data.shots, job.model.assignments, strict=False):
            shot.reference, shot.score = chosen["reference"], chosen["score"]
        write_yaml(shot_path, data)
        if not quiet:
            print(
                f"vidcolor: {len(data.shots)} shots, their references and match scores in {shot_path}", file=sys.stderr
            )
    if not quiet:
        resumed = f", resumed after frame {summary.resumed_from}" if summary.resumed_from else ""
        streams = "; ".join(summary.streams) if summary.streams else "no audio"
        what = f"{summary.frames} frames of {label}" if window else f"{summary.frames} frames"
        print(
            f"vidcolor: {what} -> {out} at {summary.fps:.2f} fps{resumed}; encoder {summary.encoder}; {streams}",
            file=sys.stderr,
        )
        if summary.stopped_early:
            print(f"vidcolor: warning: {src}: {summary.stopped_early}; the output ends there", file=sys.stderr)
    return summary
