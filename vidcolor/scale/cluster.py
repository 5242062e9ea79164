"""Ray: the cluster, the segment tasks, the progress board and the driver loop. Imported only with ``--ray``.

- ``Cluster(address, workers)``: ``local`` starts a Ray runtime on this machine, anything else (``auto``,
  ``HOST:6379``, ``ray://HOST:10001``) joins a running cluster (``ray start --head`` on one machine, ``ray start
  --address HOST:6379`` on the others). One GPU per segment task where the cluster has GPUs, else an equal share of
  its CPUs (``--workers`` tasks at once; the default is the number of GPUs, else half the CPUs).
- A segment task runs ``run_segment`` (segment_job.py): Ray retries it when its worker dies (``max_retries``), and
  the retry continues after the segment's last finished chunk.
- What crosses the network: the segment's description (paths, frame numbers, settings), its frame counts on a
  small progress actor, and its result (chunk names, counts). Frames and chunks stay on the shared storage.
"""

from __future__ import annotations

from collections.abc import Callable

import ray
from ray.exceptions import RayError, RayTaskError, TaskCancelledError

from vidcolor.errors import VidcolorError
from vidcolor.scale.film import FilmRun
from vidcolor.scale.segment_job import SegmentSpec, run_segment

RETRIES = 3  # a worker that dies mid-segment (a node lost, the process killed) is replaced this many times


class _Board:
    """Frames done per running segment, as the tasks report them (a Ray actor)."""

    def __init__(self) -> None:
        self.frames: dict[str, int] = {}

    def update(self, key: str, frames: int) -> None:
        self.frames[key] = frames

    def snapshot(self) -> dict[str, int]:
        return dict(self.frames)


def _segment_task(spec: SegmentSpec, board, key: str) -> dict:
    return run_segment(spec, lambda done: board.update.remote(key, done))


class Cluster:
    def __init__(self, address: str, workers: int | None = None) -> None:
        self.started = False
        if not ray.is_initialized():
            try:
                kwargs = {"include_dashboard": False, "log_to_driver": False, "logging_level": "warning"}
                ray.init(**kwargs) if address == "local" else ray.init(address=address, **kwargs)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise VidcolorError(f"--ray {address}: cannot start or reach a Ray cluster ({exc})") from None
            self.started = True
        resources = ray.cluster_resources()
        self.gpus, self.cpus = int(resources.get("GPU", 0)), max(1, int(resources.get("CPU", 1)))
        self.workers = workers or self.gpus or max(1, self.cpus // 2)
        share = max(1, self.cpus // self.workers)
        self.options = {"num_gpus": 1, "num_cpus": 1} if self.gpus else {"num_cpus": share}
        self.threads = None if self.gpus else share
        self.task = ray.remote(max_retries=RETRIES, retry_exceptions=False)(_segment_task).options(**self.options)
        self.board = ray.remote(num_cpus=0)(_Board).remote()

    def describe(self) -> str:
        where = f"{self.gpus} GPUs" if self.gpus else f"{self.cpus} CPUs, {self.threads} threads per task"
        return f"Ray cluster with {where}: {self.workers} segments at once"

    def submit(self, spec: SegmentSpec, key: str):
        if self.threads:
            spec = SegmentSpec(**{**spec.__dict__, "threads": self.threads})
        return self.task.remote(spec, self.board, key)

    def progress(self) -> dict[str, int]:
        return ray.get(self.board.snapshot.remote())

    def shutdown(self) -> None:
        if self.started:
            ray.shutdown()


def _cause(exc: BaseException) -> str:
    """The task's own error where Ray wraps one (a VidcolorError reads as the user would see it), else Ray's."""
    inner = getattr(exc, "cause", None) if isinstance(exc, RayTaskError) else None
    if isinstance(inner, VidcolorError):
        return str(inner)
    error = inner if inner is not None else exc
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"


def drive(
    films: list[FilmRun],
    cluster: Cluster,
    on_finished: Callable[[FilmRun], None],
    on_failed: Callable[[FilmRun, str], None],
    on_progress: Callable[[list[FilmRun], dict[str, int]], None] | None = None,
) -> None:
    """Scan and submit the films one after the other (workers start on the first while the next is scanned), then
    collect: a film whose segments are all done is assembled (``on_finished``); a failed segment fails its film
    (``on_failed``), the other films go on."""
    pending: dict = {}  # object ref -> (film, segment number)
    failed: set[int] = set()

    def collect(timeout: float) -> None:
        if pending:
            done, _ = ray.wait(list(pending), num_returns=len(pending), timeout=timeout)
            for ref in done:
                film, number = pending.pop(ref)
                if id(film) in failed:
                    continue
                try:
                    film.results[number] = ray.get(ref)
                except (RayError, VidcolorError) as exc:
                    if isinstance(exc, TaskCancelledError):
                        continue
                    failed.add(id(film))
                    for other in [r for r, (f, _) in pending.items() if f is film]:
                        ray.cancel(other)
                    span = film.spans[number]
                    on_failed(film, f"segment {number} (frames {span.start}..{span.end}): {_cause(exc)}")
                    continue
                if film.done:
                    _finish(film)
        if on_progress:
            on_progress(films, cluster.progress())

    def _finish(film: FilmRun) -> None:
        try:
            on_finished(film)
        except VidcolorError as exc:
            failed.add(id(film))
            on_failed(film, str(exc))

    try:
        for index, film in enumerate(films):
            film.key = str(index)
            try:
                specs = film.prepare(cluster.workers)
            except Exception as exc:  # noqa: BLE001 - this film fails, the others go on
                failed.add(id(film))
                on_failed(film, str(exc) if isinstance(exc, VidcolorError) else f"{type(exc).__name__}: {exc}")
                continue
            for spec in specs:
                pending[cluster.submit(spec, f"{index}:{spec.span.number}")] = (film, spec.span.number)
            if film.done:
                _finish(film)
            collect(0)
        while pending:
            collect(0.5)
    except KeyboardInterrupt:
        for ref in pending:
            ray.cancel(ref, force=True)
        raise
