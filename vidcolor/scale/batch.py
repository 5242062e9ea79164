"""`vidcolor run --ray` and `vidcolor batch`: films as shot-aligned segments on a Ray cluster, or one after the
other in this process without ``--ray``. Every argument and every job is checked before any work starts; a job
whose output exists (outputs appear only when complete) is skipped; a film that fails is reported and the others
go on. Ray is imported only here, and only when ``--ray`` is given.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from vidcolor.chain.factory import predictor_factory
from vidcolor.errors import VidcolorError
from vidcolor.scale.film import FilmJob, FilmRun
from vidcolor.scale.jobs import read_jobs
from vidcolor.scale.progress import FilmsProgress
from vidcolor.stream.pipeline import RunOptions, Summary
from vidcolor.stream.work_state import work_dir_for


def check_workers(address: str | None, workers: int | None) -> None:
    if workers is not None and not address:
        raise VidcolorError("--workers needs --ray (local, auto or a cluster address)")
    if workers is not None and workers < 1:
        raise VidcolorError(f"--workers {workers}: must be at least 1")


def connect(address: str, workers: int | None):
    try:
        from vidcolor.scale.cluster import Cluster
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] != "ray":
            raise
        raise VidcolorError(f"--ray {address}: Ray is not installed: pip install 'vidcolor[ray]'") from None
    return Cluster(address, workers)


def _rows(films: list[FilmRun], board: dict[str, int]) -> list[tuple[str, int, int]]:
    rows = []
    for film in films:
        if film.frames:
            running = {int(k.split(":")[1]): v for k, v in board.items() if k.split(":")[0] == film.key}
            rows.append((film.name, min(film.frames_done(running), film.frames), film.frames))
    return rows


def summary_line(summary: Summary, output: Path) -> str:
    resumed = f", resumed after {summary.resumed_from} frames" if summary.resumed_from else ""
    streams = "; ".join(summary.streams) if summary.streams else "no audio"
    return (
        f"vidcolor: {summary.frames} frames -> {output} at {summary.fps:.2f} fps{resumed}; encoder {summary.encoder}; "
        f"{streams}"
    )


def _sharded(films: list[FilmRun], cluster, progress: FilmsProgress, say_failures: bool = True) -> dict[int, str]:
    """Every film on the cluster; returns the failures (film index -> message, said as they happen)."""
    from vidcolor.scale.cluster import drive

    failures: dict[int, str] = {}

    def finished(film: FilmRun) -> None:
        summary = film.finish()
        film.summary = summary
        progress.note(summary_line(summary, film.job.output))

    def failed(film: FilmRun, message: str) -> None:
        film.discard_if_empty()
        kept = f"; {film.keep_note()}" if work_dir_for(film.job.output).is_dir() else ""
        failures[films.index(film)] = message + kept
        if say_failures:
            progress.note(f"vidcolor: error: {film.job.source}: {message}{kept}")

    progress.note(f"vidcolor: {cluster.describe()}")
    drive(films, cluster, finished, failed, lambda fs, board: progress(_rows(fs, board), {f.name for f in fs}))
    return failures


def run_sharded(
    source: str,
    output: str,
    refs: str | None,
    shots: str | None,
    detector: str | None,
    threshold: float | None,
    options: RunOptions,
    make_predictor: Callable,
    address: str,
    workers: int | None = None,
    quiet: bool = False,
) -> Summary:
    """`vidcolor run FILM --ray ADDRESS`: the film as segments on the cluster, assembled here."""
    check_workers(address, workers)
    job = FilmJob(Path(source), Path(output), refs, shots, detector, threshold, options, make_predictor)
    film = FilmRun(job)
    cluster = connect(address, workers)
    progress = FilmsProgress(quiet)
    try:
        failures = _sharded([film], cluster, progress, say_failures=False)
    except KeyboardInterrupt:
        progress.close()
        if film.work_dir.is_dir():
            print(f"vidcolor: interrupted; {film.keep_note()}", file=sys.stderr)
        raise
    finally:
        progress.close()
        cluster.shutdown()
    if failures:
        raise VidcolorError(f"{job.source}: {failures[0]}")
    return film.summary


def run_batch(
    path: str, address: str | None, workers: int | None, vgg: str | None, device: str, quiet: bool = False
) -> int:
    """`vidcolor batch JOBS.yaml`: the exit code (1 when any film failed)."""
    check_workers(address, workers)
    jobs = read_jobs(path)
    progress = FilmsProgress(quiet)
    films: list[FilmRun] = []
    for entry in jobs:
        if entry.output.is_file():
            progress.note(f"vidcolor: job {entry.number}: {entry.output} exists: skipped")
            continue
        job = FilmJob(
            entry.source,
            entry.output,
            entry.refs,
            entry.shots,
            entry.detector,
            entry.threshold,
            entry.options,
            predictor_factory(vgg, device, entry.size, entry.hints),
        )
        try:
            films.append(FilmRun(job))
        except VidcolorError as exc:
            raise VidcolorError(f"{path}: job {entry.number} ({entry.source.name}): {exc}") from None
    if not films:
        progress.note(f"vidcolor: all {len(jobs)} outputs exist: nothing to do")
        return 0
    try:
        if address:
            cluster = connect(address, workers)
            try:
                failures = _sharded(films, cluster, progress)
            finally:
                cluster.shutdown()
        else:
            failures = _in_process(films, progress)
    finally:
        progress.close()
    done = len(films) - len(failures)
    progress.note(
        f"vidcolor: batch: {done} of {len(films)} films done, {len(jobs) - len(films)} skipped, {len(failures)} failed"
    )
    return 1 if failures else 0


def _in_process(films: list[FilmRun], progress: FilmsProgress) -> dict[int, str]:
    """Without --ray: each film as `vidcolor run --resume` would do it, one after the other."""
    from vidcolor.stream.video import run_video

    failures: dict[int, str] = {}
    rows: list[tuple[str, int, int]] = []
    for i, film in enumerate(films):
        job = film.job
        rows.append((film.name, 0, 0))

        def report(done: int, total: int, i: int = i) -> None:
            rows[i] = (rows[i][0], done, total)
            progress(rows, {rows[i][0]})

        try:
            summary = run_video(
                str(job.source),
                str(job.output),
                job.refs,
                job.make_predictor,
                job.options,
                True,
                job.shots,
                job.detector,
                job.threshold,
                report,
            )
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # noqa: BLE001 - one film's failure is reported, the others go on
            failures[i] = str(exc) if isinstance(exc, VidcolorError) else f"{type(exc).__name__}: {exc}"
            progress.note(f"vidcolor: error: {job.source}: {failures[i]}")
            continue
        rows[i] = (film.name, summary.frames, summary.frames)
        progress.note(summary_line(summary, job.output))
    if sys.stderr.isatty():
        progress(rows)
    return failures
